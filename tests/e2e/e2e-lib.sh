# e2e-lib.sh: what the end-to-end tests share. Sourced by bash tests that
# run inside tests/support/ck-test-session; they drive the real claude
# (pinned in tests/support/claude) against tests/support/fake-messages-api.py.
#
# After `e2e_setup`:
#   $CLAUDE      the claude executable
#   claude_env   a command prefix: `claude_env $CLAUDE -p ping` runs claude
#                against the fake API with a clean, non-interactive
#                environment
#   $API_LOG     the fake API's request log (never printed: use api_report)
#
# SPDX-License-Identifier: GPL-3.0-or-later

: "${CK_CLI:?run through meson test}"
: "${CK_SOURCE_ROOT:?run through meson test}"
: "${CK_TEST_ROOT:?run through meson test}"

KEY=test-api-key-0001
TOKEN=test-oauth-token-0001
# The system Python starts in a tenth of the time of a version-manager shim.
PY=$(command -v /usr/bin/python3 || command -v python3)
FAKE_API=$CK_SOURCE_ROOT/tests/support/fake-messages-api.py
CLAUDE_PACKAGE_DIR=${CK_CLAUDE_PACKAGE_DIR:-$CK_SOURCE_ROOT/tests/support/claude}
SKIP=77

e2e_failed=0
out=$CK_TEST_ROOT/out
err=$CK_TEST_ROOT/err

check () { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then
    echo "ok - $what"
  else
    echo "not ok - $what"
    e2e_failed=1
    { echo "stdout:"; head -c 2000 "$out"; echo "stderr:"; head -c 2000 "$err"; echo "requests:"; api_report; } 2>/dev/null |
      sed -e "s/$KEY/[key]/g" -e "s/$TOKEN/[token]/g" -e 's/^/#   /'
  fi
}

e2e_exit () {
  # Whatever happened, no credential may show up in what the test printed.
  if grep -q -e "$KEY" -e "$TOKEN" -e test-refresh-token "$out" "$err" 2>/dev/null; then
    echo "not ok - a credential was printed"
    e2e_failed=1
  fi
  exit $e2e_failed
}

# --- the real claude ---

