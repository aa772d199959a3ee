#!/bin/bash
# The real claude under `claude-keyring run` with a stored API key: claude
# gets the gateway and a session token through the inherited fd, never the
# key, and the gateway sends the key upstream; with --direct the key
# itself arrives through the fd, never in claude's environment.
set -uo pipefail
. "$(dirname "$0")/e2e-lib.sh"
e2e_setup

ENV_KEY=test-api-key-env-0002
# A delay keeps claude's request open while the test looks at claude.
start_api --accept "$KEY" --accept "$ENV_KEY" --delay 2
store_api_key

# Through the gateway: claude-keyring stays, claude is its child.
start_claude "$CK_CLI" run -- "$CLAUDE" -p ping
claude_pid=$(pgrep -P "$pid" | head -n 1)
exe=$(readlink "/proc/$claude_pid/exe" 2>/dev/null)
environ=$(tr '\0' '\n' <"/proc/$claude_pid/environ" 2>/dev/null)
check "gateway: claude runs as claude-keyring's child" test "$exe" = "$(readlink -f "$CLAUDE")"
check "gateway: claude's environment names the fd" grep -q '^CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR=[0-9][0-9]*$' <<<"$environ"
check "gateway: claude's base URL is the gateway, not the API" \
  bash -c 'grep -Eq "^ANTHROPIC_BASE_URL=http://127\.0\.0\.1:[0-9]+$" <<<"$1" && ! grep -q ":$2\$" <<<"$1"' _ "$environ" "$API_PORT"
check "gateway: claude's environment does not hold the key" bash -c '! grep -q "$1" <<<"$2"' _ "$KEY" "$environ"
check "gateway: claude's argv does not hold the key" \
  bash -c '! tr "\0" "\n" <"/proc/$1/cmdline" | grep -q "$2"' _ "$claude_pid" "$KEY"
check "gateway: no ANTHROPIC_API_KEY in claude's environment" bash -c '! grep -q "^ANTHROPIC_API_KEY=" <<<"$1"' _ "$environ"
finish_claude
check "gateway: exit 0" test "$rc" = 0
check "gateway: answered" grep -qx pong "$out"
check "gateway: the key reached the API as x-api-key only" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=absent anthropic-beta=present-no-oauth$' \
  --expect "$KEY"

# --direct: env becomes claude-keyring, which becomes claude: one process, $pid.
start_claude "$CK_CLI" run --direct -- "$CLAUDE" -p ping
exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
environ=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null)
check "direct: claude-keyring became claude (exec)" test "$exe" = "$(readlink -f "$CLAUDE")"
check "direct: claude's environment names the fd" grep -q '^CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR=[0-9][0-9]*$' <<<"$environ"
check "direct: claude's base URL is the API's" grep -qx "ANTHROPIC_BASE_URL=http://127.0.0.1:$API_PORT" <<<"$environ"
check "direct: claude's environment does not hold the key" bash -c '! grep -q "$1" <<<"$2"' _ "$KEY" "$environ"
check "direct: no ANTHROPIC_API_KEY in claude's environment" bash -c '! grep -q "^ANTHROPIC_API_KEY=" <<<"$1"' _ "$environ"
finish_claude
check "direct: exit 0" test "$rc" = 0
check "direct: answered" grep -qx pong "$out"
check "direct: the key as x-api-key only" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=absent anthropic-beta=present-no-oauth$' \
  --expect "$KEY"
stop_api

start_api --accept "$KEY" --accept "$ENV_KEY"

run_claude -- "$CK_CLI" run --env -- "$CLAUDE" -p ping
check "run --env: exit 0" test "$rc" = 0
check "run --env: the key as x-api-key" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=absent ' --expect "$KEY"
clear_api_log
run_claude -- "$CK_CLI" run --direct --env -- "$CLAUDE" -p ping
check "run --direct --env: the key as x-api-key" \
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
run_claude -- "$CK_CLI" run --direct -- "$CLAUDE" --no-such-option-for-ck-test
check "exit status with --direct: claude's own ($direct)" test "$rc" = "$direct"

e2e_exit
