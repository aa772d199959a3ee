# Sourced by the OAuth tests (tests/service/test-oauth-*.sh): starts an
# OAuth server on 127.0.0.1, hands its endpoints to the agent, and offers
# small TAP helpers. Every test already runs inside
# tests/support/ck-test-session (private bus, unlocked keyring, own HOME).
#
#   . "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"
#   ck_oauth_start_fake [--expires-in N]      # or: ck_oauth_start_oidc [--access-ttl N]
#   ck_oauth_export_env                       # before the first call activates the agent
#
# Afterwards $CK_OAUTH_BASE is the server's base URL, ck_oauth_mode sets a
# fault of the fake server, ck_oauth_stat reads one of its counters.
#
# SPDX-License-Identifier: GPL-3.0-or-later

set -uo pipefail

: "${CK_CLI:?CK_CLI must name the claude-keyring binary}"
: "${CK_TEST_ROOT:?run this test through tests/support/ck-test-session}"
: "${CK_SOURCE_ROOT:?CK_SOURCE_ROOT must name the source tree}"

CK_SUPPORT=$CK_SOURCE_ROOT/tests/support
CK_SCHEMA=io.github.claudekeyring.ClaudeKeyring
CK_DEST=(--session --dest io.github.claudekeyring.ClaudeKeyring
         --object-path /io/github/claudekeyring/ClaudeKeyring)
CK_IFACE=io.github.claudekeyring.Credentials1

# The real interpreter once: a pyenv shim costs half a second per call.
PY=$(python3 -c 'import sys; print(sys.executable)') || { echo "Bail out! python3 does not run"; exit 1; }

# --- TAP ---------------------------------------------------------------------

ck_tests=0
ck_failures=0

ok () { ck_tests=$((ck_tests + 1)); echo "ok $ck_tests - $*"; }
not_ok () {
  ck_tests=$((ck_tests + 1))
  ck_failures=$((ck_failures + 1))
  echo "not ok $ck_tests - $1"
  shift
  local line
  for line in "$@"; do printf '#   %s\n' "$line"; done
}
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check () {
  local what=$1
  shift
  # What the command prints is no TAP line: it goes with the log.
  if "$@" >&2; then ok "$what"; else not_ok "$what"; fi
}
# A failure the rest of the test cannot do without.
bail () {
  echo "Bail out! $*"
  ck_dump_logs
  exit 1
}
info () { echo "# $*"; }
# The exit status of the whole test; call it last.
ck_done () {
  echo "1..$ck_tests"
  if [ "$ck_failures" -gt 0 ]; then
    ck_dump_logs
    exit 1
  fi
  exit 0
}
# The server's log (it never holds a token or query string).
ck_dump_logs () {
  local f=$CK_TEST_ROOT/oauth-server.log
  [ -s "$f" ] || return 0
  echo "# --- oauth-server.log (last 15 lines)"
  tail -n 15 "$f" | sed 's/^/#   /'
}

now_ms () { date +%s%3N; }

# --- processes ---------------------------------------------------------------

