#!/bin/bash
# telctl against a real teld (with the testexec plugin): submit/get, --wait and its
# progress, JSON output, ls paging, cancel, complete/fail/heartbeat with fencing, watch
# exactly once across a daemon restart, status/types/plugins/reload, backup and restore,
# usage errors, no daemon, bad --input JSON, and the human tables on a terminal.
. "$top_srcdir/tests/integration/lib.sh"
TELCTL="$top_builddir/core/telctl"

cat >"$T/teld.conf" <<CONF
daemon = { state_dir = "state"; log_level = "info"; workers = 4; };
plugins = ( { name = "t"; path = "$TEL_TEST_PLUGINS/testexec.so"; } );
task_types = (
  { name = "work"; executor = "t";
    retry = { max_attempts = 2; initial_interval_s = 0.05; multiplier = 1.0; };
    timeouts = { run_s = 30.0; }; },
  { name = "bulk"; executor = "t"; }
);
CONF
export TEL_SOCKET="$T/state/teld.sock"
unset NO_COLOR

# tc ARGS...: telctl with stdout to a file (so: JSON mode); sets RC, output in $T/out, $T/err
tc() { "$TELCTL" "$@" >"$T/out" 2>"$T/err"; RC=$?; }
# field EXPR < JSON: a Python expression over the parsed JSON `d`
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# wait_state ID STATE: poll until the task is in STATE (10 s at most)
wait_state() {
    local i
    for i in $(seq 200); do
        [ "$("$TELCTL" get "$1" | field 'd["state"]')" = "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
# is DESCRIPTION GOT WANT: one check that says what it got when it fails
is() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1"; echo "#   got:  $2"; echo "#   want: $3"; fi
}
not_contains() { ! grep -qF -- "$2" "$1"; }
# seqs FILE: the seq numbers of the JSON events in FILE, one per line
seqs() { python3 -c "import json,sys; [print(json.loads(l)['seq']) for l in open(sys.argv[1]) if l.strip()]" "$1"; }

# ---- no daemon yet ----
tc status
check "no daemon: exit 3" [ "$RC" -eq 3 ]
check "no daemon: names the socket and where it came from" contains "$T/err" "cannot connect to teld at $T/state/teld.sock (from TEL_SOCKET)"
check "no daemon: suggests -s and TEL_SOCKET" contains "$T/err" "-s SOCKET or the TEL_SOCKET variable"
(unset TEL_SOCKET; cd "$T" && "$TELCTL" status >"$T/out" 2>"$T/err"); RC=$?
is "without -s or TEL_SOCKET: exit 3" "$RC" 3
check "and the default socket is named" contains "$T/err" "teld-state/teld.sock (the default)"

start_teld "$T/teld.conf" "$T/teld.log"
check "teld starts" wait_for "$T/teld.log" 'msg="teld started"'

# ---- submit and get ----
tc submit work --input '{"n": 1}' --label team=blue --workflow wf-7:step2 --key k1
check "submit exits 0" [ "$RC" -eq 0 ]
ID=$(cat "$T/out")
is "submit prints the bare task id (DESIGN.md: id=\$(telctl submit ...))" "$(grep -Ec '^[0-9a-f-]{36}$' "$T/out")" 1
tc get "$ID"
check "get exits 0" [ "$RC" -eq 0 ]
is "get returns the task as teld sent it" "$(field 'd["id"], d["type"], d["input"], d["labels"], d["workflow"]' <"$T/out")" \
    "$ID work {'n': 1} {'team': 'blue'} {'id': 'wf-7', 'step': 'step2'}"
is "get prints one line" "$(wc -l <"$T/out")" 1
tc --json submit work --input '{"n": 1}' --key k1
is "the same key gives the same task back (--json: the whole result)" "$(field 'd["id"], d["duplicate"]' <"$T/out")" "$ID True"
tc get 01a21e00-0000-7000-8000-000000000000
is "get of an unknown id: exit 4" "$RC" 4
check "a refusal prints CODE MESSAGE" contains "$T/err" "telctl: -32001 no task with id 01a21e00-0000-7000-8000-000000000000"
tc submit nosuchtype
is "submit of an unknown type: exit 4" "$RC" 4
check "with the reason" contains "$T/err" 'unknown task type "nosuchtype"'

python3 -c 'import json; print(json.dumps({"x": "a" * 1200000}))' >"$T/big.json"
tc submit work --input "@$T/big.json"
is "a request over teld's size limit: exit 4" "$RC" 4
check "with teld's reason" contains "$T/err" "telctl: -32600 request larger than max_request_bytes"

# ---- --json output is valid JSON ----
for cmd in "get $ID" "ls" "status" "types" "plugins"; do
    "$TELCTL" --json $cmd >"$T/json" 2>&1
    check "--json $cmd is one valid JSON document" python3 -m json.tool "$T/json" >/dev/null
done

# ---- submit --wait ----
tc submit work --wait --input '{"sleep_ms": 300, "output": {"answer": 42}}'
is "submit --wait on success exits 0" "$RC" 0
is "submit --wait prints the final task with its output" "$(field 'd["state"], d["output"]' <"$T/out")" \
    "succeeded {'answer': 42}"
check "submit --wait shows the running state on stderr" grep -Eq '^telctl: task [0-9a-f-]+: running, attempt 1, after' "$T/err"
check "and the final state" grep -Eq ': succeeded, attempt 1, after' "$T/err"
is "the progress lines come in order, one per change" \
    "$(sed -E 's/^telctl: task [0-9a-f-]+: ([a-z_]+).*/\1/' "$T/err" | tr '\n' ' ')" "submitted pending running succeeded "

tc submit work --wait --input '{"fatal": true}'
is "submit --wait on a failed task exits 1" "$RC" 1
is "and prints the failed task with its error" "$(field 'd["state"], d["error"]["code"]' <"$T/out")" "failed test_fatal"
tc submit work --wait --input '{"fail_times": 5}'
is "submit --wait when retries run out exits 1" "$RC" 1
check "the retry shows as retry_wait" grep -q ': retry_wait, attempt 1' "$T/err"
check "then attempt 2" grep -q ': running, attempt 2' "$T/err"
tc submit work --wait --key k1 --input '{"n": 1}'
is "submit --wait on a finished duplicate returns at once" "$RC $(field 'd["id"]' <"$T/out")" "0 $ID"

# ---- ls paging ----
: >"$T/bulk_ids"
for i in $(seq 25); do
    "$TELCTL" submit bulk --input "{\"i\": $i}" >>"$T/bulk_ids"
done
tc ls --type bulk --limit 10
is "ls --limit 10 gives one page of 10 and a next" "$(field 'len(d["tasks"]), "next" in d' <"$T/out")" "10 True"
tc ls --type bulk --limit 10 --all
is "ls --all exits 0" "$RC" 0
field '"\n".join(t["id"] for t in d["tasks"])' <"$T/out" >"$T/listed_ids"
is "ls --all lists 25 tasks" "$(wc -l <"$T/listed_ids")" 25
check "ls --all pages through every task, each once, oldest first" cmp "$T/bulk_ids" "$T/listed_ids"
tc ls --state nonsense
is "ls --state with an unknown state: exit 4" "$RC" 4

# ---- cancel ----
tc submit work --input '{"block": true}'
BID=$(cat "$T/out")
tc cancel "$BID" --reason "not needed"
is "cancel exits 0, the task is cancelled" "$RC $(field 'd["state"]' <"$T/out")" "0 cancelled"
tc get "$BID"
is "the cancelled task keeps the reason" "$(field 'd["state"], d["error"]["message"]' <"$T/out")" "cancelled not needed"
tc cancel "$BID"
is "cancelling it again: exit 4" "$RC" 4
check "with -32002" contains "$T/err" "telctl: -32002 task $BID is already cancelled"

# ---- complete, fail, heartbeat of a deferred task; fencing ----
tc submit work --input '{"defer": true}'
DID=$(cat "$T/out")
check "a deferred task waits" wait_state "$DID" waiting
tc heartbeat "$DID" --attempt 1
is "heartbeat of the current attempt exits 0" "$RC $(field 'd["state"]' <"$T/out")" "0 waiting"
tc complete "$DID" --attempt 2 --output '{"late": true}'
is "a fenced completion (wrong attempt) exits 4" "$RC" 4
check "with the -32002 message" contains "$T/err" "telctl: -32002 attempt 2 of task $DID is not current (the task is waiting, attempt 1)"
tc heartbeat "$DID" --attempt 3
is "a fenced heartbeat exits 4 too" "$RC" 4
echo '{"result": [1, 2, 3]}' >"$T/output.json"
tc complete "$DID" --attempt 1 --output "@$T/output.json"
is "complete of the current attempt exits 0" "$RC $(field 'd["state"]' <"$T/out")" "0 succeeded"
tc get "$DID"
is "the output given to complete is the task's output" "$(field 'd["output"]' <"$T/out")" "{'result': [1, 2, 3]}"

tc submit work --input '{"defer": true}'
FID=$(cat "$T/out")
wait_state "$FID" waiting
tc fail "$FID" --attempt 1 --code flaky --message "try again"
is "fail (retryable) puts the task in retry_wait" "$RC $(field 'd["state"]' <"$T/out")" "0 retry_wait"
check "the retry waits again, in attempt 2" wait_state "$FID" waiting
tc fail "$FID" --attempt 2 --code broken --message "give up" --fatal
is "fail --fatal fails the task" "$RC $(field 'd["state"]' <"$T/out")" "0 failed"
tc get "$FID"
is "with the code and message given" "$(field 'd["error"]["code"], d["error"]["message"]' <"$T/out")" "broken give up"

# ---- status, types, plugins, reload ----
tc status
is "status shows the daemon" "$RC $(field 'd["state_dir"]' <"$T/out")" "0 $T/state"
tc types
is "types lists both task types" "$(field 'sorted(t["name"] for t in d["types"])' <"$T/out")" "['bulk', 'work']"
tc plugins
is "plugins lists testexec" "$(field 'd["plugins"][0]["plugin"]' <"$T/out")" testexec
tc reload
is "reload exits 0" "$RC $(cat "$T/out")" '0 {"reloaded":true}'
tc manual ls --json
is "manual ls with nothing waiting for people: exit 0, no tasks" "$RC $(field 'd["tasks"]' <"$T/out")" "0 []"

# ---- human output on a terminal (through script(1)) ----
ESC=$(printf '\033')
CR=$(printf '\r')
if command -v script >/dev/null; then
    script -qec "'$TELCTL' ls --type bulk --limit 3" /dev/null >"$T/tty" 2>&1
    check "on a terminal ls prints a table with a header" grep -q 'ID.*TYPE.*STATE.*ATTEMPTS.*CREATED' "$T/tty"
    check "with relative times" grep -Eq '[0-9]+(s|m) ago|just now' "$T/tty"
    check "and coloured states" grep -qF "${ESC}[32msucceeded" "$T/tty"
    NO_COLOR=1 script -qec "'$TELCTL' get '$ID'" /dev/null >"$T/tty" 2>&1
    check "get on a terminal shows fields by name" grep -Eq '^state +succeeded' "$T/tty"
    check "NO_COLOR turns the colours off" not_contains "$T/tty" "$ESC"
    script -qec "'$TELCTL' submit work --wait --input '{\"sleep_ms\": 500}'" /dev/null >"$T/tty" 2>&1
    check "--wait on a terminal rewrites one progress line" contains "$T/tty" "${CR}${ESC}[Ktask "
    check "showing the state, attempt and elapsed time" grep -Eq 'running.*, attempt 1, [0-9]+ms' "$T/tty"
    # status on a terminal: a live view, redrawn every second, until interrupted
    ( for i in 1 2 3 4 5 6; do "$TELCTL" submit work --input '{}' >/dev/null; sleep 0.3; done ) &
    SUBMITTER=$!
    # the interrupt goes to telctl itself (script(1) does not pass it on)
    timeout -k 5 10 script -qec "timeout -s INT 2.6 '$TELCTL' status" /dev/null >"$T/tty" 2>&1
    wait "$SUBMITTER"   # not a bare wait: teld is a child of this shell too
    check "status on a terminal redraws itself every second" \
        [ "$(grep -o "${ESC}\[H${ESC}\[2J" "$T/tty" | wc -l)" -ge 2 ]
    check "showing the task rate, workers, queues, plugins and the sandbox" sh -c \
        "grep -Eq 'rate +[0-9.]+ tasks/s finished' '$T/tty' && grep -q '^workers' '$T/tty' &&
         grep -q '^queues' '$T/tty' && grep -q '^plugins' '$T/tty' && grep -q '^sandbox' '$T/tty'"
    tc status
    check "and one plain view when not on a terminal (JSON)" sh -c "[ $RC -eq 0 ] && python3 -m json.tool '$T/out' >/dev/null"
    timeout -k 5 10 script -qec "'$TELCTL' status --once" /dev/null >"$T/tty" 2>&1
    check "status --once on a terminal prints one view" [ "$(grep -c '^workers' "$T/tty")" -eq 1 ]
else
    ok "# SKIP script(1) is missing: no terminal output checks"
fi

# ---- bash completion (against this teld) ----
# complete_words WORD...: what the completion offers for the last word, sorted, on one line
complete_words() {
    (
        . "$top_srcdir/etc/bash-completion/telctl"
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        PATH="$top_builddir/core:$PATH"
        COMPREPLY=()
        _telctl
        [ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
    )
}
is "completion: commands" "$(complete_words telctl su)" "submit "
is "completion: manual's subcommands" "$(complete_words telctl manual c)" "claim complete "
is "completion: a command's options" "$(complete_words telctl fail ID --f)" "--fatal "
is "completion: states" "$(complete_words telctl ls --state f)" "failed "
is "completion: task types from teld" "$(complete_words telctl submit '')" "bulk work "
is "completion: task ids from teld" "$(complete_words telctl get "${ID:0:30}")" "$ID "
is "completion: the socket given with -s is the one asked" \
    "$(TEL_SOCKET=/nonexistent complete_words telctl -s "$T/state/teld.sock" ls --type w)" "work "
is "completion: nothing after the one positional argument" "$(complete_words telctl get "$ID" '')" ""

# ---- watch: every event exactly once across a daemon restart ----
SINCE=$("$TELCTL" status | field 'd["store"]["last_seq"]')
"$TELCTL" watch --since "$SINCE" >"$T/watch.out" 2>"$T/watch.err" &
WATCH_PID=$!
tc submit work --input '{"n": "before"}'
W1=$(cat "$T/out")
tc submit work --input '{"sleep_ms": 800}'
W2=$(cat "$T/out")
check "watch shows the events as they happen" wait_for "$T/watch.out" "\"task_id\":\"$W1\",\"type\":\"work\",\"state\":\"succeeded\""
wait_for "$T/watch.out" "\"task_id\":\"$W2\",\"type\":\"work\",\"state\":\"running\"" >/dev/null
kill -TERM "$TELD_PID"
wait_exit "$TELD_PID" 20
check "teld exits on SIGTERM while watch runs" [ "$EXIT_RC" != timeout ]
# a regression check: teld once freed the events before closing the connections whose
# on_close still used them (a use after free, seen under AddressSanitizer)
check "teld stops cleanly (exit 0) on SIGTERM while watch runs" [ "$EXIT_RC" = 0 ]
tc submit work
is "while teld is down telctl exits 3" "$RC" 3
sleep 0.3
start_teld "$T/teld.conf" "$T/teld2.log"
MAIN_PID=$TELD_PID
check "teld starts again" wait_for "$T/teld2.log" 'msg="teld started"'
tc submit work --input '{"n": "after"}'
W3=$(cat "$T/out")
check "watch reconnects and shows events after the restart" \
    wait_for "$T/watch.out" "\"task_id\":\"$W3\",\"type\":\"work\",\"state\":\"succeeded\"" 15
wait_state "$W2" succeeded
sleep 0.3
check "watch was still running" kill -0 "$WATCH_PID"
kill -INT "$WATCH_PID"
wait_exit "$WATCH_PID" 10
is "watch ends with exit 0 when interrupted" "$EXIT_RC" 0
check "watch said it reconnected" contains "$T/watch.err" "reconnected; resuming after event"
tc watch --since "$SINCE" --no-follow
is "watch --no-follow ends by itself" "$RC" 0
seqs "$T/watch.out" >"$T/watch.seqs"
seqs "$T/out" >"$T/store.seqs"
check "the store has events since the start of the watch" [ "$(wc -l <"$T/store.seqs")" -gt 5 ]
check "watch printed every stored event exactly once, in order ($(wc -l <"$T/store.seqs") events)" \
    cmp "$T/watch.seqs" "$T/store.seqs"
is "no seq twice" "$(sort -n "$T/watch.seqs" | uniq -d | wc -l)" 0
check "the task cut off by the restart finished, and watch saw it" \
    contains "$T/watch.out" "\"task_id\":\"$W2\",\"type\":\"work\",\"state\":\"succeeded\""
tc --json watch --since "$SINCE" --no-follow --task "$W3"
check "watch --task shows that task's events" contains "$T/out" "\"task_id\":\"$W3\""
is "and no other task's" "$(grep -vc "\"task_id\":\"$W3\"" "$T/out")" 0

# ---- watch: resumes by itself after events.overflow ----
SINCE=$("$TELCTL" status | field 'd["store"]["last_seq"]')
"$TELCTL" watch --since "$SINCE" >"$T/watch2.out" 2>"$T/watch2.err" &
WATCH_PID=$!
tc submit work
check "a second watch runs" wait_for "$T/watch2.out" "\"task_id\":\"$(cat "$T/out")\""
kill -STOP "$WATCH_PID"
# 400 failing tasks whose events carry a 1 KiB error code: far more than teld buffers for
# a subscriber that does not read (256 KiB) plus the socket's own buffer
python3 - "$T/state/teld.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
code = "x" * 1024
req = "".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "task.submit",
                          "params": {"type": "bulk", "input": {"fatal": True, "fail_code": code}}}) + "\n"
              for i in range(400))
