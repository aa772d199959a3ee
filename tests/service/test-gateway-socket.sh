#!/bin/bash
# The gateway on a socket handed over by systemd (claude-keyring-gateway.socket,
# Accept=no), driven by systemd-socket-activate: the first connection starts
# the real agent, which serves that very socket, a persistent session
# (what setup-claude --gateway opens, read from the keyring before the
# first request is answered) reaching the fake upstream. A socket bound
# to all interfaces is refused with one log line, never served.
# SPDX-License-Identifier: GPL-3.0-or-later

. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"
. "$CK_SOURCE_ROOT/tests/support/ck-gateway-request.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 77; }
command -v systemd-socket-activate >/dev/null ||
  { echo "1..0 # SKIP systemd-socket-activate is not installed"; exit 77; }

KEY=test-api-key-gateway-socket-0001
caller=$CK_BUILD_ROOT/tests/support/ck-test-caller

ck_gateway_start_fake_api "$KEY"

ck_call SetApiKey "$KEY" >/dev/null || bail "SetApiKey failed"

# A persistent session, as setup-claude --gateway opens; its caller exits.
hold=$CK_TEST_ROOT/hold
mkfifo "$hold"
exec {hold_fd}<>"$hold"
"$caller" --open-gateway "{'upstream': <'$upstream'>, 'persistent': <true>}" "$CK_TEST_ROOT/kept.token" \
  <"$hold" >"$CK_TEST_ROOT/kept.out" 2>"$CK_TEST_ROOT/kept.err" &
session_pid=$!
for _ in $(seq 300); do
  grep -q '^\(session\|error\) ' "$CK_TEST_ROOT/kept.out" 2>/dev/null && break
  sleep 0.05
done
grep -q '^session ' "$CK_TEST_ROOT/kept.out" || bail "no persistent session: $(head -n 1 "$CK_TEST_ROOT/kept.out")"
kill "$session_pid"; wait "$session_pid" 2>/dev/null
printf 'x-api-key: %s\n' "$(cat "$CK_TEST_ROOT/kept.token")" >"$CK_TEST_ROOT/kept.headers"
ck_agent_stop

free_port () {
  "$PY" -S -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# activate ADDRESS: systemd-socket-activate listens there and starts the
# agent (with this test's environment) on the first connection.
activate () {
  local env=() name
  for name in $(compgen -e); do env+=(-E "$name"); done
  G_MESSAGES_DEBUG=all systemd-socket-activate -l "$1" "${env[@]}" -E G_MESSAGES_DEBUG \
    "$CK_AGENT" --headless --replace >>"$CK_TEST_ROOT/agent.log" 2>&1 &
  activator_pid=$!
  ck_pids+=("$activator_pid")
  for _ in $(seq 100); do
    ss -Htln "sport = :${1##*:}" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  bail "systemd-socket-activate did not listen on $1"
}

port=$(free_port)
activate "127.0.0.1:$port"
check "nothing answers D-Bus before the first connection" eval '! agent_running'
before=$(upstream_requests)
check "the first request starts the agent, which serves it on the socket" \
  eval '[ "$(ck_gateway_request "$CK_TEST_ROOT/kept.headers" "http://127.0.0.1:$port")" = 200 ]'
check "and it reached the fake upstream" eval '[ "$(upstream_requests)" -gt "$before" ]'
check "the agent is the process systemd-socket-activate became" \
  eval '[ "$(ck_agent_pid)" = "$activator_pid" ]'
check "it says it took the socket" grep -q "Gateway listening on port $port (socket from systemd)" "$CK_TEST_ROOT/agent.log"
check "a second request on the same socket" \
  eval '[ "$(ck_gateway_request "$CK_TEST_ROOT/kept.headers" "http://127.0.0.1:$port")" = 200 ]'
ck_agent_stop

port=$(free_port)
activate "0.0.0.0:$port"
before=$(upstream_requests)
status=$(ck_gateway_request "$CK_TEST_ROOT/kept.headers" "http://127.0.0.1:$port")
check "a socket on all interfaces is not served ($status)" eval '[ "$status" != 200 ] && [ "$(upstream_requests)" = "$before" ]'
check "the agent says why, once" eval '[ "$(grep -c "not a listening TCP socket on the loopback" "$CK_TEST_ROOT/agent.log")" = 1 ]'
# The agent systemd started may still be taking its bus name (slow under
# ASan): a call before that would activate a second one.
for _ in $(seq 400); do [ "$(ck_agent_pid)" = "$activator_pid" ] && break; sleep 0.05; done
check "and it runs on (D-Bus answers)" \
  eval '[ "$(ck_agent_pid)" = "$activator_pid" ] && ck_call GetStatus >/dev/null'
ck_agent_stop

ck_done
