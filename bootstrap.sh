#!/bin/sh
# Prepare a build on Debian 12: install the dependencies, generate ./configure, configure.
# Arguments are passed to ./configure (run again only when given, or not run before).
set -e
cd "$(dirname "$0")"
sh tools/debian-deps.sh
[ -x configure ] || ./autogen.sh
if [ $# -gt 0 ] || [ ! -f Makefile ]; then
    ./configure "$@"
fi
