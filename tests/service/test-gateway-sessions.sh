#!/bin/bash
# The gateway's sessions over D-Bus, against the real agent and a fake
# upstream (tests/support/fake-messages-api.py) that accepts only the
# stored API key: OpenGatewaySession, ListGatewaySessions (never the
# token), CloseGatewaySession; a token refused (HTTP 401 from the gateway,
# nothing upstream) within 1 s after the process that opened its session
# exits, also when a child keeps that process's bus connection, and after
# a close; a sandboxed caller refused; a persistent session that outlives
# its caller and an agent restart, until it is closed. Remote sessions
# (option "remote", for claude-keyring ssh): each served on a Unix socket
# of its own and nowhere else, the socket gone within 1 s after its
# opener, a persistent one opened again with the same id and token.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"
. "$CK_SOURCE_ROOT/tests/support/ck-sandbox.sh"
. "$CK_SOURCE_ROOT/tests/support/ck-gateway-request.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 77; }

KEY=test-api-key-gateway-0001
FAKE_API=$CK_SUPPORT/fake-messages-api.py
caller=$CK_BUILD_ROOT/tests/support/ck-test-caller
# "Within 1 s"; a sanitizer build is several times slower (docs/HACKING.md).
deadline_ticks=10
[ -n "${CK_TEST_SLOW:-}" ] && deadline_ticks=30

# --- the fake upstream -------------------------------------------------------

ck_gateway_start_fake_api "$KEY"
# Every request upstream carried the stored key, and only it.
upstream_saw_only_the_key () {
  local report
  report=$("$PY" "$FAKE_API" --report "$api_log" --expect "$KEY")
  [ -n "$report" ] && ! grep -vq ' 200 x-api-key=expected authorization=absent ' <<<"$report"
}

ck_call SetApiKey "$KEY" >/dev/null || bail "SetApiKey failed"

# --- sessions ----------------------------------------------------------------

# The callers read this FIFO until it closes: when this test ends.
hold=$CK_TEST_ROOT/hold
mkfifo "$hold"
exec {hold_fd}<>"$hold"

# open_session NAME OPTIONS [--orphan]: ck-test-caller opens a session and
# keeps it; sets session_pid, id, kind, url, persistent (or answer to its
# error line). The token is in $CK_TEST_ROOT/NAME.token, never printed.
open_session () {
  local name=$1 options=$2 _
  shift 2
  rm -f "$CK_TEST_ROOT/$name.out"
  "$caller" --open-gateway "$options" "$CK_TEST_ROOT/$name.token" "$@" \
    <"$hold" >"$CK_TEST_ROOT/$name.out" 2>"$CK_TEST_ROOT/$name.err" &
  session_pid=$!
  ck_pids+=("$session_pid")
  for _ in $(seq 300); do
    grep -q '^\(session\|error\) ' "$CK_TEST_ROOT/$name.out" 2>/dev/null && break
    sleep 0.05
  done
  answer=$(head -n 1 "$CK_TEST_ROOT/$name.out")
  read -r _ id kind url persistent <<<"$answer"
  read -r _ socket remote_port < <(grep '^socket ' "$CK_TEST_ROOT/$name.out"; echo)
  printf 'x-api-key: %s\n' "$(cat "$CK_TEST_ROOT/$name.token" 2>/dev/null)" >"$CK_TEST_ROOT/$name.headers"
}

