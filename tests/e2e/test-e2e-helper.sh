#!/bin/bash
# The real claude with `claude-keyring setup-claude`: claude runs
# `claude-keyring helper` and sends the stored key as x-api-key.
set -uo pipefail
. "$(dirname "$0")/e2e-lib.sh"
e2e_setup

ENV_KEY=test-api-key-env-0002
start_api --accept "$KEY" --accept "$ENV_KEY"
store_api_key

"$CK_CLI" setup-claude >"$out" 2>"$err"; rc=$?
check "setup-claude: exit 0" test "$rc" = 0

run_claude -- "$CLAUDE" -p ping
check "claude: exit 0" test "$rc" = 0
check "claude: answered" grep -qx pong "$out"
check "claude: the stored key as x-api-key (and Bearer), no OAuth beta" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=bearer-expected anthropic-beta=present-no-oauth$' \
  --expect "$KEY"

# ANTHROPIC_API_KEY in the environment wins over the helper's x-api-key.
clear_api_log
run_claude ANTHROPIC_API_KEY=$ENV_KEY -- "$CLAUDE" -p ping
check "env key + helper: exit 0" test "$rc" = 0
check "env key + helper: x-api-key is the environment's" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected ' --expect "$ENV_KEY"

# A new key is picked up on the next start: no cache in between.
printf '%s' "$ENV_KEY" | "$CK_CLI" set-api-key >/dev/null 2>&1
clear_api_log
run_claude -- "$CLAUDE" -p ping
check "new key: used at once" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=bearer-expected ' --expect "$ENV_KEY"

# Removing the helper leaves claude without a credential, as before.
"$CK_CLI" setup-claude --remove >/dev/null 2>&1
clear_api_log
run_claude -- "$CLAUDE" -p ping
check "helper removed: claude not logged in" test "$rc" != 0
check "helper removed: no request" test "$(request_count)" = 0

e2e_exit
