#!/bin/bash
# The agent's loopback server against the other users of the machine, and
# against requests that would make it hold memory (issue 16):
#  1. the browser is opened on http://localhost:PORT/start, so that the
#     state and the PKCE challenge are on no command line; /start sends this
#     user on to the authorize URL, and nobody else;
#  2. another user who knows the state gets 403 from the callback, their
#     code is never redeemed and the login stays pending;
#  3. a 100 MiB POST is refused with 413 before it is read: the agent's
#     memory does not grow; so is a chunked one;
#  4. another user's idle connections are capped and take none of the
#     browser's: with them open, this user's browser completes the login.
# Tests run as root here; "another user" is nobody, through setpriv.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"

[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP only root can act as another user"; exit 77; }
command -v setpriv >/dev/null || { echo "1..0 # SKIP setpriv is missing"; exit 77; }
# Programs another user can run: root's PATH may lead to shims under /root.
CURL=/usr/bin/curl
PY3=/usr/bin/python3
[ -x "$CURL" ] && [ -x "$PY3" ] || { echo "1..0 # SKIP $CURL or $PY3 is missing"; exit 77; }
as_nobody () { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

ck_oauth_start_fake
ck_oauth_export_env

# "The browser" records the address it is given.
. "$CK_SUPPORT/ck-fake-browser.sh"
urls=$CK_TEST_ROOT/browser-urls
ck_fake_browser "$urls"

exchanges () { ck_oauth_stat 'd["token_requests"].get("authorization_code", 0)'; }
rss_kib () { awk '/^VmRSS:/ { print $2 }' "/proc/$agent/status"; }

# --- 1. The browser gets /start ----------------------------------------------
# Login as the tray does it: the agent opens the browser itself.
reply=$(ck_call Login "{'open-browser': <true>}" 2>&1)
login_url=$(printf '%s' "$reply" | sed -n "s/^('\(.*\)',)$/\1/p")
[[ $login_url == "$CK_OAUTH_BASE"/oauth/authorize\?* ]] || bail "Login returned no authorize URL: $reply"
state=$(PY_URL=$login_url "$PY" -c 'import os, urllib.parse; print(urllib.parse.parse_qs(urllib.parse.urlsplit(os.environ["PY_URL"]).query)["state"][0])')
port=$(PY_URL=$login_url "$PY" -c 'import os, urllib.parse; q = urllib.parse.parse_qs(urllib.parse.urlsplit(os.environ["PY_URL"]).query); print(urllib.parse.urlsplit(q["redirect_uri"][0]).port)')
agent=$(ck_agent_pid)
[ -n "$agent" ] || bail "no agent pid"

for _ in $(seq 100); do [ -s "$urls" ] && break; sleep 0.05; done
browser_url=$(head -n 1 "$urls" 2>/dev/null)
check "the browser is opened on http://localhost:$port/start ($browser_url)" \
  [ "$browser_url" = "http://localhost:$port/start" ]
check "... which carries neither the state nor the challenge" \
  eval '[[ $browser_url != *"$state"* && $browser_url != *challenge* ]]'
check "/start sends this user on to the authorize URL" \
  [ "$($CURL -s -o /dev/null --noproxy '*' -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$port/start")" = "302 $login_url" ]
check "/start gives another user 403 and no address" \
  [ "$(as_nobody $CURL -q -s -o /dev/null --noproxy '*' -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$port/start")" = "403 " ]

# --- 2. Another user with the state -----------------------------------------
callback="http://127.0.0.1:$port/callback?code=someone-elses-code&state=$state"
check "another user's callback with the right state gets 403" \
  [ "$(as_nobody $CURL -q -s -o /dev/null --noproxy '*' -w '%{http_code}' "$callback")" = 403 ]
check "... also through localhost (::1 where there is one)" \
  [ "$(as_nobody $CURL -q -s -o /dev/null --noproxy '*' -w '%{http_code}' "http://localhost:$port/callback?code=x&state=$state")" = 403 ]
sleep 0.3
check "their code was never redeemed" [ "$(exchanges)" = 0 ]
check "the login is still pending" [ "$(ck_status_field 'd["state"]')" = login-pending ]

# --- 3. Bodies ---------------------------------------------------------------
# Sparse: curl streams it; no Expect: 100-continue, so it sends at once.
truncate -s 100M "$CK_TEST_ROOT/big"
before=$(rss_kib)
status=$($CURL -s -o /dev/null --noproxy '*' -w '%{http_code}' -H 'Expect:' -X POST \
  -T "$CK_TEST_ROOT/big" "$callback" 2>/dev/null)
sleep 0.5
after=$(rss_kib)
info "agent VmRSS ${before} KiB before a 100 MiB POST, ${after} KiB after"
check "a 100 MiB POST to the callback gets 413 ($status)" [ "$status" = 413 ]
check "... and the agent's memory grows by less than 4 MiB ($((after - before)) KiB)" \
  [ "$((after - before))" -lt 4096 ]
status=$(head -c 1000000 /dev/zero | $CURL -s -o /dev/null --noproxy '*' -w '%{http_code}' -H 'Expect:' \
  -H 'Transfer-Encoding: chunked' -X POST -T - "http://127.0.0.1:$port/elsewhere" 2>/dev/null)
check "a chunked POST anywhere gets 413 ($status)" [ "$status" = 413 ]
check "PUT on the callback gets 405" \
  [ "$($CURL -s -o /dev/null --noproxy '*' -w '%{http_code}' -X PUT "$callback")" = 405 ]
check "another path gets 404" \
  [ "$($CURL -s -o /dev/null --noproxy '*' -w '%{http_code}' "http://127.0.0.1:$port/favicon.ico")" = 404 ]
check "the login is still pending" [ "$(ck_status_field 'd["state"]')" = login-pending ]

# --- 4. Another user's idle connections --------------------------------------
# Meanwhile two clients follow the agent's signals: a permitted one and a
# refused Flatpak-like one. LoginFinished names the account on success, so
# like StatusChanged it reaches only the permitted one.
. "$CK_SUPPORT/ck-sandbox.sh"
caller=$CK_BUILD_ROOT/tests/support/ck-test-caller
watch=$CK_TEST_ROOT/watch
"$caller" --watch-status 8000 >"$watch.permitted" &
watch_permitted=$!
ck_sandbox flatpak "$caller" --watch-status 8000 >"$watch.sandboxed" &
watch_sandboxed=$!
for _ in $(seq 100); do
  [ -s "$watch.permitted" ] && [ -s "$watch.sandboxed" ] && break
  sleep 0.05
done

# 12 idle connections of another user; they stay until fd 8 is closed.
exec 8> >(as_nobody "$PY3" -c "$(cat "$CK_SUPPORT/hold-connections.py")" "$port" 12 >"$CK_TEST_ROOT/held")
for _ in $(seq 100); do [ -s "$CK_TEST_ROOT/held" ] && break; sleep 0.05; done
held=$(cat "$CK_TEST_ROOT/held")
check "another user keeps at most 4 idle connections open (${held:-none})" \
  eval '[ -n "$held" ] && [ "$held" -le 4 ]'
"$PY" "$CK_SUPPORT/play-browser.py" "$login_url" 2>"$CK_TEST_ROOT/browser.log"
check "with them open, this user's browser completes the login" [ $? -eq 0 ]
exec 8>&-
for _ in $(seq 100); do [ "$(ck_status_field 'd["state"]')" = logged-in ] && break; sleep 0.05; done
check "the agent is logged in" [ "$(ck_status_field 'd["state"]')" = logged-in ]
check "with one code exchange, this user's" [ "$(exchanges)" = 1 ]
wait "$watch_permitted" "$watch_sandboxed"
check "a permitted client got LoginFinished ($(tr '\n' ' ' <"$watch.permitted"))" \
  grep -qx 'login-finished 1' "$watch.permitted"
check "a refused sandboxed client got no signal ($(tr '\n' ' ' <"$watch.sandboxed"))" \
  [ "$(tr '\n' ' ' <"$watch.sandboxed")" = "error io.github.claudekeyring.Error.AccessDenied login-finished 0 signals 0 " ]

ck_done
