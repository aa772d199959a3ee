# Sourced by the tests that talk to the gateway (tests/service,
# tests/ui).
# SPDX-License-Identifier: GPL-3.0-or-later

# ck_gateway_request HEADERS-FILE URL [SOCKET]: one small Messages request
# through the gateway at URL (over the Unix socket SOCKET when given) with
# the session token's header from HEADERS-FILE (read by curl, so the token
# is in no argv); prints the HTTP status.
ck_gateway_request () {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${3:+--unix-socket "$3"} -H @"$1" \
    -H 'content-type: application/json' \
    -d '{"model":"claude-fake-1","max_tokens":8,"messages":[{"role":"user","content":"ping"}]}' \
    "$2/v1/messages"
}

# ck_gateway_start_fake_api KEY: a fake Messages API on 127.0.0.1 that
# accepts only KEY (needs ck-oauth-env.sh); sets upstream (its URL) and
# api_log, and defines upstream_requests (how many reached it).
ck_gateway_start_fake_api () {
  api_log=$CK_TEST_ROOT/api.log
  "$PY" "$CK_SOURCE_ROOT/tests/support/fake-messages-api.py" --port-file "$CK_TEST_ROOT/api.port" \
    --log "$api_log" --accept "$1" 2>"$CK_TEST_ROOT/api.err" &
  ck_pids+=($!)
  ck_wait_for_port_file "$CK_TEST_ROOT/api.port" $! || bail "the fake API did not start"
  upstream=http://127.0.0.1:$(cat "$CK_TEST_ROOT/api.port")
}
upstream_requests () { grep -c . "$api_log" 2>/dev/null || echo 0; }
