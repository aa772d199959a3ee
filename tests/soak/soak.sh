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
#    keyring must then hold one readable login (or two, the older one stale
#    until the next write: see "duplicates" below), and a restarted agent
#    refreshes with it, unless the server had already rotated the token the
#    agent died holding (reported, see the end of the output).
#
#   soak.sh CK_SOAK_CLIENT
#
# Environment: CK_SOAK_SECONDS (load duration, default 40),
# CK_SOAK_CLIENTS (16), CK_SOAK_KILL_ROUNDS (how often the SIGKILL rounds
# run, default 1: more of them to hunt a race).
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
kill_rounds=${CK_SOAK_KILL_ROUNDS:-1}
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

# read_logins: every login item in the keyring into $logins, one line each,
# "ITEM ACCOUNT EXPIRES_AT_MS REFRESH_TOKEN" ("-" for what cannot be read),
# the one the agent uses (latest expiry) first; whatever else secret-tool
# says into $CK_TEST_ROOT/secret-tool.err. secret-tool prints the
# attributes on stderr, hence one stream. The tokens stay in the variable:
# print them only through show_logins.
read_logins () {
  local status
  logins=$(stdbuf -o0 secret-tool search --all kind oauth 2>&1 |
    "$PY" -c '
import json, sys
items, item, in_secret = [], None, False
with open(sys.argv[1], "w") as other:
    for line in sys.stdin.read().splitlines():
        key, _, value = line.partition(" = ")
        if line.startswith("[/") and line.endswith("]"):
            item = {"item": line[1:-1], "secret": None, "account": "-"}
            items.append(item)
            in_secret = False
        elif item is not None and key == "secret":
            item["secret"], in_secret = value, True
        elif item is not None and key in ("label", "created", "modified", "schema"):
            in_secret = False
        elif item is not None and key.startswith("attribute."):
            in_secret = False
            if key == "attribute.account":
                item["account"] = value or "-"
        elif in_secret:
            item["secret"] += "\n" + line
        else:
            print(line, file=other)
rows = []
for item in items:
    try:
        login = json.loads(item["secret"])
        login = login.get("claudeAiOauth", login)
        expires, refresh = int(login.get("expiresAt", 0)), login.get("refreshToken") or "-"
    except Exception:
        expires, refresh = 0, "-"
    rows.append((expires, item["item"], item["account"], refresh))
for expires, name, account, refresh in sorted(rows, reverse=True):
    print(name, account, expires or "-", refresh)
' "$CK_TEST_ROOT/secret-tool.err"; echo "status ${PIPESTATUS[0]}")
  status=${logins##*status }
  logins=${logins%status *}
  logins=${logins%$'\n'}
  [ "$status" -eq 0 ] || echo "(secret-tool search exited $status)" >>"$CK_TEST_ROOT/secret-tool.err"
  login_count=0
  [ -z "$logins" ] || login_count=$(printf '%s\n' "$logins" | wc -l)
  newest_refresh=$(printf '%s\n' "$logins" | awk 'NR == 1 && $4 != "-" { print $4 }')
}

# show_logins: $logins for people, tokens cut to their first 16 characters.
show_logins () {
  [ -n "$logins" ] || { echo "    (no login item)"; return 0; }
  printf '%s\n' "$logins" | awk '{ printf "    %s account %s expires %s refresh %s\n", $1, $2, $3, substr($4, 1, 16) }'
}

# settle_logins: reads the keyring until it holds exactly one readable
# login, for up to 3 s, so that a keyring still busy with the killed
# agent's last request is not taken for a broken one. Sets $reads, and
# $first_logins / $first_count to what the first read saw.
settle_logins () {
  local try
  for try in $(seq 10); do
    read_logins
    if [ "$try" -eq 1 ]; then
      first_logins=$logins
      first_count=$login_count
    fi
    [ "$login_count" -eq 1 ] && [ -n "$newest_refresh" ] && break
    [ "$try" -lt 10 ] && sleep 0.3
  done
  reads=$try
}

# keyring_diagnostics LOG_LINES: the keyring as the killed agent left it,
# for a failure or a note, with the killed agent's last keyring and refresh
# lines (agent.log up to LOG_LINES, before a restarted agent added to it).
keyring_diagnostics () {
  local log_lines=$1
  echo "  keyring: $login_count login item(s) after $reads read(s) over up to 3 s, the first read saw $first_count:"
  show_logins
  if [ -s "$CK_TEST_ROOT/secret-tool.err" ]; then
    echo "  secret-tool said:"
    sed 's/^/    /' "$CK_TEST_ROOT/secret-tool.err"
  fi
  echo "  agent.log, keyring and refresh lines:"
  head -n "$log_lines" "$CK_TEST_ROOT/agent.log" |
    grep -aE 'ck-token-store|[Kk]eyring|[Rr]efresh|saved|[Ll]ogin' | tail -n 8 | sed 's/^/    /' || true
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
    'G_MESSAGES_DEBUG': 'ck-oauth-manager ck-token-store'}" >/dev/null

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
#
# A kill can also leave two logins: when the new tokens name another
# account than the stored item (an imported login is stored as account
# "default" until a refresh reply names the account), the store creates the
# new item before it deletes the old one, and a kill between the two keeps
# both. Nothing is lost: the agent uses the item that expires last, and its
# next write removes the other. Such a round is counted and must show both:
# the restarted agent refreshes with the newer item and leaves one.
declare -A outcomes=()
duplicates=0
#
# Tokens now live an hour, so the agent refreshes only when asked for more
# (min-validity 7200): no background refresh muddles the timing.
kill_during_refresh () {
  local when=$1 rotate=$2 pid before_calls before_ok old new= outcome note= log_lines
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

  settle_logins
  log_lines=$(wc -l <"$CK_TEST_ROOT/agent.log")
  new=$newest_refresh
  if [ "$login_count" -eq 0 ] || [ -z "$new" ]; then
    outcome=corrupt
  else
    [ "$login_count" -eq 1 ] || note="; the keyring held $login_count logins"
    fake_mode '{"rotate": true, "delay_ms": 0}'
    before_ok=$(fake_stat refresh_ok)
    if get_oauth 7200 >/dev/null 2>&1 && [ "$(fake_stat refresh_ok)" -gt "$before_ok" ]; then
      [ "$new" = "$old" ] && outcome=old-valid || outcome=new
    else
      outcome=lost
    fi
  fi
  [ "$reads" -eq 1 ] || note="$note; it settled after $reads reads (first read: $first_count item(s))"
  echo "SIGKILL $when (rotate $rotate): $outcome (stored before: ${old:0:16}, after: ${new:0:16}$note)"
  if [ $outcome = corrupt ] || [ "$login_count" -ne 1 ] || [ "$reads" -ne 1 ]; then
    keyring_diagnostics "$log_lines"
  fi
  if [ $outcome != corrupt ] && [ "$login_count" -gt 1 ]; then
    duplicates=$((duplicates + 1))
    # The newer item holds tokens the server issued and nobody has used.
    [ $outcome != lost ] ||
      fail "SIGKILL $when left $login_count logins and the restarted agent did not refresh with the newest"
    if [ $outcome != lost ]; then
      read_logins
      [ "$login_count" -eq 1 ] ||
        fail "the restarted agent's refresh left $login_count logins in the keyring instead of one"
    fi
  fi
  outcomes[$when-$rotate-$outcome]=$(( ${outcomes[$when-$rotate-$outcome]:-0} + 1 ))
  if [ $outcome = lost ] || [ $outcome = corrupt ]; then
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
for round in $(seq "$kill_rounds"); do
  [ "$kill_rounds" -eq 1 ] || echo "SIGKILL rounds, pass $round of $kill_rounds"
  for when in in-flight answered; do
    kill_during_refresh $when false
  done
  for when in stored in-flight answered; do
    kill_during_refresh $when true
  done
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

if [ $duplicates -gt 0 ]; then
  echo "NOTE: $duplicates SIGKILL(s) left two logins (new item created, old one not yet deleted);"
  echo "      the restarted agent refreshed with the newer one and removed the other."
fi
echo "SIGKILL outcomes:"
for key in "${!outcomes[@]}"; do echo "  $key: ${outcomes[$key]}"; done | sort

[ $failures -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "soak: ok"
