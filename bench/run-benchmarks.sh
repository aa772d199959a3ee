#!/bin/bash
# claude-keyring's benchmarks, each against a baseline measured in this
# run (see issue 8 and ../shared/TESTING.md "Measuring"):
#
#   meson test -C build --benchmark --verbose
#
# runs this script inside tests/support/ck-test-session (private bus,
# unlocked GNOME Keyring, the agent D-Bus-activated from the build tree).
# Every figure is printed with PASS or MISS against its target; timing
# never fails the run, but a broken function does (a client error, an
# expired token handed out, more than one refresh for the herd).
#
#   run-benchmarks.sh CK_BENCH
#
# Knobs (environment): CK_BENCH_CALLS (2000), CK_BENCH_CLIENTS (16),
# CK_BENCH_SECONDS (4), CK_BENCH_RUNS (100), CK_BENCH_HERD (100).
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail

: "${CK_CLI:?}" "${CK_TEST_ROOT:?}" "${CK_SOURCE_ROOT:?}"
bench=${1:?usage: run-benchmarks.sh CK_BENCH}
calls=${CK_BENCH_CALLS:-2000}
clients=${CK_BENCH_CLIENTS:-16}
seconds=${CK_BENCH_SECONDS:-4}
runs=${CK_BENCH_RUNS:-100}
herd=${CK_BENCH_HERD:-100}

here=$(cd "$(dirname "$0")" && pwd)
# The interpreter itself, not a version manager's shim.
PY=$(python3 -c 'import sys; print(sys.executable)')
results=$CK_TEST_ROOT/results
: >"$results"
broken=0
server_pid=

