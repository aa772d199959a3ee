#!/bin/bash
# Single-flight refresh: 100 separate client processes that all find the
# access token too close to expiry at the same moment get one and the same
# new token from exactly one refresh at the server. (With the fake server's
# single-use refresh tokens, a second refresh with the same token would be
# "reuse" and revoke the login, so this is what keeps parallel claude
# sessions from logging each other out.)
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

N=100
# Under ASan (CK_TEST_SLOW, build-aux/sanitize) each client process costs
# ten times the CPU of a plain one, and 100 of them starve the agent and
# the keyring on a small machine for longer than a client waits (20 s):
# half as many still arrive together, and still wait for one refresh.
[ -n "${CK_TEST_SLOW:-}" ] && N=50

# Tokens from the login live 20 s: less than the 30 s of validity `token`
# asks for, so every caller needs a refresh. A refresh margin of 0 keeps the
# agent's own background refresh away until the token expires, so the only
# refresh is the one the callers cause.
ck_oauth_start_fake --expires-in 20
ck_set refresh-margin 0
ck_oauth_export_env
ck_login_loopback
ok "logged in with a 20 s access token"
check "no refresh yet" [ "$(ck_oauth_stat 'd["refresh_calls"]')" = 0 ]

# The refreshed token lives an hour; the refresh takes 2 s at the server,
# so most callers arrive while it is under way and must wait for it
# (starting 100 processes takes about as long on a small machine).
ck_oauth_mode '{"expires_in": 3600, "delay_ms": 2000}'

dir=$CK_TEST_ROOT/burst
mkdir -p "$dir"
pids=()
t0=$(now_ms)
for i in $(seq $N); do
  "$CK_CLI" token >"$dir/$i.out" 2>"$dir/$i.err" </dev/null &
  pids+=($!)
done
failed=0
for i in $(seq $N); do
  wait "${pids[$((i - 1))]}" || { failed=$((failed + 1)); echo "$i" >>"$dir/failed"; }
done
t1=$(now_ms)
refreshes=$(ck_oauth_stat 'd["refresh_calls"]')
info "$N concurrent token processes: wall time $((t1 - t0)) ms, refreshes at the server: $refreshes"

# How many callers were answered by the refresh itself, not from memory
# after it: the agent answers the callers waiting for a refresh all in one
# go once it is saved, before it schedules the next background refresh, so
# their reads are logged between those two lines. (Not a time window: an
# instrumented agent takes far longer to answer them all.)
waited=$("$PY" - "$CK_TEST_ROOT/agent.log" <<'PY'
import sys
waited, state = 0, "before"
for line in open(sys.argv[1], errors="replace"):
    if state == "before" and "Login refreshed and saved" in line:
        state = "answering"
    elif state == "answering" and "Next background refresh" in line:
        break
    elif state == "answering" and "Credential (oauth) read by" in line:
        waited += 1
print(waited)
PY
)
info "$waited of them waited for the one refresh in flight; the rest came after it"
check "callers really overlapped the refresh ($waited waited)" [ "${waited:-0}" -ge 10 ]
check "all $N processes exit 0 ($failed failed)" [ "$failed" -eq 0 ]
distinct=$(cat "$dir"/*.out | sort -u | wc -l)
new_token=$(cat "$dir"/1.out)
check "all $N print the same token ($distinct distinct)" [ "$distinct" -eq 1 ]
check "every process printed a token line" [ "$(cat "$dir"/*.out | grep -c '^fake-access-')" -eq "$N" ]
check "no process wrote to stderr" [ -z "$(cat "$dir"/*.err)" ]
check "exactly one refresh at the server ($refreshes)" [ "$refreshes" = 1 ]
check "no refresh token was reused" [ "$(ck_oauth_stat 'd["reuse_detected"]')" = 0 ]
now=$(date +%s)
check "the token they got is the refreshed one (1 h validity)" \
  [ "$(ck_status_field 'd["expires-at"]')" -gt $((now + 3000)) ]
check "a later call gets the same token without another refresh" \
  eval '[ "$("$CK_CLI" token 2>/dev/null)" = "$new_token" ] && [ "$(ck_oauth_stat "d[\"refresh_calls\"]")" = 1 ]'
# Proves: the agent refreshes on its own refresh-margin (here 300 s) before
# expiry, with no caller asking, once, and not again at once (no hot loop).
ck_set refresh-margin 300
ck_oauth_mode '{"expires_in": 302, "delay_ms": 0}'
ck_call GetCredential "{'min-validity': <uint32 7200>}" >/dev/null 2>&1  # a 302 s token
before=$(ck_oauth_stat 'd["refresh_calls"]')
sleep 3.5
after=$(ck_oauth_stat 'd["refresh_calls"]')
check "a background refresh ran ~2 s later, unasked ($before -> $after)" [ "$after" = $((before + 1)) ]
sleep 2
check "... and only one (no refresh loop: $(ck_oauth_stat 'd["refresh_calls"]'))" \
  [ "$(ck_oauth_stat 'd["refresh_calls"]')" = "$after" ]

if [ "$failed" -gt 0 ]; then
  info "first failure: $(cat "$dir/$(head -n 1 "$dir/failed").err")"
fi

ck_done
