# Shared helpers for the integration tests (sourced).  They drive real teld processes;
# every wait is bounded so that a broken teld fails the test instead of hanging it.
set -u
: "${top_builddir:?run through make check}"
: "${top_srcdir:?run through make check}"
TELD="$top_builddir/core/teld"
TEL_TEST_PLUGINS="$top_builddir/tests/plugins/.libs"
NOOP_PLUGIN="$top_builddir/plugins/noop/.libs/noop.so"

T=$(mktemp -d /tmp/tel-it-XXXXXX)
n_checks=0
n_failed=0
TELD_PIDS=""

cleanup() {
    for pid in $TELD_PIDS; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

ok()   { n_checks=$((n_checks + 1)); echo "ok $n_checks - $*"; }
fail() { n_checks=$((n_checks + 1)); n_failed=$((n_failed + 1)); echo "not ok $n_checks - $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
    echo "1..$n_checks"
    [ "$n_failed" -eq 0 ] || { echo "# $n_failed of $n_checks checks failed"; exit 1; }
    exit 0
}
skip_all() { echo "1..0 # SKIP $*"; exit 77; }

# contains FILE TEXT: FILE has a line containing TEXT (fixed string)
contains() { grep -qF -- "$2" "$1"; }

# wait_for FILE TEXT [SECONDS]: until FILE contains TEXT, at most SECONDS (default 10)
wait_for() {
    local i limit=$(( ${3:-10} * 20 ))
    for i in $(seq "$limit"); do
        contains "$1" "$2" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "# timed out waiting for '$2' in $1:"; sed 's/^/#   /' "$1" | tail -20
    return 1
}

# start_teld CONFIG LOG: start a teld in the background; sets TELD_PID
start_teld() {
    "$TELD" -c "$1" >"$2" 2>&1 &
    TELD_PID=$!
    TELD_PIDS="$TELD_PIDS $TELD_PID"
}

# wait_exit PID [SECONDS]: wait for PID (a child of this shell) to exit; sets EXIT_RC to
# its exit status, or to "timeout"
wait_exit() {
    local i limit=$(( ${2:-10} * 20 ))
    EXIT_RC=timeout
    for i in $(seq "$limit"); do
        if ! kill -0 "$1" 2>/dev/null; then
            wait "$1"; EXIT_RC=$?; return 0
        fi
        sleep 0.05
    done
}
