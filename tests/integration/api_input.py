#!/usr/bin/env python3
"""Bad input at the daemon level, against a real teld.

Each bad request is checked for its JSON-RPC error code and message; after each, teld must
still be running and answer a good request on a new connection; and a rejected request must
change nothing stored (task.list and the event log are compared before and after).

Covered: malformed JSON, a truncated line then close, a 100 MiB line (streamed; teld's peak
RSS stays small), binary garbage, envelope errors, wrong param types and unknown params for
every method, unknown methods, an unknown task type, bad ids, 1,000 concurrent connections,
a client that never reads (teld keeps serving others, its RSS stays bounded), the limits of
the config (idle_timeout_s, max_connections, max_request_kb), pipelined requests answered
with their ids in order, idempotency keys, a stale socket from a killed teld, a second teld
on the same state or socket, and the socket's mode and group from the config."""
import json
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from apitest_util import (AsUser, raise_nofile, raw_connect, read_line,  # noqa: E402
                          request_line, rss_kb, sanitized, track, wait_closed)
from telrpc import Checks, RpcError, Teld, testexec_path  # noqa: E402

PARSE, INVALID_REQ, NO_METHOD, INVALID_PARAMS = -32700, -32600, -32601, -32602
NOT_FOUND, CONFLICT, FORBIDDEN, UNAVAILABLE = -32001, -32002, -32003, -32006
MISSING = "01890000-0000-7000-8000-000000000000"  # a well-formed id no task has

checks = Checks()
raise_nofile(4096)
tmp = tempfile.mkdtemp(prefix="tel-api-input-")
os.chmod(tmp, 0o755)
TYPES = """
plugins = ( { name = "t"; path = "%s"; } );
task_types = (
  { name = "work"; executor = "t"; retry = { max_attempts = 1; }; },
  { name = "other"; executor = "t"; retry = { max_attempts = 1; }; }
);
""" % testexec_path()

ROOT = os.geteuid() == 0
teld = track(Teld(tmp, TYPES, daemon='socket = "api.sock"; socket_mode = "0660"; %s'
            'api = { max_output_kb = 256; };' % ('socket_group = "62010"; ' if ROOT else "")))
teld.socket = os.path.join(tmp, "api.sock")
teld.start()
main = teld.client()


def raw_exchange(data, timeout=10.0, shut=True):
    """Send bytes on a new connection; return every line teld answers until it closes or
    goes quiet (after shut, teld closes once it has answered)."""
    s = raw_connect(teld.socket, timeout)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = wait_closed(s, timeout) if shut else b""
    s.close()
    return [json.loads(line) for line in out.split(b"\n") if line]


def all_tasks():
    tasks, after = [], None
    while True:
        p = {"limit": 1000}
        if after:
            p["after"] = after
        r = main.call("task.list", p)
        tasks += r["tasks"]
        after = r.get("next")
        if not after:
            return tasks


def all_events():
    """Every stored event, through a fresh subscription from 0."""
    c = teld.client()
    r = c.call("events.subscribe", {"since": 0})
    last = r["seq"]
    events = []
    while (events[-1]["params"]["seq"] if events else 0) < last:
        msg = c.read_message()
        if msg.get("method") == "event":
            events.append(msg)
    c.close()
    return [e["params"] for e in events]


def snapshot():
    return json.dumps(all_tasks(), sort_keys=True), all_events()


def alive():
    """teld is up and answers a good request on a new connection."""
    if teld.proc.poll() is not None:
        return False
    try:
        c = teld.client(timeout=5)
        ok = c.call("server.status")["pid"] == teld.proc.pid
        c.close()
        return ok
    except (OSError, RpcError, ConnectionError):
        return False


def expect_error(what, replies, code, text, id=None):
    """One reply: an error with `code` whose message contains `text`, for `id`."""
    ok = (len(replies) == 1 and "error" in replies[0] and replies[0]["error"]["code"] == code
          and text in replies[0]["error"]["message"] and replies[0].get("id") == id)
    checks.check("%s: %d %r" % (what, code, text), ok, str(replies)[:500])
    checks.check("%s: teld still answers" % what, alive())


def rpc_error(c, method, params):
    try:
        r = c.call(method, params)
        return ("result", r)
    except RpcError as e:
        return (e.code, e.message)


