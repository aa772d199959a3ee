#!/bin/bash
# `claude-keyring login` against the agent and the project's fake OAuth
# server, with play-browser.py standing in for the user's browser.
. "$(dirname "$0")/cli-lib.sh"

start_fake_oauth_server

# 1. The browser approves: the CLI reports the account, exit 0.
start_login first --no-browser
grep -q 'Waiting for you to approve' "$CK_TEST_ROOT/first.err" ||
  fail "login shows no progress line"
if grep -q $'\r' "$CK_TEST_ROOT/first.err"; then fail "a spinner was drawn on a non-terminal"; fi
"$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" ||
  fail "the browser could not complete the login ($(cat "$CK_TEST_ROOT/browser.log"))"
wait_login first 30
expect_status 0 "login"
grep -qx 'Logged in as .*tester@example.com.*\.' "$out" || fail "login did not report the account"
[ "$(wc -l <"$out")" -eq 2 ] || fail "login printed more than the URL and the result on stdout"

run status
expect_status 0 "status after login"
grep -q 'tester@example.com' "$out" || fail "status does not show the account"
run token
expect_status 0 "token after login"
grep -q '^fake-access-' "$out" || fail "token did not print the access token"

# 2. Ctrl+C cancels the login at the agent and exits 130 ...
start_login cancelled --no-browser
kill -INT "$login_pid"
wait_login cancelled 10
expect_status 130 "login interrupted"
expect_one_error_among_progress "login interrupted"

# 3. ... so a new login can start; a second one meanwhile is refused.
start_login second --no-browser
pending_url=$url
run login --no-browser
expect_status 1 "a second login while one is pending"
expect_one_error_line "a second login while one is pending"
grep -q -- '--code' "$err" || fail "the refusal does not suggest --code"

# 4. --code completes the pending login from another process; both report.
code=$("$PY" "$support/play-browser.py" --no-callback --print-code "$pending_url" 2>"$CK_TEST_ROOT/browser.log") ||
  fail "the browser could not get a code ($(cat "$CK_TEST_ROOT/browser.log"))"
run login --code "$code"
expect_status 0 "login --code"
grep -q 'tester@example.com' "$out" || fail "login --code did not report the account"
wait_login second 30
expect_status 0 "the login that --code completed"
grep -q 'tester@example.com' "$out" || fail "the waiting login did not report the account"

# 5. A code without a pending login fails in one line.
run login --code 'not-a-code#not-a-state'
expect_status 1 "login --code without a pending login"
expect_empty_stdout "login --code without a pending login"
expect_one_error_line "login --code without a pending login"

# 6. The server refuses: the CLI says so, exit 1.
fake_mode '{"authorize": "deny"}'
start_login denied --no-browser
"$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" || true
wait_login denied 30
expect_status 1 "a denied login"
expect_one_error_among_progress "a denied login"

echo "ok"
