#!/bin/bash
# The keyring-timeout setting bounds how long the agent waits for a keyring
# that does not answer (here: gnome-keyring-daemon stopped with SIGSTOP,
# as a keyring hanging on an unlock prompt would), at start and when
# changed while the agent runs; and the agent works again once the keyring
# answers.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

keyring_pid=
resume_keyring () { [ -n "$keyring_pid" ] && kill -CONT "$keyring_pid" 2>/dev/null || true; }
trap 'resume_keyring; ck_oauth_cleanup' EXIT

# set_api_key KEY: SetApiKey; its output (or error) in $out, the time in $elapsed_ms.
set_api_key () {
  local t0
  t0=$(now_ms)
  out=$(gdbus call "${CK_DEST[@]}" --timeout 60 --method "$CK_IFACE.SetApiKey" "$1" 2>&1) &&
    status=0 || status=$?
  elapsed_ms=$(($(now_ms) - t0))
}

# Before the first call, so the agent starts with it.
ck_set keyring-timeout 2
set_api_key test-api-key-timeout-1
check "SetApiKey works while the keyring answers ($out)" [ "$status" -eq 0 ]

keyring_pid=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.GetConnectionUnixProcessID org.freedesktop.secrets |
  grep -oE '[0-9]+' | tail -n 1)
[ -n "$keyring_pid" ] || bail "cannot find the keyring's process"
kill -STOP "$keyring_pid"

set_api_key test-api-key-timeout-2
info "SetApiKey with a stopped keyring failed after $elapsed_ms ms"
check "it fails with KeyringLocked" eval '[[ $out == *io.github.claudekeyring.Error.KeyringLocked* ]]'
check "the error names the 2 s of the setting" eval '[[ $out == *"within 2 seconds"* ]]'
check "it waited for the deadline ($elapsed_ms ms)" [ "$elapsed_ms" -ge 2000 ]

# A change applies to the next request.
ck_set keyring-timeout 3
for _ in $(seq 50); do
  set_api_key test-api-key-timeout-3
  [[ $out == *"within 2 seconds"* ]] || break
done
check "a changed setting applies at once ($elapsed_ms ms)" \
  eval '[[ $out == *"within 3 seconds"* ]] && [ "$elapsed_ms" -ge 3000 ]'

resume_keyring
for _ in $(seq 20); do
  set_api_key test-api-key-timeout-4
  [ "$status" -eq 0 ] && break
  sleep 0.5
done
check "SetApiKey works again once the keyring answers ($out)" [ "$status" -eq 0 ]
check "and the key is the one stored last" \
  eval '[[ $(ck_call GetCredential "{}" 2>&1) == *test-api-key-timeout-4* ]]'

ck_done
