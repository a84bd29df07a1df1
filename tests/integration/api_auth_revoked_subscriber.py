#!/usr/bin/env python3
"""An event subscription must not outlive its caller's role.

A regression test: this failed against the daemon as of d2236eb (fixed since).
Roles are recomputed at a connection's next request after a reload (api.c on_request), but an
events.subscribe stream is not a request: a viewer that subscribed keeps receiving every
event (task ids, types, states, error codes and messages, cancel reasons) after a reload
(SIGHUP or server.reload) removed its role, for as long as it keeps the connection open.

Expected (what this test asserts): after a reload that leaves a subscriber without any role
that may read, teld sends it no further events (closing its connection, for instance)."""
import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from apitest_util import raw_connect, request_line, track  # noqa: E402
from telrpc import Checks, Teld, testexec_path  # noqa: E402

if os.geteuid() != 0:
    print("1..0 # SKIP needs root: the subscriber runs as another uid")
    sys.exit(77)
VIEWER = 61050
checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-api-revoke-")
os.chmod(tmp, 0o755)
TYPES = """
plugins = ( { name = "t"; path = "%s"; } );
task_types = ( { name = "work"; executor = "t"; retry = { max_attempts = 1; }; } );
""" % testexec_path()
ROLES = 'roles = { viewer = { users = ["%d"]; }; };\n' % VIEWER
teld = track(Teld(tmp, ROLES + TYPES, daemon='socket = "api.sock"; socket_mode = "0666";'))
teld.socket = os.path.join(tmp, "api.sock")
teld.start()
head = open(teld.conf).read().split("\n", 1)[0]

r, w = os.pipe()
pid = os.fork()
if pid == 0:  # the viewer: subscribe, then collect what comes for 4 s
    code = 0
    try:
        os.close(r)
        os.setgroups([])
        os.setgid(VIEWER)
        os.setuid(VIEWER)
        s = raw_connect(teld.socket, 10)
        s.sendall(request_line("events.subscribe", None, 1))
        data = b""
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except (socket.timeout, OSError):
                break
            if not d:
                break
            data += d
        os.write(w, data)
    except BaseException:  # noqa: B902
        code = 1
    os._exit(code)
os.close(w)
c = teld.client()
time.sleep(0.5)  # the viewer has subscribed
before = c.call("task.submit", {"type": "work", "input": {"n": "before"}})["id"]
c.wait_state(before, "succeeded")
with open(teld.conf, "w") as f:
    f.write(head + "\n" + TYPES)  # no roles any more
checks.check("server.reload removes the viewer's role", c.call("server.reload") == {"reloaded": True})
after = c.call("task.submit", {"type": "work", "input": {"n": "after"}})["id"]
c.wait_state(after, "succeeded")
_, status = os.waitpid(pid, 0)
out = b""
while True:
    d = os.read(r, 1 << 20)
    if not d:
        break
    out += d
os.close(r)
msgs = [json.loads(x) for x in out.split(b"\n") if x]
events = [m["params"] for m in msgs if m.get("method") == "event"]
checks.check("the viewer subscribed and got the events of the task before the reload",
             status == 0 and any(e["task_id"] == before for e in events), str(msgs)[:300])
leaked = [e for e in events if e["task_id"] == after]
checks.check("after the reload removed its role, the subscriber gets no more events "
             "(it got %d about a task submitted after)" % len(leaked), not leaked, str(leaked)[:300])
c.close()
checks.check("teld stops cleanly (exit 0)", teld.stop() == 0)
shutil.rmtree(tmp, ignore_errors=True)
checks.finish()
