#!/bin/bash
# Sandboxed callers and what the UI puts on the bus: a Flatpak-like bwrap
# sandbox (with /.flatpak-info) calls GApplication's org.gtk.Actions and
# org.freedesktop.Application (log out, quit, show a window), the tray's
# dbusmenu (a click on Log Out or Quit) and its StatusNotifierItem. Each
# call is refused with AccessDenied; after each the key is still stored,
# the agent still runs and no window opened. A sandbox without
# /.flatpak-info must be refused the same way when the agent counts it as
# sandboxed (Credentials1 says so). The user's own click still logs out.
. "$(dirname "$0")/ui-lib.sh"

command -v bwrap >/dev/null || die "bwrap is missing: apt-get install bubblewrap"

key=test-key-ui-sandbox
. "$CK_SOURCE_ROOT/tests/support/ck-sandbox.sh"
sandbox () { ck_sandbox "$@"; }

# The agent started by start_agent still owns the name (a zombie would not).
agent_runs () {
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.GetConnectionUnixProcessID io.github.claudekeyring.ClaudeKeyring \
    2>/dev/null | grep -q "[( ]$agent_pid,"
}

# ready: the agent runs with the key stored, no window and Log Out in its
# menu, whatever the attempt before did; sets the tray's addresses.
ready () {
  if ! agent_runs || { dump && dump_has '^window\t'; }; then
    start_agent
    wait_for 60 item_registered || die "the icon did not register: $(registered_items)"
  fi
  "$CK_CLI" status >/dev/null 2>&1 || credentials SetApiKey "$key" >/dev/null
  wait_for 10 menu_id "Log _Out" >/dev/null || die "no Log Out in the menu: $(menu_layout)"
  logout_id=$(menu_id "Log _Out")
  quit_id=$(menu_id "_Quit")
  item=(--session --dest "$(item_name)" --object-path /StatusNotifierItem)
  menu=(--session --dest "$(item_name)" --object-path /StatusNotifierItem/Menu)
}

# refused KIND WHAT GDBUS-CALL-ARGS...: the call from the sandbox fails with
# AccessDenied and changes nothing.
refused () {
  local kind=$1 what=$2 out status problems=()
  shift 2
  out=$(sandbox "$kind" gdbus call "$@" 2>&1) && status=0 || status=$?
  # A logout or a quit that the call set off has happened by now.
  sleep 1
  [ $status -ne 0 ] && [[ $out == *io.github.claudekeyring.Error.AccessDenied* ]] ||
    problems+=("answered: $out")
  if agent_runs; then
    "$CK_CLI" status >/dev/null 2>&1 || problems+=("the key is gone")
    dump
    dump_has '^window\t' && problems+=("a window opened")
  else
    problems+=("the agent is gone")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    pass "$kind sandbox: $what is refused"
  else
    fail "$kind sandbox: $what: ${problems[*]}"
  fi
}

# Everything a sandbox could try on the agent with the UI loaded.
try_all () {
  local kind=$1 actions=org.gtk.Actions fdo=org.freedesktop.Application
  ready; refused "$kind" "$actions.Activate logout" "${dest[@]}" --method $actions.Activate logout '[]' '{}'
  ready; refused "$kind" "$actions.Activate quit" "${dest[@]}" --method $actions.Activate quit '[]' '{}'
  ready; refused "$kind" "$actions.Activate status" "${dest[@]}" --method $actions.Activate status '[]' '{}'
  ready; refused "$kind" "$fdo.ActivateAction logout" "${dest[@]}" --method $fdo.ActivateAction logout '[]' '{}'
  ready; refused "$kind" "$fdo.ActivateAction quit" "${dest[@]}" --method $fdo.ActivateAction quit '[]' '{}'
  ready; refused "$kind" "$fdo.ActivateAction status" "${dest[@]}" --method $fdo.ActivateAction status '[]' '{}'
  ready; refused "$kind" "$fdo.Activate" "${dest[@]}" --method $fdo.Activate '{}'
  ready; refused "$kind" "org.gtk.Application.Activate" "${dest[@]}" --method org.gtk.Application.Activate '{}'
  ready; refused "$kind" "a click on Log Out in the tray menu" "${menu[@]}" \
    --method com.canonical.dbusmenu.Event "$logout_id" clicked '<@s "">' 'uint32 0'
  ready; refused "$kind" "a click on Quit in the tray menu" "${menu[@]}" \
    --method com.canonical.dbusmenu.Event "$quit_id" clicked '<@s "">' 'uint32 0'
  ready; refused "$kind" "a group of clicks on Log Out" "${menu[@]}" \
    --method com.canonical.dbusmenu.EventGroup "[($logout_id, 'clicked', <''>, uint32 0)]"
  ready; refused "$kind" "reading the menu (it names the account)" "${menu[@]}" \
    --method com.canonical.dbusmenu.GetLayout 0 -- -1 '[]'
  ready; refused "$kind" "a click on the tray icon" "${item[@]}" \
    --method org.kde.StatusNotifierItem.Activate 0 0
  ready; refused "$kind" "reading the icon's tooltip" "${item[@]}" \
    --method org.freedesktop.DBus.Properties.Get org.kde.StatusNotifierItem ToolTip
}

start_display
start_notifications
start_tray
start_agent
wait_for 60 item_registered || die "the icon did not register: $(registered_items)"

try_all flatpak
grep -q "Refused a sandboxed caller (org.example.Sandboxed" "$agent_log" &&
  pass "the refusals are logged with the app ID" || fail "the refusals are logged with the app ID"

# Without /.flatpak-info: the UI answers as Credentials1 does.
ready
out=$(sandbox plain gdbus call "${dest[@]}" --method io.github.claudekeyring.Credentials1.GetStatus 2>&1) || true
if [[ $out == *io.github.claudekeyring.Error.AccessDenied* ]]; then
  try_all plain
else
  echo "ok - plain sandbox: the agent does not count it as sandboxed # SKIP"
fi

# The user's own click on Log Out, from the tray host's side, still works.
ready
click_menu "Log _Out"
wait_for 10 eval '! "$CK_CLI" status >/dev/null 2>&1' && pass "the user's own click on Log Out logs out" ||
  fail "the user's own click on Log Out logs out"

check_agent_log

finish
