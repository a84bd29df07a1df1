#!/usr/bin/env python3
"""Callers without a role cannot crowd out those with one: their connections have a quota of
their own (daemon.api.max_roleless_connections), outside max_connections.  Past it a
roleless caller is refused at once with -32003; callers with a role still connect up to
max_connections, and past that get the usual refusal."""
import json
import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from apitest_util import AsUser, raw_connect, read_line, track  # noqa: E402
from telrpc import Checks, Teld, testexec_path  # noqa: E402

if os.geteuid() != 0:
    print("1..0 # SKIP needs root: clients become other uids with setuid")
    sys.exit(77)
NOBODY, OTHER_NOBODY, VIEWER = 63001, 63002, 63003
checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-roleless-")
os.chmod(tmp, 0o755)
teld = track(Teld(tmp, """
roles = { viewer = { users = ["%d"]; }; };
plugins = ( { name = "t"; path = "%s"; } );
task_types = ( { name = "work"; executor = "t"; } );
""" % (VIEWER, testexec_path()),
    daemon='socket = "api.sock"; socket_mode = "0666"; '
           'api = { max_connections = 3; max_roleless_connections = 2; };'))
teld.socket = os.path.join(tmp, "api.sock")
teld.start()


def first_line_as(uid):
    """Connect as uid (a forked child) and return the first line teld sends unasked, or
    None when it sends nothing within a second (the connection was taken)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s = raw_connect(teld.socket, 5)
            try:
                line, _ = read_line(s, timeout=1.0)
            except TimeoutError:
                line = b"null"
            os.write(w, (line or b"closed") + b"\n")
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.readline().strip()
    os.waitpid(pid, 0)
    return None if out == b"null" else json.loads(out) if out != b"closed" else "closed"


root = teld.client()
guests = [AsUser(teld.socket, NOBODY, NOBODY), AsUser(teld.socket, OTHER_NOBODY, OTHER_NOBODY)]
r = guests[0].call("task.list", {})
checks.check("a roleless caller within its quota is connected, and gets -32003 for requests",
             r.get("error", {}).get("code") == -32003, str(r))
st = root.call("server.status")
checks.check("server.status counts the roleless connections",
             st["api"]["roleless"] == 2 and st["api"]["connections"] == 3, str(st["api"]))
r = first_line_as(NOBODY)
checks.check("past max_roleless_connections a roleless caller is refused at once with -32003",
             isinstance(r, dict) and r["error"]["code"] == -32003 and
             "has no role" in r["error"]["message"], str(r))
viewers = [AsUser(teld.socket, VIEWER, VIEWER), AsUser(teld.socket, VIEWER, VIEWER)]
oks = [v.call("task.list", {}) for v in viewers]
checks.check("callers with a role still connect up to max_connections (3 = root + 2), with 2 "
             "roleless ones connected too", all("result" in o for o in oks), str(oks))
r = first_line_as(VIEWER)
checks.check("past max_connections a caller with a role gets the usual refusal (-32006)",
             isinstance(r, dict) and r["error"]["code"] == -32006 and
             "too many connections" in r["error"]["message"], str(r))
guests[0].close()
import time  # noqa: E402
deadline = time.monotonic() + 5
while root.call("server.status")["api"]["roleless"] != 1 and time.monotonic() < deadline:
    time.sleep(0.02)
r = first_line_as(OTHER_NOBODY)
checks.check("once a roleless connection closes, another roleless caller is taken", r is None, str(r))
for c in guests[1:] + viewers:
    c.close()
root.close()
checks.check("teld stops cleanly", teld.stop() == 0)
checks.finish()
