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
