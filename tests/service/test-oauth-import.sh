#!/bin/bash
# ImportCredentials goes through the OAuth manager (issue 16, item 9): an
# import that lands while a refresh is in flight wins, and the refresh's
# late result is dropped instead of overwriting it.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

ck_oauth_start_fake --expires-in 3600
ck_set refresh-margin 0
ck_oauth_export_env
ck_login_loopback
ok "logged in"

creds=$CK_TEST_ROOT/credentials.json
printf '{"claudeAiOauth":{"accessToken":"test-imported-access-0001","refreshToken":"test-imported-refresh-0001","expiresAt":4102444800000,"scopes":["user:inference"]}}\n' >"$creds"
hash_of () { printf '%s' "$1" | sha256sum | cut -c1-12; }
imported=$(hash_of test-imported-access-0001)

# A refresh that takes 2 s at the server; the import arrives meanwhile.
ck_oauth_mode '{"delay_ms": 2000}'
# token_requests counts a request when it arrives, before the delay.
requested () { ck_oauth_stat 'd["token_requests"].get("refresh_token", 0)'; }
refreshes=$(requested)
ck_call GetCredential "{'min-validity': <uint32 7200>}" >"$CK_TEST_ROOT/refresh.out" 2>&1 &
refresh_pid=$!
for _ in $(seq 100); do
  [ "$(requested)" -gt "$refreshes" ] && break
  sleep 0.02
done
check "the refresh reached the server" [ "$(requested)" -gt "$refreshes" ]
config=$CK_TEST_ROOT/claude-config
mkdir -p "$config"
cp "$creds" "$config/.credentials.json"
CLAUDE_CONFIG_DIR=$config "$CK_CLI" import >/dev/null 2>"$CK_TEST_ROOT/import.err"
import_rc=$?
check "the import succeeded while the refresh was in flight" [ "$import_rc" -eq 0 ]
check "... before the refresh ended" kill -0 "$refresh_pid"
wait "$refresh_pid"
ck_oauth_mode '{"delay_ms": 0}'
check "the refresh finished at the server" [ "$(ck_oauth_stat 'd["refresh_ok"]')" -ge 1 ]

# What is served and stored now is the import, not the late refresh.
served=$(hash_of "$("$CK_CLI" token 2>/dev/null)")
check "token serves the imported login" [ "$served" = "$imported" ]
ck_agent_stop
served=$(hash_of "$("$CK_CLI" token 2>/dev/null)")
check "the keyring holds the imported login (after a restart)" [ "$served" = "$imported" ]
check "status: the imported expiry" [ "$(ck_status_field 'd["expires-at"]')" = 4102444800 ]

# The account uuid and email of an imported login come from its file (or
# anyone with ImportCredentials): a uuid that is another account's name
# must not take that name over, an email with a terminal's escape
# sequence must not become a name, and names with bidi or C1 controls are
# refused.
ck_call SetApiKeyAs work test-api-key-import >/dev/null || bail "SetApiKeyAs failed"
ck_call ImportCredentials "'{\"claudeAiOauth\":{\"accessToken\":\"test-imported-access-0002\",\"refreshToken\":\"test-imported-refresh-0002\",\"expiresAt\":4102444900000,\"account\":{\"uuid\":\"work\",\"emailAddress\":\"x\\u001b]0;owned\\u0007@example.com\"}}}'" \
  >/dev/null || bail "ImportCredentials failed"
resolved=$(ck_call ResolveAccount "{'account': <'work'>}")
check "a uuid equal to an account's name does not take it over" eval '[[ $resolved == *"'"'name'"': <'"'work'"'>"* ]]'
accounts=$(ck_call ListAccounts)
check "an email with an escape sequence is no account name" eval '[[ $accounts != *owned* && $accounts == *"<'"'login'"'>"* ]]'
for bad in 'w\u202eork' 'x\u009by' 'a\u00a0b' 'zero\u200bwidth'; do
  out=$(ck_call RenameAccount work "'$bad'" 2>&1)
  check "rename to $bad is refused" eval '[[ $out == *InvalidArgument* ]]'
done

ck_done
