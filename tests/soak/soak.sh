#!/bin/bash
# The soak test of issue 8 (suite 'soak', not part of a plain `meson test`):
#
#   meson test -C build --setup soak --suite soak
#
# 1. Load: 16 clients call GetCredential (kind oauth, min-validity 2 s)
#    without pause while the fake OAuth server issues tokens that expire
#    every 5 s and fails every fifth refresh. No caller may get an expired
#    token, the only error allowed is RefreshFailed and every client
#    recovers from it; the agent's RSS and open fds stay flat; the keyring
#    still holds the API key and exactly one login whose refresh token the
#    server honours.
# 2. Faults: the agent is killed with SIGKILL at points of a refresh. The
#    keyring must then hold exactly one readable login, and a restarted
#    agent refreshes with it, unless the server had already rotated the
#    token the agent died holding (reported, see the end of the output).
#
#   soak.sh CK_SOAK_CLIENT
#
# Environment: CK_SOAK_SECONDS (load duration, default 40),
# CK_SOAK_CLIENTS (16).
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail

if [ "${CK_SOAK:-}" != 1 ]; then
  echo "The soak test runs only in its own setup: meson test --setup soak --suite soak"
  exit 77
fi
: "${CK_CLI:?}" "${CK_TEST_ROOT:?}" "${CK_SOURCE_ROOT:?}"
client=${1:?usage: soak.sh CK_SOAK_CLIENT}
seconds=${CK_SOAK_SECONDS:-40}
clients=${CK_SOAK_CLIENTS:-16}
# The interpreter itself, not a version manager's shim: it is run often.
PY=$(python3 -c 'import sys; print(sys.executable)')
server_pid=
failures=0

cleanup () {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

fail () {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

die () {
  echo "FAIL: $*"
  exit 1
}

agent_pid () {
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.GetConnectionUnixProcessID \
    io.github.claudekeyring.ClaudeKeyring 2>/dev/null | sed -n 's/^(uint32 \([0-9]*\),)$/\1/p'
}

agent_call () {
  local method=$1
  shift
  gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring \
    --object-path /io/github/claudekeyring/ClaudeKeyring \
    --method "io.github.claudekeyring.Credentials1.$method" "$@"
}

get_oauth () {
  # get_oauth MIN_VALIDITY: GetCredential for the login, the reply on stdout.
  agent_call GetCredential "{'kind': <'oauth'>, 'min-validity': <uint32 $1>}"
}

fake_mode () {
  curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$base/test/mode" >/dev/null ||
    die "could not set the fake server's mode to $1"
}

# fake_stat NAME: a counter of the fake server (/test/stats), read with
# curl alone so that polling it is quick.
fake_stat () {
  curl -fsS "$base/test/stats" | sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p"
}

# Refresh requests the server has received, counted before its delay_ms
# (refresh_calls counts after it).
refresh_requests () {
  local n
  n=$(fake_stat refresh_token)
  echo "${n:-0}"
}

rss_kb () { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count () { ls "/proc/$1/fd" | wc -l; }

# The stored login's refresh token, from the keyring itself.
stored_refresh_token () {
  secret-tool lookup kind oauth 2>/dev/null |
    "$PY" -c "import json,sys; print(json.load(sys.stdin).get('refreshToken', ''))" 2>/dev/null || true
}

oauth_items () {
  secret-tool search --all kind oauth 2>/dev/null | grep -c '^\[/' || true
}

wait_until_gone () {
  local pid=$1
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.02
  done
  die "process $pid did not go away"
}

wait_for_name_gone () {
  for _ in $(seq 200); do
    [ -z "$(agent_pid)" ] && return 0
    sleep 0.02
  done
  die "the agent's bus name stayed after it was killed"
}

# The fake OAuth server, and the agent pointed at it before it starts.
"$PY" "$CK_SOURCE_ROOT/tests/support/fake-oauth-server.py" --port-file "$CK_TEST_ROOT/port" \
  --client-id ck-test-client --expires-in 5 2>"$CK_TEST_ROOT/oauth-server.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$CK_TEST_ROOT/port" ] && break; sleep 0.05; done
[ -s "$CK_TEST_ROOT/port" ] || die "the fake OAuth server did not start"
base=http://127.0.0.1:$(cat "$CK_TEST_ROOT/port")
gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.UpdateActivationEnvironment \
  "{'CLAUDE_KEYRING_TOKEN_URL': '$base/v1/oauth/token',
    'CLAUDE_KEYRING_REVOKE_URL': '$base/v1/oauth/revoke',
    'CLAUDE_KEYRING_API_BASE_URL': '$base',
    'CLAUDE_KEYRING_AUTHORIZE_URL': '$base/oauth/authorize',
    'CLAUDE_KEYRING_CLIENT_ID': 'ck-test-client',
    'G_MESSAGES_DEBUG': 'ck-oauth-manager'}" >/dev/null

# An API key and a login, as a user would have them.
api_key=sk-ant-api03-soak-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$api_key" | "$CK_CLI" set-api-key >/dev/null 2>&1 || die "set-api-key failed"
"$PY" "$CK_SOURCE_ROOT/bench/ck-fake-login.py" "$base" >"$CK_TEST_ROOT/login.json" ||
  die "could not log in at the fake server"
dbus-send --session --print-reply=literal --dest=io.github.claudekeyring.ClaudeKeyring \
  /io/github/claudekeyring/ClaudeKeyring io.github.claudekeyring.Credentials1.ImportCredentials \
  "string:$(cat "$CK_TEST_ROOT/login.json")" >/dev/null || die "ImportCredentials failed"
get_oauth 2 >/dev/null || die "no token after the import"
pid=$(agent_pid)

# 1. Load
fake_mode '{"refresh": "fail-every-5", "expires_in": 5}'
sleep 1
rss_first=$(rss_kb "$pid")
fds_first=$(fd_count "$pid")
echo "soak: $clients clients for ${seconds}s against agent $pid; tokens live 5 s, every 5th refresh fails"

client_pids=()
for i in $(seq "$clients"); do
  "$client" --seconds "$seconds" --min-validity 2 >"$CK_TEST_ROOT/client-$i.out" 2>&1 &
  client_pids+=($!)
done

: >"$CK_TEST_ROOT/samples"
end=$((SECONDS + seconds))
while [ $SECONDS -lt $end ]; do
  echo "$(rss_kb "$pid") $(fd_count "$pid")" >>"$CK_TEST_ROOT/samples"
  sleep 2
done

client_failures=0
for i in $(seq "$clients"); do
  status=0
  wait "${client_pids[$((i - 1))]}" || status=$?
  [ $status -eq 0 ] || client_failures=$((client_failures + 1))
done
sleep 1
rss_last=$(rss_kb "$pid")
fds_last=$(fd_count "$pid")
[ "$(agent_pid)" = "$pid" ] || fail "the agent did not survive the load (pid $pid, now $(agent_pid))"

cat "$CK_TEST_ROOT"/client-*.out | awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2]; if (kv[1] == "max-ms" && kv[2] > max) max = kv[2] } }
  END { printf "calls: %d ok, %d RefreshFailed, %d other errors, %d expired, %d short-lived; slowest call %d ms\n",
        sum["ok"], sum["refresh-failed"], sum["other"], sum["expired"], sum["short-lived"], max }'