# request NAME [URL]: one Messages request through the gateway with that
# session's token; prints the HTTP status.
request () { ck_gateway_request "$CK_TEST_ROOT/$1.headers" "${2:-$url}"; }
# request_on NAME SOCKET: the same through a remote session's socket, as
# the remote forward sends it (Host: its port on the remote host).
request_on () { ck_gateway_request "$CK_TEST_ROOT/$1.headers" http://127.0.0.1:40123 "$2"; }

# refused_soon NAME [URL]: the token gets 401 within the deadline, and
# that request never reached upstream.
refused_soon () {
  local _ before
  for _ in $(seq "$deadline_ticks"); do
    before=$(upstream_requests)
    [ "$(request "$@")" = 401 ] && [ "$(upstream_requests)" = "$before" ] && return 0
    sleep 0.1
  done
  return 1
}

list () { ck_call ListGatewaySessions; }
status_json () { "$CK_CLI" status --json 2>/dev/null; }
no_token_in () { ! grep -qF -f "$CK_TEST_ROOT/$1.token" <<<"$2"; }

open_session one "{'upstream': <'$upstream'>, 'command': <'test-one --flag'>}"
check "open: a session of the stored credential's kind on loopback ($kind $url)" \
  eval '[ "$kind" = api-key ] && [[ $url == http://127.0.0.1:* ]] && [ "$persistent" = false ]'
check "open: the token is 43 base64url characters" \
  eval '[[ $(cat "$CK_TEST_ROOT/one.token") =~ ^[A-Za-z0-9_-]{43}$ ]]'
one_pid=$session_pid
one_url=$url
one_id=$id

check "the token is accepted and the stored key goes upstream in its place" \
  eval '[ "$(request one)" = 200 ] && upstream_saw_only_the_key'

# Another user of the machine, even one who has the token, is refused
# before the token is checked (the headers file is readable to them here
# only so that the token is the right one).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  cp "$CK_TEST_ROOT/one.headers" /tmp/ck-other-user-headers.$$ && chmod 644 /tmp/ck-other-user-headers.$$
  before=$(upstream_requests)
  other=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
            bash -c ". '$CK_SOURCE_ROOT/tests/support/ck-gateway-request.sh'; ck_gateway_request /tmp/ck-other-user-headers.$$ '$url'")
  rm -f /tmp/ck-other-user-headers.$$
  check "another user with the right token gets 403, nothing upstream ($other)" \
    eval '[ "$other" = 403 ] && [ "$(upstream_requests)" = "$before" ]'
else
  echo "ok - another user with the right token gets 403 # SKIP needs root and setpriv"
fi

sessions=$(list)
check "ListGatewaySessions names the session, its command and opener" \
  eval '[[ $sessions == *"'"'id'"': <'"'$one_id'"'>"* ]] && [[ $sessions == *"test-one --flag"* ]] &&
        [[ $sessions == *"'"'pid'"': <uint32 $one_pid>"* ]] && [[ $sessions == *"ck-test-caller"* ]]'
check "ListGatewaySessions counts its requests" \
  eval '[[ $sessions == *"'"'requests'"': <uint64 1>"* ]]'
check "ListGatewaySessions never holds the token" no_token_in one "$sessions"

# Each gateway client holds a descriptor in the agent: it uses all that
# the session allows (soft limit raised to the hard one).
limits=$(grep '^Max open files' "/proc/$(ck_agent_pid)/limits")
check "the agent's descriptor limit is raised to the hard one ($limits)" \
  eval '[ "$(echo "$limits" | awk "{print \$4}")" = "$(echo "$limits" | awk "{print \$5}")" ]'

status=$(ck_call GetStatus)
check "GetStatus: gateway-sessions and gateway-url" \
  eval '[[ $status == *"'"'gateway-sessions'"': <uint32 1>"* ]] &&
        [[ $status == *"'"'gateway-url'"': <'"'$one_url'"'>"* ]]'
json=$(status_json)
check "status --json shows the session: command, pid, since, requests, bytes" \
  "$PY" -S -c '
import json, sys, time
s = json.loads(sys.argv[1])["sessions"]
assert len(s) == 1, s
s = s[0]
assert s["command"] == "test-one --flag" and s["pid"] == int(sys.argv[2]), s
assert abs(s["since"] - time.time()) < 120 and s["requests"] == 1 and s["bytes"] > 0, s' "$json" "$one_pid"
check "status --json never holds the token" no_token_in one "$json"
check "the read log records who opened it" \
  grep -q "Credential (gateway) read by pid $one_pid " "$CK_TEST_ROOT/agent.log"

kill "$one_pid"; wait "$one_pid" 2>/dev/null
check "the token is refused within 1 s after the opening process exits" refused_soon one
check "and the session is gone from the list" eval '[[ $(list) != *"$one_id"* ]]'

# A child keeps the connection, the process that opened the session exits:
# the pidfd ends the session, not the bus.
open_session orphan "{'upstream': <'$upstream'>}" --orphan
orphan_parent=$session_pid
orphan_child=$(sed -n 's/^child //p' "$CK_TEST_ROOT/orphan.out")
[ -n "$orphan_child" ] && ck_pids+=("$orphan_child")
wait "$orphan_parent" 2>/dev/null
check "orphan: the connection lives on in the child" kill -0 "${orphan_child:-0}"
check "orphan: the token is refused within 1 s after the opener exits" refused_soon orphan

