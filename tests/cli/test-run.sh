#!/bin/bash
# claude-keyring run: the command gets the agent's gateway in
# ANTHROPIC_BASE_URL and a session token (with --direct: the credential
# itself) through an inherited pipe (or the environment with --env);
# nothing else changes, the session ends with the command, and the
# command's exit status and signals are its own.
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
  elif [[ $2 =~ ^[A-Za-z0-9_-]{43}$ ]]; then echo "$1=session"
  else echo "$1=other"; fi
}
case ${ANTHROPIC_BASE_URL:-} in
  "") base_url=absent ;;
  http://127.0.0.1:[0-9]*) base_url=gateway ;;
  *) base_url=other ;;
esac
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
     "in-environ=$in_environ fd-low=$([ -n "$key_fd$oauth_fd" ] && [ "${key_fd:-$oauth_fd}" -lt 3 ] && echo yes || echo no)" \
     "base-url=$base_url"
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

sessions () { # the number of open gateway sessions
  gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring \
    --object-path /io/github/claudekeyring/ClaudeKeyring \
    --method io.github.claudekeyring.Credentials1.GetStatus |
    sed -n "s/.*'gateway-sessions': <uint32 \([0-9]*\)>.*/\1/p"
}

run "$CK_CLI" run -- "$probe"
check "api key: exit 0" test "$rc" = 0
check "api key: a session token through the fd only, the gateway as the base URL" \
  test "$(cat "$out")" = "fd-key=session fd-oauth=absent env-key=absent env-oauth=absent in-environ=no fd-low=no base-url=gateway"
check "api key: quiet" test ! -s "$err"
check "api key: the session ended with the command" test "$(sessions)" = 0

run "$CK_CLI" run "$probe"
check "api key, without --: the same" \
  test "$(cat "$out")" = "fd-key=session fd-oauth=absent env-key=absent env-oauth=absent in-environ=no fd-low=no base-url=gateway"

run "$CK_CLI" run --direct -- "$probe"
check "api key --direct: the key itself through the fd, no base URL" \
  test "$(cat "$out")" = "fd-key=match fd-oauth=absent env-key=absent env-oauth=absent in-environ=no fd-low=no base-url=absent"

# stdin closed: the pipe must not land on fd 0.
for mode in --direct ""; do
  rm -f "$marker"
  "$CK_CLI" run ${mode:+"$mode"} -- "$probe" <&- >"$out" 2>"$err"
  check "stdin closed (${mode:-gateway}): the fd is still 3 or above" grep -q "fd-key=[ms].* fd-low=no" "$out"
done

run "$CK_CLI" run --env -- "$probe"
check "--env: the session token in ANTHROPIC_API_KEY" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=absent env-key=session env-oauth=absent in-environ=no fd-low=no base-url=gateway"

run "$CK_CLI" run --direct --env -- "$probe"
check "--direct --env: ANTHROPIC_API_KEY" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=absent env-key=match env-oauth=absent in-environ=yes fd-low=no base-url=absent"

# A base URL of the caller's is where the gateway goes; the command sees
# the gateway. Only https, or http to loopback.
run ANTHROPIC_BASE_URL=https://api.example.com "$CK_CLI" run -- "$probe"
check "ANTHROPIC_BASE_URL: replaced by the gateway" grep -q "fd-key=session .*base-url=gateway" "$out"
run ANTHROPIC_BASE_URL=http://api.example.com "$CK_CLI" run -- "$probe"
check "ANTHROPIC_BASE_URL over plain http: refused (exit 1, one line naming it)" \
  eval '[ "$rc" = 1 ] && [ "$(lines "$err")" = 1 ] && grep -q ANTHROPIC_BASE_URL "$err" && [ ! -e "$marker" ]'

# Signals sent to run alone reach the command; a terminal's Ctrl-C, which
# reaches both, reaches the command once.
notes=$CK_TEST_ROOT/signals
cat >"$CK_TEST_ROOT/signals.py" <<'PY'
import signal, sys, time
counts = {}
def note(n, f):
    name = signal.Signals(n).name
    counts[name] = counts.get(name, 0) + 1
    open(sys.argv[1], "a").write(name + "\n")
    if n == signal.SIGTERM:
        sys.exit(7)
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, note)
open(sys.argv[1], "a").write("ready\n")
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    time.sleep(0.05)
open(sys.argv[1], "a").write("end\n")
PY
rm -f "$notes"
"$CK_CLI" run -- /usr/bin/python3 "$CK_TEST_ROOT/signals.py" "$notes" 30 >"$out" 2>"$err" &
run_pid=$!
for _ in $(seq 200); do grep -q ready "$notes" 2>/dev/null && break; sleep 0.05; done
kill -HUP "$run_pid"; sleep 0.3; kill -TERM "$run_pid"
wait "$run_pid"; rc=$?
check "SIGHUP and SIGTERM to run reach the command (exit $rc)" \
  eval '[ "$rc" = 7 ] && [ "$(tr "\n" " " <"$notes")" = "ready SIGHUP SIGTERM " ]'
