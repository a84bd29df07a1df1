#!/usr/bin/env python3
"""Integration tasks end to end: teld makes HTTP(S) requests through the http plugin against
a scripted server on 127.0.0.1 (tests/integration/http_server.py).  Templates and their
encodings, the idempotency key, secrets (and that they never reach the store or the log),
classification and retries (5xx, 429 + Retry-After), the deadline and cancellation, the
host allow-list and redirects, the response size cap, TLS verification, keep-alive, and
--check-config on bad templates."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate

sys.path.insert(0, os.path.dirname(__file__))
from telrpc import Checks, Teld  # noqa: E402
from http_server import Reply, Server  # noqa: E402

HTTP = os.path.join(os.environ["top_builddir"], "plugins", "http", ".libs", "http.so")
TELD = os.path.join(os.environ["top_builddir"], "core", "teld")
checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-http-")
SECRET = "s3cr3t+tok/en=XyZzy"
secret_file = os.path.join(tmp, "token")
with open(secret_file, "w") as f:
    f.write(SECRET + "\n")

# --- a certificate for 127.0.0.1, made now ---
cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
ossl = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                       "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                       "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=60)
have_tls = ossl.returncode == 0

srv = Server().start()
other = Server().start()       # not on any allow-list
tls = Server(cert, key).start() if have_tls else None
P, O = srv.hostport(), other.hostport()
T = tls.hostport() if tls else "127.0.0.1:1"
# a port nothing listens on
import socket  # noqa: E402
s = socket.socket()
s.bind(("127.0.0.1", 0))
DEAD = "127.0.0.1:%d" % s.getsockname()[1]
s.close()

srv.script("/users/a%20b%2Fc", Reply(200, {"user": "ab"}, {"X-Request-Id": "r-1", "X-Other": "no"}))
srv.script("/json", Reply(200, {"ok": True}))
srv.script("/echo", lambda r: Reply(200, {"auth": r.header("Authorization"), "n": 1}, {"X-Echo": r.header("Authorization")}))
srv.script("/items", Reply(201, {"created": True}))
srv.script("/text", Reply(200, "plain words"))
srv.script("/flaky", [Reply(500, "boom"), Reply(200, {"second": True})])
srv.script("/limited", [Reply(429, "slow down", {"Retry-After": "1"}), Reply(200, {"ok": 1})])
srv.script("/limited-date", [lambda r: Reply(503, "later", {"Retry-After": formatdate(time.time() + 2, usegmt=True)}),
                             Reply(200, {"ok": 2})])
srv.script("/slow", Reply(200, {"late": True}, delay=5))
srv.script("/slow-long", Reply(200, {"late": True}, delay=30))
srv.script("/redirect-out", Reply(302, "", {"Location": other.url("/stolen")}))
srv.script("/redirect-in", Reply(302, "", {"Location": "/json"}))
srv.script("/redirect-ftp", Reply(302, "", {"Location": "ftp://127.0.0.1/x"}))
srv.script("/loop", Reply(302, "", {"Location": "/loop"}))
srv.script("/big", Reply(200, "x" * (2 * 1024 * 1024)))
srv.script("/latin1", Reply(500, b"caf\xe9 \xff broken", content_type="text/plain; charset=latin1"))
other.script("/stolen", Reply(200, {"stolen": True}))
other.script("/warm", Reply(200, {"warm": True}))
if tls:
    tls.script("/json", Reply(200, {"tls": True}))

ALLOW = 'allow = ["%s"];' % P
RETRY1 = "retry = { max_attempts = 1; };"
config = """
plugins = ( { name = "http"; path = "%(http)s"; } );
task_types = (
  { name = "get"; executor = "http";
    config = { url = "http://%(P)s/users/{{input/user/id}}"; query = { q = "{{input/q}}"; lit = "a b"; };
               headers = { Authorization = "Bearer {{secret/token}}"; X-Task = "{{task/id}}"; X-Note = "{{input/note}}"; };
               secrets = { token = "%(secret)s"; }; response_headers = ["X-Request-Id"]; %(allow)s }; %(r1)s },
  { name = "post"; executor = "http";
    config = { method = "POST"; url = "http://%(P)s/items";
               body = { id = "{{input/user/id}}"; items = "{{input/items}}"; greeting = "hi {{input/name}}"; n = 3; flag = true; };
               %(allow)s }; %(r1)s },
  { name = "put_text"; executor = "http";
    config = { method = "PUT"; url = "http://%(P)s/items"; body = "{\\"name\\": {{input/name}}, \\"n\\": {{input/n}}}"; %(allow)s }; %(r1)s },
  { name = "form"; executor = "http";
    config = { method = "POST"; url = "http://%(P)s/items"; body_encoding = "form"; body = { who = "{{input/name}}"; n = 2; }; %(allow)s }; %(r1)s },
  { name = "text"; executor = "http"; config = { url = "http://%(P)s/text"; %(allow)s }; },
  { name = "json"; executor = "http"; config = { url = "http://%(P)s/json"; %(allow)s }; },
  { name = "flaky"; executor = "http"; config = { url = "http://%(P)s/flaky"; %(allow)s };
    retry = { max_attempts = 3; initial_interval_s = 0.05; jitter = 0.0; }; },
  { name = "limited"; executor = "http"; config = { url = "http://%(P)s/limited"; %(allow)s };
    retry = { max_attempts = 2; initial_interval_s = 0.01; jitter = 0.0; max_interval_s = 30.0; }; },
  { name = "limited_date"; executor = "http"; config = { url = "http://%(P)s/limited-date"; %(allow)s };
    retry = { max_attempts = 2; initial_interval_s = 0.01; jitter = 0.0; max_interval_s = 30.0; }; },
  { name = "slow"; executor = "http"; config = { url = "http://%(P)s/slow"; %(allow)s };
    timeouts = { run_s = 0.5; }; %(r1)s },
  { name = "slow_cfg"; executor = "http"; config = { url = "http://%(P)s/slow"; timeout_s = 0.3; %(allow)s };
    retry = { max_attempts = 2; initial_interval_s = 0.05; jitter = 0.0; }; },
  { name = "block"; executor = "http"; config = { url = "http://%(P)s/slow-long"; %(allow)s }; },
  { name = "redirect_out"; executor = "http"; config = { url = "http://%(P)s/redirect-out"; %(allow)s }; %(r1)s },
  { name = "redirect_in"; executor = "http"; config = { url = "http://%(P)s/redirect-in"; %(allow)s }; %(r1)s },
  { name = "redirect_ftp"; executor = "http"; config = { url = "http://%(P)s/redirect-ftp"; %(allow)s }; %(r1)s },
  { name = "loop"; executor = "http"; config = { url = "http://%(P)s/loop"; max_redirects = 2; %(allow)s }; %(r1)s },
  { name = "no_follow"; executor = "http"; config = { url = "http://%(P)s/redirect-in"; max_redirects = 0; %(allow)s }; %(r1)s },
  { name = "both"; executor = "http"; config = { url = "http://%(O)s/warm"; allow = ["%(P)s", "%(O)s"]; }; %(r1)s },
  { name = "from_input"; executor = "http"; config = { url = "{{input/base}}/stolen"; %(allow)s }; %(r1)s },
  { name = "big"; executor = "http"; config = { url = "http://%(P)s/big"; max_response_kb = 64; %(allow)s };
    retry = { max_attempts = 3; initial_interval_s = 0.05; }; },
  { name = "latin1"; executor = "http"; config = { url = "http://%(P)s/latin1"; %(allow)s }; %(r1)s },
  { name = "notfound"; executor = "http"; config = { url = "http://%(P)s/nothing-here"; %(allow)s };
    retry = { max_attempts = 3; initial_interval_s = 0.05; }; },
  { name = "secret_url"; executor = "http";
    config = { url = "http://%(P)s/nothing-here"; query = { key = "{{secret/token}}"; };
               headers = { X-Key = "{{secret/token}}"; }; secrets = { token = "%(secret)s"; }; %(allow)s }; %(r1)s },
  { name = "secret_dead"; executor = "http";
    config = { url = "http://%(DEAD)s/x/{{secret/token}}"; secrets = { token = "%(secret)s"; }; allow = ["%(DEAD)s"]; }; %(r1)s },
  { name = "echo"; executor = "http";
    config = { url = "http://%(P)s/echo"; headers = { Authorization = "Bearer {{secret/token}}"; };
               secrets = { token = "%(secret)s"; }; response_headers = ["X-Echo"]; %(allow)s }; %(r1)s },
  { name = "tls_default"; executor = "http"; config = { url = "https://%(T)s/json"; allow = ["%(T)s"]; }; %(r1)s },
  { name = "tls_ca"; executor = "http"; config = { url = "https://%(T)s/json"; ca_file = "%(cert)s"; allow = ["%(T)s"]; }; %(r1)s }
);
""" % {"http": HTTP, "P": P, "T": T, "DEAD": DEAD, "O": O, "allow": ALLOW, "r1": RETRY1, "secret": secret_file,
       "cert": cert}

# --- --check-config catches bad templates, unknown secrets and hosts off the allow-list ---
bad_cases = [
    ('url = "http://%s/x/{{input/a"; %s' % (P, ALLOW), "a \"{{\" without its \"}}\""),
    ('url = "http://%s/x"; headers = { A = "{{secret/nope}}"; }; %s' % (P, ALLOW), "no secret named \"nope\""),
    ('url = "http://%s/x/{{bogus}}"; %s' % (P, ALLOW), "{{bogus}}: unknown reference"),
    ('url = "http://%s/x"; %s' % (O, ALLOW), "is not on the type's allow-list"),
    ('url = "http://%s/x";' % P, "allow: required"),
    ('url = "http://%s/x"; secrets = { s = "%s/none"; }; %s' % (P, tmp, ALLOW), "secrets.s: cannot read"),
    ('method = "POST"; url = "http://%s/x"; body_encoding = "form"; body = { a = { b = 1; }; }; %s' % (P, ALLOW),
     "body.a: a form value must be a string or a number"),
    ('url = "http://%s/x"; body = { a = 1; }; %s' % (P, ALLOW), "a GET request has no body"),
    ('url = "http://%s/x"; headers = { X = "a\\nb"; }; %s' % (P, ALLOW), "headers.X: a CR or LF"),
    ('url = "http://%s/x"; success = ["2xxx"]; %s' % (P, ALLOW), "success[0]: expected a status"),
    ('url = "http://%s/x"; colour = "red"; %s' % (P, ALLOW), "unknown setting \"colour\""),
]
for i, (cfg, want) in enumerate(bad_cases):
    path = os.path.join(tmp, "bad%d.conf" % i)
    with open(path, "w") as f:
        f.write('plugins = ( { name = "http"; path = "%s"; } );\n'
                'task_types = ( { name = "bad"; executor = "http"; config = { %s }; } );\n' % (HTTP, cfg))
    r = subprocess.run([TELD, "-c", path, "--check-config"], capture_output=True, text=True, timeout=30)
    checks.check("--check-config refuses: %s" % want, r.returncode == 1 and want in r.stderr,
                 "rc %d: %s" % (r.returncode, r.stderr.strip()))

teld = Teld(tmp, config, daemon='workers = 2; log_level = "debug";').start()
c = teld.client(timeout=20)


def run(type_, inp, timeout=30):
    tid = c.call("task.submit", {"type": type_, "input": inp})["id"]
    return c.wait_state(tid, ["succeeded", "failed", "timed_out", "cancelled"], timeout=timeout)


def err(t):
    return (t.get("error") or {}).get("code")


# --- a GET: path and query encoding, headers, secret, idempotency key, output ---
inp = {"user": {"id": "a b/c"}, "q": "x&y=z é/", "note": "plain"}
t = run("get", inp)
out = t.get("output") or {}
checks.check("a GET succeeds; the JSON body is the output's body",
             t["state"] == "succeeded" and out.get("status") == 200 and out.get("body") == {"user": "ab"}, str(t))
checks.check("only the selected response headers are in the output",
             out.get("headers") == {"x-request-id": "r-1"}, str(out.get("headers")))
reqs = srv.requests("/users/a%20b%2Fc")
r = reqs[-1] if reqs else None
checks.check("the path segment from the input is URL-encoded", r is not None, str([x.target for x in srv.requests()]))
checks.check("query values are URL-encoded (names, literal text too)",
             r is not None and sorted(r.query.split("&")) == ["lit=a%20b", "q=x%26y%3Dz%20%C3%A9%2F"], r and r.query)
checks.check("the secret goes out as the bearer token", r is not None and r.header("Authorization") == "Bearer " + SECRET)
checks.check("the attempt's token goes out as Idempotency-Key",
             r is not None and r.header("Idempotency-Key") == t["id"] + "/1", r and r.header("Idempotency-Key"))
checks.check("{{task/id}} and raw header values", r is not None and r.header("X-Task") == t["id"] and r.header("X-Note") == "plain")
checks.check("the attempt records status, time and a URL", t["attempts"][0].get("http_status") == 200 and
             "time_ms" in t["attempts"][0] and t["attempts"][0].get("url", "").startswith("http://"), str(t["attempts"][0]))

# --- bodies ---
t = run("post", {"user": {"id": 7}, "items": [1, {"a": "b"}], "name": "Zoë \"q\""})
r = srv.requests("/items")[-1]
checks.check("POST: a body group becomes JSON; a whole-string reference inserts the JSON value",
             t["state"] == "succeeded" and r.method == "POST" and
             json.loads(r.body) == {"id": 7, "items": [1, {"a": "b"}], "greeting": "hi Zoë \"q\"", "n": 3, "flag": True},
             r.body)
checks.check("the JSON body's content type is application/json", r.header("Content-Type") == "application/json")
checks.check("a 201 is a success by default", (t.get("output") or {}).get("status") == 201)
t = run("put_text", {"name": "a \"b\" \\ é\n", "n": 5})
r = srv.requests("/items")[-1]
checks.check("a string body template JSON-encodes what it inserts",
             t["state"] == "succeeded" and r.method == "PUT" and json.loads(r.body) == {"name": "a \"b\" \\ é\n", "n": 5}, r.body)
t = run("form", {"name": "a&b c"})
r = srv.requests("/items")[-1]
checks.check("body_encoding = form URL-encodes the pairs", r.body == b"who=a%26b%20c&n=2" and
             r.header("Content-Type") == "application/x-www-form-urlencoded", r.body)
t = run("text", {})
checks.check("a text/plain body is a string in the output", (t.get("output") or {}).get("body") == "plain words", str(t.get("output")))

# --- bad input ---
t = run("get", {"q": "x", "note": "n"})
checks.check("a pointer missing from the input fails with bad_input, not retried",
             t["state"] == "failed" and err(t) == "bad_input" and len(t["attempts"]) == 1 and "/user/id" in t["error"]["message"],
             str(t.get("error")))
t = run("get", {"user": {"id": 1}, "q": "x", "note": "a\r\nX-Evil: 1"})
checks.check("a CR/LF from the input into a header fails with bad_input", t["state"] == "failed" and err(t) == "bad_input",
             str(t.get("error")))

# --- classification and retries ---
t = run("flaky", {})
keys = [x.header("Idempotency-Key") for x in srv.requests("/flaky")]
checks.check("a 500 is retried, then the 200 succeeds", t["state"] == "succeeded" and len(t["attempts"]) == 2 and
             t["attempts"][0].get("error", {}).get("code") == "http_500", str(t["attempts"]))
checks.check("each attempt has its own stable Idempotency-Key", keys == [t["id"] + "/1", t["id"] + "/2"], str(keys))
t = run("limited", {}, timeout=30)
rs = srv.requests("/limited")
gap = rs[1].at - rs[0].at if len(rs) >= 2 else 0
checks.check("a 429 is retried after Retry-After: 1 (seconds), not the 10 ms interval",
             t["state"] == "succeeded" and t["attempts"][0]["error"]["code"] == "http_429" and 0.9 <= gap < 5,
             "gap %.2fs %s" % (gap, t["attempts"]))
t = run("limited_date", {}, timeout=30)
rs = srv.requests("/limited-date")
gap = rs[1].at - rs[0].at if len(rs) >= 2 else 0
checks.check("a 503 with an HTTP-date Retry-After waits until then",
             t["state"] == "succeeded" and t["attempts"][0]["error"]["code"] == "http_503" and 0.9 <= gap < 5,
             "gap %.2fs" % gap)
t = run("notfound", {})
checks.check("a 404 is fatal (http_404, one attempt of 3)", t["state"] == "failed" and err(t) == "http_404" and
             len(t["attempts"]) == 1, str(t.get("error")))
t = run("latin1", {})
checks.check("an error body that is not UTF-8 still gives a readable error message",
             t["state"] == "failed" and err(t) == "http_500" and "caf? ? broken" in t["error"]["message"], str(t.get("error")))
t = run("big", {})
checks.check("a body over max_response_kb fails with response_too_large, not retried",
             t["state"] == "failed" and err(t) == "response_too_large" and len(t["attempts"]) == 1, str(t.get("error")))

# --- the deadline and cancellation ---
start = time.monotonic()
t = run("slow", {})
took = time.monotonic() - start
checks.check("a response slower than the run timeout: the task times out promptly",
             t["state"] in ("timed_out", "failed") and err(t) in ("run_timeout", "http_timeout") and took < 3,
             "%s after %.1fs" % (t.get("error"), took))
start = time.monotonic()
t = run("slow_cfg", {})
took = time.monotonic() - start
checks.check("timeout_s ends the request with http_timeout, retried",
             t["state"] == "failed" and err(t) == "http_timeout" and len(t["attempts"]) == 2 and took < 4,
             "%s %d attempts after %.1fs" % (t.get("error"), len(t["attempts"]), took))
ids = [c.call("task.submit", {"type": "block", "input": {}})["id"] for _ in range(2)]
for i in ids:
    c.wait_state(i, ["running"], timeout=10)
deadline = time.monotonic() + 10
while len(srv.requests("/slow-long")) < 2 and time.monotonic() < deadline:
    time.sleep(0.02)
start = time.monotonic()
for i in ids:
    c.call("task.cancel", {"id": i, "reason": "test"})
ts = [c.wait_state(i, ["cancelled", "failed"], timeout=10) for i in ids]
t = run("json", {}, timeout=10)
took = time.monotonic() - start
checks.check("cancelling two blocked requests frees both workers at once (next task done in %.2fs)" % took,
             all(x["state"] == "cancelled" for x in ts) and t["state"] == "succeeded" and took < 2, str([x["state"] for x in ts]))

# --- the allow-list and redirects ---
t = run("redirect_in", {})
checks.check("a redirect within the allow-list is followed",
             t["state"] == "succeeded" and (t.get("output") or {}).get("body") == {"ok": True} and
             t["attempts"][0].get("redirects") == 1, str(t.get("output")))
t = run("redirect_out", {})
checks.check("a redirect to a host:port off the allow-list fails with host_not_allowed",
             t["state"] == "failed" and err(t) == "host_not_allowed" and O in t["error"]["message"], str(t.get("error")))
t = run("from_input", {"base": other.url("")})
checks.check("a URL host from the input is checked after expansion", t["state"] == "failed" and err(t) == "host_not_allowed",
             str(t.get("error")))
checks.check("and the outside server never saw a connection", other.connections == 0, "%d connections" % other.connections)
t = run("both", {})  # another type may reach it: a kept-alive connection to it is pooled
warm = t["state"] == "succeeded"
t = run("redirect_out", {})
checks.check("a redirect that could reuse a pooled connection to a host off this type's list is "
             "refused before any request is sent", warm and err(t) == "host_not_allowed" and not other.requests("/stolen"),
             "%s %s" % (warm, t.get("error")))
t = run("redirect_ftp", {})
checks.check("a redirect to a scheme other than http/https is refused", t["state"] == "failed" and err(t) == "host_not_allowed",
             str(t.get("error")))
t = run("loop", {})
checks.check("more redirects than max_redirects fail with too_many_redirects", t["state"] == "failed" and
             err(t) == "too_many_redirects", str(t.get("error")))
t = run("no_follow", {})
checks.check("max_redirects = 0: a 302 is not followed and is not a success", t["state"] == "failed" and err(t) == "http_302",
             str(t.get("error")))

# --- TLS ---
if tls:
    t = run("tls_default", {})
    checks.check("a self-signed certificate is refused by default (http_tls)", t["state"] == "failed" and err(t) == "http_tls",
                 str(t.get("error")))
    t = run("tls_ca", {})
    checks.check("and accepted with ca_file", t["state"] == "succeeded" and (t.get("output") or {}).get("body") == {"tls": True},
                 str(t.get("error")))
else:
    checks.check("# SKIP openssl could not make a certificate: %s" % ossl.stderr[-200:], True)

# --- keep-alive ---
before = srv.connections
for _ in range(10):
    t = run("json", {})
made = srv.connections - before
checks.check("10 tasks one after the other reuse the connection (%d new connections)" % made, made <= 1)
checks.check("the attempt says its connection was reused", t["attempts"][-1].get("connection_reused") is True,
             str(t["attempts"][-1]))

# --- secrets never stored or logged, even in failures ---
t = run("secret_url", {})
r = srv.requests("/nothing-here")[-1]
checks.check("a failure whose URL has the secret in its query: the message is redacted",
             t["state"] == "failed" and "[redacted]" in t["error"]["message"] and "key=" in t["error"]["message"],
             t["error"]["message"])
checks.check("(the secret did go out, URL-encoded, and in the header)",
             r.query == "key=s3cr3t%2Btok%2Fen%3DXyZzy" and r.header("X-Key") == SECRET, r.query)
t = run("echo", {})
checks.check("a server that echoes the secret back: the output has it redacted",
             t["state"] == "succeeded" and t["output"]["body"] == {"auth": "Bearer [redacted]", "n": 1} and
             t["output"]["headers"] == {"x-echo": "Bearer [redacted]"}, str(t.get("output")))
t = run("secret_dead", {})
checks.check("a connection failure to a URL with the secret in its path: http_connect, redacted",
             t["state"] == "failed" and err(t) == "http_connect" and "[redacted]" in t["error"]["message"], str(t.get("error")))

metrics = c.call("metrics.get")["text"]
counts = dict(re.findall(r'^tel_http_requests_total\{instance="[^"]+",status="([^"]+)"\} (\d+)$', metrics, re.M))
checks.check("the plugin counts its requests by status class (tel_http_requests_total)",
             int(counts.get("2xx", 0)) > 10 and int(counts.get("5xx", 0)) >= 1 and
             int(counts.get("4xx", 0)) >= 1 and int(counts.get("none", 0)) >= 1, str(counts))
checks.check("and the secret is not in the metrics", SECRET not in metrics)

c.close()
checks.check("teld stops cleanly", teld.stop() == 0)
forms = [SECRET, "s3cr3t%2Btok%2Fen%3DXyZzy", "s3cr3t%2btok%2fen%3dXyZzy", "s3cr3t+tok\\/en=XyZzy", "tok/en=XyZzy"]
store = open(os.path.join(tmp, "state", "data.mdb"), "rb").read()
log = open(teld.log, "rb").read()
leaks = [f for f in forms if f.encode() in store or f.encode() in log]
checks.check("the secret (any encoding) is in neither the LMDB store nor teld's log",
             not leaks and len(store) > 0, "found: %s" % leaks)
for s_ in (srv, other, tls):
    if s_:
        s_.stop()
if not checks.failed:
    shutil.rmtree(tmp, ignore_errors=True)
checks.finish()
