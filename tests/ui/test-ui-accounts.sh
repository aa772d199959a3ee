#!/bin/bash
# Accounts in the tray and the status window (issue 19), with the real
# tray host: two logins of two users of the fake OAuth server and one API
# key. The tray menu lists the three as radio items with the default
# checked, and choosing another makes it the default (ListAccounts and
# GetStatus say so); "Add Account…" opens the login dialog. The status
# window lists the three with their state and bound directories, and
# each row's Make Default, Rename… (a refused name is explained in the
# dialog) and Log Out work. A login and a failed refresh name their
# account in the notification. Screenshots: status-window-accounts.png,
# tray-menu-accounts.png.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/ui-lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 77; }

PY=$(command -v python3)
start_fake_oauth

USER1=tester@example.com
USER2=second@example.org

oauth_mode () {
  curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$base/test/mode" >/dev/null ||
    die "could not switch the fake server to $1"
}

# login NAME [ARGS...]: a login through the CLI, the browser played.
login () {
  local name=$1 pid
  shift
  "$CK_CLI" login --no-browser "$@" </dev/null >"$CK_TEST_ROOT/$name.out" 2>"$CK_TEST_ROOT/$name.err" &
  pid=$!
  wait_for 10 test -s "$CK_TEST_ROOT/$name.out" || die "login $name printed no URL"
  "$PY" "$support/play-browser.py" "$(head -n 1 "$CK_TEST_ROOT/$name.out")" 2>"$CK_TEST_ROOT/browser.log" ||
    die "the browser could not complete login $name: $(cat "$CK_TEST_ROOT/browser.log")"
  wait "$pid" || die "claude-keyring login $name failed: $(cat "$CK_TEST_ROOT/$name.err")"
}