# In a terminal of its own (a pty): Ctrl-C signals the foreground group.
rm -f "$notes"
ctrl_c=$(/usr/bin/python3 - "$CK_CLI" "$CK_TEST_ROOT/signals.py" "$notes" <<'PY'
import os, pty, sys, time
cli, script, notes = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(cli, [cli, "run", "--", "/usr/bin/python3", script, notes, "3"])
for _ in range(200):
    if os.path.exists(notes) and "ready" in open(notes).read():
        break
    time.sleep(0.05)
os.write(fd, b"\x03")
try:
    while os.read(fd, 1024):
        pass
except OSError:
    pass
_, status = os.waitpid(pid, 0)
print(" ".join(open(notes).read().split()), os.waitstatus_to_exitcode(status))
PY
)
check "Ctrl-C in a terminal reaches the command once; run waits for it ($ctrl_c)" \
  test "$ctrl_c" = "ready SIGINT end 0"

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
check "default command: claude from PATH" grep -q "fd-key=session" "$out"

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
check "oauth: a session token through the OAuth fd only" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=session env-key=absent env-oauth=absent in-environ=no fd-low=no base-url=gateway"

run "$CK_CLI" run --direct -- "$probe"
check "oauth --direct: the token itself through the fd only" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=match env-key=absent env-oauth=absent in-environ=no fd-low=no base-url=absent"

run "$CK_CLI" run --env -- "$probe"
check "oauth --env: the session token in CLAUDE_CODE_OAUTH_TOKEN" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=absent env-key=absent env-oauth=session in-environ=no fd-low=no base-url=gateway"

run "$CK_CLI" run --direct --env -- "$probe"
check "oauth --direct --env: CLAUDE_CODE_OAUTH_TOKEN" \
  test "$(cat "$out")" = "fd-key=absent fd-oauth=absent env-key=absent env-oauth=match in-environ=yes fd-low=no base-url=absent"

run ANTHROPIC_AUTH_TOKEN=test-other-0003 "$CK_CLI" run -- "$probe"
check "oauth + ANTHROPIC_AUTH_TOKEN: warns" grep -q ANTHROPIC_AUTH_TOKEN "$err"

# A configured apiKeyHelper would beat the login in claude: refuse.
printf '{\n  "model": "opus",\n  "apiKeyHelper": "/usr/bin/true"\n}\n' >"$HOME/.claude/settings.json"
run "$CK_CLI" run -- "$probe"
check "oauth + helper: exit 1" test "$rc" = 1
check "oauth + helper: one line" test "$(lines "$err")" = 1
check "oauth + helper: names the fix" grep -q "setup-claude --remove" "$err"
check "oauth + helper: the command did not run" test ! -e "$marker"
run "$CK_CLI" run --direct -- "$probe"
check "oauth + helper, --direct: refused too" eval '[ "$rc" = 1 ] && [ ! -e "$marker" ]'

# Our own helper hands claude the API key itself: run goes direct, and
# says why.
printf '%s' "$KEY" | "$CK_CLI" set-api-key >/dev/null 2>&1
printf '{\n  "apiKeyHelper": "%s helper"\n}\n' "$CK_CLI" >"$HOME/.claude/settings.json"
run "$CK_CLI" run -- "$probe"
check "api key + our helper: the key itself, no gateway" \
  grep -q "fd-key=match .*base-url=absent" "$out"
check "api key + our helper: says so on one line" \
  eval '[ "$(lines "$err")" = 1 ] && grep -q "setup-claude --remove" "$err"'
"$CK_CLI" set-api-key --clear >/dev/null 2>&1
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
check "hostile settings: the session went through the fd" grep -q "fd-oauth=session" "$out"

for f in "$out" "$err"; do
  if grep -q -e "$KEY" -e "$TOKEN" "$f"; then
    echo "not ok - a secret was printed"; fail=1
  fi
done

exit $fail
