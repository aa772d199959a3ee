#!/bin/bash
# claude-keyring import: a malformed file changes nothing; a good one ends
# up in the keyring and the plaintext file goes only once the agent has
# stored it (and stays with --keep, or when the agent could not store it).
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
creds=$HOME/.claude/.credentials.json
# The command by hand: the agent's own import of ~/.claude
# (tests/service/test-auto-import.sh) would race it. Set before the agent
# starts, so it reads it at once.
gsettings set io.github.claudekeyring.ClaudeKeyring auto-import false
import () { "$CK_CLI" import "$@" >"$out" 2>"$err"; rc=$?; }
status_field () { # status_field KEY: from `status --json`
  "$CK_CLI" status --json 2>/dev/null |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
}
fingerprint () { stat -c '%i %Y %s %a' "$1"; sha256sum <"$1"; }
write_creds () { # write_creds FILE TOKEN EXPIRES_MS
  mkdir -p "$(dirname "$1")"
  printf '{"claudeAiOauth":{"accessToken":"%s","refreshToken":"test-refresh-token-0001","expiresAt":%s,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}\n' "$2" "$3" >"$1"
  chmod 0600 "$1"
}
no_secret_printed () { ! grep -q -e test-oauth-token -e test-refresh-token "$out" "$err"; }

import
check "missing file: exit 1" test "$rc" = 1
check "missing file: one line" test "$(lines "$err")" = 1

# Malformed files are refused before the agent sees them, and stay as they are.
mkdir -p "$HOME/.claude"
for bad in '{"claudeAiOauth": {"accessToken": "test-oauth-token-0001",' \
           '["claudeAiOauth"]' \
           '{"claudeAiOauth": {"refreshToken": "test-refresh-token-0001"}}' \
           '{"claudeAiOauth": {"accessToken": ""}}' \
           '{"claudeAiOauth": {"accessToken": 42}}' \
           '{"somethingElse": {}}'; do
  printf '%s\n' "$bad" >"$creds"
  chmod 0600 "$creds"
  touch -d '2001-01-01 00:00:00' "$creds"
  before=$(fingerprint "$creds")
  import
  check "malformed ($(head -c 30 "$creds")…): exit 1" test "$rc" = 1
  check "malformed: one line" test "$(lines "$err")" = 1
  check "malformed: file untouched" test "$before" = "$(fingerprint "$creds")"
  check "malformed: no secret printed" no_secret_printed
done
check "malformed: nothing stored" test "$(status_field state)" = logged-out

# A link is refused, naming its target: removing only the link would leave
# the login in plaintext while saying it was removed. Neither is touched.
target=$CK_TEST_ROOT/elsewhere/credentials.json
write_creds "$target" test-oauth-token-0009 4102444800000
rm -f "$creds"
ln -s "$target" "$creds"
import
check "symlink: exit 1" test "$rc" = 1
check "symlink: one line" test "$(lines "$err")" = 1
check "symlink: names the target" grep -qF "$target" "$err"
check "symlink: link kept" test -L "$creds"
check "symlink: target kept" test -s "$target"
check "symlink: nothing stored" test "$(status_field state)" = logged-out
check "symlink: no secret printed" no_secret_printed
rm -f "$creds"

# Not a file, or far too large for one: refused at once, never read whole
# or waited on.
refused_at_once () { # refused_at_once NAME: import fails fast with one line
  local t0 ms
  t0=$(date +%s%N)
  timeout 10 "$CK_CLI" import >"$out" 2>"$err"; rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  check "$1: exit 1 (got $rc) within 5 s (${ms} ms)" eval '[ "$rc" = 1 ] && [ "$ms" -lt 5000 ]'
  check "$1: one line" test "$(lines "$err")" = 1
  rm -f "$creds"
}
mkfifo "$creds"
refused_at_once FIFO
mkdir "$creds"
refused_at_once directory 2>/dev/null; rmdir "$creds" 2>/dev/null
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$creds"
refused_at_once "2 MiB file"
check "special files: nothing stored" test "$(status_field state)" = logged-out

