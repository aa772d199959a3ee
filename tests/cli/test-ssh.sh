#!/bin/bash
# claude-keyring ssh with a stand-in for OpenSSH's client: a `ssh` first in
# PATH that logs its arguments and plays the parts the command uses (the
# master, -O forward, -O exit) and runs each session's remote command here
# under sh, as a login shell on the remote host would. So the whole
# hand-over runs without an sshd (tests/e2e/test-e2e-ssh.sh has the real
# one): which options go where, the command's words arriving as given, the
# token on fd 3, exit statuses, signals, --persist, and one line for each
# failure.
set -uo pipefail

: "${CK_CLI:?run through meson test}"
fail=0
out=$CK_TEST_ROOT/out err=$CK_TEST_ROOT/err
check () { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok - $what"
  else
    echo "not ok - $what"
    { echo "stdout:"; cat "$out"; echo "stderr:"; cat "$err"; echo "ssh calls:"; cut -c1-200 "$FAKE_SSH_LOG"; } 2>/dev/null |
      sed 's/^/#   /'
    fail=1
  fi
}
lines () { [ -s "$1" ] && wc -l <"$1" || echo 0; }
KEY=test-api-key-0001

bin=$CK_TEST_ROOT/bin
mkdir -p "$bin"
export FAKE_SSH_LOG=$CK_TEST_ROOT/ssh.log
cat >"$bin/ssh" <<'SSH'
#!/bin/bash
printf '%s\n' "$*" >>"$FAKE_SSH_LOG"
case " $* " in
  *" -M "*)
    if [ -n "${FAKE_SSH_MASTER_FAIL:-}" ]; then echo "fake@host: Permission denied (publickey)." >&2; exit 255; fi
    exit 0 ;;
  *" -Oforward "*)
    if [ -n "${FAKE_SSH_NO_FORWARD:-}" ]; then
      echo "mux_client_forward: forwarding request failed: remote port forwarding failed for listen port 0" >&2
      echo "muxclient: master forward request failed" >&2
      exit 255
    fi
    if [ -n "${FAKE_SSH_PORT_TAKEN:-}" ] && [[ " $* " != *" 127.0.0.1:0:"* ]]; then
      echo "mux_client_forward: forwarding request failed: remote port forwarding failed for listen port 4242" >&2
      exit 255
    fi
    # A port of its choice is printed, a given one not.
    case " $* " in *" 127.0.0.1:0:"*) echo "${FAKE_SSH_PORT:-4242}" ;; esac
    exit 0 ;;
  *" -Oexit "*) exit 0 ;;
  *" -Ocheck "*) [ -z "${FAKE_SSH_DROP:-}" ]; exit ;;
esac
[ -n "${FAKE_SSH_CHATTER:-}" ] && echo "Welcome to the remote host"
# The connection dropped under the user's session: the mux client's 255.
if [ -n "${FAKE_SSH_DROP:-}" ] && [[ ${@: -1} == "exec sh /"* ]]; then sh -c "${@: -1}"; exit 255; fi
exec sh -c "${@: -1}"
SSH
chmod +x "$bin/ssh"
export PATH=$bin:$PATH

run () { status=0; "$CK_CLI" ssh "$@" </dev/null >"$out" 2>"$err" || status=$?; }
sessions () {
  gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring --object-path /io/github/claudekeyring/ClaudeKeyring \
    --method io.github.claudekeyring.Credentials1.GetStatus | sed -n "s/.*'gateway-sessions': <uint32 \([0-9]*\)>.*/\1/p"
}
no_control_dir () { ! compgen -G "$XDG_RUNTIME_DIR/claude-keyring-ssh-*" >/dev/null; }

# --- usage ---------------------------------------------------------------------

run --help
check "--help says what the remote host needs, AllowTcpForwarding and --persist" \
  eval '[ "$status" = 0 ] && grep -q "POSIX sh with mktemp, mkfifo and dd" "$out" && grep -q AllowTcpForwarding "$out" &&
        grep -q -- "--persist" "$out" && grep -q tmux "$out" && grep -q "laptop sleeps" "$out"'
