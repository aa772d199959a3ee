#!/bin/bash
# Validates the built AppStream metainfo (offline) and checks that its
# launchable names the desktop file that is really installed.
#
#   test-metainfo.sh METAINFO DESKTOP_FILE
set -euo pipefail

metainfo=$1
desktop=$2

if ! command -v appstreamcli >/dev/null; then
  echo "appstreamcli not found: install appstream" >&2
  exit 1
fi

# --strict fails on anything above pedantic. The only pedantic hint is the
# upper case in the application ID, which DESIGN.md fixes.
appstreamcli validate --no-net --strict --explain "$metainfo"

want="<launchable type=\"desktop-id\">$(basename "$desktop")</launchable>"
if ! grep -qF "$want" "$metainfo"; then
  echo "$metainfo: no $want" >&2
  exit 1
fi
