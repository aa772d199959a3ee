#!/bin/bash
# Smoke test of the oidc-provider test server (tests/support/oidc) and of
# play-browser.py: a full authorization-code + PKCE login with a throwaway
# client, the JSON token endpoint, refresh-token rotation and reuse
# detection, the profile endpoint, the manual code page, JSON revocation.
#
# Exit 0 if all passed, 1 if anything failed, 77 (skip) if node/npm/python3
# are missing or the npm registry cannot be reached to install the server.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OIDC=$HERE/oidc
PLAY=$HERE/play-browser.py
CLIENT_ID=ck-smoke-client
TTL=1234

skip() { echo "SKIP: $*" >&2; exit 77; }
command -v node >/dev/null || skip "node not found"
command -v python3 >/dev/null || skip "python3 not found"
command -v curl >/dev/null || skip "curl not found"
# Resolve the interpreter once (a pyenv shim costs half a second per call).
PY=$(python3 -c 'import sys; print(sys.executable)') || skip "python3 does not run"

# --- install the server's dependencies when missing --------------------------
if [ ! -d "$OIDC/node_modules/oidc-provider" ]; then
    command -v npm >/dev/null || skip "npm not found"
    (
        # Serialise concurrent installs into the same tree.
        if command -v flock >/dev/null; then flock 9; fi
        if [ ! -d "$OIDC/node_modules/oidc-provider" ]; then
            cd "$OIDC" && npm ci --no-audit --no-fund --loglevel=error >&2
        fi
    ) 9>"${TMPDIR:-/tmp}/claude-keyring-oidc-npm-ci.lock"
    rc=$?
    if [ $rc -ne 0 ]; then
        if ! (cd "$OIDC" && timeout 20 npm ping >/dev/null 2>&1); then
            skip "npm ci failed and the npm registry is unreachable"
        fi
        echo "FAIL: npm ci failed in $OIDC" >&2
        exit 1
    fi
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

