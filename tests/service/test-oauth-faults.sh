#!/bin/bash
# Faults of the OAuth server and of the browser, against the real agent and
# the fake server's fault modes (POST /test/mode). What DESIGN.md promises:
# a failed refresh is reported at once (token exits non-zero within 15 s,
# nothing on stdout, one stderr line saying the refresh failed and whether
# to log in again), the old tokens are kept, the next call may try again;
# a callback with another state gets a 4xx page and its code is never
# redeemed; the callback is one-shot and other paths are 404; CancelLogin
# ends the login (LoginFinished false, the CLI fails) and stops listening;
# a logout during a refresh is not undone by the refresh's late result; a
# server that does not rotate refresh tokens works; a keyring locked
# during a refresh fails quickly, never hangs (last: it stays locked).
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

# Access tokens live 20 s, less than the 30 s `token` asks for: every
# `token` refreshes. A margin of 0 keeps the background refresh away until
# a token expires; should it run meanwhile it is just one more refresh and
# nothing below depends on the count. http-timeout 2 keeps the hang short.
ck_oauth_start_fake --expires-in 20
ck_set refresh-margin 0
ck_set http-timeout 2
ck_oauth_export_env
ck_login_loopback
ok "logged in (20 s access tokens)"
first_token=$("$CK_CLI" token 2>/dev/null)
[[ $first_token == fake-access-* ]] || bail "token after login printed no token"

# run_token NAME: `token` with its output in NAME.{out,err}; sets rc and ms.
run_token () {
  local t0
  t0=$(now_ms)
  "$CK_CLI" token >"$CK_TEST_ROOT/$1.out" 2>"$CK_TEST_ROOT/$1.err" </dev/null
  rc=$?
  ms=$(($(now_ms) - t0))
}
# expect_refresh_failure NAME: the CLI contract of a failed refresh.
expect_refresh_failure () {
  local name=$1 out=$CK_TEST_ROOT/$1.out err=$CK_TEST_ROOT/$1.err
  check "$name: token exits non-zero ($rc) within 15 s (${ms} ms)" eval '[ "$rc" -ne 0 ] && [ "$ms" -lt 15000 ]'
  check "$name: nothing on stdout" [ ! -s "$out" ]
  check "$name: exactly one stderr line" [ "$(wc -l <"$err")" -eq 1 ]
  check "$name: the line says the refresh failed" grep -qi 'refresh' "$err"
  check "$name: no token or server text in the message" eval '! grep -q "fake-" "$err"'
  info "$name: $(cat "$err")"
}
credential_error () {
  ck_call GetCredential "{'min-validity': <uint32 30>}" 2>&1 | grep -o 'io\.github\.claudekeyring\.Error\.[A-Za-z]*' | head -n 1
}
expect_tokens_kept () {
  check "$1: the old login is still stored (status shows the account)" \
    [ "$(ck_status_field 'd["source"] + " " + d["account"]')" = "oauth tester@example.com" ]
}
expect_recovery () {
  local exchanges out=$CK_TEST_ROOT/$1-recovered.out
  exchanges=$(ck_oauth_stat 'd["exchange_ok"]')
  ck_oauth_mode '{"refresh": "ok"}'
  run_token "$1-recovered"
  check "$1: after the server recovers, token works again" \
    eval '[ "$rc" -eq 0 ] && grep -q "^fake-access-" "$out"'
  check "$1: ... without a new login" [ "$(ck_oauth_stat 'd["exchange_ok"]')" = "$exchanges" ]
}

# --- Refresh answered with HTTP 500 ------------------------------------------
# Proves: transient failure reported at once, says no new login is needed,
# old tokens kept, next call succeeds (no blocking back-off).
ck_oauth_mode '{"refresh": "500"}'
run_token refresh-500
expect_refresh_failure refresh-500
check "refresh-500: the message says no new login is needed yet" grep -qi 'no new login' "$CK_TEST_ROOT/refresh-500.err"
check "refresh-500: the D-Bus error is RefreshFailed" [ "$(credential_error)" = io.github.claudekeyring.Error.RefreshFailed ]
expect_tokens_kept refresh-500
expect_recovery refresh-500

