#!/bin/bash
# The zsh completion parses, is picked up by compinit for both commands,
# lists every command of claude-keyring --help and every option of each
# command's --help, and completes the command line after "run".
#
#   test-completions-zsh.sh COMPLETION_FILE
set -euo pipefail

file=$1
here=$(cd "$(dirname "$0")" && pwd)
: "${CK_CLI:?CK_CLI must name claude-keyring}"
: "${CK_TEST_ROOT:?run this inside tests/support/ck-test-session}"

if ! command -v zsh >/dev/null; then
  echo "zsh not found (apt-get install zsh): skipping"
  exit 77
fi
if ! zsh -fc 'zmodload zsh/zpty' 2>/dev/null; then
  echo "zsh has no zsh/zpty module to drive completion with: skipping"
  exit 77
fi

status=0
fail () {
  echo "FAIL: $*" >&2
  status=1
}

zsh -n "$file" || fail "$file does not parse"

# compinit finds the file by its #compdef line, under the name zsh needs.
functions=$CK_TEST_ROOT/zsh-functions
mkdir -p "$functions"
cp "$file" "$functions/_claude-keyring"
dump=$CK_TEST_ROOT/zcompdump
registered=$(zsh -fc 'fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -d "$2"
  print -r -- "${_comps[claude-keyring]}:${_comps[claude-keyring-agent]}"' zsh "$functions" "$dump")
[ "$registered" = "_claude-keyring:_claude-keyring" ] \
  || fail "compinit does not register _claude-keyring for both commands (got '$registered')"

# typed KEYS: what the terminal shows after typing KEYS.
typed () {
  zsh -f "$here/zsh-complete.zsh" "$functions" "$dump" "$1"
}

# expect KEYS REGEX...: after typing KEYS, the terminal shows each REGEX.
expect () {
  local keys=$1 shown regex
  shift
  shown=$(typed "$keys")
  if grep -q '_arguments:\|command not found\|parse error' <<<"$shown"; then
    fail "typing '${keys//$'\t'/<TAB>}' shows an error:"$'\n'"$shown"
    return
  fi
  for regex in "$@"; do
    grep -qE -- "$regex" <<<"$shown" \
      || fail "typing '${keys//$'\t'/<TAB>}' does not show /$regex/:"$'\n'"$shown"
  done
}

commands=$("$CK_CLI" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || fail "could not read the commands from claude-keyring --help"
regexes=()
for command in $commands; do
  regexes+=("^$command +-- ")
done
expect $'claude-keyring \t' "${regexes[@]}"
expect $'claude-keyring set-a\t' 'claude-keyring set-api-key $'

for command in $commands; do
  options=$("$CK_CLI" "$command" --help 2>&1 \
    | grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' | sed 's/.*\(--[a-z-]*\)$/\1/')
  regexes=()
  for option in $options; do
    regexes+=("(^|[ ,])$option([ =,]|\$)")
  done
  expect "claude-keyring $command -"$'\t' "${regexes[@]}"
done

touch "$CK_TEST_ROOT/settings.json"
expect "claude-keyring setup-claude --settings=$CK_TEST_ROOT/sett"$'\t' \
  "--settings=$CK_TEST_ROOT/settings.json"
mkdir -p "$CK_TEST_ROOT/claude-work"
expect "claude-keyring import --config-dir=$CK_TEST_ROOT/claude-w"$'\t' \
  "--config-dir=$CK_TEST_ROOT/claude-work/"
expect $'claude-keyring run -- claude-keyring-agent --hea\t' 'claude-keyring-agent --headless'
expect $'claude-keyring run --env claude-keyring-agent --hea\t' 'claude-keyring-agent --headless'
expect $'claude-keyring run --dir\t' '--direct'
expect $'claude-keyring ssh --pers\t' 'claude-keyring ssh --persist $'
expect $'claude-keyring ssh me@host cl\t' 'claude-keyring ssh me@host claude $'
expect $'claude-keyring-agent --\t' '--headless' '--replace' '--version'

[ "$status" -eq 0 ] && echo "zsh completion offers every command and option"
exit "$status"
