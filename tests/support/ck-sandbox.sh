# Sourced by tests that need a sandboxed caller (tests/service/test-access.sh,
# test-gateway-sessions.sh): bubblewrap gives a command a root directory of
# its own, as bubblewrap, firejail and snap do, and with /.flatpak-info it
# looks like a Flatpak app. Needs CK_TEST_ROOT (tests/support/ck-test-session)
# and CK_BUILD_ROOT.
#
#   in_root [BWRAP OPTIONS...] -- COMMAND...   another root directory
#   in_sandbox COMMAND...                       a Flatpak-like sandbox
#
# The build tree's tests/support (ck-test-caller) is visible inside.
#
# SPDX-License-Identifier: GPL-3.0-or-later

ck_flatpak_info=$CK_TEST_ROOT/flatpak-info
printf '[Application]\nname=org.example.Sandboxed\n' > "$ck_flatpak_info"
caller_dir=$CK_BUILD_ROOT/tests/support

in_root () {
  local options=()
  while [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  bwrap --tmpfs / --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
    --symlink usr/bin /bin --symlink usr/sbin /sbin --ro-bind /etc /etc \
    --proc /proc --dev /dev --tmpfs /tmp \
    --bind "$CK_TEST_ROOT/run" "$CK_TEST_ROOT/run" \
    --ro-bind "$caller_dir" "$caller_dir" \
    --setenv DBUS_SESSION_BUS_ADDRESS "$DBUS_SESSION_BUS_ADDRESS" \
    --die-with-parent \
    "${options[@]}" "$@"
}

in_sandbox () { in_root --ro-bind "$ck_flatpak_info" /.flatpak-info -- "$@"; }
