#!/bin/bash
# login from a terminal without a display (the SSH case): the CLI asks for
# the manual redirect by itself, and the code pasted at the terminal
# completes the login. `script` provides the terminal.
. "$(dirname "$0")/cli-lib.sh"

command -v script >/dev/null || { echo "SKIP: script (util-linux) not found" >&2; exit 77; }

start_fake_oauth_server
# The manual callback page, on the fake server (loopback http is allowed).
gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.UpdateActivationEnvironment \
  "{'CLAUDE_KEYRING_MANUAL_REDIRECT_URL': '$base/oauth/code/callback'}" >/dev/null

tty_out=$CK_TEST_ROOT/terminal.out
keys=$CK_TEST_ROOT/keys
mkfifo "$keys"

# The terminal's input comes from the fifo; the writer stays open until
# the code is typed.
env -u DISPLAY -u WAYLAND_DISPLAY \
  script -qefc "$CK_CLI login" /dev/null <"$keys" >"$tty_out" 2>&1 &
script_pid=$!
pids+=("$script_pid")
exec 7>"$keys"

for _ in $(seq 200); do
  grep -q 'Waiting for the code' "$tty_out" 2>/dev/null && break
  sleep 0.05
done
grep -q 'paste the code' "$tty_out" || fail "login did not ask for the code on a terminal ($(cat "$tty_out"))"
url=$(grep -m1 -o 'http://[^[:space:]]*' "$tty_out")
case $url in
  *redirect_uri=http%3A%2F%2F127.0.0.1%3A*%2Foauth%2Fcode%2Fcallback*) ;;
  *) fail "without a display the login did not use the manual redirect: $url" ;;
esac

code=$("$PY" "$support/play-browser.py" --no-callback --print-code \
        --stop-at-host-port-prefix "$base/oauth/code" "$url" 2>"$CK_TEST_ROOT/browser.log") ||
  fail "the browser could not get a code ($(cat "$CK_TEST_ROOT/browser.log"))"

# A wrong code first: refused, and the login keeps waiting.
printf 'not-the-code#not-the-state\n' >&7
for _ in $(seq 200); do
  grep -q '^claude-keyring: ' "$tty_out" && break
  sleep 0.05
done
grep -q '^claude-keyring: ' "$tty_out" || fail "a wrong code was not refused"
kill -0 "$script_pid" 2>/dev/null || fail "login gave up after a wrong code"

printf '%s\n' "$code" >&7
for _ in $(seq 600); do
  kill -0 "$script_pid" 2>/dev/null || break
  sleep 0.05
done
exec 7>&-
kill -0 "$script_pid" 2>/dev/null && fail "login still waits after the code was pasted"
status=0
wait "$script_pid" || status=$?
[ "$status" -eq 0 ] || { cat "$tty_out" >&2; fail "login from a terminal exited $status"; }
grep -q 'Logged in as .*tester@example.com' "$tty_out" || fail "login did not report the account"

run status
expect_status 0 "status after a pasted code"

echo "ok"
