#!/bin/bash
# Token replies without a usable expires_in (issue 16, item 8): missing,
# zero, negative, a string. Such a token used to count as never expiring,
# so it was never refreshed. Now, when it has a refresh token, it lives one
# hour in the agent's eyes, the keyring keeps that it was assumed, the
# doctor says so (also after a restart), and a refresh reply that leaves
# out expires_in and the refresh token is treated the same way.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

ck_oauth_start_fake --expires-in 7200
ck_oauth_export_env

# expect_assumed_expiry NAME: expires-at is an hour from now, not 0 or 2 h.
expect_assumed_expiry () {
  local expires now
  expires=$(ck_status_field 'd.get("expires-at", 0)')
  now=$(date +%s)
  check "$1: expires-at is an hour from now (got $((expires - now)) s)" \
    eval '[ "$expires" -ge $((now + 3600 - 30)) ] && [ "$expires" -le $((now + 3600 + 5)) ]'
}
doctor_oauth () { # the status and detail of the doctor's oauth check
  "$CK_CLI" doctor --json 2>/dev/null | "$PY" -S -c '
import json, sys
for c in json.load(sys.stdin):
    if c["id"] == "oauth":
        print(c["status"], c["detail"])'
}

for value in '"omit"' 0 -5 '"3600"'; do
  name="expires_in=$value"
  ck_oauth_mode "{\"expires_in_reply\": $value}"
  ck_login_loopback
  expect_assumed_expiry "$name"
  check "$name: doctor warns that the server gave no lifetime" \
    eval 'doctor_oauth | grep -q "^warn .*no lifetime"'
done

# Kept in the keyring: a restarted agent still knows the expiry was assumed.
ck_agent_stop
expect_assumed_expiry "after a restart"
check "after a restart: doctor still warns" eval 'doctor_oauth | grep -q "^warn .*no lifetime"'

# A refresh reply with neither expires_in nor a refresh token: the old
# refresh token is kept, so the new access token also gets an hour.
ck_oauth_mode '{"expires_in_reply": "omit", "rotate": false}'
refreshes=$(ck_oauth_stat 'd["refresh_ok"]')
ck_call GetCredential "{'min-validity': <uint32 3700>}" >/dev/null 2>&1
check "refresh: the server was asked" [ "$(ck_oauth_stat 'd["refresh_ok"]')" -gt "$refreshes" ]
expect_assumed_expiry "refresh without expires_in or refresh_token"

# A server that gives the lifetime again: no warning, its own expiry.
ck_oauth_mode '{"expires_in_reply": null, "rotate": true}'
ck_login_loopback
expires=$(ck_status_field 'd.get("expires-at", 0)')
check "a proper expires_in is used as it is" [ "$expires" -ge $(($(date +%s) + 7200 - 30)) ]
check "a proper expires_in: doctor says ok" eval 'doctor_oauth | grep -q "^ok"'

ck_done
