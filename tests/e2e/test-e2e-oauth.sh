#!/bin/bash
# The real claude with an OAuth login imported into the agent: `run` (through
# the gateway, and --direct) sends it as Authorization: Bearer with the
# OAuth beta header; a helper, which
# would beat the login in claude, is refused or reported.
set -uo pipefail
. "$(dirname "$0")/e2e-lib.sh"
e2e_setup

start_api --accept "$TOKEN"
import_oauth
check "import: plaintext file removed" test ! -e "$HOME/.claude/.credentials.json"

run_claude -- "$CK_CLI" run -- "$CLAUDE" -p ping
check "run: exit 0" test "$rc" = 0
check "run: answered" grep -qx pong "$out"
check "run: Bearer token with the OAuth beta, no x-api-key" \
  all_requests_match '^POST /v1/messages 200 x-api-key=absent authorization=bearer-expected anthropic-beta=oauth$' \
  --expect "$TOKEN"

clear_api_log
run_claude -- "$CK_CLI" run --direct -- "$CLAUDE" -p ping
check "run --direct: Bearer token with the OAuth beta, no x-api-key" \
  all_requests_match '^POST /v1/messages 200 x-api-key=absent authorization=bearer-expected anthropic-beta=oauth$' \
  --expect "$TOKEN"

clear_api_log
run_claude -- "$CK_CLI" run --env -- "$CLAUDE" -p ping
check "run --env: Bearer token with the OAuth beta" \
  all_requests_match '^POST /v1/messages 200 x-api-key=absent authorization=bearer-expected anthropic-beta=oauth$' \
  --expect "$TOKEN"

# setup-claude refuses: a helper cannot carry an OAuth login.
"$CK_CLI" setup-claude >"$out" 2>"$err"; rc=$?
check "setup-claude with only OAuth: refused" test "$rc" = 1
check "setup-claude with only OAuth: points to run" grep -q "claude-keyring run" "$err"
check "setup-claude with only OAuth: settings untouched" test ! -e "$HOME/.claude/settings.json"

# Why: with our helper configured anyway, claude fails outright...
cli=$(readlink -f "$CK_CLI")
printf '{\n  "apiKeyHelper": "%s helper"\n}\n' "$cli" >"$HOME/.claude/settings.json"
clear_api_log
run_claude -- "$CLAUDE" -p ping
check "helper + OAuth only: claude fails" test "$rc" != 0 -a "$rc" != 124
check "helper + OAuth only: the login is never sent" \
  bash -c '! grep -q "bearer-expected" <<<"$1"' _ "$(api_report --expect "$TOKEN")"
# ...so run refuses to start it, and doctor reports it.
clear_api_log
run_claude -- "$CK_CLI" run -- "$CLAUDE" -p ping
check "run with a helper configured: refused" test "$rc" = 1
check "run with a helper configured: names the fix" grep -q "setup-claude --remove" "$err"
check "run with a helper configured: claude never started" test "$(request_count)" = 0
"$CK_CLI" doctor >"$out" 2>"$err"; rc=$?
check "doctor: fails on the combination" test "$rc" = 1

"$CK_CLI" setup-claude --remove >/dev/null 2>&1
clear_api_log
run_claude -- "$CK_CLI" run -- "$CLAUDE" -p ping
check "helper removed: run works again" test "$rc" = 0

e2e_exit
