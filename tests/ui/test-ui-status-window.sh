#!/bin/bash
# The status window explains each state: an API key, an OAuth login
# against the project's fake OAuth server (with its recent reads and a
# failed refresh, which also raises a notification), a logout from the
# tray, and a locked keyring. Screenshots: status-window.png and
# tray-menu.png (logged in with OAuth), status-window-locked.png.
. "$(dirname "$0")/ui-lib.sh"

PY=$(command -v python3)
start_fake_oauth

start_display
start_notifications
start_tray --top --size 28 --color '#303030'
start_agent
wait_for 60 item_registered || die "the icon did not register"

# 1. An API key.
credentials SetApiKey sk-ant-status-window-key >/dev/null
agent_action status
wait_dump 10 '^row\tActive source\tAPI key in the keyring' &&
  pass "API key: the source row says so" || { fail "API key: the source row"; show_dump; }
dump_has '^label\tLogged In$' && pass "API key: the window says logged in" || fail "API key: title"
dump_has '^row\tAccount\t' && fail "API key: an account row is shown" || pass "API key: no account row"
dump_has '^button\tLog Out$' && pass "API key: Log Out is offered" || fail "API key: no Log Out button"
wait_dump 15 '^row\tAn API key is stored in the keyring\.\t\tok' && pass "API key: the checks pass" ||
  { fail "API key: the checks"; show_dump; }
grep -q sk-ant-status-window-key "$CK_UI_TEST_DUMP" && fail "the key is shown in the window" ||
  pass "the key appears nowhere in the window or the diagnostics"

# 2. OAuth against the fake server, logged in with the CLI.
credentials ClearApiKey >/dev/null
"$CK_CLI" login --no-browser </dev/null >"$CK_TEST_ROOT/login.out" 2>"$CK_TEST_ROOT/login.err" &
login_pid=$!
pids+=($login_pid)
wait_for 10 test -s "$CK_TEST_ROOT/login.out" || die "login printed no URL"
wait_dump 10 '^label\tWaiting for Login' && pass "login pending: the window says so" ||
  { fail "login pending: the window"; show_dump; }
"$PY" "$support/play-browser.py" "$(head -n 1 "$CK_TEST_ROOT/login.out")" 2>"$CK_TEST_ROOT/browser.log" ||
  die "the browser could not complete the login: $(cat "$CK_TEST_ROOT/browser.log")"
wait "$login_pid" || die "claude-keyring login failed: $(cat "$CK_TEST_ROOT/login.err")"

wait_dump 10 '^row\tAccount\ttester@example\.com' && pass "OAuth: the account row" ||
  { fail "OAuth: the account row"; show_dump; }
dump_has '^row\tActive source\tClaude account \(OAuth\)' && pass "OAuth: the source row" || fail "OAuth: source"
dump_has '^row\tOrganization\tFake Org' && pass "OAuth: the organization row" || fail "OAuth: organization"
dump_has '^row\tToken expires\t.*, in (\d+ h \d\d min|\d+ min \d\d s); renewed before then' &&
  pass "OAuth: the expiry counts down" || { fail "OAuth: expiry"; show_dump; }
dump_has '^row\tScopes\t.*user:inference' && pass "OAuth: the scopes row" || fail "OAuth: scopes"
dump_has '^row\tState\tUnlocked' && pass "OAuth: the keyring is unlocked" || fail "OAuth: keyring state"
dump_has '^row\tProvider\tGNOME Keyring' && pass "OAuth: the keyring provider" || fail "OAuth: provider"
dump_has '^row\tLast refresh\tNot since the agent started' && pass "OAuth: no refresh yet" ||
  fail "OAuth: last refresh"
first=$(grep -P '^row\tToken expires' "$CK_UI_TEST_DUMP")
sleep 2.2
dump
[ "$(grep -P '^row\tToken expires' "$CK_UI_TEST_DUMP")" != "$first" ] && pass "the countdown is live" ||
  fail "the countdown is live"
wait_for 10 grep -qP '^notify\t\d+\tLogged In to Claude\t.*tester@example\.com' "$CK_TEST_ROOT/notifications.log" &&
  pass "a login finished elsewhere raises a notification" ||
  fail "no login notification: $(cat "$CK_TEST_ROOT/notifications.log")"

# Reads are listed: who and when, never the token.
"$CK_CLI" token >/dev/null || fail "claude-keyring token"
wait_dump 5 '^row\tclaude-keyring \(PID \d+\)\t.* · from oauth · .*claude-keyring' &&
  pass "the read is listed with program and PID" || { fail "the read is listed"; show_dump; }
dump_has '^label\t1 credential read since the agent started' && pass "reads are counted" ||
  fail "reads are counted"
wait_dump 15 '^row\tThe keyring is unlocked and answering\.\t\tok' && pass "OAuth: the checks ran again" ||
  fail "OAuth: the checks ran again"
