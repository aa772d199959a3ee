#!/usr/bin/env python3
# A fake Claude OAuth server for tests: authorize (PKCE S256 + state),
# token (JSON bodies, single-use rotating refresh tokens with reuse
# detection), revoke, profile, and control endpoints for fault injection.
#
#   fake-oauth-server.py --port-file PATH [--client-id ID] [--expires-in N]
#
# Listens on 127.0.0.1 on a free port, writes the port to PATH once it
# accepts connections, and runs until killed. Python 3 standard library
# only. Every token it issues is obviously fake ("fake-access-3-…").
#
# Control API (for tests only):
#   GET  /test/stats  -> JSON counters, see Fake.stats()
#   POST /test/mode   {"refresh": "ok"|"500"|"hang"|"malformed"|
#                                 "invalid_grant"|"fail-every-N",
#                      "exchange": same values, for the code grant,
#                      "revoke": "ok"|"404"|"500",
#                      "profile": "ok"|"401"|"500"|"malformed",
#                      "authorize": "ok"|"deny",
#                      "rotate": true|false  (false: refresh replies carry
#                                             no refresh_token, the old
#                                             one stays valid),
#                      "expires_in": N, "delay_ms": N,
#                      "user": "1"|"2"  (whose login the next authorize
#                                        codes are: two users for the
#                                        accounts tests),
#                      "refresh_fail_user": null|"1"|"2"  (that user's
#                                        refreshes answer 500),
#                      "expires_in_reply": null | "omit" | any JSON value
#                                  (what the reply carries as expires_in
#                                   instead of N; the token still lives N s)}
#                     Members left out keep their value; returns the mode.
#   POST /test/reset  forget every code, token and counter; mode back to ok
#
# SPDX-License-Identifier: GPL-3.0-or-later

import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

