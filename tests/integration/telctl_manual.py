#!/usr/bin/env python3
"""telctl's manual commands against a real teld (the manual executor hands tasks to people,
assigned from the task's input; its form is checked by the jsonschema plugin):

  - manual ls: teld's order (overdue first), only what the caller may act on, the table on a
    terminal with relative due times and overdue ones in red;
  - claim (and a claim held by someone else refused), unclaim, reassign (admins; exactly one
    of --assignee/--group), reject, show (the form's fields);
  - complete --output: a valid output succeeds; one the form refuses prints each problem as
    "  /path: message" and exits 4, the task goes on waiting;
  - complete on a terminal (driven through a pseudo-terminal): each field asked with its
    type, choices and default; a wrong answer asked again with the reason; the default
    taken; the output shown and confirmed; 'n' and Ctrl-D complete nothing (exit 1);
  - complete without --output and without a terminal: a usage error (exit 2);
  - a reconcile task (a non-idempotent attempt cut off by a crash): marked in ls, its
    evidence in show, run again with retry.
The checks as another operator need root (the child drops to that uid); without root only
the caller's own view (teld's own user is admin) is checked."""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from apitest_util import track  # noqa: E402
from telrpc import Checks, Teld, testexec_path  # noqa: E402

TELCTL = os.path.join(os.environ["top_builddir"], "core", "telctl")
JS = os.path.join(os.environ["top_builddir"], "plugins", "jsonschema", ".libs", "jsonschema.so")
MANUAL = os.path.join(os.environ["top_builddir"], "plugins", "manual", ".libs", "manual.so")
OPERATOR, OTHER = 61010, 61011   # uids that exist only in the config
AS_ROOT = os.geteuid() == 0

checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-telctl-manual-")
os.chmod(tmp, 0o755)  # the socket lives here; the operators must reach it
FORM = {"type": "object", "required": ["decision", "amount"], "additionalProperties": False,
        "properties": {
            "decision": {"type": "string", "enum": ["approve", "reject"],
                         "description": "Approve or reject the refund"},
            "amount": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            "note": {"type": "string", "maxLength": 200}}}
with open(os.path.join(tmp, "form.json"), "w") as f:
    json.dump(FORM, f)
config = """
roles = { operator = { users = ["%d", "%d"]; }; };
plugins = ( { name = "manual"; path = "%s"; }, { name = "jsonschema"; path = "%s"; },
            { name = "t"; path = "%s"; } );
task_types = (
  { name = "charge"; executor = "t"; idempotent = false; },
  { name = "refund"; executor = "manual";
    config = { candidate_users = ( { pointer = "/users"; } ); due = { pointer = "/due"; };
               form = "form.json"; }; },
  { name = "refund-for"; executor = "manual";
    config = { assignee = { pointer = "/assignee"; }; form = "form.json"; }; }
);
""" % (OPERATOR, OTHER, MANUAL, JS, testexec_path())
teld = track(Teld(tmp, config, daemon='socket = "api.sock"; socket_mode = "0666";'))
teld.socket = os.path.join(tmp, "api.sock")
teld.start()
c = teld.client()


def become(uid):
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def env_for(color=False):
    env = dict(os.environ, TEL_SOCKET=teld.socket)
    env.pop("NO_COLOR", None)
    if not color:
        env["NO_COLOR"] = "1"
    return env


def tc(*args, uid=None):
    """telctl with stdout and stdin not terminals: (exit status, stdout, stderr)."""
    p = subprocess.run([TELCTL, *args], env=env_for(), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30,
                       preexec_fn=(lambda: become(uid)) if uid else None)
    return p.returncode, p.stdout, p.stderr


