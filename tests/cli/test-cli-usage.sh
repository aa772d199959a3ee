#!/bin/bash
# The command line itself: help, version, usage errors, and what the binary
# links. None of this needs the agent.
. "$(dirname "$0")/cli-lib.sh"

run --help
expect_status 0 "--help"
for command in login logout status token set-api-key; do
  grep -q "^  $command " "$out" || fail "--help does not list $command"
done
[ ! -s "$err" ] || fail "--help wrote to stderr"

run --version
expect_status 0 "--version"
grep -qx 'claude-keyring [0-9][0-9.]*' "$out" || fail "--version printed something else"

for command in login logout status token set-api-key; do
  run "$command" --help
  expect_status 0 "$command --help"
  grep -q "claude-keyring $command" "$out" || fail "$command --help has no usage line"
  run help "$command"
  expect_status 0 "help $command"
done
run status --help
grep -q -- '--json' "$out" || fail "status --help does not mention --json"
run login --help
for option in --console --no-browser --manual --code; do
  grep -q -- "$option" "$out" || fail "login --help does not mention $option"
done

# Unknown commands and options: usage on stderr, one line, exit 2.
run frobnicate
expect_status 2 "frobnicate"
expect_empty_stdout "unknown command"
expect_one_error_line "unknown command"
grep -q 'frobnicate' "$err" || fail "the error does not name the unknown command"

run --frobnicate
expect_status 2 "--frobnicate"
expect_one_error_line "unknown option"

run status --frobnicate
expect_status 2 "status --frobnicate"
expect_one_error_line "unknown option of a command"

run token extra
expect_status 2 "token extra"
expect_one_error_line "extra argument"

run
expect_status 2 "(no arguments)"
expect_empty_stdout "no arguments"
grep -q 'Usage' "$err" || fail "no usage on stderr without arguments"

# Nothing of the above needed the agent, so none was started.
if agent_running; then fail "usage errors activated the agent"; fi

# GIO and json-glib only: never GTK, libsecret or libsoup.
libs=$(ldd "$CK_CLI")
if grep -Ei 'libgtk|libadwaita|libsecret|libsoup' <<<"$libs"; then
  fail "the client links a library it must not"
fi
grep -q 'libgio-2.0' <<<"$libs" || fail "ldd does not show libgio (ldd output: $libs)"

echo "ok"
