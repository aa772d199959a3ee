# Sourced by the tests that play a sandboxed app: ck_sandbox KIND COMMAND...
# runs COMMAND under bubblewrap in a root of its own (a tmpfs) that holds
# /usr, /etc, the private bus's socket directory and the build tree's
# tests/support (ck-test-caller). KIND flatpak adds a /.flatpak-info
# naming org.example.Sandboxed, as Flatpak gives its apps; KIND plain has
# nothing but the other root, as bubblewrap, firejail and snap give.
#
# SPDX-License-Identifier: GPL-3.0-or-later

: "${CK_TEST_ROOT:?run through tests/support/ck-test-session}"
: "${CK_BUILD_ROOT:?run through meson test}"

ck_sandbox_info=$CK_TEST_ROOT/flatpak-info
printf '[Application]\nname=org.example.Sandboxed\n' >"$ck_sandbox_info"

ck_sandbox () {
  local kind=$1 extra=()
  shift
  [ "$kind" = flatpak ] && extra=(--ro-bind "$ck_sandbox_info" /.flatpak-info)
  bwrap --tmpfs / --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
    --symlink usr/bin /bin --symlink usr/sbin /sbin --ro-bind /etc /etc \
    --proc /proc --dev /dev --tmpfs /tmp \
    --bind "$CK_TEST_ROOT/run" "$CK_TEST_ROOT/run" \
    --ro-bind "$CK_BUILD_ROOT/tests/support" "$CK_BUILD_ROOT/tests/support" \
    --setenv DBUS_SESSION_BUS_ADDRESS "$DBUS_SESSION_BUS_ADDRESS" \
    --die-with-parent "${extra[@]}" "$@"
}
