#!/bin/bash
# Accounts (issue 19): two logins of two users of the fake OAuth server
# and one API key, side by side in the real agent and keyring.
#  - `token` and `run` in a bound directory get their account's credential,
#    the default account elsewhere; --account and CLAUDE_KEYRING_ACCOUNT
#    override; a rule matches whole path components only;
#  - 50 concurrent callers split across both logins on expiring tokens make
#    exactly one refresh per account;
#  - a failing refresh of one account leaves the other serving.
# Which user a token belongs to is asked of the fake server's profile
# endpoint, so no token is ever printed.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

N=50
USER1=tester@example.com
USER2=second@example.org

# Tokens from the logins live 25 s, less than the 30 s of validity `token`
# asks for: the herd below needs a refresh of both. A refresh margin of 0
# keeps the background refresh away until then.
ck_oauth_start_fake --expires-in 25
ck_set refresh-margin 0
ck_oauth_export_env

# who TOKEN: the email of the login TOKEN belongs to, "key" for the key.
who () {
  if [ "$1" = test-api-key-accounts ]; then echo key; return; fi
  curl -fsS -H "Authorization: Bearer $1" "$CK_OAUTH_BASE/api/oauth/profile" 2>/dev/null |
    "$PY" -S -c 'import json, sys; print(json.load(sys.stdin)["account"]["email"])' 2>/dev/null ||
    echo "unknown"
}
# token_in DIR [ARGS...]: whose token `token ARGS` prints in DIR.
token_in () {
  local dir=$1 out
  shift
  out=$(cd "$dir" && "$CK_CLI" token "$@" 2>"$CK_TEST_ROOT/token.err") || { echo "failed"; return; }
  who "$out"
}

ck_login_loopback
ok "logged in as the first user"
ck_oauth_mode '{"user": "2"}'
ck_login_start login2 --no-browser --as work || bail "login --as printed no URL: $(cat "$CK_TEST_ROOT/login2.err")"
"$PY" "$CK_SUPPORT/play-browser.py" "$login_url" 2>"$CK_TEST_ROOT/browser.log" || bail "browser failed"
ck_login_wait 20
check "login --as work succeeds ($(tr '\n' ' ' <"$CK_TEST_ROOT/login2.err"))" [ "$login_status" -eq 0 ]
printf 'test-api-key-accounts\n' | "$CK_CLI" set-api-key --as ci-key 2>/dev/null
check "set-api-key --as ci-key succeeds" [ $? -eq 0 ]

accounts=$("$CK_CLI" accounts --json)
names=$(printf '%s' "$accounts" | "$PY" -S -c 'import json, sys; print(" ".join(sorted(r["name"] for r in json.load(sys.stdin))))')
check "accounts lists the three ($names)" [ "$names" = "ci-key $USER1 work" ]
ids=$(printf '%s' "$accounts" | "$PY" -S -c 'import json, sys; r = json.load(sys.stdin); print(len(set(a["id"] for a in r)))')
check "their ids differ" [ "$ids" = 3 ]
check "rename OLD NEW" "$CK_CLI" rename "$USER1" personal
check "switch personal" "$CK_CLI" switch personal
default=$("$CK_CLI" accounts --json | "$PY" -S -c 'import json, sys; print([r["name"] for r in json.load(sys.stdin) if r["default"]])')
check "personal is the default ($default)" [ "$default" = "['personal']" ]

root=$CK_TEST_ROOT/projects
mkdir -p "$root/work/sub/dir" "$root/workshop" "$root/elsewhere" "$root/ci"
check "bind DIR work" "$CK_CLI" bind "$root/work" work
(cd "$root/ci" && "$CK_CLI" bind ci-key >/dev/null)
check "bind NAME binds the current directory" [ $? -eq 0 ]

