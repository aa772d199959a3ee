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
. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"
. "$(dirname "$0")/e2e-lib.sh"

LIFETIME=4   # seconds an access token lives
SLEEP=9      # seconds claude's tool takes: more than two tokens' lives
ISSUED='fake-(access|refresh)-[0-9]+-[0-9a-f]+'

ck_oauth_start_fake --expires-in "$LIFETIME"
ck_oauth_export_env
ck_set refresh-margin 1
e2e_setup
trap 'stop_api; ck_oauth_cleanup' EXIT
ck_login_loopback

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
check "plain claude: every request reached the API with a token valid then" \
  "$PY" - "$API_LOG" "$LIFETIME" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
entries = [e for e in entries if e["path"].split("?")[0] == "/v1/messages"]
problems = []
if len(entries) < 2:
    problems.append("%d requests" % len(entries))
for e in entries:
    h = e["headers"]
    if e["status"] != 200:
        problems.append("request %d answered %d" % (e["n"], e["status"]))
    if h["x-api-key"] is not None or "oauth-2025-04-20" not in (h["anthropic-beta"] or ""):
        problems.append("request %d: not a bearer token with the OAuth beta" % e["n"])
results = [e for e in entries if e["tool_result"]]
if not results or results[-1]["time"] - entries[0]["time"] < float(sys.argv[2]):
    problems.append("the session did not outlive a token")
if len({e["headers"]["authorization"] for e in entries}) < 2:
    problems.append("one access token served the whole session")
for p in problems:
    print("# " + p)
sys.exit(1 if problems else 0)
PY
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
