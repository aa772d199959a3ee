#!/bin/bash
# The fish completion parses, offers every command of claude-keyring --help
# and every option of each command's --help, completes files for
# setup-claude --settings, and completes the command line after "run".
#
#   test-completions-fish.sh COMPLETION_FILE
set -euo pipefail

file=$1
: "${CK_CLI:?CK_CLI must name claude-keyring}"
: "${CK_TEST_ROOT:?run this inside tests/support/ck-test-session}"

if ! command -v fish >/dev/null; then
  echo "fish not found (apt-get install fish): skipping"
  exit 77
fi

status=0
fail () {
  echo "FAIL: $*" >&2
  status=1
}

fish --no-execute "$file" || fail "$file does not parse"

# offered LINE: the words fish offers for LINE, one per line, sorted.
offered () {
  fish --no-config -c 'source $argv[1]; and complete --do-complete=$argv[2]' "$file" "$1" \
    | cut -f 1 | sort -u
}

# expect_all LINE WORD...: fish offers every WORD for LINE.
expect_all () {
  local line=$1 got word
  shift
  got=$(offered "$line")
  for word in "$@"; do
    grep -qxF -- "$word" <<<"$got" || fail "'$line' does not offer '$word' (offers: $(echo $got))"
  done
}

# expect_none LINE WORD...: fish offers no WORD for LINE.
expect_none () {
  local line=$1 got word
  shift
  got=$(offered "$line")
  for word in "$@"; do
    grep -qxF -- "$word" <<<"$got" && fail "'$line' offers '$word'"
  done
  return 0
}

commands=$("$CK_CLI" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || fail "could not read the commands from claude-keyring --help"
# shellcheck disable=SC2086
expect_all "claude-keyring " $commands
expect_all "claude-keyring lo" login logout
expect_all "claude-keyring --version " $commands

for command in $commands; do
  options=$("$CK_CLI" "$command" --help 2>&1 \
    | grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' | sed 's/.*\(--[a-z-]*\)$/\1/')
  # shellcheck disable=SC2086
  expect_all "claude-keyring $command --" $options
  # A command's options are not offered before it is typed.
  [ "$command" = status ] && expect_none "claude-keyring --" --json
done

touch "$CK_TEST_ROOT/settings.json"
expect_all "claude-keyring setup-claude --settings $CK_TEST_ROOT/sett" "$CK_TEST_ROOT/settings.json"
mkdir -p "$CK_TEST_ROOT/claude-work"
expect_all "claude-keyring import --config-dir $CK_TEST_ROOT/claude-w" "$CK_TEST_ROOT/claude-work/"
expect_all "claude-keyring ssh -p 22 me@host " claude
expect_none "claude-keyring ssh -p " claude
expect_all "claude-keyring run bas" bash
expect_all "claude-keyring run -- bas" bash
expect_all "claude-keyring run --env -- claude-keyring-agent --hea" --headless
expect_all "claude-keyring run --d" --direct
# Once run has its command, run's own options are no longer offered.
expect_none "claude-keyring run -- claude-keyring-agent --" --env
expect_all "claude-keyring-agent --" --headless --replace --version --help

[ "$status" -eq 0 ] && echo "fish completion offers every command and option"
exit "$status"