for option in -M -S -O -N -f -W -G -s; do
  run "$option" x host
  check "ssh's $option is refused in one line" \
    eval '[ "$status" = 2 ] && [ "$(lines "$err")" = 1 ] && grep -q "^claude-keyring: ssh.s $option is not available here: " "$err"'
done
run -p
check "an option without its argument: one line" eval '[ "$status" = 2 ] && [ "$(lines "$err")" = 1 ]'
run -p 22
check "no destination: one line" eval '[ "$status" = 2 ] && grep -q "a destination is needed" "$err"'
: >"$FAKE_SSH_LOG"
run -- '-oProxyCommand=touch ./pwned' host
check "a destination that ssh would read as an option: one line, no ssh run" \
  eval '[ "$status" = 2 ] && [ "$(lines "$err")" = 1 ] && grep -q "begins with .-.: no host name does" "$err" &&
        [ ! -s "$FAKE_SSH_LOG" ]'
: >"$FAKE_SSH_LOG"
status=0; PATH=/nonexistent "$CK_CLI" ssh host </dev/null >"$out" 2>"$err" || status=$?
check "no ssh in PATH: one line, exit 127" \
  eval '[ "$status" = 127 ] && [ "$(lines "$err")" = 1 ] && grep -q "ssh was not found in PATH" "$err"'
# A bus where no agent can be activated.
mkdir -p "$CK_TEST_ROOT/no-services"
cat >"$CK_TEST_ROOT/no-agent.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$XDG_RUNTIME_DIR</listen>
  <servicedir>$CK_TEST_ROOT/no-services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
status=0
dbus-run-session --config-file="$CK_TEST_ROOT/no-agent.conf" -- "$CK_CLI" ssh host </dev/null >"$out" 2>"$err.all" || status=$?
grep -v '^dbus-daemon' "$err.all" >"$err"
check "no agent: one line, and no ssh run" \
  eval '[ "$status" = 1 ] && [ "$(lines "$err")" = 1 ] && grep -q "agent is not installed or could not start" "$err" &&
        [ ! -s "$FAKE_SSH_LOG" ]'
run host
check "not logged in: one line, and no ssh run" \
  eval '[ "$status" = 1 ] && [ "$(lines "$err")" = 1 ] && grep -q "no credentials are stored; run: claude-keyring login" "$err" &&
        [ ! -s "$FAKE_SSH_LOG" ]'

printf '%s' "$KEY" | "$CK_CLI" set-api-key >/dev/null 2>&1

# --- the hand-over ---------------------------------------------------------------

: >"$FAKE_SSH_LOG"
run -p 2222 -L 1:h:2 -o Foo=bar -tA me@host -- printf '%s|' 'a b' "it's" '$HOME' '*' '' "two
lines"
check "the command's words arrive as given ($status)" \
  eval '[ "$status" = 0 ] && [ "$(cat "$out")" = "a b|it'"'"'s|\$HOME|*||two
lines|" ]'
master=$(grep -e "^-M " "$FAKE_SSH_LOG") user=$(grep -e " -t " "$FAKE_SSH_LOG") lifeline=$(grep -e "exec sh -c" "$FAKE_SSH_LOG")
check "the master: its own options first, then all of the user's but -t" \
  eval '[[ $master == "-M -S $XDG_RUNTIME_DIR/claude-keyring-ssh-"*"/ctl -f -N -oExitOnForwardFailure=yes -oControlPersist=5 -p 2222 -L 1:h:2 -o Foo=bar -A me@host" ]]'
check "the user's session: -t and the user's options but the forward" \
  eval '[[ $user == "-S "*" -oControlMaster=no -oRemoteCommand=none -t -p 2222 -o Foo=bar -A me@host exec sh /"*"/s" ]]'
