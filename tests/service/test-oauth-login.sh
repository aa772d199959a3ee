#!/bin/bash
# OAuth login through the real, D-Bus-activated agent against the fake
# server, the way a person does it:
#  1. loopback login: `login --no-browser` prints the URL, a "browser"
#     (play-browser.py) approves, the CLI reports the account; status and
#     token then show what the server issued. The whole login is timed.
#  2. manual login: `login --manual` for a browser on another machine, the
#     user pastes CODE#STATE with `login --code`; a code of another login is
#     refused with InvalidArgument and the login stays pending.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

ck_oauth_start_fake
ck_oauth_export_env

# --- 1. Loopback login like a person ---------------------------------------
# Proves: URL at once on stdout, PKCE + state accepted by the server, the
# loopback callback reaches the agent, the code exchange and profile work,
# and the CLI exits 0 with the account.
t0=$(now_ms)
ck_login_start login --no-browser || bail "login printed no authorize URL: $(cat "$CK_TEST_ROOT/login.err")"
t_url=$(now_ms)
"$PY" "$CK_SUPPORT/play-browser.py" "$login_url" 2>"$CK_TEST_ROOT/browser.log"
browser_status=$?
ck_login_wait 20
t1=$(now_ms)
info "login wall time: $((t1 - t0)) ms (URL after $((t_url - t0)) ms, including agent activation)"
check "the browser's callback was accepted (2xx page)" [ "$browser_status" -eq 0 ]
[ "$login_status" -eq 0 ] || bail "login exited $login_status: $(tr '\n' ' ' <"$CK_TEST_ROOT/login.err")"
ok "login --no-browser exits 0 after the browser approves"
check "login prints the account on stdout" grep -q 'tester@example.com' "$CK_TEST_ROOT/login.out"
check "the server saw one code exchange" [ "$(ck_oauth_stat 'd["exchange_ok"]')" = 1 ]
check "the code exchange repeated the authorize redirect_uri (loopback /callback)" \
  [ "$(ck_oauth_stat 'd["last_token_request"]["redirect_uri"].startswith("http://localhost:") and d["last_token_request"]["redirect_uri"].endswith("/callback")')" = True ]

# Proves: status --json carries what the server said about the account.
status_json=$("$CK_CLI" status --json 2>/dev/null)
field () { printf '%s' "$status_json" | "$PY" -S -c 'import json, sys; d = json.load(sys.stdin); v = eval(sys.argv[1]); print("" if v is None else v)' "$1"; }
check "status --json: state logged-in" [ "$(field 'd["state"]')" = logged-in ]
check "status --json: source oauth" [ "$(field 'd["source"]')" = oauth ]
check "status --json: account" [ "$(field 'd["account"]')" = tester@example.com ]
check "status --json: organization" [ "$(field 'd["organization"]')" = "Fake Org" ]
check "status --json: subscription from the profile" [ "$(field 'd["subscription"]')" = max ]
now=$(date +%s)
exp=$(field 'd["expires-at"]')
check "status --json: expires-at about an hour ahead ($((exp - now)) s)" \
  eval '[ "$exp" -gt $((now + 3500)) ] && [ "$exp" -le $((now + 3601)) ]'
check "status --json: scopes" [ "$(field '" ".join(d["scopes"])')" = "user:profile user:inference user:sessions:claude_code" ]
check "status --json holds no token" eval '! printf "%s" "$status_json" | grep -q fake-'

# Proves: token prints the issued access token alone.
token=$("$CK_CLI" token 2>"$CK_TEST_ROOT/token.err")
check "token exits 0 and prints a fake access token" eval '[[ $token =~ ^fake-access-[0-9]+-[0-9a-f]+$ ]]'
check "token wrote nothing on stderr" [ ! -s "$CK_TEST_ROOT/token.err" ]
check "no refresh was needed" [ "$(ck_oauth_stat 'd["refresh_calls"]')" = 0 ]

# Proves: GetCredential returns the DESIGN.md dict for the OAuth login.
cred=$(ck_call GetCredential "{}" 2>&1)
check "GetCredential: kind oauth, source oauth, the same token" \
  eval '[[ $cred == *"'"'"'kind'"'"': <'"'"'oauth'"'"'>"* && $cred == *"'"'"'source'"'"': <'"'"'oauth'"'"'>"* && $cred == *"<'"'"'$token'"'"'>"* ]]'
cred_exp=$(printf '%s' "$cred" | sed -n "s/.*'expires-at': <int64 \([0-9]*\)>.*/\1/p")
check "GetCredential: expires-at in unix seconds, as status says ($cred_exp)" \
  eval '[ "${cred_exp:-0}" -ge $((exp - 1)) ] && [ "${cred_exp:-0}" -le $((exp + 1)) ]'

# --- 2. Manual login (code shown on a web page, pasted) ---------------------
# The fake server has no manual page, so the "browser" stops at the
# redirect to the manual callback URL and reads CODE#STATE from it: that
# is what the page would show. (test-oauth-oidc.sh scrapes the real page.)
ck_login_start manual --manual --no-browser || bail "login --manual printed no URL: $(cat "$CK_TEST_ROOT/manual.err")"
check "the manual login redirects to the manual page" \
  eval '[[ $login_url == *redirect_uri=$("$PY" -c "import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=\"\"))" "$CK_OAUTH_MANUAL_URL")* ]]'
code=$("$PY" "$CK_SUPPORT/play-browser.py" --no-callback --print-code \
  --stop-at-host-port-prefix "$CK_OAUTH_MANUAL_URL" "$login_url" 2>"$CK_TEST_ROOT/browser.log") ||
  bail "the browser got no code: $(tr '\n' ' ' <"$CK_TEST_ROOT/browser.log")"
real_state=${code#*#}

# Proves: a pasted code of another login (wrong state) is refused with
# InvalidArgument, never sent to the server, and the login stays pending.
exchanges_before=$(ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)')
reply=$(ck_call CompleteLogin "${code%%#*}#wrong-state-0123456789abcdef" 2>&1)
check "CompleteLogin with a wrong state fails with InvalidArgument" \
  eval '[[ $reply == *io.github.claudekeyring.Error.InvalidArgument* ]]'
reply=$(ck_call CompleteLogin "no-hash-at-all" 2>&1)
check "CompleteLogin without #state fails with InvalidArgument" \
  eval '[[ $reply == *io.github.claudekeyring.Error.InvalidArgument* ]]'
"$CK_CLI" login --code "bogus-code#$real_state-x" >"$CK_TEST_ROOT/wrong.out" 2>"$CK_TEST_ROOT/wrong.err"
rc=$?
check "login --code with a wrong state exits non-zero" [ "$rc" -ne 0 ]
check "... with nothing on stdout" [ ! -s "$CK_TEST_ROOT/wrong.out" ]
check "... and one stderr line" [ "$(wc -l <"$CK_TEST_ROOT/wrong.err")" -eq 1 ]
check "the refused codes never reached the token endpoint" \
  [ "$(ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)')" = "$exchanges_before" ]
check "the login is still pending" [ "$(ck_status_field 'd["state"]')" = login-pending ]
check "the waiting login --manual still runs" kill -0 "$login_pid"

# Proves: the right CODE#STATE completes the login, for the pasting
# process and for the one that waits.
"$CK_CLI" login --code "$code" >"$CK_TEST_ROOT/code.out" 2>"$CK_TEST_ROOT/code.err"
rc=$?
check "login --code CODE#STATE exits 0" [ "$rc" -eq 0 ]
check "login --code reports the account" grep -q 'tester@example.com' "$CK_TEST_ROOT/code.out"
ck_login_wait 20
check "the waiting login --manual exits 0" [ "$login_status" -eq 0 ]
check "the manual code exchange used the manual redirect_uri" \
  [ "$(ck_oauth_stat 'd["last_token_request"]["redirect_uri"]')" = "$CK_OAUTH_MANUAL_URL" ]
token2=$("$CK_CLI" token 2>/dev/null)
check "the new login replaced the tokens" eval '[[ $token2 == fake-access-* && $token2 != "$token" ]]'
check "status is logged-in again" [ "$(ck_status_field 'd["state"]')" = logged-in ]

# --- 3. The code exchange fails -------------------------------------------------
# Proves: a failed exchange (server error, no answer within http-timeout,
# code refused) ends the login at once with one error line; the stored
# login stays.
ck_set http-timeout 2
for mode in 500 hang invalid_grant; do
  ck_oauth_mode "{\"exchange\": \"$mode\"}"
  ck_login_start "exchange-$mode" --no-browser || bail "login printed no URL"
  t0=$(now_ms)
  "$PY" "$CK_SUPPORT/play-browser.py" "$login_url" 2>/dev/null
  ck_login_wait 20
  ms=$(($(now_ms) - t0))
  check "exchange $mode: login exits 1 within 6 s ($login_status, $ms ms)" \
    eval '[ "$login_status" -eq 1 ] && [ "$ms" -lt 6000 ]'
  check "exchange $mode: one error line, no secret" \
    eval '[ "$(grep -c "^claude-keyring: " "$CK_TEST_ROOT/exchange-$mode.err")" -eq 1 ] && ! grep -q fake- "$CK_TEST_ROOT/exchange-$mode.err"'
  info "exchange $mode: $(grep '^claude-keyring: ' "$CK_TEST_ROOT/exchange-$mode.err")"
done
ck_oauth_mode '{"exchange": "ok"}'
check "after failed logins the stored login is still used" [ "$("$CK_CLI" token 2>/dev/null)" = "$token2" ]

# --- 4. Nobody comes back from the browser -----------------------------------
# Proves: login-timeout ends a login nobody completes: the CLI exits
# non-zero with one error line, the loopback port is closed, the stored
# login stays. (10 s is the shortest the schema allows.)
ck_set login-timeout 10
ck_login_start abandoned --no-browser || bail "login printed no URL: $(cat "$CK_TEST_ROOT/abandoned.err")"
redirect=$(PY_URL=$login_url "$PY" -c 'import os, urllib.parse; print(urllib.parse.parse_qs(urllib.parse.urlsplit(os.environ["PY_URL"]).query)["redirect_uri"][0])')
t0=$(now_ms)
ck_login_wait 25
ms=$(($(now_ms) - t0))
check "an abandoned login ends after login-timeout ($ms ms, exit $login_status)" \
  eval '[ "$login_status" -ne 0 ] && [ "$login_status" -ne 124 ] && [ "$ms" -lt 15000 ]'
check "... with one error line" [ "$(grep -c '^claude-keyring: ' "$CK_TEST_ROOT/abandoned.err")" -eq 1 ]
info "abandoned: $(grep '^claude-keyring: ' "$CK_TEST_ROOT/abandoned.err")"
check "... its loopback port is closed (nobody is told 'You are logged in' later)" eval '! curl -s -o /dev/null --max-time 3 "$redirect"'
check "... and the stored login is still there" [ "$(ck_status_field 'd["state"]')" = logged-in ]

ck_done
