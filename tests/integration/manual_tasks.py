#!/usr/bin/env python3
"""Manual tasks end to end: the manual executor hands tasks to people; operators (clients
running as other uids, with their groups) list, claim, complete and reject them; due times
escalate; notifications run as sandboxed tasks; everything survives a restart; a crash in a
non-idempotent attempt becomes a decision for people, with the attempt's output as evidence.

Users and groups exist only as numbers ("#<uid>" in assignments, numbers in roles)."""
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from apitest_util import AsUser, track  # noqa: E402
from telrpc import Checks, RpcError, Teld  # noqa: E402

if os.geteuid() != 0:
    print("1..0 # SKIP needs root: operators are clients running as other uids")
    sys.exit(77)

TOP = os.environ["top_builddir"]
PLUGINS = {n: os.path.join(TOP, "plugins", n, ".libs", n + ".so")
           for n in ("manual", "jsonschema", "exec")}
PY = "/usr/bin/python3"
NOT_FOUND, CONFLICT, FORBIDDEN, INVALID = -32001, -32002, -32003, -32004

OP_A, OP_B, OP_G, OP_OTHER, NOROLE, VIEWER, ADMIN, LEAD = (
    61101, 61102, 61103, 61104, 61105, 61106, 61107, 61108)
G_OPS, G_LEADS = 62101, 62102

checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-manual-")
os.chmod(tmp, 0o755)


