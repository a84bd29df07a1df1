#!/bin/bash
# Every plugin built from this tree exports exactly one symbol: tel_plugin.
. "$top_srcdir/tests/integration/lib.sh"
command -v nm >/dev/null || skip_all "nm (binutils) is not installed"
found=0
for so in "$top_builddir"/plugins/*/.libs/*.so; do
    [ -e "$so" ] || continue
    found=1
    syms=$(nm -D --defined-only "$so" | awk '{print $3}' | sort | tr '\n' ' ')
    check "$(basename "$so") exports only tel_plugin (got: $syms)" [ "$syms" = "tel_plugin " ]
done
check "at least one plugin was built" [ $found -eq 1 ]
finish
