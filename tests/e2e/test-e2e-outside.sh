#!/bin/bash
# What the real claude sends outside the gateway. claude runs as people
# run it, nonessential traffic on (no CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC,
# DISABLE_TELEMETRY, …), under `claude-keyring run`, with HTTPS_PROXY and
# HTTP_PROXY pointing at tests/support/logging-proxy.py and NO_PROXY
# covering loopback, so the gateway is reached directly and every other
# host claude tries shows up at the proxy (which lets nothing out). The
# fake API logs every path the gateway forwarded to it.
#
# A CONNECT tunnel is TLS: the proxy sees hosts, not headers. So the
# checks are: nothing went through the proxy as plain HTTP with a
# credential, and neither the session token nor the stored credential is
# anywhere in what reached the proxy (the raw request heads). The hosts
# and gateway paths are printed as TAP comments for
# docs/claude-code-behaviour.md ("What claude sends outside the gateway").
# SPDX-License-Identifier: GPL-3.0-or-later
set -uo pipefail
. "$(dirname "$0")/e2e-lib.sh"

PROXY=$CK_SOURCE_ROOT/tests/support/logging-proxy.py
PROXY_LOG=$CK_TEST_ROOT/proxy.log
PROXY_RAW=$CK_TEST_ROOT/proxy.raw

start_proxy () {
  local port_file=$CK_TEST_ROOT/proxy.port
  : >"$PROXY_LOG"; : >"$PROXY_RAW"
  "$PY" "$PROXY" --port-file "$port_file" --log "$PROXY_LOG" --raw "$PROXY_RAW" \
    "${MITM[@]}" >"$CK_TEST_ROOT/proxy.out" 2>&1 &
  PROXY_PID=$!
  PROXY_PORT=$(wait_port_file "$port_file" "$PROXY_PID" "the logging proxy" \
                 "$CK_TEST_ROOT/proxy.out") || exit 1
}

stop_proxy () {
  if [ -n "${PROXY_PID:-}" ]; then
    kill "$PROXY_PID" 2>/dev/null
    wait "$PROXY_PID" 2>/dev/null
    PROXY_PID=
  fi
}

