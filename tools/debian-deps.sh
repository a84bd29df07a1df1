#!/bin/sh
# Install the Debian 12 packages that tel's build, tests and benchmarks need.
# Idempotent: does nothing when everything is installed.  Uses sudo when not root.
set -e
PACKAGES="
  build-essential autoconf automake libtool pkg-config
  libjansson-dev libconfig-dev liblmdb-dev lmdb-utils libseccomp-dev libcap-dev
  libpcre2-dev libidn2-dev libcurl4-openssl-dev
  libcmocka-dev clang libclang-rt-14-dev valgrind binutils groff-base man-db
  python3 procps util-linux iproute2 bubblewrap prometheus openssl
"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the lists first; refresh only when a package is not found.
$SUDO apt-get install -y -q $missing || { $SUDO apt-get update -q && $SUDO apt-get install -y -q $missing; }
