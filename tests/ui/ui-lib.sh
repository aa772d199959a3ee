# Shared by the UI tests (suite 'ui'): source it from a test.
#
# Every test already runs inside tests/support/ck-test-session (private
# bus, unlocked keyring, isolated HOME). This adds what a desktop has: an
# X server (Xvfb), optionally a real tray host (gtk-sni-tray-standalone,
# which owns org.kde.StatusNotifierWatcher), a notification server, and an
# agent started with the display and the UI module from the build tree.
set -euo pipefail

: "${CK_AGENT:?CK_AGENT must name the agent binary}"
: "${CK_TEST_ROOT:?run this test through tests/support/ck-test-session}"
: "${CK_UI_MODULE_DIR:?CK_UI_MODULE_DIR must name the build directory of the UI module}"

support=$CK_SOURCE_ROOT/tests/support
screenshots=${CK_SCREENSHOT_DIR:-$CK_TEST_ROOT}
mkdir -p "$screenshots"

export GSK_RENDERER=cairo NO_AT_BRIDGE=1 GTK_A11Y=none
export CK_UI_TEST_DUMP=$CK_TEST_ROOT/ui-dump.txt
export CK_UI_ICON_THEME_DIR=$CK_SOURCE_ROOT/data/icons
unset DESKTOP_AUTOSTART_ID DBUS_STARTER_BUS_TYPE DBUS_STARTER_ADDRESS

dest=(--session --dest io.github.claudekeyring.ClaudeKeyring
      --object-path /io/github/claudekeyring/ClaudeKeyring)
agent_log=$CK_TEST_ROOT/agent-ui.log
failures=0
pids=()

pass () { echo "ok - $*"; }
fail () {
  echo "not ok - $*"
  failures=$((failures + 1))
}
# Stops the test at once: what follows depends on it.
die () {
  echo "not ok - $*"
  echo "--- agent-ui.log (tray lines, last 30 lines)" >&2
  grep -i "tray\|watcher" "$agent_log" >&2 2>/dev/null || true
  tail -n 30 "$agent_log" >&2 2>/dev/null || true
  if [ -s "$CK_TEST_ROOT/tray.log" ]; then
    echo "--- tray.log (last 10 lines)" >&2
    tail -n 10 "$CK_TEST_ROOT/tray.log" >&2
  fi
  exit 1
}

for tool in Xvfb xdotool import gtk-sni-tray-standalone; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing: apt-get install xvfb xdotool imagemagick haskell-gtk-sni-tray-utils"
done

