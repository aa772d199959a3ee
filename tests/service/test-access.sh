#!/bin/bash
# Access control against real callers: a Flatpak-like sandbox made with
# bwrap, and (when run as root) a process of another user.
set -euo pipefail

dest=(--session --dest io.github.claudekeyring.ClaudeKeyring
      --object-path /io/github/claudekeyring/ClaudeKeyring)
method=io.github.claudekeyring.Credentials1.GetCredential
failures=0
pass () { echo "ok - $1"; }
fail () { echo "not ok - $1"; failures=$((failures + 1)); }

gdbus call "${dest[@]}" --method io.github.claudekeyring.Credentials1.SetApiKey \
  test-api-key-access >/dev/null

# Same user, no sandbox: allowed.
if out=$(gdbus call "${dest[@]}" --method $method '{}' 2>&1) &&
   [[ $out == *test-api-key-access* ]]; then
  pass "a caller of the same user gets the key"
else
  fail "a caller of the same user gets the key: $out"
fi

info=$CK_TEST_ROOT/flatpak-info
printf '[Application]\nname=org.example.Sandboxed\n' > "$info"
sandboxed () {
  bwrap --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
    --symlink usr/bin /bin --symlink usr/sbin /sbin --ro-bind /etc /etc \
    --proc /proc --dev /dev --tmpfs /tmp \
    --bind "$CK_TEST_ROOT/run" "$CK_TEST_ROOT/run" \
    --ro-bind "$info" /.flatpak-info \
    --setenv DBUS_SESSION_BUS_ADDRESS "$DBUS_SESSION_BUS_ADDRESS" \
    --die-with-parent \
    gdbus call "${dest[@]}" --method $method '{}'
}

out=$(sandboxed 2>&1) && status=0 || status=$?
if [ $status -ne 0 ] && [[ $out == *io.github.claudekeyring.Error.AccessDenied* ]] &&
   [[ $out != *test-api-key-access* ]]; then
  pass "a sandboxed caller is refused with AccessDenied"
else
  fail "a sandboxed caller is refused with AccessDenied (status $status): $out"
fi

if grep -q "Refused a sandboxed caller (org.example.Sandboxed" "$CK_TEST_ROOT/agent.log"; then
  pass "the refusal is logged with the app ID"
else
  fail "the refusal is logged with the app ID"
fi

# The user can allow sandboxed callers; the setting applies at once.
gsettings set io.github.claudekeyring.ClaudeKeyring allow-sandboxed-callers true
allowed=no
for _ in $(seq 100); do
  if out=$(sandboxed 2>&1) && [[ $out == *test-api-key-access* ]]; then
    allowed=yes
    break
  fi
  sleep 0.05
done
[ $allowed = yes ] && pass "allow-sandboxed-callers lets the sandbox in" ||
  fail "allow-sandboxed-callers lets the sandbox in: $out"
gsettings reset io.github.claudekeyring.ClaudeKeyring allow-sandboxed-callers

# Another user on the same bus is always refused.
if [ "$(id -u)" -eq 0 ]; then
  out=$(DBUS_SESSION_BUS_ADDRESS=$CK_TEST_OTHER_BUS_ADDRESS \
        setpriv --reuid=65534 --regid=65534 --clear-groups \
        env HOME=/nonexistent gdbus call "${dest[@]}" --method $method '{}' 2>&1) &&
    status=0 || status=$?
  if [ $status -ne 0 ] && [[ $out == *AccessDenied* ]] && [[ $out != *test-api-key* ]]; then
    pass "a caller of another user is refused"
  else
    fail "a caller of another user is refused (status $status): $out"
  fi
else
  echo "ok - a caller of another user is refused # SKIP needs root to switch users"
fi

exit $((failures > 0))
