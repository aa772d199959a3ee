#!/bin/bash
# No tray host: the agent with a display starts, says so in one line,
# serves D-Bus as always, and registers its icon once a host appears.
# A login claude writes is moved into the keyring with a notification.
# A second start of the agent (the desktop file) opens the status window.
. "$(dirname "$0")/ui-lib.sh"

mkdir -p -m 700 "$HOME/.claude"
start_display
start_notifications
start_agent

# The UI is loaded (its actions exist) although nothing shows it.
wait_for 10 eval 'gdbus call "${dest[@]}" --method org.gtk.Actions.List 2>/dev/null | grep -q test-dump' &&
  pass "the agent loaded the UI module" || die "the UI module is not loaded: $(tail -n 5 "$agent_log")"

wait_for 10 grep -q "No tray host is running" "$agent_log" && pass "the agent says there is no tray host" ||
  fail "the agent says there is no tray host"
sleep 1
[ "$(grep -v -- '-DEBUG' "$agent_log" | grep -ci 'tray')" -eq 1 ] && pass "in exactly one line" ||
  { fail "in exactly one line"; grep -i tray "$agent_log" >&2; }

out=$(credentials GetStatus 2>&1) && [[ $out == *"'state': <'logged-out'>"* ]] &&
  pass "it serves GetStatus" || fail "GetStatus: $out"
credentials SetApiKey sk-ant-no-tray-key >/dev/null && pass "it serves SetApiKey" || fail "SetApiKey"
out=$(credentials GetCredential '{}' 2>&1) && [[ $out == *sk-ant-no-tray-key* ]] &&
  pass "it serves GetCredential" || fail "GetCredential: $out"

dump
dump_has '^gtk\tnot started' && pass "without a window, GTK is not even started" ||
  { fail "GTK started without a window"; show_dump; }
echo "# agent memory with the UI module, no tray host, no window: $(agent_memory)"
dump_has '^window' && fail "a window opened by itself" || pass "no window opened by itself"

# claude /login writes its login: the agent moves it and says so, without
# the token.
printf '{"claudeAiOauth":{"accessToken":"test-ui-auto-access","refreshToken":"test-ui-auto-refresh","expiresAt":4102444800000}}\n' \
  >"$HOME/.claude/.credentials.json"
wait_for 10 grep -qP '^notify\t\d+\tClaude Login Moved to the Keyring\t.*\Q'"$HOME"'/.claude/.credentials.json\E' \
  "$CK_TEST_ROOT/notifications.log" && pass "an imported login raises a notification" ||
  fail "no notification for the imported login: $(cat "$CK_TEST_ROOT/notifications.log")"
grep -q test-ui-auto "$CK_TEST_ROOT/notifications.log" && fail "the notification shows the token" ||
  pass "the notification shows no token"
[ ! -e "$HOME/.claude/.credentials.json" ] && pass "the imported file is gone" || fail "the imported file stays"

# A tray host appears later: the icon shows up.
start_tray
wait_for 60 item_registered && pass "the icon registers when a tray host appears" ||
  fail "the icon registers when a tray host appears: $(registered_items)"

# Starting the agent again, as the desktop file does, shows its window.
"$CK_AGENT" >>"$CK_TEST_ROOT/second-start.log" 2>&1 && pass "a second start exits at once" ||
  fail "a second start exits at once"
wait_dump 10 '^window\tCkStatusWindow' && pass "a second start opens the status window" ||
  fail "a second start opens the status window"
wait_dump 10 '^row\tActive source\tAPI key in the keyring' &&
  pass "the window shows the stored API key as the source" || { fail "API key row"; show_dump; }

finish
