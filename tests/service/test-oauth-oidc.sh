#!/bin/bash
# The agent against oidc-provider, a strict real OAuth 2 server (PKCE S256
# enforced, exact redirect_uri, rotating refresh tokens whose reuse revokes
# the whole grant):
#  1. loopback login, then a forced refresh: one refresh at the server, a
#     new access token, and the rotated refresh token stored in the keyring
#     (a restarted agent refreshes with it; reuse of the old one would have
#     revoked the grant);
#  2. logout revokes at the server and removes the tokens;
#  3. a manual login with the server's real code page (play-browser --manual).
# Skips (77) only when oidc-provider is not installed and cannot be.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

ck_oauth_start_oidc --access-ttl 3600
ck_oauth_export_env

# Force a refresh: ask for more validity than the token can have (1 h).
force_refresh () { ck_call GetCredential "{'min-validity': <uint32 7200>}"; }
token_of () { sed -n "s/.*'token': <'\([^']*\)'>.*/\1/p"; }
profile_status () {
  curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$CK_OAUTH_BASE/api/oauth/profile"
}

# --- 1. Login and refresh ----------------------------------------------------
# Proves: the agent's PKCE, state and redirect_uri satisfy a strict server.
t0=$(now_ms)
ck_login_loopback
info "login wall time against oidc-provider: $(($(now_ms) - t0)) ms"
ok "loopback login against oidc-provider"
check "login reports the account from the profile" grep -q 'oidc-user@example.org' "$CK_TEST_ROOT/login.out"
check "status --json: logged-in as oidc-user@example.org" \
  [ "$(ck_status_field 'd["state"] + " " + d["account"] + " " + d["subscription"]')" = "logged-in oidc-user@example.org pro" ]
check "status --json: the granted scopes" \
  [ "$(ck_status_field '" ".join(sorted(d["scopes"]))')" = "user:file_upload user:inference user:mcp_servers user:profile user:sessions:claude_code" ]
access1=$("$CK_CLI" token 2>/dev/null)
check "token prints an access token" [ -n "$access1" ]
check "the server accepts that access token" [ "$(profile_status "$access1")" = 200 ]

# Proves: one refresh, a new access token the server accepts.
reply=$(force_refresh 2>&1)
access2=$(printf '%s' "$reply" | token_of)
check "GetCredential with min-validity beyond the lifetime refreshes" eval '[ -n "$access2" ] && [ "$access2" != "$access1" ]'
check "the server saw exactly one refresh" [ "$(ck_oauth_stat 'd["refreshes"]')" = 1 ]
check "... and no failed one" [ "$(ck_oauth_stat 'd["refresh_failures"]')" = 0 ]
check "the refreshed access token is accepted by the server" [ "$(profile_status "$access2")" = 200 ]
check "token now prints the refreshed token" [ "$("$CK_CLI" token 2>/dev/null)" = "$access2" ]
check "status --json: still logged-in with the account" \
  [ "$(ck_status_field 'd["state"] + " " + d["account"]')" = "logged-in oidc-user@example.org" ]

# Proves: the rotated refresh token reached the keyring. A new agent reads
# only the keyring; had it kept the spent refresh token, the server would
# answer invalid_grant and revoke the grant.
pid=$(ck_agent_pid)
kill "$pid" 2>/dev/null
for _ in $(seq 100); do agent_running || break; sleep 0.05; done
agent_running && bail "the agent did not exit"
reply=$(force_refresh 2>&1)
access3=$(printf '%s' "$reply" | token_of)
check "a restarted agent refreshes with the rotated refresh token from the keyring" \
  eval '[ -n "$access3" ] && [ "$access3" != "$access2" ]'
check "the server saw two refreshes and no failure" \
  [ "$(ck_oauth_stat '"%d/%d" % (d["refreshes"], d["refresh_failures"])')" = 2/0 ]
check "the grant is intact (newest token accepted)" [ "$(profile_status "$access3")" = 200 ]

# --- 2. Logout ---------------------------------------------------------------
# Proves: logout revokes at the server and leaves no secret behind.
"$CK_CLI" logout >"$CK_TEST_ROOT/logout.out" 2>"$CK_TEST_ROOT/logout.err"
check "logout exits 0" [ $? -eq 0 ]
check "the server saw one revocation" [ "$(ck_oauth_stat 'd["revocations"]')" = 1 ]
check "the revoked login's access token is refused by the server" [ "$(profile_status "$access3")" = 401 ]
check "status --json: logged-out" [ "$(ck_status_field 'd["state"]')" = logged-out ]
"$CK_CLI" token >"$CK_TEST_ROOT/token.out" 2>"$CK_TEST_ROOT/token.err"
rc=$?
check "token fails after logout, nothing on stdout" eval '[ $rc -ne 0 ] && [ ! -s "$CK_TEST_ROOT/token.out" ]'
items=$(secret-tool search --all xdg:schema io.github.claudekeyring.ClaudeKeyring.Credential 2>&1)
check "no claude-keyring item is left in the keyring" [ -z "$items" ]

# --- 3. Manual login with the real code page -----------------------------------
# Proves: the manual redirect_uri is accepted by a strict server and the
# code the page shows completes the login.
ck_login_start manual --manual --no-browser || bail "login --manual printed no URL: $(cat "$CK_TEST_ROOT/manual.err")"
code=$("$PY" "$CK_SUPPORT/play-browser.py" --manual "$login_url" 2>"$CK_TEST_ROOT/browser.log")
check "the manual page shows CODE#STATE" eval '[[ $code == *#* ]]'
"$CK_CLI" login --code "$code" >"$CK_TEST_ROOT/code.out" 2>"$CK_TEST_ROOT/code.err"
check "login --code with the page's code exits 0" [ $? -eq 0 ]
ck_login_wait 20
check "the waiting login --manual exits 0" [ "$login_status" -eq 0 ]
check "status --json: logged-in after the manual login" [ "$(ck_status_field 'd["state"]')" = logged-in ]
access4=$("$CK_CLI" token 2>/dev/null)
check "the manual login's access token is accepted by the server" [ "$(profile_status "$access4")" = 200 ]

ck_done
