#!/bin/bash
# The gateway's sessions in the status window and the tray: a session
# opened over D-Bus by a client that keeps its connection
# (tests/support/ck-test-caller) shows up as a row with its command, PID,
# start and counters, which follow its requests while the window is
# shown; the tooltip counts the sessions; the row's End button closes the
# session (its token then gets 401 from the gateway) and the row goes.
# A persistent session is marked so. A remote session (claude-keyring
# ssh) is titled "ssh DESTINATION", the tooltip says how many are remote,
# and End removes its socket too. Screenshot: status-window-gateway.png.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/ui-lib.sh"
. "$support/ck-gateway-request.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 77; }

PY=$(command -v python3)
KEY=test-api-key-ui-gateway-0001
caller=$CK_BUILD_ROOT/tests/support/ck-test-caller

"$PY" "$support/fake-messages-api.py" --port-file "$CK_TEST_ROOT/api.port" \
  --log "$CK_TEST_ROOT/api.log" --accept "$KEY" 2>"$CK_TEST_ROOT/api.err" &
pids+=($!)
wait_for 10 test -s "$CK_TEST_ROOT/api.port" || die "the fake API did not start"
upstream=http://127.0.0.1:$(cat "$CK_TEST_ROOT/api.port")

start_display
start_tray --top --size 28 --color '#303030'
start_agent
wait_for 60 item_registered || die "the icon did not register"
credentials SetApiKey "$KEY" >/dev/null || die "SetApiKey failed"

# The callers keep their sessions until this FIFO closes: when the test ends.
hold=$CK_TEST_ROOT/hold
mkfifo "$hold"
exec {hold_fd}<>"$hold"

# open_session NAME OPTIONS: sets session_pid, id and url; the token is in
# $CK_TEST_ROOT/NAME.token, never printed.
open_session () {
  local name=$1 options=$2 _ answer
  "$caller" --open-gateway "$options" "$CK_TEST_ROOT/$name.token" \
    <"$hold" >"$CK_TEST_ROOT/$name.out" 2>"$CK_TEST_ROOT/$name.err" &
  session_pid=$!
  pids+=("$session_pid")
  wait_for 15 grep -q '^\(session\|error\) ' "$CK_TEST_ROOT/$name.out" ||
    die "$name: the caller did not answer: $(cat "$CK_TEST_ROOT/$name.err")"
  answer=$(head -n 1 "$CK_TEST_ROOT/$name.out")
  [[ $answer == session\ * ]] || die "$name: OpenGatewaySession failed: $answer"
  read -r _ id _ url _ <<<"$answer"
  printf 'x-api-key: %s\n' "$(cat "$CK_TEST_ROOT/$name.token")" >"$CK_TEST_ROOT/$name.headers"
}

# request NAME: one Messages request with that session's token; prints the HTTP status.
request () { ck_gateway_request "$CK_TEST_ROOT/$1.headers" "$url"; }

tooltip () { item_property ToolTip; }

no_token_in_dump () {
  local name
  for name in "$@"; do
    grep -qF -f "$CK_TEST_ROOT/$name.token" "$CK_UI_TEST_DUMP" && return 1
  done
  return 0
}

# 1. No session.
agent_action status
wait_dump 10 '^row\tNo program uses the gateway now' && pass "no session: the window says so" ||
  { fail "no session: the window says so"; show_dump; }
[[ $(tooltip) != *"gateway session"* ]] && pass "no session: the tooltip counts none" ||
  fail "no session: ToolTip: $(tooltip)"

# 2. A session opened while the window is shown: StatusChanged lists it.
open_session one "{'upstream': <'$upstream'>, 'command': <'claude -p ui-test'>}"
one_pid=$session_pid
one_id=$id
wait_dump 10 "^row\tclaude -p ui-test\tPID $one_pid · since \d\d:\d\d · 0 requests · 0 bytes received\t\[End\]" &&
  pass "the session's row: command, PID, since, counters and an End button" ||
  { fail "the session's row"; show_dump; }
dump_has '^row\tNo program uses the gateway now' && fail "the placeholder stays" ||
  pass "the placeholder goes"
wait_for 10 eval '[[ $(tooltip) == *"1 gateway session open"* ]]' &&
  pass "the tooltip counts one session" || fail "one session: ToolTip: $(tooltip)"

# Its counters follow its requests without any signal: the window lists
# the sessions again every few seconds while it is shown.
[ "$(request one)" = 200 ] || fail "a request through the gateway"
[ "$(request one)" = 200 ] || fail "a second request through the gateway"
wait_dump 10 "^row\tclaude -p ui-test\tPID $one_pid · since \d\d:\d\d · 2 requests · [1-9][\d.]* (bytes|kB) received\t\[End\]" &&
  pass "the counters follow the requests" || { fail "the counters follow the requests"; show_dump; }

