#!/bin/bash
# Each manual page renders without a groff warning at 80 columns, has a
# NAME line that mandb can index, and documents every command and option
# the programs' --help lists, so page and program cannot drift apart.
#
#   test-man-pages.sh CLI_PAGE AGENT_PAGE
set -euo pipefail

cli_page=$1
agent_page=$2
: "${CK_CLI:?CK_CLI must name claude-keyring}"
: "${CK_AGENT:?CK_AGENT must name claude-keyring-agent}"

for tool in man groff lexgrog; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool not found (packages man-db, groff-base): skipping"
    exit 77
  fi
done

status=0
fail () {
  echo "FAIL: $*" >&2
  status=1
}

for page in "$cli_page" "$agent_page"; do
  # --warnings turns groff's warnings on; any of them (a line that cannot be
  # broken, an unknown macro, a bad escape) is a defect of the page.
  if ! warnings=$(MANWIDTH=80 MAN_KEEP_FORMATTING= man --warnings -l "$page" 2>&1 >/dev/null); then
    fail "man -l $page failed: $warnings"
  elif [ -n "$warnings" ]; then
    fail "$page renders with warnings:"$'\n'"$warnings"
  fi
  lexgrog "$page" >/dev/null || fail "$page: lexgrog finds no NAME section"
  grep -q '@[A-Za-z_]*@' "$page" && fail "$page: a placeholder was not filled in"
  text=$(MANWIDTH=80 man -l "$page" 2>/dev/null | col -b)
  # No rendered line may be wider than the terminal.
  if long=$(awk 'length > 80' <<<"$text") && [ -n "$long" ]; then
    fail "$page has lines over 80 columns:"$'\n'"$long"
  fi
done

# documented PAGE_TEXT WORD: whether the page shows WORD as a whole word.
documented () {
  grep -qE -- "(^|[^[:alnum:]_-])$2([^[:alnum:]_-]|\$)" <<<"$1"
}
# options HELP_TEXT: the long options a --help output lists.
options () {
  grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' <<<"$1" | sed 's/.*\(--[a-z-]*\)$/\1/' | sort -u
}

cli_text=$(MANWIDTH=200 man -l "$cli_page" 2>/dev/null | col -b)
commands=$("$CK_CLI" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || fail "could not read the commands from claude-keyring --help"
for command in $commands; do
  documented "$cli_text" "$command" || fail "claude-keyring.1 does not document '$command'"
  for option in $(options "$("$CK_CLI" "$command" --help 2>&1)"); do
    documented "$cli_text" "$option" \
      || fail "claude-keyring.1 does not document '$command $option'"
  done
done

agent_text=$(MANWIDTH=200 man -l "$agent_page" 2>/dev/null | col -b)
# GLib's own --help-* and --gapplication-* options are not for users, but
# the one the session's starters pass (data/) is.
for option in $(options "$("$CK_AGENT" --help 2>&1)" | grep -vE -- '--(gapplication|help-)') \
              --gapplication-service; do
  documented "$agent_text" "$option" \
    || fail "claude-keyring-agent.1 does not document '$option'"
done

[ "$status" -eq 0 ] && echo "both pages render cleanly and document every command and option"
exit "$status"
