#!/bin/bash
# The agent answers a client that keeps its connection from the GDBus
# worker thread once it has answered the same question from memory
# (src/service/ck-fast-path.c). That answer must always be the one the
# main loop would give: after a new API key, a helper, a logout, or when
# the OAuth token is no longer valid for the min-validity asked for, the
# very next call on the same connection sees the change.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

caller_bin=$CK_BUILD_ROOT/tests/support/ck-test-caller
agent_log=$CK_TEST_ROOT/agent.log

# Tokens live 120 s: valid for a min-validity of 60, not of 600.
# A refresh margin of 0 keeps the background refresh away.
ck_oauth_start_fake --expires-in 120
ck_set refresh-margin 0
ck_oauth_export_env

# One long-lived connection, driven line by line (ck-test-caller.c).
coproc CALLER { exec "$caller_bin"; }
ck_pids+=("$CALLER_PID")
read -r -t 10 ready _ <&"${CALLER[0]}" && [ "$ready" = ready ] || bail "ck-test-caller did not start"

# ask [KIND [MIN-VALIDITY]]: one GetCredential on that connection; the
# answer ("ok KIND SOURCE EXPIRES-AT HASH" or "error NAME") in $answer.
ask () {
  echo "$*" >&"${CALLER[1]}"
  read -r -t 30 answer <&"${CALLER[0]}" || bail "ck-test-caller gave no answer to '$*'"
}
field () { echo "$answer" | cut -d' ' -f"$1"; }
bus_thread_reads () { grep -c 'read by pid .*answered in the bus thread' "$agent_log" || true; }

# 1. An API key, asked for three times.
gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.SetApiKey" test-api-key-fast-1 >/dev/null ||
  bail "SetApiKey failed"
ask; first=$answer
before=$(bus_thread_reads)
ask; second=$answer
ask; third=$answer
check "the API key: the same answer three times ($first)" \
  eval '[ "$(echo "$first" | cut -d" " -f1-3)" = "ok api-key keyring" ] && [ "$second" = "$first" ] && [ "$third" = "$first" ]'
check "the repeated calls were answered in the bus thread ($before → $(bus_thread_reads))" \
  [ "$(bus_thread_reads)" -ge $((before + 2)) ]
check "every answer is in the read log, none with a token" \
  eval '[ "$(grep -c "Credential (keyring) read by pid $CALLER_PID" "$agent_log")" -ge 3 ] && ! grep -q test-api-key-fast "$agent_log"'

# 2. A new key is seen by the very next call.
gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.SetApiKey" test-api-key-fast-2 >/dev/null ||
  bail "SetApiKey failed"
ask
check "a new API key is answered at once" \
  eval '[ "$(field 1)" = ok ] && [ "$(field 5)" != "$(echo "$first" | cut -d" " -f5)" ]'
ask; key2=$answer

# 3. A helper takes precedence as soon as the agent has seen the setting.
ck_set api-key-helper "printf 'test-helper-key\\n'"
for _ in $(seq 100); do
  ask
  [ "$answer" = "$key2" ] || break
  sleep 0.05
done
check "a helper set while the key was being served takes over ($answer)" [ "$(field 3)" = helper ]
gsettings reset "$CK_SCHEMA" api-key-helper
for _ in $(seq 100); do
  ask
  [ "$(field 3)" = keyring ] && break
  sleep 0.05
done
check "without the helper the stored key is back" [ "$answer" = "$key2" ]

# 4. OAuth and min-validity.
gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.ClearApiKey" >/dev/null || bail "ClearApiKey failed"
ask
check "after ClearApiKey the next call says NotLoggedIn" \
  [ "$answer" = "error io.github.claudekeyring.Error.NotLoggedIn" ]
ck_login_loopback
ask oauth 60; login_token=$answer
before=$(bus_thread_reads)
ask oauth 60
check "OAuth, min-validity 60 of 120 s: the login's token, twice" \
  eval '[ "$(echo "$login_token" | cut -d" " -f1-3)" = "ok oauth oauth" ] && [ "$answer" = "$login_token" ]'
check "the second from the bus thread (the keyring reading back our write changed nothing)" \
  [ "$(bus_thread_reads)" -eq $((before + 1)) ]
refreshes=$(ck_oauth_stat 'd["refresh_ok"]')
ask oauth 600
check "min-validity 600 is not answered with the 120 s token: the agent refreshed" \
  eval '[ "$(field 1)" = ok ] && [ "$(field 5)" != "$(echo "$login_token" | cut -d" " -f5)" ] && [ "$(ck_oauth_stat "d[\"refresh_ok\"]")" -eq $((refreshes + 1)) ]'
refreshed=$answer
ask oauth 60
check "the next call gets the refreshed token" [ "$answer" = "$refreshed" ]
ask any 60
check "kind any gets the same login" [ "$answer" = "$refreshed" ]

# 5. A logout is seen by the very next call.
gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.Logout" >/dev/null || bail "Logout failed"
ask oauth 60
check "after Logout the next call says NotLoggedIn ($answer)" \
  [ "$answer" = "error io.github.claudekeyring.Error.NotLoggedIn" ]
ask any
check "for every kind" [ "$answer" = "error io.github.claudekeyring.Error.NotLoggedIn" ]

# 6. The largest expiresAt JSON carries: the fast path compares it without
# overflowing (undefined behaviour, which UBSan reports and which had the
# wrapped product look expired), and doctor shows it without a critical.
forever='{"claudeAiOauth":{"accessToken":"test-oauth-forever-0001","refreshToken":"test-refresh-forever-0001","expiresAt":9223372036854775807,"scopes":["user:inference"]}}'
gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.ImportCredentials" "'$forever'" >/dev/null ||
  bail "ImportCredentials failed"
ask oauth 60; first=$answer
before=$(bus_thread_reads)
ask oauth 60
check "an absurd expiry: served, and again from the bus thread ($first)" \
  eval '[ "$(field 4)" = 9223372036854775 ] && [ "$answer" = "$first" ] && [ "$(bus_thread_reads)" -eq $((before + 1)) ]'
gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.Doctor" >"$CK_TEST_ROOT/doctor.out" ||
  bail "Doctor failed"
check "doctor shows the absurd expiry without a critical" \
  eval 'grep -q "Logged in as" "$CK_TEST_ROOT/doctor.out" && ! grep -q CRITICAL "$agent_log"'
gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.Logout" >/dev/null || bail "Logout failed"

exec {CALLER[1]}>&-
ck_done
