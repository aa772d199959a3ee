# Sourced by the tests that talk to the gateway (tests/service,
# tests/ui).
# SPDX-License-Identifier: GPL-3.0-or-later

# ck_gateway_request HEADERS-FILE URL: one small Messages request through
# the gateway at URL with the session token's header from HEADERS-FILE
# (read by curl, so the token is in no argv); prints the HTTP status.
ck_gateway_request () {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H @"$1" \
    -H 'content-type: application/json' \
    -d '{"model":"claude-fake-1","max_tokens":8,"messages":[{"role":"user","content":"ping"}]}' \
    "$2/v1/messages"
}
