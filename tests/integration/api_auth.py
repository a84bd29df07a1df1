#!/usr/bin/env python3
"""API authorization at the daemon level: real clients running as other uids (a forked child
that drops to the uid, gid and groups under test), checked against the roles of the config.

  - a caller with no role gets -32003 for every method (even unknown ones);
  - a viewer reads but cannot submit, cancel, complete, fail, heartbeat, reload or back up;
  - a submitter submits and cancels its own tasks, not another submitter's (-32003);
  - a role granted through a supplementary group (or the primary gid) works;
  - an admin from the config (and root) can do everything;
  - a reload (SIGHUP, and server.reload) that changes roles applies to connections that are
    already open, from their next request.
Uids and gids are numbers that exist only in the config (root may setuid to any number)."""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from apitest_util import AsUser, track  # noqa: E402
from telrpc import Checks, Teld, testexec_path  # noqa: E402

FORBIDDEN = -32003
NOBODY, VIEWER, SUB_A, SUB_B, GROUP_SUB, ADMIN, PRIMARY_SUB, LATER = (
    61001, 61002, 61003, 61004, 61005, 61006, 61007, 61008)
SUB_GROUP, VIEW_GROUP, PRIMARY_GROUP = 62001, 62002, 62003

if os.geteuid() != 0:
    print("1..0 # SKIP needs root: clients become other uids with setuid")
    sys.exit(77)
checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-api-auth-")
os.chmod(tmp, 0o755)  # the socket lives here; other uids must reach it
bdir = os.path.join(tmp, "backups")
os.mkdir(bdir)
os.chmod(bdir, 0o777)

TYPES = """
plugins = ( { name = "t"; path = "%s"; } );
task_types = ( { name = "work"; executor = "t";
                 retry = { max_attempts = 1; }; } );
""" % testexec_path()


def roles_config(later_role):
    later = {"viewer": "", "submitter": ""}
    if later_role:
        later[later_role] = '"%d"' % LATER
    return """
roles = {
  admin = { users = ["%d"]; };
  submitter = { users = ["%d", "%d" %s]; groups = ["%d", "%d"]; };
  viewer = { users = ["%d" %s]; groups = ["%d"]; };
};
""" % (ADMIN, SUB_A, SUB_B, (", " + later["submitter"]) if later["submitter"] else "",
       SUB_GROUP, PRIMARY_GROUP, VIEWER, (", " + later["viewer"]) if later["viewer"] else "",
       VIEW_GROUP) + TYPES


teld = track(Teld(tmp, roles_config("viewer"), daemon='socket = "api.sock"; socket_mode = "0666";'))
teld.socket = os.path.join(tmp, "api.sock")
teld.start()
root = teld.client()

ALL_METHODS = {
    "task.submit": {"type": "work", "input": {"defer": True}},
    "task.get": {"id": "00000000-0000-7000-8000-000000000000"},
    "task.list": {},
    "task.cancel": {"id": "00000000-0000-7000-8000-000000000000"},
    "task.complete": {"id": "00000000-0000-7000-8000-000000000000", "attempt": 1, "output": 1},
    "task.fail": {"id": "00000000-0000-7000-8000-000000000000", "attempt": 1,
                  "error": {"code": "x", "message": "y"}},
    "task.heartbeat": {"id": "00000000-0000-7000-8000-000000000000", "attempt": 1},
    "events.subscribe": {"since": 0},
    "server.status": {},
    "server.reload": {},
    "server.backup": {"path": os.path.join(bdir, "never")},
    "types.list": {},
    "plugins.list": {},
}
READS = ["task.get", "task.list", "events.subscribe", "server.status", "types.list",
         "plugins.list"]
WRITES = ["task.submit", "task.cancel", "task.complete", "task.fail", "task.heartbeat"]
ADMIN_ONLY = ["server.reload", "server.backup"]


def code(reply):
    return reply.get("error", {}).get("code")


def tasks_snapshot():
    return root.call("task.list", {"limit": 1000})["tasks"]


# ---- no role ----
before = tasks_snapshot()
u = AsUser(teld.socket, NOBODY, NOBODY, [12345])
bad = {}
for m, p in list(ALL_METHODS.items()) + [("no.such.method", {}), ("task.get", None)]:
    r = u.call(m, p)
    if code(r) != FORBIDDEN or "has no role" not in r["error"]["message"]:
        bad[m] = r
checks.check("a caller with no role gets -32003 'no role' for every method (%d methods, an "
             "unknown one and absent params)" % len(ALL_METHODS), not bad, str(bad)[:600])