ck_pids=()
ck_oauth_cleanup () {
  local pid
  for pid in "${ck_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${ck_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap ck_oauth_cleanup EXIT

# wait_for_port_file FILE PID: until FILE holds a port (5 s at most).
ck_wait_for_port_file () {
  local _
  for _ in $(seq 100); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# ck_oauth_start_fake [ARGS...]: the project's fake server (failure injection,
# counters). Sets CK_OAUTH_BASE, CK_OAUTH_SERVER=fake.
ck_oauth_start_fake () {
  local portfile=$CK_TEST_ROOT/oauth-port
  rm -f "$portfile"
  "$PY" "$CK_SUPPORT/fake-oauth-server.py" --port-file "$portfile" \
    --client-id ck-test-client "$@" 2>>"$CK_TEST_ROOT/oauth-server.log" &
  ck_pids+=($!)
  ck_wait_for_port_file "$portfile" $! || bail "the fake OAuth server did not start"
  CK_OAUTH_BASE=http://127.0.0.1:$(cat "$portfile")
  CK_OAUTH_SERVER=fake
  CK_OAUTH_MANUAL_URL=$CK_OAUTH_BASE/oauth/code/callback
}

# ck_oauth_start_oidc [ARGS...]: oidc-provider, the strict real server.
# Installs its modules when missing; exits 77 only when that fails because
# the npm registry cannot be reached.
ck_oauth_start_oidc () {
  local oidc=$CK_SUPPORT/oidc portfile=$CK_TEST_ROOT/oauth-port rc
  command -v node >/dev/null || { echo "1..0 # SKIP node is not installed"; exit 77; }
  if [ ! -d "$oidc/node_modules/oidc-provider" ]; then
    command -v npm >/dev/null || { echo "1..0 # SKIP npm is not installed"; exit 77; }
    (
      # Serialise concurrent installs into the same tree (the smoke test
      # takes the same lock).
      flock 9
      if [ ! -d "$oidc/node_modules/oidc-provider" ]; then
        cd "$oidc" && npm ci --no-audit --no-fund --loglevel=error >&2
      fi
    ) 9>"${TMPDIR:-/tmp}/claude-keyring-oidc-npm-ci.lock"
    rc=$?
    if [ $rc -ne 0 ]; then
      if ! (cd "$oidc" && timeout 20 npm ping >/dev/null 2>&1); then
        echo "1..0 # SKIP npm ci failed and the npm registry is unreachable"
        exit 77
      fi
      bail "npm ci failed in $oidc"
    fi
  fi
  rm -f "$portfile"
  node "$oidc/server.mjs" --port-file "$portfile" --client-id ck-test-client "$@" \
    2>>"$CK_TEST_ROOT/oauth-server.log" &
  ck_pids+=($!)
  ck_wait_for_port_file "$portfile" $! || bail "the oidc-provider server did not start"
  CK_OAUTH_BASE=http://127.0.0.1:$(cat "$portfile")
  CK_OAUTH_SERVER=oidc
  CK_OAUTH_MANUAL_URL=$CK_OAUTH_BASE/oauth/code/callback
}

# ck_agent_pid: the pid of the agent that owns the bus name ("" when none).
ck_agent_pid () {
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.GetConnectionUnixProcessID io.github.claudekeyring.ClaudeKeyring \
    2>/dev/null | sed -n 's/^(uint32 \([0-9]*\),)$/\1/p'
}
# ck_agent_stop: ends the agent; the next call activates a new one.
ck_agent_stop () {
  local pid _
  pid=$(ck_agent_pid)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  for _ in $(seq 100); do agent_running || return 0; sleep 0.05; done
  bail "the agent did not exit"
}
agent_running () {
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner io.github.claudekeyring.ClaudeKeyring \
    2>/dev/null | grep -q true
}

# ck_oauth_export_env: the agent reads endpoint overrides from its own
# environment, which under D-Bus activation is the bus's activation
# environment; so this must run before the first call starts the agent.
ck_oauth_export_env () {
  agent_running && bail "the agent already runs; its endpoints can no longer be set"
  dbus-update-activation-environment \
    CLAUDE_KEYRING_AUTHORIZE_URL="$CK_OAUTH_BASE/oauth/authorize" \
    CLAUDE_KEYRING_CONSOLE_AUTHORIZE_URL="$CK_OAUTH_BASE/oauth/authorize" \
    CLAUDE_KEYRING_TOKEN_URL="$CK_OAUTH_BASE/v1/oauth/token" \
    CLAUDE_KEYRING_REVOKE_URL="$CK_OAUTH_BASE/v1/oauth/revoke" \
    CLAUDE_KEYRING_API_BASE_URL="$CK_OAUTH_BASE" \
    CLAUDE_KEYRING_MANUAL_REDIRECT_URL="$CK_OAUTH_MANUAL_URL" \
    CLAUDE_KEYRING_CLIENT_ID=ck-test-client ||
    bail "dbus-update-activation-environment failed"
}

# ck_set KEY VALUE: a setting of the agent (keyfile backend: it sees it).
ck_set () { gsettings set "$CK_SCHEMA" "$1" "$2" || bail "gsettings set $1 $2 failed"; }

# --- the fake server's control API ------------------------------------------

# ck_oauth_mode JSON: switch a fault on or off.
ck_oauth_mode () {
  curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" \
    "$CK_OAUTH_BASE/test/mode" >/dev/null || bail "could not set the server mode $1"
}

# ck_oauth_stat PYTHON-EXPR: one value of /test/stats, the document as `d`.
ck_oauth_stat () {
  curl -fsS "$CK_OAUTH_BASE/test/stats" |
    "$PY" -S -c 'import json, sys; d = json.load(sys.stdin); v = eval(sys.argv[1]); print("" if v is None else v)' "$1"
}

# --- logging in --------------------------------------------------------------

# ck_login_start NAME [ARGS...]: `login ARGS` in the background, stdin not a
# terminal; sets $login_pid and $login_url (its first stdout line). Output
# in $CK_TEST_ROOT/NAME.{out,err}.
ck_login_start () {
  local name=$1 _
  shift
  # The background job truncates its output only once it runs: an earlier
  # login's output must not be read as this one's URL meanwhile.
  rm -f "$CK_TEST_ROOT/$name.out" "$CK_TEST_ROOT/$name.err"
  "$CK_CLI" login "$@" </dev/null >"$CK_TEST_ROOT/$name.out" 2>"$CK_TEST_ROOT/$name.err" &
  login_pid=$!
  ck_pids+=("$login_pid")
  for _ in $(seq 200); do
    [ -s "$CK_TEST_ROOT/$name.out" ] && break
    kill -0 "$login_pid" 2>/dev/null || break
    sleep 0.02
  done
  login_url=$(head -n 1 "$CK_TEST_ROOT/$name.out")
  case $login_url in
    "$CK_OAUTH_BASE"/oauth/authorize\?*) return 0 ;;
    *) return 1 ;;
  esac
}

