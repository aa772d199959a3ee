#!/bin/bash
# The login dialog against the project's fake OAuth server: Log In… in the
# tray opens it, it opens "the browser" (a desktop file of the test that
# records the URL), play-browser.py approves, and the dialog shows the
# account. Then a pasted code#state, a refused login and Try Again, Cancel,
# and a login already pending elsewhere. Screenshots: login-dialog.png
# (waiting for the browser) and login-dialog-success.png.
. "$(dirname "$0")/ui-lib.sh"

PY=$(command -v python3)
start_fake_oauth

# "The browser" only records the URL it is given, so that the test
# decides what happens.
. "$support/ck-fake-browser.sh"
urls=$CK_TEST_ROOT/browser-urls
ck_fake_browser "$urls"

url_count () { [ -f "$urls" ] && wc -l <"$urls" || echo 0; }
# has_url N: whether the browser was opened N times; sets $url to the
# authorize URL that the last one's address (the agent's /start page, so
# that the state is on no command line) redirects to.
has_url () {
  [ "$(url_count)" -ge "$1" ] || return 1
  url=$(tail -n 1 "$urls")
  [[ $url == http://localhost:*/start ]] || return 1
  url=$(curl -s -o /dev/null --noproxy '*' -w '%{redirect_url}' "$url")
  [[ $url == "$base"/oauth/authorize\?* ]]
}
wait_url () { wait_for 10 has_url "$1"; }
dialog () { window_id "Log In to Claude"; }
# The first 'state' is the status's own; the accounts' rows have theirs.
state () { credentials GetStatus | grep -oP "'state': <'\K[a-z-]+" | head -n 1; }

start_display
start_notifications
start_tray --top --size 28 --color '#303030'
start_agent
wait_for 60 item_registered || die "the icon did not register"

# 1. Log In… in the tray: the dialog shows the link and opens the browser.
click_menu "_Log In…"
wait_dump 10 '^window\tCkLoginDialog\tLog In to Claude' && pass "Log In… opens the login dialog" ||
  die "Log In… opens the login dialog"
wait_dump 10 "^label\t\Q$base\E/oauth/authorize\?" && pass "the dialog shows the authorize URL" ||
  { fail "the dialog shows the authorize URL"; show_dump; }
dump_has '^button\tOpen in Browser' && dump_has '^button\tCopy Link' &&
  pass "with Open in Browser and Copy Link" || fail "Open in Browser / Copy Link buttons"
dump_has '^entry\tcode#state\t$' && pass "and a field for a pasted code" || fail "the code field"
wait_url 1 && pass "the dialog opened the browser on /start, which leads to that URL" ||
  die "the browser was not opened: $(cat "$urls" 2>/dev/null)"
[ "$(state)" = login-pending ] && pass "the agent waits for the login" || fail "state: $(state)"
wait_for 10 eval '[ -n "$(dialog)" ]' || fail "the dialog is on screen"
xdotool windowmove "$(dialog)" 0 40
sleep 0.8
screenshot login-dialog "$(dialog)" || true

# The browser approves: the dialog shows the account, no notification.
"$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" ||
  die "play-browser could not complete the login: $(cat "$CK_TEST_ROOT/browser.log")"
wait_dump 10 '^label\tClaude Code can now use the account tester@example\.com\.' &&
  pass "the dialog completes the login and names the account" || { fail "success page"; show_dump; }
[ "$(state)" = logged-in ] && pass "the agent is logged in" || fail "state: $(state)"
sleep 0.8
screenshot login-dialog-success "$(dialog)" || true
grep -q "Logged In to Claude" "$CK_TEST_ROOT/notifications.log" 2>/dev/null &&
  fail "a notification repeats what the open dialog shows" || pass "no notification while the dialog shows it"
[[ $(menu_layout) == *"Logged in as tester@example.com"* ]] && pass "the tray names the account" ||
  fail "tray: $(menu_layout)"
press_until_gone "Log In to Claude" Return '^window\tCkLoginDialog' && pass "Done (Return) closes the dialog" ||
  fail "Done (Return) closes the dialog"

# 2. A pasted code#state, typed into the dialog.
agent_action login
wait_url 2 || die "the second login opened no browser"
wait_dump 10 '^window\tCkLoginDialog' || die "app.login opens the dialog"
code=$("$PY" "$support/play-browser.py" --no-callback --print-code "$url" 2>"$CK_TEST_ROOT/browser.log") ||
  die "play-browser could not get a code: $(cat "$CK_TEST_ROOT/browser.log")"
type_into "Log In to Claude" "$code" || fail "typing the code into the dialog"
xdotool key Return
wait_dump 15 '^label\tClaude Code can now use the account tester@example\.com\.' &&
  pass "a pasted code completes the login" || { fail "a pasted code completes the login"; show_dump; }
press_until_gone "Log In to Claude" Escape '^window\tCkLoginDialog' || fail "Escape closes the dialog"

# 3. The server refuses: the reason, then Try Again succeeds.
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"authorize": "deny"}' \
  "$base/test/mode" >/dev/null || die "could not switch the fake server to deny"
agent_action login
wait_url 3 || die "the third login opened no browser"
"$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" || true
wait_dump 10 '^label\tLogin Failed' && pass "a refused login shows Login Failed" ||
  { fail "a refused login shows Login Failed"; show_dump; }
dump_has '^button\tTry Again' && pass "with Try Again" || fail "Try Again is offered"
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"authorize": "ok"}' "$base/test/mode" >/dev/null
press "Log In to Claude" Return has_url 4 && pass "Try Again (Return) starts a new login" ||
  die "Try Again started no login"