# Something stored, so that "nothing changed" means something.
seed = [main.call("task.submit", {"type": "work", "input": {"n": i}})["id"] for i in range(3)]
waiting = main.call("task.submit", {"type": "work", "input": {"defer": True}})["id"]
main.wait_state(waiting, "waiting")
for t in seed:
    main.wait_state(t, "succeeded")
before = snapshot()
checks.check("the store holds the seed tasks and their events",
             len(json.loads(before[0])) == 4 and len(before[1]) >= 10, str(len(before[1])))

# ---- framing and envelopes ----
expect_error("malformed JSON", raw_exchange(b'{"jsonrpc":"2.0","id":1,"method":\n'),
             PARSE, "parse error:")
expect_error("not JSON at all", raw_exchange(b"hello teld\n"), PARSE, "parse error:")
r = raw_exchange(b'{"jsonrpc":"2.0","id":7,"method":"task.li')
checks.check("a truncated line then close: no reply, the connection closes", r == [], str(r))
checks.check("a truncated line then close: teld still answers", alive())
rnd = random.Random(4)
garbage = bytes(rnd.randrange(256) for _ in range(4096)).replace(b"\n", b"") + b"\n"
r = raw_exchange(garbage)
checks.check("binary garbage: -32700 with a message that is valid JSON",
             len(r) == 1 and r[0]["error"]["code"] == PARSE and r[0]["id"] is None, str(r)[:300])
checks.check("binary garbage: teld still answers", alive())
r = raw_exchange(b'{"jsonrpc":"2.0","id":1,"method":"server.status","params":{"a":"\xff\xfe"}}\n')
checks.check("invalid UTF-8 inside a string: -32700", r and r[0]["error"]["code"] == PARSE, str(r))
r = raw_exchange(b'{"jsonrpc":"2.0","id":1,"method":"server.st\x00atus"}\n')
checks.check("a NUL byte in the line: an error, not a crash",
             r and r[0].get("error", {}).get("code") in (PARSE, NO_METHOD), str(r))
checks.check("garbage without a newline, then close: no reply, teld still answers",
             raw_exchange(garbage[:-1]) == [] and alive())
envelopes = [
    (b'[{"jsonrpc":"2.0","id":1,"method":"server.status"}]', INVALID_REQ, "batch requests", None),
    (b'"just a string"', INVALID_REQ, "must be a JSON object, not a string", None),
    (b'{"id":3,"method":"server.status"}', INVALID_REQ, 'missing "jsonrpc"', 3),
    (b'{"jsonrpc":"1.0","id":3,"method":"server.status"}', INVALID_REQ, '"jsonrpc" must be', 3),
    (b'{"jsonrpc":"2.0","id":3}', INVALID_REQ, 'missing "method"', 3),
    (b'{"jsonrpc":"2.0","id":3,"method":7}', INVALID_REQ, '"method" must be a string', 3),
    (b'{"jsonrpc":"2.0","id":3,"method":""}', INVALID_REQ, 'must not be empty', 3),
    (b'{"jsonrpc":"2.0","id":{"a":1},"method":"server.status"}', INVALID_REQ, '"id" must be',
     None),
    (b'{"jsonrpc":"2.0","id":1.5,"method":"server.status"}', INVALID_REQ, '"id" must be', None),
    (b'{"jsonrpc":"2.0","id":"s","method":"server.status","extra":1}', INVALID_REQ,
     'unknown member "extra"', "s"),
    (b'{"jsonrpc":"2.0","id":3,"method":"server.status","params":"x"}', INVALID_REQ,
     '"params" must be an object or an array', 3),
    (b'{"jsonrpc":"2.0","id":3,"id":4,"method":"server.status"}', PARSE, "duplicate", None),
    (b'{"jsonrpc":"2.0","id":3,"method":"task.submit","params":{"type":"work","input":' +
     b"[" * 100000 + b"]" * 100000 + b"}}", PARSE, "maximum parsing depth", None),
    (b'{"jsonrpc":"2.0","id":3,"method":"task.submit","params":{"type":"work","input":1,'
     b'"idempotency_key":"k\\u0000a"}}', PARSE, "\\u0000 is not allowed", None),
]
for line, code, text, id in envelopes:
    expect_error("envelope %s" % line.decode()[:60], raw_exchange(line + b"\n"), code, text, id)