r = u.call("server.status")
checks.check("the message names the uid", str(NOBODY) in r["error"]["message"], str(r))
u.close()
checks.check("nothing was stored by the forbidden calls", tasks_snapshot() == before)
checks.check("no backup was written for a forbidden caller", not os.listdir(bdir))

# ---- viewer ----
v = AsUser(teld.socket, VIEWER, VIEWER)
mine = root.call("task.submit", {"type": "work", "input": {"defer": True}})["id"]
root.wait_state(mine, "waiting")
ok_reads = {}
for m in READS:
    p = dict(ALL_METHODS[m])
    if m == "task.get":
        p = {"id": mine}
    if m == "events.subscribe":
        # a subscribe on this connection would stream events to it: use a fresh one
        v2 = AsUser(teld.socket, VIEWER, VIEWER)
        r = v2.call(m, p)
        v2.close()
    else:
        r = v.call(m, p)
    ok_reads[m] = "result" in r
    if m == "server.status" and "result" in r:
        checks.check("server.status shows the viewer's uid and role",
                     r["result"]["caller"] == {"uid": VIEWER, "roles": "viewer"},
                     str(r["result"].get("caller")))
checks.check("a viewer may call every read method", all(ok_reads.values()), str(ok_reads))
denied = {}
for m in WRITES + ADMIN_ONLY:
    p = dict(ALL_METHODS[m])
    if "id" in p:
        p["id"] = mine
        if "attempt" in p:
            p["attempt"] = 1
    r = v.call(m, p)
    if code(r) != FORBIDDEN:
        denied[m] = r
checks.check("a viewer gets -32003 for submit, cancel, complete, fail, heartbeat, reload, "
             "backup", not denied, str(denied)[:600])
r = v.call("task.submit", ALL_METHODS["task.submit"])
checks.check("the message says which role is needed",
             "needs the role" in r["error"]["message"] and "submitter" in r["error"]["message"],
             r["error"]["message"])
checks.check("the viewer's attempts changed nothing: the task still waits",
             root.call("task.get", {"id": mine})["state"] == "waiting")
v.close()

# ---- submitters ----
a = AsUser(teld.socket, SUB_A, SUB_A)
b = AsUser(teld.socket, SUB_B, SUB_B)
ra = a.call("task.submit", {"type": "work", "input": {"defer": True, "who": "a"}})
checks.check("a submitter submits", "result" in ra and ra["result"]["duplicate"] is False, str(ra))
ta = ra["result"]["id"]
root.wait_state(ta, "waiting")
checks.check("the task records its owner's uid",
             root.call("task.get", {"id": ta}).get("owner_uid") == SUB_A)
rb = b.call("task.cancel", {"id": ta, "reason": "not yours"})
checks.check("another submitter cannot cancel it (-32003)",
             code(rb) == FORBIDDEN and "another user" in rb["error"]["message"], str(rb))
checks.check("the task is still waiting after the refused cancel",
             root.call("task.get", {"id": ta})["state"] == "waiting")
rb = b.call("task.cancel", {"id": mine})
checks.check("a submitter cannot cancel root's task either (-32003)", code(rb) == FORBIDDEN, str(rb))
ra = a.call("task.cancel", {"id": ta, "reason": "mine"})
checks.check("the owner cancels its own task",
             ra.get("result") == {"id": ta, "state": "cancelled"}, str(ra))
for m in ADMIN_ONLY:
    r = a.call(m, ALL_METHODS[m])
    checks.check("a submitter cannot call %s (-32003)" % m, code(r) == FORBIDDEN, str(r))
rr = a.call("task.list", {})
checks.check("a submitter may read", "result" in rr, str(rr))
# a submitter's own deferred task: complete with the right attempt
t2 = a.call("task.submit", {"type": "work", "input": {"defer": True, "n": 2}})["result"]["id"]
root.wait_state(t2, "waiting")
r = a.call("task.heartbeat", {"id": t2, "attempt": 1})
checks.check("a submitter heartbeats its own task", "result" in r, str(r))
r = a.call("task.complete", {"id": t2, "attempt": 1, "output": {"ok": 1}})
checks.check("a submitter completes its own task",
             r.get("result", {}).get("state") == "succeeded", str(r))
a.close()
b.close()

# ---- roles through groups ----
g = AsUser(teld.socket, GROUP_SUB, GROUP_SUB, [SUB_GROUP])
r = g.call("task.submit", {"type": "work", "input": {"defer": True, "who": "group"}})
checks.check("a submitter role granted by a supplementary group works", "result" in r, str(r))
gid_task = r.get("result", {}).get("id")
r = g.call("task.cancel", {"id": gid_task})
checks.check("... and that caller cancels its own task", "result" in r, str(r))
g.close()
g = AsUser(teld.socket, GROUP_SUB, GROUP_SUB, [])
r = g.call("task.list", {})
checks.check("the same uid without the supplementary group has no role (-32003)",
             code(r) == FORBIDDEN, str(r))
