#!/bin/bash
# The real claude through the agent's gateway (`claude-keyring run`), in a
# `claude -p` session that outlives its access token: the project's fake
# OAuth server issues tokens that live a few seconds, and the fake
# Messages API makes claude run a tool that takes longer than that, then
# accepts only the access tokens the OAuth server takes as valid at that
# moment. The session must finish with the answer, every request must
# reach the API with a credential valid then, and no issued token may be
# in claude's environment, argv or any file under HOME; claude holds only
# the gateway's session token, which dies with the session. The same with
# an API key; and `run --direct` still hands claude the credential itself.
# SPDX-License-Identifier: GPL-3.0-or-later
set -uo pipefail
. "$(dirname "$0")/e2e-gateway-lib.sh"

# run_session [RUN OPTIONS...]: `claude-keyring run` of a claude -p session
# that runs the slow tool, in the background; once claude's first request
# is at the API, keeps claude's environment and argv in $environ and
# $cmdline; then waits for the end. Sets rc.
run_session () {
  local claude_pid
  start_claude "$CK_CLI" run "$@" -- "$CLAUDE" -p "Wait a while, then say so." \
    --allowedTools "Bash(python3:*)"
  claude_pid=$(pgrep -P "$pid" | head -n 1)
  environ=$(tr '\0' '\n' <"/proc/$claude_pid/environ" 2>/dev/null)
  cmdline=$(tr '\0' '\n' <"/proc/$claude_pid/cmdline" 2>/dev/null)
  finish_claude 1800
}

no_issued_token_in () { ! grep -Eq "$ISSUED" <<<"$1"; }
no_issued_token_under_home () { ! grep -rEqs "$ISSUED" "$HOME"; }
sessions () { ck_call GetStatus | sed -n "s/.*'gateway-sessions': <uint32 \([0-9]*\)>.*/\1/p"; }

# --- OAuth -------------------------------------------------------------------

start_api --oauth-server "$CK_OAUTH_BASE" --tool-sleep "$SLEEP"
refreshes=$(ck_oauth_stat 'd["refresh_ok"]')
run_session
check "oauth: the session outlived its access token and finished (exit $rc)" test "$rc" = 0
check "oauth: answered" grep -qx slept "$out"
check "oauth: every request reached the API with a token valid then" requests_ok oauth
check "oauth: the agent refreshed meanwhile" \
  test "$(ck_oauth_stat 'd["refresh_ok"]')" -gt "$refreshes"
check "oauth: claude was told it holds an OAuth token, on a pipe" \
  grep -q '^CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR=[0-9][0-9]*$' <<<"$environ"
check "oauth: claude's base URL is the gateway" \
  grep -Eq "^ANTHROPIC_BASE_URL=http://127\.0\.0\.1:[0-9]+$" <<<"$environ"
check "oauth: no issued token in claude's environment" no_issued_token_in "$environ"
check "oauth: no issued token in claude's argv" no_issued_token_in "$cmdline"
check "oauth: no issued token in any file under HOME" no_issued_token_under_home
check "oauth: the session ended with claude" test "$(sessions)" = 0

# With --env claude's environment holds the session token: only that, and
# it is refused once the session is over.
run_session --env
token=$(sed -n 's/^CLAUDE_CODE_OAUTH_TOKEN=//p' <<<"$environ")
gateway=$(sed -n 's/^ANTHROPIC_BASE_URL=//p' <<<"$environ")
check "oauth --env: finished with the answer" eval '[ "$rc" = 0 ] && grep -qx slept "$out"'
check "oauth --env: claude's environment holds a session token, no issued one" \
  eval '[[ $token =~ ^[A-Za-z0-9_-]{43}$ ]] && no_issued_token_in "$environ"'
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H @<(printf 'Authorization: Bearer %s\n' "$token") \
           -H 'content-type: application/json' -d '{}' "$gateway/v1/messages")
check "oauth --env: the session token is refused after the session ($status)" test "$status" = 401
unset token

# --- API key -----------------------------------------------------------------

stop_api
store_api_key
start_api --accept "$KEY" --tool-sleep 3
run_session
check "api key: finished with the answer (exit $rc)" eval '[ "$rc" = 0 ] && grep -qx slept "$out"'
check "api key: every request reached the API with the key as x-api-key only" requests_ok api-key
check "api key: it was the stored key" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=absent ' --expect "$KEY"
check "api key: claude was told it holds an API key, on a pipe" \
  grep -q '^CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR=[0-9][0-9]*$' <<<"$environ"
check "api key: not in claude's environment or argv" \
  bash -c '! grep -q "$1" <<<"$2$3"' _ "$KEY" "$environ" "$cmdline"
check "api key: not in any file under HOME" bash -c '! grep -rqs "$1" "$HOME"' _ "$KEY"

# --- run --direct ------------------------------------------------------------

stop_api
start_api --accept "$KEY"
run_claude -- "$CK_CLI" run --direct -- "$CLAUDE" -p ping
check "direct, api key: answered" eval '[ "$rc" = 0 ] && grep -qx pong "$out"'
check "direct, api key: the key as x-api-key" \
  all_requests_match '^POST /v1/messages 200 x-api-key=expected authorization=absent ' --expect "$KEY"

# An OAuth token handed over is good for an hour at least: tokens that
# live that long again.
"$CK_CLI" set-api-key --clear >/dev/null 2>&1
ck_oauth_mode '{"expires_in": 7200}'
stop_api
start_api --oauth-server "$CK_OAUTH_BASE"
run_claude -- "$CK_CLI" run --direct -- "$CLAUDE" -p ping
check "direct, oauth: answered" eval '[ "$rc" = 0 ] && grep -qx pong "$out"'
check "direct, oauth: a bearer token with the OAuth beta" \
  all_requests_match '^POST /v1/messages 200 x-api-key=absent authorization=bearer-other anthropic-beta=oauth$'

e2e_exit