# --- Refresh that never answers ---------------------------------------------
# Proves: http-timeout bounds the request; the caller is not left hanging.
ck_oauth_mode '{"refresh": "hang"}'
run_token refresh-hang
expect_refresh_failure refresh-hang
check "refresh-hang: gives up near http-timeout (2 s), not later than 6 s (${ms} ms)" [ "$ms" -lt 6000 ]
expect_tokens_kept refresh-hang
expect_recovery refresh-hang

# --- Refresh answered with malformed JSON -----------------------------------
# Proves: a reply that is not JSON is RefreshFailed, and the half-parsed
# body (which holds a token-like string) is never shown.
ck_oauth_mode '{"refresh": "malformed"}'
run_token refresh-malformed
expect_refresh_failure refresh-malformed
check "refresh-malformed: the D-Bus error is RefreshFailed" [ "$(credential_error)" = io.github.claudekeyring.Error.RefreshFailed ]
expect_tokens_kept refresh-malformed
expect_recovery refresh-malformed

# --- Refresh refused with invalid_grant -------------------------------------
# Proves: a login the server no longer accepts tells the user to log in.
ck_oauth_mode '{"refresh": "invalid_grant"}'
run_token refresh-invalid-grant
expect_refresh_failure refresh-invalid-grant
check "refresh-invalid-grant: the message says to log in again" \
  grep -q 'claude-keyring login' "$CK_TEST_ROOT/refresh-invalid-grant.err"
check "refresh-invalid-grant: the D-Bus error is RefreshFailed" [ "$(credential_error)" = io.github.claudekeyring.Error.RefreshFailed ]
expect_recovery refresh-invalid-grant
check "no refresh token was ever reused" [ "$(ck_oauth_stat 'd["reuse_detected"]')" = 0 ]

# --- The browser's callback ---------------------------------------------------
# A new login while logged in; the browser stops at the loopback redirect
# so the test can send the callbacks itself.
ck_login_start callback --no-browser || bail "login printed no URL: $(cat "$CK_TEST_ROOT/callback.err")"
redirect=$(PY_URL=$login_url "$PY" -c 'import os, urllib.parse; print(urllib.parse.parse_qs(urllib.parse.urlsplit(os.environ["PY_URL"]).query)["redirect_uri"][0])')
callback=$("$PY" "$CK_SUPPORT/play-browser.py" --no-callback "$login_url" 2>"$CK_TEST_ROOT/browser.log") ||
  bail "the browser got no redirect: $(tr '\n' ' ' <"$CK_TEST_ROOT/browser.log")"
[[ $callback == "$redirect"\?* ]] || bail "the redirect $callback is not the login's redirect_uri"
code=$(PY_URL=$callback "$PY" -c 'import os, urllib.parse; print(urllib.parse.parse_qs(urllib.parse.urlsplit(os.environ["PY_URL"]).query)["code"][0])')
port=$(PY_URL=$redirect "$PY" -c 'import os, urllib.parse; print(urllib.parse.urlsplit(os.environ["PY_URL"]).port)')
exchanges=$(ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)')
http () { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }

# Proves: the real code with another state is refused (4xx), never
# redeemed, and the login stays pending.
status=$(http "$redirect?code=$code&state=not-the-state-0123456789")
check "a callback with the wrong state gets HTTP 4xx ($status)" eval '[[ $status == 4?? ]]'
# Proves: other paths of the loopback server are 404.
status=$(http "http://127.0.0.1:$port/favicon.ico")
check "a request to another path gets 404 ($status)" [ "$status" = 404 ]
status=$(http "http://127.0.0.1:$port/callback/../other?code=$code")
check "a request to /other gets 404 ($status)" [ "$status" = 404 ]
check "the code of the refused callback was not redeemed" \
  [ "$(ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)')" = "$exchanges" ]