r = raw_exchange(b'{"jsonrpc":"2.0","method":"server.status"}\n'
                 b'{"jsonrpc":"2.0","method":"no.such"}\n\n\r\n'
                 b'{"jsonrpc":"2.0","id":9,"method":"types.list"}\n')
checks.check("notifications (no id) and blank lines get no reply; the next request does",
             len(r) == 1 and r[0]["id"] == 9 and "result" in r[0], str(r)[:300])

# ---- methods and params ----
expect_error("unknown method", raw_exchange(request_line("task.frobnicate", {}, 5)), NO_METHOD,
             'unknown method "task.frobnicate"', 5)
expect_error("unknown method (case differs)", raw_exchange(request_line("Task.Get", {}, 6)),
             NO_METHOD, "unknown method", 6)

METHODS = {
    # method: (a bad-typed param, its expected message), more of them
    "task.submit": [({"type": 5, "input": 1}, "params.type: expected a non-empty string"),
                    ({"type": "", "input": 1}, "params.type: expected a non-empty string"),
                    ({"type": "work"}, "params.input: required"),
                    ({"input": 1}, "params.type: required"),
                    ({"type": "work", "input": 1, "priority": "high"}, "params.priority: expected an integer"),
                    ({"type": "work", "input": 1, "priority": 1.5}, "params.priority: expected an integer"),
                    ({"type": "work", "input": 1, "priority": 10 ** 9}, "params.priority: expected an integer"),
                    ({"type": "work", "input": 1, "labels": ["a"]}, "params.labels: expected an object"),
                    ({"type": "work", "input": 1, "labels": {"a": 1}}, "params.labels.a: expected a string"),
                    ({"type": "work", "input": 1, "workflow": "wf"}, "params.workflow: expected an object"),
                    ({"type": "work", "input": 1, "workflow": {"step": 1}}, "params.workflow: expected an object"),
                    ({"type": "work", "input": 1, "idempotency_key": 7}, "params.idempotency_key: expected a non-empty string"),
                    ({"type": "work", "input": 1, "idempotency_key": "k" * 257}, "params.idempotency_key: at most 256 bytes")],
    "task.get": [({"id": 5}, "params.id: expected a non-empty string"), ({}, "params.id: required")],
    "task.list": [({"limit": 0}, "params.limit: expected an integer between 1 and 1000"),
                  ({"limit": "5"}, "params.limit: expected an integer"),
                  ({"state": "done"}, "params.state: expected one of"),
                  ({"type": ["work"]}, "params.type: expected a non-empty string"),
                  ({"after": 3}, "params.after: expected a non-empty string")],
    "task.cancel": [({"id": []}, "params.id: expected a non-empty string"),
                    ({"id": waiting, "reason": 5}, "params.reason: expected a non-empty string")],
    "task.complete": [({"id": waiting, "attempt": 0, "output": 1}, "params.attempt: expected an integer between 1"),
                      ({"id": waiting, "attempt": "1", "output": 1}, "params.attempt: expected an integer"),
                      ({"id": waiting, "output": 1}, "params.attempt: required"),
                      ({"id": waiting, "attempt": 1}, "params.output: required")],
    "task.fail": [({"id": waiting, "attempt": 1, "error": "boom"}, "params.error: expected an object"),
                  ({"id": waiting, "attempt": 1, "error": {"message": "m"}}, "params.error: expected an object"),
                  ({"id": waiting, "attempt": 1, "error": {"code": "c"}, "retryable": "yes"},
                   "params.retryable: expected true or false"),
                  ({"id": waiting, "attempt": 2 ** 32, "error": {"code": "c"}}, "params.attempt: expected an integer")],
    "task.heartbeat": [({"id": waiting, "attempt": -1}, "params.attempt: expected an integer"),
                       ({"id": True, "attempt": 1}, "params.id: expected a non-empty string")],
    "events.subscribe": [({"since": -1}, "params.since: expected an integer"),
                         ({"since": "0"}, "params.since: expected an integer")],
    "server.status": [],
    "server.reload": [],
    "server.backup": [({"path": "relative/dir"}, "params.path: expected an absolute path"),
                      ({"path": 1}, "params.path: expected a non-empty string"),
                      ({}, "params.path: required")],
    "types.list": [],
    "plugins.list": [],
}
wrong = []
for m, cases in METHODS.items():
    cases = cases + [({"bogus": 1}, "params.bogus: unknown parameter (expected: "),
                     ([1, 2], "params: expected an object")]
    for params, text in cases:
        got = rpc_error(main, m, params)
        if got[0] != INVALID_PARAMS or text not in got[1]:
            wrong.append((m, params if len(str(params)) < 80 else "...", got))