cleanup () {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

die () {
  echo "BENCH ERROR: $*" >&2
  exit 1
}

# Runs ck-bench, shows its output and keeps the RESULT lines.
measure () {
  local output status=0
  output=$("$bench" "$@") || status=$?
  grep -v '^RESULT ' <<<"$output" || true
  grep '^RESULT ' <<<"$output" >>"$results" || true
  echo
  return $status
}

result () {
  awk -v key="$1" '$1 == "RESULT" && $2 == key { print $3; exit }' "$results"
}

agent_pid () {
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.GetConnectionUnixProcessID \
    io.github.claudekeyring.ClaudeKeyring | sed -n 's/^(uint32 \([0-9]*\),)$/\1/p'
}

agent_call () {
  local method=$1
  shift
  gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring \
    --object-path /io/github/claudekeyring/ClaudeKeyring \
    --method "io.github.claudekeyring.Credentials1.$method" "$@"
}

rss_kb () {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

fake_stat () {
  curl -fsS "$base/test/stats" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

random_token () {
  # $1 prefix, then base64url characters up to $2 characters in all.
  local tail
  tail=$(head -c 200 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
  printf '%s%s' "$1" "${tail:0:$(($2 - ${#1}))}"
}

# The fake OAuth server, and the agent pointed at it (before it starts).
"$PY" "$CK_SOURCE_ROOT/tests/support/fake-oauth-server.py" --port-file "$CK_TEST_ROOT/port" \
  --client-id ck-test-client 2>"$CK_TEST_ROOT/oauth-server.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$CK_TEST_ROOT/port" ] && break; sleep 0.05; done
[ -s "$CK_TEST_ROOT/port" ] || die "the fake OAuth server did not start"
base=http://127.0.0.1:$(cat "$CK_TEST_ROOT/port")
# G_MESSAGES_DEBUG: the test wrapper makes the agent log every read; a
# user's agent does not, so neither does the measured one.
gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.UpdateActivationEnvironment \
  "{'CLAUDE_KEYRING_TOKEN_URL': '$base/v1/oauth/token',
    'CLAUDE_KEYRING_REVOKE_URL': '$base/v1/oauth/revoke',
    'CLAUDE_KEYRING_API_BASE_URL': '$base',
    'CLAUDE_KEYRING_AUTHORIZE_URL': '$base/oauth/authorize',
    'CLAUDE_KEYRING_CLIENT_ID': 'ck-test-client',
    'G_MESSAGES_DEBUG': 'ck-bench-quiet'}" >/dev/null

# Credentials of realistic size: an API key and an OAuth login valid until 2100.
api_key=$(random_token sk-ant-api03- 108)
oauth_token=$(random_token sk-ant-oat01- 108)
printf '%s' "$api_key" | "$CK_CLI" set-api-key >/dev/null 2>&1 || die "set-api-key failed"
pid=$(agent_pid)
[ -n "$pid" ] || die "the agent did not start"
rss_start=$(rss_kb "$pid")
agent_call ImportCredentials "'{\"claudeAiOauth\": {\"accessToken\": \"$oauth_token\",
  \"refreshToken\": \"sk-ant-ort01-unused\", \"expiresAt\": 4102444800000,
  \"scopes\": [\"user:inference\", \"user:profile\"], \"subscriptionType\": \"max\"}}'" >/dev/null ||
  die "ImportCredentials failed"

echo "claude-keyring benchmarks: agent pid $pid, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
echo

# 1. GetCredential against Peer.Ping on one connection.
measure latency --count "$calls" --kind api-key || broken=1
measure latency --count "$calls" --kind oauth || broken=1

# 2. Throughput of many clients, against Ping under the same load.
bus_pid=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.GetConnectionUnixProcessID org.freedesktop.DBus 2>/dev/null |
  sed -n 's/^(uint32 \([0-9]*\),)$/\1/p')
for kind in api-key oauth; do
  measure throughput --clients "$clients" --seconds "$seconds" --kind $kind \
    --agent-pid "$pid" --bus-pid "${bus_pid:-0}" || broken=1
done

# 3. The CLI as a whole process, against secret-tool reading an item of
# the same size from the same keyring.
printf '%s' "$api_key" | secret-tool store --label='ck-bench item' ck-bench item ||
  die "secret-tool store failed"
[ "$(secret-tool lookup ck-bench item)" = "$api_key" ] || die "secret-tool lookup does not find the item"
[ "$("$CK_CLI" token)" = "$api_key" ] || die "claude-keyring token does not print the API key"
[ "$("$CK_CLI" helper)" = "$api_key" ] || die "claude-keyring helper does not print the API key"
measure spawn --runs "$runs" "secret-tool lookup ck-bench item" "$CK_CLI token" "$CK_CLI helper" ||
  broken=1

# 4. A herd of fresh clients on an expired token: one refresh for all.
# The agent refreshes an expired login in the background at once, then no
# sooner than 30 s after; so the first expired import takes that turn,
# and the herd meets the second, which only the callers can refresh.
"$PY" "$here/ck-fake-login.py" "$base" --expires-at-ms $(( $(date +%s) * 1000 - 60000 )) \
  >"$CK_TEST_ROOT/expired-1.json" || die "could not log in at the fake server"
agent_call ImportCredentials "'$(cat "$CK_TEST_ROOT/expired-1.json")'" >/dev/null
for _ in $(seq 100); do
  [ "$(fake_stat refresh_ok)" -ge 1 ] && ! agent_call GetStatus | grep -q "'refreshing'" && break
  sleep 0.05
done
[ "$(fake_stat refresh_ok)" -ge 1 ] || die "the agent did not refresh the expired login in the background"
measure herd --single --kind oauth || broken=1

"$PY" "$here/ck-fake-login.py" "$base" --expires-at-ms $(( $(date +%s) * 1000 - 60000 )) \
  >"$CK_TEST_ROOT/expired-2.json" || die "could not log in at the fake server"
agent_call ImportCredentials "'$(cat "$CK_TEST_ROOT/expired-2.json")'" >/dev/null
before=$(fake_stat refresh_calls)
measure herd --clients "$herd" --kind oauth || broken=1
herd_refreshes=$(( $(fake_stat refresh_calls) - before ))
herd_tokens=$(result herd-distinct-tokens)
echo "herd: $herd_refreshes refresh request(s) at the server (target 1), $herd_tokens distinct token(s) handed out"
echo

# 5. Memory after all of that.
rss_end=$(rss_kb "$pid")
fds_end=$(ls "/proc/$pid/fd" | wc -l)

# 6. The same agent with its UI (tray icon, GTK) on a virtual display:
# reported, no target. It replaces the headless one.
ui_rss=
ui_module=${CK_BUILD_ROOT:-}/src/ui
if command -v Xvfb >/dev/null && ls "$ui_module"/*ck-ui* >/dev/null 2>&1; then
  mkfifo "$CK_TEST_ROOT/displayfd"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$CK_TEST_ROOT/displayfd" \
    2>"$CK_TEST_ROOT/xvfb.log" &
  xvfb_pid=$!
  if read -r -t 20 display <"$CK_TEST_ROOT/displayfd"; then
    DISPLAY=:$display CK_UI_MODULE_DIR=$ui_module GSK_RENDERER=cairo NO_AT_BRIDGE=1 \
      G_MESSAGES_DEBUG=ck-bench-quiet "$CK_AGENT" --replace --gapplication-service \
      >"$CK_TEST_ROOT/agent-ui.log" 2>&1 &
    ui_pid=$!
    for _ in $(seq 100); do [ "$(agent_pid)" = "$ui_pid" ] && break; sleep 0.1; done
    if [ "$(agent_pid)" = "$ui_pid" ]; then
      for _ in $(seq 20); do agent_call GetCredential "{}" >/dev/null; done
      agent_call GetStatus >/dev/null
      sleep 3
      ui_rss=$(rss_kb "$ui_pid")
    fi
    kill "$ui_pid" 2>/dev/null || true
    wait "$ui_pid" 2>/dev/null || true
  fi
  kill "$xvfb_pid" 2>/dev/null || true
  wait "$xvfb_pid" 2>/dev/null || true
fi

# Summary
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
pass_if () { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
  ok = (op == "<=") ? v <= t : v >= t; print ok ? "PASS" : "MISS" }'; }
row () { printf '  %-44s %10s   %-10s %s\n' "$@"; }

herd_ratio=$(ratio "$(result herd-wall-ms)" "$(result single-wall-ms)")
echo "Summary (ratios against baselines measured in this run)"
row "figure" "measured" "target" ""
for kind in api-key oauth; do
  v=$(result latency-$kind-ratio-p50); row "GetCredential ($kind) p50 / Ping p50" "${v}x" "<= 1.5x" "$(pass_if "$v" '<=' 1.5)"
  v=$(result latency-$kind-ratio-p99); row "GetCredential ($kind) p99 / Ping p99" "${v}x" "<= 2.5x" "$(pass_if "$v" '<=' 2.5)"
done
for kind in api-key oauth; do
  v=$(result throughput-$kind-ratio); row "throughput $clients clients ($kind) / Ping" "${v}x" ">= 0.7x" "$(pass_if "$v" '>=' 0.7)"
done
v=$(result spawn-1-ratio); row "claude-keyring token / secret-tool lookup" "${v}x" "<= 0.8x" "$(pass_if "$v" '<=' 0.8)"
v=$(result spawn-2-ratio); row "claude-keyring helper / secret-tool lookup" "${v}x" "<= 0.8x" "$(pass_if "$v" '<=' 0.8)"
row "herd: refreshes for $herd expired callers" "$herd_refreshes" "1" "$( [ "$herd_refreshes" -eq 1 ] && echo PASS || echo MISS)"
row "herd wall ($herd procs) / one GetCredential proc" "${herd_ratio}x" "report" ""
row "agent RSS, headless, at start" "$((rss_start / 1024)).$(( (rss_start % 1024) * 10 / 1024 )) MB" "report" ""
row "agent RSS, headless, after the runs" "$((rss_end / 1024)).$(( (rss_end % 1024) * 10 / 1024 )) MB" "<= 15 MB" "$( [ "$rss_end" -le 15360 ] && echo PASS || echo MISS)"
row "agent open fds after the runs" "$fds_end" "report" ""
if [ -n "$ui_rss" ]; then
  row "agent RSS with the UI (Xvfb, tray, GTK)" "$((ui_rss / 1024)).$(( (ui_rss % 1024) * 10 / 1024 )) MB" "report" ""
else
  row "agent RSS with the UI" "n/a" "report" "(no Xvfb or UI module)"
fi

[ "$herd_refreshes" -eq 1 ] || broken=1
[ "$(result herd-failures)" = 0 ] && [ "$(result herd-expired)" = 0 ] || broken=1
[ "$herd_tokens" = 1 ] || broken=1
exit $broken