# The herd: 50 callers, half in the bound directory, half elsewhere.
ck_oauth_mode '{"expires_in": 3600, "delay_ms": 2000}'
dir=$CK_TEST_ROOT/herd
mkdir -p "$dir"
pids=()
for i in $(seq $N); do
  if [ $((i % 2)) = 0 ]; then cwd=$root/work/sub; else cwd=$root/elsewhere; fi
  (cd "$cwd" && exec "$CK_CLI" token >"$dir/$i.out" 2>"$dir/$i.err" </dev/null) &
  pids+=($!)
done
failed=0
for i in $(seq $N); do wait "${pids[$((i - 1))]}" || failed=$((failed + 1)); done
counts=$(ck_oauth_stat 'sorted(d["refresh_calls_by_user"].items())')
info "$N concurrent callers on two accounts: refreshes at the server per user: $counts"
check "every caller got a token ($failed failed)" [ "$failed" = 0 ]
check "exactly one refresh per account ($counts)" [ "$counts" = "[('1', 1), ('2', 1)]" ]
wrong=0
for i in $(seq $N); do
  if [ $((i % 2)) = 0 ]; then want=$USER2; else want=$USER1; fi
  [ "$(who "$(cat "$dir/$i.out")")" = "$want" ] || wrong=$((wrong + 1))
done
check "each caller got its own account's token ($wrong wrong)" [ "$wrong" = 0 ]
ck_oauth_mode '{"delay_ms": 0}'

# Choosing.
check "a bound directory gets its account" [ "$(token_in "$root/work")" = "$USER2" ]
check "and so does a directory below it" [ "$(token_in "$root/work/sub/dir")" = "$USER2" ]
check "a rule matches whole components (workshop is not work)" [ "$(token_in "$root/workshop")" = "$USER1" ]
check "elsewhere the default account" [ "$(token_in "$root/elsewhere")" = "$USER1" ]
check "the API key's directory gets the key" [ "$(token_in "$root/ci")" = key ]
check "--account overrides the rule" [ "$(token_in "$root/work" --account personal)" = "$USER1" ]
check "--account by name elsewhere" [ "$(token_in "$root/elsewhere" --account work)" = "$USER2" ]
# Symlinks: a rule holds the directory with its links resolved, and the CLI
# passes its physical working directory ($PWD may go through a link).
ln -s "$root/work" "$root/work-link"
check "a bound directory reached through a symlink uses its account" \
  [ "$(token_in "$root/work-link")" = "$USER2" ]
mkdir -p "$root/linked-target"
ln -s "$root/linked-target" "$root/link-to-bind"
"$CK_CLI" bind "$root/link-to-bind" work >/dev/null 2>&1
check "bind through a symlink binds its target" [ "$(token_in "$root/linked-target")" = "$USER2" ]
"$CK_CLI" unbind "$root/link-to-bind" >/dev/null 2>&1
check "and unbind through it removes that rule" [ "$(token_in "$root/linked-target")" = "$USER1" ]
check "CLAUDE_KEYRING_ACCOUNT overrides the rule" \
  [ "$(CLAUDE_KEYRING_ACCOUNT=ci-key token_in "$root/work")" = key ]
check "--account beats CLAUDE_KEYRING_ACCOUNT" \
  [ "$(CLAUDE_KEYRING_ACCOUNT=ci-key token_in "$root/elsewhere" --account work)" = "$USER2" ]
check "ANTHROPIC_API_KEY in the caller's environment beats --account and the rule" \
  eval '[ "$(cd "$root/work" && ANTHROPIC_API_KEY=test-env-key-accounts "$CK_CLI" token --account work 2>/dev/null)" = test-env-key-accounts ]'
out=$(cd "$root/work" && ANTHROPIC_API_KEY=test-env-key-accounts "$CK_CLI" run --direct --env -- \
        sh -c 'printf %s "$ANTHROPIC_API_KEY${CLAUDE_CODE_OAUTH_TOKEN:-}"' 2>/dev/null)
check "and run in a bound directory leaves it to claude, adding no account's token" [ "$out" = test-env-key-accounts ]
check "a plain GetCredential (no account, no cwd) keeps the default" \
  eval '[ "$(who "$(ck_call GetCredential "{}" | sed -n "s/.*'"'"'token'"'"': <'"'"'\([^'"'"']*\)'"'"'>.*/\1/p")")" = "$USER1" ]'

