#!/bin/bash
# claude-keyring setup-claude: sets or removes apiKeyHelper and nothing
# else, refuses when only an OAuth login is stored, never touches a file it
# cannot parse.
set -uo pipefail

: "${CK_CLI:?run through meson test}"
# The system Python starts in a tenth of the time of a version-manager shim.
PY=$(command -v /usr/bin/python3 || command -v python3)
fail=0
check () { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok - $what"; else echo "not ok - $what"; sed 's/^/#   /' "$err"; fail=1; fi
}
lines () { [ -s "$1" ] && wc -l <"$1" || echo 0; }

out=$CK_TEST_ROOT/out err=$CK_TEST_ROOT/err
settings=$HOME/.claude/settings.json
cli_path=$(readlink -f "$CK_CLI")
json_get () { # json_get FILE KEY: prints the top-level value (or <absent>)
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], "<absent>"))' "$@"
}
setup () { "$CK_CLI" setup-claude "$@" >"$out" 2>"$err"; rc=$?; }

printf '%s' test-api-key-0001 | "$CK_CLI" set-api-key >/dev/null 2>&1

# No settings file yet: created 0600 in a 0700 folder.
setup
check "new file: exit 0" test "$rc" = 0
check "new file: nothing on stdout" test ! -s "$out"
check "new file: one line on stderr" test "$(lines "$err")" = 1
check "new file: helper set to this binary" test "$(json_get "$settings" apiKeyHelper)" = "$cli_path helper"
check "new file: mode 0600" test "$(stat -c %a "$settings")" = 600
check "new file: folder 0700" test "$(stat -c %a "$HOME/.claude")" = 700

# Other keys, their order and the formatting stay.
cat >"$settings" <<'JSON'
{
  "model": "opus",
  "permissions": { "allow": ["Bash(ls:*)"], "deny": [] },
  "env": { "GREETING": "h\u00e9llo", "NAME": "Zoë" },
  "apiKeyHelper": "op read op://vault/anthropic/key"
}
JSON
chmod 0640 "$settings"
setup
check "replace: exit 0" test "$rc" = 0
check "replace: says what it replaced, by program name only" grep -q "'op'" "$err"
check "replace: never prints the old command" bash -c "! grep -q 'op://' '$err'"
expected=$(printf '{\n  "model": "opus",\n  "permissions": { "allow": ["Bash(ls:*)"], "deny": [] },\n  "env": { "GREETING": "h\\u00e9llo", "NAME": "Zoë" },\n  "apiKeyHelper": "%s helper"\n}' "$cli_path")
check "replace: only the value changed" test "$(cat "$settings")" = "$expected"
check "replace: mode 0640 kept" test "$(stat -c %a "$settings")" = 640

setup
check "again: exit 0" test "$rc" = 0
check "again: nothing changed" grep -q "nothing changed" "$err"

setup --remove
check "remove: exit 0" test "$rc" = 0
check "remove: says what it removed" grep -q "claude-keyring helper" "$err"
check "remove: key gone" test "$(json_get "$settings" apiKeyHelper)" = "<absent>"
check "remove: other keys kept" test "$(json_get "$settings" model)" = opus

setup --remove
check "remove again: exit 0, nothing changed" bash -c "[ $rc = 0 ] && grep -q 'nothing changed' '$err'"

# A file that is not JSON is never touched.
printf '{\n  "model": "opus",\n}\n' >"$settings"
touch -d '2001-01-01 00:00:00' "$settings"
before=$(stat -c '%i %Y %s' "$settings"; sha256sum <"$settings")
setup
check "malformed: exit 1" test "$rc" = 1
check "malformed: one line" test "$(lines "$err")" = 1
check "malformed: names the file" grep -qF "$settings" "$err"
check "malformed: untouched" test "$before" = "$(stat -c '%i %Y %s' "$settings"; sha256sum <"$settings")"
setup --remove
check "malformed, --remove: untouched" test "$before" = "$(stat -c '%i %Y %s' "$settings"; sha256sum <"$settings")"
rm -f "$settings"

# --settings names another file.
other=$CK_TEST_ROOT/project/.claude/settings.local.json
setup --settings "$other"
check "--settings: exit 0" test "$rc" = 0
check "--settings: that file" test "$(json_get "$other" apiKeyHelper)" = "$cli_path helper"
check "--settings: not the default" test ! -e "$settings"
setup --settings "$other" --remove
check "--settings --remove" test "$(json_get "$other" apiKeyHelper)" = "<absent>"

# A binary in a folder with a space: quoted for sh, which claude runs it with.
spaced="$CK_TEST_ROOT/my tools"
mkdir -p "$spaced"
cp "$CK_CLI" "$spaced/claude-keyring"
"$spaced/claude-keyring" setup-claude >"$out" 2>"$err"; rc=$?
check "spaced path: exit 0" test "$rc" = 0
helper=$(json_get "$settings" apiKeyHelper)
check "spaced path: quoted" test "$helper" = "'$spaced/claude-keyring' helper"
check "spaced path: sh runs it and gets the key" test "$(sh -c "$helper")" = test-api-key-0001
rm -f "$settings"

