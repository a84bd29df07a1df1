#!/usr/bin/env python3
"""An events subscriber whose connection goes over daemon.api.max_output_kb: with a small
max_output_kb (any value below 256, the events' soft limit EVENTS_SOFT_BYTES; the config
accepts 4 and up), and with the default one.

A regression test: this failed against the daemon as of d2236eb (fixed since).
With max_output_kb = 64, a subscriber that replays more than 64 KiB of stored events
(events.subscribe {since: 0}) is cut off inside the pump: server_notify_raw finds the
connection over max_output_bytes and aborts it (conn_close(c, true) -> conn_teardown ->
on_close -> events_drop frees the struct subscriber), and the pump goes on using the freed
subscriber (events.c send_event: p->sub->next_seq = ..., conn_pending_output(p->sub->conn);
then pump_all frees it again).  teld dies with SIGSEGV (seen in send_event ->
conn_pending_output), and the subscriber gets neither its reply nor an events.overflow.
The same abort happens for a live subscriber that stalls (server_notify of events.overflow
is itself over the limit), then overflow() calls conn_close(s->conn) on the freed subscriber.

The default config is affected too: a subscriber whose connection is over max_output_kb
(4096) because of its own unread replies (pipelined task.list calls with big results) makes
overflow() hit the same path 5 s later: server_notify(events.overflow) aborts the connection,
events_drop frees the subscriber, overflow() calls conn_close(s->conn) on it and pump_all()
unrefs and frees it again.  Any caller with a read role (viewer) can take teld down this way.

Expected (what this test asserts): the subscriber gets its reply and every event (it reads
promptly), or at worst an events.overflow with resume_since; teld stays up.  The events'
per-subscriber budget should never exceed the connection's output limit (e.g. pump up to
min(EVENTS_SOFT_BYTES, max_output_bytes / 2)), and a subscriber closed under the pump must
not be touched afterwards."""
import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from apitest_util import raw_connect, read_line, request_line, track  # noqa: E402
from telrpc import Checks, Teld, testexec_path  # noqa: E402

checks = Checks()
tmp = tempfile.mkdtemp(prefix="tel-api-evlimit-")
config = """
plugins = ( { name = "t"; path = "%s"; } );
task_types = ( { name = "work"; executor = "t"; retry = { max_attempts = 1; }; } );
""" % testexec_path()
teld = track(Teld(tmp, config, daemon="api = { max_output_kb = 64; };")).start()
c = teld.client()
N = 1000
c.sock.sendall(b"".join(request_line("task.submit", {"type": "work", "input": {"i": i}}, i + 1)
                        for i in range(N)))
for i in range(N):
    c.wait_reply(i + 1)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    st = c.call("server.status")
    if st["active"]["pending"] + st["active"]["running"] == 0:
        break
    time.sleep(0.1)
last = st["store"]["last_seq"]
checks.check("%d tasks finished: %d events stored (well over 64 KiB)" % (N, last), last >= 3 * N)

# A subscriber that reads as fast as it can, replaying everything.
s = raw_connect(teld.socket, 10)
s.sendall(request_line("events.subscribe", {"since": 0}, 1))
buf, msgs, closed = b"", [], False
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        line, buf = read_line(s, buf, max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        break
    if line is None:
        closed = True
        break
    msgs.append(json.loads(line))
    if msgs[-1].get("method") == "event" and msgs[-1]["params"]["seq"] >= last:
        break
s.close()
events = [m for m in msgs if m.get("method") == "event"]
over = [m for m in msgs if m.get("method") == "events.overflow"]
checks.check("the replaying subscriber gets its events.subscribe reply",
             any(m.get("id") == 1 and "result" in m for m in msgs),
             "%d messages, closed=%s" % (len(msgs), closed))
checks.check("... and every event up to %d, or an events.overflow saying where "
             "to resume" % last,
             (events and events[-1]["params"]["seq"] == last) or len(over) == 1,
             "%d events, overflow %s" % (len(events), over))
time.sleep(0.3)
checks.check("teld is still running (it died with SIGSEGV: use after free in "
             "events.c)", teld.proc.poll() is None, "exit status %s" % teld.proc.poll())
c.close()

# A live subscriber that stops reading: once its unsent events pass 64 KiB, the same abort.
if teld.proc.poll() is not None:
    teld.logf.close()
    teld.start()
c = teld.client()
stall = raw_connect(teld.socket, 10)
stall.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
stall.sendall(request_line("events.subscribe", None, 1))
died_after = None
for k in range(20):
    try:
        c.sock.sendall(b"".join(request_line("task.submit", {"type": "work",
                                                             "input": {"k": k, "i": i}}, i + 1)
                                for i in range(200)))
        for i in range(200):
            c.wait_reply(i + 1)
    except (ConnectionError, OSError):
        died_after = k
        break
    time.sleep(0.3)
time.sleep(0.3)
checks.check("a live subscriber that stops reading does not take teld down "
             "(it died after %s batches of 200 submits)" % died_after,
             teld.proc.poll() is None, "exit status %s" % teld.proc.poll())
stall.close()
if teld.proc.poll() is None:
    c.close()
    checks.check("teld stops cleanly (exit 0)", teld.stop() == 0)
# The same with the default config (max_output_kb = 4096), for any caller with a read role:
# a subscriber that also pipelines requests with big replies and reads nothing.  Its replies
# put it over max_output_bytes; 5 s later overflow() sends events.overflow, which
# server_notify refuses by aborting the connection (freeing the subscriber), and overflow()
# and pump_all() go on with the freed subscriber.
tmp2 = tempfile.mkdtemp(prefix="tel-api-evlimit-")
dflt = track(Teld(tmp2, config)).start()
c = dflt.client()
c.sock.sendall(b"".join(request_line("task.submit", {"type": "work", "input": {"i": i},
                                                     "labels": {"pad": "x" * 8000}}, i + 1)
                        for i in range(N)))
for i in range(N):
    c.wait_reply(i + 1)
hog = raw_connect(dflt.socket, 10)
hog.sendall(request_line("events.subscribe", None, 0) +
            b"".join(request_line("task.list", {"limit": 1000}, i) for i in range(1, 4)))
died_at = None
for k in range(16):  # new events every 0.5 s for 8 s: the pump looks at the stalled one
    try:
        c.call("task.submit", {"type": "work", "input": {"k": k}})
    except (ConnectionError, OSError):
        died_at = k * 0.5
        break
    time.sleep(0.5)
time.sleep(0.3)
checks.check("(default config) a subscriber that pipelines task.list (8 MB replies) "
             "and never reads does not take teld down (it died %s s in)" % died_at,
             dflt.proc.poll() is None, "exit status %s" % dflt.proc.poll())
hog.close()
if dflt.proc.poll() is None:
    c.close()
    checks.check("teld stops cleanly (exit 0)", dflt.stop() == 0)
else:
    with open(dflt.log) as f:
        for line in f.read().splitlines()[-2:]:
            print("# teld.log: " + line)
shutil.rmtree(tmp2, ignore_errors=True)

if checks.failed:  # the bug is known: show the log's end instead of leaving the directory
    with open(teld.log) as f:
        for line in f.read().splitlines()[-4:]:
            print("# teld.log: " + line)
shutil.rmtree(tmp, ignore_errors=True)
checks.finish()
