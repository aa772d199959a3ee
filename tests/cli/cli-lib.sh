# Shared by the shell tests of claude-keyring: source it from a test.
# Every test already runs inside tests/support/ck-test-session, so the bus,
# the keyring and HOME are private; $CK_CLI is the client under test.
set -euo pipefail

: "${CK_CLI:?CK_CLI must name the claude-keyring binary}"
: "${CK_TEST_ROOT:?run this test through tests/support/ck-test-session}"

out=$CK_TEST_ROOT/stdout
err=$CK_TEST_ROOT/stderr

fail () {
  echo "FAIL: $*" >&2
  if [ -s "$out" ]; then echo "--- stdout:" >&2; cat "$out" >&2; fi
  if [ -s "$err" ]; then echo "--- stderr:" >&2; cat "$err" >&2; fi
  exit 1
}

# run [ARGS...]: runs the client with stdin from /dev/null (unless the
# caller redirects it), capturing stdout, stderr and the exit status in
# $out, $err and $status.
run () {
  status=0
  "$CK_CLI" "$@" >"$out" 2>"$err" || status=$?
}

# Like run, with the first argument as standard input.
run_with_input () {
  local input=$1
  shift
  status=0
  printf '%s' "$input" | "$CK_CLI" "$@" >"$out" 2>"$err" || status=$?
}

expect_status () {
  [ "$status" -eq "$1" ] || fail "expected exit status $1, got $status (claude-keyring $2)"
}

expect_empty_stdout () {
  [ ! -s "$out" ] || fail "expected nothing on stdout ($1)"
}

# The error contract: exactly one line on stderr, "claude-keyring: …".
expect_one_error_line () {
  [ "$(wc -l <"$err")" -eq 1 ] || fail "expected exactly one stderr line ($1)"
  grep -q '^claude-keyring: ' "$err" || fail "the stderr line does not start with 'claude-keyring: ' ($1)"
}

# For commands that also print progress on stderr (login): exactly one
# error line among them, and it is the last.
expect_one_error_among_progress () {
  [ "$(grep -c '^claude-keyring: ' "$err")" -eq 1 ] || fail "expected exactly one error line ($1)"
  tail -n 1 "$err" | grep -q '^claude-keyring: ' || fail "the error is not the last line ($1)"
}

agent_pid () {
  gdbus call --session --dest org.freedesktop.DBus \
    --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.GetConnectionUnixProcessID \
    io.github.claudekeyring.ClaudeKeyring 2>/dev/null |
    sed -n 's/^(uint32 \([0-9]*\),)$/\1/p'
}

agent_running () {
  gdbus call --session --dest org.freedesktop.DBus \
    --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner \
    io.github.claudekeyring.ClaudeKeyring 2>/dev/null | grep -q true
}

# Kills the activated agent and waits until its name is gone, so that the
# next call activates a fresh one.
stop_agent () {
  local pid
  pid=$(agent_pid)
  [ -n "$pid" ] || fail "no agent is running"
  kill "$pid"
  for _ in $(seq 100); do
    agent_running || return 0
    sleep 0.05
  done
  fail "the agent (pid $pid) did not exit"
}

# start_fake_oauth_server: starts tests/support/fake-oauth-server.py, sets
# $base to its URL and points the agent at it. Call it before anything
# activates the agent.
support=$CK_SOURCE_ROOT/tests/support
PY=$(command -v python3)
pids=()
cleanup_pids () {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup_pids EXIT

start_fake_oauth_server () {
  "$PY" "$support/fake-oauth-server.py" --port-file "$CK_TEST_ROOT/port" \
    --client-id ck-test-client "$@" 2>"$CK_TEST_ROOT/oauth-server.log" &
  pids+=($!)
  for _ in $(seq 100); do
    [ -s "$CK_TEST_ROOT/port" ] && break
    sleep 0.05
  done
  [ -s "$CK_TEST_ROOT/port" ] || fail "the fake OAuth server did not start"
  base=http://127.0.0.1:$(cat "$CK_TEST_ROOT/port")

  # The agent reads its endpoints from its own environment: hand them to
  # the bus before the first call activates it.
  if agent_running; then fail "the agent runs before the test configured it"; fi
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.UpdateActivationEnvironment \
    "{'CLAUDE_KEYRING_AUTHORIZE_URL': '$base/oauth/authorize',
      'CLAUDE_KEYRING_CONSOLE_AUTHORIZE_URL': '$base/oauth/authorize',
      'CLAUDE_KEYRING_TOKEN_URL': '$base/v1/oauth/token',
      'CLAUDE_KEYRING_REVOKE_URL': '$base/v1/oauth/revoke',
      'CLAUDE_KEYRING_API_BASE_URL': '$base',
      'CLAUDE_KEYRING_CLIENT_ID': 'ck-test-client'}" >/dev/null
}

# fake_mode JSON: changes the fake server's behaviour (see its header).
fake_mode () {
  curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$base/test/mode" >/dev/null ||
    fail "could not set the fake server's mode to $1"
}

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

# login_with_browser: a whole login, the browser approving at once.
login_with_browser () {
  start_login browser-login --no-browser
  "$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" ||
    fail "the browser could not complete the login ($(cat "$CK_TEST_ROOT/browser.log"))"
  wait_login browser-login 30
  expect_status 0 "login"
}
