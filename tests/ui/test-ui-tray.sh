#!/bin/bash
# The tray icon with a real tray host: it registers (and says how long
# that took), registers again when the host restarts, its menu follows the
# state, and Status… and a click on the icon open the status window.
. "$(dirname "$0")/ui-lib.sh"

start_display
start_notifications
start_tray
start_agent

wait_for 60 item_registered || die "the icon did not register with the tray host: $(registered_items)"
registered_ns=$(date +%s%N)
pass "the icon registers with the StatusNotifierWatcher"
echo "# from start to icon registered: $(((registered_ns - agent_start_ns) / 1000000)) ms"
echo "# agent memory with the UI loaded (tray only): $(agent_memory)"

grep -q "Tray icon registered with org.kde.StatusNotifierWatcher" "$agent_log" &&
  pass "the agent logs the registration" || fail "the agent logs the registration"

# The item describes itself.
[[ $(item_property Category) == *ApplicationStatus* ]] && pass "Category is ApplicationStatus" ||
  fail "Category: $(item_property Category)"
[[ $(item_property Menu) == *"/StatusNotifierItem/Menu"* ]] && pass "the item names its menu" ||
  fail "Menu: $(item_property Menu)"
wait_for 10 eval '[[ $(item_property IconName) == *ClaudeKeyring-logged-out* ]]' &&
  pass "logged out: the logged-out icon" || fail "IconName: $(item_property IconName)"
[[ $(item_property IconPixmap) == *"(22, 22, "* ]] && pass "the item carries pixmaps for hosts without the icon" ||
  fail "no 22×22 pixmap in IconPixmap"
[[ $(item_property ToolTip) == *"Not Logged In"* ]] && pass "the tooltip says not logged in" ||
  fail "ToolTip: $(item_property ToolTip)"

# Menu, logged out: the state line, Log In…, no Log Out.
layout=$(menu_layout)
[[ $layout == *"'label': <'Not logged in'>, 'enabled': <false>"* ]] &&
  pass "logged out: the menu says so on a disabled line" || fail "logged out: state line missing: $layout"
[[ $layout == *"'label': <'_Log In…'>, 'enabled': <true>"* ]] &&
  pass "logged out: the menu offers Log In…" || fail "logged out: no Log In…: $layout"
[[ $layout != *"Log _Out"* ]] && pass "logged out: no Log Out" || fail "logged out: Log Out shown: $layout"
[[ $layout == *"'label': <'_Status…'>"* && $layout == *"'label': <'_Quit'>"* ]] &&
  pass "the menu has Status… and Quit" || fail "Status…/Quit missing: $layout"
[[ $layout == *"'type': <'separator'>"* ]] && pass "sections are separated" || fail "no separators: $layout"

# A screenshot of the tray with its icon, the menu opened by a right click.
sleep 1
screen_height=$(xdotool getdisplaygeometry | cut -d' ' -f2)
screenshot tray-icon root "160x32+0+$((screen_height - 32))" || true

# An API key: the menu follows (Log Out, the source), the icon too.
login_id=$(menu_id "_Log In…")
status_id=$(menu_id "_Status…")
credentials SetApiKey sk-ant-test-tray-key >/dev/null
wait_for 10 eval '[[ $(menu_layout) == *"Using an API key from the keyring"* ]]' &&
  pass "with an API key: the menu says which credential is used" || fail "API key: $(menu_layout)"
# A host may click an item of the layout it fetched before the change:
# that must reach the same item or none, never the one now in its place.
[ "$(menu_id "_Status…")" = "$status_id" ] && pass "an item keeps its id when the menu changes" ||
  fail "Status… had id $status_id, now $(menu_id "_Status…"): $(menu_layout)"
if gdbus call --session --dest "$(item_name)" --object-path /StatusNotifierItem/Menu \
     --method com.canonical.dbusmenu.Event "$login_id" clicked '<@s "">' 'uint32 0' >/dev/null 2>&1; then
  fail "a click on the id of the gone Log In… item was accepted"
else
  pass "a click on the id of a gone item is refused"
fi
sleep 0.5
grep -q "activates app.logout" "$agent_log" && fail "a click meant for Log In… logged out" ||
  pass "a click meant for Log In… activates nothing else"
layout=$(menu_layout)
[[ $layout == *"'label': <'Log _Out'>, 'enabled': <true>"* ]] &&
  pass "with an API key: the menu offers Log Out" || fail "API key: no Log Out: $layout"
[[ $layout != *"_Log In…"* ]] && pass "with an API key: no Log In…" || fail "API key: Log In… shown: $layout"
[[ $(item_property IconName) == *ClaudeKeyring-logged-in* ]] && pass "with an API key: the logged-in icon" ||
  fail "IconName: $(item_property IconName)"
[[ $layout != *sk-ant-test-tray-key* && $(item_property ToolTip) != *sk-ant-test-tray-key* ]] &&
  pass "the key is in neither menu nor tooltip" || fail "the key leaked into the tray"

# Status… in the menu opens the status window.
dump
dump_has '^window\tCkStatusWindow' && fail "the status window is open before anyone asked"
click_menu "_Status…"
wait_dump 10 '^window\tCkStatusWindow\tClaude Keyring' && pass "Status… opens the status window" ||
  { fail "Status… opens the status window"; show_dump; }
wait_for 10 eval '[ -n "$(window_id "Claude Keyring")" ]' && pass "the window is on screen" ||
  fail "no X window titled Claude Keyring"

# The keyboard closes it (Ctrl+W), a click on the icon (Activate) opens it again.
press_until_gone "Claude Keyring" ctrl+w '^window\tCkStatusWindow' && pass "Ctrl+W closes the status window" ||
  fail "Ctrl+W closes the status window"
gdbus call --session --dest "$(item_name)" --object-path /StatusNotifierItem \
  --method org.kde.StatusNotifierItem.Activate 10 10 >/dev/null
wait_dump 10 '^window\tCkStatusWindow' && pass "Activate on the icon opens the status window" ||
  fail "Activate on the icon opens the status window"
echo "# agent memory with the status window open: $(agent_memory)"

# A click with the real host: left click on the icon shows the window.
press_until_gone "Claude Keyring" Escape '^window\tCkStatusWindow' && pass "Escape closes the status window" ||
  fail "Escape closes the status window"
xdotool mousemove 16 $((screen_height - 16)) click 1
wait_dump 10 '^window\tCkStatusWindow' && pass "a click on the icon in the tray host opens the window" ||
  fail "a click on the icon in the tray host opens the window"

# The host restarts: the icon registers with the new watcher.
stop_tray
# The bus tells the agent after it tells us that the watcher is gone.
wait_for 10 grep -q "The tray host went away" "$agent_log" &&
  pass "the agent notices the host going away" || fail "the agent notices the host going away"
start_tray
wait_for 60 item_registered && pass "the icon registers again with the restarted host" ||
  fail "the icon registers again with the restarted host: $(registered_items)"
# The watcher lists the item before the agent has its reply and logs it.
wait_for 10 eval '[ "$(grep -c "Tray icon registered" "$agent_log")" -ge 2 ]' &&
  pass "the re-registration is logged" || fail "the re-registration is logged"

# Quit in the menu stops the agent.
click_menu "_Quit"
wait_for 10 eval '! name_has_owner io.github.claudekeyring.ClaudeKeyring' &&
  pass "Quit stops the agent" || fail "Quit stops the agent"

check_agent_log

finish
