#!/bin/bash
# The real claude under `claude-keyring run` with a stored API key: the key
# arrives through the inherited fd, never in claude's environment.
set -uo pipefail
. "$(dirname "$0")/e2e-lib.sh"
e2e_setup

ENV_KEY=test-api-key-env-0002
# A delay keeps claude's request open while the test looks at claude.
start_api --accept "$KEY" --accept "$ENV_KEY" --delay 2
store_api_key

# env becomes claude-keyring, which becomes claude: one process, $pid.
claude_env_args
env "${CLAUDE_ENV_ARGS[@]}" "$CK_CLI" run -- "$CLAUDE" -p ping </dev/null >"$out" 2>"$err" &
pid=$!
for _ in $(seq 600); do
  [ -s "$API_LOG" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
environ=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null)
check "claude-keyring became claude (exec)" test "$exe" = "$(readlink -f "$CLAUDE")"
check "claude's environment names the fd" grep -q '^CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR=[0-9][0-9]*$' <<<"$environ"
check "claude's environment does not hold the key" bash -c '! grep -q "$1" <<<"$2"' _ "$KEY" "$environ"
check "no ANTHROPIC_API_KEY in claude's environment" bash -c '! grep -q "^ANTHROPIC_API_KEY=" <<<"$1"' _ "$environ"
# Bounded: claude answers right after the API's delay.
for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill "$pid" 2>/dev/null
wait "$pid"; rc=$?
check "run: exit 0" test "$rc" = 0
check "run: answered" grep -qx pong "$out"
check "run: the key as x-api-key only" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=absent anthropic-beta=present-no-oauth$' \
  --expect "$KEY"
stop_api

start_api --accept "$KEY" --accept "$ENV_KEY"

run_claude -- "$CK_CLI" run --env -- "$CLAUDE" -p ping
check "run --env: exit 0" test "$rc" = 0
check "run --env: the key as x-api-key" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=absent ' --expect "$KEY"

# ANTHROPIC_API_KEY already set: it wins in claude; run says so and runs.
clear_api_log
run_claude ANTHROPIC_API_KEY=$ENV_KEY -- "$CK_CLI" run -- "$CLAUDE" -p ping
check "env key: exit 0" test "$rc" = 0
check "env key: warned" grep -q ANTHROPIC_API_KEY "$err"
check "env key: claude sent the environment's key" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=absent ' --expect "$ENV_KEY"

# claude's own exit status passes through unchanged.
run_claude -- "$CLAUDE" --no-such-option-for-ck-test
direct=$rc
run_claude -- "$CK_CLI" run -- "$CLAUDE" --no-such-option-for-ck-test
check "exit status: claude's own ($direct)" test "$rc" = "$direct" -a "$direct" != 0

e2e_exit