s.sendall(req.encode())
buf = b""
while buf.count(b"\n") < 400:
    buf += s.recv(65536)
PY
check "teld drops the stalled subscriber with events.overflow" wait_for "$T/teld2.log" 'msg="event subscriber too slow: disconnected"' 15
LAST_SEQ=$("$TELCTL" status | field 'd["store"]["last_seq"]')
kill -CONT "$WATCH_PID"
check "watch resumes by itself and gets to the last event" wait_for "$T/watch2.out" "{\"seq\":$LAST_SEQ," 15
check "watch says why it resubscribed" contains "$T/watch2.err" "teld dropped this stream for reading too slowly; resuming after event"
kill -INT "$WATCH_PID"
wait_exit "$WATCH_PID" 10
tc watch --since "$SINCE" --no-follow
seqs "$T/watch2.out" >"$T/watch.seqs"
seqs "$T/out" >"$T/store.seqs"
check "after the overflow too, every event was printed exactly once, in order ($(wc -l <"$T/store.seqs") events)" \
    cmp "$T/watch.seqs" "$T/store.seqs"

# ---- backup and restore ----
(cd "$T" && "$TELCTL" backup bk >"$T/out" 2>"$T/err"); RC=$?
is "backup with a relative path exits 0" "$RC" 0
check "the path was made absolute before teld saw it" contains "$T/out" "\"path\":\"$T/bk\""
check "the backup holds a store" [ -s "$T/bk/data.mdb" ]
tc backup "$T/bk"
is "a second backup into the same place is refused (exit 4)" "$RC" 4
mkdir -m 700 "$T/restored"
cp "$T/bk/data.mdb" "$T/restored/"
sed -e 's|state_dir = "state"|state_dir = "restored"|' "$T/teld.conf" >"$T/restored.conf"
start_teld "$T/restored.conf" "$T/restored.log"
RESTORED_PID=$TELD_PID
check "a second teld starts on a copy of the backup" wait_for "$T/restored.log" 'msg="teld started"'
"$TELCTL" -s "$T/restored/teld.sock" get "$DID" >"$T/out" 2>"$T/err"; RC=$?
is "the restored teld has the task, output included" "$RC $(field 'd["state"], d["output"]' <"$T/out")" \
    "0 succeeded {'result': [1, 2, 3]}"