# The claude binary of the package, or nothing. The npm package's
# bin/claude.exe is the native binary once its postinstall ran; without
# that, the platform package holds it.
find_claude () {
  local candidate
  for candidate in "$CLAUDE_PACKAGE_DIR/node_modules/.bin/claude" \
                   "$CLAUDE_PACKAGE_DIR"/node_modules/@anthropic-ai/claude-code-linux-*/claude; do
    if [ -x "$candidate" ] && HOME=$CK_TEST_ROOT timeout 30 "$candidate" --version >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Installs the pinned claude once (`npm ci`), whatever number of tests
# start at the same time: the first takes a lock directory, the others
# wait for it to go. Exits 77 only when the registry cannot be reached.
ensure_claude () {
  local lock=$CLAUDE_PACKAGE_DIR/.npm-install.lock
  local log=$CK_TEST_ROOT/npm.log
  local waited=0

  CLAUDE=$(find_claude) && return 0

  until mkdir "$lock" 2>/dev/null; do
    # A lock whose owner died is stale.
    local owner
    owner=$(cat "$lock/pid" 2>/dev/null)
    if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
      rm -rf "$lock"
      continue
    fi
    if [ $waited -ge 600 ]; then
      echo "Bail out! waited 10 min for another test's npm ci ($lock)"
      exit 1
    fi
    sleep 1; waited=$((waited + 1))
  done
  echo $$ >"$lock/pid"

  if ! CLAUDE=$(find_claude); then
    echo "# installing the pinned claude: npm ci in $CLAUDE_PACKAGE_DIR"
    if ! command -v npm >/dev/null; then
      rm -rf "$lock"
      echo "1..0 # SKIP npm is not installed and $CLAUDE_PACKAGE_DIR/node_modules is missing"
      exit $SKIP
    fi
    # npm ci wants a cache; the test HOME is throwaway.
    if ! (cd "$CLAUDE_PACKAGE_DIR" && npm_config_cache=$CK_TEST_ROOT/npm-cache \
            timeout 900 npm ci --no-audit --no-fund) >"$log" 2>&1; then
      rm -rf "$lock"
      if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network' "$log"; then
        echo "1..0 # SKIP the npm registry cannot be reached and $CLAUDE_PACKAGE_DIR/node_modules is missing"
        exit $SKIP
      fi
      echo "Bail out! npm ci failed:"; tail -n 20 "$log" | sed 's/^/#   /'
      exit 1
    fi
    if ! CLAUDE=$(find_claude); then
      rm -rf "$lock"
      echo "Bail out! npm ci ran, but no working claude binary is in $CLAUDE_PACKAGE_DIR/node_modules"
      exit 1
    fi
  fi
  rm -rf "$lock"
}

# --- the fake Messages API ---

# start_api [--accept CRED]... [--delay S]
start_api () {
  API_LOG=$CK_TEST_ROOT/api.log
  local port_file=$CK_TEST_ROOT/api.port
  : >"$API_LOG"
  rm -f "$port_file"
  "$PY" "$FAKE_API" --port-file "$port_file" --log "$API_LOG" "$@" \
    >"$CK_TEST_ROOT/api.out" 2>&1 &
  API_PID=$!
  API_PORT=$(wait_port_file "$port_file" "$API_PID" "the fake API" "$CK_TEST_ROOT/api.out") || exit 1
}

# wait_port_file FILE PID WHAT OUTPUT: prints the port a test server
# started as PID wrote to FILE, or bails out showing its OUTPUT.
wait_port_file () {
  local _
  for _ in $(seq 200); do
    [ -s "$1" ] && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$1" ]; then
    echo "Bail out! $3 did not start" >&2; cat "$4" >&2
    return 1
  fi
  cat "$1"
}

stop_api () {
  if [ -n "${API_PID:-}" ]; then
    kill "$API_PID" 2>/dev/null
    wait "$API_PID" 2>/dev/null
    API_PID=
  fi
}

# api_report [--expect CRED]...: one line per request, presence and
# equality of the auth headers only.
api_report () {
  "$PY" "$FAKE_API" --report "$API_LOG" --path-prefix /v1/messages "$@"
}

clear_api_log () { : >"$API_LOG"; }

# Every /v1/messages request (at least one) matches the extended regex.
all_requests_match () { # all_requests_match REGEX [--expect CRED]...
  local regex=$1; shift
  local report
  report=$(api_report "$@")
  [ -n "$report" ] && ! grep -Evq -- "$regex" <<<"$report"
}

request_count () { api_report | grep -c . ; }

# --- running claude ---

# The arguments of `env` for claude: everything that could pick another
# credential removed, the fake API as the base URL, no background traffic.
claude_env_args () {
  CLAUDE_ENV_ARGS=(
    -u ANTHROPIC_API_KEY -u ANTHROPIC_AUTH_TOKEN -u CLAUDE_CODE_OAUTH_TOKEN
    -u CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR -u CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR
    -u ANTHROPIC_API_KEY_HELPER -u CLAUDE_CONFIG_DIR
    -u CLAUDE_CODE_USE_BEDROCK -u CLAUDE_CODE_USE_VERTEX
    ANTHROPIC_BASE_URL="http://127.0.0.1:$API_PORT"
    DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1
  )
}

claude_env () {
  claude_env_args
  env "${CLAUDE_ENV_ARGS[@]}" "$@"
}

# run_claude [VAR=VALUE]... -- COMMAND...: under claude_env, bounded,
# stdin from /dev/null; sets rc and elapsed (seconds).
run_claude () {
  local vars=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  local start=$SECONDS
  claude_env "${vars[@]}" timeout "${CLAUDE_TIMEOUT:-60}" "$@" </dev/null >"$out" 2>"$err"
  rc=$?
  elapsed=$((SECONDS - start))
}

# start_claude COMMAND...: COMMAND (claude, or claude-keyring run …) under
# claude_env in the background, stdin from /dev/null; sets $pid and returns
# once claude's first request is open at the fake API (or COMMAND ended),
# so that a test can look at claude meanwhile. finish_claude [TICKS] then
# waits for it (TICKS × 0.05 s at most, then kills it) and sets rc.
start_claude () {
  local _
  clear_api_log
  claude_env_args
  env "${CLAUDE_ENV_ARGS[@]}" "$@" </dev/null >"$out" 2>"$err" &
  pid=$!
  for _ in $(seq 600); do
    [ -s "$API_LOG" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
}

finish_claude () {
  local _
  for _ in $(seq "${1:-600}"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill "$pid" 2>/dev/null
  wait "$pid"; rc=$?
}

store_api_key () { printf '%s' "$KEY" | "$CK_CLI" set-api-key >/dev/null 2>&1; }

# A login file as claude writes it, with a far-future expiry so that no
# refresh is ever attempted, imported into the agent.
import_oauth () {
  mkdir -p "$HOME/.claude"
  printf '{"claudeAiOauth":{"accessToken":"%s","refreshToken":"test-refresh-token-0001","expiresAt":4102444800000,"scopes":["user:inference","user:profile","user:sessions:claude_code"],"subscriptionType":"max"}}\n' \
    "$TOKEN" >"$HOME/.claude/.credentials.json"
  chmod 0600 "$HOME/.claude/.credentials.json"
  "$CK_CLI" import >/dev/null 2>"$CK_TEST_ROOT/import.err"
}

e2e_setup () {
  ensure_claude
  trap stop_api EXIT
  echo "# claude: $CLAUDE ($(HOME=$CK_TEST_ROOT "$CLAUDE" --version 2>/dev/null))"
}