checks.check("wrong param types, missing and unknown params, for every method (%d): -32602 "
             "with the parameter named" % len(METHODS), not wrong, str(wrong)[:1500])
got = rpc_error(main, "server.status", {"bogus": 1})
checks.check("a method without params says 'expected: none'", "expected: none" in got[1], str(got))
got = rpc_error(main, "task.submit", {"type": "nope", "input": {}})
checks.check("unknown task type: -32602 naming it",
             got == (INVALID_PARAMS, 'unknown task type "nope"'), str(got))
bad_ids = {
    "task.get": [("not-a-uuid", INVALID_PARAMS, "id: expected a task id (a UUID)"),
                 (MISSING, NOT_FOUND, "no task with id " + MISSING),
                 (MISSING.upper(), None, None),
                 (MISSING + "0", INVALID_PARAMS, "expected a task id")],
    "task.cancel": [("x" * 300, INVALID_PARAMS, "expected a task id"),
                    (MISSING, NOT_FOUND, "no task with id"),
                    (seed[0], CONFLICT, "is already succeeded")],
    "task.list": [],
}
wrong = []
for m, cases in bad_ids.items():
    for id, code, text in cases:
        got = rpc_error(main, m, {"id": id})
        if code is None:
            continue
        if got[0] != code or text not in got[1]:
            wrong.append((m, id[:40], got))
got = rpc_error(main, "task.list", {"after": "nope"})
if got[0] != INVALID_PARAMS:
    wrong.append(("task.list after", got))
checks.check("bad ids: malformed -32602, unknown -32001, finished task -32002", not wrong,
             str(wrong)[:800])
got = rpc_error(main, "task.get", {"id": MISSING.upper()})
checks.check("an id in upper case is a valid spelling of a UUID (-32001, not -32602)",
             got[0] == NOT_FOUND, str(got))
checks.check("teld still answers after the param errors", alive())
after = snapshot()
checks.check("no rejected request changed the stored tasks", after[0] == before[0])
checks.check("no rejected request appended an event", after[1] == before[1],
             "new events: %s" % [e for e in after[1] if e not in before[1]][:5])

# Fenced calls with a wrong attempt are rejected (-32002), and by design leave a "late"
# event on the task's history (and nothing else).
got = rpc_error(main, "task.complete", {"id": waiting, "attempt": 2, "output": 1})
checks.check("task.complete with a stale attempt: -32002 naming the current attempt",
             got[0] == CONFLICT and "attempt 2 of task" in got[1] and "attempt 1)" in got[1],
             str(got))
got = rpc_error(main, "task.heartbeat", {"id": seed[0], "attempt": 1})
checks.check("task.heartbeat on a finished task: -32002", got[0] == CONFLICT and
             "already succeeded" in got[1], str(got))
after = snapshot()
new = [e for e in after[1] if e not in before[1]]
checks.check("the fenced rejections changed no task and added exactly their two 'late' events",
             after[0] == before[0] and [(e["kind"], e["what"]) for e in new] ==
             [("late", "complete"), ("late", "heartbeat")], str(new))
before = after

# ---- the 100 MiB line ----
pid = teld.proc.pid
MEM = 4 if sanitized(pid) else 1  # ASan's shadow memory and quarantine inflate RSS
rss0 = rss_kb(pid)
peak_ok = True
try:
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")  # reset VmHWM: measure the peak from here
except OSError:
    peak_ok = False