check "the lifeline: no terminal, no agent or X11 forwarding, no forward" \
  eval '[[ $lifeline == *" -p 2222 -o Foo=bar -A -T -a -x me@host exec sh -c "* ]] && [[ $lifeline != *" -L "* ]]'
check "the forward: the remote loopback, any port, to the session's socket" \
  grep -q -- "-Oforward -R 127.0.0.1:0:$XDG_RUNTIME_DIR/claude-keyring/gateway-.*\.sock me@host\$" "$FAKE_SSH_LOG"
check "the end: the master told to exit, the session and the control directory gone" \
  eval 'grep -q -- "-Oexit me@host\$" "$FAKE_SSH_LOG" && [ "$(sessions)" = 0 ] && no_control_dir'

run host -- sh -c 'echo "$ANTHROPIC_BASE_URL $CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR ${ANTHROPIC_API_KEY:-none}";
  cat <&3 | wc -c; ls -l /proc/$$/fd/3'
read -r base fd env_key <"$out"
check "the command gets the forward's address and a session token on fd 3, a pipe" \
  eval '[ "$base $fd $env_key" = "http://127.0.0.1:4242 3 none" ] && [ "$(sed -n 2p "$out")" = 43 ] &&
        sed -n 3p "$out" | grep -q "pipe:"'
FAKE_SSH_CHATTER=1 run host -- echo done
check "a login shell's chatter does not stop the hand-over" \
  eval '[ "$status" = 0 ] && [ "$(tail -n 1 "$out")" = done ]'

# --- --account ---------------------------------------------------------------------

