#!/bin/bash
# "meson install --destdir" from this build tree gives exactly the files in
# installed-files.txt: the executables, desktop file, metainfo, autostart
# entry, D-Bus activation file and interface XML, systemd user unit,
# GSettings schema, icons, translations, manual pages and completions.
# Also checks what only the installed files can show: the desktop file and
# metainfo carry the German translation, symlinks resolve, the executables
# are executable.
#
#   test-install-tree.sh EXPECTED_LIST PO_FILE
set -euo pipefail

expected=$1
po=$2
: "${CK_BUILD_ROOT:?CK_BUILD_ROOT must name the build tree}"
: "${CK_TEST_ROOT:?run this inside tests/support/ck-test-session}"

dest=$CK_TEST_ROOT/dest
status=0
fail () {
  echo "FAIL: $*" >&2
  status=1
}

# --no-rebuild: meson test has built everything, and a second ninja in the
# same build tree would race the tests running next to this one.
if ! meson install -C "$CK_BUILD_ROOT" --no-rebuild --quiet --destdir "$dest" \
     >"$CK_TEST_ROOT/install.log" 2>&1; then
  cat "$CK_TEST_ROOT/install.log" >&2
  echo "FAIL: meson install --destdir failed" >&2
  exit 1
fi

sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$expected" | sort -u >"$CK_TEST_ROOT/expected"
(cd "$dest" && find . \( -type f -o -type l \) -printf '/%P\n') | sort >"$CK_TEST_ROOT/installed"

missing=$(comm -23 "$CK_TEST_ROOT/expected" "$CK_TEST_ROOT/installed")
extra=$(comm -13 "$CK_TEST_ROOT/expected" "$CK_TEST_ROOT/installed")
[ -z "$missing" ] || fail "not installed:"$'\n'"$missing"
[ -z "$extra" ] || fail "installed but not in $(basename "$expected") (add them there):"$'\n'"$extra"

path () {
  # path PATTERN: the one installed file whose name matches PATTERN
  grep -E -- "$1" "$CK_TEST_ROOT/installed" | head -n 1
}

for exe in claude-keyring claude-keyring-agent; do
  file=$(path "/bin/$exe\$")
  [ -n "$file" ] && [ -x "$dest$file" ] || fail "$exe is not installed executable"
done

# Symlinked completions must point at a file that is installed too.
while IFS= read -r link; do
  [ -e "$dest$link" ] || fail "$link is a dangling symlink"
done < <(cd "$dest" && find . -type l -printf '/%P\n')

# The translation reaches the installed desktop file and metainfo: the German
# msgstr of the desktop file's Name and Comment appear as Name[de]/Comment[de].
msgstr_of () {
  # msgstr_of MSGID: the German translation of exactly MSGID
  msgattrib --translated --no-obsolete "$po" \
    | msgexec sh -c 'if [ "$MSGEXEC_MSGID" = "$0" ]; then cat; else cat >/dev/null; fi' "$1"
}
desktop=$dest$(path '/applications/io\.github\.claudekeyring\.ClaudeKeyring\.desktop$')
metainfo=$dest$(path '/metainfo/io\.github\.claudekeyring\.ClaudeKeyring\.metainfo\.xml$')
for key in Name Comment; do
  english=$(sed -n "s/^$key=//p" "$desktop" | head -n 1)
  german=$(msgstr_of "$english")
  if [ -z "$german" ]; then
    fail "$po has no translation of the desktop file's $key \"$english\""
  elif ! grep -qxF "$key[de]=$german" "$desktop"; then
    # meson 1.0's i18n.merge_file does not depend on the .po files.
    fail "installed desktop file lacks $key[de]=$german (after editing a .po file, delete the merged files in BUILD/data so that ninja merges them again)"
  fi
done
name_de=$(msgstr_of "$(sed -n 's/^Name=//p' "$desktop" | head -n 1)")
grep -qF "<name xml:lang=\"de\">$name_de</name>" "$metainfo" \
  || fail "installed metainfo lacks the German name \"$name_de\""

# The catalogue is the compiled de.po, not an empty one.
mo=$dest$(path '/de/LC_MESSAGES/claude-keyring\.mo$')
if [ -f "$mo" ]; then
  [ "$(msgunfmt "$mo" | msgattrib --translated --no-obsolete | grep -c '^msgid ')" -gt 1 ] \
    || fail "$mo holds no translations"
fi

# The D-Bus activation file and the unit start the installed agent, for the
# session (no window).
agent=$(path '/bin/claude-keyring-agent$')
grep -qx "Exec=$agent --gapplication-service" "$dest$(path '/dbus-1/services/io\.github\.claudekeyring\.ClaudeKeyring\.service$')" \
  || fail "the D-Bus activation file does not run $agent --gapplication-service"
grep -qx "ExecStart=$agent --gapplication-service" "$dest$(path '/claude-keyring-agent\.service$')" \
  || fail "the systemd unit does not run $agent --gapplication-service"

if [ "$status" -eq 0 ]; then
  echo "$(wc -l <"$CK_TEST_ROOT/installed") files installed, as listed"
fi
exit "$status"