s = raw_connect(teld.socket, 20)
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"task.submit","params":{"type":"work","input":"')
chunk = b"x" * (1 << 20)
sent, stopped = 0, None
deadline = time.monotonic() + 60
while sent < 100 << 20 and time.monotonic() < deadline:
    try:
        s.sendall(chunk)
        sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError) as e:
        stopped = e
        break
    except socket.timeout:
        stopped = "timeout"
        break
if not stopped:
    try:
        s.sendall(b'"}}\n')
    except OSError as e:
        stopped = e
line, _ = read_line(s, b"", 10)
s.close()
reply = json.loads(line) if line else None
peak = rss_kb(pid)
if peak_ok:
    with open("/proc/%d/status" % pid) as f:
        peak = max(peak, int([x for x in f if x.startswith("VmHWM:")][0].split()[1]))
checks.check("a 100 MiB line: -32600 'request larger than max_request_bytes (1048576 bytes)'",
             reply is not None and reply["error"]["code"] == INVALID_REQ and
             "larger than max_request_bytes (1048576 bytes)" in reply["error"]["message"],
             str(reply)[:300])
checks.check("... teld closed the connection instead of reading the rest (%d MiB sent)"
             % (sent >> 20), stopped is not None, str(stopped))
checks.check("... teld's %s RSS stayed small: %d KiB -> %d KiB (< +%d MiB)"
             % ("peak" if peak_ok else "", rss0, peak, 8 * MEM), peak - rss0 < 8 * 1024 * MEM)
checks.check("... and teld still answers", alive())

# ---- pipelining ----
s = raw_connect(teld.socket)
ids = [i if i % 3 else "s%d" % i for i in range(1, 301)]
batch = b"".join(request_line("task.get" if i % 2 else "server.status",
                              {"id": seed[0]} if i % 2 else None, id)
                 for i, id in zip(range(300), ids))
s.sendall(batch)
got, buf = [], b""
while len(got) < 300:
    line, buf = read_line(s, buf, 10)
    if line is None:
        break
    got.append(json.loads(line))
s.close()
checks.check("300 pipelined requests in one write: 300 replies, in order, with their ids",
             [g.get("id") for g in got] == ids and all("result" in g for g in got),
             str([g.get("id") for g in got][:10]))

# ---- idempotency ----
r1 = main.call("task.submit", {"type": "work", "input": {"k": 1}, "idempotency_key": "idem-1"})
r2 = main.call("task.submit", {"type": "work", "input": {"k": 1}, "idempotency_key": "idem-1"})
checks.check("same key, same input: the same id, duplicate true",
             r1["duplicate"] is False and r2["duplicate"] is True and r1["id"] == r2["id"],
             "%s %s" % (r1, r2))
c2 = teld.client()
r3 = c2.call("task.submit", {"type": "work", "input": {"k": 1}, "idempotency_key": "idem-1"})
c2.close()
checks.check("... from another connection too", r3["id"] == r1["id"] and r3["duplicate"], str(r3))
s = raw_connect(teld.socket)
s.sendall(request_line("task.submit", {"type": "work", "input": {"k": 3}, "idempotency_key": "idem-2"}, 1) +
          request_line("task.submit", {"type": "work", "input": {"k": 3}, "idempotency_key": "idem-2"}, 2) +
          request_line("task.submit", {"type": "work", "input": {"k": 4}, "idempotency_key": "idem-2"}, 3))
got, buf = [], b""
while len(got) < 3:
    line, buf = read_line(s, buf, 10)
    if line is None:
        break
    got.append(json.loads(line))
s.close()
checks.check("the same key pipelined in one write: one task, then a duplicate, then -32002",
             len(got) == 3 and got[0]["result"]["duplicate"] is False and
             got[1]["result"] == dict(got[0]["result"], duplicate=True, state=got[1]["result"]["state"])
             and got[2]["error"]["code"] == CONFLICT, str(got)[:500])
n_before = len(all_tasks())
try:
    main.call("task.submit", {"type": "work", "input": {"k": 2}, "idempotency_key": "idem-1"})
    err = None
except RpcError as e:
    err = e
checks.check("same key, different input: -32002 with data.id",
             err is not None and err.code == CONFLICT and "idem-1" in err.message and
             err.data == {"id": r1["id"]}, str(err and (err.code, err.message, err.data)))
try:
    main.call("task.submit", {"type": "other", "input": {"k": 1}, "idempotency_key": "idem-1"})
    err = None