# 3. A persistent one, marked so; two are counted.
open_session kept "{'upstream': <'$upstream'>, 'persistent': <true>, 'command': <'kept-for-claude'>}"
kept_id=$id
wait_dump 10 "^row\tkept-for-claude\tpersistent · PID $session_pid · since " &&
  pass "a persistent session is marked so" || { fail "the persistent session's row"; show_dump; }
wait_for 10 eval '[[ $(tooltip) == *"2 gateway sessions open"* ]]' &&
  pass "the tooltip counts two sessions" || fail "two sessions: ToolTip: $(tooltip)"
no_token_in_dump one kept && pass "no session token in the window or the diagnostics" ||
  fail "a session token is shown"
[[ $(tooltip) != *"$(cat "$CK_TEST_ROOT/one.token")"* ]] && pass "no token in the tooltip" ||
  fail "a token in the tooltip"
dump_has '^diagnostics\tgateway sessions: 2$' && pass "the diagnostics count the sessions" ||
  fail "the diagnostics count the sessions"

# 3b. A remote session: titled by its destination, counted apart.
open_session remote "{'upstream': <'$upstream'>, 'remote': <'user@build-host'>, 'command': <'claude'>}"
remote_pid=$session_pid
remote_socket=$(sed -n 's/^socket \([^ ]*\) .*/\1/p' "$CK_TEST_ROOT/remote.out")
wait_dump 10 "^row\tssh user@build-host\tPID $remote_pid · since \d\d:\d\d · 0 requests · 0 bytes received\t\[End\]" &&
  pass "a remote session's row: ssh DESTINATION, PID, since, counters, End" ||
  { fail "the remote session's row"; show_dump; }
wait_for 10 eval '[[ $(tooltip) == *"3 gateway sessions open (1 over SSH)"* ]]' &&
  pass "the tooltip counts the remote session apart" || fail "remote: ToolTip: $(tooltip)"
[ -S "$remote_socket" ] && pass "the remote session has its socket" || fail "no socket: $remote_socket"

id=$(window_id "Claude Keyring")
if [ -n "$id" ]; then
  # Tall enough for the three sessions, below the tray's panel.
  xdotool windowmove "$id" 0 30 windowsize "$id" 620 770
  sleep 0.5
  screenshot status-window-gateway "$id" || true
fi

agent_action_with () {
  gdbus call "${dest[@]}" --method org.gtk.Actions.Activate "$1" "$2" '{}' >/dev/null
}

agent_action_with test-click "[<('ssh user@build-host', 'End')>]"
wait_no_dump 10 '^row\tssh user@build-host\t' && pass "End remote: the row goes" ||
  { fail "End remote: the row goes"; show_dump; }
[ ! -e "$remote_socket" ] && pass "End remote: its socket is gone at once" ||
  fail "End remote: the socket is still there"
wait_for 10 eval '[[ $(tooltip) == *"2 gateway sessions open"* && $(tooltip) != *SSH* ]]' &&
  pass "End remote: the tooltip counts two, none remote" || fail "after End remote: ToolTip: $(tooltip)"

# 4. End: the button closes the session; its token is refused at once.
agent_action_with test-click "[<('claude -p ui-test', 'End')>]"
wait_no_dump 10 '^row\tclaude -p ui-test\t' && pass "End: the row goes" ||
  { fail "End: the row goes"; show_dump; }
[ "$(request one)" = 401 ] && pass "End: the session's token is refused (401)" ||
  fail "End: the token is still accepted"
kill -0 "$one_pid" 2>/dev/null && pass "End: the client itself lives on" || fail "End: the client exited"
[[ $(credentials ListGatewaySessions) != *"$one_id"* ]] && pass "End: the agent lists it no more" ||
  fail "End: ListGatewaySessions still has it"
dump_has "^row\tkept-for-claude\t" && pass "End: the other session stays" || fail "End: the other session"
wait_for 10 eval '[[ $(tooltip) == *"1 gateway session open"* ]]' &&
  pass "End: the tooltip counts one again" || fail "after End: ToolTip: $(tooltip)"

agent_action_with test-click "[<('kept-for-claude', 'End')>]"
wait_dump 10 '^row\tNo program uses the gateway now' && pass "End persistent: the list is empty" ||
  { fail "End persistent: the list is empty"; show_dump; }
[ "$(request kept)" = 401 ] && pass "End persistent: its token is refused (401)" ||
  fail "End persistent: the token is still accepted"
wait_for 10 eval '[[ $(tooltip) != *"gateway session"* ]]' &&
  pass "no session left: the tooltip counts none" || fail "none left: ToolTip: $(tooltip)"
[[ $kept_id != "" && $(credentials ListGatewaySessions) != *"$kept_id"* ]] &&
  pass "End persistent: the agent lists it no more" || fail "End persistent: still listed"

check_agent_log

finish