"$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" ||
  fail "play-browser: $(cat "$CK_TEST_ROOT/browser.log")"
wait_dump 10 '^label\tClaude Code can now use the account' && pass "and it succeeds" ||
  { fail "Try Again succeeds"; show_dump; }
press_until_gone "Log In to Claude" Escape '^window\tCkLoginDialog' || fail "Escape closes the dialog"

# 4. Cancel gives up the login in the agent too.
agent_action login
wait_url 5 || die "the fifth login opened no browser"
[ "$(state)" = login-pending ] || fail "state before Cancel: $(state)"
press_until_gone "Log In to Claude" Escape '^window\tCkLoginDialog' || fail "Escape closes the dialog"
wait_for 10 eval '[ "$(state)" = logged-in ]' && pass "closing the dialog cancels the login in the agent" ||
  fail "state after Cancel: $(state)"

# 5. A login pending elsewhere (the CLI): the dialog offers to start over.
"$CK_CLI" login --no-browser </dev/null >"$CK_TEST_ROOT/cli-login.out" 2>"$CK_TEST_ROOT/cli-login.err" &
cli_pid=$!
pids+=($cli_pid)
wait_for 10 test -s "$CK_TEST_ROOT/cli-login.out" || die "the CLI login printed no URL"
agent_action login
wait_dump 10 '^label\tAnother Login Is Waiting' && pass "a login pending elsewhere is explained" ||
  { fail "a login pending elsewhere is explained"; show_dump; }
press "Log In to Claude" Return has_url 6 && pass "Start Over (Return) starts a login of its own" ||
  die "Start Over started no login"
"$PY" "$support/play-browser.py" "$url" 2>"$CK_TEST_ROOT/browser.log" ||
  fail "play-browser: $(cat "$CK_TEST_ROOT/browser.log")"
wait_dump 10 '^label\tClaude Code can now use the account' && pass "which succeeds" ||
  { fail "Start Over succeeds"; show_dump; }
wait_for 10 eval '! kill -0 $cli_pid 2>/dev/null' && pass "the CLI's login, replaced, ends" ||
  fail "the CLI's login still waits"

check_agent_log

finish
