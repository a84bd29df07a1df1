#!/usr/bin/env python3
"""Metrics: the counts in metrics.get follow what tasks really did; the exposition passes
`promtool check metrics`; the textfile is written atomically and kept fresh; plugins'
own metrics appear; and daemon.metrics = false turns it all off."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from telrpc import Checks, RpcError, Teld, testexec_path  # noqa: E402

checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-metrics-")
config = """
plugins = ( { name = "t"; path = "%s"; } );
task_types = (
  { name = "work"; executor = "t"; retry = { max_attempts = 3; initial_interval_s = 0.01; jitter = 0.0; }; },
  { name = "slow"; executor = "t"; timeouts = { run_s = 0.2; }; retry = { max_attempts = 1; }; }
);
""" % testexec_path()
os.mkdir(os.path.join(tmp, "m"))  # node_exporter's textfile directory
teld = Teld(tmp, config, daemon='workers = 4; metrics_textfile = "m/tel.prom"; metrics_interval_s = 0.2; '
                             'log_level = "debug";').start()
c = teld.client()
ids = [c.call("task.submit", {"type": "work", "input": {}})["id"] for _ in range(5)]
ids += [c.call("task.submit", {"type": "work", "input": {"fail_times": 1}})["id"] for _ in range(3)]
ids += [c.call("task.submit", {"type": "work", "input": {"fatal": True}})["id"] for _ in range(2)]
ids += [c.call("task.submit", {"type": "slow", "input": {"block": True}})["id"]]
for i in ids:
    c.wait_state(i, ["succeeded", "failed", "timed_out"])
text = c.call("metrics.get")["text"]


def value(series):
    m = re.search(r"^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


checks.check("tasks submitted, by type", value('tel_tasks_submitted_total{type="work"}') == 10,
             str(value('tel_tasks_submitted_total{type="work"}')))
checks.check("tasks finished, by type and state",
             value('tel_tasks_finished_total{type="work",state="succeeded"}') == 8 and
             value('tel_tasks_finished_total{type="work",state="failed"}') == 2 and
             value('tel_tasks_finished_total{type="slow",state="timed_out"}') == 1)
checks.check("attempts by outcome (8 ok + 3 failed-then-retried + 2 fatal)",
             value('tel_attempts_total{type="work",outcome="succeeded"}') == 8 and
             value('tel_attempts_total{type="work",outcome="failed"}') == 5)
checks.check("retries", value('tel_retries_total{type="work"}') == 3)
checks.check("timeouts by kind", value('tel_timeouts_total{type="slow",kind="run_timeout"}') == 1)
checks.check("run-time and queue-wait histograms count every attempt",
             value('tel_attempt_run_seconds_count{type="work"}') == 13 and
             value('tel_task_queue_wait_seconds_count{type="work"}') == 13)
checks.check("API latency by method", (value('tel_api_request_seconds_count{method="task.submit"}') or 0) >= 11)
checks.check("workers busy and total", value("tel_workers") == 4 and value("tel_workers_busy") is not None)
checks.check("queue depth and tasks by state are gauges", value('tel_queue_depth{type="work"}') == 0 and
             value('tel_tasks{type="work",state="pending"}') == 0)
checks.check("the store's map use and size", (value("tel_store_used_bytes") or 0) > 0 and
             (value("tel_store_map_bytes") or 0) > 0)
checks.check("a plugin's own metrics, through the host table",
             value('tel_testexec_runs_total{instance="t",result="ok"}') == 8 and
             value('tel_testexec_runs_total{instance="t",result="retry"}') == 3 and
             # 2 fatal scripts + the blocked one, cancelled by its run timeout
             value('tel_testexec_runs_total{instance="t",result="fatal"}') == 3)

promtool = shutil.which("promtool")
if promtool:
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    checks.check("promtool check metrics accepts the exposition", p.returncode == 0, p.stdout + p.stderr)
else:
    print("ok %d - promtool check metrics # SKIP promtool is not installed (Debian: prometheus)" % (checks.n + 1))
    checks.n += 1

prom = os.path.join(tmp, "m", "tel.prom")
deadline = time.monotonic() + 5
while not os.path.exists(prom) and time.monotonic() < deadline:
    time.sleep(0.05)
checks.check("the textfile is written", os.path.exists(prom))
first = os.stat(prom).st_mtime_ns if os.path.exists(prom) else 0
c.call("task.submit", {"type": "work", "input": {}})
deadline = time.monotonic() + 5
while time.monotonic() < deadline and os.stat(prom).st_mtime_ns == first:
    time.sleep(0.05)
body = open(prom).read()
checks.check("and rewritten every metrics_interval_s", os.stat(prom).st_mtime_ns != first and
             "tel_tasks_submitted_total" in body)
checks.check("only the finished file is ever there (write, then rename)",
             os.listdir(os.path.dirname(prom)) == ["tel.prom"], str(os.listdir(os.path.dirname(prom))))
c.close()
checks.check("teld stops cleanly", teld.stop() == 0)

log = open(teld.log).read()
fatal_id, retry_id = ids[8], ids[5]
checks.check("logs: a debug line per transition, with task, type and attempt",
             re.search(r'level=debug msg="task transition" task=%s type=work attempt=1 event=running '
                       r'state=running seq=\d+' % fatal_id, log) is not None)
checks.check("logs: a warn line per failure",
             re.search(r'level=warn msg="task failed" task=%s type=work attempt=1 state=failed '
                       r'code=test_fatal' % fatal_id, log) is not None and
             re.search(r'level=warn msg="attempt failed; will retry" task=%s type=work attempt=1 '
                       r'code=test_failure' % retry_id, log) is not None)

tmp2 = tempfile.mkdtemp(prefix="tel-metrics-off-")
teld = Teld(tmp2, config, daemon='metrics = false; log_level = "info";').start()
c = teld.client()
try:
    c.call("metrics.get")
    checks.check("daemon.metrics = false: metrics.get says so", False)
except RpcError as e:
    checks.check("daemon.metrics = false: metrics.get says so (-32006)", e.code == -32006, e.message)
tid = c.call("task.submit", {"type": "work", "input": {}})["id"]
checks.check("and tasks run as before", c.wait_state(tid, ["succeeded"])["state"] == "succeeded")
checks.check("at log_level info there are no debug lines", "level=debug" not in open(teld.log).read())
# SIGHUP reload changes the log level
with open(teld.conf) as f:
    conf_text = f.read()
with open(teld.conf, "w") as f:
    f.write(conf_text.replace('log_level = "info"', 'log_level = "debug"'))
teld.proc.send_signal(1)
teld.wait_log('msg="configuration reloaded"')
tid = c.call("task.submit", {"type": "work", "input": {}})["id"]
c.wait_state(tid, ["succeeded"])
checks.check("after a SIGHUP that sets debug, transitions are logged",
             ('msg="task transition" task=%s' % tid) in open(teld.log).read())
c.close()
checks.check("teld stops cleanly", teld.stop() == 0)
if not checks.failed:
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(tmp2, ignore_errors=True)
checks.finish()
