#!/usr/bin/env python3
"""daemon.sandbox: the sandbox service's settings from teld.conf reach it (server.status
shows them; work dirs go where work_dir says)."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from telrpc import Checks, Teld  # noqa: E402

EXEC = os.path.join(os.environ["top_builddir"], "plugins", "exec", ".libs", "exec.so")
checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-sbx-settings-")
teld = Teld(tmp, """
plugins = ( { name = "exec"; path = "%s"; } );
sandboxes = { keep = { workdir = "keep"; }; };
task_types = ( { name = "k"; executor = "exec"; sandbox = "keep";
                 config = { argv = ["/bin/sh", "-c", "echo here > file; echo '{}'"]; }; } );
""" % EXEC, daemon='sandbox = { pool_size = 0; work_dir = "work"; private_netns = true; };').start()
c = teld.client()
sb = c.call("server.status")["sandbox"]
if not sb.get("userns"):
    print("1..0 # SKIP no sandbox on this machine: %s" % json.dumps(sb))
    teld.stop()
    sys.exit(77)
checks.check("private_netns = true: server.status says every task gets its own network "
             "namespace", sb.get("netns") == "private", json.dumps(sb))
t = c.wait_state(c.call("task.submit", {"type": "k", "input": {}})["id"], ["succeeded", "failed"])
work = os.path.join(tmp, "work")
kept = [os.path.join(work, d) for d in os.listdir(work)] if os.path.isdir(work) else []
written = [d for d in kept if os.path.isfile(os.path.join(d, "file"))]
checks.check("work_dir: the kept per-attempt work dir is made there, with what the task wrote",
             t["state"] == "succeeded" and len(written) == 1 and
             open(os.path.join(written[0], "file")).read() == "here\n",
             "%s %s" % (kept, json.dumps(t)[:300]))
c.close()
checks.check("teld stops cleanly", teld.stop() == 0)
shutil.rmtree(tmp, ignore_errors=True)
checks.finish()