check "the login is still pending" [ "$(ck_status_field 'd["state"]')" = login-pending ]
check "login --no-browser still waits" kill -0 "$login_pid"

# Proves: the real callback then completes the login.
status=$(http "$callback")
check "the real callback gets 200 ($status)" [ "$status" = 200 ]
ck_login_wait 20
check "login exits 0 after the real callback" [ "$login_status" -eq 0 ]
check "the code was redeemed once" \
  [ "$(ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)')" = $((exchanges + 1)) ]
# Proves: the callback is one-shot: a replay is refused (the server is
# closed, or answers 4xx), and the code is not redeemed again.
status=$(http "$callback")
check "a second callback after success is refused ($status)" eval '[[ $status == 000 || $status == 4?? ]]'
check "the replayed code was not redeemed again" \
  [ "$(ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)')" = $((exchanges + 1)) ]

# --- CancelLogin ----------------------------------------------------------------
# Proves: CancelLogin ends a pending login with LoginFinished(false) and the
# waiting CLI exits non-zero; the stored login is untouched.
# A client that follows the agent's signals (LoginFinished is addressed to
# the permitted clients that have called the agent, not broadcast).
"$CK_BUILD_ROOT/tests/support/ck-test-caller" --watch-status 60000 >"$CK_TEST_ROOT/watch.log" 2>&1 &
watch_pid=$!
ck_pids+=("$watch_pid")
for _ in $(seq 50); do [ -s "$CK_TEST_ROOT/watch.log" ] && break; sleep 0.05; done
ck_login_start cancelled --no-browser || bail "login printed no URL: $(cat "$CK_TEST_ROOT/cancelled.err")"
# The user approved in the browser, but the callback is late (the browser
# stops at the loopback redirect; the test sends it after the cancel).
late_callback=$("$PY" "$CK_SUPPORT/play-browser.py" --no-callback "$login_url" 2>"$CK_TEST_ROOT/browser.log") ||
  bail "the browser got no redirect: $(tr '\n' ' ' <"$CK_TEST_ROOT/browser.log")"
exchanges=$(ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)')
ck_call CancelLogin >/dev/null 2>&1
check "CancelLogin returns" [ $? -eq 0 ]
ck_login_wait 10
check "the cancelled login exits non-zero ($login_status)" eval '[ "$login_status" -ne 0 ] && [ "$login_status" -ne 124 ]'
check "the cancelled login says so in one error line" \
  [ "$(grep -c '^claude-keyring: ' "$CK_TEST_ROOT/cancelled.err")" -eq 1 ]
sleep 0.2
kill -TERM "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
check "LoginFinished was emitted to a client following the agent" grep -qx 'login-finished 1' "$CK_TEST_ROOT/watch.log"
check "the stored login survives the cancelled one" [ "$(ck_status_field 'd["state"]')" = logged-in ]
# Proves: a cancelled login stops listening. A browser that comes back late
# must not be told "You are logged in" for a login that no longer exists.
status=$(http "$late_callback")
check "a callback after CancelLogin is refused, not 200 'You are logged in' ($status)" \
  eval '[[ $status == 000 || $status == 4?? ]]'
check "... and its code is not redeemed" \
  [ "$(ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)')" = "$exchanges" ]

# --- Logout while a refresh is in flight ------------------------------------------
# Proves: the refresh's late result is dropped (never saved after the
# logout, so the user stays logged out), the waiting caller gets an error
# rather than a token of the ended login, and status showed "refreshing".
ck_oauth_mode '{"refresh": "ok", "delay_ms": 1500}'
"$CK_CLI" token >"$CK_TEST_ROOT/inflight.out" 2>"$CK_TEST_ROOT/inflight.err" </dev/null &
token_pid=$!
ck_pids+=("$token_pid")
state=
for _ in $(seq 40); do
  state=$(ck_status_field 'd["state"]')
  [ "$state" = refreshing ] && break
  sleep 0.05
