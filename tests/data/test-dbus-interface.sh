#!/bin/bash
# Checks the D-Bus introspection XML: every type string is one valid D-Bus
# type, and gdbus-codegen turns it into C (as src/common does) that compiles,
# so a broken contract fails here with a clear message rather than somewhere
# in the build or only when a client calls.
#
#   test-dbus-interface.sh XML
set -euo pipefail

xml=$1

for tool in gdbus-codegen pkg-config python3 "${CC:-cc}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool not found: install libglib2.0-dev-bin, pkg-config, python3 and a C compiler" >&2
    exit 1
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ck-codegen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

gdbus-codegen --interface-prefix io.github.claudekeyring. \
  --c-namespace CkDBus --c-generate-autocleanup all \
  --generate-c-code "$tmp/ck-dbus-generated" "$xml" 2>"$tmp/stderr" || {
  cat "$tmp/stderr" >&2
  exit 1
}
if [ -s "$tmp/stderr" ]; then
  echo "gdbus-codegen warned:" >&2
  cat "$tmp/stderr" >&2
  exit 1
fi

# gdbus-codegen copies type strings into the code without checking them;
# a bad one would only fail when a client calls. Each arg and property must
# be exactly one complete D-Bus type.
python3 - "$xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

BASIC = "ybnqiuxtdhsog"


def complete(sig, i):
  """Index after the complete type starting at sig[i]; ValueError if none."""
  if i >= len(sig):
    raise ValueError("ends early")
  c = sig[i]
  if c in BASIC or c == "v":
    return i + 1
  if c == "a":
    if sig[i + 1:i + 2] == "{":
      if sig[i + 2:i + 3] not in tuple(BASIC):
        raise ValueError("dict key is not a basic type")
      j = complete(sig, i + 3)
      if sig[j:j + 1] != "}":
        raise ValueError("dict entry holds more than a key and a value")
      return j + 1
    return complete(sig, i + 1)
  if c == "(":
    j = i + 1
    if sig[j:j + 1] == ")":
      raise ValueError("empty struct")
    while sig[j:j + 1] != ")":
      j = complete(sig, j)
    return j + 1
  raise ValueError("unknown type code %r" % c)


bad = 0
for node in ET.parse(sys.argv[1]).iter():
  if node.tag not in ("arg", "property"):
    continue
  sig = node.get("type", "")
  try:
    if complete(sig, 0) != len(sig):
      raise ValueError("more than one complete type")
  except ValueError as e:
    print("%s %s: bad type %r: %s" % (node.tag, node.get("name"), sig, e),
          file=sys.stderr)
    bad = 1
sys.exit(bad)
PY

for symbol in ck_dbus_credentials1_call_get_credential ck_dbus_credentials1_skeleton_new; do
  if ! grep -q "$symbol" "$tmp/ck-dbus-generated.h"; then
    echo "generated header lacks $symbol" >&2
    exit 1
  fi
done

# shellcheck disable=SC2046
"${CC:-cc}" -fsyntax-only -Werror=implicit-function-declaration \
  -I"$tmp" $(pkg-config --cflags gio-unix-2.0) "$tmp/ck-dbus-generated.c"
echo "$xml generates code that compiles"
