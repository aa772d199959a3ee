#!/bin/bash
# claude-keyring helper: only a key and a newline on stdout with exit 0, or
# nothing on stdout, one line on stderr and exit 1; never a hang.
set -uo pipefail

: "${CK_CLI:?run through meson test}"
fail=0
check () { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fail=1; fi
}
lines () { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }

out=$CK_TEST_ROOT/out err=$CK_TEST_ROOT/err
run_helper () { # sets rc; stdout in $out, stderr in $err
  "$CK_CLI" helper >"$out" 2>"$err"; rc=$?
}

# Nothing stored.
run_helper
check "no key: exit 1" test "$rc" = 1
check "no key: nothing on stdout" test ! -s "$out"
check "no key: one stderr line" test "$(lines "$(cat "$err")")" = 1
check "no key: says what to run" grep -q 'claude-keyring set-api-key' "$err"

# A stored key.
printf '%s' test-api-key-0001 | "$CK_CLI" set-api-key >/dev/null 2>&1
run_helper
check "key: exit 0" test "$rc" = 0
check "key: exactly the key and a newline" cmp -s "$out" <(printf 'test-api-key-0001\n')
check "key: nothing on stderr" test ! -s "$err"

check "arguments are refused" test "$("$CK_CLI" helper extra >/dev/null 2>&1; echo $?)" = 2

# Run by the agent's own helper runner: refused before any D-Bus call.
CLAUDE_KEYRING_HELPER=1 "$CK_CLI" helper >"$out" 2>"$err"; rc=$?
check "recursion: exit 1" test "$rc" = 1
check "recursion: nothing on stdout" test ! -s "$out"
check "recursion: one line" test "$(lines "$(cat "$err")")" = 1

# Only an OAuth login: the helper has no API key to give.
"$CK_CLI" set-api-key --clear >/dev/null 2>&1
mkdir -p "$HOME/.claude"
cat >"$HOME/.claude/.credentials.json" <<'JSON'
{"claudeAiOauth":{"accessToken":"test-oauth-token-0001","refreshToken":"test-refresh-token-0001","expiresAt":4102444800000,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}
JSON
"$CK_CLI" import >/dev/null 2>&1
run_helper
check "oauth only: exit 1" test "$rc" = 1
check "oauth only: nothing on stdout" test ! -s "$out"
check "oauth only: the token is not printed anywhere" bash -c "! grep -q test-oauth-token-0001 '$out' '$err'"

# An agent that never answers: the wait is bounded (10 s), then a clean
# failure. Activation of a program that hangs stands in for a stuck agent.
gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring \
  --object-path /io/github/claudekeyring/ClaudeKeyring \
  --method org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1
agent_pid=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.GetConnectionUnixProcessID io.github.claudekeyring.ClaudeKeyring 2>/dev/null |
  sed -n 's/^(uint32 \([0-9]*\),)$/\1/p')
hang=$CK_TEST_ROOT/hang-agent
printf '#!/bin/sh\necho $$ >"%s"\nexec sleep 60\n' "$hang.pid" >"$hang"; chmod +x "$hang"
gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.UpdateActivationEnvironment "{'CK_AGENT': '$hang'}" >/dev/null
if [ -n "$agent_pid" ]; then
  kill "$agent_pid"
  for _ in $(seq 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.05; done
fi
start=$(date +%s)
run_helper
elapsed=$(( $(date +%s) - start ))
check "stuck agent: exit 1" test "$rc" = 1
check "stuck agent: nothing on stdout" test ! -s "$out"
check "stuck agent: one line" test "$(lines "$(cat "$err")")" = 1
check "stuck agent: gave up within 12 s (took ${elapsed} s)" test "$elapsed" -le 12
[ -s "$hang.pid" ] && kill "$(cat "$hang.pid")" 2>/dev/null

exit $fail