grep -h 'first unexpected' "$CK_TEST_ROOT"/client-*.out | sort | uniq -c | head -n 5 || true
refresh_calls=$(fake_stat refresh_calls)
refresh_ok=$(fake_stat refresh_ok)
reuse=$(fake_stat reuse_detected)
revoked=$(fake_stat revoked_families)
rss_max=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$CK_TEST_ROOT/samples")
echo "refreshes at the server: $refresh_calls ($refresh_ok ok, $((refresh_calls - refresh_ok)) failed), reuse detected $reuse, families revoked $revoked"
echo "agent RSS: first $rss_first kB, max $rss_max kB, last $rss_last kB; open fds: first $fds_first, last $fds_last"

[ "$client_failures" -eq 0 ] || fail "$client_failures of $clients clients saw an expired token, an unexpected error or no recovery"
[ "$refresh_calls" -gt "$refresh_ok" ] || fail "no refresh failed: the fault injection did not happen"
[ "$refresh_ok" -ge 5 ] || fail "only $refresh_ok refreshes succeeded: the tokens did not churn"
[ "$reuse" -eq 0 ] || fail "the server saw a refresh token used twice ($reuse)"
[ "$revoked" -eq 0 ] || fail "the server revoked the login ($revoked)"
# Flat: allow the allocator some slack, not a trend.
[ "$rss_last" -le $((rss_first + rss_first / 4 + 2048)) ] ||
  fail "the agent's RSS grew from $rss_first kB to $rss_last kB"
[ "$fds_last" -le $((fds_first + 2)) ] || fail "the agent's open fds grew from $fds_first to $fds_last"

# Nothing lost from the keyring.
[ "$(secret-tool lookup kind api-key)" = "$api_key" ] || fail "the API key is no longer in the keyring"
[ "$(oauth_items)" -eq 1 ] || fail "the keyring holds $(oauth_items) logins instead of one"
stored=$(stored_refresh_token)
[ -n "$stored" ] || fail "the keyring holds no readable refresh token"

# The stored refresh token is the one the server will honour: a fresh
# agent, reading only the keyring, refreshes with it.
fake_mode '{"refresh": "ok"}'
kill -TERM "$pid"
wait_until_gone "$pid"
wait_for_name_gone
before=$(fake_stat refresh_ok)
if get_oauth 3600 >/dev/null 2>"$CK_TEST_ROOT/err"; then
  [ "$(fake_stat refresh_ok)" -gt "$before" ] || fail "the restarted agent did not refresh"
else
  fail "a restarted agent could not refresh with the stored login: $(cat "$CK_TEST_ROOT/err")"
fi
echo "after the load: the keyring holds the API key and one login; a restarted agent refreshed with it"