out=$(cd "$root/work" && "$CK_CLI" run --direct --env -- sh -c 'printf %s "$CLAUDE_CODE_OAUTH_TOKEN"' 2>/dev/null)
check "run in a bound directory passes its account's token" [ "$(who "$out")" = "$USER2" ]
out=$(cd "$root/elsewhere" && "$CK_CLI" run --direct --env -- sh -c 'printf %s "$CLAUDE_CODE_OAUTH_TOKEN"' 2>/dev/null)
check "run elsewhere passes the default's" [ "$(who "$out")" = "$USER1" ]
out=$(cd "$root/elsewhere" && "$CK_CLI" run --account ci-key --direct --env -- sh -c 'printf %s "$ANTHROPIC_API_KEY"' 2>/dev/null)
check "run --account ci-key passes the key" [ "$out" = test-api-key-accounts ]

# Through the gateway (run's default): the session serves the account it
# was opened for. The fake server's profile endpoint, as the upstream,
# says whose credential the gateway put on the request.
gateway_who () {
  (cd "$1" && shift && ANTHROPIC_BASE_URL=$CK_OAUTH_BASE "$CK_CLI" run "$@" --env -- sh -c \
    'curl -fsS -H "Authorization: Bearer ${CLAUDE_CODE_OAUTH_TOKEN:-$ANTHROPIC_API_KEY}" "$ANTHROPIC_BASE_URL/api/oauth/profile"' 2>/dev/null) |
    "$PY" -S -c 'import json, sys; print(json.load(sys.stdin)["account"]["email"])' 2>/dev/null || echo failed
}
check "a gateway session opened in a bound directory serves its account" [ "$(gateway_who "$root/work")" = "$USER2" ]
check "one opened elsewhere the default" [ "$(gateway_who "$root/elsewhere")" = "$USER1" ]
check "and one with --account that account" [ "$(gateway_who "$root/elsewhere" --account work)" = "$USER2" ]

# A persistent session keeps its account across a restart of the agent.
reply=$(ck_call OpenGatewaySession "{'persistent': <true>, 'account': <'work'>, 'upstream': <'$CK_OAUTH_BASE'>, 'command': <'test'>}" 2>&1)
gw_url=$(sed -n "s/.*'url': <'\([^']*\)'>.*/\1/p" <<<"$reply")
gw_token=$(sed -n "s/.*'token': <'\([^']*\)'>.*/\1/p" <<<"$reply")
gw_id=$(sed -n "s/.*'id': <'\([^']*\)'>.*/\1/p" <<<"$reply")
[ -n "$gw_url" ] && [ -n "$gw_token" ] || bail "OpenGatewaySession failed"
ck_agent_stop
ck_call GetStatus >/dev/null
persistent_who () {
  curl -fsS -H "Authorization: Bearer $gw_token" "$gw_url/api/oauth/profile" 2>/dev/null |
    "$PY" -S -c 'import json, sys; print(json.load(sys.stdin)["account"]["email"])' 2>/dev/null || echo failed
}
for _ in $(seq 50); do [ "$(persistent_who)" != failed ] && break; sleep 0.1; done
check "a persistent session serves its account after a restart" [ "$(persistent_who)" = "$USER2" ]
"$CK_CLI" rename work work-renamed >/dev/null 2>&1
check "renamed, the session serves the same account" [ "$(persistent_who)" = "$USER2" ]
"$CK_CLI" rename work-renamed work >/dev/null 2>&1
ck_call CloseGatewaySession "'$gw_id'" >/dev/null

(cd "$root/elsewhere" && "$CK_CLI" token --account nope >/dev/null 2>"$CK_TEST_ROOT/nope.err")
status=$?
check "an unknown account fails" [ "$status" -ne 0 ]
check "naming it and 'claude-keyring accounts' ($(cat "$CK_TEST_ROOT/nope.err"))" \
  eval 'grep -q "nope" "$CK_TEST_ROOT/nope.err" && grep -q "claude-keyring accounts" "$CK_TEST_ROOT/nope.err" &&
        [ "$(wc -l <"$CK_TEST_ROOT/nope.err")" = 1 ]'

