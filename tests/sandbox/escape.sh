#!/bin/sh
# The sandbox escape suite: runs tests/sandbox/escape_driver (TAP) on the programs in
# tests/sandbox/escapes/, as the current user and, when that is root, once more as an
# ordinary user (nobody), since teld may run either way.
# Binaries: $TEL_ESCAPE_BINDIR, else tests/sandbox under the current directory (make
# check runs from the top build dir), else this script's directory.
# Exit: 0 passed, 1 an escape succeeded or a check failed, 77 skipped (no user namespaces).
set -u

bindir=${TEL_ESCAPE_BINDIR:-}
for d in "$bindir" tests/sandbox "$(dirname "$0")"; do
    if [ -n "$d" ] && [ -x "$d/escape_driver" ]; then bindir=$d; break; fi
done
if [ ! -x "$bindir/escape_driver" ]; then
    echo "escape.sh: escape_driver not found (set TEL_ESCAPE_BINDIR)" >&2
    exit 1
fi

# The sandbox binds the programs' dir read-only at the same path and its pid 1 runs as
# an unprivileged uid: copy them where every user can read them (a build tree under
# /root would not do).
work=$(mktemp -d /tmp/tel-escape.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
chmod 755 "$work"
cp "$bindir/escape_driver" "$work/" || exit 1
for f in "$bindir"/escapes/esc_*; do
    case $f in *.c|*.o|*.h) continue ;; esac
    [ -x "$f" ] && cp "$f" "$work/"
done
chmod 755 "$work"/*

status=0
run() {
    label=$1; shift
    echo "# --- escape suite as $label ---"
    "$@" "$work/escape_driver" "$work"
    rc=$?
    case $rc in
        0) ;;
        77) echo "# SKIP as $label: unprivileged user namespaces unavailable" ;;
        *) status=1 ;;
    esac
    return $rc
}

run "uid $(id -u)"
first=$?
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv >/dev/null 2>&1; then
        run "nobody" setpriv --reuid=nobody --regid=nogroup --clear-groups
        [ $? = 77 ] && [ $first = 0 ] && echo "# (root passed; the unprivileged run was skipped)"
    else
        echo "# SKIP the unprivileged run: setpriv (util-linux) is missing"
    fi
fi
[ $first = 77 ] && [ $status = 0 ] && exit 77
exit $status
