#!/bin/bash
# Plain claude (no wrapper) through the gateway after `claude-keyring
# setup-claude --gateway`: a `claude -p` session that outlives its access
# token (the fake OAuth server issues tokens that live a few seconds, the
# fake Messages API makes claude run a tool that takes longer) finishes
# with the answer, every request reaching the API with a token valid
# then; no issued token is in any file under HOME, settings.json holds only
# the gateway's token. After `setup-claude --remove` that token is refused
# and settings.json no longer has the entries.
# SPDX-License-Identifier: GPL-3.0-or-later
set -uo pipefail
. "$(dirname "$0")/e2e-gateway-lib.sh"

settings=$HOME/.claude/settings.json
env_get () { # env_get NAME: env.NAME of settings.json, or <absent>
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("env", {}).get(sys.argv[2], "<absent>"))' "$settings" "$1"
}

start_api --oauth-server "$CK_OAUTH_BASE" --tool-sleep "$SLEEP"
mkdir -p "$HOME/.claude"
printf '{\n  "model": "claude-sonnet-4-5"\n}\n' >"$settings"
# The caller's ANTHROPIC_BASE_URL (the fake API) becomes the session's upstream.
claude_env "$CK_CLI" setup-claude --gateway >"$out" 2>"$err"; rc=$?
check "setup-claude --gateway: exit $rc" test "$rc" = 0
url=$(env_get ANTHROPIC_BASE_URL)
check "settings: the gateway's URL" grep -Eq '^http://127\.0\.0\.1:[0-9]+$' <<<"$url"
check "settings: 0600" test "$(stat -c %a "$settings")" = 600

refreshes=$(ck_oauth_stat 'd["refresh_ok"]')
# Plain claude: nothing in its environment but what the settings give it.
start_claude env -u ANTHROPIC_BASE_URL "$CLAUDE" -p "Wait a while, then say so." \
  --allowedTools "Bash(python3:*)"
finish_claude 1800
check "plain claude: the session outlived its access token and finished (exit $rc)" test "$rc" = 0
check "plain claude: answered" grep -qx slept "$out"
check "plain claude: every request reached the API with a token valid then" requests_ok oauth
check "the agent refreshed meanwhile" test "$(ck_oauth_stat 'd["refresh_ok"]')" -gt "$refreshes"
check "no issued token in any file under HOME" bash -c '! grep -rEqs "$1" "$HOME"' _ "$ISSUED"

token=$(env_get CLAUDE_CODE_OAUTH_TOKEN)
gateway_status () {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H @<(printf 'Authorization: Bearer %s\n' "$token") \
    -H 'content-type: application/json' -d '{}' "$url/v1/messages"
}
"$CK_CLI" setup-claude --remove >"$out" 2>"$err"; rc=$?
check "setup-claude --remove: exit $rc" test "$rc" = 0
status=$(gateway_status)
check "after --remove the old token is refused ($status)" test "$status" = 401
check "after --remove: no ANTHROPIC_BASE_URL" test "$(env_get ANTHROPIC_BASE_URL)" = "<absent>"
check "after --remove: no token" test "$(env_get CLAUDE_CODE_OAUTH_TOKEN)" = "<absent>"
check "after --remove: the rest kept" grep -q claude-sonnet-4-5 "$settings"
unset token

e2e_exit
