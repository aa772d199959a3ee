#!/bin/bash
# The agent runs from an installed tree through D-Bus activation: this
# source tree is installed with a prefix under $CK_TEST_ROOT, a private
# session bus gets the installed share/dbus-1/services as its only
# activation directory and GSETTINGS_SCHEMA_DIR the installed (post-install
# compiled) schemas, and a GetStatus call must start the installed binary,
# which answers; the installed CLI must reach it too.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${CK_TEST_ROOT:?run this inside tests/support/ck-test-session}"
# shellcheck source=install-lib.sh
. "$here/install-lib.sh"

for tool in dbus-run-session gdbus python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool not found: skipping"
    exit 77
  fi
done

app_id=io.github.claudekeyring.ClaudeKeyring
prefix=$CK_TEST_ROOT/prefix
ck_install_prefix "$prefix"

status=0
fail () {
  echo "FAIL: $*" >&2
  status=1
}

agent=$prefix/bin/claude-keyring-agent
services=$prefix/share/dbus-1/services
schemas=$prefix/share/glib-2.0/schemas
[ -x "$agent" ] || fail "$agent is not installed"
[ -f "$schemas/gschemas.compiled" ] \
  || fail "meson install did not compile the schemas in $schemas (gnome.post_install)"
grep -qx "Exec=$agent --gapplication-service" "$services/$app_id.service" \
  || fail "$services/$app_id.service does not start $agent --gapplication-service"
[ "$status" -eq 0 ] || exit 1

# A session of its own, with its own HOME and keyring: the wrapper's bus
# activates the build tree's agent, never the installed one.
session=$CK_TEST_ROOT/installed-session
export HOME=$session/home
export XDG_RUNTIME_DIR=$session/run
export XDG_DATA_HOME=$HOME/.local/share XDG_CONFIG_HOME=$HOME/.config
export XDG_CACHE_HOME=$HOME/.cache XDG_STATE_HOME=$HOME/.local/state
mkdir -p -m 700 "$HOME" "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" \
  "$XDG_CACHE_HOME" "$XDG_STATE_HOME"
ck_bus_config "$session/bus.conf" "$services" "unix:dir=$XDG_RUNTIME_DIR"
# The bus passes its environment on to the services it activates.
export GSETTINGS_SCHEMA_DIR=$schemas
export G_MESSAGES_DEBUG=all
unset DISPLAY WAYLAND_DISPLAY CK_AGENT CK_CLI GSETTINGS_BACKEND 2>/dev/null || true

check=$(cat <<'CHECK'
set -u
agent=$1 cli=$2 app_id=$3
# Only the activated agent should log (the bus passes it the variable).
unset G_MESSAGES_DEBUG
status=0
fail () { echo "FAIL: $*" >&2; status=1; }
call () {
  gdbus call --session --timeout 20 --dest "$app_id" \
    --object-path /io/github/claudekeyring/ClaudeKeyring --method "$@"
}

if command -v gnome-keyring-daemon >/dev/null; then
  echo -n ck-test-password | gnome-keyring-daemon --unlock --components=secrets \
    --daemonize >/dev/null 2>&1 || true
fi

if reply=$(call io.github.claudekeyring.Credentials1.GetStatus 2>&1); then
  case $reply in
    *"'state': <'"*) echo "# GetStatus: $reply" ;;
    *) fail "GetStatus answered without a state: $reply" ;;
  esac
else
  fail "GetStatus through D-Bus activation failed: $reply"
fi

pid=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.GetConnectionUnixProcessID "$app_id" 2>&1 \
  | sed -n 's/^(uint32 \([0-9]*\),)$/\1/p')
if [ -z "$pid" ]; then
  fail "nobody owns $app_id after the call"
elif [ "$(readlink "/proc/$pid/exe")" != "$agent" ]; then
  fail "$app_id is owned by $(readlink "/proc/$pid/exe"), not the installed $agent"
fi

want=$("$agent" --version | awk '{ print $2 }')
version=$(call org.freedesktop.DBus.Properties.Get io.github.claudekeyring.Credentials1 Version 2>&1)
[ "$version" = "(<'$want'>,)" ] || fail "Version is $version, not $want"

# The installed CLI talks to the installed agent: exit 0 or 1 (no usable
# credential yet), never a failure to reach it.
"$cli" status >"$CK_TEST_ROOT/cli-status.out" 2>&1 && cli_status=0 || cli_status=$?
[ "$cli_status" -le 1 ] || fail "installed claude-keyring status exited $cli_status: $(cat "$CK_TEST_ROOT/cli-status.out")"

exit $status
CHECK
)

if ! dbus-run-session --config-file="$session/bus.conf" -- \
     bash -c "$check" check "$agent" "$prefix/bin/claude-keyring" "$app_id" \
     2>"$session/bus.log"; then
  grep '^FAIL' "$session/bus.log" >&2 || true
  echo "--- bus and agent output (last 30 lines) ---" >&2
  grep -v '^FAIL' "$session/bus.log" | tail -n 30 >&2
  exit 1
fi
grep '^FAIL' "$session/bus.log" >&2 && exit 1
echo "the installed agent ($agent) answers through D-Bus activation"
