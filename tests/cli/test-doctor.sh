#!/bin/bash
# claude-keyring doctor: the client-side checks (environment, Claude Code's
# settings, plaintext login) and the combinations that break claude.
set -uo pipefail

: "${CK_CLI:?run through meson test}"
# The system Python starts in a tenth of the time of a version-manager shim.
PY=$(command -v /usr/bin/python3 || command -v python3)
fail=0
check () { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok - $what"; else echo "not ok - $what"; sed 's/^/#   /' "$out"; fail=1; fi
}

out=$CK_TEST_ROOT/out err=$CK_TEST_ROOT/err
settings=$HOME/.claude/settings.json
# No network in tests: point the agent's API check at a closed local port
# (the agent is started by the bus, with the bus's environment).
gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.UpdateActivationEnvironment \
  "{'CLAUDE_KEYRING_API_BASE_URL': 'http://127.0.0.1:9'}" >/dev/null
doctor () { env "$@" "$CK_CLI" doctor --json >"$out" 2>"$err"; rc=$?; }
status_of () { # status_of ID: the status of that check ("" when absent)
  "$PY" -c '
import json, sys
checks = json.load(open(sys.argv[1]))
print(",".join(c["status"] for c in checks if c["id"] == sys.argv[2]))' "$out" "$1"
}
valid_json () {
  "$PY" -c '
import json, sys
checks = json.load(open(sys.argv[1]))
assert isinstance(checks, list) and checks
for c in checks:
    assert set(c) == {"id", "status", "summary", "detail"}, c
    assert c["status"] in ("ok", "warn", "fail"), c
    assert c["summary"] and "\n" not in c["summary"], c' "$out"
}

# A plaintext login left behind is what is checked below: the agent must
# not move it away first (set before the agent starts).
gsettings set io.github.claudekeyring.ClaudeKeyring auto-import false
printf '%s' test-api-key-0001 | "$CK_CLI" set-api-key >/dev/null 2>&1

doctor
check "json: well formed" valid_json
check "clean environment: ok" test "$(status_of environment)" = ok
check "no helper: ok" test "$(status_of claude-settings)" = ok
check "no plaintext login: ok" test "$(status_of plaintext-credentials)" = ok

doctor ANTHROPIC_API_KEY=test-api-key-env-0002 ANTHROPIC_API_KEY_HELPER=/bin/true \
       ANTHROPIC_AUTH_TOKEN=test-auth-0003 CLAUDE_CODE_OAUTH_TOKEN=test-oauth-env-0004 \
       CLAUDE_CODE_USE_BEDROCK=1
check "env: json" valid_json
check "env: ANTHROPIC_API_KEY warns" test "$(status_of env-anthropic-api-key)" = warn
check "env: ANTHROPIC_API_KEY_HELPER warns" test "$(status_of env-anthropic-api-key-helper)" = warn
check "env: ANTHROPIC_AUTH_TOKEN warns" test "$(status_of env-anthropic-auth-token)" = warn
check "env: CLAUDE_CODE_OAUTH_TOKEN warns" test "$(status_of env-claude-code-oauth-token)" = warn
check "env: Bedrock warns" test "$(status_of env-cloud-provider)" = warn
check "env: no all-clear" test "$(status_of environment)" = ""
check "env: no value printed" bash -c "! grep -q -e test-api-key -e test-auth -e test-oauth '$out' '$err'"

doctor CLAUDE_CODE_USE_VERTEX=1
check "env: Vertex warns" test "$(status_of env-cloud-provider)" = warn

# A helper of another program: warn, and name only the program.
mkdir -p "$HOME/.claude"
printf '{"apiKeyHelper": "echo test-secret-in-helper-0005"}\n' >"$settings"
doctor
check "other helper: warn" test "$(status_of claude-settings)" = warn
check "other helper: the command is not printed" bash -c "! grep -q test-secret-in-helper '$out'"

# Ours, with an API key stored: ok.
"$CK_CLI" setup-claude >/dev/null 2>&1
doctor
check "our helper + API key: ok" test "$(status_of claude-settings)" = ok

# Ours, with only an OAuth login: claude will fail.
"$CK_CLI" set-api-key --clear >/dev/null 2>&1
cat >"$HOME/.claude/.credentials.json" <<'JSON'
{"claudeAiOauth":{"accessToken":"test-oauth-token-0001","refreshToken":"test-refresh-token-0001","expiresAt":4102444800000,"scopes":["user:inference"]}}
JSON
"$CK_CLI" import --keep >/dev/null 2>&1
doctor
check "our helper + OAuth only: fail" test "$(status_of claude-settings)" = fail
check "our helper + OAuth only: exit 1" test "$rc" = 1
check "plaintext login: warn" test "$(status_of plaintext-credentials)" = warn
check "one check per id" test "$(status_of plaintext-credentials)" = warn

# The human form: one line per check, a mark, the details indented.
LC_ALL=C.UTF-8 "$CK_CLI" doctor >"$out" 2>"$err"; rc=$?
check "human: exit 1" test "$rc" = 1
check "human: the failure marked" grep -q '^✗ .*only a Claude login is stored' "$out"
check "human: the fix indented" grep -q '^    .*setup-claude --remove' "$out"
check "human: a summary" grep -Eq '^[0-9]+ ok, [0-9]+ warnings?, [0-9]+ failures?$' "$out"
LC_ALL=C "$CK_CLI" doctor >"$out" 2>"$err"
check "human, ASCII locale: ASCII marks" grep -q '^x .*only a Claude login is stored' "$out"
check "human, ASCII locale: no UTF-8" bash -c "! LC_ALL=C grep -q -P '[^\\x00-\\x7f]' '$out'"

"$CK_CLI" setup-claude --remove >/dev/null 2>&1
rm -f "$HOME/.claude/.credentials.json"
doctor
check "fixed: no failure from the settings" test "$(status_of claude-settings)" = ok

# The agent reads Claude Code's files in a worker thread: a home on a slow
# or hung file system must not stall every other caller on the main loop.
# strace names the thread that opens settings.json.
agent=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.GetConnectionUnixProcessID io.github.claudekeyring.ClaudeKeyring |
  sed -n 's/^(uint32 \([0-9]*\),)$/\1/p')
trace=$CK_TEST_ROOT/doctor.strace
attached=no
if command -v strace >/dev/null; then
  strace -f -q -o "$trace" -e trace=openat -p "$agent" 2>/dev/null &
  strace_pid=$!
  # Attached once the agent's first openat shows (a status call opens /proc).
  for _ in $(seq 50); do
    kill -0 "$strace_pid" 2>/dev/null || break
    "$CK_CLI" status >/dev/null 2>&1
    grep -q openat "$trace" 2>/dev/null && { attached=yes; break; }
    sleep 0.1
  done
fi
if [ $attached = yes ]; then
  doctor
  kill "$strace_pid"; wait "$strace_pid" 2>/dev/null
  opener=$(grep -F "$settings" "$trace" | head -n 1 | cut -d' ' -f1)
  check "the agent reads settings.json off its main thread (thread ${opener:-none}, agent $agent)" \
    eval '[ -n "$opener" ] && [ "$opener" != "$agent" ]'
else
  [ -n "${strace_pid:-}" ] && kill "$strace_pid" 2>/dev/null
  echo "ok - the agent reads settings.json off its main thread # SKIP strace cannot attach"
fi

exit $fail