done
check "status shows refreshing while the refresh is in flight" [ "$state" = refreshing ]
"$CK_CLI" logout >/dev/null 2>"$CK_TEST_ROOT/inflight-logout.err"
check "logout during the refresh exits 0" [ $? -eq 0 ]
rc=0
wait "$token_pid" || rc=$?
check "the caller waiting for that refresh fails ($rc) with nothing on stdout" \
  eval '[ "$rc" -ne 0 ] && [ ! -s "$CK_TEST_ROOT/inflight.out" ]'
info "in flight: $(cat "$CK_TEST_ROOT/inflight.err")"
sleep 0.5
check "after the late refresh result, status is still logged-out" [ "$(ck_status_field 'd["state"]')" = logged-out ]
items=$(secret-tool search --all xdg:schema io.github.claudekeyring.ClaudeKeyring.Credential 2>&1)
check "... and the keyring holds no item" [ -z "$items" ]
"$CK_CLI" token >/dev/null 2>&1
check "... and token fails" [ $? -ne 0 ]

# --- A server that does not rotate refresh tokens -----------------------------
# Proves: a refresh reply without refresh_token keeps the old one usable.
ck_oauth_mode '{"delay_ms": 0, "rotate": false}'
ck_login_loopback
ok "logged in again"
"$CK_CLI" token >/dev/null 2>&1
rc1=$?
"$CK_CLI" token >/dev/null 2>&1
rc2=$?
check "two refreshes without rotation both work ($rc1, $rc2)" eval '[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]'
ck_oauth_mode '{"rotate": true}'

# --- The keyring is locked during a refresh (last: it cannot be unlocked) ------
# Proves: the rotated tokens cannot be saved, the caller gets RefreshFailed
# at once (no hang on a prompt), and later calls fail just as fast.
ck_oauth_mode '{"refresh": "ok", "delay_ms": 1000}'
t0=$(now_ms)
"$CK_CLI" token >"$CK_TEST_ROOT/locked.out" 2>"$CK_TEST_ROOT/locked.err" </dev/null &
token_pid=$!
sleep 0.4
gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
  --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" \
  >"$CK_TEST_ROOT/lock.log" 2>&1 || bail "could not lock the keyring: $(cat "$CK_TEST_ROOT/lock.log")"
rc=0
wait "$token_pid" || rc=$?
ms=$(($(now_ms) - t0))
check "locked during the refresh: token exits non-zero ($rc) within 15 s (${ms} ms)" eval '[ "$rc" -ne 0 ] && [ "$ms" -lt 15000 ]'
check "locked during the refresh: nothing on stdout" [ ! -s "$CK_TEST_ROOT/locked.out" ]
check "locked during the refresh: one stderr line" [ "$(wc -l <"$CK_TEST_ROOT/locked.err")" -eq 1 ]
check "locked during the refresh: the line names the keyring" grep -qi 'keyring' "$CK_TEST_ROOT/locked.err"
info "locked: $(cat "$CK_TEST_ROOT/locked.err")"
t0=$(now_ms)
error=$(timeout 20 gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.GetCredential" "{'min-validity': <uint32 30>}" 2>&1)
ms=$(($(now_ms) - t0))
check "locked: the next GetCredential fails with RefreshFailed or KeyringLocked within 10 s (${ms} ms)" \
  eval '[[ $error == *Error.RefreshFailed* || $error == *Error.KeyringLocked* ]] && [ "$ms" -lt 10000 ]'
t0=$(now_ms)
timeout 20 "$CK_CLI" status --json >"$CK_TEST_ROOT/status-locked.json" 2>/dev/null
ms=$(($(now_ms) - t0))
check "locked: status answers within 10 s (${ms} ms)" eval '[ "$ms" -lt 10000 ] && [ -s "$CK_TEST_ROOT/status-locked.json" ]'
info "locked: status $(tr -d '\n' <"$CK_TEST_ROOT/status-locked.json" | cut -c1-200)"

ck_done
