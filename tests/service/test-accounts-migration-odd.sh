#!/bin/bash
# Migration to accounts with odd items in the keyring (review of issue 19):
# two logins, an API key stored as "default" and one stored without an
# account, a login whose secret is not JSON. Nothing is lost: an item goes
# only once its own secret has been written again and read back, and a
# second "default" key gets an account of its own at a later start
# instead of taking the first one's name.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

SCHEMA=io.github.claudekeyring.ClaudeKeyring.Credential
exp=$(( ($(date +%s) + 7200) * 1000 ))
store () { # store SECRET LABEL ATTRIBUTES...
  local secret=$1 label=$2
  shift 2
  printf '%s' "$secret" | secret-tool store --label="$label" xdg:schema "$SCHEMA" "$@" ||
    bail "secret-tool could not store $label"
}
# (secret-tool replaces an item whose attributes hold the new one's: the
# key without an account goes first.)
store test-key-noaccount "key without account" kind api-key
store test-key-default "key default" kind api-key account default
store '{"accessToken":"test-access-odd1","refreshToken":"test-refresh-odd1","expiresAt":'$exp',"account":{"uuid":"4a3b2c1d-0000-4000-8000-00000000aaaa","emailAddress":"one@example.com"}}' \
  "login one" kind oauth account 4a3b2c1d-0000-4000-8000-00000000aaaa
store '{"accessToken":"test-access-odd2","refreshToken":"test-refresh-odd2","expiresAt":'$exp'}' \
  "login two" kind oauth account default
store 'not json {' "broken login" kind oauth account 4a3b2c1d-0000-4000-8000-00000000bbbb

secrets () { secret-tool search --all xdg:schema "$SCHEMA" 2>/dev/null | grep '^secret = ' | sort; }
holds () { secrets | grep -qxF "secret = $1"; }
all_held () {
  local s
  for s in test-key-noaccount test-key-default 'not json {'; do holds "$s" || return 1; done
  secrets | grep -q test-access-odd1 && secrets | grep -q test-access-odd2
}
keys () {
  "$CK_CLI" accounts --json | "$PY" -S -c '
import json, sys
print(" ".join(sorted(r["name"] for r in json.load(sys.stdin) if r["kind"] == "api-key")))'
}

for start in 1 2 3; do
  ck_call GetStatus >/dev/null || bail "the agent does not answer"
  sleep 1.5
  check "start $start: every secret is still in the keyring" all_held
  info "start $start: keys: $(keys)"
  check "start $start: no two accounts share a name" eval '[ -z "$("$CK_CLI" accounts --json | grep "\"name\"" | sort | uniq -d)" ]'
  ck_agent_stop
done
check "both keys are accounts after the third start" [ "$(keys)" = "api-key api-key-2" ]
got=$(for n in api-key api-key-2; do ck_call GetCredential "{'account': <'$n'>}"; done)
check "each key is served by its account" \
  eval '[[ $got == *test-key-noaccount* && $got == *test-key-default* ]]'
check "the logins are accounts" eval '[ "$("$CK_CLI" accounts --json | grep -c "\"kind\" : \"oauth\"")" = 2 ]'
check "the agent did not crash" eval '! grep -q -e CRITICAL -e "Segmentation" "$CK_TEST_ROOT/agent.log"'

ck_done
