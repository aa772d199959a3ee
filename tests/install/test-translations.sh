#!/bin/bash
# Every language in po/LINGUAS has a complete translation: each string the
# sources mark today (a template made afresh from po/POTFILES.in, so a new
# UI string without a translation fails here) is translated, none is fuzzy,
# msgfmt --check passes, and names the user must type (environment
# variables, scopes, semicolon lists) and mnemonics (one "_" each) survive
# translation.
#
#   test-translations.sh [SOURCE_ROOT]
set -euo pipefail

root=${1:-${CK_SOURCE_ROOT:?CK_SOURCE_ROOT must name the source tree}}
: "${CK_TEST_ROOT:?run this inside tests/support/ck-test-session}"
tmp=$CK_TEST_ROOT/po
mkdir -p "$tmp"

for tool in xgettext msgmerge msgfmt msgexec; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool not found (package gettext): skipping"
    exit 77
  fi
done

status=0
fail () {
  echo "FAIL: $*" >&2
  status=1
}

languages=$(sed -e 's/#.*//' "$root/po/LINGUAS" | tr -s ' \t' '\n' | sed '/^$/d')
[ -n "$languages" ] || fail "po/LINGUAS lists no language"
for po in "$root"/po/*.po; do
  [ -e "$po" ] || continue
  lang=$(basename "$po" .po)
  grep -qxF "$lang" <<<"$languages" || fail "po/$lang.po exists but po/LINGUAS does not list $lang"
done

# The same extraction as meson's i18n.gettext(preset: 'glib'): desktop
# files, metainfo and schemas through xgettext's own ITS rules.
(cd "$root" && xgettext --package-name=claude-keyring -f po/POTFILES.in -D "$root" \
  -o "$tmp/claude-keyring.pot" --from-code=UTF-8 --add-comments \
  -k_ -kN_ -kC_:1c,2 -kNC_:1c,2 -kg_dcgettext:2 -kg_dngettext:2,3 -kg_dpgettext2:2c,3 \
  --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format \
  --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format \
  --flag=g_string_printf:2:c-format --flag=g_string_append_printf:2:c-format \
  --flag=g_error_new:3:c-format --flag=g_set_error:4:c-format \
  --flag=g_markup_printf_escaped:1:c-format --flag=g_log:3:c-format \
  --flag=g_print:1:c-format --flag=g_printerr:1:c-format --flag=g_printf:1:c-format \
  --flag=g_fprintf:2:c-format --flag=g_sprintf:2:c-format --flag=g_snprintf:3:c-format) \
  || { echo "FAIL: xgettext could not extract the strings" >&2; exit 1; }
total=$(msgattrib --no-obsolete "$tmp/claude-keyring.pot" | grep -c '^msgid ' || true)
echo "# the sources mark $((total - 1)) strings"

# preserved: reads a msgstr on stdin, the msgid in MSGEXEC_MSGID (msgexec);
# prints what a translation must keep but lost.
preserved='
  [ -z "$MSGEXEC_MSGID" ] && exit 0
  msgstr=$(cat)
  for name in $(printf "%s" "$MSGEXEC_MSGID" | grep -oE "[A-Z][A-Z0-9]*_[A-Z0-9_]+|[a-z]+:[a-z_:]+[a-z]|https?://[^ ]+"); do
    case $msgstr in *"$name"*) ;; *) echo "\"$MSGEXEC_MSGID\" lost $name" ;; esac
  done
  case $MSGEXEC_MSGID in *";") case $msgstr in *";") ;; *) echo "\"$MSGEXEC_MSGID\" must end with a semicolon" ;; esac ;; esac
'

for lang in $languages; do
  po=$root/po/$lang.po
  if [ ! -f "$po" ]; then
    fail "po/LINGUAS lists $lang but po/$lang.po does not exist"
    continue
  fi

  # The file as committed.
  if ! stats=$(LC_ALL=C msgfmt --check --check-accelerators=_ --statistics -o /dev/null "$po" 2>&1); then
    fail "msgfmt --check po/$lang.po: $stats"
  elif grep -qE 'untranslated|fuzzy' <<<"$stats"; then
    fail "po/$lang.po: $stats"
  fi

  # Against what the sources mark now.
  msgmerge --quiet -o "$tmp/$lang.po" "$po" "$tmp/claude-keyring.pot"
  stats=$(LC_ALL=C msgfmt --check --check-accelerators=_ --statistics -o /dev/null "$tmp/$lang.po" 2>&1) || true
  if grep -qE 'untranslated|fuzzy|error' <<<"$stats"; then
    fail "po/$lang.po against the current sources: $stats (run: ninja -C BUILD claude-keyring-pot claude-keyring-update-po)"
    for kind in --untranslated --only-fuzzy; do
      msgattrib --no-wrap --no-obsolete $kind "$tmp/$lang.po" | grep '^msgid "..*"$' \
        | sed "s/^/  ${kind#--}: /" | head -n 15 >&2 || true
    done
  fi

  lost=$(msgattrib --translated --no-obsolete "$po" | msgexec sh -c "$preserved" 2>&1)
  [ -z "$lost" ] || fail "po/$lang.po:"$'\n'"$lost"

  [ "$status" -eq 0 ] && echo "po/$lang.po: $stats"
done

exit "$status"
