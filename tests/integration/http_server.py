"""A scripted HTTP/1.1 server on 127.0.0.1 for the http executor's integration tests.

Standard library only.  The test scripts the responses per path; the server records every
request it gets (method, target, headers, body, which connection) and counts TCP
connections, so a test can check encoding, headers and keep-alive.  Optionally TLS, with a
certificate the test makes.

    srv = Server().start()                    # or Server(certfile=..., keyfile=...)
    srv.script("/flaky", [Reply(500), Reply(200, {"ok": True})])   # in order; the last repeats
    srv.url("/flaky") -> "http://127.0.0.1:PORT/flaky"
    srv.requests("/flaky") -> [Request, ...]; srv.connections -> int
"""
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Reply:
    def __init__(self, status=200, body=None, headers=None, delay=0.0, content_type=None):
        self.status = status
        self.headers = dict(headers or {})
        self.delay = delay
        if body is None:
            body = b""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
            content_type = content_type or "text/plain; charset=utf-8"
        self.body = body
        if content_type:
            self.headers.setdefault("Content-Type", content_type)


class Request:
    def __init__(self, method, target, headers, body, conn, at):
        self.method, self.target, self.headers, self.body = method, target, headers, body
        self.conn, self.at = conn, at

    @property
    def path(self):
        return self.target.split("?", 1)[0]

    @property
    def query(self):
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.owner.lock:
            self.server.owner.connections += 1
            self.conn_id = self.server.owner.connections

    def log_message(self, fmt, *args):
        pass

    def _serve(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, self.path, list(self.headers.items()), body, self.conn_id,
                      time.monotonic())
        with owner.lock:
            owner.log.append(req)
            path = req.path
            script = owner.scripts.get(path)
            if script is None:
                reply = Reply(404, {"error": "no such path"})
            else:
                reply = script[0]
                if len(script) > 1:
                    script.pop(0)
        if callable(reply):
            reply = reply(req)
        end = time.monotonic() + reply.delay
        while time.monotonic() < end and not owner.stopping:
            time.sleep(0.02)
        try:
            self.send_response(reply.status)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up (cancel, timeout, teld stopping) is expected here


class Server:
    def __init__(self, certfile=None, keyfile=None):
        self.lock = threading.Lock()
        self.scripts = {}
        self.log = []
        self.connections = 0
        self.stopping = False
        self.httpd = _Quiet(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.scheme = "http"
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        self.httpd.shutdown()
        self.httpd.server_close()

    def script(self, path, replies):
        with self.lock:
            self.scripts[path] = list(replies) if isinstance(replies, list) else [replies]

    def url(self, path=""):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def hostport(self):
        return "127.0.0.1:%d" % self.port

    def requests(self, path=None):
        with self.lock:
            return [r for r in self.log if path is None or r.path == path]