except RpcError as e:
    err = e
checks.check("same key and input, different type: -32002", err is not None and
             err.code == CONFLICT, str(err))
checks.check("the conflicts stored no task", len(all_tasks()) == n_before)
before = snapshot()

# ---- 1,000 concurrent connections ----
socks = []
try:
    for _ in range(1000):
        socks.append(raw_connect(teld.socket))
except OSError as e:
    print("# connect failed after %d: %s" % (len(socks), e))
for i, s in enumerate(socks):
    s.sendall(request_line("task.get", {"id": seed[1]}, i))
good = 0
for i, s in enumerate(socks):
    line, _ = read_line(s, b"", 15)
    if line and json.loads(line).get("id") == i and "result" in json.loads(line):
        good += 1
st = main.call("server.status")
checks.check("1,000 concurrent connections, each answered (%d)" % good, good == 1000)
checks.check("server.status counts them (%d)" % st["api"]["connections"],
             st["api"]["connections"] >= 1001)
for s in socks:
    s.close()
checks.check("after the 1,000 close, teld still answers", alive())

# ---- a client that never reads ----
rss0 = rss_kb(pid)
hog = raw_connect(teld.socket)
hog.setblocking(False)
req = request_line("task.get", {"id": seed[2]}, 1)
blob = req * 1000
pushed = 0
deadline = time.monotonic() + 4
lat = []
while time.monotonic() < deadline:
    try:
        pushed += hog.send(blob)
    except BlockingIOError:
        time.sleep(0.01)
    if len(lat) < 20 and pushed > (len(lat) + 1) * (1 << 20) / 4:
        t0 = time.monotonic()
        main.call("server.status")
        lat.append(time.monotonic() - t0)
t0 = time.monotonic()
ok = alive()
lat.append(time.monotonic() - t0)
grown = rss_kb(pid) - rss0
checks.check("a client that pipelines %d requests (%.1f MiB) and never reads: others are "
             "served meanwhile (slowest %.0f ms)" % (pushed // len(req), pushed / 2 ** 20,
                                                     max(lat) * 1000),
             ok and max(lat) < 1.0 and pushed > len(req) * 1000)
checks.check("... teld's RSS stays bounded (+%d KiB < %d MiB)" % (grown, 16 * MEM),
             grown < 16 * 1024 * MEM)
hog.close()
checks.check("... and teld answers after it goes away", alive())

# ---- socket mode and group from the config ----
st = os.stat(teld.socket)
checks.check("the socket has mode 0660 from daemon.socket_mode",
             stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode))
if ROOT:
    checks.check("the socket has group 62010 from daemon.socket_group", st.st_gid == 62010,
                 str(st.st_gid))
    try:
        u = AsUser(teld.socket, 61020, 61020, [62010])
        r = u.call("server.status")
        u.close()
        in_group = r.get("error", {}).get("code")
    except (RuntimeError, OSError) as e:
        in_group = repr(e)
    checks.check("a member of the socket's group can connect (and, having no role, gets -32003)",
                 in_group == FORBIDDEN, str(in_group))
    try:
        u = AsUser(teld.socket, 61021, 61021, [])
        u.close()
        outsider = "connected"
    except RuntimeError as e:
        outsider = str(e)
    checks.check("a user outside the group cannot connect (EACCES)",
                 "PermissionError" in outsider, outsider)
else:
    print("# SKIP socket_group and connecting as other uids: not root")
after = snapshot()
checks.check("nothing changed in the store meanwhile", after == before)
main.close()

# ---- a stale socket, a second teld ----
checks.check("SIGKILL teld", teld.kill(9) == -9)
checks.check("the killed teld left its socket file behind",
             stat.S_ISSOCK(os.lstat(teld.socket).st_mode))
teld.start()
checks.check("a new teld replaces the stale socket and answers", alive())
second = subprocess.run([os.path.join(os.environ["top_builddir"], "core", "teld"), "-c",
                         teld.conf], capture_output=True, text=True, timeout=20)
msg = second.stdout + second.stderr
checks.check("a second teld on the same state exits 1 saying another teld (with its pid) "
             "uses the state directory", second.returncode == 1 and
             ("another teld with pid %d is already using the state directory" % teld.proc.pid)
             in msg, msg[-500:])
