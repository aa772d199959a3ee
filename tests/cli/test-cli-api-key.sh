#!/bin/bash
# An API key through the whole chain: set-api-key → keyring → token and
# status, across an agent restart, until logout.
. "$(dirname "$0")/cli-lib.sh"

key=test-key-abc

# Nothing stored yet.
run token
expect_status 1 "token before anything is stored"
expect_empty_stdout "token before anything is stored"
expect_one_error_line "token before anything is stored"

run status
expect_status 1 "status before anything is stored"

status=0
echo -n "$key" | "$CK_CLI" set-api-key >"$out" 2>"$err" || status=$?
expect_status 0 "set-api-key"
expect_empty_stdout "set-api-key"
grep -q 'Stored the API key' "$err" || fail "set-api-key did not confirm on stderr"

run token
expect_status 0 "token"
[ "$(cat "$out")" = "$key" ] || fail "token printed something other than the key"
[ "$(wc -c <"$out")" -eq $((${#key} + 1)) ] || fail "token printed more than the key and a newline"
[ ! -s "$err" ] || fail "token wrote to stderr on success"

# Never in plaintext on disk: the keyring encrypts it.
if grep -rl -- "$key" "$HOME" >&2; then
  fail "the key is in plaintext under \$HOME"
fi
if [ -f "$CK_TEST_ROOT/agent.log" ] && grep -q -- "$key" "$CK_TEST_ROOT/agent.log"; then
  fail "the key is in the agent's log"
fi

run status
expect_status 0 "status with a key"
grep -q '^State: *logged in' "$out" || fail "status does not say logged in"
if grep -q -- "$key" "$out"; then fail "status shows the key"; fi

run status --json
expect_status 0 "status --json"
python3 - "$out" <<'PY' || fail "status --json is not what it should be"
import json, sys
status = json.load(open(sys.argv[1]))
assert status["usable"] is True, status
assert status["environment-api-key"] is False, status
assert status["state"] == "logged-in", status
assert isinstance(status["expires-at"], int), status
assert isinstance(status["scopes"], list), status
PY
if grep -q -- "$key" "$out"; then fail "status --json shows the key"; fi

# A new agent reads the key back from the keyring.
stop_agent
run token
expect_status 0 "token after the agent restarted"
[ "$(cat "$out")" = "$key" ] || fail "the key did not survive an agent restart"

# Logout removes it.
run logout
expect_status 0 "logout"
grep -q 'Logged out' "$out" || fail "logout did not confirm"

run token
expect_status 1 "token after logout"
expect_empty_stdout "token after logout"
expect_one_error_line "token after logout"

run status
expect_status 1 "status after logout"

run status --json
expect_status 1 "status --json after logout"
python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["usable"] is False' "$out" ||
  fail "status --json says usable after logout"

echo "ok"