# ---- a notification receiver on 127.0.0.1: refuses the first delivery, takes the rest ----
class Receiver:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got = []        # accepted notifications (parsed)
        self.refused = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        deadline = time.monotonic() + 600  # bounded: the test never runs that long
        while not self.stop and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while not data.endswith(b"\n"):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    if self.refused == 0:
                        self.refused += 1
                        conn.sendall(b"no\n")
                    else:
                        self.got.append(json.loads(data))
                        conn.sendall(b"ok\n")
                except (OSError, ValueError):
                    pass

    def wait_for(self, pred, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n in self.got:
                if pred(n):
                    return n
            time.sleep(0.05)
        return None


rx = Receiver()
NOTIFY = ("import json, socket, sys\n"
          "data = sys.stdin.read()\n"
          "s = socket.create_connection(('127.0.0.1', %d), timeout=5)\n"
          "s.sendall(json.dumps(json.loads(data)).encode() + b'\\n')\n"
          "sys.exit(0 if s.recv(16).startswith(b'ok') else 1)\n") % rx.port

with open(os.path.join(tmp, "approval.json"), "w") as f:
    json.dump({"type": "object", "required": ["approved"], "additionalProperties": False,
               "properties": {"approved": {"type": "boolean", "description": "approve it?"},
                              "comment": {"type": "string", "maxLength": 20}}}, f)

CONFIG = """
roles = {
  admin = { users = ["%(admin)d"]; };
  operator = { users = ["%(a)d", "%(b)d", "%(other)d", "%(lead)d"]; groups = ["%(ops)d"]; };
  viewer = { users = ["%(viewer)d"]; };
};
plugins = (
  { name = "manual"; path = "%(manual)s"; },
  { name = "jsonschema"; path = "%(jsonschema)s"; },
  { name = "exec"; path = "%(exec)s"; }
);
sandboxes = { net = { network = "host"; }; };
task_types = (
  { name = "approve"; executor = "manual";
    config = { candidate_users = ["#%(a)d", "#%(b)d"]; candidate_groups = ["#%(ops)d"];
               form = "approval.json"; claim_timeout_s = 30.0; }; },
  { name = "mine"; executor = "manual";
    config = { assignee = { pointer = "/owner"; }; form = "approval.json"; }; },
  { name = "urgent"; executor = "manual";
    config = { candidate_users = ["#%(a)d"]; form = "approval.json"; due_s = %(due)s;
               escalation = { action = "reassign"; group = "#%(leads)d"; };
               notify = { type = "notify"; on = ["assigned", "escalated", "claim_expired"]; }; }; },
  { name = "deadline"; executor = "manual";
    config = { candidate_users = ["#%(a)d"]; due_s = 1.0;
               escalation = { action = "fail"; code = "too_late"; }; }; },
  { name = "quick_claim"; executor = "manual";
    config = { candidate_users = ["#%(a)d"]; claim_timeout_s = 1.0; }; },
  { name = "notify"; executor = "exec"; sandbox = "net";
    config = { argv = ["%(py)s", "-c", "%(notify)s"]; };
    retry = { max_attempts = 5; initial_interval_s = 0.2; multiplier = 1.0; }; },
  { name = "charge"; executor = "exec"; idempotent = false;
    config = { argv = ["/bin/sh", "-c", "echo charged card 4242; echo about to confirm >&2; sleep 60"]; }; }
);
"""


def config(due):
    return CONFIG % {"admin": ADMIN, "a": OP_A, "b": OP_B, "other": OP_OTHER, "lead": LEAD,
                     "ops": G_OPS, "leads": G_LEADS, "viewer": VIEWER, "due": due,
                     "py": PY, "notify": NOTIFY.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"),
                     **PLUGINS}


teld = track(Teld(tmp, config("4.0"), daemon='socket = "api.sock"; socket_mode = "0666";'))
teld.socket = os.path.join(tmp, "api.sock")
teld.start()
root = teld.client()


def code(reply):
    return reply.get("error", {}).get("code")


def as_user(uid, groups=()):
    return AsUser(teld.socket, uid, uid, list(groups))


def ids(reply):
    return [t["id"] for t in reply.get("result", {}).get("tasks", [])]


def manual(tid):
    return root.call("task.get", {"id": tid}).get("manual", {})


# ---- roles: no role, viewer ----
t1 = root.call("task.submit", {"type": "approve", "input": {"invoice": 17, "amount": 250}})["id"]
root.wait_state(t1, "waiting")
rec = root.call("task.get", {"id": t1})
checks.check("a manual task waits for people without holding a worker",
             rec["state"] == "waiting" and rec["manual"]["candidate_groups"] == ["#%d" % G_OPS],
             json.dumps(rec)[:500])
try:
    root.call("task.complete", {"id": t1, "attempt": 1, "output": {"approved": True}})
    refused = None
except RpcError as e:
    refused = e
checks.check("task.complete cannot bypass the people a task waits for (-32002)",
             refused is not None and refused.code == CONFLICT and "manual.complete" in refused.message,
             str(refused))
for who, uid in (("a user without any role", NOROLE), ("a viewer", VIEWER)):
    u = as_user(uid)
    res = [code(u.call("manual.list", {})), code(u.call("manual.claim", {"id": t1})),
           code(u.call("manual.complete", {"id": t1, "output": {"approved": True}}))]
    u.close()
    checks.check("%s cannot list, claim or complete (-32003)" % who, res == [FORBIDDEN] * 3, str(res))
checks.check("... and the task still waits, unclaimed",
             root.call("task.get", {"id": t1})["state"] == "waiting" and manual(t1)["claimed_by"] is None)

# ---- who sees what ----
a = as_user(OP_A)
g = as_user(OP_G, [G_OPS])
other = as_user(OP_OTHER)
nogroup = as_user(OP_G)  # the same uid without the group: an operator by... nothing
r = a.call("manual.list", {})
checks.check("a candidate user sees the task, with its input", t1 in ids(r) and
             r["result"]["tasks"][0]["input"] == {"invoice": 17, "amount": 250}, str(r)[:400])
checks.check("a member of a candidate group sees it", t1 in ids(g.call("manual.list", {})))
checks.check("an operator who is neither does not see it", t1 not in ids(other.call("manual.list", {})))
r = other.call("manual.claim", {"id": t1})
checks.check("... and cannot claim it (-32003)", code(r) == FORBIDDEN, str(r))
r = nogroup.call("manual.claim", {"id": t1})
checks.check("without the group the same uid has no operator role (-32003)", code(r) == FORBIDDEN, str(r))
nogroup.close()

# ---- claim, conflicts, invalid output, completion ----
r = g.call("manual.claim", {"id": t1})
checks.check("a group member claims the group task",
             r.get("result", {}).get("claimed_by") == "#%d" % OP_G, str(r))
r = a.call("manual.claim", {"id": t1})
checks.check("another operator's claim is refused (-32002) naming the holder",
             code(r) == CONFLICT and "#%d" % OP_G in r["error"]["message"], str(r))
r = a.call("manual.complete", {"id": t1, "output": {"approved": True}})
checks.check("an operator cannot complete a task another operator claimed (-32002)",
             code(r) == CONFLICT, str(r))
r = a.call("manual.unclaim", {"id": t1})
checks.check("... nor unclaim it (-32003)", code(r) == FORBIDDEN, str(r))
r = g.call("manual.complete", {"id": t1, "output": {"approved": "yes", "comment": "x" * 30}})
errs = r.get("error", {}).get("data", {}).get("errors", [])
paths = sorted(e.get("instance_path") for e in errs)
checks.check("completion with invalid output is refused (-32004), field by field",
             code(r) == INVALID and paths == ["/approved", "/comment"], str(r)[:600])
checks.check("... and the task stays waiting, claimed by the same operator",
             root.call("task.get", {"id": t1})["state"] == "waiting" and
             manual(t1)["claimed_by"] == "#%d" % OP_G)
r = g.call("manual.get", {"id": t1})
checks.check("manual.get shows the form and the audit trail",
             r.get("result", {}).get("form", {}).get("required") == ["approved"] and
             [e["action"] for e in r["result"]["audit"]] == ["assigned", "claim"], str(r)[:600])
r = g.call("manual.complete", {"id": t1, "output": {"approved": True, "comment": "fine"}})
checks.check("the claimer completes it with valid output",
             r.get("result") == {"id": t1, "state": "succeeded"}, str(r))
rec = root.call("task.get", {"id": t1})
trail = rec["manual"]["audit"]
checks.check("the output is stored and the trail says who did what, when",
             rec["output"] == {"approved": True, "comment": "fine"} and
             [(e["action"], e["by"]) for e in trail][1:] ==
             [("claim", "#%d" % OP_G), ("complete", "#%d" % OP_G)] and all("at" in e for e in trail),
             json.dumps(trail))

# ---- assignee from the input; reject; reassign ----
t2 = root.call("task.submit", {"type": "mine", "input": {"owner": "#%d" % OP_B}})["id"]
root.wait_state(t2, "waiting")
b = as_user(OP_B)
checks.check("an assignee taken from the input sees the task; other candidates do not",
             t2 in ids(b.call("manual.list", {})) and t2 not in ids(a.call("manual.list", {})))
r = a.call("manual.reassign", {"id": t2, "assignee": "#%d" % OP_A})
checks.check("an operator cannot reassign (-32003)", code(r) == FORBIDDEN, str(r))
adm = as_user(ADMIN)
r = adm.call("manual.reassign", {"id": t2, "assignee": "#%d" % OP_A})
checks.check("an admin reassigns", r.get("result", {}).get("assignee") == "#%d" % OP_A, str(r))
checks.check("... and now the new assignee sees it, the old one does not",
             t2 in ids(a.call("manual.list", {})) and t2 not in ids(b.call("manual.list", {})))
r = a.call("manual.reject", {"id": t2, "reason": "wrong amount"})
rec = root.call("task.get", {"id": t2})
checks.check("a reject fails the task with code rejected and the reason, not retried",
             r.get("result", {}).get("state") == "failed" and rec["error"]["code"] == "rejected" and
             "wrong amount" in rec["error"]["message"] and len(rec["attempts"]) == 1, str(rec)[:500])

# ---- claim timeout ----
t3 = root.call("task.submit", {"type": "quick_claim", "input": {}})["id"]
root.wait_state(t3, "waiting")
a.call("manual.claim", {"id": t3})
deadline = time.monotonic() + 10
while time.monotonic() < deadline and manual(t3).get("claimed_by"):
    time.sleep(0.1)
checks.check("a claim not completed within claim_timeout_s is released",
             manual(t3).get("claimed_by") is None and
             manual(t3)["audit"][-1]["action"] == "claim_expired", str(manual(t3))[:400])

# ---- due time: fail ----
t4 = root.call("task.submit", {"type": "deadline", "input": {}})["id"]
st = root.wait_state(t4, ["failed"], timeout=15)
rec = root.call("task.get", {"id": t4})
checks.check("escalation 'fail' fails the task at its due time with the configured code",
             rec["state"] == "failed" and rec["error"]["code"] == "too_late", str(rec)[:400])

# ---- due time across a restart: reassign to a group, with notifications ----
T0 = time.monotonic()
t5 = root.call("task.submit", {"type": "urgent", "input": {"x": 1}})["id"]
root.wait_state(t5, "waiting")
t6 = root.call("task.submit", {"type": "approve", "input": {"invoice": 18}})["id"]
root.wait_state(t6, "waiting")
a.call("manual.claim", {"id": t6})
n = rx.wait_for(lambda n: n["event"] == "assigned" and n["task"]["id"] == t5)
checks.check("an 'assigned' notification reached the receiver (after one refused delivery: "
             "the notify task was retried)", n is not None and rx.refused == 1 and
             n["task"]["candidate_users"] == ["#%d" % OP_A], str(rx.got)[:400])
print("# notified after %.2f s" % (time.monotonic() - T0))
for c in (a, g, other, b, adm):
    c.close()
root.close()
teld.kill(9)  # mid-wait: the due timer and the claim must survive
teld = track(Teld(tmp, config("4.0"), daemon='socket = "api.sock"; socket_mode = "0666";'))
teld.socket = os.path.join(tmp, "api.sock")
teld.start()
root = teld.client()
r5, m6 = root.call("task.get", {"id": t5}), manual(t6)
checks.check("after a crash the waiting tasks still wait, not yet escalated; the claim is "
             "still held", r5["state"] == "waiting" and r5["manual"]["escalated"] is False and
             m6["claimed_by"] == "#%d" % OP_A, "%s %s" % (json.dumps(r5["manual"])[:600], m6))
a = as_user(OP_A)
r = a.call("manual.complete", {"id": t6, "output": {"approved": False}})
checks.check("... and the claimer completes it after the restart",
             r.get("result", {}).get("state") == "succeeded", str(r))
deadline = time.monotonic() + 15
while time.monotonic() < deadline and not manual(t5).get("escalated"):
    time.sleep(0.1)
m5 = manual(t5)
checks.check("the due time fired after the restart: reassigned to the leads group",
             m5.get("escalated") is True and m5["candidate_groups"] == ["#%d" % G_LEADS] and
             m5["candidate_users"] == [], str(m5)[:400])
lead = as_user(LEAD, [G_LEADS])
checks.check("... a leads member now sees it, the original candidate does not",
             t5 in ids(lead.call("manual.list", {})) and t5 not in ids(a.call("manual.list", {})))
text = root.call("metrics.get")["text"]
checks.check("the escalation is counted in the metrics",
             'tel_manual_escalations_total{type="urgent",action="reassign"} 1' in text,
             "\n".join(l for l in text.splitlines() if "manual" in l))
n = rx.wait_for(lambda n: n["event"] == "escalated" and n["task"]["id"] == t5)
checks.check("an 'escalated' notification was delivered", n is not None, str(rx.got)[:400])
lead.close()

# ---- reconciliation: a non-idempotent attempt cut off by a crash ----
t7 = root.call("task.submit", {"type": "charge", "input": {"card": 4242}})["id"]
root.wait_state(t7, "running")
deadline = time.monotonic() + 10
evdir = os.path.join(tmp, "state", "evidence")
while time.monotonic() < deadline:
    files = [f for f in os.listdir(evdir) if f.startswith(t7)] if os.path.isdir(evdir) else []
    if any(os.path.getsize(os.path.join(evdir, f)) > 0 for f in files if f.endswith("stdout")):
        break
    time.sleep(0.05)
a.close()
root.close()
teld.kill(9)
teld = track(Teld(tmp, config("4.0"), daemon='socket = "api.sock"; socket_mode = "0666";'))
teld.socket = os.path.join(tmp, "api.sock")
teld.start()
root = teld.client()
rec = root.call("task.get", {"id": t7})
checks.check("a crash-cut attempt of a non-idempotent type is not retried: it waits for a "
             "decision", rec["state"] == "waiting" and rec["manual"]["kind"] == "reconcile" and
             len(rec["attempts"]) == 1 and rec["attempts"][0]["outcome"] == "interrupted",
             json.dumps(rec)[:600])
op = as_user(OP_OTHER)  # any operator decides a reconciliation
r = op.call("manual.get", {"id": t7})
ev = r.get("result", {}).get("evidence", {})
checks.check("operators see the evidence: the attempt's stdout and stderr, its timestamps",
             "charged card 4242" in ev.get("stdout_tail", "") and
             "about to confirm" in ev.get("stderr_tail", "") and
             "started_at" in ev.get("attempt", {}) and "interrupted_at" in ev, str(r)[:600])
checks.check("the evidence files are gone from the state dir once taken",
             not [f for f in os.listdir(evdir) if f.startswith(t7)])
r = op.call("manual.complete", {"id": t7, "output": {"charged": True}})
rec = root.call("task.get", {"id": t7})
checks.check("an operator marks it succeeded with an output",
             r.get("result", {}).get("state") == "succeeded" and rec["output"] == {"charged": True},
             str(r))
op.close()

# ---- metrics (this process: since the last restart) ----
text = root.call("metrics.get")["text"]
checks.check("reconciliations and actions are counted in the metrics",
             'tel_manual_actions_total{type="charge",action="reconcile"} 1' in text and
             'tel_manual_actions_total{type="charge",action="complete"} 1' in text,
             "\n".join(l for l in text.splitlines() if "manual" in l))

# ---- bad input ----
u = as_user(OP_A)
bad = [code(u.call("manual.claim", {"id": "not-a-uuid"})),
       code(u.call("manual.claim", {})),
       code(u.call("manual.complete", {"id": t1})),
       code(u.call("manual.claim", {"id": t1})),
       code(u.call("manual.list", {"limit": "x"})),
       code(u.call("manual.reject", {"id": t1}))]
r = u.call("manual.list", {"all": True})
checks.check("manual.list all=true is for admins (-32003)", code(r) == FORBIDDEN, str(r))
u.close()
adm = as_user(ADMIN)
t8 = root.call("task.submit", {"type": "approve", "input": {"invoice": 19}})["id"]
root.wait_state(t8, "waiting")
bad_reassign = [code(adm.call("manual.reassign", {"id": t8})),
                code(adm.call("manual.reassign", {"id": t8, "assignee": "a", "group": "g"})),
                code(adm.call("manual.reassign", {"id": t8, "assignee": "a,b"})),
                code(adm.call("manual.reassign", {"id": t8, "group": "x\ny"})),
                code(adm.call("manual.list", {"all": "yes"}))]
checks.check("bad reassignments are refused (-32602): neither, both, a name with a comma or "
             "a newline; all must be a boolean",
             bad_reassign == [-32602] * 5, str(bad_reassign))
checks.check("... and the task's assignment is unchanged",
             manual(t8)["candidate_groups"] == ["#%d" % G_OPS] and manual(t8)["assignee"] is None)
adm.close()
checks.check("bad params get clear errors: bad id, missing id, missing output, finished task, "
             "bad limit, missing reason", bad == [-32602, -32602, -32602, CONFLICT, -32602, -32602],
             str(bad))

root.close()
rx.stop = True
rc = teld.stop()
checks.check("teld stops cleanly", rc == 0, str(rc))
shutil.rmtree(tmp, ignore_errors=True)
checks.finish()
