#!/usr/bin/env python3
"""events.subscribe at the daemon level, against a real teld.

  - a subscriber gets every state change of every task, in order, with consecutive sequence
    numbers, and the kinds and states each task's script implies;
  - a client that subscribes again with since=N gets every event after N exactly once, also
    across a daemon restart (SIGTERM, start again) with tasks that change state meanwhile;
  - a subscriber that does not read gets events.overflow {resume_since} and is disconnected,
    while teld and the other clients (a reading subscriber, a caller) are unaffected; resuming
    from resume_since loses and repeats nothing;
  - 1,000 idle subscribers: each gets the events of a new task; teld's RSS growth is bounded."""
import json
import os
import selectors
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from apitest_util import (raise_nofile, raw_connect, read_line, request_line,  # noqa: E402
                          rss_kb, sanitized, track)
from telrpc import Checks, Teld, testexec_path  # noqa: E402

checks = Checks()
raise_nofile(4096)
tmp = tempfile.mkdtemp(prefix="tel-api-events-")
config = """
plugins = ( { name = "t"; path = "%s"; } );
task_types = (
  { name = "work"; executor = "t";
    retry = { max_attempts = 3; initial_interval_s = 0.05; multiplier = 1.0; jitter = 0.0; }; }
);
""" % testexec_path()
teld = track(Teld(tmp, config, daemon="workers = 4;")).start()
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")


class Sub:
    """A subscriber on its own connection."""

    def __init__(self, since=None, timeout=10.0):
        self.c = teld.client(timeout)
        r = self.c.call("events.subscribe", {} if since is None else {"since": since})
        self.seq, self.oldest = r["seq"], r["oldest"]
        self.events = [m["params"] for m in self.c.notifications if m["method"] == "event"]
        self.c.notifications.clear()

    def read_until(self, pred, timeout=20.0):
        """Read notifications until pred(events) holds; returns whether it did."""
        deadline = time.monotonic() + timeout
        while not pred(self.events):
            if time.monotonic() > deadline:
                return False
            self.c.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                m = self.c.read_message()
            except (TimeoutError, OSError):
                return pred(self.events)
            if m.get("method") == "event":
                self.events.append(m["params"])
            else:
                self.c.notifications.append(m)
        return True

    def up_to(self, seq, timeout=20.0):
        return self.read_until(lambda ev: ev and ev[-1]["seq"] >= seq, timeout)

    def close(self):
        self.c.close()


def last_seq(c):
    return c.call("server.status")["store"]["last_seq"]


def consecutive(events, first=None):
    seqs = [e["seq"] for e in events]
    start = seqs[0] if first is None else first
    return seqs == list(range(start, start + len(seqs)))


def task_kinds(events, task_id, late=False):
    """A task's (kind, state, attempt) list; "late" events (a result or call for an attempt
    that is no longer current, recorded and ignored) only when asked for."""
    return [(e["kind"], e.get("state"), e.get("attempt")) for e in events
            if e.get("task_id") == task_id and (late or e["kind"] != "late")]


c = teld.client()
live = Sub()
checks.check("events.subscribe answers {seq, oldest} (an empty store: 0, 0)",
             (live.seq, live.oldest) == (0, 0), "%s %s" % (live.seq, live.oldest))

# ---- every state change, in order ----
scripts = {
    "ok": {"n": 1},
    "retry": {"fail_times": 1},
    "fatal": {"fatal": True},
    "exhausted": {"fail_times": 5},
    "defer": {"defer": True},
    "cancel": {"block": True},
}
ids = {k: c.call("task.submit", {"type": "work", "input": v})["id"] for k, v in scripts.items()}
c.wait_state(ids["defer"], "waiting")
c.wait_state(ids["cancel"], "running")
c.call("task.complete", {"id": ids["defer"], "attempt": 1, "output": {"by": "test"}})
c.call("task.cancel", {"id": ids["cancel"], "reason": "test"})
final = {k: c.wait_state(i, TERMINAL) for k, i in ids.items()}
# the cancelled attempt's executor returns after the cancel: its result is recorded as late
live.read_until(lambda ev: any(e["kind"] == "late" for e in ev), 10)
end = last_seq(c)
got_all = live.up_to(end)
checks.check("the live subscriber got every event up to seq %d" % end, got_all,
             "last %s" % (live.events[-1:] if live.events else None))
checks.check("... with consecutive sequence numbers from 1",
             consecutive(live.events, 1) and live.events[-1]["seq"] == end)
