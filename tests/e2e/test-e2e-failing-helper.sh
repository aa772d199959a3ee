#!/bin/bash
# The real claude with `claude-keyring helper` configured and nothing
# stored: the helper fails cleanly, and claude reports it within seconds
# instead of sending junk or hanging.
set -uo pipefail
. "$(dirname "$0")/e2e-lib.sh"
e2e_setup

start_api --accept "$KEY"

"$CK_CLI" setup-claude >"$out" 2>"$err"; rc=$?
check "setup-claude with nothing stored: allowed, with a note" \
  bash -c '[ "$1" = 0 ] && grep -q "set-api-key" "$2"' _ "$rc" "$err"

CLAUDE_TIMEOUT=60 run_claude -- "$CLAUDE" -p ping
check "claude fails (exit $rc)" test "$rc" != 0 -a "$rc" != 124
check "claude fails within 30 s (took ${elapsed} s)" test "$elapsed" -le 30
check "claude names the helper" grep -q "apiKeyHelper" "$out" "$err"
check "claude shows the helper's advice" grep -q "claude-keyring set-api-key" "$out" "$err"
check "no request carried a key" \
  bash -c '! grep -Eq "x-api-key=(expected|other)|bearer-(expected|other)" <<<"$1"' _ "$(api_report --expect "$KEY")"

# Storing a key fixes it on the next start.
store_api_key
clear_api_log
run_claude -- "$CLAUDE" -p ping
check "key stored: claude works" test "$rc" = 0
check "key stored: answered" grep -qx pong "$out"

e2e_exit
