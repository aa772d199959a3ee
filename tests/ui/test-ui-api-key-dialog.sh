#!/bin/bash
# The API key dialog, by keyboard: API Key… in the tray opens it, a key
# typed into its password entry and Return store it (never shown back),
# the helper command field edits the api-key-helper setting, and Remove
# Stored Key clears the key. Screenshot: api-key-dialog.png.
. "$(dirname "$0")/ui-lib.sh"

key=sk-ant-typed-into-the-dialog
title="API Key"
state_source () { credentials GetStatus | grep -oP "'source': <'\K[a-z-]*"; }

start_display
start_notifications
start_tray
start_agent
wait_for 60 item_registered || die "the icon did not register"

click_menu "_API Key…"
wait_dump 10 '^window\tCkApiKeyDialog\tAPI Key' && pass "API Key… opens the dialog" ||
  die "API Key… opens the dialog"
dump_has '^password-entry$' && pass "the key goes into a password entry" || fail "no password entry"
dump_has '^label\tNo API key is in use\.' && pass "it says no key is in use" || { fail "no-key label"; show_dump; }
dump_has '^button\tSave\tinsensitive' && pass "Save waits for input" || fail "Save is sensitive while empty"

type_into_password () {
  local id
  for _ in 1 2 3 4 5; do
    id=$(window_id "$title")
    xdotool windowfocus --sync "$id" 2>/dev/null || true
    sleep 0.2
    xdotool key --clearmodifiers ctrl+a BackSpace
    xdotool type --delay 5 "$key"
    dump
    dump_has '^button\tSave$' && return 0
  done
  return 1
}
type_into_password && pass "typing a key makes Save available" || { fail "Save after typing"; show_dump; }
grep -q "$key" "$CK_UI_TEST_DUMP" && fail "the typed key is visible" || pass "the typed key is not shown"
wait_for 10 test -n "$(window_id "$title")" && xdotool windowmove "$(window_id "$title")" 0 40
sleep 0.5
screenshot api-key-dialog "$(window_id "$title")" || true

press_until_gone "$title" Return '^window\tCkApiKeyDialog' && pass "Return saves and closes the dialog" ||
  fail "Return saves and closes the dialog"
wait_for 10 eval '[ "$(state_source)" = keyring ]' && pass "the key is stored in the keyring" ||
  fail "source after saving: $(state_source)"
out=$(credentials GetCredential '{}')
[[ $out == *"$key"* ]] && pass "the agent hands out the typed key" || fail "GetCredential: $out"

# Opened again: the key is not there, the dialog says one is in use.
click_menu "_API Key…"
wait_dump 10 '^label\tAn API key is stored and in use' && pass "it says a key is stored" ||
  { fail "stored label"; show_dump; }
grep -q "$key" "$CK_UI_TEST_DUMP" && fail "the stored key is shown" || pass "the stored key is never shown"

# The helper command: its field (Alt+C), then Return saves the setting.
helper="printf sk-ant-from-helper"
for _ in 1 2 3 4 5; do
  xdotool windowfocus --sync "$(window_id "$title")" 2>/dev/null || true
  sleep 0.2
  xdotool key --clearmodifiers alt+c
  xdotool type --delay 5 "$helper"
  dump
  grep -qP "^entry\tCommand\t\Q$helper\E$" "$CK_UI_TEST_DUMP" && break
  xdotool key --clearmodifiers ctrl+a BackSpace
done
grep -qP "^entry\tCommand\t\Q$helper\E$" "$CK_UI_TEST_DUMP" && pass "Alt+C reaches the helper command" ||
  { fail "the helper command field"; show_dump; }
press_until_gone "$title" Return '^window\tCkApiKeyDialog' || fail "Return closes the dialog"
[ "$(gsettings get io.github.claudekeyring.ClaudeKeyring api-key-helper)" = "'$helper'" ] &&
  pass "the helper command is saved in GSettings" ||
  fail "api-key-helper: $(gsettings get io.github.claudekeyring.ClaudeKeyring api-key-helper)"
wait_for 10 eval '[ "$(state_source)" = helper ]' && pass "the helper is now the source" ||
  fail "source: $(state_source)"
gsettings set io.github.claudekeyring.ClaudeKeyring api-key-helper ''

# Remove Stored Key clears it.
wait_for 10 eval '[ "$(state_source)" = keyring ]' || fail "source without helper: $(state_source)"
click_menu "_API Key…"
wait_dump 10 '^button\tRemove Stored Key' || fail "the dialog offers Remove Stored Key"
for _ in 1 2 3 4 5; do
  xdotool windowfocus --sync "$(window_id "$title")" 2>/dev/null || true
  sleep 0.2
  xdotool key --clearmodifiers alt+r
  wait_for 3 eval '[ -z "$(state_source)" ]' && break
done
[ -z "$(state_source)" ] && pass "Remove Stored Key (Alt+R) clears the key" || fail "source: $(state_source)"
wait_dump 10 '^label\tStored API key removed' && pass "and says so" || { fail "toast"; show_dump; }
press_until_gone "$title" Escape '^window\tCkApiKeyDialog' && pass "Escape closes the dialog" ||
  fail "Escape closes the dialog"

check_agent_log
finish