S, R, RW, P, W = "submitted", "running", "retry_wait", "pending", "waiting"
expected = {
    "ok": [(S, "pending", 0), (R, "running", 1), ("succeeded", "succeeded", 1)],
    "retry": [(S, "pending", 0), (R, "running", 1), (RW, RW, 1), (P, "pending", 1),
              (R, "running", 2), ("succeeded", "succeeded", 2)],
    "fatal": [(S, "pending", 0), (R, "running", 1), ("failed", "failed", 1)],
    "exhausted": [(S, "pending", 0), (R, "running", 1), (RW, RW, 1), (P, "pending", 1),
                  (R, "running", 2), (RW, RW, 2), (P, "pending", 2), (R, "running", 3),
                  ("failed", "failed", 3)],
    "defer": [(S, "pending", 0), (R, "running", 1), (W, W, 1), ("succeeded", "succeeded", 1)],
    "cancel": [(S, "pending", 0), (R, "running", 1), ("cancelled", "cancelled", 1)],
}
for k, want in expected.items():
    got = task_kinds(live.events, ids[k])
    checks.check("task '%s': events %s" % (k, " > ".join(x[0] for x in want)), got == want,
                 str(got))
checks.check("each state-change event names its task's type and a timestamp",
             all(e.get("type") == "work" and e.get("ts") for e in live.events
                 if e["kind"] != "late"))
late = [e for e in live.events if e["kind"] == "late"]
checks.check("the cancelled executor's result came back late: one 'late' event {what: result}",
             [(e["task_id"], e["what"], e["attempt"], e["result"]) for e in late] ==
             [(ids["cancel"], "result", 1, "failed")], str(late))
fails = [e for e in live.events if e["kind"] == "failed"]
checks.check("terminal failure events carry the error",
             fails and all(e.get("error", {}).get("code") for e in fails), str(fails)[:300])
cancels = [e for e in live.events if e["kind"] == "cancelled"]
checks.check("a cancel event carries the reason", cancels and cancels[0].get("reason") == "test",
             str(cancels))
checks.check("the final states agree with the last event of each task",
             all(task_kinds(live.events, ids[k])[-1][1] == final[k]["state"] for k in ids))