class Term:
    """telctl on a pseudo-terminal: expect what it writes, type answers."""

    def __init__(self, *args, uid=None, color=False):
        env = env_for(color)
        pid, fd = pty.fork()
        if pid == 0:
            try:
                if uid:
                    become(uid)
                os.execve(TELCTL, [TELCTL, *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd, self.raw, self.pos, self.eof = pid, fd, b"", 0, False

    @property
    def text(self):
        return self.raw.replace(b"\r\n", b"\n").decode(errors="replace")

    def _read(self, until):
        left = until - time.monotonic()
        if self.eof or left <= 0 or not select.select([self.fd], [], [], left)[0]:
            return
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            self.eof = True
        self.raw += chunk

    def expect(self, what, timeout=10.0):
        """True once `what` shows after the last thing expected."""
        until = time.monotonic() + timeout
        while True:
            i = self.text.find(what, self.pos)
            if i >= 0:
                self.pos = i + len(what)
                return True
            if self.eof or time.monotonic() >= until:
                return False
            self._read(until)

    def expect_re(self, pattern, timeout=10.0):
        """The match of `pattern` after the last thing expected, or None."""
        until = time.monotonic() + timeout
        while True:
            m = re.compile(pattern).search(self.text, self.pos)
            if m:
                self.pos = m.end()
                return m
            if self.eof or time.monotonic() >= until:
                return None
            self._read(until)

    def send(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def send_eof(self):
        os.write(self.fd, b"\x04")

    def finish(self, timeout=20.0):
        """The exit status, after reading everything."""
        until = time.monotonic() + timeout
        while not self.eof and time.monotonic() < until:
            self._read(until)
        for _ in range(int(timeout * 20)):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        return "timeout"


def submit(type_, input_, priority=None):
    params = {"type": type_, "input": input_}
    if priority is not None:
        params["priority"] = priority
    tid = c.call("task.submit", params)["id"]
    c.wait_state(tid, "waiting")
    return tid


now_s = int(time.time())
both = ["#%d" % OPERATOR, "#%d" % OTHER]
SOON = submit("refund", {"users": both, "due": now_s + 3600}, priority=1)
LATE = submit("refund", {"users": both, "due": now_s - 2 * 3600 - 5})
ELSEWHERE = submit("refund-for", {"assignee": "#61099"}, priority=9)

# ---- manual ls ----
rc, out, err = tc("--json", "manual", "ls")
ids = [t["id"] for t in json.loads(out)["tasks"]] if rc == 0 else []
checks.check("manual ls --json: teld's result, overdue first, then the soonest due",
             ids == [LATE, SOON, ELSEWHERE], "%d %s %s" % (rc, ids, err))
t = Term("manual", "ls", color=True)
t.finish()
plain = re.sub("\033\\[[0-9;]*m", "", t.text)
checks.check("manual ls on a terminal: the table's header",
             re.search(r"ID +TYPE +PRIORITY +DUE +ASSIGNED +CLAIMED", plain) is not None, t.text)
checks.check("an overdue task's due time is relative and red",
             "\033[31moverdue 2h\033[0m" in t.text, repr(t.text))
checks.check("a due time to come is relative", re.search(r"in (59m|1h)", t.text) is not None,
             t.text)
checks.check("the assignment: the assignee, or the candidates",
             "#61099" in plain and "#%d,#%d" % (OPERATOR, OTHER) in plain, t.text)
rc, out, err = tc("manual", "ls")
checks.check("manual ls not on a terminal: JSON", rc == 0 and "tasks" in json.loads(out), out + err)

if AS_ROOT:
    rc, out, err = tc("--json", "manual", "ls", uid=OPERATOR)
    ids = [x["id"] for x in json.loads(out)["tasks"]] if rc == 0 else []
    checks.check("an operator lists only what it may act on", ids == [LATE, SOON],
                 "%d %s %s" % (rc, ids, err))

# ---- claim, unclaim ----
who = "#%d" % OPERATOR if AS_ROOT else None
rc, out, err = tc("--json", "manual", "claim", SOON, uid=OPERATOR if AS_ROOT else None)
claimed = json.loads(out).get("claimed_by") if rc == 0 else None
checks.check("manual claim: the item, claimed by the caller",
             rc == 0 and claimed and (who is None or claimed == who), "%d %s %s" % (rc, out, err))
if AS_ROOT:
    rc, out, err = tc("manual", "claim", SOON, uid=OTHER)
    checks.check("a claim held by someone else: exit 4 with teld's conflict",
                 rc == 4 and "-32002" in err, "%d %s" % (rc, err))
    rc, out, err = tc("manual", "reassign", SOON, "--group", "ops", uid=OPERATOR)
    checks.check("reassign is for admins: exit 4", rc == 4 and "-32003" in err, "%d %s" % (rc, err))
rc, out, err = tc("--json", "manual", "claim", LATE)
rc2, out2, err2 = tc("--json", "manual", "unclaim", LATE)
checks.check("manual unclaim gives the claim back",
             rc == 0 and rc2 == 0 and json.loads(out2).get("claimed_by") is None,
             "%d %d %s %s" % (rc, rc2, out2, err2))

# ---- show ----
t = Term("manual", "show", LATE)
t.finish()
checks.check("manual show: the form's fields with type, requiredness and default",
             "\nform\n" in t.text and "FIELD" in t.text and
             re.search(r"decision +one of: approve, reject +yes", t.text) is not None and
             re.search(r"amount +integer +yes +10", t.text) is not None, t.text)
checks.check("manual show: the audit trail", "\naudit\n" in t.text and "claim" in t.text, t.text)
rc, out, err = tc("--json", "manual", "show", LATE)
checks.check("manual show --json: manual.get's result with the form",
             rc == 0 and json.loads(out).get("form") == FORM, "%d %s" % (rc, err))

# ---- complete on a terminal ----
# Each field is answered by its name, whatever order it comes in; the order is checked once.
FIELD = re.compile(r"\[(\d+)/(\d+)\] (\w+) \(([^\n]*)\)\n")


def fill(t, answer):
    """Answer each field asked with answer(t, name, header); the names in the order asked."""
    asked = []
    while True:
        m = t.expect_re(FIELD)
        if not m:
            return asked
        asked.append(m.group(3))
        answer(t, m.group(3), m.group(4))
        if m.group(1) == m.group(2):
            return asked


seen = {}


def answer_soon(t, name, header):
    if name == "decision":
        seen["decision"] = header == "one of: approve, reject, required" and \
            t.expect("Approve or reject the refund") and t.expect("decision: ")
        t.send("maybe")
        seen["choice"] = t.expect("invalid: expected one of: approve, reject") and \
            t.expect("decision: ")
        t.send("approve")
    elif name == "amount":
        seen["amount"] = header == "integer, required" and t.expect("at least 1, at most 100") \
            and t.expect("amount [10]: ")
        t.send("abc")
        seen["type"] = t.expect('invalid: expected an integer, got "abc"') and \
            t.expect("amount [10]: ")
        t.send("500")
        seen["bound"] = t.expect("invalid: must be at most 100") and t.expect("amount [10]: ")
        t.send("")
    else:
        seen["optional"] = t.expect("%s (empty: leave out): " % name)
        t.send("")


t = Term("manual", "complete", SOON, uid=OPERATOR if AS_ROOT else None)
asked = fill(t, answer_soon)
checks.check("each field is asked with its type, choices, description and default",
             seen.get("decision") and seen.get("amount") and seen.get("optional"), t.text)
checks.check("a wrong choice, a wrong type and a number out of bounds are asked again, "
             "with the reason", seen.get("choice") and seen.get("type") and seen.get("bound"),
             t.text)
checks.check("the fields are asked in the form's order (teld must keep its key order)",
             asked == ["decision", "amount", "note"], str(asked))
ok = t.expect('"decision": "approve"') and t.expect("Complete task %s with this output? [y/N] "
                                                   % SOON)
checks.check("the default is taken, an optional field left out, the output shown",
             ok and '"amount": 10' in t.text and '"note"' not in t.text, t.text)
t.send("y")
ok = t.expect("%s: succeeded" % SOON)
rc = t.finish()
task = c.call("task.get", {"id": SOON})
checks.check("confirmed: the task succeeds with that output",
             ok and rc == 0 and task["state"] == "succeeded" and
             task.get("output") == {"decision": "approve", "amount": 10},
             "%s %s %s" % (rc, task["state"], t.text))


def answer_late(t, name, header):
    t.expect(": ")
    t.send({"decision": "reject", "amount": "3"}.get(name, "too small"))


t = Term("manual", "complete", LATE)
fill(t, answer_late)
t.expect("[y/N] ")
t.send("n")
rc = t.finish()
checks.check("not confirmed: exit 1, nothing completed",
             rc == 1 and "not completed" in t.text and
             c.call("task.get", {"id": LATE})["state"] == "waiting", "%s %s" % (rc, t.text))
t = Term("manual", "complete", LATE)
t.expect_re(FIELD)
t.expect(": ")
t.send_eof()
rc = t.finish()
checks.check("Ctrl-D at a question: exit 1, nothing completed",
             rc == 1 and c.call("task.get", {"id": LATE})["state"] == "waiting",
             "%s %s" % (rc, t.text))

# ---- complete --output ----
rc, out, err = tc("manual", "complete", LATE)
checks.check("complete without --output and without a terminal: exit 2, asking for --output",
             rc == 2 and "--output" in err, "%d %s" % (rc, err))
rc, out, err = tc("manual", "complete", LATE, "--output", '{"decision": "approve", "amount": 500}')
checks.check("an output the form refuses: exit 4, each problem as '  /path: message'",
             rc == 4 and "-32004" in err and re.search(r"^  /amount: ", err, re.M) is not None,
             "%d %s" % (rc, err))
checks.check("and the task goes on waiting", c.call("task.get", {"id": LATE})["state"] == "waiting")
with open(os.path.join(tmp, "out.json"), "w") as f:
    json.dump({"decision": "reject", "amount": 1}, f)
rc, out, err = tc("--json", "manual", "complete", LATE, "--output",
                  "@" + os.path.join(tmp, "out.json"))
checks.check("complete --output @FILE succeeds",
             rc == 0 and json.loads(out).get("state") == "succeeded", "%d %s %s" % (rc, out, err))

# ---- reassign, retry, reject ----
rc, out, err = tc("manual", "reassign", ELSEWHERE, "--assignee", "bob", "--group", "ops")
checks.check("reassign with both --assignee and --group: exit 2",
             rc == 2 and "not both" in err, err)
rc, out, err = tc("manual", "reassign", ELSEWHERE)
checks.check("reassign with neither: exit 2", rc == 2, err)
rc, out, err = tc("--json", "manual", "reassign", ELSEWHERE, "--assignee", "#%d" % OPERATOR)
checks.check("reassign --assignee: the item, assigned",
             rc == 0 and json.loads(out).get("assignee") == "#%d" % OPERATOR, "%d %s" % (rc, err))
if AS_ROOT:
    rc, out, err = tc("--json", "manual", "ls", uid=OPERATOR)
    checks.check("the new assignee sees it",
                 rc == 0 and [x["id"] for x in json.loads(out)["tasks"]] == [ELSEWHERE], out + err)
rc, out, err = tc("manual", "retry", ELSEWHERE)
checks.check("retry is for reconcile tasks: teld refuses, exit 4", rc == 4, "%d %s" % (rc, err))
rc, out, err = tc("manual", "reject", ELSEWHERE)
checks.check("reject without --reason: exit 2", rc == 2 and "--reason is required" in err, err)
rc, out, err = tc("--json", "manual", "reject", ELSEWHERE, "--reason", "not ours")
task = c.call("task.get", {"id": ELSEWHERE})
checks.check("manual reject: the task fails with the code rejected",
             rc == 0 and task["state"] == "failed" and
             task.get("error", {}).get("code") == "rejected",
             "%d %s %s" % (rc, err, task.get("error")))

t = Term("manual", "ls")
t.expect("no manual tasks")
checks.check("manual ls with nothing left: says so",
             t.finish() == 0 and "no manual tasks" in t.text, t.text)

# ---- reconcile: an attempt of a non-idempotent type cut off by a crash ----
c.close()
try:
    teld.client().call("task.submit", {"type": "charge", "input": {"crash_times": 1}})
except (ConnectionError, OSError):
    pass  # teld may go down before the reply is read
rc = teld.proc.wait(timeout=20)
teld.logf.close()
teld.start()
c = teld.client()
rc, out, err = tc("--json", "manual", "ls")
items = json.loads(out)["tasks"] if rc == 0 else []
CHARGE = items[0]["id"] if len(items) == 1 else None
checks.check("after the crash the cut-off attempt waits for people (kind reconcile)",
             CHARGE and items[0]["kind"] == "reconcile", out + err)
t = Term("manual", "ls")
t.finish()
checks.check("manual ls marks it (reconcile)", "charge (reconcile)" in t.text, t.text)
t = Term("manual", "show", CHARGE or "x")
t.finish()
checks.check("manual show: reconcile, and the evidence of the interrupted attempt",
             "reconcile: an attempt was cut off" in t.text and "evidence" in t.text and
             "interrupted_at" in t.text, t.text)
rc, out, err = tc("manual", "retry", CHARGE or "x")
checks.check("manual retry runs it again", rc == 0 and "pending" in out, "%d %s %s" % (rc, out, err))
checks.check("and it succeeds", CHARGE and c.wait_state(CHARGE, ["succeeded", "failed"])["state"]
             == "succeeded")

teld.stop()
shutil.rmtree(tmp, ignore_errors=True)
checks.finish()
