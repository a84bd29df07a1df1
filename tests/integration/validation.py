#!/usr/bin/env python3
"""Task validation end to end with the jsonschema plugin: inputs at task.submit (-32004,
each problem with instance path, schema path and message; nothing stored), outputs when an
attempt succeeds (output_invalid, not retried, the errors kept on the attempt), and a bad
schema stopping the configuration with its file and JSON pointer."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from telrpc import Checks, RpcError, Teld, testexec_path  # noqa: E402

JS = os.path.join(os.environ["top_builddir"], "plugins", "jsonschema", ".libs", "jsonschema.so")
checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-validation-")
with open(os.path.join(tmp, "in.json"), "w") as f:
    json.dump({"type": "object", "required": ["user"], "additionalProperties": False,
               "properties": {"user": {"type": "object", "required": ["id"],
                                       "properties": {"id": {"type": "integer", "minimum": 1},
                                                      "email": {"type": "string", "format": "email"}}},
                              "output": {}}}, f)
with open(os.path.join(tmp, "out.json"), "w") as f:
    json.dump({"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}, f)
config = """
plugins = ( { name = "t"; path = "%s"; },
            { name = "jsonschema"; path = "%s"; config = { format_assertion = true; }; } );
task_types = ( { name = "v"; executor = "t"; input_schema = "in.json"; output_schema = "out.json";
                 retry = { max_attempts = 3; initial_interval_s = 0.01; }; } );
""" % (testexec_path(), JS)
teld = Teld(tmp, config).start()
c = teld.client()

before = c.call("task.list")["tasks"]
try:
    c.call("task.submit", {"type": "v", "input": {"user": {"id": 0, "email": "nope"}, "extra": 1}})
    checks.check("an invalid input is refused", False)
except RpcError as e:
    errs = e.data.get("errors", []) if e.data else []
    paths = sorted((x["instance_path"], x["schema_path"]) for x in errs)
    checks.check("an invalid input is refused with -32004", e.code == -32004, e.message)
    checks.check("each problem has instance path, schema path and message",
                 all(set(x) >= {"instance_path", "schema_path", "message"} for x in errs) and len(errs) >= 3,
                 json.dumps(errs))
    checks.check("the problems are the right ones (minimum, format, additionalProperties)",
                 any(p[0] == "/user/id" and p[1].endswith("minimum") for p in paths) and
                 any(p[0] == "/user/email" and p[1].endswith("format") for p in paths) and
                 any(p[1].endswith("additionalProperties") for p in paths), str(paths))
checks.check("nothing was stored for the refused submit", c.call("task.list")["tasks"] == before)

good = c.call("task.submit", {"type": "v", "input": {"user": {"id": 7}, "output": {"ok": True}}})["id"]
t = c.wait_state(good, ["succeeded", "failed"])
checks.check("a valid input runs, and a valid output succeeds", t["state"] == "succeeded", str(t.get("error")))
checks.check("the task records the schema versions it is held to",
             t.get("schemas", {}).get("input", "").startswith("fnv1a64:") and "output" in t.get("schemas", {}))
bad = c.call("task.submit", {"type": "v", "input": {"user": {"id": 7}, "output": {"ok": False}}})["id"]
t = c.wait_state(bad, ["succeeded", "failed"])
checks.check("an invalid output fails the task with output_invalid, not retried",
             t["state"] == "failed" and t["error"]["code"] == "output_invalid" and len(t["attempts"]) == 1,
             str(t.get("error")))
checks.check("the validation errors are kept on the attempt",
             t["attempts"][0].get("validation_errors", [{}])[0].get("instance_path") == "/ok",
             str(t["attempts"][0].get("validation_errors")))
c.close()
checks.check("teld stops cleanly", teld.stop() == 0)

with open(os.path.join(tmp, "broken.json"), "w") as f:
    json.dump({"type": "object", "properties": {"age": {"minimum": "ten"}}}, f)
bad_conf = os.path.join(tmp, "bad.conf")
with open(bad_conf, "w") as f:
    f.write(config.replace('input_schema = "in.json"', 'input_schema = "broken.json"'))
p = subprocess.run([os.path.join(os.environ["top_builddir"], "core", "teld"), "-c", bad_conf, "--check-config"],
                   capture_output=True, text=True)
checks.check("a bad schema stops the configuration", p.returncode == 1)
checks.check("naming the config line, the schema file and the JSON pointer",
             "task_types.v.input_schema" in p.stderr and "broken.json: invalid schema: /properties/age/minimum"
             in p.stderr, p.stderr)
if not checks.failed:
    shutil.rmtree(tmp, ignore_errors=True)
checks.finish()
