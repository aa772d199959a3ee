#!/bin/bash
# docs/dbus-api.md documents the interface as the introspection XML defines
# it: a section for every method (with its exact arguments), signal and
# property, none for a member that does not exist, and every error name
# src/common/ck-error.c registers. gdbus-codegen 2.74 cannot render the
# XML's multi-line argument comments (--generate-rst/--generate-docbook
# drop them), so the reference is written by hand and held to the XML here.
#
#   test-dbus-api-doc.sh [SOURCE_ROOT]
set -euo pipefail

root=${1:-${CK_SOURCE_ROOT:?CK_SOURCE_ROOT must name the source tree}}
if ! command -v python3 >/dev/null; then
  echo "python3 not found: skipping"
  exit 77
fi

exec python3 - "$root/data/io.github.claudekeyring.Credentials1.xml" \
  "$root/docs/dbus-api.md" "$root/src/common/ck-error.c" <<'PY'
import re, sys
import xml.etree.ElementTree as ET

xml_path, doc_path, errors_path = sys.argv[1:]
doc = open(doc_path, encoding="utf-8").read()
failures = []

iface = ET.parse(xml_path).getroot().find("interface")
expected = {}
for method in iface.findall("method"):
    args = method.findall("arg")
    ins = ", ".join(f"{a.get('type')} {a.get('name')}" for a in args if a.get("direction", "in") == "in")
    outs = ", ".join(f"{a.get('type')} {a.get('name')}" for a in args if a.get("direction") == "out")
    expected[method.get("name")] = f"{method.get('name')}({ins})" + (f" → {outs}" if outs else "")
for signal in iface.findall("signal"):
    args = ", ".join(f"{a.get('type')} {a.get('name')}" for a in signal.findall("arg"))
    expected[signal.get("name")] = f"{signal.get('name')}({args})"
for prop in iface.findall("property"):
    expected[prop.get("name")] = f"{prop.get('name')}: {prop.get('type')}"

headings = re.findall(r"^### `([^`]*)`\s*$", doc, re.M)
documented = {re.match(r"\w+", h).group(0): h for h in headings}

for name, signature in expected.items():
    if name not in documented:
        failures.append(f"no section '### `{signature}`'")
    elif documented[name] != signature:
        failures.append(f"section '### `{documented[name]}`' should read '### `{signature}`'")
for name in documented:
    if name not in expected:
        failures.append(f"section for '{name}', which the interface does not have")

for error in re.findall(r'"(io\.github\.claudekeyring\.Error\.\w+)"', open(errors_path, encoding="utf-8").read()):
    if f"`{error}`" not in doc:
        failures.append(f"error {error} is not listed")

if iface.get("name") not in doc:
    failures.append(f"the interface name {iface.get('name')} does not appear")

for f in failures:
    print(f"FAIL: docs/dbus-api.md: {f}", file=sys.stderr)
if not failures:
    print(f"docs/dbus-api.md documents all {len(expected)} members and the errors")
sys.exit(1 if failures else 0)
PY