kill -TERM "$RESTORED_PID"
wait_exit "$RESTORED_PID" 20
is "the restored teld stops cleanly" "$EXIT_RC" 0

# ---- a scripted peer: validation problems, exact JSON, timeouts, a closed connection ----
cat >"$T/fake_teld.py" <<'PY'
import json, socket, sys, threading, time
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1])
srv.listen(8)
problems = {"errors": [{"instance_path": "/a", "schema_path": "/properties/a/type",
                        "message": "expected a string"},
                       {"instance_path": "", "message": "\"b\" is required"}, "plain text"]}
def serve(c):
    line = c.makefile("rb").readline()
    req = json.loads(line)
    m = req["method"]
    if m == "task.submit":
        out = json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32004,
              "message": "the input does not match the input schema", "data": problems}})
    elif m == "task.get":  # odd spacing and a number jansson would print differently
        out = '{"jsonrpc":"2.0","id":%d,"result": {"z":1.50, "a":[ 1,2 ],"s":"}\\""} }' % req["id"]
    elif m == "server.status":
        time.sleep(3)
        return c.close()
    else:
        return c.close()
    c.sendall(out.encode() + b"\n")
    c.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY
python3 "$T/fake_teld.py" "$T/fake.sock" &
FAKE_PID=$!
for i in $(seq 100); do [ -S "$T/fake.sock" ] && break; sleep 0.05; done
tc -s "$T/fake.sock" submit x --input '{"a": 1}'
is "a validation error: exit 4" "$RC" 4
is "CODE MESSAGE, then each problem on its own line" "$(cat "$T/err")" \
'telctl: -32004 the input does not match the input schema
  /a: expected a string
  (the whole value): "b" is required
  plain text'
