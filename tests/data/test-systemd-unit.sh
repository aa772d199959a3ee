#!/bin/bash
# Verifies the systemd user unit. systemd-analyze insists that ExecStart
# exists, so the installed path is swapped for the agent of this build tree
# after checking that it points at claude-keyring-agent, started for the
# session (--gapplication-service: no window).
#
#   test-systemd-unit.sh UNIT
set -euo pipefail

unit=$1

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found (package systemd): skipping"
  exit 77
fi
: "${CK_AGENT:?CK_AGENT must name the agent binary}"

if ! grep -qE '^ExecStart=/.*/claude-keyring-agent --gapplication-service$' "$unit"; then
  echo "$unit: ExecStart is not an absolute path to claude-keyring-agent --gapplication-service" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ck-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$CK_AGENT|" "$unit" >"$tmp/$(basename "$unit")"

# --user needs a runtime directory even offline; ck-test-session gives one.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR=$tmp/run
  mkdir -m 700 "$XDG_RUNTIME_DIR"
fi

# Without a running user manager systemd-analyze still checks the unit
# offline; it reports problems on stderr and with its exit status.
if ! systemd-analyze verify --user "$tmp/$(basename "$unit")" 2>"$tmp/stderr"; then
  cat "$tmp/stderr" >&2
  exit 1
fi
if [ -s "$tmp/stderr" ]; then
  cat "$tmp/stderr" >&2
  exit 1
fi
echo "$unit verifies"
