# e2e-gateway-lib.sh: what the e2e tests of claude through the gateway
# share (sourced): a logged-in agent whose fake OAuth server issues tokens
# that live LIFETIME seconds, a tool that takes SLEEP, and requests_ok.
# SPDX-License-Identifier: GPL-3.0-or-later
# The fake OAuth server and the browser login of the OAuth tests; e2e-lib's
# check (sourced after) reports as the other e2e tests do.
. "$CK_SOURCE_ROOT/tests/support/ck-oauth-env.sh"
. "$(dirname "$0")/e2e-lib.sh"

LIFETIME=4   # seconds an access token lives
SLEEP=9      # seconds claude's tool takes: more than two tokens' lives
ISSUED='fake-(access|refresh)-[0-9]+-[0-9a-f]+'

ck_oauth_start_fake --expires-in "$LIFETIME"
ck_oauth_export_env
ck_set refresh-margin 1
e2e_setup
trap 'stop_api; ck_oauth_cleanup' EXIT
ck_login_loopback

# requests_ok KIND: every /v1/messages request was accepted (the API
# checked its credential then), carried KIND's headers only, and one
# brought the tool's result. With oauth, that one came more than a token's
# life after the first, and more than one access token was used. Prints
# nothing secret.
requests_ok () {
  "$PY" - "$API_LOG" "$1" "$LIFETIME" <<'PY'
import json, sys
log, kind, lifetime = sys.argv[1], sys.argv[2], float(sys.argv[3])
entries = [json.loads(l) for l in open(log) if l.strip()]
entries = [e for e in entries if e["path"].split("?")[0] == "/v1/messages"]
problems = []
if len(entries) < 2:
    problems.append("%d requests" % len(entries))
for e in entries:
    h = e["headers"]
    if e["status"] != 200:
        problems.append("request %d answered %d" % (e["n"], e["status"]))
    if kind == "oauth" and (h["x-api-key"] is not None or not (h["authorization"] or "").startswith("Bearer ")
                            or "oauth-2025-04-20" not in (h["anthropic-beta"] or "")):
        problems.append("request %d: not a bearer token with the OAuth beta" % e["n"])
    if kind == "api-key" and (h["x-api-key"] is None or h["authorization"] is not None):
        problems.append("request %d: not an x-api-key alone" % e["n"])
results = [e for e in entries if e["tool_result"]]
if not results:
    problems.append("no request brought the tool's result")
elif kind == "oauth" and results[-1]["time"] - entries[0]["time"] < lifetime:
    problems.append("the session did not outlive a token")
if kind == "oauth" and len({e["headers"]["authorization"] for e in entries}) < 2:
    problems.append("one access token served the whole session")
for p in problems:
    print("# " + p)
sys.exit(1 if problems else 0)
PY
}

