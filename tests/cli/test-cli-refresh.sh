#!/bin/bash
# token when the agent must refresh first: a new token on success, and on
# failure one line within the bound, nothing on stdout, exit 1.
. "$(dirname "$0")/cli-lib.sh"

start_fake_oauth_server
# Access tokens that live 10 s are always inside token's 30 s of validity,
# so every token call makes the agent refresh first.
fake_mode '{"expires_in": 10}'
login_with_browser

run token
expect_status 0 "token after login"
first=$(cat "$out")
[ -n "$first" ] || fail "token printed nothing"

run token
expect_status 0 "token that refreshes"
second=$(cat "$out")
[ -n "$second" ] && [ "$second" != "$first" ] || fail "token did not return a fresh access token"

# The server fails: reported at once, no token on stdout.
for mode in 500 invalid_grant; do
  fake_mode "{\"refresh\": \"$mode\"}"
  stop_agent
  start=$(date +%s)
  run token
  elapsed=$(($(date +%s) - start))
  expect_status 1 "token when the refresh fails ($mode)"
  expect_empty_stdout "token when the refresh fails ($mode)"
  expect_one_error_line "token when the refresh fails ($mode)"
  [ "$elapsed" -le 15 ] || fail "token took ${elapsed}s to report a failed refresh ($mode)"
  grep -qi 'refresh' "$err" || fail "the error does not say the refresh failed ($mode)"
done
# After invalid_grant the stored login is dead: the message says to log in.
grep -qi 'log in\|login' "$err" || fail "the error does not say to log in again"

echo "ok"
