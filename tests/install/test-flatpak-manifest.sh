#!/bin/bash
# flatpak-builder cannot fetch a runtime here, so the manifest is checked
# the ways that need none: valid JSON with only keys flatpak-builder knows
# (its own parser when installed, the documented keys otherwise), a GNOME
# runtime that exists, one meson module built from this very source tree,
# options that this tree's meson accepts, the files Flatpak exports
# installed under /app, and exactly the permissions issue 9 allows.
#
#   test-flatpak-manifest.sh MANIFEST [SOURCE_ROOT]
set -euo pipefail

manifest=$1
root=${2:-${CK_SOURCE_ROOT:?CK_SOURCE_ROOT must name the source tree}}
: "${CK_TEST_ROOT:?run this inside tests/support/ck-test-session}"

python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "python3 not found: skipping"
  exit 77
fi

status=0
fail () {
  echo "FAIL: $*" >&2
  status=1
}

# Structure, keys and permissions. Prints the module's config-opts, one per
# line, for the meson check below.
config_opts=$CK_TEST_ROOT/config-opts
if ! "$python" - "$manifest" "$root" >"$config_opts" <<'PY'
import json, os, sys

manifest_path, source_root = sys.argv[1], sys.argv[2]
errors = []

try:
    with open(manifest_path, encoding="utf-8") as f:
        m = json.load(f)
except ValueError as e:
    print(f"FAIL: {manifest_path} is not valid JSON: {e}", file=sys.stderr)
    sys.exit(1)

# The keys flatpak-manifest(5) documents (flatpak-builder 1.2).
TOPLEVEL = {
    "id", "app-id", "branch", "default-branch", "collection-id", "extension-tag",
    "token-type", "runtime", "runtime-version", "sdk", "var", "metadata",
    "command", "build-runtime", "build-extension", "separate-locales",
    "id-platform", "metadata-platform", "writable-sdk", "appstream-compose",
    "sdk-extensions", "platform-extensions", "base", "base-version",
    "base-extensions", "inherit-extensions", "inherit-sdk-extensions", "tags",
    "build-options", "modules", "add-extensions", "add-build-extensions",
    "cleanup", "cleanup-commands", "cleanup-platform",
    "cleanup-platform-commands", "prepare-platform-commands", "finish-args",
    "rename-desktop-file", "rename-appdata-file", "rename-mime-file",
    "rename-icon", "appdata-license", "copy-icon", "desktop-file-name-prefix",
    "desktop-file-name-suffix",
}
MODULE = {
    "name", "disabled", "sources", "config-opts", "secret-opts", "secret-env",
    "make-args", "make-install-args", "rm-configure", "no-autogen",
    "no-parallel-make", "install-rule", "no-make-install",
    "no-python-timestamp-fix", "cmake", "buildsystem", "builddir", "subdir",
    "build-options", "build-commands", "post-install", "cleanup",
    "ensure-writable", "only-arches", "skip-arches", "cleanup-platform",
    "run-tests", "test-rule", "test-commands", "modules",
}
DIR_SOURCE = {"type", "path", "skip", "dest", "only-arches", "skip-arches"}
BUILDSYSTEMS = {"autotools", "cmake", "cmake-ninja", "meson", "simple", "qmake"}
# GNOME runtimes published on Flathub whose GLib is at least Debian 12's
# 2.74. Add a branch here when it is released.
GNOME_RUNTIMES = {"45", "46", "47", "48", "49"}
APP_ID = "io.github.claudekeyring.ClaudeKeyring"
# Issue 9: Wayland/X11 (with the IPC namespace X11 shared memory needs), the
# keyring, the tray watcher, our bus name, the network for OAuth.
ALLOWED = {
    "--share=ipc",
    "--socket=wayland",
    "--socket=fallback-x11",
    "--share=network",
    "--talk-name=org.freedesktop.secrets",
    "--talk-name=org.kde.StatusNotifierWatcher",
    "--own-name=io.github.claudekeyring.ClaudeKeyring",
}

def unknown(obj, known, where):
    for key in obj:
        if key not in known and not key.startswith("x-"):
            errors.append(f"unknown key '{key}' in {where}")

if not isinstance(m, dict):
    errors.append("the manifest is not a JSON object")
    m = {}
unknown(m, TOPLEVEL, "the manifest")

if m.get("id", m.get("app-id")) != APP_ID:
    errors.append(f"id is not {APP_ID}")
if m.get("runtime") != "org.gnome.Platform" or m.get("sdk") != "org.gnome.Sdk":
    errors.append("runtime/sdk are not org.gnome.Platform/org.gnome.Sdk")
