#!/bin/bash
# teld's command line, start-up errors, the state lock, SIGHUP reload (good and bad
# config) and clean shutdown on SIGTERM and SIGINT.
. "$top_srcdir/tests/integration/lib.sh"

cat >"$T/good.conf" <<CONF
daemon = { state_dir = "state"; log_level = "info"; };
plugins = ( { name = "noop"; path = "$NOOP_PLUGIN"; } );
task_types = ( { name = "echo"; executor = "noop"; } );
CONF

# --check-config
"$TELD" -c "$T/good.conf" --check-config >"$T/out" 2>"$T/err"; rc=$?
check "--check-config on a good config exits 0" [ $rc -eq 0 ]
check "--check-config reports what it loaded" contains "$T/out" "$T/good.conf: configuration OK: 1 plugin, 1 task type"
check "--check-config does not create the state dir" [ ! -e "$T/state" ]

cat >"$T/bad.conf" <<CONF
daemon = {
  workers = 0;
  colour = "blue";
};
plugins = ( { name = "noop"; path = "$NOOP_PLUGIN"; } );
CONF
"$TELD" -c "$T/bad.conf" --check-config >"$T/out" 2>"$T/err"; rc=$?
check "--check-config on a bad config exits 1" [ $rc -eq 1 ]
check "each problem names file:line and the setting" contains "$T/err" "$T/bad.conf:2: daemon.workers: expected an integer between 1 and 1024, got 0"
check "unknown settings are errors" contains "$T/err" "$T/bad.conf:3: daemon.colour: unknown setting"
check "the problems are counted" contains "$T/err" "2 problems found"

cat >"$T/badsandbox.conf" <<CONF
daemon = { sandbox = { pool_size = 9; private_netns = "yes"; work_dir = 3; }; };
CONF
"$TELD" -c "$T/badsandbox.conf" --check-config >"$T/out" 2>"$T/err"; rc=$?
check "bad daemon.sandbox settings fail --check-config" [ $rc -eq 1 ]
check "... each named" sh -c "grep -q 'daemon.sandbox.pool_size: expected an integer between 0 and 8, got 9' '$T/err' && grep -q 'daemon.sandbox.private_netns: expected true or false' '$T/err' && grep -q 'daemon.sandbox.work_dir' '$T/err'"

cat >"$T/badplugin.conf" <<CONF
plugins = ( { name = "major"; path = "$TEL_TEST_PLUGINS/wrong_major.so"; },
            { name = "init"; path = "$TEL_TEST_PLUGINS/init_fails.so"; } );
task_types = ( { name = "t"; executor = "major"; } );
CONF
"$TELD" -c "$T/badplugin.conf" --check-config >"$T/out" 2>"$T/err"; rc=$?
check "a refused plugin fails --check-config" [ $rc -eq 1 ]
check "the refusal names the config line, the file and the reason" \
    contains "$T/err" "$T/badplugin.conf:1: plugins.major: $TEL_TEST_PLUGINS/wrong_major.so: built for plugin ABI 2.1, this teld has ABI 1.1"
check "a failing init gives the plugin's own message" contains "$T/err" "init failed: cannot reach the license server"
check "a type whose executor did not load says so" contains "$T/err" "task_types.t.executor: plugin \"major\" did not load"

"$TELD" -c "$T/missing.conf" --check-config >"$T/out" 2>"$T/err"; rc=$?
check "a missing config file exits 1 with the reason" sh -c "[ $rc -eq 1 ] && grep -q 'missing.conf: cannot open the config file: No such file or directory' '$T/err'"

"$TELD" --bogus >"$T/out" 2>&1; rc=$?
check "an unknown option exits 2 with usage" sh -c "[ $rc -eq 2 ] && grep -q Usage '$T/out'"
"$TELD" --version >"$T/out" 2>&1; rc=$?
check "--version names the ABI" sh -c "[ $rc -eq 0 ] && grep -q 'plugin ABI 1.1' '$T/out'"

# start-up with a bad config: logfmt error lines and a non-zero exit
"$TELD" -c "$T/bad.conf" >"$T/log" 2>&1; rc=$?
check "teld refuses to start on a bad config (exit 1)" [ $rc -eq 1 ]
check "start-up config errors are logfmt lines with file, line, setting" \
    contains "$T/log" "level=error msg=\"config error\" file=$T/bad.conf line=2 setting=daemon.workers error=\"expected an integer between 1 and 1024, got 0\""

# a running daemon
start_teld "$T/good.conf" "$T/log"
check "teld starts" wait_for "$T/log" 'msg="teld started"'
check "log lines are logfmt with ts and level" sh -c "head -1 '$T/log' | grep -Eq '^ts=[0-9T:.-]+Z level=info msg='"
check "the state dir is created, mode 0700" sh -c "[ \"\$(stat -c %a '$T/state')\" = 700 ]"

"$TELD" -c "$T/good.conf" >"$T/log2" 2>&1; rc=$?
check "a second teld on the same state dir refuses to start" [ $rc -eq 1 ]
check "and says which process holds it" contains "$T/log2" "another teld with pid $TELD_PID is already using the state directory $T/state"
check "before any plugin code ran" sh -c "! grep -q 'plugin loaded' '$T/log2'"

# SIGHUP with a bad config: keeps the old one
cp "$T/good.conf" "$T/good.conf.orig"
cat >"$T/good.conf" <<CONF
daemon = { state_dir = "state"; log_level = "debug"; };
plugins = ( { name = "noop"; path = "$NOOP_PLUGIN"; } );
task_types = ( { name = "echo"; executor = "noop"; retry = { jitter = 7.0; }; } );
CONF
kill -HUP "$TELD_PID"
check "a bad reload is refused" wait_for "$T/log" 'msg="reload failed: keeping the current configuration"'
check "the bad reload names file, line and setting" contains "$T/log" "file=$T/good.conf line=3 setting=task_types.echo.retry.jitter"
check "teld is still running after a bad reload" kill -0 "$TELD_PID"

# SIGHUP with a good, changed config
cat >"$T/good.conf" <<CONF
daemon = { state_dir = "state"; log_level = "debug"; };
plugins = ( { name = "noop"; path = "$NOOP_PLUGIN"; } );
task_types = ( { name = "echo"; executor = "noop"; }, { name = "echo2"; executor = "noop"; } );
CONF
kill -HUP "$TELD_PID"
check "a good reload is applied" wait_for "$T/log" 'msg="configuration reloaded" plugins=1 task_types=2'

kill -TERM "$TELD_PID"
wait_exit "$TELD_PID"
check "SIGTERM stops teld with exit 0" [ "$EXIT_RC" = 0 ]
check "shutdown is logged" contains "$T/log" 'msg="teld stopped"'

cp "$T/good.conf.orig" "$T/good.conf"
start_teld "$T/good.conf" "$T/log3"
check "teld restarts on the same state dir" wait_for "$T/log3" 'msg="teld started"'
kill -INT "$TELD_PID"
wait_exit "$TELD_PID"
check "SIGINT stops teld with exit 0" [ "$EXIT_RC" = 0 ]
finish