# CloseGatewaySession.
open_session two "{'upstream': <'$upstream'>, 'kind': <'oauth'>}"
check "open with kind oauth: the client is told oauth" test "$kind" = oauth
check "a second session works" eval '[ "$(request two)" = 200 ]'
ck_call CloseGatewaySession "$id" >/dev/null
check "the token is refused after CloseGatewaySession" refused_soon two
out=$(ck_call CloseGatewaySession "$id" 2>&1)
check "closing an unknown session: InvalidArgument" \
  eval '[[ $out == *io.github.claudekeyring.Error.InvalidArgument* ]]'

# Options that are refused.
open_session bad "{'upstream': <'http://example.com'>}"
check "an upstream over plain http to another host: InvalidArgument" \
  eval '[[ $answer == "error io.github.claudekeyring.Error.InvalidArgument" ]]'
open_session bad "{'kind': <'password'>}"
check "an unknown kind: InvalidArgument" \
  eval '[[ $answer == "error io.github.claudekeyring.Error.InvalidArgument" ]]'

# A sandboxed caller gets no session.
out=$(ck_sandbox flatpak "$caller" --open-gateway '{}' /tmp/token 2>&1 </dev/null)
check "a sandboxed caller is refused with AccessDenied" \
  eval '[ "$out" = "error io.github.claudekeyring.Error.AccessDenied" ]'
out=$(ck_sandbox plain "$caller" --open-gateway '{}' /tmp/token 2>&1 </dev/null)
check "a caller in another root directory is refused with AccessDenied" \
  eval '[ "$out" = "error io.github.claudekeyring.Error.AccessDenied" ]'

# --- persistent sessions -----------------------------------------------------

open_session kept "{'upstream': <'$upstream'>, 'persistent': <true>, 'command': <'kept'>}"
kept_id=$id
check "open persistent: said so" test "$persistent" = true
kill "$session_pid"; wait "$session_pid" 2>/dev/null
sleep 0.5
check "persistent: the token outlives its caller" eval '[ "$(request kept)" = 200 ]'
check "persistent: in the keyring, under the secret schema" \
  eval 'secret-tool search --all xdg:schema '"$CK_SCHEMA"'.Credential kind gateway 2>&1 | grep -q "account = $kept_id"'

ck_call Logout >/dev/null
check "persistent: a logout leaves it" eval '[[ $(list) == *"$kept_id"* ]]'
ck_call SetApiKey "$KEY" >/dev/null

ck_agent_stop
status=$(ck_call GetStatus)
url=$(sed -n "s/.*'gateway-url': <'\([^']*\)'>.*/\1/p" <<<"$status")
check "restart: the gateway listens at start for the stored session" \
  eval '[[ $url == http://127.0.0.1:* ]] && [[ $status == *"'"'gateway-sessions'"': <uint32 1>"* ]]'
sessions=$(list)
check "restart: the session is back, persistent, with its command" \
  eval '[[ $sessions == *"$kept_id"* ]] && [[ $sessions == *"'"'persistent'"': <true>"* ]] && [[ $sessions == *"kept"* ]]'
check "restart: the same token is accepted" eval '[ "$(request kept "$url")" = 200 ]'
check "restart: never the token in the list" no_token_in kept "$sessions"

ck_call CloseGatewaySession "$kept_id" >/dev/null
check "persistent: refused after CloseGatewaySession" refused_soon kept "$url"
check "persistent: its keyring item is gone" \
  eval '! secret-tool search --all xdg:schema '"$CK_SCHEMA"'.Credential kind gateway 2>&1 | grep -q account'
ck_agent_stop
check "persistent: not back after another restart" eval '[[ $(list) != *"$kept_id"* ]]'

# --- remote sessions ---------------------------------------------------------

