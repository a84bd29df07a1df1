#!/bin/bash
# The third-party story: install tel into a DESTDIR, build examples/hello-plugin out of
# tree against the installed header through pkg-config, and load it with teld.
. "$top_srcdir/tests/integration/lib.sh"
command -v pkg-config >/dev/null || skip_all "pkg-config is not installed"
D="$top_builddir/tests/integration/destdir"   # installed by make before the tests run
check "make install DESTDIR works" [ -f "$top_builddir/tests/integration/destdir.stamp" ]
pc=$(find "$D" -name tel-plugin.pc | head -1)
teld=$(find "$D" -name teld -type f | head -1)
header=$(find "$D" -path '*/include/tel/plugin.h' | head -1)
check "tel-plugin.pc is installed" [ -n "$pc" ]
check "<tel/plugin.h> is installed" [ -n "$header" ]
check "teld is installed" [ -x "$teld" ]
check "the noop plugin is installed into pkglibdir/plugins" sh -c "find '$D' -path '*/tel/plugins/noop.so' | grep -q ."
check "the man pages are installed" sh -c "find '$D' -name teld.8 | grep -q . && find '$D' -name teld.conf.5 | grep -q . && find '$D' -name tel-plugin.7 | grep -q ."
check "teld.conf is installed" sh -c "find '$D' -path '*/tel/teld.conf' | grep -q ."

cp -r "$top_srcdir/examples/hello-plugin" "$T/hello"
chmod -R u+w "$T/hello"
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$D"
cflags=$(pkg-config --cflags tel-plugin)
check "pkg-config --cflags points into the installed tree" sh -c "echo '$cflags' | grep -q -- '-I$D'"
MAKEFLAGS= make -s -C "$T/hello" CFLAGS="-O2 -Wall -Wextra -Werror" >"$T/build.log" 2>&1
check "the example builds out of tree against the installed header" [ -f "$T/hello/hello.so" ]
cat "$T/build.log"
check "the example exports only tel_plugin" sh -c "[ \"\$(nm -D --defined-only '$T/hello/hello.so' | awk '{print \$3}')\" = tel_plugin ]"

"$teld" -c "$T/hello/hello.conf" --check-config >"$T/out" 2>&1; rc=$?
cat "$T/out"
check "the installed teld loads the example plugin" [ $rc -eq 0 ]
check "and prepares its task type" contains "$T/out" "configuration OK: 1 plugin, 1 task type"

# a bad type config is caught by the plugin's prepare_type at load
sed -i 's|field = "/user/name";|field = "user";|' "$T/hello/hello.conf"
"$teld" -c "$T/hello/hello.conf" --check-config >"$T/out" 2>&1; rc=$?
check "the example's prepare_type refuses bad type config" sh -c "[ $rc -eq 1 ] && grep -q 'task_types.greet.config: executor \"hello\" refused the config: field' '$T/out'"
finish