# accounts EXPR: EXPR (Python, over the rows `r`) of ListAccounts, which
# `claude-keyring accounts --json` prints.
accounts () {
  "$CK_CLI" accounts --json | "$PY" -S -c 'import json, sys; r = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
dumped () { dump; dump_has "$1"; }
# submit TITLE TEXT PATTERN: types TEXT into the window's field and presses
# Return until the dump has a line matching PATTERN.
submit () {
  type_into "$1" "$2" || fail "typing into $1"
  press "$1" Return dumped "$3"
}
default_name () { accounts '" ".join(a["name"] for a in r if a["default"])'; }
names () { accounts '" ".join(a["name"] for a in r)'; }
status_default () {
  credentials GetStatus | grep -oP "'name': <'\K[^']+(?='>, 'kind': <'[^']+'>, 'email': <'[^']*'>, 'organization': <'[^']*'>, 'state': <'[^']+'>, 'expires': <int64 -?\d+>, 'default': <true>)"
}
radio_items () { menu_layout | grep -oP "'label': <'[^']*'>, 'enabled': <true>, 'toggle-type': <'radio'>, 'toggle-state': <\d>"; }
radio_count () { radio_items | wc -l; }
checked_radio () { radio_items | grep -oP "'label': <'\K[^']*(?='>, 'enabled': <true>, 'toggle-type': <'radio'>, 'toggle-state': <1>)"; }

start_display
start_notifications
start_tray --top --size 28 --color '#303030'
start_agent
wait_for 60 item_registered || die "the icon did not register"

# Two users' logins and a key, and a directory bound to the second login.
login login1
oauth_mode '{"user": "2"}'
login login2 --as work
printf 'test-api-key-ui-accounts\n' | "$CK_CLI" set-api-key --as ci-key 2>/dev/null ||
  die "set-api-key --as ci-key failed"
project=$HOME/projects/work-project
mkdir -p "$project"
"$CK_CLI" bind "$project" work >/dev/null || die "bind failed"
"$CK_CLI" switch "$USER1" >/dev/null || die "switch failed"
[ "$(names)" = "ci-key $USER1 work" ] || die "the agent does not list the three accounts: $(names)"

wait_for 10 grep -qP "^notify\t\d+\tLogged In to Claude\t.*work \(\Q$USER2\E\)" "$CK_TEST_ROOT/notifications.log" &&
  pass "the login notification names the account it went to" ||
  fail "login notification: $(cat "$CK_TEST_ROOT/notifications.log")"

# The tray: three radio items, the default checked.
wait_for 10 eval '[ "$(radio_count)" = 3 ]' && pass "the tray menu lists the three accounts as radio items" ||
  fail "radio items: $(menu_layout)"
[ "$(checked_radio)" = "$USER1" ] && pass "the default account's item is checked, and only it" ||
  fail "checked: $(checked_radio): $(menu_layout)"
[[ $(menu_layout) == *"'label': <'ci-key (API key)'>"* ]] && pass "the key's item says it is an API key" ||
  fail "the key's item: $(menu_layout)"
[[ $(menu_layout) == *"'label': <'Add _Account…'>, 'enabled': <true>"* ]] &&
  pass "the tray menu offers Add Account…" || fail "no Add Account…: $(menu_layout)"
[[ $(menu_layout) != *test-api-key-ui-accounts* ]] && pass "the key is not in the menu" ||
  fail "the key leaked into the menu"

# Choosing another item makes it the default.
click_menu "work"
wait_for 10 eval '[ "$(default_name)" = work ]' &&
  pass "choosing work in the tray makes it the default (ListAccounts)" ||
  fail "after the click, the default is $(default_name)"
[ "$(status_default)" = work ] && pass "GetStatus says work is the default" ||
  fail "GetStatus: $(credentials GetStatus)"
wait_for 10 eval '[ "$(checked_radio)" = work ]' && pass "the check moves to work" ||
  fail "checked: $(checked_radio)"

# A host's Event for the key's item makes the key the default too.
click_menu "ci-key (API key)"
wait_for 10 eval '[ "$(default_name)" = ci-key ]' &&
  pass "choosing the key makes it the default" || fail "the default is $(default_name)"

# The status window: a row per account with its state and directories.
agent_action status
wait_dump 10 '^row\twork\t' || { show_dump; die "no account rows in the status window"; }
[ "$(grep -cP '^row\t(ci-key|\Q'"$USER1"'\E|work)\t' "$CK_UI_TEST_DUMP")" = 3 ] &&
  pass "the status window shows three account rows" || { fail "account rows"; show_dump; }
dump_has '^row\twork\t.*Logged in, token until .*second@example\.org · Second Org.*Used in ~/projects/work-project' &&
  pass "work's row: state, expiry, email, organization and bound directory" || { fail "work's row"; show_dump; }
dump_has '^row\tci-key\tDefault · API key\t' && pass "the key's row says default and API key" ||
  { fail "the key's row"; show_dump; }
dump_has '^row\t\Qtester@example.com\E\tLogged in, token until [^\t]*Fake Org\t\[Make Default\]\t\[Rename…\]\t\[Log Out\]' &&
  pass "a row offers Make Default, Rename… and Log Out" || { fail "the first login's row"; show_dump; }
dump_has '^row\tci-key\t[^\t]*\t\[Make Default\]' && fail "the default's row offers Make Default" ||
  pass "the default's row does not offer Make Default"
dump_has "^diagnostics\t  work \(oauth, logged-in\): \Q$project\E$" && dump_has '^diagnostics\t  ci-key \(api-key, stored, default\)$' &&
  pass "the copied diagnostics list the accounts" || { fail "diagnostics: accounts"; show_dump; }

place_window "Claude Keyring" && screenshot status-window-accounts "$(window_id "Claude Keyring")" || true

# Make Default from a row.
agent_action_click () {
  gdbus call "${dest[@]}" --method org.gtk.Actions.Activate test-click "[<('$1', '$2')>]" '{}' >/dev/null
}
agent_action_click "$USER1" "Make Default"
wait_for 10 eval '[ "$(default_name)" = "$USER1" ]' &&
  pass "Make Default in a row makes that account the default" || fail "the default is $(default_name)"
wait_dump 10 "^row\t\Q$USER1\E\tDefault · " && pass "the row then says default" ||
  { fail "the row says default"; show_dump; }

# Rename from a row: a refused name is explained, a good one is taken.
agent_action_click work "Rename…"
wait_dump 10 '^window\tAdwWindow\tRename Account' && pass "Rename… opens a dialog" ||
  { fail "Rename… opens a dialog"; show_dump; }
dump_has '^entry\tAccount name\twork$' && pass "the dialog holds the current name" || fail "the rename entry"
submit "Rename Account" "has space" '^label\tAn account name is 1 to 64 printable characters' &&
  pass "a refused name: the dialog says why" || { fail "a refused name is explained"; show_dump; }
submit "Rename Account" "ci-key" '^label\tAnother account is already called “ci-key”' &&
  pass "a name in use: the dialog says so" || { fail "a name in use is explained"; show_dump; }
dump_has '^window\tAdwWindow\tRename Account' && pass "the dialog stays open on a refused name" ||
  fail "the dialog closed on a refused name"
[ "$(names)" = "ci-key $USER1 work" ] && pass "a refused name changes nothing" || fail "names: $(names)"
type_into "Rename Account" "office" || fail "typing into the rename dialog"
press "Rename Account" Return eval '[ "$(names)" = "ci-key office $USER1" ]' &&
  pass "Rename renames the account (ListAccounts)" || fail "after rename: $(names)"
wait_no_dump 10 '^window\tAdwWindow\tRename Account' && pass "the dialog closes after renaming" ||
  fail "the rename dialog stays"
wait_dump 10 '^row\toffice\t.*Used in ~/projects/work-project' && pass "the renamed row keeps its directory" ||
  { fail "the renamed row"; show_dump; }
wait_for 10 eval '[[ $(menu_layout) == *"'"'"'label'"'"': <'"'"'office'"'"'>"* ]]' &&
  pass "the tray menu follows the rename" || fail "menu after rename: $(menu_layout)"

# A failed refresh of a non-default account names it.
oauth_mode '{"refresh_fail_user": "2"}'
credentials GetCredential "{'min-validity': <uint32 7200>, 'account': <'office'>}" >/dev/null 2>&1 &&
  fail "a refresh against a refusing server succeeded"
wait_for 10 grep -qP '^notify\t\d+\tCould Not Renew the Claude Login\toffice: ' "$CK_TEST_ROOT/notifications.log" &&
  pass "a failed refresh names its account in the notification" ||
  fail "refresh notification: $(cat "$CK_TEST_ROOT/notifications.log")"
wait_dump 10 '^row\toffice\t.*Renewing failed: ' && pass "the row shows its failed refresh" ||
  { fail "the row shows the failed refresh"; show_dump; }
oauth_mode '{"refresh_fail_user": null}'

# Log Out from a row removes that account only.
agent_action_click office "Log Out"
wait_for 15 eval '[ "$(names)" = "ci-key $USER1" ]' && pass "Log Out in a row removes that account only" ||
  fail "after Log Out: $(names)"
wait_no_dump 10 '^row\toffice\t' && pass "its row goes" || { fail "its row goes"; show_dump; }
wait_for 10 eval '[ "$(radio_count)" = 2 ]' && pass "the tray menu lists the two left" ||
  fail "radio items: $(menu_layout)"
agent_action_click ci-key "Remove Key"
wait_for 15 eval '[ "$(names)" = "$USER1" ]' && pass "Remove Key in the key's row removes the key" ||
  fail "after Remove Key: $(names)"

# Add Account… in the tray: the login dialog asks for a name first (a
# refused one is explained there), then logs in to a new account of it.
oauth_mode '{"user": "2"}'
press_until_gone "Claude Keyring" ctrl+w '^window\tCkStatusWindow' || fail "Ctrl+W closes the window"
click_menu "Add _Account…"
wait_dump 10 '^window\tCkLoginDialog' && pass "Add Account… opens the login dialog" ||
  { fail "Add Account… opens the login dialog"; show_dump; }
dump_has '^entry\tAccount name \(optional\)\t$' && pass "which asks for the new account's name" ||
  { fail "the name field"; show_dump; }
[ "$(credentials GetStatus | grep -oP "'state': <'\K[a-z-]+" | head -n 1)" != login-pending ] &&
  pass "no login starts before the name is given" || fail "a login started at once"
submit "Log In to Claude" "bad name" '^label\tAn account name is 1 to 64 printable characters' &&
  pass "a refused name is explained in the dialog" || { fail "a refused name in the login dialog"; show_dump; }
submit "Log In to Claude" "work" "^label\t\Q$base\E/oauth/authorize\?" &&
  pass "the login starts with the name" || { fail "the login starts"; show_dump; }
url=$(grep -oP "^label\t\K\Q$base\E/oauth/authorize\?.*" "$CK_UI_TEST_DUMP" | head -n 1)
"$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" ||
  fail "the browser could not complete the login: $(cat "$CK_TEST_ROOT/browser.log")"
wait_for 10 eval '[ "$(names)" = "$USER1 work" ]' && pass "the login is a new account of that name" ||
  fail "after Add Account…: $(names)"
wait_dump 10 '^label\tClaude Code can now use the account second@example\.org' ||
  { fail "the dialog shows the login"; show_dump; }
press_until_gone "Log In to Claude" Escape '^window\tCkLoginDialog' || fail "Escape closes the login dialog"

# The tray menu opened in the tray host, for the README: two logins and the
# key again.
printf 'test-api-key-ui-accounts\n' | "$CK_CLI" set-api-key --as ci-key 2>/dev/null
wait_for 10 eval '[ "$(radio_count)" = 3 ]' || fail "three accounts again: $(menu_layout)"
if open_tray_menu; then
  pass "a right click opens the menu with the accounts in the tray host"
  sleep 1
  screenshot tray-menu-accounts root "320x260+0+0" || true
else
  fail "a right click opens the menu in the tray host"
fi
xdotool key Escape

grep -q test-api-key-ui-accounts "$CK_UI_TEST_DUMP" "$CK_TEST_ROOT/notifications.log" "$agent_log" &&
  fail "the key appears in the UI, a notification or the log" || pass "the key appears nowhere"

check_agent_log

finish