ui_cleanup () {
  local pid
  # CK_UI_KEEP_LOGS=DIR keeps the logs and the last dump for a look.
  if [ -n "${CK_UI_KEEP_LOGS:-}" ]; then
    mkdir -p "$CK_UI_KEEP_LOGS"
    cp "$CK_TEST_ROOT"/*.log "$CK_UI_TEST_DUMP" "$CK_UI_KEEP_LOGS"/ 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap ui_cleanup EXIT

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms.
wait_for () {
  local seconds=$1
  shift
  for _ in $(seq $((seconds * 20))); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

name_has_owner () {
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner "$1" 2>/dev/null | grep -q true
}

# An X server of our own; -displayfd picks a free display without races
# between tests running in parallel.
start_display () {
  local fifo=$CK_TEST_ROOT/displayfd
  mkfifo "$fifo"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$fifo" 2>"$CK_TEST_ROOT/xvfb.log" &
  pids+=($!)
  read -r -t 20 display <"$fifo" || die "Xvfb did not start"
  export DISPLAY=:$display
  wait_for 10 xdotool getdisplaygeometry >/dev/null || die "the X server does not answer"
}

# With CK_UI_KEEP_LOGS, everything on the bus goes to monitor.log too.
if [ -n "${CK_UI_KEEP_LOGS:-}" ]; then
  dbus-monitor --session >"$CK_TEST_ROOT/monitor.log" 2>&1 &
  pids+=($!)
fi

# start_fake_oauth: the project's fake OAuth server, $base its URL, and
# the agent's endpoints (read from its environment) pointing at it.
start_fake_oauth () {
  "$(command -v python3)" "$support/fake-oauth-server.py" --port-file "$CK_TEST_ROOT/port" \
    --client-id ck-test-client 2>"$CK_TEST_ROOT/oauth-server.log" &
  pids+=($!)
  wait_for 10 test -s "$CK_TEST_ROOT/port" || die "the fake OAuth server did not start"
  base=http://127.0.0.1:$(cat "$CK_TEST_ROOT/port")
  export CLAUDE_KEYRING_AUTHORIZE_URL=$base/oauth/authorize
  export CLAUDE_KEYRING_CONSOLE_AUTHORIZE_URL=$base/oauth/authorize
  export CLAUDE_KEYRING_TOKEN_URL=$base/v1/oauth/token
  export CLAUDE_KEYRING_REVOKE_URL=$base/v1/oauth/revoke
  export CLAUDE_KEYRING_API_BASE_URL=$base
  export CLAUDE_KEYRING_CLIENT_ID=ck-test-client
}

start_notifications () {
  "$CK_UI_BUILD_DIR/ck-fake-notifications" "$CK_TEST_ROOT/notifications.log" &
  pids+=($!)
  wait_for 10 name_has_owner org.freedesktop.Notifications || die "no notification server"
}

# start_tray [ARGS...]: a real tray host (default: at the bottom of the
# screen), which also starts the StatusNotifierWatcher. gtk-sni-tray's
# host sometimes asks its own watcher before that serves its object and
# exits ("Pattern match failure"): such a start is tried again.
start_tray () {
  local args=("$@")
  [ ${#args[@]} -gt 0 ] || args=(--bottom --size 32)
  for _ in 1 2 3 4 5; do
    gtk-sni-tray-standalone --watcher "${args[@]}" >>"$CK_TEST_ROOT/tray.log" 2>&1 &
    tray_pid=$!
    if wait_for 30 name_has_owner org.kde.StatusNotifierWatcher; then
      sleep 1
      if kill -0 "$tray_pid" 2>/dev/null; then
        pids+=($tray_pid)
        return 0
      fi
    fi
    echo "# the tray host exited while starting; starting it again"
    kill "$tray_pid" 2>/dev/null || true
    wait "$tray_pid" 2>/dev/null || true
    wait_for 10 eval '! name_has_owner org.kde.StatusNotifierWatcher' || true
  done
  die "the tray host did not start"
}

stop_tray () {
  kill "$tray_pid"
  wait "$tray_pid" 2>/dev/null || true
  wait_for 10 eval '! name_has_owner org.kde.StatusNotifierWatcher' ||
    die "the tray host did not go away"
}

# start_agent [ARGS...]: the agent with the display and the UI module.
# --gapplication-service keeps its own start from opening a window, as
# for a session service.
start_agent () {
  agent_start_ns=$(date +%s%N)
  G_MESSAGES_DEBUG=${G_MESSAGES_DEBUG:-all} "$CK_AGENT" --replace --gapplication-service "$@" \
    >>"$agent_log" 2>&1 &
  agent_pid=$!
  pids+=($agent_pid)
  wait_for 20 name_has_owner io.github.claudekeyring.ClaudeKeyring || die "the agent did not start"
}

registered_items () {
  gdbus call --session --dest org.kde.StatusNotifierWatcher --object-path /StatusNotifierWatcher \
    --method org.freedesktop.DBus.Properties.Get org.kde.StatusNotifierWatcher \
    RegisteredStatusNotifierItems 2>/dev/null
}

item_name () { echo "org.kde.StatusNotifierItem-$agent_pid-1"; }

item_registered () { registered_items | grep -q "$(item_name)"; }

menu_layout () {
  gdbus call --session --dest "$(item_name)" --object-path /StatusNotifierItem/Menu \
    --method com.canonical.dbusmenu.GetLayout 0 -- -1 '[]'
}

item_property () {
  gdbus call --session --dest "$(item_name)" --object-path /StatusNotifierItem \
    --method org.freedesktop.DBus.Properties.Get org.kde.StatusNotifierItem "$1"
}

# menu_id LABEL: the dbusmenu id of the item with that exact label.
menu_id () {
  menu_layout | grep -oP "\((\d+), \{'label': <'\Q$1\E'>" | grep -oP '^\(\K\d+'
}

# click_menu LABEL: what a host sends when the user picks the item, once
# the menu has it (a just-started agent shows its menu before it has read
# the keyring, and the items that depend on it follow).
click_menu () {
  local id
  wait_for 10 menu_id "$1" >/dev/null || die "the menu has no item “$1”: $(menu_layout)"
  id=$(menu_id "$1")
  gdbus call --session --dest "$(item_name)" --object-path /StatusNotifierItem/Menu \
    --method com.canonical.dbusmenu.Event "$id" clicked '<@s "">' 'uint32 0' >/dev/null
}

agent_action () {
  gdbus call "${dest[@]}" --method org.gtk.Actions.Activate "$1" '[]' '{}' >/dev/null
}

credentials () {
  local method=$1
  shift
  gdbus call "${dest[@]}" --method "io.github.claudekeyring.Credentials1.$method" "$@"
}

# dump: what the UI shows right now, in $CK_UI_TEST_DUMP.
dump () {
  rm -f "$CK_UI_TEST_DUMP"
  agent_action test-dump
  wait_for 5 test -s "$CK_UI_TEST_DUMP" || die "the UI wrote no dump"
}

# wait_dump SECONDS PATTERN: until the dump has a line matching PATTERN (grep -P).
wait_dump () {
  local seconds=$1 pattern=$2
  for _ in $(seq $((seconds * 4))); do
    dump
    grep -qP -- "$pattern" "$CK_UI_TEST_DUMP" && return 0
    sleep 0.25
  done
  return 1
}

dump_has () { grep -qP -- "$1" "$CK_UI_TEST_DUMP"; }

# wait_no_dump SECONDS PATTERN: until no line of the dump matches PATTERN.
wait_no_dump () {
  local seconds=$1 pattern=$2
  for _ in $(seq $((seconds * 4))); do
    dump
    grep -qP -- "$pattern" "$CK_UI_TEST_DUMP" || return 0
    sleep 0.25
  done
  return 1
}

show_dump () { sed 's/^/    # /' "$CK_UI_TEST_DUMP" >&2; }

# press TITLE KEYS CHECK...: focuses the window and presses KEYS until
# CHECK succeeds; without a window manager the first press can arrive
# before the window has the focus, and is lost.
press () {
  local title=$1 keys=$2 id
  shift 2
  for _ in 1 2 3 4 5; do
    id=$(window_id "$title")
    if [ -n "$id" ]; then
      xdotool windowfocus --sync "$id" 2>/dev/null || true
      sleep 0.2
      xdotool key --clearmodifiers "$keys"
    fi
    for _ in $(seq 12); do
      "$@" && return 0
      sleep 0.25
    done
  done
  return 1
}

window_gone () {
  dump
  ! grep -qP -- "$1" "$CK_UI_TEST_DUMP"
}

# press_until_gone TITLE KEYS PATTERN: until no dump line matches PATTERN.
press_until_gone () {
  press "$1" "$2" window_gone "$3"
}

# type_into TITLE TEXT: types TEXT into the focused field of the window
# until the dump shows it there.
type_into () {
  local title=$1 text=$2 id
  for _ in 1 2 3 4 5; do
    id=$(window_id "$title")
    xdotool windowfocus --sync "$id" 2>/dev/null || true
    sleep 0.2
    xdotool key --clearmodifiers ctrl+a BackSpace
    xdotool type --delay 5 "$text"
    dump
    grep -qF -- "$text" "$CK_UI_TEST_DUMP" && return 0
  done
  return 1
}

# window_id TITLE: the X window of a shown window with this title.
window_id () {
  xdotool search --onlyvisible --name "^$1\$" 2>/dev/null | head -n 1
}

# place_window TITLE: moves the shown window of that title below a tray
# bar at the top (windows appear at the top left without a window manager).
place_window () {
  local id
  wanted_window=$1
  wait_for 10 eval '[ -n "$(window_id "$wanted_window")" ]' || return 1
  id=$(window_id "$1")
  xdotool windowmove "$id" 0 40
  sleep 0.5
}

tray_windows () { xdotool search --onlyvisible --name '^gtk-sni-tray-standalone$' 2>/dev/null | wc -l; }

# open_tray_menu: a right click on the icon of a tray bar at the top, until
# the tray host shows its menu (a new window of its own).
open_tray_menu () {
  local before
  before=$(tray_windows)
  for _ in 1 2 3; do
    xdotool mousemove 14 14 click 3
    wait_for 3 eval '[ "$(tray_windows)" -gt "$before" ]' && return 0
  done
  return 1
}

# screenshot NAME WINDOW-ID|root [GEOMETRY]: a PNG in $screenshots; fails
# when the picture stays empty (one flat colour) for 10 s. A window is
# mapped before GTK has painted it, and a slow (instrumented) agent paints
# seconds later: an empty picture is taken again until then.
screenshot () {
  local name=$1 window=$2 crop=${3:-}
  local file=$screenshots/$name.png colours
  for _ in $(seq 20); do
    if [ -n "$crop" ]; then
      import -window "$window" -crop "$crop" +repage "$file"
    else
      import -window "$window" "$file"
    fi
    colours=$(convert "$file" -format '%k' info:)
    [ "$colours" -gt 8 ] && break
    sleep 0.5
  done
  [ "$colours" -gt 8 ] || { fail "screenshot $name is blank ($colours colours)"; return 1; }
  echo "# screenshot: $file"
}

# The agent's memory: resident and proportional set size in KiB.
agent_memory () {
  local rss pss
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$agent_pid/status")
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$agent_pid/smaps_rollup" 2>/dev/null || echo "?")
  echo "RSS ${rss} KiB, PSS ${pss} KiB"
}

# No criticals or warnings in the agent's log. One is the test's doing:
# xdotool moves the X focus without a window manager, and GTK then misses
# a focus-out event.
check_agent_log () {
  if grep -E "CRITICAL|-WARNING" "$agent_log" | grep -v "did not receive a focus-out event" >&2; then
    fail "the agent logged warnings"
  else
    pass "no warnings in the agent's log"
  fi
}

finish () {
  if [ "$failures" -ne 0 ]; then
    echo "--- agent-ui.log (last 30 lines)" >&2
    tail -n 30 "$agent_log" >&2 || true
    exit 1
  fi
  exit 0
}
