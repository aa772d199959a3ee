#!/bin/bash
# set-api-key reads one line from standard input and nothing else.
. "$(dirname "$0")/cli-lib.sh"

secret=sk-ant-argv-secret-123

# A key on the command line is refused, and never echoed back.
run set-api-key "$secret"
expect_status 2 "set-api-key KEY"
expect_one_error_line "set-api-key KEY"
if grep -q -- "$secret" "$err"; then fail "the refused key was echoed"; fi

run set-api-key "--key=$secret"
expect_status 2 "set-api-key --key=KEY"
expect_one_error_line "set-api-key --key=KEY"
if grep -q -- "$secret" "$err"; then fail "the refused key was echoed"; fi

run token
expect_status 1 "token after refused keys"

# Empty, blank and multi-line input are refused.
run_with_input "" set-api-key
expect_status 1 "set-api-key with empty input"
expect_one_error_line "empty input"

run_with_input $'  \n\t\n' set-api-key
expect_status 1 "set-api-key with blank input"
expect_one_error_line "blank input"

run_with_input $'first-line\nsecond-line\n' set-api-key
expect_status 1 "set-api-key with two lines"
expect_one_error_line "two lines"
if grep -q -- 'first-line' "$err"; then fail "the refused input was echoed"; fi

run token
expect_status 1 "token after refused input"

# A trailing newline (and CR) is not part of the key.
run_with_input $'key-with-newline\r\n' set-api-key
expect_status 0 "set-api-key with a trailing newline"
expect_empty_stdout "set-api-key"
run token
[ "$(cat "$out")" = "key-with-newline" ] || fail "the trailing newline was kept"

# --clear removes it, and reads nothing.
run set-api-key --clear
expect_status 0 "set-api-key --clear"
expect_empty_stdout "set-api-key --clear"
run token
expect_status 1 "token after --clear"
expect_empty_stdout "token after --clear"

echo "ok"