# 2. Faults: SIGKILL during a refresh.
#
# Outcomes after the restart: "old-valid" (the server never saw or never
# finished the request), "new" (the agent stored the rotated tokens before
# it died), "lost" (the server rotated the token, the agent died before
# storing the new one: only the server can prevent this, with a grace
# period for the old token), "corrupt" (no readable login: a bug).
declare -A outcomes=()
#
# Tokens now live an hour, so the agent refreshes only when asked for more
# (min-validity 7200): no background refresh muddles the timing.
kill_during_refresh () {
  local when=$1 rotate=$2 pid before_calls before_ok old new=
  fake_mode "{\"refresh\": \"ok\", \"rotate\": $rotate, \"delay_ms\": 1000, \"expires_in\": 3600}"
  get_oauth 2 >/dev/null 2>&1 || true
  pid=$(agent_pid)
  old=$(stored_refresh_token)
  before_calls=$(refresh_requests)
  before_ok=$(fake_stat refresh_ok)
  get_oauth 7200 >/dev/null 2>&1 &
  local caller=$!
  case $when in
    in-flight)
      # The server holds the request (delay_ms): kill the agent meanwhile.
      for _ in $(seq 200); do [ "$(refresh_requests)" -gt "$before_calls" ] && break; sleep 0.01; done
      sleep 0.2 ;;
    answered)
      # The server has issued new tokens: kill as soon as it says so.
      for _ in $(seq 1000); do [ "$(fake_stat refresh_ok)" -gt "$before_ok" ] && break; done ;;
    stored)
      # The rotated tokens are in the keyring.
      for _ in $(seq 400); do new=$(stored_refresh_token); [ -n "$new" ] && [ "$new" != "$old" ] && break; sleep 0.01; done ;;
  esac
  kill -KILL "$pid"
  echo "  killed $pid at $(date +%T.%N): keyring $(stored_refresh_token | cut -c1-16); server had $(refresh_requests) refresh requests (from $before_calls), $(fake_stat refresh_ok) issued (from $before_ok)"
  [ -n "${CK_SOAK_DEBUG:-}" ] && grep -E "Refresh|refresh|saved" "$CK_TEST_ROOT/agent.log" | tail -n 4
  wait "$caller" 2>/dev/null || true
  wait_until_gone "$pid"
  wait_for_name_gone
  sleep 1.1  # let the server finish whatever it was doing

  if [ "$(oauth_items)" -ne 1 ] || [ -z "$(stored_refresh_token)" ]; then
    outcome=corrupt
  else
    fake_mode '{"rotate": true, "delay_ms": 0}'
    before_ok=$(fake_stat refresh_ok)
    new=$(stored_refresh_token)
    if get_oauth 7200 >/dev/null 2>&1 && [ "$(fake_stat refresh_ok)" -gt "$before_ok" ]; then
      [ "$new" = "$old" ] && outcome=old-valid || outcome=new
    else
      outcome=lost
    fi
  fi
  echo "SIGKILL $when (rotate $rotate): $outcome (stored before: ${old:0:16}, after: ${new:0:16})"
  outcomes[$when-$rotate-$outcome]=$(( ${outcomes[$when-$rotate-$outcome]:-0} + 1 ))
  if [ $outcome = lost ]; then
    # Log in again for the next round.
    "$PY" "$CK_SOURCE_ROOT/bench/ck-fake-login.py" "$base" >"$CK_TEST_ROOT/login.json"
    dbus-send --session --print-reply=literal --dest=io.github.claudekeyring.ClaudeKeyring \
      /io/github/claudekeyring/ClaudeKeyring io.github.claudekeyring.Credentials1.ImportCredentials \
      "string:$(cat "$CK_TEST_ROOT/login.json")" >/dev/null
  fi
  [ $outcome != corrupt ] || fail "SIGKILL $when left no readable login in the keyring"
  return 0
}

# The load left tokens that live 5 s: start from one that lives an hour.
fake_mode '{"refresh": "ok", "expires_in": 3600}'
get_oauth 7200 >/dev/null || die "no token before the SIGKILL rounds"
for when in in-flight answered; do
  kill_during_refresh $when false
done
for when in stored in-flight answered; do
  kill_during_refresh $when true
done

# Without rotation the old refresh token stays valid, so nothing may be lost.
for key in "${!outcomes[@]}"; do
  case $key in *-false-lost) fail "a login was lost although the server does not rotate ($key)" ;; esac
done
lost_rotating=0
for key in "${!outcomes[@]}"; do
  case $key in *-true-lost) lost_rotating=$((lost_rotating + outcomes[$key])) ;; esac
done
if [ $lost_rotating -gt 0 ]; then
  echo "NOTE: $lost_rotating login(s) lost to SIGKILL while a rotating server had already spent the"
  echo "      old refresh token (request in flight, or new tokens not yet stored). The agent cannot"
  echo "      close this window alone; the server's reuse detection makes it fatal."
fi

[ $failures -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "soak: ok"