ACCOUNT = {
    "uuid": "4a3b2c1d-0000-4000-8000-00000000fa7e",
    "email": "tester@example.com",
    "display_name": "Test User",
}
ORGANIZATION = {
    "uuid": "0f0e0d0c-0000-4000-8000-00000000fa7e",
    "name": "Fake Org",
    "organization_type": "claude_max",
    "rate_limit_tier": "default_claude_max_20x",
}
# The second user, for tests with two accounts.
USERS = {
    "1": (ACCOUNT, ORGANIZATION),
    "2": ({"uuid": "4a3b2c1d-0000-4000-8000-0000000000b2", "email": "second@example.org",
           "display_name": "Second User"},
          {"uuid": "0f0e0d0c-0000-4000-8000-0000000000b2", "name": "Second Org",
           "organization_type": "claude_team", "rate_limit_tier": "default_claude_max_5x"}),
}
SCOPES = "user:profile user:inference user:sessions:claude_code"
CODE_LIFETIME = 600
VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
FAULTS = ("ok", "500", "hang", "malformed", "invalid_grant")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Fake:
    """All server state, behind one lock."""

    def __init__(self, client_id, expires_in):
        self.lock = threading.Lock()
        self.client_id = client_id
        self.default_expires_in = expires_in
        self.stop = threading.Event()
        self.reset()

    def reset(self):
        self.counter = 0
        self.codes = {}       # code -> dict(client_id, redirect_uri, challenge, state, used, family)
        self.refresh = {}     # refresh token -> dict(family, used)
        self.access = {}      # access token -> dict(family, expires)
        self.revoked_families = set()
        self.mode = {
            "refresh": "ok", "exchange": "ok", "revoke": "ok",
            "profile": "ok", "authorize": "ok", "rotate": True,
            "expires_in": self.default_expires_in, "delay_ms": 0,
            "expires_in_reply": None, "user": "1", "refresh_fail_user": None,
        }
        self.family_user = {}  # family -> "1" or "2"
        self.counts = {
            "authorize": 0,
            "token_requests": {},
            "refresh_calls": 0,
            "refresh_ok": 0,
            "exchange_ok": 0,
            "reuse_detected": 0,
            "revokes": 0,
            "profile_calls": 0,
            "refresh_calls_by_user": {},
        }
        self.last_headers = {}
        self.last_token_request = None

    def new_token(self, kind):
        self.counter += 1
        return "fake-%s-%d-%s" % (kind, self.counter, secrets.token_hex(8))

    def issue(self, family):
        access = self.new_token("access")
        refresh = self.new_token("refresh")
        expires_in = int(self.mode["expires_in"])
        account, organization = USERS[self.family_user.get(family, "1")]
        self.access[access] = {"family": family, "expires": time.time() + expires_in}
        self.refresh[refresh] = {"family": family, "used": False}
        reply = {
            "token_type": "Bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": expires_in,
            "scope": SCOPES,
            "account": {"uuid": account["uuid"], "email_address": account["email"]},
            "organization": {"uuid": organization["uuid"], "name": organization["name"]},
        }
        if self.mode["expires_in_reply"] == "omit":
            del reply["expires_in"]
        elif self.mode["expires_in_reply"] is not None:
            reply["expires_in"] = self.mode["expires_in_reply"]
        return reply

    def revoke_family(self, family):
        self.revoked_families.add(family)

    def access_valid(self, token):
        info = self.access.get(token)
        return (info is not None and info["family"] not in self.revoked_families
                and info["expires"] > time.time())

    def stats(self):
        return {
            "token_requests": dict(self.counts["token_requests"]),
            "refresh_calls": self.counts["refresh_calls"],
            "refresh_ok": self.counts["refresh_ok"],
            "exchange_ok": self.counts["exchange_ok"],
            "reuse_detected": self.counts["reuse_detected"],
            "revokes": self.counts["revokes"],
            "revoked_families": len(self.revoked_families),
            "profile_calls": self.counts["profile_calls"],
            "refresh_calls_by_user": dict(self.counts["refresh_calls_by_user"]),
            "authorize": self.counts["authorize"],
            "last_request_headers": dict(self.last_headers),
            "last_token_request": self.last_token_request,
            "mode": dict(self.mode),
        }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-oauth-server/1"

    @property
    def fake(self):
        return self.server.fake

    def log_message(self, fmt, *args):
        # Only the method and path: a query may hold a code.
        if os.environ.get("FAKE_OAUTH_VERBOSE"):
            sys.stderr.write("fake-oauth-server: %s %s\n" % (self.command, self.path.split("?")[0]))

    # Replies

    def reply(self, status, body=b"", content_type="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def oauth_error(self, status, error, description=None):
        body = {"error": error}
        if description:
            body["error_description"] = description
        self.reply(status, body)

    def hang(self):
        # Never answer; the client has to give up. Returns when the server
        # stops or after a minute, whichever is first.
        self.fake.stop.wait(60)
        self.close_connection = True

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def record_headers(self):
        # The control endpoints are not part of what a test looks at.
        if self.path.startswith("/test/"):
            return
        with self.fake.lock:
            self.fake.last_headers = {
                k: v for k, v in self.headers.items()
                if k.lower() not in ("authorization", "cookie")
            }

    def read_json(self):
        """The JSON object of the request, or None after replying."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        body = self.read_body()
        if content_type != "application/json":
            self.oauth_error(415, "invalid_request", "the body must be application/json")
            return None
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.oauth_error(400, "invalid_request", "the body is not JSON")
            return None
        if not isinstance(data, dict):
            self.oauth_error(400, "invalid_request", "the body is not a JSON object")
            return None
        return data

    # Dispatch

    def do_GET(self):
        self.record_headers()
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/oauth/authorize":
            self.authorize(url.query)
        elif url.path == "/api/oauth/profile":
            self.profile()
        elif url.path == "/test/stats":
            with self.fake.lock:
                self.reply(200, self.fake.stats())
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self):
        self.record_headers()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/v1/oauth/token":
            self.token()
        elif path == "/v1/oauth/revoke":
            self.revoke()
        elif path == "/test/mode":
            self.set_mode()
        elif path == "/test/reset":
            self.read_body()
            with self.fake.lock:
                self.fake.reset()
            self.reply(200, {})
        else:
            self.read_body()
            self.reply(404, {"error": "not_found"})

    # Endpoints

    def authorize(self, query):
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        single = {k: v[0] for k, v in params.items() if len(v) == 1}
        problems = []
        if any(len(v) != 1 for v in params.values()):
            problems.append("repeated parameter")
        if single.get("client_id") != self.fake.client_id:
            problems.append("unknown client_id")
        if single.get("response_type") != "code":
            problems.append("response_type must be code")
        if single.get("code_challenge_method") != "S256":
            problems.append("code_challenge_method must be S256")
        if not re.match(r"^[A-Za-z0-9_-]{43}$", single.get("code_challenge", "")):
            problems.append("code_challenge missing or malformed")
        if len(single.get("state", "")) < 16:
            problems.append("state missing or shorter than 16 characters")
        redirect = urllib.parse.urlsplit(single.get("redirect_uri", ""))
        if redirect.scheme != "http" or redirect.hostname not in ("localhost", "127.0.0.1", "::1"):
            problems.append("redirect_uri must be a loopback http URI")
        if problems:
            # Like a real server: never redirect to an unchecked URI.
            self.reply(400, "Bad authorization request: %s\n" % "; ".join(problems),
                       content_type="text/plain; charset=utf-8")
            return

        with self.fake.lock:
            self.fake.counts["authorize"] += 1
            deny = self.fake.mode["authorize"] == "deny"
            code = None
            if not deny:
                code = self.fake.new_token("code")
                self.fake.codes[code] = {
                    "client_id": single["client_id"],
                    "redirect_uri": single["redirect_uri"],
                    "challenge": single["code_challenge"],
                    "state": single["state"],
                    "scope": single.get("scope", ""),
                    "issued": time.time(),
                    "used": False,
                    "family": None,
                    "user": self.fake.mode["user"],
                }

        if deny:
            answer = {"error": "access_denied", "state": single["state"]}
        else:
            answer = {"code": code, "state": single["state"]}
        separator = "&" if redirect.query else "?"
        location = single["redirect_uri"] + separator + urllib.parse.urlencode(answer)
        self.reply(302, "", content_type="text/plain", headers={"Location": location})

    def token(self):
        data = self.read_json()
        if data is None:
            return
        grant = data.get("grant_type")
        with self.fake.lock:
            counts = self.fake.counts["token_requests"]
            counts[str(grant)] = counts.get(str(grant), 0) + 1
            self.fake.last_token_request = {
                "grant_type": grant,
                "keys": sorted(data.keys()),
                "client_id": data.get("client_id"),
                "redirect_uri": data.get("redirect_uri"),
            }
            delay = self.fake.mode["delay_ms"] / 1000.0
        if delay > 0:
            time.sleep(delay)

        if grant == "authorization_code":
            self.code_grant(data)
        elif grant == "refresh_token":
            self.refresh_grant(data)
        else:
            self.oauth_error(400, "unsupported_grant_type")

    def fault(self, kind, echo):
        """Applies the configured fault for @kind; True if it answered."""
        with self.fake.lock:
            mode = self.fake.mode[kind]
            if kind == "refresh":
                calls = self.fake.counts["refresh_calls"]
            else:
                calls = self.fake.counts["token_requests"].get("authorization_code", 0)
        m = re.match(r"^fail-every-(\d+)$", mode)
        if m:
            mode = "500" if int(m.group(1)) > 0 and calls % int(m.group(1)) == 0 else "ok"
        if mode == "ok":
            return False
        if mode == "500":
            # Echo the secret the client sent: a client that puts bodies
            # into its error messages is caught by the tests.
            self.reply(500, {"error": "server_error", "echo": echo})
        elif mode == "hang":
            self.hang()
        elif mode == "malformed":
            fake_leak = "fake-access-leak-%s" % secrets.token_hex(8)
            self.reply(200, '{"access_token": "%s", "echo": "%s", ' % (fake_leak, echo))
        elif mode == "invalid_grant":
            self.oauth_error(400, "invalid_grant", "refused by test mode; echo %s" % echo)
        return True

    def code_grant(self, data):
        if self.fault("exchange", data.get("code", "")):
            return
        code = data.get("code")
        verifier = data.get("code_verifier")
        with self.fake.lock:
            info = self.fake.codes.get(code) if isinstance(code, str) else None
            if data.get("client_id") != self.fake.client_id:
                self.oauth_error(401, "invalid_client")
                return
            if info is None:
                self.oauth_error(400, "invalid_grant", "unknown code")
                return
            if info["used"]:
                # A code redeemed twice: revoke what it gave (RFC 6749 §4.1.2).
                if info["family"] is not None:
                    self.fake.revoke_family(info["family"])
                self.oauth_error(400, "invalid_grant", "code already used")
                return
            info["used"] = True
            if time.time() - info["issued"] > CODE_LIFETIME:
                self.oauth_error(400, "invalid_grant", "code expired")
                return
            if data.get("redirect_uri") != info["redirect_uri"]:
                self.oauth_error(400, "invalid_grant", "redirect_uri differs")
                return
            if "state" in data and data.get("state") != info["state"]:
                self.oauth_error(400, "invalid_grant", "state differs")
                return
            if not isinstance(verifier, str) or not VERIFIER_RE.match(verifier):
                self.oauth_error(400, "invalid_grant", "code_verifier malformed")
                return
            if b64url(hashlib.sha256(verifier.encode("ascii")).digest()) != info["challenge"]:
                self.oauth_error(400, "invalid_grant", "code_verifier does not match")
                return
            family = self.fake.new_token("family")
            info["family"] = family
            self.fake.family_user[family] = info["user"]
            self.fake.counts["exchange_ok"] += 1
            body = self.fake.issue(family)
        self.reply(200, body)

    def refresh_grant(self, data):
        token = data.get("refresh_token")
        with self.fake.lock:
            self.fake.counts["refresh_calls"] += 1
            info = self.fake.refresh.get(token) if isinstance(token, str) else None
            user = self.fake.family_user.get(info["family"], "1") if info else None
            if user is not None:
                by_user = self.fake.counts["refresh_calls_by_user"]
                by_user[user] = by_user.get(user, 0) + 1
            failing = user is not None and user == self.fake.mode["refresh_fail_user"]
        if failing:
            self.reply(500, {"error": "server_error"})
            return
        if self.fault("refresh", token if isinstance(token, str) else ""):
            return
        with self.fake.lock:
            if data.get("client_id") != self.fake.client_id:
                self.oauth_error(401, "invalid_client")
                return
            info = self.fake.refresh.get(token) if isinstance(token, str) else None
            if info is None:
                self.oauth_error(400, "invalid_grant", "unknown refresh token")
                return
            if info["used"]:
                # Reuse means the token leaked: end the whole login.
                self.fake.counts["reuse_detected"] += 1
                self.fake.revoke_family(info["family"])
                self.oauth_error(400, "invalid_grant", "refresh token reused")
                return
            if info["family"] in self.fake.revoked_families:
                self.oauth_error(400, "invalid_grant", "login revoked")
                return
            self.fake.counts["refresh_ok"] += 1
            body = self.fake.issue(info["family"])
            if self.fake.mode["rotate"]:
                info["used"] = True
            else:
                del self.fake.refresh[body.pop("refresh_token")]
        self.reply(200, body)

    def revoke(self):
        data = self.read_json()
        if data is None:
            return
        with self.fake.lock:
            self.fake.counts["revokes"] += 1
            mode = self.fake.mode["revoke"]
        if mode == "404":
            self.reply(404, {"error": "not_found"})
            return
        if mode == "500":
            self.reply(500, {"error": "server_error", "echo": data.get("token")})
            return
        if data.get("client_id") != self.fake.client_id:
            self.oauth_error(401, "invalid_client")
            return
        token = data.get("token")
        with self.fake.lock:
            info = self.fake.access.get(token) or self.fake.refresh.get(token)
            if info is not None:
                self.fake.revoke_family(info["family"])
        # RFC 7009 §2.2: 200 even for tokens the server does not know.
        self.reply(200, {})

    def profile(self):
        with self.fake.lock:
            self.fake.counts["profile_calls"] += 1
            mode = self.fake.mode["profile"]
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if mode == "500":
            self.reply(500, {"error": {"type": "api_error", "echo": token}})
            return
        with self.fake.lock:
            valid = token is not None and self.fake.access_valid(token)
        if mode == "401" or not valid:
            self.reply(401, {"type": "error",
                             "error": {"type": "authentication_error",
                                       "message": "invalid bearer token %s" % token}})
            return
        if mode == "malformed":
            self.reply(200, "<html>%s</html>" % token, content_type="text/html")
            return
        with self.fake.lock:
            family = self.fake.access[token]["family"]
            account, organization = USERS[self.fake.family_user.get(family, "1")]
        self.reply(200, {"account": dict(account), "organization": dict(organization)})

    def set_mode(self):
        data = self.read_json()
        if data is None:
            return
        problems = []
        for key in ("refresh", "exchange"):
            if key in data and not (data[key] in FAULTS or re.match(r"^fail-every-\d+$", str(data[key]))):
                problems.append(key)
        for key, allowed in (("revoke", ("ok", "404", "500")),
                             ("profile", ("ok", "401", "500", "malformed")),
                             ("authorize", ("ok", "deny")),
                             ("user", ("1", "2")),
                             ("refresh_fail_user", (None, "1", "2"))):
            if key in data and data[key] not in allowed:
                problems.append(key)
        if "rotate" in data and not isinstance(data["rotate"], bool):
            problems.append("rotate")
        for key in ("expires_in", "delay_ms"):
            if key in data and (not isinstance(data[key], int) or data[key] < 0):
                problems.append(key)
        unknown = set(data) - set(self.fake.mode)
        if problems or unknown:
            self.reply(400, {"error": "invalid_request",
                             "bad": sorted(problems + list(unknown))})
            return
        with self.fake.lock:
            self.fake.mode.update(data)
            mode = dict(self.fake.mode)
        self.reply(200, mode)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--client-id", default="ck-test-client")
    parser.add_argument("--expires-in", type=int, default=3600)
    args = parser.parse_args()

    server = Server(("127.0.0.1", 0), Handler)
    server.fake = Fake(args.client_id, args.expires_in)

    # Written atomically, so a reader never sees half a number.
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)

    # Never outlive the test that started us, even when it crashes.
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()

    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.fake.stop.set()
        server.server_close()


if __name__ == "__main__":
    main()