conf2 = os.path.join(tmp, "second.conf")
with open(conf2, "w") as f:
    f.write('daemon = { state_dir = "state2"; socket = "api.sock"; };\n' + TYPES)
second = subprocess.run([os.path.join(os.environ["top_builddir"], "core", "teld"), "-c",
                         conf2], capture_output=True, text=True, timeout=20)
msg = second.stdout + second.stderr
checks.check("a second teld on another state but the same socket exits 1: 'another process "
             "is listening on'", second.returncode == 1 and
             "another process is listening on " + teld.socket in msg, msg[-500:])
checks.check("the first teld still answers, on the same socket file", alive())
checks.check("teld stops cleanly (exit 0)", teld.stop() == 0)
checks.check("and removes its socket file", not os.path.exists(teld.socket))

# ---- the limits of the config ----
tmp2 = tempfile.mkdtemp(prefix="tel-api-limits-")
lim = track(Teld(tmp2, TYPES, daemon="api = { max_request_kb = 4; max_connections = 5; "
                 "idle_timeout_s = 0.5; };")).start()


def lim_exchange(data, timeout=5.0):
    s = raw_connect(lim.socket, timeout)
    s.sendall(data)
    out = wait_closed(s, timeout)
    s.close()
    return [json.loads(x) for x in out.split(b"\n") if x]


def lim_alive():
    c = lim.client(timeout=5)
    ok = "pid" in c.call("server.status")
    c.close()
    return ok


body = b'{"jsonrpc":"2.0","id":1,"method":"server.status"}'
exact = body + b" " * (4096 - len(body))
s = raw_connect(lim.socket)
s.sendall(exact + b"\n")
line, _ = read_line(s, b"", 5)
s.close()
checks.check("max_request_kb = 4: a line of exactly 4096 bytes is served",
             line is not None and "result" in json.loads(line), str(line)[:200])
r = lim_exchange(exact + b" \n")
checks.check("... a line of 4097 bytes: -32600 'larger than max_request_bytes (4096 bytes)' "
             "and the connection closes",
             len(r) == 1 and r[0]["error"]["code"] == INVALID_REQ and
             "(4096 bytes)" in r[0]["error"]["message"], str(r)[:300])
checks.check("... teld still answers", lim_alive())

s = raw_connect(lim.socket)
s.sendall(b'{"jsonrpc":"2.0","id":1,')
t0 = time.monotonic()
try:
    rest = wait_closed(s, 5)
    took = time.monotonic() - t0
except TimeoutError:
    rest, took = None, None
s.close()
checks.check("idle_timeout_s = 0.5: a partial request is closed after about 0.5 s (%s s), "
             "without a reply" % (took and "%.2f" % took),
             took is not None and 0.4 <= took < 2.5 and rest == b"", str(rest))
idle = raw_connect(lim.socket)
time.sleep(1.2)
idle.sendall(request_line("server.status"))
line, _ = read_line(idle, b"", 5)
idle.close()
checks.check("... a connection idle between requests is not closed",
             line is not None and "result" in json.loads(line))
with open(lim.log) as f:
    checks.check("... the log says why", "partial request stayed unfinished" in f.read())

held = [raw_connect(lim.socket) for _ in range(5)]
for s in held:
    s.sendall(request_line("server.status"))
    read_line(s, b"", 5)
s = raw_connect(lim.socket)
r = [json.loads(x) for x in wait_closed(s, 5).split(b"\n") if x]
s.close()
checks.check("max_connections = 5: the 6th connection gets -32006 'too many connections (max 5)'"
             " and is closed", len(r) == 1 and r[0]["error"]["code"] == UNAVAILABLE and
             r[0]["error"]["message"] == "too many connections (max 5)" and r[0]["id"] is None,
             str(r))
held.pop().close()
time.sleep(0.1)
checks.check("... after one closes, a new connection is served", lim_alive())
for s in held:
    s.close()
checks.check("the limits' teld stops cleanly (exit 0)", lim.stop() == 0)

if not checks.failed:
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(tmp2, ignore_errors=True)
else:
    print("# left %s and %s for inspection" % (tmp, tmp2))
checks.finish()