sockets_dir=$XDG_RUNTIME_DIR/claude-keyring
# gone_soon PATH: the socket is gone within the deadline.
gone_soon () {
  local _
  for _ in $(seq "$deadline_ticks"); do
    [ -e "$1" ] || return 0
    sleep 0.1
  done
  return 1
}
# row_of ID: "REMOTE REMOTE-PORT CONNECTED" of that session's row.
row_of () {
  ck_call ListGatewaySessions | "$PY" -S -c '
import re, sys
rows = sys.stdin.read().split("}, {")
row = [r for r in rows if "'"'"'id'"'"': <'"'"'%s'"'"'>" % sys.argv[1] in r][0]
remote = re.search(r"'"'"'remote'"'"': <'"'"'([^'"'"']*)'"'"'>", row).group(1)
port = re.search(r"'"'"'remote-port'"'"': <uint32 (\d+)>", row).group(1)
connected = re.search(r"'"'"'connected'"'"': <(\w+)>", row).group(1)
print(remote, port, connected)' "$1"
}

open_session loc "{'upstream': <'$upstream'>}"
loc_id=$id loc_url=$url
open_session r1 "{'upstream': <'$upstream'>, 'remote': <'user@build-host'>, 'remote-port': <uint32 40123>, 'command': <'ssh user@build-host'>}"
r1_pid=$session_pid r1_id=$id r1_socket=$socket
check "remote: its socket in \$XDG_RUNTIME_DIR/claude-keyring, the remote port echoed ($remote_port)" \
  eval '[ "$r1_socket" = "$sockets_dir/gateway-$r1_id.sock" ] && [ "$remote_port" = 40123 ]'
check "remote: directory 0700, socket 0600" \
  eval '[ "$(stat -c %a "$sockets_dir")" = 700 ] && [ -S "$r1_socket" ] && [ "$(stat -c %a "$r1_socket")" = 600 ]'
before=$(upstream_requests)
check "remote: its token works through its socket, with the stored key upstream" \
  eval '[ "$(request_on r1 "$r1_socket")" = 200 ] && upstream_saw_only_the_key &&
        [ "$(upstream_requests)" = $((before + 1)) ]'
check "remote: its token on the TCP port gets 401" eval '[ "$(request r1 "$loc_url")" = 401 ]'
check "remote: a local session's token on its socket gets 401" \
  eval '[ "$(request_on loc "$r1_socket")" = 401 ] && [ "$(request loc "$loc_url")" = 200 ]'
open_session r2 "{'upstream': <'$upstream'>, 'remote': <'other@host'>}"
r2_id=$id r2_socket=$socket
check "remote: no session's token on another's socket" \
  eval '[ "$(request_on r1 "$r2_socket")" = 401 ] && [ "$(request_on r2 "$r1_socket")" = 401 ] &&
        [ "$(request_on r2 "$r2_socket")" = 200 ]'
check "ListGatewaySessions: remote, remote-port and connected" \
  eval '[ "$(row_of "$r1_id")" = "user@build-host 40123 true" ] &&
        [ "$(row_of "$r2_id")" = "other@host 0 true" ]'
check "ListGatewaySessions: a local session is connected, with no remote" \
  eval '[ "$(row_of "$loc_id")" = " 0 true" ]'
check "GetStatus counts the remote sessions" \
  eval '[[ $(ck_call GetStatus) == *"'"'gateway-remote-sessions'"': <uint32 2>"* ]]'
check "status shows a remote session as ssh DESTINATION" \
  eval '"$CK_CLI" status | grep -q "^ *ssh user@build-host (pid $r1_pid, .* ago, 1 request, "'

kill "$r1_pid"; wait "$r1_pid" 2>/dev/null
check "remote: the socket is gone within 1 s after its opener exits" gone_soon "$r1_socket"
check "remote: and the session with it" eval '[[ $(list) != *"$r1_id"* ]]'

# Bad options: one line that names the option.
long=$(printf 'h%.0s' $(seq 256))
for bad in "'remote': <''>" "'remote': <'$long'>" "'remote': <'user@host\\tx'>" \
           "'remote': <'user@host\\n'>" "'remote': <'a'>, 'remote-port': <uint32 70000>"; do
  out=$(ck_call OpenGatewaySession "{$bad}" 2>&1)
  check "a bad remote option is refused in one line (${bad:0:30})" \
    eval '[[ $out == *io.github.claudekeyring.Error.InvalidArgument*"The option remote"* ]] &&
          [ "$(wc -l <<<"$out")" = 1 ]'
done

# A persistent remote session: the token lives on, the socket with its
# caller; the next caller with the same remote gets it back.
open_session p1 "{'upstream': <'$upstream'>, 'remote': <'me@tmux-host'>, 'persistent': <true>}"
p1_pid=$session_pid p1_id=$id p1_socket=$socket
check "persist: a socket, no remote port yet" eval '[ -S "$p1_socket" ] && [ "$remote_port" = 0 ]'
check "persist: the token works through it" eval '[ "$(request_on p1 "$p1_socket")" = 200 ]'
kill "$p1_pid"; wait "$p1_pid" 2>/dev/null
check "persist: the socket is gone within 1 s after its opener exits" gone_soon "$p1_socket"
check "persist: the session stays, not connected" \
  eval '[ "$(row_of "$p1_id")" = "me@tmux-host 0 false" ]'
check "persist: status says it is not connected" \
  eval '"$CK_CLI" status | grep -q "^ *ssh me@tmux-host (not connected) (persistent, opened by pid "'
open_session p2 "{'upstream': <'$upstream'>, 'remote': <'me@tmux-host'>, 'persistent': <true>, 'remote-port': <uint32 2222>}"
check "persist: opened again: the same id and token, the new remote port ($remote_port)" \
  eval '[ "$id" = "$p1_id" ] && cmp -s "$CK_TEST_ROOT/p1.token" "$CK_TEST_ROOT/p2.token" &&
        [ "$socket" = "$p1_socket" ] && [ "$remote_port" = 2222 ]'
check "persist: the token works through the new socket" eval '[ "$(request_on p1 "$p1_socket")" = 200 ]'
check "persist: listed with its port, connected" eval '[ "$(row_of "$p1_id")" = "me@tmux-host 2222 true" ]'
open_session p3 "{'upstream': <'$upstream'>, 'remote': <'me@other-host'>, 'persistent': <true>}"
check "persist: another remote gets another session" eval '[ "$id" != "$p1_id" ]'
ck_call CloseGatewaySession "$id" >/dev/null

ck_agent_stop
check "persist: the agent that stopped removed the socket" eval '[ ! -e "$p1_socket" ]'
# What a killed agent leaves: a socket nothing listens on, beside a file
# that is not a socket, which stays.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
  "$XDG_RUNTIME_DIR/claude-keyring/gateway-0123abcd.sock"
: >"$XDG_RUNTIME_DIR/claude-keyring/gateway-not-a-socket.sock"
# GetStatus first: it answers once the keyring (and the session) is read.
url=$(sed -n "s/.*'gateway-url': <'\([^']*\)'>.*/\1/p" <<<"$(ck_call GetStatus)")
check "restart: a socket an earlier agent left is gone, a file that is not a socket stays" \
  eval '[ ! -e "$XDG_RUNTIME_DIR/claude-keyring/gateway-0123abcd.sock" ] &&
        [ -f "$XDG_RUNTIME_DIR/claude-keyring/gateway-not-a-socket.sock" ]'
check "persist: restored after a restart with its remote and port, not connected" \
  eval '[ "$(row_of "$p1_id")" = "me@tmux-host 2222 false" ]'
check "persist: restored, its token is still refused on the TCP port" eval '[ "$(request p1 "$url")" = 401 ]'
open_session p4 "{'upstream': <'$upstream'>, 'remote': <'me@tmux-host'>, 'persistent': <true>}"
check "persist: opened again after the restart: same id and token, port kept, works" \
  eval '[ "$id" = "$p1_id" ] && [ "$remote_port" = 2222 ] &&
        cmp -s "$CK_TEST_ROOT/p1.token" "$CK_TEST_ROOT/p4.token" && [ "$(request_on p1 "$socket")" = 200 ]'
ck_call CloseGatewaySession "$p1_id" >/dev/null
check "persist: closed, its socket goes at once, and its keyring item" \
  eval '[ ! -e "$p1_socket" ] &&
        ! secret-tool search --all xdg:schema '"$CK_SCHEMA"'.Credential kind gateway 2>&1 | grep -q account'

check "no token in the agent's log" \
  eval '! grep -qF -f <(cat "$CK_TEST_ROOT"/{one,orphan,two,kept,loc,r1,r2,p1,p3}.token) "$CK_TEST_ROOT/agent.log"'

ck_done