g.close()
g = AsUser(teld.socket, PRIMARY_SUB, PRIMARY_GROUP, [])
r = g.call("task.submit", {"type": "work", "input": {"n": "primary"}})
checks.check("a role granted by the primary gid works", "result" in r, str(r))
g.close()
g = AsUser(teld.socket, NOBODY, NOBODY, [12345, VIEW_GROUP])
r1, r2 = g.call("task.list", {}), g.call("task.submit", ALL_METHODS["task.submit"])
checks.check("a viewer role from a group: reads, cannot submit",
             "result" in r1 and code(r2) == FORBIDDEN, "%s %s" % (r1, r2))
g.close()

# ---- admin ----
ad = AsUser(teld.socket, ADMIN, ADMIN)
victim = root.call("task.submit", {"type": "work", "input": {"defer": True, "v": 1}})["id"]
root.wait_state(victim, "waiting")
results = {}
results["submit"] = ad.call("task.submit", {"type": "work", "input": {"defer": True, "ad": 1}})
own = results["submit"].get("result", {}).get("id")
results["cancel other's"] = ad.call("task.cancel", {"id": victim})
root.wait_state(own, "waiting")
results["heartbeat"] = ad.call("task.heartbeat", {"id": own, "attempt": 1})
results["fail"] = ad.call("task.fail", {"id": own, "attempt": 1,
                                         "error": {"code": "x", "message": "no"},
                                         "retryable": False})
for m in READS:
    if m == "events.subscribe":
        continue
    p = {"id": own} if m == "task.get" else {}
    results[m] = ad.call(m, p)
results["server.reload"] = ad.call("server.reload", {})
bpath = os.path.join(bdir, "b1")
results["server.backup"] = ad.call("server.backup", {"path": bpath})
failed = {k: r for k, r in results.items() if "result" not in r}
checks.check("a configured admin can call every method (and cancel another's task)",
             not failed, str(failed)[:600])
checks.check("the admin's backup exists", os.path.exists(os.path.join(bpath, "data.mdb")))
checks.check("the admin cancelled root's task",
             root.call("task.get", {"id": victim})["state"] == "cancelled")
ad.close()
r = root.call("server.status")
checks.check("root is admin without being in the config",
             r["caller"] == {"uid": 0, "roles": "admin"}, str(r["caller"]))

# ---- reload changes roles for connections already open ----
later = AsUser(teld.socket, LATER, LATER)
r = later.call("task.submit", {"type": "work", "input": {"later": 1}})
checks.check("before the reload, uid %d is a viewer and cannot submit" % LATER,
             code(r) == FORBIDDEN, str(r))
with open(teld.conf) as f:
    head = f.read().split("\n", 1)[0]
with open(teld.conf, "w") as f:
    f.write(head + "\n" + roles_config("submitter"))
n_reloaded = open(teld.log).read().count("configuration reloaded")
teld.proc.send_signal(1)  # SIGHUP
deadline = time.monotonic() + 10
while open(teld.log).read().count("configuration reloaded") <= n_reloaded and \
        time.monotonic() < deadline:
    time.sleep(0.02)
r = later.call("task.submit", {"type": "work", "input": {"later": 2}})
checks.check("after SIGHUP made it a submitter, its open connection's next submit works",
             "result" in r, str(r))
with open(teld.conf, "w") as f:
    f.write(head + "\n" + roles_config(None))
r = root.call("server.reload")
checks.check("server.reload (root) with the role removed", r == {"reloaded": True}, str(r))
r = later.call("task.list", {})
checks.check("after the reload removed every role, the open connection gets -32003",
             code(r) == FORBIDDEN and "no role" in r["error"]["message"], str(r))
later.close()
with open(teld.conf, "w") as f:
    f.write(head + "\nroles = { viewer = { users = [\"no-such-user-xyz\"]; }; };\n" + TYPES)
try:
    root.call("server.reload")
    bad_reload = "accepted"
except Exception as e:  # noqa: BLE001
    bad_reload = getattr(e, "code", repr(e))
checks.check("a reload with a bad config is refused (-32602) and the roles stay", bad_reload == -32602,
             str(bad_reload))
v = AsUser(teld.socket, VIEWER, VIEWER)
r = v.call("task.list", {})
checks.check("... the viewer still reads after the refused reload", "result" in r, str(r))
v.close()

root.close()
checks.check("teld stops cleanly (exit 0)", teld.stop() == 0)
if not checks.failed:
    shutil.rmtree(tmp, ignore_errors=True)
else:
    print("# left %s for inspection" % tmp)
checks.finish()
