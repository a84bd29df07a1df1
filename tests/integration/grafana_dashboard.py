#!/usr/bin/env python3
"""examples/grafana/tel-dashboard.json: valid JSON, a Grafana dashboard model, and every
metric its queries use is one teld exports (after tasks ran, sandboxed ones included)."""
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from telrpc import Checks, Teld, testexec_path  # noqa: E402

checks = Checks()
path = os.path.join(os.environ["top_srcdir"], "examples", "grafana", "tel-dashboard.json")
dash = json.load(open(path))
checks.check("the dashboard is a Grafana model with panels and a Prometheus input",
             dash.get("panels") and dash["__inputs"][0]["pluginId"] == "prometheus")
used = set()
for p in dash["panels"]:
    for t in p.get("targets", []):
        used |= set(re.findall(r"\btel_[a-z_]+", t["expr"]))
used = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
checks.check("its queries use %d tel metrics" % len(used), len(used) >= 10, str(used))

exec_so = os.path.join(os.environ["top_builddir"], "plugins", "exec", ".libs", "exec.so")
tmp = tempfile.mkdtemp(prefix="tel-grafana-")
teld = Teld(tmp, """
plugins = ( { name = "t"; path = "%s"; }, { name = "exec"; path = "%s"; } );
task_types = ( { name = "w"; executor = "t"; },
               { name = "sleepy"; executor = "exec"; config = { argv = ["/bin/sleep", "5"]; };
                 timeouts = { run_s = 0.2; }; retry = { max_attempts = 1; }; } );
""" % (testexec_path(), exec_so)).start()
c = teld.client()
c.wait_state(c.call("task.submit", {"type": "w", "input": {}})["id"], ["succeeded"])
sandbox = c.call("server.status")["sandbox"].get("userns", False)
if sandbox:
    c.wait_state(c.call("task.submit", {"type": "sleepy", "input": {}})["id"], ["timed_out"])
# the task is timed out at once; the sandbox's kill and reap (and their metrics) follow
deadline = time.monotonic() + 10
while True:
    text = c.call("metrics.get")["text"]
    exported = set(re.findall(r"^# TYPE (tel_[a-z_]+) ", text, re.M))
    if not sandbox or "tel_sandbox_kills_total" in exported or time.monotonic() > deadline:
        break
    time.sleep(0.05)
missing = sorted(n for n in used - exported if sandbox or not n.startswith("tel_sandbox_"))
checks.check("every metric the dashboard uses is exported", not missing, "missing: %s" % missing)
c.close()
checks.check("teld stops cleanly", teld.stop() == 0)
if not checks.failed:
    shutil.rmtree(tmp, ignore_errors=True)
checks.finish()
