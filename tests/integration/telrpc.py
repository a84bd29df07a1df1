"""A minimal JSON-RPC 2.0 client for teld's socket, for the integration tests.

Standard library only.  Every wait is bounded by a timeout so a broken daemon fails the
test instead of hanging it.
"""
import json
import os
import socket
import subprocess
import sys
import time


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.data = code, message, data


class Client:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0
        self.notifications = []

    def close(self):
        self.sock.close()

    def send(self, method, params=None):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        return self.next_id

    def read_message(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("teld closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def wait_reply(self, want_id):
        while True:
            msg = self.read_message()
            if "method" in msg and "id" not in msg:
                self.notifications.append(msg)
                continue
            if msg.get("id") != want_id:
                raise AssertionError(f"reply out of order: wanted {want_id}, got {msg}")
            if "error" in msg:
                e = msg["error"]
                raise RpcError(e["code"], e["message"], e.get("data"))
            return msg["result"]

    def call(self, method, params=None):
        return self.wait_reply(self.send(method, params))

    def wait_state(self, task_id, states, timeout=20.0):
        """Poll task.get until the task's state is one of `states`."""
        if isinstance(states, str):
            states = [states]
        deadline = time.monotonic() + timeout
        while True:
            t = self.call("task.get", {"id": task_id})
            if t["state"] in states:
                return t
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} is {t['state']}, expected {states}")
            time.sleep(0.02)


def connect(path, timeout=10.0, wait=10.0):
    """Connect, retrying while teld starts."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return Client(path, timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Teld:
    """A real teld process with its own config and state, in a temporary directory."""

    def __init__(self, tmp, config_text, name="teld", daemon=""):
        self.tmp = tmp
        self.conf = os.path.join(tmp, name + ".conf")
        self.log = os.path.join(tmp, name + ".log")
        self.socket = os.path.join(tmp, "state", "teld.sock")
        with open(self.conf, "w") as f:
            f.write('daemon = { state_dir = "state"; %s };\n' % daemon + config_text)
        self.proc = None

    def start(self, wait=True):
        top = os.environ["top_builddir"]
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([os.path.join(top, "core", "teld"), "-c", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            self.wait_log('msg="teld started"')
        return self

    def wait_log(self, text, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log) as f:
                if text in f.read():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        with open(self.log) as f:
            tail = f.read()[-3000:]
        raise AssertionError(f"'{text}' not in the log of teld (exit {self.proc.poll()}):\n{tail}")

    def client(self, timeout=10.0):
        return connect(self.socket, timeout)

    def kill(self, sig=9):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self.logf.close()
        return rc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            return self.kill(15)
        return self.proc.returncode if self.proc else None


class Checks:
    """TAP-style checks; exit status 1 when any failed."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, what, ok, detail=""):
        self.n += 1
        if ok:
            print(f"ok {self.n} - {what}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {what}" + (f"\n# {detail}" if detail else ""), flush=True)
        return ok

    def finish(self):
        print(f"1..{self.n}")
        sys.exit(1 if self.failed else 0)


def testexec_path():
    return os.path.join(os.environ["top_builddir"], "tests", "plugins", ".libs", "testexec.so")
