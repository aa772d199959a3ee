#!/usr/bin/env python3
# Logs in at tests/support/fake-oauth-server.py without a browser or the
# agent (authorize + code grant with PKCE, as a client would) and prints a
# Claude Code .credentials.json for ImportCredentials, so a benchmark or a
# soak test can hand the agent a refresh token the server will honour.
#
#   ck-fake-login.py BASE_URL [--expires-at-ms MS] [--client-id ID]
#
# --expires-at-ms overrides the expiry the server gave (e.g. one in the
# past, for an expired token that still has a valid refresh token).
#
# SPDX-License-Identifier: GPL-3.0-or-later

import argparse
import base64
import hashlib
import http.client
import json
import secrets
import sys
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--expires-at-ms", type=int)
    parser.add_argument("--client-id", default="ck-test-client")
    args = parser.parse_args()

    url = urllib.parse.urlsplit(args.base)
    verifier = b64url(secrets.token_bytes(48))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    state = b64url(secrets.token_bytes(24))
    redirect = "http://localhost:1/callback"
    query = urllib.parse.urlencode({
        "client_id": args.client_id, "response_type": "code",
        "code_challenge": challenge, "code_challenge_method": "S256",
        "state": state, "redirect_uri": redirect,
        "scope": "user:profile user:inference",
    })

    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", "/oauth/authorize?" + query)
    reply = conn.getresponse()
    reply.read()
    location = reply.getheader("Location")
    if reply.status != 302 or not location:
        sys.exit("ck-fake-login: authorize answered %d" % reply.status)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]

    body = json.dumps({
        "grant_type": "authorization_code", "code": code, "state": state,
        "code_verifier": verifier, "client_id": args.client_id,
        "redirect_uri": redirect,
    })
    conn.request("POST", "/v1/oauth/token", body, {"Content-Type": "application/json"})
    reply = conn.getresponse()
    data = reply.read()
    if reply.status != 200:
        sys.exit("ck-fake-login: the code grant answered %d" % reply.status)
    tokens = json.loads(data)

    expires_at = args.expires_at_ms
    if expires_at is None:
        expires_at = int(time.time() * 1000) + tokens["expires_in"] * 1000
    print(json.dumps({"claudeAiOauth": {
        "accessToken": tokens["access_token"],
        "refreshToken": tokens["refresh_token"],
        "expiresAt": expires_at,
        "scopes": tokens["scope"].split(),
        "subscriptionType": "max",
    }}))


if __name__ == "__main__":
    main()
