#!/bin/sh
# Runs the JSON-Schema-Test-Suite conformance runner on the plugin module that libtool
# built (plugins/jsonschema/.libs/jsonschema.so).  Automake runs tests from the top
# build directory; exit 77 (SKIP) comes from the runner when the suite is missing.
top_builddir=${top_builddir:-.}
plugin="$top_builddir/plugins/jsonschema/.libs/jsonschema.so"
if [ ! -f "$plugin" ]; then
    echo "conformance.sh: $plugin not built" >&2
    exit 99
fi
exec "$top_builddir/tests/jsonschema/conformance" "$plugin" "$@"
