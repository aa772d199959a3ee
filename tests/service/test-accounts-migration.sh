#!/bin/bash
# Migration to accounts (issue 19): a keyring as the release before
# accounts wrote it (one login, one API key, with exactly its attributes
# and labels, stored here with secret-tool) is read by the new agent with
# nothing lost: both become accounts with names of their own and distinct
# ids, the key is answered as before, and the key's item, which had the
# login's "default" id, is rewritten (new item read back, then the old one
# deleted) without a step from the user.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

SCHEMA=io.github.claudekeyring.ClaudeKeyring.Credential
UUID=4a3b2c1d-0000-4000-8000-00000000fa7e
expires=$(( ($(date +%s) + 7200) * 1000 ))
login_json='{"accessToken":"test-access-migrated","refreshToken":"test-refresh-migrated","expiresAt":'$expires',"scopes":["user:profile","user:inference"],"subscriptionType":"max","account":{"uuid":"'$UUID'","emailAddress":"old@example.com"},"organization":{"uuid":"0f0e","name":"Old Org"}}'

printf '%s' "$login_json" |
  secret-tool store --label="Claude Code login (old@example.com)" xdg:schema "$SCHEMA" kind oauth account "$UUID" ||
  bail "secret-tool could not store the login"
printf '%s' test-api-key-migrated |
  secret-tool store --label="Claude Code API key" xdg:schema "$SCHEMA" kind api-key account default ||
  bail "secret-tool could not store the key"

# The agent starts on the first call, as after an upgrade.
rows () {
  "$CK_CLI" accounts --json | "$PY" -S -c '
import json, sys
print(" ".join(sorted("%s/%s/%s" % (r["name"], r["kind"], "default" if r["default"] else "-")
                      for r in json.load(sys.stdin))))'
}
got=$(rows)
check "both are accounts, the key the default as before ($got)" \
  [ "$got" = "api-key/api-key/default old@example.com/oauth/-" ]
out=$(ck_call GetCredential "{}")
check "GetCredential without options answers the key as before" eval '[[ $out == *test-api-key-migrated* ]]'
out=$(ck_call GetCredential "{'kind': <'oauth'>}")
check "and the login when asked for one" eval '[[ $out == *test-access-migrated* ]]'
out=$(ck_call GetCredential "{'account': <'old@example.com'>}")
check "the login by its name (its email)" eval '[[ $out == *test-access-migrated* ]]'
# (Read again while the key's item may be rewritten: still two accounts.)
check "still two while the key is rewritten" [ "$(rows)" = "api-key/api-key/default old@example.com/oauth/-" ]

# The key's item is rewritten under an id of its own, once the new one is read back.
for _ in $(seq 50); do
  old=$(secret-tool search --all xdg:schema "$SCHEMA" kind api-key account default 2>/dev/null | grep -c '^secret = ')
  [ "$old" = 0 ] && break
  sleep 0.1
done
check "the key's old item is gone" [ "$old" = 0 ]
ids=$("$CK_CLI" accounts --json | "$PY" -S -c 'import json, sys; print(" ".join(sorted(r["id"] for r in json.load(sys.stdin))))')
info "ids: $ids"
keys=$(secret-tool search --all xdg:schema "$SCHEMA" kind api-key 2>&1)
check "one key item is left, named api-key" \
  eval '[ "$(grep -c "^secret = test-api-key-migrated" <<<"$keys")" = 1 ] && grep -q "^attribute.name = api-key" <<<"$keys"'
check "its id is not default" eval '! grep -q "^attribute.account = default" <<<"$keys"'
login=$(secret-tool lookup xdg:schema "$SCHEMA" kind oauth account "$UUID")
check "the login's item is untouched" [ "$login" = "$login_json" ]

# A restarted agent reads the same.
ck_agent_stop
got=$(rows)
check "after a restart, the same accounts ($got)" \
  [ "$got" = "api-key/api-key/default old@example.com/oauth/-" ]
ids2=$("$CK_CLI" accounts --json | "$PY" -S -c 'import json, sys; print(" ".join(sorted(r["id"] for r in json.load(sys.stdin))))')
check "with the same ids" [ "$ids" = "$ids2" ]
out=$(ck_call GetCredential "{}")
check "and the same key" eval '[[ $out == *test-api-key-migrated* ]]'

ck_done
