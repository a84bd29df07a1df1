#!/bin/sh
# The README's demo: start teld from the build tree with the embedded default config, show
# it working, and stop it.  Usage: demo.sh BUILDDIR
set -eu
B=$(cd "$1" && pwd)
D="$B/_demo"
rm -rf "$D"
mkdir -p "$D/plugins"
for so in "$B"/plugins/*/.libs/*.so; do ln -s "$so" "$D/plugins/"; done
export TEL_PLUGIN_DIR="$D/plugins"
cd "$D"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "teld --check-config   (the embedded default config: etc/teld.conf)"
"$B/core/teld" --check-config

say "teld   (in $D, state in ./teld-state)"
"$B/core/teld" >teld.log 2>&1 &
pid=$!
i=0
until grep -q 'msg="teld started"' teld.log 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat teld.log; echo "teld did not start"; exit 1; }
    kill -0 $pid 2>/dev/null || { cat teld.log; echo "teld exited"; exit 1; }
    sleep 0.1
done
cat teld.log

export TEL_SOCKET="$D/teld-state/teld.sock"
say "telctl types"
"$B/core/telctl" types

say "telctl submit echo --input '{\"hello\": \"world\"}' --wait      (in-process)"
"$B/core/telctl" submit echo --input '{"hello": "world"}' --wait

say "telctl submit greet --input '{\"name\": \"tel\"}' --wait        (a program in the sandbox)"
if "$B/core/telctl" submit greet --input '{"name": "tel"}' --wait; then :; else
    echo "(the sandbox is not available here: see 'telctl status')"
fi

say "telctl submit approve --input '{\"refund\": 40}'                (work for people)"
aid=$("$B/core/telctl" submit approve --input '{"refund": 40}')
i=0
until "$B/core/telctl" --json get "$aid" | grep -q '"state": *"waiting"'; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "the manual task did not start waiting"; exit 1; }
    sleep 0.1
done
say "telctl manual ls; telctl manual claim ID; telctl manual complete ID --output ..."
"$B/core/telctl" manual ls
"$B/core/telctl" manual claim "$aid" >/dev/null
"$B/core/telctl" manual complete "$aid" --output '{"approved": true}'
"$B/core/telctl" get "$aid"
say "telctl ls"
"$B/core/telctl" ls

say "telctl status"
"$B/core/telctl" status

say "SIGHUP reloads the configuration"
kill -HUP $pid
sleep 0.5
tail -n 2 teld.log

say "SIGTERM stops it cleanly"
kill -TERM $pid
wait $pid
tail -n 2 teld.log
say "demo finished: run it yourself with  TEL_PLUGIN_DIR=$D/plugins $B/core/teld"
