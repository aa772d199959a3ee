# Sourced by the tests that run the installed agent.
#
# ck_install_prefix PREFIX: builds this source tree with --prefix=PREFIX in
# a build tree of the test's own and runs "meson install", so every path in
# the installed files (Exec= of the D-Bus and systemd files, the schema
# directory, the locale directory) is the real one and nothing needs
# rewriting. Only the installed targets are built: tests and benchmarks
# are not installed.

ck_install_prefix () {
  local prefix=$1 build=$CK_TEST_ROOT/prefix-build targets
  : "${CK_SOURCE_ROOT:?CK_SOURCE_ROOT must name the source tree}"

  if ! meson setup --prefix="$prefix" "$build" "$CK_SOURCE_ROOT" >"$CK_TEST_ROOT/setup.log" 2>&1; then
    tail -n 30 "$CK_TEST_ROOT/setup.log" >&2
    echo "FAIL: meson setup --prefix=$prefix failed" >&2
    return 1
  fi
  targets=$(meson introspect --targets "$build" | python3 -c '
import json, os, sys
build = sys.argv[1]
for target in json.load(sys.stdin):
    if target.get("installed"):
        for name in target["filename"]:
            print(os.path.relpath(name, build))' "$build")
  # shellcheck disable=SC2086
  if ! ninja -C "$build" $targets >"$CK_TEST_ROOT/build.log" 2>&1 ||
     ! meson install -C "$build" --no-rebuild >"$CK_TEST_ROOT/install.log" 2>&1; then
    tail -n 30 "$CK_TEST_ROOT/build.log" "$CK_TEST_ROOT/install.log" >&2
    echo "FAIL: building or installing to $prefix failed" >&2
    return 1
  fi
}

# ck_bus_config FILE SERVICEDIR ADDRESS: a session bus configuration that
# listens on ADDRESS and whose only activation directory is SERVICEDIR.
ck_bus_config () {
  cat >"$1" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>$3</listen>
  <servicedir>$2</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
}
