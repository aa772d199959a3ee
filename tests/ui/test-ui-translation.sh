#!/bin/bash
# The UI in German: the status window of an agent started under
# LANGUAGE=de shows the translated strings from the build tree's catalog.
# Screenshot: status-window-de.png.
. "$(dirname "$0")/ui-lib.sh"

export CK_LOCALEDIR=$CK_BUILD_ROOT/po
export LANGUAGE=de LANG=C.UTF-8 LC_ALL=C.UTF-8
[ -f "$CK_LOCALEDIR/de/LC_MESSAGES/claude-keyring.mo" ] ||
  die "the German catalog was not built in $CK_LOCALEDIR"

start_display
start_agent

credentials SetApiKey test-api-key-german >/dev/null
agent_action status
wait_dump 10 '^label\tAngemeldet$' && pass "the window's title is German" ||
  { fail "the window's title is German"; show_dump; }
wait_dump 10 '^row\tAktive Quelle\tAPI-Schlüssel im Schlüsselbund' &&
  pass "the source row is German" || { fail "the source row is German"; show_dump; }
dump_has '^label\tLogged In$' && fail "an English title is left" || pass "no English title is left"

wait_for 10 eval '[ -n "$(window_id "Claude-Schlüsselbund")" ]' &&
  pass "the window's title bar is German" || fail "the window's title bar is German"
screenshot status-window-de "$(window_id "Claude-Schlüsselbund")" || true

finish