# A good file: stored, verified by the agent, then removed.
write_creds "$creds" test-oauth-token-0001 4102444800000
import
check "good: exit 0" test "$rc" = 0
check "good: nothing on stdout" test ! -s "$out"
check "good: one line on stderr" test "$(lines "$err")" = 1
check "good: says it removed the file" grep -q "removed" "$err"
check "good: file removed" test ! -e "$creds"
check "good: logged in" test "$(status_field state)" = logged-in
check "good: source oauth" test "$(status_field source)" = oauth
check "good: the imported expiry" test "$(status_field expires-at)" = 4102444800
check "good: no secret printed" no_secret_printed
check "good: token served" test "$("$CK_CLI" token 2>/dev/null)" = test-oauth-token-0001

# --keep keeps the file; the newer login replaces the stored one.
write_creds "$creds" test-oauth-token-0002 4102444900000
import --keep
check "--keep: exit 0" test "$rc" = 0
check "--keep: file kept" test -s "$creds"
check "--keep: says it is still plaintext" grep -q "plaintext" "$err"
check "--keep: the new expiry" test "$(status_field expires-at)" = 4102444900
rm -f "$creds"

# CLAUDE_CONFIG_DIR moves the file, as it does for claude.
config=$CK_TEST_ROOT/claude-config
write_creds "$config/.credentials.json" test-oauth-token-0003 4102445000000
CLAUDE_CONFIG_DIR=$config "$CK_CLI" import >"$out" 2>"$err"; rc=$?
check "CLAUDE_CONFIG_DIR: exit 0" test "$rc" = 0
check "CLAUDE_CONFIG_DIR: that file removed" test ! -e "$config/.credentials.json"
check "CLAUDE_CONFIG_DIR: the new expiry" test "$(status_field expires-at)" = 4102445000

# --config-dir DIR: that directory's file, whatever CLAUDE_CONFIG_DIR says.
work=$CK_TEST_ROOT/work-claude
write_creds "$work/.credentials.json" test-oauth-token-0005 4102445050000
CLAUDE_CONFIG_DIR=$config "$CK_CLI" import --config-dir "$work" >"$out" 2>"$err"; rc=$?
check "--config-dir: exit 0" test "$rc" = 0
check "--config-dir: that file removed" test ! -e "$work/.credentials.json"
check "--config-dir: names it" grep -qF "removed $work/.credentials.json" "$err"
check "--config-dir: the new expiry" test "$(status_field expires-at)" = 4102445050
check "--config-dir: no secret printed" no_secret_printed
import --config-dir "$CK_TEST_ROOT/nowhere"
check "--config-dir, no file: exit 1" test "$rc" = 1
check "--config-dir, no file: names it" grep -qF "$CK_TEST_ROOT/nowhere/.credentials.json does not exist" "$err"
import --config-dir ''
check "--config-dir '': usage error" test "$rc" = 2

# The MCP servers' logins claude keeps in the same file stay there.
write_creds "$creds" test-oauth-token-0006 4102445060000
sed -i 's/}$/,"mcpOAuth":{"test-server":{"accessToken":"test-mcp-token-0001"}}}/' "$creds"
import
check "mcpOAuth: exit 0" test "$rc" = 0
check "mcpOAuth: the login is out of the file" bash -c "! grep -q claudeAiOauth '$creds'"
check "mcpOAuth: the MCP login stays" grep -q '"mcpOAuth":{"test-server":{"accessToken":"test-mcp-token-0001"}}' "$creds"
check "mcpOAuth: still only the owner may read it" test "$(stat -c %a "$creds")" = 600
check "mcpOAuth: says so" grep -q "keeps only the MCP servers' logins" "$err"
check "mcpOAuth: the new expiry" test "$(status_field expires-at)" = 4102445060
rm -f "$creds"

# The agent cannot store it (keyring locked): the file must stay.
write_creds "$creds" test-oauth-token-0004 4102445100000
before=$(fingerprint "$creds")
gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
  --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" >/dev/null
timeout 60 "$CK_CLI" import >"$out" 2>"$err"; rc=$?
check "locked keyring: exit 1" test "$rc" = 1
check "locked keyring: file kept" test "$before" = "$(fingerprint "$creds")"
check "locked keyring: says the file stayed" grep -q "left in place" "$err"
check "locked keyring: no secret printed" no_secret_printed

exit $fail