printf '%s' test-api-key-0002 | "$CK_CLI" set-api-key --as second >/dev/null 2>&1
second=$("$CK_CLI" accounts --json | python3 -c 'import json, sys
print(next(a["id"] for a in json.load(sys.stdin) if a["name"] == "second"))')
list_sessions='gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring --object-path /io/github/claudekeyring/ClaudeKeyring --method io.github.claudekeyring.Credentials1.ListGatewaySessions'
run --account second host -- sh -c "$list_sessions"
check "--account NAME: the session serves that account" \
  eval '[ "$status" = 0 ] && [ -n "$second" ] && grep -q "'"'"'account'"'"': <'"'"'$second'"'"'>" "$out"'
run host -- sh -c "$list_sessions"
check "without --account: the default account, not that one" \
  eval '[ "$status" = 0 ] && grep -q "'"'"'account'"'"': <" "$out" && ! grep -q "$second" "$out"'
: >"$FAKE_SSH_LOG"
run --account nobody-here host -- true
check "--account with an unknown account: one line, no ssh run" \
  eval '[ "$status" != 0 ] && [ "$(lines "$err")" = 1 ] && grep -q nobody-here "$err" && [ ! -s "$FAKE_SSH_LOG" ]'
"$CK_CLI" logout second >/dev/null 2>&1

# --- exit statuses, signals --------------------------------------------------------

run host -- sh -c 'exit 7'
check "the exit status comes back (7)" test "$status" = 7
run host -- no-such-command
check "a command not found: 127 and one line after the shell's" \
  eval '[ "$status" = 127 ] && grep -q "^claude-keyring: no-such-command was not found on host" "$err"'
run host
check "no claude there: 127 and how to fix it" \
  eval '[ "$status" = 127 ] && grep -q "^claude-keyring: claude was not found on host: install Claude Code there, or name its path" "$err"'
"$CK_CLI" ssh host -- sh -c 'trap "echo got-TERM; exit 9" TERM; echo ready; while :; do sleep 0.1; done' \
  </dev/null >"$out" 2>"$err" &
pid=$!
for _ in $(seq 100); do grep -q ready "$out" && break; sleep 0.05; done
kill -TERM "$pid"; status=0; wait "$pid" || status=$?
check "SIGTERM reaches the remote command through the lifeline; its status comes back ($status)" \
  eval '[ "$status" = 9 ] && grep -qx got-TERM "$out" && [ "$(sessions)" = 0 ] && no_control_dir'

# --- failures --------------------------------------------------------------------------

: >"$FAKE_SSH_LOG"
FAKE_SSH_MASTER_FAIL=1 run me@host
check "ssh cannot connect: its own message, its status, nothing left" \
  eval '[ "$status" = 255 ] && [ "$(cat "$err")" = "fake@host: Permission denied (publickey)." ] &&
        [ "$(sessions)" = 0 ] && no_control_dir && [ "$(lines "$FAKE_SSH_LOG")" = 1 ]'
: >"$FAKE_SSH_LOG"
FAKE_SSH_NO_FORWARD=1 run me@host
check "no TCP forwarding on the server: one line naming the setting, nothing left" \
  eval '[ "$status" = 1 ] && [ "$(lines "$err")" = 1 ] &&
        grep -qx "claude-keyring: me@host does not allow remote port forwarding (sshd_config: AllowTcpForwarding): ask its administrator to set it to yes or remote" "$err" &&
        grep -q -- "-Oexit" "$FAKE_SSH_LOG" && [ "$(sessions)" = 0 ] && no_control_dir'

FAKE_SSH_DROP=1 run me@host -- true
check "the connection gone: one line that says so, ssh's 255, nothing left" \
  eval '[ "$status" = 255 ] && [ "$(lines "$err")" = 1 ] &&
        grep -qx "claude-keyring: the connection to me@host was closed; its session has ended" "$err" &&
        [ "$(sessions)" = 0 ] && no_control_dir'

# --- --persist -----------------------------------------------------------------------

: >"$FAKE_SSH_LOG"
run --persist me@host -- sh -c 'echo "$ANTHROPIC_BASE_URL ${#ANTHROPIC_API_KEY} ${CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR:-none}"'
check "--persist: the token in the environment, for tmux" \
  eval '[ "$status" = 0 ] && [ "$(cat "$out")" = "http://127.0.0.1:4242 43 none" ]'
first=$(gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring --object-path /io/github/claudekeyring/ClaudeKeyring \
          --method io.github.claudekeyring.Credentials1.ListGatewaySessions)
run --persist me@host -- sh -c 'echo "$ANTHROPIC_BASE_URL"'
check "--persist: the next connection asks for the same remote port" \
  eval '[ "$status" = 0 ] && [ "$(cat "$out")" = http://127.0.0.1:4242 ] &&
        [ "$(grep -c -- "-R 127.0.0.1:4242:" "$FAKE_SSH_LOG")" = 1 ] &&
        [[ $first == *"'"'remote-port'"': <uint32 4242>"* ]] && [ "$(sessions)" = 1 ]'
FAKE_SSH_PORT_TAKEN=1 FAKE_SSH_PORT=4343 run --persist me@host -- sh -c 'echo "$ANTHROPIC_BASE_URL"'
after=$(gdbus call --session --dest io.github.claudekeyring.ClaudeKeyring --object-path /io/github/claudekeyring/ClaudeKeyring \
          --method io.github.claudekeyring.Credentials1.ListGatewaySessions)
first_hash=$(grep -o "'token-sha256': <'[0-9a-f]*'>" <<<"$first")
check "--persist: the old port still taken on the server: another one, and a warning that says what to do" \
  eval '[ "$status" = 0 ] && [ "$(cat "$out")" = http://127.0.0.1:4343 ] && [ "$(lines "$err")" = 1 ] &&
        grep -q "^claude-keyring: warning: port 4242 on me@host, which the last connection had, is taken" "$err" &&
        [[ $after == *"'"'remote-port'"': <uint32 4343>"* ]]'
# Whoever holds the old port may have been sent the token by a claude
# started then: it is refused from now on.
check "--persist: the old port taken: a new token, the old session gone" \
  eval '[ -n "$first_hash" ] && [[ $after != *"$first_hash"* ]] && [ "$(sessions)" = 1 ]'

exit $fail