tc -s "$T/fake.sock" get some-id
is "--json prints the result exactly as teld sent it" "$(cat "$T/out")" '{"z":1.50, "a":[ 1,2 ],"s":"}\""}'
tc -s "$T/fake.sock" --timeout 0.3 status
is "no answer within --timeout: exit 3" "$RC" 3
check "saying so" contains "$T/err" "no answer to server.status within 0.3 s"
tc -s "$T/fake.sock" types
is "a connection closed without an answer: exit 3" "$RC" 3
check "saying so" contains "$T/err" "teld closed the connection before answering types.list"
kill "$FAKE_PID"

# ---- usage errors ----
tc frobnicate
is "an unknown command exits 2" "$RC" 2
check "and names it" contains "$T/err" 'unknown command "frobnicate"'
tc get "$ID" --colour
is "an unknown option exits 2" "$RC" 2
check "and names it" contains "$T/err" "get: unknown option --colour"
tc get
is "a missing argument exits 2" "$RC" 2
check "and names it" contains "$T/err" "get: missing ID"
tc complete "$ID" --output '{}'
is "a missing required option exits 2" "$RC" 2
check "and names it" contains "$T/err" "--attempt is required"
tc ls --limit lots
is "a bad number exits 2" "$RC" 2
tc
is "no command exits 2" "$RC" 2
tc --timeout 0 status
is "--timeout 0 is a usage error" "$RC" 2

# ---- bad --input ----
tc submit work --input '{"a": 1,, "b": 2}'
is "bad --input JSON exits 2" "$RC" 2
check "and shows where the JSON breaks" contains "$T/err" "--input: invalid JSON at line 1, column 9 (byte offset 8)"
tc submit work --input "@$T/missing.json"
is "an unreadable --input file exits 2" "$RC" 2
check "and names it" contains "$T/err" "cannot read $T/missing.json"
echo '[1, 2' | "$TELCTL" submit work --input - >"$T/out" 2>"$T/err"; RC=$?
is "bad JSON on stdin exits 2" "$RC" 2
check "and says it came from stdin" contains "$T/err" "--input standard input: invalid JSON at line"

tc --help
is "--help exits 0" "$RC" 0
check "--help documents exit status 3" contains "$T/out" "3  cannot connect"
check "--help documents exit status 4" contains "$T/out" "4  teld refused"

kill -TERM "$MAIN_PID"
wait_exit "$MAIN_PID" 20
is "teld stops cleanly at the end" "$EXIT_RC" 0

finish