# ---- resume with since=N ----
mid = live.events[len(live.events) // 2]["seq"]
again = Sub(since=mid)
again.up_to(end)
checks.check("since=%d: every event after it exactly once, the same as the live stream" % mid,
             again.events == [e for e in live.events if e["seq"] > mid],
             "%d vs %d" % (len(again.events), len([e for e in live.events if e["seq"] > mid])))
again.close()
again = Sub(since=end)
time.sleep(0.3)
again.c.sock.settimeout(0.3)
try:
    extra = again.c.read_message()
except (TimeoutError, OSError):
    extra = None
checks.check("since = the last seq: nothing is replayed", extra is None and not again.events,
             str(extra))
again.close()
zero = Sub(since=0)
zero.up_to(end)
checks.check("since=0 replays the whole history, identical to what the live subscriber saw",
             zero.events == live.events and zero.oldest == 1)
zero.close()

# ---- across a restart ----
waiting = c.call("task.submit", {"type": "work", "input": {"defer": True, "r": 1}})["id"]
blocked = c.call("task.submit", {"type": "work", "input": {"block": True, "r": 2}})["id"]
c.wait_state(waiting, "waiting")
c.wait_state(blocked, "running")
before_restart = last_seq(c)
live.up_to(before_restart)
live.close()
c.close()
checks.check("SIGTERM: teld stops cleanly (exit 0)", teld.stop() == 0)
teld.start()
c = teld.client()
c.wait_state(blocked, "running")  # interrupted by the shutdown, then run again
c.call("task.complete", {"id": waiting, "attempt": 1, "output": 1})
c.call("task.cancel", {"id": blocked})
post = c.call("task.submit", {"type": "work", "input": {"after": "restart"}})["id"]
c.wait_state(post, "succeeded")
end2 = last_seq(c)
res = Sub(since=before_restart)
res.up_to(end2)
checks.check("after a restart, since=%d gives every later event exactly once" % before_restart,
             consecutive(res.events, before_restart + 1) and res.events[-1]["seq"] == end2,
             str([e["seq"] for e in res.events]))
got = task_kinds(res.events, blocked)
checks.check("... the running task cut off by the shutdown went back to pending, ran again "
             "and was cancelled", got == [("pending", "pending", 1), (R, "running", 2),
                                          ("cancelled", "cancelled", 2)], str(got))
checks.check("... the waiting task stayed waiting and was completed",
             task_kinds(res.events, waiting) == [("succeeded", "succeeded", 1)],
             str(task_kinds(res.events, waiting)))
res.close()
whole = Sub(since=0)
whole.up_to(end2)
checks.check("since=0 after the restart: the whole history, consecutive, nothing lost",
             consecutive(whole.events, 1) and whole.events[-1]["seq"] == end2)
whole.close()

# ---- a subscriber that does not read ----
# Enough stored events to fill the socket buffers and teld's 256 KiB per subscriber.
batch = b"".join(request_line("task.submit", {"type": "work", "input": {"i": i, "pad": "p" * 200}},
                              i + 1000) for i in range(4000))
c.sock.sendall(batch)
for i in range(4000):
    c.wait_reply(i + 1000)
deadline = time.monotonic() + 60
while c.call("server.status")["active"]["pending"] + c.call("server.status")["active"]["running"] \
        > 0 and time.monotonic() < deadline:
    time.sleep(0.1)
end3 = last_seq(c)
reader = Sub(since=end3)  # reads: must be unaffected
slow = raw_connect(teld.socket)
slow.sendall(request_line("events.subscribe", {"since": 0}, 1))
t0 = time.monotonic()
# keep teld busy meanwhile: new tasks for the reading subscriber and calls answered promptly
worst = 0.0
extra_ids = []
while time.monotonic() - t0 < 7:
    t1 = time.monotonic()
    extra_ids.append(c.call("task.submit", {"type": "work", "input": {"x": len(extra_ids)}})["id"])
    worst = max(worst, time.monotonic() - t1)
    time.sleep(0.05)
checks.check("while a subscriber does not read, calls are answered (slowest %.0f ms)"
             % (worst * 1000), worst < 1.0)
for t in extra_ids:
    c.wait_state(t, TERMINAL)
end4 = last_seq(c)
checks.check("... and the reading subscriber gets every new event",
             reader.up_to(end4) and consecutive(reader.events, end3 + 1))
reader.close()
# now read what the slow one was sent
buf, msgs = b"", []
closed = False
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    line, buf = read_line(slow, buf, max(0.1, deadline - time.monotonic()))
    if line is None:
        closed = True
        break
    msgs.append(json.loads(line))
slow.close()
events = [m["params"] for m in msgs if m.get("method") == "event"]
over = [m for m in msgs if m.get("method") == "events.overflow"]
checks.check("the slow subscriber got events.overflow after its events, then EOF",
             closed and len(over) == 1 and msgs[-1] is over[0], str(msgs[-1:])[:300])
rs = over[0]["params"].get("resume_since") if over else None
checks.check("resume_since (%s) is the seq of the last event it was sent" % rs,
             events and rs == events[-1]["seq"] and consecutive(events, 1),
             "last sent %s" % (events[-1]["seq"] if events else None))
with open(teld.log) as f:
    checks.check("the log says the subscriber was too slow", "event subscriber too slow" in f.read())
resumed = Sub(since=rs)
resumed.up_to(end4)
checks.check("resubscribing with since=resume_since gives the rest exactly once",
             consecutive(events + resumed.events, 1) and resumed.events[-1]["seq"] == end4)
resumed.close()
checks.check("teld is still up", c.call("server.status")["pid"] == teld.proc.pid)

# ---- 1,000 idle subscribers ----
pid = teld.proc.pid
rss0 = rss_kb(pid)
sel = selectors.DefaultSelector()
subs = []
for i in range(1000):
    s = raw_connect(teld.socket)
    s.sendall(request_line("events.subscribe", None, i))
    subs.append(s)
bufs = {}
for s in subs:
    line, rest = read_line(s, b"", 10)
    bufs[s] = rest
    if line is None or "result" not in json.loads(line):
        break
st = c.call("server.status")
rss1 = rss_kb(pid)
MEM = 4 if sanitized(pid) else 1  # ASan's shadow memory and quarantine inflate RSS
checks.check("1,000 idle subscribers connected (%d connections); RSS +%d KiB (< %d MiB)"
             % (st["api"]["connections"], rss1 - rss0, 16 * MEM),
             st["api"]["connections"] >= 1001 and rss1 - rss0 < 16 * 1024 * MEM)
t_new = c.call("task.submit", {"type": "work", "input": {"fanout": 1}})["id"]
c.wait_state(t_new, "succeeded")
want = 3  # submitted, running, succeeded
for s in subs:
    sel.register(s, selectors.EVENT_READ)
count = {s: bufs[s].count(b"\n") for s in subs}
deadline = time.monotonic() + 20
while any(n < want for n in count.values()) and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1):
        data = key.fileobj.recv(65536)
        count[key.fileobj] += data.count(b"\n")
checks.check("each of the 1,000 subscribers got the new task's 3 events",
             all(n == want for n in count.values()),
             "short: %d" % sum(1 for n in count.values() if n < want))
for s in subs:
    sel.unregister(s)
    s.close()
checks.check("teld still answers after they leave", c.call("server.status")["pid"] == pid)
c.close()
checks.check("teld stops cleanly (exit 0)", teld.stop() == 0)
if not checks.failed:
    shutil.rmtree(tmp, ignore_errors=True)
else:
    print("# left %s for inspection" % tmp)
checks.finish()
