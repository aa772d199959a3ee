#!/bin/bash
# ANTHROPIC_API_KEY in the caller's environment wins, as it does for claude.
. "$(dirname "$0")/cli-lib.sh"

status=0
echo -n stored-key | "$CK_CLI" set-api-key 2>/dev/null || fail "set-api-key failed"

ANTHROPIC_API_KEY=env-key-xyz run token
expect_status 0 "token with ANTHROPIC_API_KEY"
[ "$(cat "$out")" = "env-key-xyz" ] || fail "token did not print ANTHROPIC_API_KEY"
expect_one_error_line "the note about ANTHROPIC_API_KEY"
grep -q ANTHROPIC_API_KEY "$err" || fail "token did not say the key came from the environment"

# An empty variable does not count.
ANTHROPIC_API_KEY= run token
expect_status 0 "token with an empty ANTHROPIC_API_KEY"
[ "$(cat "$out")" = "stored-key" ] || fail "an empty ANTHROPIC_API_KEY was used"

ANTHROPIC_API_KEY=env-key-xyz run status
expect_status 0 "status with ANTHROPIC_API_KEY"
grep -q 'ANTHROPIC_API_KEY' "$out" || fail "status does not mention ANTHROPIC_API_KEY"
if grep -q env-key-xyz "$out" "$err"; then fail "status shows the environment key"; fi

ANTHROPIC_API_KEY=env-key-xyz run status --json
python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["environment-api-key"] is True' "$out" ||
  fail "status --json does not report environment-api-key"

echo "ok"
