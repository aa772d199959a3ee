#!/bin/bash
# The agent runs from an installed tree as the systemd user unit: this
# source tree is installed with a prefix under $CK_TEST_ROOT, a private
# "systemd --user" on a private session bus gets the installed unit linked
# in, "systemctl --user start" must reach Type=dbus readiness (the agent
# owns its bus name), and the unit's main process must be the agent that
# answers GetStatus.
#
# Skips (77) where no user manager can run: a container or chroot whose
# PID 1 is not systemd. The unit itself is verified by the data suite
# (test-systemd-unit.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${CK_TEST_ROOT:?run this inside tests/support/ck-test-session}"
# shellcheck source=install-lib.sh
. "$here/install-lib.sh"

systemd=
for candidate in /usr/lib/systemd/systemd /lib/systemd/systemd; do
  [ -x "$candidate" ] && { systemd=$candidate; break; }
done
if [ -z "$systemd" ] || ! command -v systemctl >/dev/null; then
  echo "systemd is not installed: skipping"
  exit 77
fi
if [ ! -d /run/systemd/system ]; then
  echo "this system was not booted with systemd (PID 1 is $(ps -p 1 -o comm= 2>/dev/null || echo unknown)), so no systemd user manager can run: skipping"
  exit 77
fi
for tool in dbus-run-session gdbus python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool not found: skipping"
    exit 77
  fi
done

app_id=io.github.claudekeyring.ClaudeKeyring
prefix=$CK_TEST_ROOT/prefix
ck_install_prefix "$prefix"

agent=$prefix/bin/claude-keyring-agent
unit=$(find "$prefix" -path '*/systemd/user/claude-keyring-agent.service' | head -n 1)
if [ -z "$unit" ]; then
  echo "FAIL: no claude-keyring-agent.service installed under $prefix" >&2
  exit 1
fi

session=$CK_TEST_ROOT/systemd-session
export HOME=$session/home
export XDG_RUNTIME_DIR=$session/run
export XDG_DATA_HOME=$HOME/.local/share XDG_CONFIG_HOME=$HOME/.config
export XDG_CACHE_HOME=$HOME/.cache XDG_STATE_HOME=$HOME/.local/state
mkdir -p -m 700 "$HOME" "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" \
  "$XDG_CACHE_HOME" "$XDG_STATE_HOME" "$session/services"
# The user manager finds the user bus at $XDG_RUNTIME_DIR/bus. No
# activation directory: the unit, not D-Bus, must start the agent.
ck_bus_config "$session/bus.conf" "$session/services" "unix:path=$XDG_RUNTIME_DIR/bus"
unset DISPLAY WAYLAND_DISPLAY CK_AGENT CK_CLI GSETTINGS_BACKEND 2>/dev/null || true

check=$(cat <<'CHECK'
set -u
systemd=$1 unit=$2 agent=$3 schemas=$4 app_id=$5
log=$XDG_RUNTIME_DIR/../systemd.log

"$systemd" --user --log-target=console >"$log" 2>&1 &
manager=$!
stop_manager () {
  systemctl --user stop claude-keyring-agent.service >/dev/null 2>&1 || true
  kill "$manager" 2>/dev/null || true
  wait "$manager" 2>/dev/null || true
}
trap stop_manager EXIT

for _ in $(seq 100); do
  systemctl --user is-system-running >/dev/null 2>&1 && break
  case $(systemctl --user is-system-running 2>/dev/null) in running|degraded) break ;; esac
  kill -0 "$manager" 2>/dev/null || break
  sleep 0.1
done
if ! kill -0 "$manager" 2>/dev/null || [ ! -S "$XDG_RUNTIME_DIR/systemd/private" ]; then
  echo "SKIP: systemd --user does not run here: $(tail -n 3 "$log" | tr '\n' ' ')"
  exit 77
fi

status=0
fail () { echo "FAIL: $*" >&2; status=1; }

systemctl --user set-environment GSETTINGS_SCHEMA_DIR="$schemas" G_MESSAGES_DEBUG=all
systemctl --user link "$unit" >/dev/null || fail "systemctl --user link $unit failed"
systemctl --user daemon-reload
if ! timeout 60 systemctl --user start claude-keyring-agent.service; then
  fail "systemctl --user start claude-keyring-agent.service failed"
  systemctl --user status claude-keyring-agent.service >&2 || true
  exit 1
fi

main_pid=$(systemctl --user show -p MainPID --value claude-keyring-agent.service)
[ "$(readlink "/proc/$main_pid/exe")" = "$agent" ] \
  || fail "the unit's main process ($main_pid) is not the installed $agent"

owner=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.GetConnectionUnixProcessID "$app_id" 2>&1 \
  | sed -n 's/^(uint32 \([0-9]*\),)$/\1/p')
[ "$owner" = "$main_pid" ] || fail "$app_id is owned by PID '$owner', not the unit's $main_pid"

reply=$(gdbus call --session --timeout 20 --dest "$app_id" \
  --object-path /io/github/claudekeyring/ClaudeKeyring \
  --method io.github.claudekeyring.Credentials1.GetStatus 2>&1) \
  || fail "GetStatus to the unit's agent failed: $reply"
case $reply in *"'state': <'"*) ;; *) fail "GetStatus answered without a state: $reply" ;; esac

systemctl --user stop claude-keyring-agent.service || fail "the unit does not stop"
exit $status
CHECK
)

result=0
dbus-run-session --config-file="$session/bus.conf" -- \
  bash -c "$check" check "$systemd" "$unit" "$agent" "$prefix/share/glib-2.0/schemas" "$app_id" \
  >"$session/out.log" 2>&1 || result=$?
cat "$session/out.log"
case $result in
  0) echo "the installed agent runs as the systemd user unit" ;;
  77) exit 77 ;;
  *) echo "--- systemd --user output (last 30 lines) ---" >&2
     tail -n 30 "$session/systemd.log" >&2 || true
     exit 1 ;;
esac