PASS=0
FAIL=0
ok()   { PASS=$((PASS + 1)); echo "ok $((PASS + FAIL)) - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "not ok $((PASS + FAIL)) - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

wait_for_file() { # FILE PID
    local i
    for i in $(seq 100); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# json FILE EXPR: print a field of a JSON document (python expression on `d`)
json() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if v is not None else "")' "$1" "$2" 2>/dev/null; }

# A tiny loopback listener: serves one GET /callback, answers 200 if the state
# matches, 400 otherwise, records "code state" in OUT.
LISTENER_PY='
import http.server, os, sys, time, urllib.parse
portfile, out, expected = sys.argv[1:4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        code = q.get("code", [""])[0]
        state = q.get("state", [""])[0]
        good = u.path == "/callback" and code and state == expected
        with open(out, "w") as f:
            f.write(f"{code} {state}\n")
        body = b"<p>Login complete</p>" if good else b"<p>bad callback</p>"
        self.send_response(200 if good else 400)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.done = True
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
srv.done = False
srv.timeout = 1
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
deadline = time.time() + 60
while not srv.done and time.time() < deadline:
    srv.handle_request()
'

# A fake authorize endpoint that 302s straight to redirect_uri.
FAKE_PY='
import http.server, os, sys, urllib.parse
portfile = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        target = q["redirect_uri"][0] + "?" + urllib.parse.urlencode(
            {"code": "fake-code-1", "state": q.get("state", [""])[0]})
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
'

start_listener() { # NAME EXPECTED_STATE -> sets LPORT
    "$PY" -c "$LISTENER_PY" "$WORK/$1.port" "$WORK/$1.out" "$2" &
    PIDS+=($!)
    wait_for_file "$WORK/$1.port" $! || return 1
    LPORT=$(cat "$WORK/$1.port")
}

# --- start the server ---------------------------------------------------------
node "$OIDC/server.mjs" --port-file "$WORK/oidc.port" --client-id "$CLIENT_ID" \
    --access-ttl "$TTL" >"$WORK/oidc.stdout" 2>"$WORK/oidc.log" &
SERVER_PID=$!
PIDS+=($SERVER_PID)
if ! wait_for_file "$WORK/oidc.port" $SERVER_PID; then
    echo "FAIL: the server did not start" >&2
    cat "$WORK/oidc.log" >&2
    exit 1
fi
BASE=http://127.0.0.1:$(cat "$WORK/oidc.port")
ok "server listening at $BASE"

# --- PKCE material --------------------------------------------------------------
read -r VERIFIER CHALLENGE STATE < <("$PY" -c '
import base64, hashlib, secrets
v = secrets.token_urlsafe(48)
c = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
print(v, c, secrets.token_urlsafe(24))')
SCOPES="user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"

authorize_url() { # BASE REDIRECT_URI
    "$PY" -c 'import sys, urllib.parse as u
base, redirect, cid, challenge, state, scope = sys.argv[1:]
print(base + "/oauth/authorize?" + u.urlencode({"code": "true", "client_id": cid,
    "response_type": "code", "redirect_uri": redirect, "scope": scope,
    "code_challenge": challenge, "code_challenge_method": "S256", "state": state}))' \
        "$1" "$2" "$CLIENT_ID" "$CHALLENGE" "$STATE" "$SCOPES"
}

post_json() { # PATH JSON OUTFILE -> prints the HTTP status
    curl -s -o "$3" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$2" "$BASE$1"
}

# --- login through play-browser and a loopback listener ------------------------------
start_listener cb "$STATE" || { fail "loopback listener"; exit 1; }
REDIRECT=http://localhost:$LPORT/callback
check "play-browser completes the login (2xx from the loopback)" \
    "$PY" "$PLAY" "$(authorize_url "$BASE" "$REDIRECT")" 2>"$WORK/play.log"
read -r CODE GOT_STATE <"$WORK/cb.out" 2>/dev/null || true
check "the loopback got a code and the same state" \
    test -n "${CODE:-}" -a "${GOT_STATE:-}" = "$STATE"

# --- code exchange (JSON body, with state as Claude-style clients send it) ------
status=$(post_json /v1/oauth/token "{\"grant_type\":\"authorization_code\",\"code\":\"$CODE\",\"redirect_uri\":\"$REDIRECT\",\"client_id\":\"$CLIENT_ID\",\"code_verifier\":\"$VERIFIER\",\"state\":\"$STATE\"}" "$WORK/tok1.json")
AT1=$(json "$WORK/tok1.json" 'd["access_token"]')
RT1=$(json "$WORK/tok1.json" 'd["refresh_token"]')
check "code exchange answers 200 with access and refresh tokens" \
    test "$status" = 200 -a -n "$AT1" -a -n "$RT1"
check "expires_in follows --access-ttl" \
    test "$(json "$WORK/tok1.json" 'd["expires_in"]')" = "$TTL"
check "scope carries the requested scopes" \
    test "$(json "$WORK/tok1.json" 'd["scope"]')" = "$SCOPES"
check "token reply carries account and organization" \
    test -n "$(json "$WORK/tok1.json" 'd["account"]["uuid"] and d["account"]["email_address"] and d["organization"]["uuid"]')"

# --- profile ------------------------------------------------------------------------
profile() { # TOKEN -> HTTP status, body in $WORK/profile.json
    curl -s -o "$WORK/profile.json" -w '%{http_code}' -H "Authorization: Bearer $1" "$BASE/api/oauth/profile"
}
status=$(profile "$AT1")
check "profile with the access token: 200 and the test account" \
    test "$status" = 200 -a "$(json "$WORK/profile.json" 'd["account"]["email"]')" = oidc-user@example.org
check "profile and token reply agree on the account uuid" \
    test "$(json "$WORK/profile.json" 'd["account"]["uuid"]')" = "$(json "$WORK/tok1.json" 'd["account"]["uuid"]')"
check "profile with a made-up token: 401" test "$(profile not-a-real-token)" = 401

# --- refresh: rotation and reuse detection --------------------------------------------
status=$(post_json /v1/oauth/token "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"$RT1\",\"client_id\":\"$CLIENT_ID\"}" "$WORK/tok2.json")
AT2=$(json "$WORK/tok2.json" 'd["access_token"]')
RT2=$(json "$WORK/tok2.json" 'd["refresh_token"]')
check "refresh answers 200 with new tokens" test "$status" = 200 -a -n "$AT2" -a -n "$RT2"
check "refresh rotates the refresh token" test -n "$RT2" -a "$RT2" != "$RT1" -a "$AT2" != "$AT1"
check "profile with the refreshed access token: 200" test "$(profile "$AT2")" = 200

status=$(post_json /v1/oauth/token "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"$RT1\",\"client_id\":\"$CLIENT_ID\"}" "$WORK/reuse.json")
check "reusing the rotated refresh token: 400 invalid_grant" \
    test "$status" = 400 -a "$(json "$WORK/reuse.json" 'd["error"]')" = invalid_grant
status=$(post_json /v1/oauth/token "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"$RT2\",\"client_id\":\"$CLIENT_ID\"}" "$WORK/after-reuse.json")
check "reuse detection revoked the grant (the new refresh token fails too)" \
    test "$status" = 400 -a "$(json "$WORK/after-reuse.json" 'd["error"]')" = invalid_grant
check "... and its access token (profile 401)" test "$(profile "$AT2")" = 401

# --- manual flow: the code page, then JSON revocation ---------------------------------
MANUAL=$BASE/oauth/code/callback
CS=$("$PY" "$PLAY" --manual "$(authorize_url "$BASE" "$MANUAL")" 2>>"$WORK/play.log")
check "play-browser --manual prints CODE#STATE" test -n "${CS%%#*}" -a "${CS#*#}" = "$STATE"
status=$(post_json /v1/oauth/token "{\"grant_type\":\"authorization_code\",\"code\":\"${CS%%#*}\",\"redirect_uri\":\"$MANUAL\",\"client_id\":\"$CLIENT_ID\",\"code_verifier\":\"$VERIFIER\",\"state\":\"${CS#*#}\"}" "$WORK/tok3.json")
RT3=$(json "$WORK/tok3.json" 'd["refresh_token"]')
check "manual code exchange: 200" test "$status" = 200 -a -n "$RT3"
status=$(post_json /v1/oauth/revoke "{\"token\":\"$RT3\",\"client_id\":\"$CLIENT_ID\"}" "$WORK/revoke.out")
check "revocation with a JSON body: 200" test "$status" = 200
status=$(post_json /v1/oauth/token "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"$RT3\",\"client_id\":\"$CLIENT_ID\"}" "$WORK/after-revoke.json")
check "a revoked refresh token fails (invalid_grant)" \
    test "$status" = 400 -a "$(json "$WORK/after-revoke.json" 'd["error"]')" = invalid_grant

# --- strictness: PKCE verifier checked, no PKCE refused --------------------------------
CS=$("$PY" "$PLAY" --no-callback --print-code "$(authorize_url "$BASE" "$REDIRECT")" 2>>"$WORK/play.log")
status=$(post_json /v1/oauth/token "{\"grant_type\":\"authorization_code\",\"code\":\"${CS%%#*}\",\"redirect_uri\":\"$REDIRECT\",\"client_id\":\"$CLIENT_ID\",\"code_verifier\":\"${VERIFIER}x\"}" "$WORK/bad-verifier.json")
check "a wrong code_verifier: invalid_grant" \
    test "$status" = 400 -a "$(json "$WORK/bad-verifier.json" 'd["error"]')" = invalid_grant
CS=$("$PY" "$PLAY" --no-callback --print-code "$(authorize_url "$BASE" "$REDIRECT")" 2>>"$WORK/play.log")
CODE4=${CS%%#*}
status=$(post_json /v1/oauth/token "{\"grant_type\":\"authorization_code\",\"code\":\"$CODE4\",\"redirect_uri\":\"$REDIRECT\",\"client_id\":\"$CLIENT_ID\",\"code_verifier\":\"$VERIFIER\"}" "$WORK/tok4.json")
AT4=$(json "$WORK/tok4.json" 'd["access_token"]')
check "code exchange without state: 200" test "$status" = 200 -a -n "$AT4"
status=$(post_json /v1/oauth/token "{\"grant_type\":\"authorization_code\",\"code\":\"$CODE4\",\"redirect_uri\":\"$REDIRECT\",\"client_id\":\"$CLIENT_ID\",\"code_verifier\":\"$VERIFIER\"}" "$WORK/reuse-code.json")
check "a code is single-use (invalid_grant)" \
    test "$status" = 400 -a "$(json "$WORK/reuse-code.json" 'd["error"]')" = invalid_grant
check "... and replaying it revokes the tokens it gave (profile 401)" test "$(profile "$AT4")" = 401
NOPKCE=$(authorize_url "$BASE" "$REDIRECT" | sed 's/&code_challenge=[^&]*//; s/&code_challenge_method=S256//')
LOC=$("$PY" "$PLAY" --no-callback "$NOPKCE" 2>>"$WORK/play.log")
check "an authorize request without PKCE is refused" \
    grep -q 'error=invalid_request' <<<"$LOC"

# --- play-browser against a fake server that redirects at once ---------------------------
"$PY" -c "$FAKE_PY" "$WORK/fake.port" &
FAKE_PID=$!
PIDS+=($FAKE_PID)
if wait_for_file "$WORK/fake.port" $FAKE_PID; then
    FAKE=http://127.0.0.1:$(cat "$WORK/fake.port")
    start_listener cb-fake "$STATE"
    check "play-browser against a fake server that 302s straight to the loopback" \
        "$PY" "$PLAY" "$FAKE/authorize?$(authorize_url "" "http://127.0.0.1:$LPORT/callback" | cut -d'?' -f2)" 2>>"$WORK/play.log"
    start_listener cb-fake-bad "not-the-state"
    if "$PY" "$PLAY" --stop-at-host-port-prefix "http://localhost:" \
        "$FAKE/authorize?$(authorize_url "" "http://localhost:$LPORT/callback" | cut -d'?' -f2)" 2>>"$WORK/play.log"; then
        fail "play-browser exits 1 when the loopback answers 4xx"
    else
        ok "play-browser exits 1 when the loopback answers 4xx"
    fi
else
    fail "fake server did not start"
fi

# --- counters and logs ------------------------------------------------------------------
curl -s -o "$WORK/stats.json" "$BASE/test/stats"
check "/test/stats counts one successful refresh and one revocation" \
    test "$(json "$WORK/stats.json" 'd["refreshes"]')" = 1 -a "$(json "$WORK/stats.json" 'd["revocations"]')" = 1
check "/test/stats counts refresh requests" \
    test "$(json "$WORK/stats.json" 'd["token_requests"]["refresh_token"]')" = 4 -a "$(json "$WORK/stats.json" 'd["token_requests"]["authorization_code"]')" = 5
no_secret_in_log() {
    local s
    for s in "$AT1" "$RT1" "$AT2" "$RT2" "$CODE" "$VERIFIER"; do
        [ -n "$s" ] || return 1
        ! grep -qF -e "$s" "$WORK/oidc.log" || return 1
    done
}
check "the server logs no token, code or verifier" no_secret_in_log
check "the server writes nothing on stdout" test ! -s "$WORK/oidc.stdout"

if [ "$FAIL" -ne 0 ]; then
    echo "--- server log" >&2; cat "$WORK/oidc.log" >&2
    echo "--- play-browser log" >&2; cat "$WORK/play.log" >&2
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
