#!/bin/bash
# No window at login. The agent is started the way each of the session's
# starters does, with the command line read from the built file: the XDG
# autostart entry (with DESKTOP_AUTOSTART_ID set, as the XFCE, MATE and
# Cinnamon session managers set it), the D-Bus activation file (real
# activation on the test's bus) and the systemd unit (its ExecStart run
# directly: there is no user systemd here). Each shows its tray icon and no
# window; the launcher's start, a person's, opens the status window.
. "$(dirname "$0")/ui-lib.sh"

: "${CK_AUTOSTART_FILE:?CK_AUTOSTART_FILE must name the built autostart entry}"
: "${CK_LAUNCHER_FILE:?CK_LAUNCHER_FILE must name the built desktop file}"
: "${CK_DBUS_SERVICE_FILE:?CK_DBUS_SERVICE_FILE must name the built D-Bus activation file}"
: "${CK_SYSTEMD_UNIT_FILE:?CK_SYSTEMD_UNIT_FILE must name the built systemd unit}"

app_id=io.github.claudekeyring.ClaudeKeyring

# command_of FILE KEY: the words of the first KEY= line, the program
# replaced by the agent of this build tree, in the array "command".
command_of () {
  local line
  line=$(sed -n "s/^$2=//p" "$1" | head -n 1)
  [ -n "$line" ] || die "$1 has no $2 line"
  read -r -a command <<<"$line"
  case ${command[0]} in
    claude-keyring-agent | /*/claude-keyring-agent) ;;
    *) die "$1: $2 does not run claude-keyring-agent: $line" ;;
  esac
  command[0]=$CK_AGENT
  echo "# $(basename "$1"): $2=$line"
}

agent_owner_pid () {
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.GetConnectionUnixProcessID "$app_id" 2>/dev/null |
    grep -oP 'uint32 \K\d+'
}

# The visible X windows of the agent (GTK sets _NET_WM_PID), and the
# status window by its title in case a window lacks the property.
agent_windows () {
  {
    xdotool search --onlyvisible --pid "$agent_pid" 2>/dev/null || true
    window_id "Claude Keyring"
  } | sort -u | grep .
}

# no_window SECONDS: no window of the agent maps for that long.
no_window () {
  for _ in $(seq $(($1 * 10))); do
    agent_windows >/dev/null && return 1
    sleep 0.1
  done
  return 0
}

# started_for_session WHAT: the agent that now owns the name registers
# its tray icon, and opens no window.
started_for_session () {
  local what=$1
  wait_for 20 name_has_owner "$app_id" || die "$what: the agent did not start"
  agent_pid=$(agent_owner_pid)
  wait_for 60 item_registered && pass "$what: the tray icon registers" ||
    fail "$what: the tray icon registers: $(registered_items)"
  no_window 3 && pass "$what: no window opens" ||
    fail "$what: a window opened: $(agent_windows | xargs -r -n 1 xdotool getwindowname)"
}

stop_agent () {
  kill "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" 2>/dev/null || true
  wait_for 10 eval '! name_has_owner "$app_id"' || die "the agent did not exit"
  # The next agent may get the same X client slot: let the old windows go.
  wait_for 5 eval '! agent_windows >/dev/null' || true
}

start_display
start_notifications
start_tray

# 1. XDG autostart under a session manager that sets DESKTOP_AUTOSTART_ID.
command_of "$CK_AUTOSTART_FILE" Exec
autostart=("${command[@]}")
DESKTOP_AUTOSTART_ID=ck-test-autostart-id G_MESSAGES_DEBUG=all "${autostart[@]}" \
  >>"$agent_log" 2>&1 &
pids+=($!)
started_for_session "autostart entry"
[ "$agent_pid" = "${pids[-1]}" ] || die "the name is owned by $agent_pid, not the started agent"

# The autostart entry runs while an agent already serves (D-Bus activation
# or the systemd unit came first): it leaves quietly, and shows nothing.
if DESKTOP_AUTOSTART_ID=ck-test-autostart-id timeout 20 "${autostart[@]}" \
     >"$CK_TEST_ROOT/second-autostart.log" 2>&1; then
  pass "autostart with an agent running: exits successfully"
else
  fail "autostart with an agent running: exit status $? ($(tail -n 1 "$CK_TEST_ROOT/second-autostart.log"))"
fi
no_window 2 && pass "autostart with an agent running: no window opens" ||
  fail "autostart with an agent running: a window opened"
stop_agent

# 1b. A copy of an older autostart entry (session settings tools keep one in
# ~/.config/autostart) has no flag: DESKTOP_AUTOSTART_ID still says that the
# session started it.
DESKTOP_AUTOSTART_ID=ck-test-autostart-id G_MESSAGES_DEBUG=all "$CK_AGENT" \
  >>"$agent_log" 2>&1 &
pids+=($!)
started_for_session "older autostart entry without the flag"
stop_agent

# 2. D-Bus activation on the test's bus, with the built activation file's
# Exec arguments (its program is the installed path: a wrapper stands in,
# for the agent of this tree and a log). The activated agent gets the
# display through the bus's activation environment, as in a session.
cat >"$CK_TEST_ROOT/activated-agent" <<WRAPPER
#!/bin/sh
exec "$CK_AGENT" "\$@" >>"$CK_TEST_ROOT/agent-activated.log" 2>&1
WRAPPER
chmod +x "$CK_TEST_ROOT/activated-agent"
command_of "$CK_DBUS_SERVICE_FILE" Exec
sed "s|^Exec=[^ ]*|Exec=$CK_TEST_ROOT/activated-agent|" "$CK_DBUS_SERVICE_FILE" \
  >"$CK_TEST_ROOT/services/$app_id.service"
G_MESSAGES_DEBUG=all dbus-update-activation-environment DISPLAY GSK_RENDERER NO_AT_BRIDGE \
  GTK_A11Y CK_UI_TEST_DUMP CK_UI_ICON_THEME_DIR G_MESSAGES_DEBUG ||
  die "dbus-update-activation-environment failed"
gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.ReloadConfig >/dev/null || die "the bus did not reload"
gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.StartServiceByName "$app_id" 0 >/dev/null ||
  die "D-Bus activation failed: $(tail -n 5 "$CK_TEST_ROOT/agent-activated.log" 2>&1)"
started_for_session "D-Bus activation"
stop_agent

# 3. The systemd unit's ExecStart.
command_of "$CK_SYSTEMD_UNIT_FILE" ExecStart
unit=("${command[@]}")
G_MESSAGES_DEBUG=all "${unit[@]}" >>"$agent_log" 2>&1 &
pids+=($!)
started_for_session "systemd unit"
stop_agent

# The same on a login without a display (SSH, a server): it serves,
# headless.
env -u DISPLAY G_MESSAGES_DEBUG=all "${unit[@]}" >"$CK_TEST_ROOT/headless.log" 2>&1 &
pids+=($!)
agent_pid=$!
wait_for 20 name_has_owner "$app_id" || die "headless: the agent did not start"
out=$(credentials GetStatus 2>&1) && [[ $out == *"'state': <"* ]] &&
  pass "headless: it serves GetStatus" || fail "headless: GetStatus: $out"
grep -q "serving $app_id (headless)" "$CK_TEST_ROOT/headless.log" &&
  pass "headless: it runs without the UI" || fail "headless: $(tail -n 3 "$CK_TEST_ROOT/headless.log")"
stop_agent

# 4. A person's start: the launcher's Exec, as the app grid or a terminal
# runs it, opens the status window (and the tray icon is there too).
command_of "$CK_LAUNCHER_FILE" Exec
G_MESSAGES_DEBUG=all "${command[@]}" >>"$agent_log" 2>&1 &
pids+=($!)
agent_pid=$!
wait_for 20 name_has_owner "$app_id" || die "launcher: the agent did not start"
wait_for 20 agent_windows >/dev/null && pass "launcher: the status window opens" ||
  fail "launcher: the status window opens"
wait_for 60 item_registered && pass "launcher: the tray icon registers" ||
  fail "launcher: the tray icon registers: $(registered_items)"
stop_agent

check_agent_log
finish
