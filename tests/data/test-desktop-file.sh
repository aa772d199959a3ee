#!/bin/bash
# Validates built .desktop files. Hints are shown; errors and warnings fail.
#
#   test-desktop-file.sh FILE...
set -euo pipefail

if ! command -v desktop-file-validate >/dev/null; then
  echo "desktop-file-validate not found: install desktop-file-utils" >&2
  exit 1
fi

status=0
for file in "$@"; do
  output=$(desktop-file-validate "$file" 2>&1) || status=1
  if [ -n "$output" ]; then
    echo "$output"
  fi
  if grep -qE ': (error|warning): ' <<<"$output"; then
    status=1
  fi
  echo "checked $file"
done
exit $status
