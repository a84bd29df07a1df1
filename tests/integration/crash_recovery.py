#!/usr/bin/env python3
"""Crash recovery: SIGKILL teld in the middle of a load of hundreds of tasks (some slow,
some failing, some retrying), restart it, and check that every acknowledged task exists and
reaches a terminal state with consecutive attempt numbers, and that no acknowledged
submission was lost or duplicated.  Then the poison-task protection."""
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from telrpc import Checks, RpcError, Teld, testexec_path  # noqa: E402

N = 400
checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-crash-")
config = """
plugins = ( { name = "t"; path = "%s"; } );
task_types = (
  { name = "work"; executor = "t";
    retry = { max_attempts = 6; initial_interval_s = 0.05; multiplier = 1.5; jitter = 0.1; };
    timeouts = { run_s = 5.0; }; }
);
""" % testexec_path()


def task_input(i):
    """The same input for the same i, on every call (resubmits must match)."""
    rnd = random.Random(i)
    kind = i % 5
    if kind == 0:
        return {"i": i, "sleep_ms": rnd.randint(50, 400)}             # slow
    if kind == 1:
        return {"i": i, "fail_times": rnd.randint(1, 3)}              # retrying, then ok
    if kind == 2:
        return {"i": i, "fatal": True}                                # fails for good
    if kind == 3:
        return {"i": i, "fail_times": 10}                             # runs out of attempts
    return {"i": i}                                                   # quick


teld = Teld(tmp, config, daemon="workers = 4;").start()
acked = {}        # key -> id, for every submit teld acknowledged
lock = threading.Lock()


def submitter(keys):
    try:
        c = teld.client(timeout=5)
        for k in keys:
            i = int(k[1:])
            r = c.call("task.submit", {"type": "work", "input": task_input(i),
                                       "idempotency_key": k})
            with lock:
                acked[k] = r["id"]
    except (ConnectionError, OSError, RpcError):
        pass  # teld was killed under us: the rest is unacknowledged


keys = ["k%d" % i for i in range(N)]
threads = [threading.Thread(target=submitter, args=(keys[j::4],)) for j in range(4)]
for t in threads:
    t.start()
# kill while submissions and attempts are in flight
deadline = time.monotonic() + 20
while len(acked) < N // 2 and time.monotonic() < deadline:
    time.sleep(0.005)
rc = teld.kill(9)
for t in threads:
    t.join(10)
n_acked_before = len(acked)
checks.check("teld was killed with SIGKILL mid-load (%d of %d acknowledged)" % (n_acked_before, N),
             rc == -9 and 0 < n_acked_before < N)

teld.start()
teld.wait_log('msg="recovered tasks"')
c = teld.client(timeout=10)
# Resubmit everything with the same keys: exactly-once per key, whatever was acked.
ids = {}
dups = 0
for k in keys:
    r = c.call("task.submit", {"type": "work", "input": task_input(int(k[1:])),
                               "idempotency_key": k})
    ids[k] = r["id"]
    dups += r["duplicate"]
lost = [k for k, i in acked.items() if ids[k] != i]
checks.check("no acknowledged submission was lost: the same key finds the same task",
             not lost, "lost: %s" % lost[:5])
checks.check("every acknowledged key came back as a duplicate", dups >= n_acked_before,
             "duplicates %d, acked %d" % (dups, n_acked_before))

final = {}
deadline = time.monotonic() + 60
for k, task_id in ids.items():
    t = c.wait_state(task_id, ["succeeded", "failed", "cancelled", "timed_out"],
                     timeout=max(1, deadline - time.monotonic()))
    final[k] = t
checks.check("all %d tasks reached a terminal state" % N, len(final) == N)

bad_numbers = [k for k, t in final.items()
               if [a["n"] for a in t["attempts"]] != list(range(1, len(t["attempts"]) + 1))]
checks.check("attempt numbers are consecutive from 1", not bad_numbers, str(bad_numbers[:5]))

interrupted = sum(1 for t in final.values() for a in t["attempts"] if a.get("outcome") == "interrupted")
checks.check("attempts cut off by the crash are recorded as interrupted (%d)" % interrupted,
             interrupted > 0)
open_attempts = [k for k, t in final.items() if any("finished_at" not in a for a in t["attempts"])]
checks.check("no attempt is left open", not open_attempts, str(open_attempts[:5]))


def expected_state(i):
    return {0: "succeeded", 1: "succeeded", 2: "failed", 3: "failed", 4: "succeeded"}[i % 5]


wrong = [k for k, t in final.items() if t["state"] != expected_state(int(k[1:]))]
checks.check("each task ended as its script says", not wrong,
             "; ".join("%s=%s" % (k, final[k]["state"]) for k in wrong[:5]))

# no duplicates: the store holds exactly N tasks
listed, after = [], None
while True:
    p = {"limit": 1000}
    if after:
        p["after"] = after
    r = c.call("task.list", p)
    listed += r["tasks"]
    after = r.get("next")
    if not after:
        break
checks.check("the store holds exactly %d tasks (no duplicates)" % N, len(listed) == N,
             "found %d" % len(listed))
c.close()
checks.check("teld stops cleanly (exit 0: no sanitizer report)", teld.stop() == 0)

# Poison-task protection: a task that crashes the host every time fails with host_crash
# after daemon.max_interruptions restarts instead of crash-looping.
tmp2 = tempfile.mkdtemp(prefix="tel-poison-")
teld = Teld(tmp2, config, daemon="max_interruptions = 2;").start()
c = teld.client()
try:
    c.call("task.submit", {"type": "work", "input": {"crash": True}, "idempotency_key": "poison"})
except (ConnectionError, OSError):
    pass  # it may take teld down before the reply is read; the key finds it later
c.close()
crashes = 0
for _ in range(5):
    code = teld.proc.wait(timeout=20)
    if code != -6:  # SIGABRT from the executor
        break
    crashes += 1
    teld.logf.close()
    teld.start()
    time.sleep(0.3)
    if teld.proc.poll() is None:
        break
checks.check("the poison task crashed teld %d times, then stopped doing so" % crashes, crashes == 2)
c = teld.client()
poison = c.call("task.submit", {"type": "work", "input": {"crash": True},
                                "idempotency_key": "poison"})["id"]
t = c.wait_state(poison, ["failed"], timeout=10)
checks.check("it failed with code host_crash", t["error"]["code"] == "host_crash", str(t.get("error")))
checks.check("with both attempts recorded as interrupted",
             [a["outcome"] for a in t["attempts"]] == ["interrupted", "interrupted"],
             str(t["attempts"]))
c.close()
checks.check("teld stops cleanly after the poison task", teld.stop() == 0)
if not checks.failed:
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(tmp2, ignore_errors=True)
checks.finish()
