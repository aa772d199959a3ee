#!/bin/bash
# Access control against real callers: a Flatpak-like sandbox made with
# bwrap, a bwrap sandbox without /.flatpak-info (firejail, snap and the
# like: only its root directory differs), and (when run as root) a process
# of another user.
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

. "$CK_SOURCE_ROOT/tests/support/ck-sandbox.sh"
caller_dir=$CK_BUILD_ROOT/tests/support
in_sandbox () { ck_sandbox flatpak "$@"; }
sandboxed () { in_sandbox gdbus call "${dest[@]}" --method $method '{}'; }
rooted () { ck_sandbox plain gdbus call "${dest[@]}" --method $method '{}'; }

# A client that keeps its connection (tests/support/ck-test-caller.c), so
# that its later calls take the agent's fast path: start_caller COMMAND...
# as the coproc CALLER; ask sets $answer ("ok ..." or "error NAME").
start_caller () {
  coproc CALLER { "$@"; }
  read -r -t 10 ready _ <&"${CALLER[0]}" && [ "$ready" = ready ]
}
ask () {
  echo >&"${CALLER[1]}"
  read -r -t 30 answer <&"${CALLER[0]}" || answer="no answer"
}
stop_caller () {
  exec {CALLER[1]}>&-
  wait "$CALLER_PID" 2>/dev/null || true
}
bus_thread_reads () { grep -c 'answered in the bus thread' "$CK_TEST_ROOT/agent.log" || true; }
denied=error\ io.github.claudekeyring.Error.AccessDenied

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

out=$(rooted 2>&1) && status=0 || status=$?
if [ $status -ne 0 ] && [[ $out == *io.github.claudekeyring.Error.AccessDenied* ]] &&
   [[ $out != *test-api-key-access* ]]; then
  pass "a caller in another root directory, without /.flatpak-info, is refused"
else
  fail "a caller in another root directory, without /.flatpak-info, is refused (status $status): $out"
fi
if grep -q "Refused a sandboxed caller (another root directory, pid" "$CK_TEST_ROOT/agent.log"; then
  pass "that refusal is logged as such"
else
  fail "that refusal is logged as such"
fi

# Doctor says what counts as a sandbox, and warns when they are let in.
# (Its API check goes to a closed local port: no network in tests.)
gsettings set io.github.claudekeyring.ClaudeKeyring api-base-url http://127.0.0.1:9
sandbox_check () {
  "$CK_CLI" doctor --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for c in json.load(sys.stdin):
    if c["id"] == "sandbox":
        print(c["status"], c["summary"])'
}
check=$(sandbox_check)
if [[ $check == "ok "*Flatpak*"root directory"*snap* ]]; then
  pass "doctor lists the sandboxes it detects ($check)"
else
  fail "doctor lists the sandboxes it detects: $check"
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
if out=$(rooted 2>&1) && [[ $out == *test-api-key-access* ]]; then
  pass "allow-sandboxed-callers lets the other root in"
else
  fail "allow-sandboxed-callers lets the other root in: $out"
fi
check=$(sandbox_check)
[[ $check == warn* ]] && pass "doctor warns that sandboxes are let in" ||
  fail "doctor warns that sandboxes are let in: $check"

# A sandboxed client that stays connected loses access as soon as the
# setting is reset, also when its answers came from the fast path.
if start_caller in_sandbox "$caller_dir/ck-test-caller"; then
  ask; first=$answer
  before=$(bus_thread_reads)
  ask
  if [[ $first == "ok api-key keyring "* ]] && [ "$answer" = "$first" ] &&
     [ "$(bus_thread_reads)" -gt "$before" ]; then
    pass "an allowed sandboxed client is answered from the fast path"
  else
    fail "an allowed sandboxed client is answered from the fast path: $first / $answer"
  fi
  gsettings reset io.github.claudekeyring.ClaudeKeyring allow-sandboxed-callers
  for _ in $(seq 100); do
    ask
    [ "$answer" = "$first" ] || break
    sleep 0.05
  done
  ok_after=$answer
  ask
  if [ "$ok_after" = "$denied" ] && [ "$answer" = "$denied" ]; then
    pass "resetting allow-sandboxed-callers refuses the connected client at once"
  else
    fail "resetting allow-sandboxed-callers refuses the connected client: $ok_after / $answer"
  fi
  stop_caller
else
  fail "ck-test-caller did not start in the sandbox"
  gsettings reset io.github.claudekeyring.ClaudeKeyring allow-sandboxed-callers
fi

# StatusChanged names the account, organization, scopes and expiry: it
# reaches a permitted client that follows it, never a refused sandboxed
# app that asked for the status and then listens on the same connection.
watch=$CK_TEST_ROOT/watch
"$caller_dir/ck-test-caller" --watch-status 3000 >"$watch.permitted" &
permitted_pid=$!
in_sandbox "$caller_dir/ck-test-caller" --watch-status 3000 >"$watch.sandboxed" &
sandboxed_pid=$!
for _ in $(seq 100); do
  [ -s "$watch.permitted" ] && [ -s "$watch.sandboxed" ] && break
  sleep 0.05
done
gdbus call "${dest[@]}" --method io.github.claudekeyring.Credentials1.ClearApiKey >/dev/null
gdbus call "${dest[@]}" --method io.github.claudekeyring.Credentials1.SetApiKey \
  test-api-key-access >/dev/null
wait "$permitted_pid" "$sandboxed_pid"
if [ "$(head -n 1 "$watch.permitted")" = "status logged-in" ] &&
   [ "$(tail -n 1 "$watch.permitted")" != "signals 0" ]; then
  pass "a permitted client follows StatusChanged ($(tail -n 1 "$watch.permitted"))"
else
  fail "a permitted client follows StatusChanged: $(tr '\n' ' ' <"$watch.permitted")"
fi
if [ "$(tr '\n' ' ' <"$watch.sandboxed")" = "error io.github.claudekeyring.Error.AccessDenied login-finished 0 signals 0 " ]; then
  pass "a refused sandboxed client gets no StatusChanged"
else
  fail "a refused sandboxed client gets no StatusChanged: $(tr '\n' ' ' <"$watch.sandboxed")"
fi

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
  # And on every call of a connection it keeps, while the same user's
  # answers are being served from the fast path.
  if start_caller env DBUS_SESSION_BUS_ADDRESS="$CK_TEST_OTHER_BUS_ADDRESS" HOME=/nonexistent \
       setpriv --reuid=65534 --regid=65534 --clear-groups "$caller_dir/ck-test-caller"; then
    answers=()
    for _ in 1 2 3; do
      gdbus call "${dest[@]}" --method $method '{}' >/dev/null 2>&1
      ask
      answers+=("$answer")
    done
    stop_caller
    if [ "${answers[*]}" = "$denied $denied $denied" ]; then
      pass "a connected client of another user is refused on every call"
    else
      fail "a connected client of another user is refused on every call: ${answers[*]}"
    fi
  else
    fail "ck-test-caller did not start as another user"
  fi
else
  echo "ok - a caller of another user is refused # SKIP needs root to switch users"
fi

exit $((failures > 0))
