#!/bin/bash
# `claude-keyring login` against the agent and the project's fake OAuth
# server, with play-browser.py standing in for the user's browser.
. "$(dirname "$0")/cli-lib.sh"

support=$CK_SOURCE_ROOT/tests/support
PY=$(command -v python3)

pids=()
cleanup () {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

"$PY" "$support/fake-oauth-server.py" --port-file "$CK_TEST_ROOT/port" \
  --client-id ck-test-client 2>"$CK_TEST_ROOT/oauth-server.log" &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$CK_TEST_ROOT/port" ] && break
  sleep 0.05
done
[ -s "$CK_TEST_ROOT/port" ] || fail "the fake OAuth server did not start"
base=http://127.0.0.1:$(cat "$CK_TEST_ROOT/port")

# The agent reads its endpoints from its own environment: hand them to the
# bus before the first call activates it.
agent_running && fail "the agent runs before the test configured it"
gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.UpdateActivationEnvironment \
  "{'CLAUDE_KEYRING_AUTHORIZE_URL': '$base/oauth/authorize',
    'CLAUDE_KEYRING_CONSOLE_AUTHORIZE_URL': '$base/oauth/authorize',
    'CLAUDE_KEYRING_TOKEN_URL': '$base/v1/oauth/token',
    'CLAUDE_KEYRING_REVOKE_URL': '$base/v1/oauth/revoke',
    'CLAUDE_KEYRING_API_BASE_URL': '$base',
    'CLAUDE_KEYRING_CLIENT_ID': 'ck-test-client'}" >/dev/null

# start_login NAME [ARGS...]: runs `login ARGS` in the background with
# stdin not a terminal; its output goes to $CK_TEST_ROOT/NAME.{out,err}.
start_login () {
  local name=$1
  shift
  "$CK_CLI" login "$@" </dev/null >"$CK_TEST_ROOT/$name.out" 2>"$CK_TEST_ROOT/$name.err" &
  login_pid=$!
  pids+=("$login_pid")
  for _ in $(seq 200); do
    [ -s "$CK_TEST_ROOT/$name.out" ] && break
    kill -0 "$login_pid" 2>/dev/null || break
    sleep 0.05
  done
  # The URL comes at once, alone on stdout, although stdout is a file.
  url=$(head -n 1 "$CK_TEST_ROOT/$name.out")
  case $url in
    "$base"/oauth/authorize\?*) ;;
    *) cat "$CK_TEST_ROOT/$name.err" >&2; fail "login $* printed no authorize URL" ;;
  esac
}

# wait_login NAME SECONDS: waits for the background login, sets $status.
wait_login () {
  local name=$1 seconds=$2
  for _ in $(seq $((seconds * 20))); do
    kill -0 "$login_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$login_pid" 2>/dev/null && fail "login ($name) still runs after ${seconds}s"
  status=0
  wait "$login_pid" || status=$?
  cp "$CK_TEST_ROOT/$name.out" "$out"
  cp "$CK_TEST_ROOT/$name.err" "$err"
}

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
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"authorize": "deny"}' \
  "$base/test/mode" >/dev/null || fail "could not switch the fake server to deny"
start_login denied --no-browser
"$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" || true
wait_login denied 30
expect_status 1 "a denied login"
expect_one_error_among_progress "a denied login"

echo "ok"