if grep -qE 'fake-(access|refresh)-' "$CK_UI_TEST_DUMP"; then
  fail "a token appears in the window or the diagnostics"
else
  pass "no token in the window or the diagnostics"
fi
grep -q '^diagnostics	account: tester@example.com' "$CK_UI_TEST_DUMP" &&
  pass "the diagnostics carry the account" || fail "diagnostics"

place_window "Claude Keyring" || fail "the window is on screen"
screenshot status-window "$(window_id "Claude Keyring")" || true

# The tray menu when logged in with OAuth.
press_until_gone "Claude Keyring" ctrl+w '^window\tCkStatusWindow' || fail "Ctrl+W closes the window"
layout=$(menu_layout)
[[ $layout == *"'label': <'Logged in as tester@example.com'>, 'enabled': <false>"* ]] &&
  pass "OAuth: the menu names the account" || fail "OAuth: menu: $layout"
[[ $layout == *"Log _Out"* && $layout != *"_Log In…"* ]] && pass "OAuth: the menu offers Log Out" ||
  fail "OAuth: menu: $layout"
[[ $(item_property ToolTip) == *tester@example.com* ]] && pass "OAuth: the tooltip names the account" ||
  fail "OAuth: tooltip: $(item_property ToolTip)"
if open_tray_menu; then
  pass "a right click on the icon opens its menu in the tray host"
  sleep 1
  screenshot tray-menu root "320x180+0+0" || true
else
  fail "a right click on the icon opens its menu in the tray host"
fi
xdotool key Escape
sleep 0.5

# 3. A refresh that fails: the window says so, a notification offers to log in.
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"refresh": "invalid_grant"}' \
  "$base/test/mode" >/dev/null || die "could not switch the fake server"
credentials GetCredential "{'min-validity': <uint32 7200>}" >/dev/null 2>&1 &&
  fail "a refresh against a refusing server succeeded"
agent_action status
wait_dump 10 '^row\tLast refresh\t.*, failed: ' && pass "refresh failed: the window shows the reason" ||
  { fail "refresh failed: the window"; show_dump; }
wait_for 10 grep -qP '^notify\t\d+\tCould Not Renew the Claude Login\t.*\t(.*,)?app\.login$' "$CK_TEST_ROOT/notifications.log" &&
  pass "refresh failed: a notification with a Log In button" ||
  fail "refresh failed: no notification: $(cat "$CK_TEST_ROOT/notifications.log")"
id=$(grep -P '^notify\t\d+\tCould Not Renew' "$CK_TEST_ROOT/notifications.log" | tail -n 1 | cut -f2)
gdbus call --session --dest org.freedesktop.Notifications --object-path /org/freedesktop/Notifications \
  --method io.github.claudekeyring.Test.Notifications.InvokeAction "$id" app.login >/dev/null
wait_dump 10 '^window\tCkLoginDialog' && pass "its button opens the login dialog" ||
  { fail "the notification's button opens the login dialog"; show_dump; }
wait_dump 10 '^label\tApprove the login in your browser' || fail "the dialog started a login"
press_until_gone "Log In to Claude" Escape '^window\tCkLoginDialog' &&
  wait_dump 10 '^state\tlogged-in' &&
  pass "Escape closes the dialog and cancels its login" || { fail "Escape cancels the login"; show_dump; }
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"refresh": "ok"}' "$base/test/mode" >/dev/null

# 4. Log out from the tray.
click_menu "Log _Out"
wait_dump 15 '^label\tNot Logged In' && pass "Log Out in the tray logs out" ||
  { fail "Log Out in the tray logs out"; show_dump; }
[[ $(menu_layout) == *"_Log In…"* ]] && pass "logged out: the menu offers Log In… again" ||
  fail "logged out: menu: $(menu_layout)"

# 5. A locked keyring.
gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
  --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" >/dev/null ||
  die "could not lock the keyring"
wait_dump 15 '^label\tKeyring Locked' && pass "locked: the window says the keyring is locked" ||
  { fail "locked: the window"; show_dump; }
dump_has '^row\tState\tLocked' && pass "locked: the keyring row says locked" || fail "locked: keyring row"
dump_has '^label\tUnlock your keyring' && pass "locked: the window says what to do" || fail "locked: advice"
wait_for 10 eval '[[ $(item_property IconName) == *ClaudeKeyring-locked* ]]' &&
  pass "locked: the tray shows the locked icon" || fail "locked: IconName: $(item_property IconName)"
[[ $(item_property Status) == *NeedsAttention* ]] && pass "locked: the item needs attention" ||
  fail "locked: Status: $(item_property Status)"
wait_dump 15 '^row\tThe keyring is locked\.\t.*\tfail' && pass "locked: the check fails with its fix" ||
  { fail "locked: the check"; show_dump; }
place_window "Claude Keyring" && screenshot status-window-locked "$(window_id "Claude Keyring")" || true

check_agent_log

finish