# ck_login_wait SECONDS: waits for the background login; sets $login_status
# (124 when it was still running and had to be killed).
ck_login_wait () {
  local _
  for _ in $(seq $(($1 * 20))); do
    kill -0 "$login_pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$login_pid" 2>/dev/null; then
    kill "$login_pid" 2>/dev/null
    wait "$login_pid" 2>/dev/null
    login_status=124
    return
  fi
  login_status=0
  wait "$login_pid" || login_status=$?
}

# ck_login_loopback: a whole browser login (fake or oidc server); bails
# when it does not work, since the tests after it need the login.
ck_login_loopback () {
  ck_login_start login --no-browser || bail "login printed no authorize URL: $(cat "$CK_TEST_ROOT/login.err")"
  "$PY" "$CK_SUPPORT/play-browser.py" "$login_url" 2>"$CK_TEST_ROOT/browser.log" ||
    bail "the browser could not complete the login: $(tr '\n' ' ' <"$CK_TEST_ROOT/browser.log")"
  ck_login_wait 20
  [ "$login_status" -eq 0 ] || bail "login exited $login_status: $(tr '\n' ' ' <"$CK_TEST_ROOT/login.err")"
}

# ck_status_field PYTHON-EXPR: one value of `status --json`, document as `d`.
ck_status_field () {
  "$CK_CLI" status --json 2>/dev/null |
    "$PY" -S -c 'import json, sys; d = json.load(sys.stdin); v = eval(sys.argv[1]); print("" if v is None else v)' "$1"
}

# ck_call METHOD ARGS...: gdbus call on the agent; prints the reply.
ck_call () {
  local method=$1
  shift
  gdbus call "${CK_DEST[@]}" --method "$CK_IFACE.$method" "$@"
}