# A failing refresh of one account leaves the other serving.
ck_oauth_mode '{"refresh_fail_user": "2"}'
before=$(ck_oauth_stat 'd["refresh_calls_by_user"]')
ck_call GetCredential "{'min-validity': <uint32 7200>, 'account': <'work'>}" >/dev/null 2>"$CK_TEST_ROOT/fail.err"
check "a refresh of work fails ($(cat "$CK_TEST_ROOT/fail.err"))" grep -q RefreshFailed "$CK_TEST_ROOT/fail.err"
out=$(ck_call GetCredential "{'min-validity': <uint32 7200>, 'account': <'personal'>}" 2>&1)
check "personal still refreshes ($?)" eval '[[ $out == *"token"* ]]'
after=$(ck_oauth_stat 'd["refresh_calls_by_user"]')
info "refreshes per user before: $before, after: $after"
check "elsewhere still gets personal's token" [ "$(token_in "$root/elsewhere")" = "$USER1" ]
check "work's old token is still served while valid" [ "$(token_in "$root/work")" = "$USER2" ]
states=$("$CK_CLI" accounts --json | "$PY" -S -c '
import json, sys
print(" ".join("%s:%s" % (r["name"], "error" if r.get("last-refresh-error") else "ok") for r in json.load(sys.stdin)))')
check "only work shows the refresh error ($states)" [ "$states" = "ci-key:ok personal:ok work:error" ]
ck_oauth_mode '{"refresh_fail_user": null}'

# Doctor: one line per account, this directory's account and why, rules
# that name no account.
ck_set account-rules "{'$root/work': 'work', '$root/ci': 'ci-key', '$root/ghost': 'ghost'}"
mkdir -p "$root/ghost"
out=$(cd "$root/work/sub" && "$CK_CLI" doctor 2>&1)
check "doctor says which account this directory uses and why" \
  eval 'grep -qF "$root/work/sub uses the account work (bound to $root/work)" <<<"$out"'
check "doctor has one line per account ($(grep -c "Account " <<<"$out"))" [ "$(grep -c "Account " <<<"$out")" = 3 ]
check "doctor reports the rule naming no account" eval 'grep -qF "$root/ghost names “ghost”, which is not an account" <<<"$out"'
(cd "$root/ghost" && "$CK_CLI" token >/dev/null 2>"$CK_TEST_ROOT/ghost.err")
check "a call there fails naming the account ($(cat "$CK_TEST_ROOT/ghost.err"))" grep -q ghost "$CK_TEST_ROOT/ghost.err"
ck_set account-rules "{'$root/work': 'work', '$root/ci': 'ci-key'}"

# Status names the accounts; logout without a name is the directory's account.
check "status lists the accounts and the default" eval '"$CK_CLI" status | grep -q "^Accounts: *ci-key, personal (default), work$"'
check "status --account work" eval '"$CK_CLI" status --account work | grep -q "$USER2"'
check "GetStatus carries the accounts" eval '[[ $(ck_call GetStatus) == *"'"'"'accounts'"'"'"* ]]'
out=$(cd "$root/ci" && "$CK_CLI" logout 2>&1)
check "logout in a bound directory names its account ($out)" eval '[[ $out == *ci-key* ]]'
names=$("$CK_CLI" accounts --json | "$PY" -S -c 'import json, sys; print(" ".join(sorted(r["name"] for r in json.load(sys.stdin))))')
check "and removes only that one ($names)" [ "$names" = "personal work" ]
check "unbind" "$CK_CLI" unbind "$root/work"
check "the unbound directory gets the default" [ "$(token_in "$root/work")" = "$USER1" ]
check "logout work" "$CK_CLI" logout work
check "logout --all" "$CK_CLI" logout --all
check "nothing is left" eval '[ "$("$CK_CLI" accounts --json)" = "[]" ]'

ck_done
