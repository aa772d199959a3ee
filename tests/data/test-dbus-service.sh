#!/bin/bash
# Checks that the D-Bus activation file and the systemd unit describe the
# same agent: same bus name, same binary, and SystemdService names the unit.
# A mismatch makes D-Bus activation start a second agent or none at all.
# Both start it with --gapplication-service: for the session, no window.
#
#   test-dbus-service.sh SERVICE_FILE UNIT_FILE
set -euo pipefail

service=$1
unit=$2
app_id=io.github.claudekeyring.ClaudeKeyring

value () {
  # value FILE KEY: the value of the first KEY= line
  sed -n "s/^$2=//p" "$1" | head -n 1
}

fail () {
  echo "$*" >&2
  exit 1
}

[ "$(head -n 1 "$service")" = "[D-BUS Service]" ] \
  || fail "$service: does not start with [D-BUS Service]"
[ "$(value "$service" Name)" = "$app_id" ] \
  || fail "$service: Name is not $app_id"
[ "$(value "$unit" BusName)" = "$app_id" ] \
  || fail "$unit: BusName is not $app_id"
[ "$(value "$service" SystemdService)" = "$(basename "$unit")" ] \
  || fail "$service: SystemdService is not $(basename "$unit")"

exec_line=$(value "$service" Exec)
case $exec_line in
  /*/claude-keyring-agent" --gapplication-service") ;;
  *) fail "$service: Exec is not an absolute path to claude-keyring-agent --gapplication-service" ;;
esac
[ "$exec_line" = "$(value "$unit" ExecStart)" ] \
  || fail "$service: Exec differs from ExecStart in $unit"
[ "$(basename "$service")" = "$app_id.service" ] \
  || fail "$service: D-Bus only activates files named after the bus name"
echo "$service and $unit agree"
