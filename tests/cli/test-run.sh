#!/bin/bash
# claude-keyring run: the credential reaches the command through an
# inherited pipe (or the environment with --env), nothing else changes, and
# the command's exit status is its own.
set -uo pipefail

: "${CK_CLI:?run through meson test}"
fail=0
check () { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok - $what"; else echo "not ok - $what"; sed 's/^/#   /' "$out"; fail=1; fi
}
lines () { [ -s "$1" ] && wc -l <"$1" || echo 0; }

KEY=test-api-key-0001
TOKEN=test-oauth-token-0001
out=$CK_TEST_ROOT/out err=$CK_TEST_ROOT/err marker=$CK_TEST_ROOT/ran

# A command that reports, without printing any secret, how it got its
# credential: "fd-key=match env-key=absent …".
probe=$CK_TEST_ROOT/probe
cat >"$probe" <<'PROBE'
#!/bin/bash
touch "$MARKER"
# The expected values come from a file: in the environment they would
# spoil the environ check.
{ read -r EXPECT_KEY; read -r EXPECT_TOKEN; } <"$EXPECT_FILE"
report () { # report NAME VALUE EXPECTED
  if [ -z "$2" ]; then echo "$1=absent"
  elif [ "$2" = "$3" ]; then echo "$1=match"
  else echo "$1=other"; fi
}
key_fd=${CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR:-}
oauth_fd=${CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR:-}
fd_key= fd_oauth=
[ -n "$key_fd" ] && fd_key=$(cat <&"$key_fd")
[ -n "$oauth_fd" ] && fd_oauth=$(cat <&"$oauth_fd")
environ=$(tr '\0' '\n' </proc/$$/environ)
in_environ=no
grep -q -e "$EXPECT_KEY" -e "$EXPECT_TOKEN" <<<"$environ" && in_environ=yes
echo "$(report fd-key "$fd_key" "$EXPECT_KEY") $(report fd-oauth "$fd_oauth" "$EXPECT_TOKEN")" \
     "$(report env-key "${ANTHROPIC_API_KEY:-}" "$EXPECT_KEY") $(report env-oauth "${CLAUDE_CODE_OAUTH_TOKEN:-}" "$EXPECT_TOKEN")" \
     "in-environ=$in_environ fd-low=$([ -n "$key_fd$oauth_fd" ] && [ "${key_fd:-$oauth_fd}" -lt 3 ] && echo yes || echo no)"
exit "${EXIT_WITH:-0}"
PROBE
chmod +x "$probe"
printf '%s\n%s\n' "$KEY" "$TOKEN" >"$CK_TEST_ROOT/expect"
export MARKER=$marker EXPECT_FILE=$CK_TEST_ROOT/expect

run () { # run [ENV=VALUE…] -- ARGS: claude-keyring run ARGS; sets rc
  rm -f "$marker"
  env "$@" >"$out" 2>"$err"; rc=$?
}

# Nothing stored: one line, and the command never starts.
run "$CK_CLI" run -- "$probe"
check "nothing stored: exit 1" test "$rc" = 1
check "nothing stored: one line" test "$(lines "$err")" = 1
check "nothing stored: the command did not run" test ! -e "$marker"

printf '%s' "$KEY" | "$CK_CLI" set-api-key >/dev/null 2>&1

run "$CK_CLI" run -- "$probe"
check "api key: exit 0" test "$rc" = 0
check "api key: passed through the fd only" \
  test "$(cat "$out")" = "fd-key=match fd-oauth=absent env-key=absent env-oauth=absent in-environ=no fd-low=no"
check "api key: quiet" test ! -s "$err"

run "$CK_CLI" run "$probe"
check "api key, without --: the same" \
  test "$(cat "$out")" = "fd-key=match fd-oauth=absent env-key=absent env-oauth=absent in-environ=no fd-low=no"

# stdin closed: the pipe must not land on fd 0.
rm -f "$marker"
"$CK_CLI" run -- "$probe" <&- >"$out" 2>"$err"
check "stdin closed: the fd is still 3 or above" grep -q "fd-key=match .*fd-low=no" "$out"

run "$CK_CLI" run --env -- "$probe"
check "--env: ANTHROPIC_API_KEY" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=absent env-key=match env-oauth=absent in-environ=yes fd-low=no"

