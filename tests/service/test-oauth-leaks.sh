#!/bin/bash
# Secrets never leak: a whole life of a login (login, refresh, failed
# refreshes whose server replies echo the refresh token or carry a token,
# a profile error that echoes the bearer token, logout with a revocation
# error that echoes the token, a second login, logout) and then no access
# token, refresh token or authorization code in the agent's log, the CLI's
# stderr, or any file under HOME and the test's scratch directory. The
# keyring's own file holds the tokens only encrypted: while they are
# stored, the raw token is not found in it.
#
# Every token the fake server issues starts with "fake-access-",
# "fake-refresh-" or "fake-code-" (and "fake-access-leak-" in its malformed
# reply), so grepping for the prefixes finds every one, including the
# refresh tokens the test never sees. Tokens the test does see are kept in
# shell variables, never written to a file.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

ck_oauth_start_fake
ck_oauth_export_env
errs=$CK_TEST_ROOT/cli-stderr
mkdir -p "$errs"
n=0
# cli ARGS...: the CLI with stdout in $cli_out (memory), stderr kept in a file.
cli () {
  n=$((n + 1))
  cli_rc=0
  cli_out=$("$CK_CLI" "$@" </dev/null 2>"$errs/$n-$1.err") || cli_rc=$?
}
force_refresh () {
  ck_call GetCredential "{'min-validity': <uint32 7200>}" 2>>"$errs/gdbus.err" |
    sed -n "s/.*'token': <'\([^']*\)'>.*/\1/p"
}
keyring_dir=$HOME/.local/share/keyrings
seen=()

# --- A login, a refresh, failures, a logout with a revocation error ----------
ck_oauth_mode '{"profile": "401"}'   # the 401 body echoes the bearer token
ck_login_loopback
cp "$CK_TEST_ROOT/login.err" "$errs/login1.err"
cli token
access1=$cli_out
seen+=("$access1")
check "first login stored an access token" eval '[[ $access1 == fake-access-* ]]'
ck_oauth_mode '{"profile": "ok"}'

access2=$(force_refresh)
seen+=("$access2")
check "a refresh gave a new access token" eval '[[ $access2 == fake-access-* && $access2 != "$access1" ]]'

# The keyring file exists and holds our item, but not in plaintext.
items=$(secret-tool search --all xdg:schema io.github.claudekeyring.ClaudeKeyring.Credential 2>/dev/null | grep -c '^\[')
check "the login is an item in the keyring" [ "$items" -ge 1 ]
check "the keyring has a file on disk" eval 'ls "$keyring_dir"/*.keyring >/dev/null 2>&1'
check "the keyring file does not hold the access token in plaintext" \
  eval '! grep -rqF -- "$access2" "$keyring_dir"'
check "the keyring file holds no fake- token in plaintext" eval '! grep -rqa -- "fake-" "$keyring_dir"'
check "no plaintext credentials file was written" [ ! -e "$HOME/.claude/.credentials.json" ]

# Failures whose server replies carry secrets. From now on tokens live
# 20 s, less than the 30 s `token` asks for, so each `token` refreshes.
ck_oauth_mode '{"expires_in": 20}'
force_refresh >/dev/null
for mode in 500 malformed invalid_grant; do
  ck_oauth_mode "{\"refresh\": \"$mode\"}"
  force_refresh >/dev/null
  cli token
  check "refresh $mode fails (token exit $cli_rc)" [ "$cli_rc" -ne 0 ]
done
ck_oauth_mode '{"refresh": "ok"}'
cli status
cli status --json
ck_oauth_mode '{"revoke": "500"}'    # the 500 body echoes the revoked token
cli logout
check "logout succeeds although the server failed to revoke" [ "$cli_rc" -eq 0 ]
ck_oauth_mode '{"revoke": "ok"}'

# --- A second login (profile 500 echoes the token), refresh, clean logout ---------
ck_oauth_mode '{"profile": "500"}'
ck_login_loopback
cp "$CK_TEST_ROOT/login.err" "$errs/login2.err"
ck_oauth_mode '{"profile": "ok"}'
access3=$(force_refresh)
seen+=("$access3")
check "second login and refresh work" eval '[[ $access3 == fake-access-* ]]'
cli logout
check "logout exits 0" [ "$cli_rc" -eq 0 ]
check "the server saw the revocations" [ "$(ck_oauth_stat 'd["revokes"]')" -ge 2 ]
cli token
check "token fails after logout" [ "$cli_rc" -ne 0 ]

# --- Nothing anywhere ---------------------------------------------------------------
# Everything the agent, the CLI, gnome-keyring and the session wrote: agent.log,
# keyring.log, the CLI's stderr files, HOME (settings, keyrings, caches).
# The fake server's own log is the only file excluded: it is the server.
leaks=$(grep -rlaE --exclude=oauth-server.log -- 'fake-(access|refresh|code)-' "$CK_TEST_ROOT")
check "no token or code prefix in any file under \$CK_TEST_ROOT (incl. HOME, agent.log, CLI stderr)" [ -z "$leaks" ]
for f in $leaks; do info "leak in ${f#$CK_TEST_ROOT/}: $(grep -oaE 'fake-(access|refresh|code)-[0-9a-z-]{0,4}' "$f" | sort -u | tr '\n' ' ')"; done
for t in "${seen[@]}"; do
  [ -n "$t" ] || continue
  if grep -rqaF --exclude=oauth-server.log -- "$t" "$CK_TEST_ROOT"; then
    not_ok "an issued access token (${t:0:14}…) appears in a file"
  fi
done
ok "checked ${#seen[@]} issued access tokens by value"
check "the agent log is not empty (the check looked at something)" [ -s "$CK_TEST_ROOT/agent.log" ]
check "the agent logged the refresh failures (without their secrets)" \
  grep -q 'Refreshing the login failed' "$CK_TEST_ROOT/agent.log"
check "the CLI's stderr files were checked ($(ls "$errs" | wc -l))" [ "$(ls "$errs" | wc -l)" -ge 8 ]

ck_done