if m.get("runtime-version") not in GNOME_RUNTIMES:
    errors.append(f"runtime-version {m.get('runtime-version')!r} is not a GNOME runtime "
                  f"({', '.join(sorted(GNOME_RUNTIMES))})")
if m.get("command") != "claude-keyring-agent":
    errors.append("command is not claude-keyring-agent")

args = m.get("finish-args", [])
if len(args) != len(set(args)):
    errors.append("finish-args has duplicates")
if set(args) - ALLOWED:
    errors.append(f"finish-args broader than allowed: {sorted(set(args) - ALLOWED)}")
if ALLOWED - set(args):
    errors.append(f"finish-args lacks: {sorted(ALLOWED - set(args))}")

modules = m.get("modules", [])
if not modules or not isinstance(modules[-1], dict):
    errors.append("the last module (the app) must be an object")
    modules = [{}]
for i, module in enumerate(modules):
    if isinstance(module, dict):
        unknown(module, MODULE, f"module {module.get('name', i)}")
        if module.get("buildsystem", "autotools") not in BUILDSYSTEMS:
            errors.append(f"module {module.get('name', i)}: unknown buildsystem")

app = modules[-1]
if app.get("buildsystem") != "meson":
    errors.append("the app module is not built with meson")
sources = app.get("sources", [])
dirs = [s for s in sources if isinstance(s, dict) and s.get("type") == "dir"]
if len(sources) != 1 or len(dirs) != 1:
    errors.append("the app module must have exactly one source, of type dir")
else:
    unknown(dirs[0], DIR_SOURCE, "the dir source")
    path = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), dirs[0].get("path", ""))
    if not os.path.isfile(os.path.join(path, "meson.build")):
        errors.append(f"the dir source {dirs[0].get('path')!r} has no meson.build")
    elif not os.path.samefile(path, source_root):
        errors.append(f"the dir source {dirs[0].get('path')!r} is not this source tree")
    else:
        with open(os.path.join(path, "meson.build"), encoding="utf-8") as f:
            if "project('claude-keyring'" not in f.read():
                errors.append("the dir source's meson.build is not claude-keyring's")

for e in errors:
    print(f"FAIL: {e}", file=sys.stderr)
for opt in app.get("config-opts", []):
    print(opt)
sys.exit(1 if errors else 0)
PY
then
  status=1
fi

# flatpak-builder's own parser warns about every property it does not know.
# It keeps a .flatpak-builder state directory in the working directory.
if command -v flatpak-builder >/dev/null; then
  manifest=$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")
  if ! (cd "$CK_TEST_ROOT" && flatpak-builder --show-manifest "$manifest") \
       >/dev/null 2>"$CK_TEST_ROOT/show-manifest"; then
    fail "flatpak-builder cannot read the manifest: $(cat "$CK_TEST_ROOT/show-manifest")"
  elif grep -qi 'unknown\|warning\|error' "$CK_TEST_ROOT/show-manifest"; then
    fail "flatpak-builder: $(cat "$CK_TEST_ROOT/show-manifest")"
  fi
else
  echo "# flatpak-builder not installed: checked against the documented keys only"
fi

# The module builds the same tree: meson accepts its options with Flatpak's
# prefix, and installs what Flatpak exports from /app.
if command -v meson >/dev/null; then
  mapfile -t opts <"$config_opts"
  if ! meson setup --prefix=/app --libdir=lib "${opts[@]}" "$CK_TEST_ROOT/flatpak-build" "$root" \
       >"$CK_TEST_ROOT/flatpak-setup.log" 2>&1; then
    tail -n 20 "$CK_TEST_ROOT/flatpak-setup.log" >&2
    fail "meson setup with the manifest's config-opts failed"
  else
    installed=$(meson introspect --installed "$CK_TEST_ROOT/flatpak-build" \
      | "$python" -c 'import json, sys; print("\n".join(json.load(sys.stdin).values()))')
    app_id=io.github.claudekeyring.ClaudeKeyring
    for file in /app/bin/claude-keyring-agent \
                /app/share/applications/$app_id.desktop \
                /app/share/metainfo/$app_id.metainfo.xml \
                /app/share/icons/hicolor/scalable/apps/$app_id.svg \
                /app/share/dbus-1/services/$app_id.service; do
      grep -qxF "$file" <<<"$installed" || fail "the Flatpak build would not install $file"
    done
  fi
fi

[ "$status" -eq 0 ] && echo "$(basename "$manifest") is a valid manifest for this tree"
exit "$status"