run EXIT_WITH=42 "$CK_CLI" run -- "$probe"
check "exit status passed through" test "$rc" = 42

run "$CK_CLI" run -- sh -c 'kill -TERM $$'
check "death by signal passed through" test "$rc" = 143

check "stdin passed through" test "$(echo hello | "$CK_CLI" run -- cat 2>/dev/null)" = hello

run "$CK_CLI" run -- printf '%s\n' --env --help
check "options after the command are the command's" test "$(cat "$out")" = $'--env\n--help'

run "$CK_CLI" run -- no-such-command-for-ck-test
check "command not found: 127" test "$rc" = 127
check "command not found: one line" test "$(lines "$err")" = 1

# The default command is claude, found in PATH.
bin=$CK_TEST_ROOT/bin
mkdir -p "$bin"
ln -s "$probe" "$bin/claude"
run PATH="$bin:$PATH" "$CK_CLI" run
check "default command: claude from PATH" grep -q "fd-key=match" "$out"

run PATH=/nonexistent "$CK_CLI" run
check "no claude in PATH: 127" test "$rc" = 127
check "no claude in PATH: says so" grep -q "claude" "$err"

# ANTHROPIC_API_KEY wins in claude: say so, change nothing, still run.
run ANTHROPIC_API_KEY=test-api-key-env-0002 "$CK_CLI" run -- "$probe"
check "env key: still runs" test "$rc" = 0
check "env key: warns on one line" test "$(lines "$err")" = 1
check "env key: warning names the variable" grep -q ANTHROPIC_API_KEY "$err"
check "env key: nothing added" grep -q "fd-key=absent fd-oauth=absent env-key=other" "$out"

# An OAuth login only.
"$CK_CLI" set-api-key --clear >/dev/null 2>&1
mkdir -p "$HOME/.claude"
cat >"$HOME/.claude/.credentials.json" <<JSON
{"claudeAiOauth":{"accessToken":"$TOKEN","refreshToken":"test-refresh-token-0001","expiresAt":4102444800000,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}
JSON
"$CK_CLI" import >/dev/null 2>&1

run "$CK_CLI" run -- "$probe"
check "oauth: exit 0" test "$rc" = 0
check "oauth: passed through the fd only" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=match env-key=absent env-oauth=absent in-environ=no fd-low=no"

run "$CK_CLI" run --env -- "$probe"
check "oauth --env: CLAUDE_CODE_OAUTH_TOKEN" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=absent env-key=absent env-oauth=match in-environ=yes fd-low=no"

run ANTHROPIC_AUTH_TOKEN=test-other-0003 "$CK_CLI" run -- "$probe"
check "oauth + ANTHROPIC_AUTH_TOKEN: warns" grep -q ANTHROPIC_AUTH_TOKEN "$err"

# A configured apiKeyHelper would beat the login in claude: refuse.
printf '{\n  "model": "opus",\n  "apiKeyHelper": "/usr/bin/true"\n}\n' >"$HOME/.claude/settings.json"
run "$CK_CLI" run -- "$probe"
check "oauth + helper: exit 1" test "$rc" = 1
check "oauth + helper: one line" test "$(lines "$err")" = 1
check "oauth + helper: names the fix" grep -q "setup-claude --remove" "$err"
check "oauth + helper: the command did not run" test ! -e "$marker"
rm -f "$HOME/.claude/settings.json"

# An untrusted checkout: run reads its .claude/settings*.json, which may be
# a link to /dev/zero (once took run into the OOM killer) or a FIFO (hung
# it). Both are passed over at once; the command runs.
checkout=$CK_TEST_ROOT/checkout
mkdir -p "$checkout/.claude"
ln -s /dev/zero "$checkout/.claude/settings.local.json"
mkfifo "$checkout/.claude/settings.json"
t0=$(date +%s%N)
cd "$checkout" && run timeout 20 "$CK_CLI" run -- "$probe"; cd - >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
check "hostile settings: the command ran (exit $rc) within 5 s (${ms} ms)" \
  eval '[ "$rc" = 0 ] && [ -e "$marker" ] && [ "$ms" -lt 5000 ]'
check "hostile settings: the login went through the fd" grep -q "fd-oauth=match" "$out"

for f in "$out" "$err"; do
  if grep -q -e "$KEY" -e "$TOKEN" "$f"; then
    echo "not ok - a secret was printed"; fail=1
  fi
done

exit $fail
