#!/bin/bash
# The bash completion loads in a plain bash and in one with bash-completion,
# completes every command claude-keyring --help lists and every option each
# command's --help lists, completes files for setup-claude --settings and
# directories for import --config-dir, completes the command line after
# "run" as a command of its own, and ssh's options, identity file and
# remote command.
#
#   test-completions-bash.sh COMPLETION_FILE
set -euo pipefail

file=$1
: "${CK_CLI:?CK_CLI must name claude-keyring}"
: "${CK_TEST_ROOT:?run this inside tests/support/ck-test-session}"

status=0
fail () {
  echo "FAIL: $*" >&2
  status=1
}

# complete_words [PRELUDE] WORD...: what the completion offers for the last
# WORD (give "" to complete an empty word), one per line, sorted.
complete_words () {
  local prelude=$1
  shift
  bash --norc --noprofile -c '
    '"$prelude"'
    source "$0" || exit 3
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    case ${COMP_WORDS[0]} in
      claude-keyring) _claude_keyring ;;
      *) _claude_keyring_agent ;;
    esac
    printf "%s\n" "${COMPREPLY[@]}"
  ' "$file" "$@" | sort -u
}

# expect_all PRELUDE WANTED WORD...: the completion offers every word of WANTED.
expect_all () {
  local prelude=$1 wanted=$2 got word
  shift 2
  got=$(complete_words "$prelude" "$@")
  for word in $wanted; do
    grep -qxF -- "$word" <<<"$got" || fail "'$*' does not offer '$word' (offers: $(echo $got))"
  done
}

# expect_exactly PRELUDE WANTED WORD...: the completion offers exactly WANTED.
expect_exactly () {
  local prelude=$1 wanted got
  wanted=$(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort -u)
  shift 2
  got=$(complete_words "$prelude" "$@")
  [ "$got" = "$wanted" ] || fail "'$*' offers '$(echo $got)', not '$(echo $wanted)'"
}

bash --norc --noprofile -n "$file" || fail "$file does not parse"

commands=$("$CK_CLI" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || fail "could not read the commands from claude-keyring --help"

preludes=("")
bash_completion=/usr/share/bash-completion/bash_completion
if [ -r "$bash_completion" ]; then
  preludes+=("source $bash_completion")
else
  echo "# bash-completion is not installed: checking the file alone"
fi

for prelude in "${preludes[@]}"; do
  expect_exactly "$prelude" "login logout" claude-keyring lo
  expect_exactly "$prelude" "$commands" claude-keyring ""
  expect_exactly "$prelude" "--help --version" claude-keyring -
  # Options before the command do not hide it.
  expect_exactly "$prelude" "status setup-claude set-api-key ssh switch" claude-keyring --version s

  for command in $commands; do
    options=$("$CK_CLI" "$command" --help 2>&1 \
      | grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' | sed 's/.*\(--[a-z-]*\)$/\1/')
    expect_all "$prelude" "$options" claude-keyring "$command" --
  done

  mkdir -p "$CK_TEST_ROOT/completion"
  touch "$CK_TEST_ROOT/completion/settings.json"
  expect_exactly "$prelude" "$CK_TEST_ROOT/completion/settings.json" \
    claude-keyring setup-claude --settings "$CK_TEST_ROOT/completion/sett"
  expect_exactly "$prelude" "$CK_TEST_ROOT/completion/settings.json" \
    claude-keyring setup-claude --settings = "$CK_TEST_ROOT/completion/sett"
  # import --config-dir: directories only.
  mkdir -p "$CK_TEST_ROOT/completion/claude-work"
  expect_exactly "$prelude" "$CK_TEST_ROOT/completion/claude-work" \
    claude-keyring import --config-dir "$CK_TEST_ROOT/completion/"

  # After "run" (and after its "--") come command names.
  expect_all "$prelude" "bash" claude-keyring run bas
  expect_all "$prelude" "bash" claude-keyring run -- bas
  expect_all "$prelude" "--env" claude-keyring run --e
  expect_all "$prelude" "--direct" claude-keyring run --d
  # ssh: ssh's options, an identity file, then the remote command.
  expect_all "$prelude" "--persist" claude-keyring ssh --p
  expect_exactly "$prelude" "$CK_TEST_ROOT/completion/settings.json" \
    claude-keyring ssh -i "$CK_TEST_ROOT/completion/sett"
  expect_exactly "$prelude" "claude" claude-keyring ssh -p 22 me@host cl
  expect_exactly "$prelude" "claude" claude-keyring ssh --persist me@host -- cl
  expect_exactly "$prelude" "--headless --help --replace --version" claude-keyring-agent --
done

# With bash-completion, the words after "run COMMAND" are completed by
# COMMAND's own completion.
if [ -r "$bash_completion" ]; then
  expect_all "source $bash_completion; source $file" "--headless" \
    claude-keyring run --env -- claude-keyring-agent --hea
fi

[ "$status" -eq 0 ] && echo "bash completion offers every command and option"
exit "$status"