# e2e-lib's environment for claude, with the switches that turn background
# traffic off taken out and the proxy put in.
eval "quiet_$(declare -f claude_env_args)"
claude_env_args () {
  local arg
  quiet_claude_env_args
  local args=()
  for arg in "${CLAUDE_ENV_ARGS[@]}"; do
    case $arg in
      DISABLE_TELEMETRY=*|DISABLE_ERROR_REPORTING=*|DISABLE_AUTOUPDATER=*|CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=*) ;;
      *) args+=("$arg") ;;
    esac
  done
  CLAUDE_ENV_ARGS=(
    -u DISABLE_TELEMETRY -u DISABLE_ERROR_REPORTING -u DISABLE_AUTOUPDATER
    -u CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC -u DISABLE_BUG_COMMAND
    -u DISABLE_COST_WARNINGS -u DISABLE_NON_ESSENTIAL_MODEL_CALLS
    -u CLAUDE_CODE_ENABLE_TELEMETRY -u all_proxy -u ALL_PROXY
    "${args[@]}"
    HTTPS_PROXY="http://127.0.0.1:$PROXY_PORT" https_proxy="http://127.0.0.1:$PROXY_PORT"
    HTTP_PROXY="http://127.0.0.1:$PROXY_PORT" http_proxy="http://127.0.0.1:$PROXY_PORT"
    NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1
  )
  [ ${#MITM[@]} = 0 ] || CLAUDE_ENV_ARGS+=(NODE_EXTRA_CA_CERTS="$CK_TEST_ROOT/ca.pem")
}

# What the proxy saw: "connect HOST:PORT" or "http METHOD HOST:PORT PATH",
# one line per distinct attempt. No header value is in the log.
proxy_hosts () {
  "$PY" - "$PROXY_LOG" <<'PY'
import json, sys
seen = []
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    e = json.loads(line)
    if e["kind"] == "connect":
        what = "connect %s:%d" % (e["host"], e["port"])
    else:
        creds = [h for h in ("authorization", "x-api-key", "proxy-authorization") if e[h]]
        what = "%s %s %s:%d %s (%s)" % (e["kind"], e["method"], e["host"], e["port"],
                                        e["path"], " ".join(creds) or "no credential header")
    if what not in seen:
        seen.append(what)
for what in seen:
    print(what)
PY
}

# Every path the fake API got (through the gateway), with its status, once.
gateway_paths () {
  "$PY" - "$API_LOG" <<'PY'
import json, sys
seen = []
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    e = json.loads(line)
    what = "%s %s %d" % (e["method"], e["path"].split("?")[0], e["status"])
    if what not in seen:
        seen.append(what)
for what in seen:
    print(what)
PY
}

no_plain_http_with_credential () {
  ! grep -q '"kind": "http".*"\(authorization\|x-api-key\|proxy-authorization\)": true' "$PROXY_LOG"
}

not_in_proxy_log () { # not_in_proxy_log SECRET
  [ -n "$1" ] && ! grep -qF -- "$1" "$PROXY_LOG" "$PROXY_RAW"
}

# only_to_anthropic SECRET: every request head at the proxy that holds
# SECRET is one inside a TLS tunnel to api.anthropic.com (never a CONNECT
# or plain-HTTP head, never another host); prints those requests.
only_to_anthropic () {
  "$PY" - "$PROXY_RAW" "$1" <<'PY'
import sys
raw, secret = open(sys.argv[1], "rb").read().decode("utf-8", "replace"), sys.argv[2]
bad = False
for head in raw.replace("\r\n", "\n").split("\n\n"):
    if not secret or secret not in head:
        continue
    lines = head.strip("\n").split("\n")
    method, target = (lines[0].split(" ") + ["", ""])[:2]
    host = next((l.split(":", 1)[1].strip() for l in lines[1:]
                 if l.lower().startswith("host:")), "")
    where = [l.split(":", 1)[0] for l in lines[1:] if secret in l]
    ok = (method != "CONNECT" and target.startswith("/")
          and host == "api.anthropic.com")
    print("#   %s %s %s: in %s" % (method, host, target.split("?")[0],
                                   ", ".join(where) or "the request line"))
    bad |= not ok
sys.exit(1 if bad else 0)
PY
}

# outside RUN-OPTIONS...: one `claude -p ping` through `run`, with the
# proxy and API logs fresh; keeps claude's environment in $environ.
outside () {
  local claude_pid
  : >"$PROXY_LOG"; : >"$PROXY_RAW"
  start_claude "$CK_CLI" run "$@" -- "$CLAUDE" -p ping
  claude_pid=$(pgrep -P "$pid" | head -n 1)
  environ=$(tr '\0' '\n' <"/proc/$claude_pid/environ" 2>/dev/null)
  finish_claude 1800
}

report () { # report WHAT
  echo "# $1: hosts claude tried through the proxy:"
  proxy_hosts | sed 's/^/#   /'
  echo "# $1: paths claude requested on the gateway:"
  gateway_paths | sed 's/^/#   /'
}

e2e_setup
# With a throwaway CA that claude trusts, the proxy ends the TLS of each
# tunnel itself and sees the requests inside; without openssl, hosts only.
MITM=()
if command -v openssl >/dev/null &&
   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
     -keyout "$CK_TEST_ROOT/ca.key" -out "$CK_TEST_ROOT/ca.pem" -days 1 \
     -subj /CN=claude-keyring-test-ca >/dev/null 2>&1; then
  MITM=(--mitm "$CK_TEST_ROOT")
else
  echo "# no openssl: the proxy sees hosts only, not the requests inside TLS"
fi
start_proxy
trap 'stop_api; stop_proxy' EXIT
# The delay keeps claude's first request open while the test reads its
# environment.
start_api --accept "$KEY" --accept "$TOKEN" --delay 1

# --- OAuth, the session token on a pipe ---------------------------------------

import_oauth
outside
check "oauth: answered through the gateway (exit $rc)" eval '[ "$rc" = 0 ] && grep -qx pong "$out"'
check "oauth: the proxy was in claude's environment" grep -q "^HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT$" <<<"$environ"
check "oauth: nonessential traffic on" bash -c '! grep -Eq "^(CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC|DISABLE_TELEMETRY)=" <<<"$1"' _ "$environ"
report oauth
check "oauth: no plain HTTP with a credential through the proxy" no_plain_http_with_credential
check "oauth: the stored token never reached the proxy" not_in_proxy_log "$TOKEN"

# --- OAuth, the session token in claude's environment (run --env) -------------
# Here the test knows the session token, so it can look for it.

outside --env
token=$(sed -n 's/^CLAUDE_CODE_OAUTH_TOKEN=//p' <<<"$environ")
check "oauth --env: answered (exit $rc)" eval '[ "$rc" = 0 ] && grep -qx pong "$out"'
check "oauth --env: claude held a session token" eval '[[ $token =~ ^[A-Za-z0-9_-]{43}$ ]]'
report "oauth --env"
check "oauth --env: no plain HTTP with a credential through the proxy" no_plain_http_with_credential
# Measured with claude 2.1.332: in OAuth mode claude sends the token it
# holds to api.anthropic.com itself (feature flags, bootstrap, event
# logging), whatever ANTHROPIC_BASE_URL says; there it is only the
# gateway's session token, worth nothing away from loopback. See
# docs/claude-code-behaviour.md.
echo "# oauth --env: requests that carried the session token:"
check "oauth --env: the session token went nowhere but to api.anthropic.com, inside TLS" \
  only_to_anthropic "$token"
check "oauth --env: the stored token never reached the proxy" not_in_proxy_log "$TOKEN"
unset token

# --- API key ------------------------------------------------------------------

"$CK_CLI" logout >/dev/null 2>&1
store_api_key
outside --env
token=$(sed -n 's/^ANTHROPIC_API_KEY=//p' <<<"$environ")
check "api key: answered (exit $rc)" eval '[ "$rc" = 0 ] && grep -qx pong "$out"'
check "api key: claude held a session token" eval '[[ $token =~ ^[A-Za-z0-9_-]{43}$ ]]'
report "api key"
check "api key: no plain HTTP with a credential through the proxy" no_plain_http_with_credential
check "api key: the session token never reached the proxy" not_in_proxy_log "$token"
check "api key: the stored key never reached the proxy" not_in_proxy_log "$KEY"
unset token

e2e_exit