# Only an OAuth login stored: a helper would break claude. Refuse.
"$CK_CLI" set-api-key --clear >/dev/null 2>&1
mkdir -p "$HOME/.claude"
cat >"$HOME/.claude/.credentials.json" <<'JSON'
{"claudeAiOauth":{"accessToken":"test-oauth-token-0001","refreshToken":"test-refresh-token-0001","expiresAt":4102444800000,"scopes":["user:inference"]}}
JSON
"$CK_CLI" import >/dev/null 2>&1
printf '{"model": "opus"}\n' >"$settings"
setup
check "oauth only: exit 1" test "$rc" = 1
check "oauth only: one line" test "$(lines "$err")" = 1
check "oauth only: points to run" grep -q "claude-keyring run" "$err"
check "oauth only: file untouched" test "$(cat "$settings")" = '{"model": "opus"}'

# --remove needs no agent and works whatever is stored.
printf '{"apiKeyHelper": "x", "model": "opus"}\n' >"$settings"
setup --remove
check "oauth only, --remove: works" test "$(cat "$settings")" = '{"model": "opus"}'

# --gateway: plain claude goes through the gateway. An unreachable upstream
# answers 502 at once, which shows the token was accepted.
gsettings set io.github.claudekeyring.ClaudeKeyring api-base-url http://127.0.0.1:9
env_get () { # env_get FILE NAME: env.NAME (or <absent>), never printed by a check
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("env", {}).get(sys.argv[2], "<absent>"))' "$@"
}
gateway_status () { # gateway_status URL TOKEN: the HTTP status of a request with that token
  curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$1/v1/models"
}
printf '{\n  "model": "opus",\n  "env": { "GREETING": "hi" }\n}\n' >"$settings"
chmod 0644 "$settings"
setup --gateway
check "gateway: exit 0" test "$rc" = 0
check "gateway: nothing on stdout" test ! -s "$out"
check "gateway: says the mode was narrowed" grep -q "0600" "$err"
check "gateway: says Remote Control is off" grep -q "Remote Control" "$err"
url=$(env_get "$settings" ANTHROPIC_BASE_URL)
token=$(env_get "$settings" CLAUDE_CODE_OAUTH_TOKEN)
check "gateway: base URL is the loopback gateway" grep -qE '^http://127\.0\.0\.1:[0-9]+$' <<<"$url"
check "gateway: a token is set" test "${#token}" -ge 40
check "gateway: no API key entry for OAuth" test "$(env_get "$settings" ANTHROPIC_API_KEY)" = "<absent>"
check "gateway: other keys kept" test "$(json_get "$settings" model)" = opus
check "gateway: other env kept" test "$(env_get "$settings" GREETING)" = hi
check "gateway: mode 0600" test "$(stat -c %a "$settings")" = 600
check "gateway: the token is not printed" bash -c "! grep -qF -- '$token' '$out' '$err'"
port=${url##*:}
for _ in $(seq 50); do [ "$(gsettings get io.github.claudekeyring.ClaudeKeyring gateway-port)" = "uint32 $port" ] && break; sleep 0.1; done
check "gateway: the agent fixed gateway-port" test "$(gsettings get io.github.claudekeyring.ClaudeKeyring gateway-port)" = "uint32 $port"
check "gateway: the token is accepted" test "$(gateway_status "$url" "$token")" = 502
check "gateway: another token is refused" test "$(gateway_status "$url" not-a-session-token-0000)" = 401
sessions=$(gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring \
  --object-path /io/github/claudekeyring/ClaudeKeyring --method io.github.claudekeyring.Credentials1.ListGatewaySessions)
check "gateway: one persistent session" test "$(grep -o "'persistent': <true>" <<<"$sessions" | wc -l)" = 1

# The socket unit on the fixed port (no user systemd here: written, not
# enabled), and systemd-analyze accepts it next to the agent's unit.
unit=$XDG_CONFIG_HOME/systemd/user/claude-keyring-gateway.socket
check "gateway: socket unit on the gateway's port" \
  bash -c "grep -qx 'ListenStream=127.0.0.1:$port' '$unit' && grep -qx 'Accept=no' '$unit' &&
           grep -qx 'Service=claude-keyring-agent.service' '$unit' && grep -qx 'WantedBy=sockets.target' '$unit'"
if command -v systemd-analyze >/dev/null; then
  units=$CK_TEST_ROOT/units
  mkdir -p "$units"
  cp "$unit" "$units/"
  sed "s|^ExecStart=.*|ExecStart=$CK_AGENT|" "$CK_BUILD_ROOT/data/claude-keyring-agent.service" \
    >"$units/claude-keyring-agent.service"
  systemd-analyze verify --user "$units/claude-keyring-gateway.socket" >"$out" 2>"$err"; rc=$?
  check "gateway: systemd-analyze verifies the socket unit" bash -c "[ $rc = 0 ] && [ ! -s '$err' ]"
fi

setup --gateway
check "gateway again: nothing changed" bash -c "[ $rc = 0 ] && grep -q 'nothing changed' '$err'"
check "gateway again: same token" test "$(env_get "$settings" CLAUDE_CODE_OAUTH_TOKEN)" = "$token"

# doctor: the gateway listens where the settings say, the token is a live
# session's, and what would bypass it.
doctor_status () { # doctor_status ID: that check's status in doctor --json
  "$CK_CLI" doctor --json 2>/dev/null | "$PY" -c 'import json,sys; print(" ".join(c["status"] for c in json.load(sys.stdin) if c["id"] == sys.argv[1]) or "<absent>")' "$1"
}
check "doctor: gateway ok" test "$(doctor_status gateway)" = ok
check "doctor: token ok" test "$(doctor_status gateway-token)" = ok
check "doctor: no bypass" test "$(doctor_status gateway-bypass)" = "<absent>"
check "doctor: says Remote Control is off" test "$(doctor_status gateway-remote-control)" = ok
check "doctor: ANTHROPIC_AUTH_TOKEN bypasses" test "$(ANTHROPIC_AUTH_TOKEN=x doctor_status gateway-bypass)" = fail
check "doctor: never prints the token" bash -c "! '$CK_CLI' doctor --json 2>&1 | grep -qF -- '$token'"

# Something that would make claude bypass the gateway: refused, untouched.
cp "$settings" "$CK_TEST_ROOT/settings.keep"
"$PY" - "$settings" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["apiKeyHelper"] = "echo x"; json.dump(d, open(sys.argv[1], "w"))
PY
before=$(sha256sum <"$settings")
setup --gateway
check "helper set: exit 1" test "$rc" = 1
check "helper set: one line naming apiKeyHelper" bash -c "[ $(lines "$err") = 1 ] && grep -q apiKeyHelper '$err'"
check "helper set: untouched" test "$before" = "$(sha256sum <"$settings")"
cp "$CK_TEST_ROOT/settings.keep" "$settings"
other_gw=$CK_TEST_ROOT/other-gateway.json
printf '{"env": {"ANTHROPIC_BASE_URL": "https://llm.example.com"}}\n' >"$other_gw"
"$CK_CLI" setup-claude --gateway --settings "$other_gw" >"$out" 2>"$err"; rc=$?
check "foreign base URL: exit 1, one line" bash -c "[ $rc = 1 ] && [ $(lines "$err") = 1 ]"
check "foreign base URL: untouched" test "$(env_get "$other_gw" ANTHROPIC_BASE_URL)" = https://llm.example.com
"$CK_CLI" setup-claude --remove --settings "$other_gw" >"$out" 2>"$err"; rc=$?
check "foreign base URL, --remove: left as it is" bash -c "[ $rc = 0 ] && [ \"\$(grep -c llm.example.com '$other_gw')\" = 1 ]"

# --remove: the entries go, the token is revoked.
setup --remove
check "gateway remove: exit 0" test "$rc" = 0
check "gateway remove: says so" grep -q "revoked" "$err"
check "gateway remove: base URL gone" test "$(env_get "$settings" ANTHROPIC_BASE_URL)" = "<absent>"
check "gateway remove: token gone" test "$(env_get "$settings" CLAUDE_CODE_OAUTH_TOKEN)" = "<absent>"
check "gateway remove: other env kept" test "$(env_get "$settings" GREETING)" = hi
check "gateway remove: socket unit gone" test ! -e "$unit"
check "gateway remove: the old token is refused" test "$(gateway_status "$url" "$token")" = 401
CLAUDE_CONFIG_DIR=$CK_TEST_ROOT/revoked-dir
mkdir -p "$CLAUDE_CONFIG_DIR" && cp "$CK_TEST_ROOT/settings.keep" "$CLAUDE_CONFIG_DIR/settings.json"
check "doctor: a revoked token fails" test "$(CLAUDE_CONFIG_DIR=$CLAUDE_CONFIG_DIR doctor_status gateway-token)" = fail
unset CLAUDE_CONFIG_DIR
setup --gateway --remove
check "gateway remove again: nothing changed" bash -c "[ $rc = 0 ] && grep -q 'nothing changed' '$err'"

# An API key: claude is told it holds one.
printf '%s' test-api-key-0002 | "$CK_CLI" set-api-key >/dev/null 2>&1
setup --gateway
check "gateway, API key: exit 0" test "$rc" = 0
check "gateway, API key: ANTHROPIC_API_KEY is a gateway token" \
  test "$(gateway_status "$(env_get "$settings" ANTHROPIC_BASE_URL)" "$(env_get "$settings" ANTHROPIC_API_KEY)")" = 502
check "gateway, API key: not the key itself" bash -c "! grep -q test-api-key-0002 '$settings'"
check "gateway, API key: same port" test "$(env_get "$settings" ANTHROPIC_BASE_URL)" = "$url"
setup --remove
check "gateway, API key, remove: gone" test "$(env_get "$settings" ANTHROPIC_API_KEY)" = "<absent>"

exit $fail
