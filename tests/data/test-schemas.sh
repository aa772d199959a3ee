#!/bin/bash
# Compiles every GSettings schema in a directory strictly, writing nothing.
#
#   test-schemas.sh DIR
set -euo pipefail

if ! command -v glib-compile-schemas >/dev/null; then
  echo "glib-compile-schemas not found: install libglib2.0-bin" >&2
  exit 1
fi

glib-compile-schemas --strict --dry-run "$1"
echo "schemas in $1 compile"
