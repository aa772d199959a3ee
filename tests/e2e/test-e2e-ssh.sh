#!/bin/bash
# `claude-keyring ssh` against a real OpenSSH server: this test starts
# Debian's sshd on 127.0.0.1 at a free port with its own host key and
# configuration, makes a user with a generated key to stand for the
# account on the remote host, and runs the real claude there through the
# forward with the desktop's OAuth login (in a session that outlives its
# access token) and with an API key. The remote side never holds the
# credential, nor the session token anywhere another user or a file could
# show it; another user on the remote host gets 401 on the forwarded port;
# the token dies within 1 s with the connection; an sshd without TCP
# forwarding gets one clear line; Ctrl-C and exit statuses pass through a
# terminal (tmux) and without one; --persist gives the same port and token
# to the next connection, where a process of the first works again.
# Needs root (useradd, setpriv): skipped (77) without, or without sshd.
# SPDX-License-Identifier: GPL-3.0-or-later
set -uo pipefail

SSHD=$(command -v sshd || echo /usr/sbin/sshd)
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root: it adds a user for the remote side"; exit 77
fi
for tool in ssh ssh-keygen useradd userdel usermod setpriv setsid tmux curl; do
  command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 77; }
done
[ -x "$SSHD" ] || { echo "1..0 # SKIP sshd (openssh-server) is not installed"; exit 77; }

. "$(dirname "$0")/e2e-gateway-lib.sh"

# --- the "remote host": a user and an sshd of the test's own -----------------

SSH_USER=cktest$$
SSH_DIR=$CK_TEST_ROOT/sshd
sshd_pids=()
cleanup_ssh () {
  local pid
  [ -n "${TMUX_SOCKET:-}" ] && tmux -S "$TMUX_SOCKET" kill-server 2>/dev/null
  for pid in "${sshd_pids[@]}"; do kill "$pid" 2>/dev/null; done
  # Whatever the test user still runs (a remote command the test left).
  for pid in $(ps -o pid= -u "$SSH_USER" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  userdel -rf "$SSH_USER" >/dev/null 2>&1
}
trap 'cleanup_ssh; stop_api; ck_oauth_cleanup' EXIT

free_port () { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

useradd -m -s /bin/sh "$SSH_USER" || bail "useradd failed"
# A new user's password is locked, and sshd refuses a locked user even a key.
usermod -p '*' "$SSH_USER" || bail "usermod failed"
SSH_HOME=$(getent passwd "$SSH_USER" | cut -d: -f6)
SSH_UID=$(id -u "$SSH_USER") SSH_GID=$(id -g "$SSH_USER")
as_user () { setpriv --reuid="$SSH_UID" --regid="$SSH_GID" --clear-groups env HOME="$SSH_HOME" "$@"; }
as_nobody () { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

mkdir -p -m 700 "$SSH_DIR" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host_key" || bail "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/user_key" || bail "ssh-keygen failed"
install -d -m 700 -o "$SSH_UID" -g "$SSH_GID" "$SSH_HOME/.ssh"
install -m 600 -o "$SSH_UID" -g "$SSH_GID" "$SSH_DIR/user_key.pub" "$SSH_HOME/.ssh/authorized_keys"

# start_sshd NAME FORWARDING: an sshd on a free port; sets port.
start_sshd () {
  local name=$1 _
  port=$(free_port)
  cat >"$SSH_DIR/$name.conf" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $SSH_DIR/host_key
PidFile $SSH_DIR/$name.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $SSH_USER
AuthorizedKeysFile .ssh/authorized_keys
AllowTcpForwarding $2
CONF
  "$SSHD" -f "$SSH_DIR/$name.conf" -E "$SSH_DIR/$name.log" || bail "sshd did not start: $(tail -n 3 "$SSH_DIR/$name.log")"
  for _ in $(seq 100); do
    [ -s "$SSH_DIR/$name.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  sshd_pids+=("$(cat "$SSH_DIR/$name.pid")")
}
start_sshd main yes
SSH_PORT=$port
start_sshd nofwd no
NOFWD_PORT=$port

DEST=$SSH_USER@127.0.0.1
SSH_OPTS=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
          -o BatchMode=yes -i "$SSH_DIR/user_key")
ssh -n "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" true || bail "ssh to the test sshd failed: $(tail -n 5 "$SSH_DIR/main.log")"

# The real claude, where the test user can run it.
if as_user test -x "$CLAUDE"; then
  REMOTE_CLAUDE=$CLAUDE
else
  REMOTE_CLAUDE=$SSH_HOME/claude
  install -m 755 "$(readlink -f "$CLAUDE")" "$REMOTE_CLAUDE"
fi
# What claude_env gives a local claude, for the remote one.
REMOTE_ENV=(env DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
            DISABLE_AUTOUPDATER=1)

sessions () { ck_call GetStatus | sed -n "s/.*'gateway-sessions': <uint32 \([0-9]*\)>.*/\1/p"; }
no_issued_token_in () { ! grep -Eq "$ISSUED" <<<"$1"; }
# user_can_read GREP-OPTIONS...: a file the remote user can read under
# their home or /tmp matches (a secret pattern comes from stdin with -f -:
# never in an argv). user_files_hold: the same for their home and what
# they wrote to /tmp (elsewhere in /tmp other tests' fixtures hold the
# fixed fake credentials).
user_can_read () { as_user grep -rqs -D skip "$@" "$SSH_HOME" /tmp; }
user_files_hold () {
  local files
  mapfile -t files < <(find /tmp -mindepth 1 -maxdepth 1 -user "$SSH_USER")
  as_user grep -rqs -D skip "$@" "$SSH_HOME" "${files[@]}"
}
# The pid of the remote claude (a process of the test user), or nothing.
remote_claude_pid () { ps -o pid=,comm= -u "$SSH_USER" | awk '$2 == "claude" { print $1; exit }'; }
# The master ssh of this test's claude-keyring ssh, found by its control path.
master_pid () {
  ps -eo pid=,args= | awk -v path="-S $XDG_RUNTIME_DIR/claude-keyring-ssh-" 'index($0, "ssh -M " path) { print $1; exit }'
}
control_dirs_left () { compgen -G "$XDG_RUNTIME_DIR/claude-keyring-ssh-*" >/dev/null; }
# What the remote user still runs (zombies aside: nothing here may reap
# them), and what they left in /tmp.
user_processes () { ps -o stat=,comm= -u "$SSH_USER" | awk '$1 !~ /^Z/ && $2 != "sshd"'; }
user_tmp_files () { find /tmp -mindepth 1 -maxdepth 1 -user "$SSH_USER" -name 'tmp.*'; }

# --- OAuth: a session that outlives its access token --------------------------

start_api --oauth-server "$CK_OAUTH_BASE" --tool-sleep "$SLEEP"
refreshes=$(ck_oauth_stat 'd["refresh_ok"]')
start_claude "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- "${REMOTE_ENV[@]}" "$REMOTE_CLAUDE" \
  -p "Wait a while, then say so." --allowedTools "Bash(python3:*)"
claude_pid=$(remote_claude_pid)
environ=$(tr '\0' '\n' <"/proc/$claude_pid/environ" 2>/dev/null)
cmdline=$(tr '\0' '\n' <"/proc/$claude_pid/cmdline" 2>/dev/null)
fd3=$(readlink "/proc/$claude_pid/fd/3" 2>/dev/null)
finish_claude 1800
check "oauth: remote claude outlived its access token and finished (exit $rc)" \
  eval '[ "$rc" = 0 ] && grep -qx slept "$out"'
check "oauth: every request reached the API with a token valid then" requests_ok oauth
check "oauth: the agent refreshed meanwhile" test "$(ck_oauth_stat 'd["refresh_ok"]')" -gt "$refreshes"
check "oauth: remote claude ran as the remote user, told of an OAuth token on fd 3, a pipe ($fd3)" \
  eval '[ -n "$claude_pid" ] && grep -qx CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR=3 <<<"$environ" && [[ $fd3 == pipe:* ]]'
check "oauth: its base URL is the forward on the remote loopback" \
  grep -Eqx "ANTHROPIC_BASE_URL=http://127\.0\.0\.1:[0-9]+" <<<"$environ"
check "oauth: no issued token in remote claude's environment or argv" \
  eval 'no_issued_token_in "$environ" && no_issued_token_in "$cmdline"'
check "oauth: no issued token in a file the remote user can read" \
  eval '! user_files_hold -E "$ISSUED"'
check "oauth: the session ended with the connection" test "$(sessions)" = 0
check "oauth: the master connection and its control directory are gone" \
  eval '[ -z "$(master_pid)" ] && ! control_dirs_left'
check "oauth: nothing of the remote command is left on the remote host" \
  eval 'sleep 0.5; [ -z "$(user_processes)" ] && [ -z "$(user_tmp_files)" ]'

# --- the token: where it is, where it works, how fast it dies ------------------

# start_probe: `claude-keyring ssh` whose remote command prints its
# ANTHROPIC_BASE_URL and the token it read on fd 3, then sleeps. Sets
# probe_pid, base and token (kept in this shell, never printed), and id
# and sock of its session.
start_probe () {
  claude_env_args
  coproc PROBE { exec env "${CLAUDE_ENV_ARGS[@]}" "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- \
    sh -c 'IFS= read -r t <&3; echo "$ANTHROPIC_BASE_URL"; printf "%s\n" "$t"; t=; exec sleep 120' 2>"$err"; }
  probe_pid=$PROBE_PID
  base= token=
  read -t 20 -r base <&"${PROBE[0]}"
  read -t 5 -r token <&"${PROBE[0]}"
  hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
  local row
  row=$(ck_call ListGatewaySessions | "$PY" -c '
import re, sys
for row in re.findall(r"\{[^{}]*\}", sys.stdin.read()):
    if sys.argv[1] in row:
        print(re.search(r"'"'"'id'"'"': <'"'"'([^'"'"']*)'"'"'>", row).group(1),
              re.search(r"'"'"'remote'"'"': <'"'"'([^'"'"']*)'"'"'>", row).group(1))' "$hash")
  read -r id remote <<<"$row"
  sock=$XDG_RUNTIME_DIR/claude-keyring/gateway-$id.sock
}
stop_probe () { kill "$probe_pid" 2>/dev/null; wait "$probe_pid" 2>/dev/null; }
has_token () { grep -qF -f <(printf '%s\n' "$token"); }
# request_with_token URL [SOCKET] [USER-PREFIX...]: the HTTP status of a
# request carrying the token (in no argv: curl reads it from a pipe).
request_with_token () {
  ck_gateway_request <(printf 'Authorization: Bearer %s\n' "$token") "$@"
}
. "$CK_SOURCE_ROOT/tests/support/ck-gateway-request.sh"

clear_api_log
start_probe
check "the remote command got a session token on fd 3 ($remote)" \
  eval '[[ $token =~ ^[A-Za-z0-9_-]{43}$ ]] && [ -n "$id" ] && [ "$remote" = "$DEST" ]'
check "in no process's argv (ps, /proc/*/cmdline)" \
  eval '! ps -eo args | has_token && ! cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" "\n" | has_token'
check "in no process's environment" eval '! cat /proc/[0-9]*/environ 2>/dev/null | tr "\0" "\n" | has_token'
check "in no file the remote user can read" eval '! user_can_read -F -f - < <(printf "%s\n" "$token")'
check "another user of the remote host gets 401 on the forwarded port, with or without a token" \
  eval '[ "$(as_nobody curl -s -o /dev/null -w "%{http_code}" --max-time 5 -d "{}" "$base/v1/messages")" = 401 ] &&
        [ "$(as_nobody curl -s -o /dev/null -w "%{http_code}" --max-time 5 -H "x-api-key: not-the-token" -d "{}" "$base/v1/messages")" = 401 ]'
check "the token works through the forward" eval '[ "$(request_with_token "$base")" = 200 ]'
gateway=$(ck_call GetStatus | sed -n "s/.*'gateway-url': <'\([^']*\)'>.*/\1/p")
check "and only there: the gateway's TCP port gives 401" eval '[ "$(request_with_token "$gateway")" = 401 ]'
# Another user of the remote host holds as many idle connections to the
# forwarded port as they can (all of the gateway's, before): neither the
# session nor the gateway's port is locked out.
exec 8> >(as_nobody "$PY" -c "$(cat "$CK_SOURCE_ROOT/tests/support/hold-connections.py")" "${base##*:}" 300 0.01 \
            >"$CK_TEST_ROOT/held")
for _ in $(seq 300); do [ -s "$CK_TEST_ROOT/held" ] && break; sleep 0.1; done
check "another user holding idle connections to the forward ($(cat "$CK_TEST_ROOT/held") open) locks no one out" \
  eval '[ "$(request_with_token "$base")" = 200 ] && [ "$(request_with_token "$gateway")" = 401 ]'
exec 8>&-

# The connection killed (its master ssh): the token is refused within 1 s.
# refused_after_ms: kills with $1, then polls the session's socket with the
# token until it is refused (401) or gone; prints the milliseconds taken.
refused_after_ms () {
  local start status _
  [ "$(request_with_token http://127.0.0.1:9 "$sock")" = 200 ] || { echo "never-accepted"; return; }
  start=$(now_ms)
  "$@"
  for _ in $(seq 500); do
    status=$(request_with_token http://127.0.0.1:9 "$sock")
    [ "$status" != 200 ] && break
    sleep 0.01
  done
  echo $(($(now_ms) - start))
}
ms=$(refused_after_ms kill -KILL "$(master_pid)")
info "token refused ${ms} ms after the master ssh was killed"
check "master killed: the token is refused within 1 s ($ms ms)" eval '[[ $ms =~ ^[0-9]+$ ]] && [ "$ms" -lt 1000 ]'
wait "$probe_pid"; rc=$?
check "master killed: claude-keyring ssh ends ($rc) saying so, its control directory gone" \
  eval '[ "$rc" = 255 ] && grep -qx "claude-keyring: the connection to $DEST was closed; its session has ended" "$err" &&
        ! control_dirs_left && [ "$(sessions)" = 0 ]'
check "master killed: the remote command is hung up" eval 'sleep 1; [ -z "$(user_processes)" ]'

# The same from the server's side: sshd's process of the connection.
start_probe
sshd_session=$(ps -o pid=,args= -u "$SSH_USER" | awk -v u="$SSH_USER" '$2 == "sshd:" && index($3, u "@") == 1 { print $1; exit }')
ms=$(refused_after_ms kill "$sshd_session")
info "token refused ${ms} ms after sshd's session was killed"
check "sshd's session killed: the token is refused within 1 s ($ms ms)" \
  eval '[ -n "$sshd_session" ] && [[ $ms =~ ^[0-9]+$ ]] && [ "$ms" -lt 1000 ]'
wait "$probe_pid"
check "sshd's session killed: master and control directory gone" \
  eval 'sleep 0.5; [ -z "$(master_pid)" ] && ! control_dirs_left'
unset token

# --- an sshd without TCP forwarding -------------------------------------------

start=$(now_ms)
timeout 20 "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$NOFWD_PORT" "$DEST" -- true </dev/null >"$out" 2>"$err"
rc=$? elapsed=$(($(now_ms) - start))
info "AllowTcpForwarding no: exit $rc after $elapsed ms"
check "AllowTcpForwarding no: one line naming the setting, exit $rc, within 10 s ($elapsed ms)" \
  eval '[ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$elapsed" -lt 10000 ] && [ "$(wc -l <"$err")" = 1 ] &&
        grep -qx "claude-keyring: $DEST does not allow remote port forwarding (sshd_config: AllowTcpForwarding): ask its administrator to set it to yes or remote" "$err"'
check "AllowTcpForwarding no: nothing left" \
  eval '[ "$(sessions)" = 0 ] && [ -z "$(master_pid)" ] && ! control_dirs_left'

# --- the remote account's login shell -------------------------------------------

# Whatever the shell and however chatty its startup files, the token
# arrives; a startup file that reads its input gets one line, not a hang.
mkdir -p "$SSH_HOME/.config/fish"
echo 'echo startup-out; echo startup-err >&2' | tee "$SSH_HOME/.bashrc" "$SSH_HOME/.zshenv" \
  "$SSH_HOME/.config/fish/config.fish" >/dev/null
chown -R "$SSH_UID:$SSH_GID" "$SSH_HOME/.bashrc" "$SSH_HOME/.zshenv" "$SSH_HOME/.config"
for shell in /bin/bash /bin/zsh /usr/bin/fish; do
  if [ ! -x "$shell" ]; then echo "ok - login shell $shell # SKIP not installed"; continue; fi
  usermod -s "$shell" "$SSH_USER"
  "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- sh -c 'IFS= read -r t <&3; echo "${#t}"' \
    </dev/null >"$out" 2>"$err"; rc=$?
  check "login shell $shell, chatty startup files: the token arrives ($rc)" \
    eval '[ "$rc" = 0 ] && [ "$(tail -n 1 "$out")" = 43 ] && no_issued_token_in "$(cat "$out" "$err")"'
done
usermod -s /bin/bash "$SSH_USER"
echo 'cat >/dev/null' >"$SSH_HOME/.bashrc"
start=$(now_ms)
timeout 60 "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- true </dev/null >"$out" 2>"$err"
rc=$? elapsed=$(($(now_ms) - start))
check "a startup file that reads its input: one line after 20 s ($elapsed ms), exit $rc, nothing left" \
  eval '[ "$rc" = 1 ] && [ "$(wc -l <"$err")" = 1 ] && grep -q "did not start the session within 20 s" "$err" &&
        [ "$(sessions)" = 0 ] && [ -z "$(master_pid)" ] && ! control_dirs_left'
rm -rf "$SSH_HOME/.bashrc" "$SSH_HOME/.zshenv" "$SSH_HOME/.config/fish"
usermod -s /bin/sh "$SSH_USER"

# --- exit status and Ctrl-C, with a terminal and without -----------------------

TMUX_SOCKET=$CK_TEST_ROOT/tmux.sock
# in_tmux NAME COMMAND...: COMMAND in a new tmux window (a terminal on
# stdin and stdout); its exit status goes to $CK_TEST_ROOT/NAME.rc.
in_tmux () {
  local name=$1; shift
  rm -f "$CK_TEST_ROOT/$name.rc"
  tmux -S "$TMUX_SOCKET" new-session -d -s "$name" -x 150 -y 40 -- \
    bash -c '"$@"; echo $? >"$0"; sleep 600' "$CK_TEST_ROOT/$name.rc" "$@"
}
# pane_shows NAME REGEX: the pane shows REGEX within 30 s.
pane_shows () {
  local _
  for _ in $(seq 300); do
    tmux -S "$TMUX_SOCKET" capture-pane -p -t "$1" 2>/dev/null | grep -Eq "$2" && return 0
    sleep 0.1
  done
  return 1
}
# rc_of NAME: the exit status, once there (30 s at most).
rc_of () {
  local _
  for _ in $(seq 300); do [ -s "$CK_TEST_ROOT/$1.rc" ] && break; sleep 0.1; done
  cat "$CK_TEST_ROOT/$1.rc" 2>/dev/null
}

in_tmux int "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- \
  sh -c 'tty; trap "echo got-INT; exit 42" INT; echo ready; while :; do sleep 1; done'
check "terminal: the remote command has a terminal of its own" pane_shows int '^/dev/pts/[0-9]+'
pane_shows int '^ready' && tmux -S "$TMUX_SOCKET" send-keys -t int C-c
check "terminal: Ctrl-C reaches the remote command, its exit status 42 comes back ($(rc_of int))" \
  eval '[ "$(rc_of int)" = 42 ] && pane_shows int got-INT'
in_tmux three "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- sh -c 'exit 3'
check "terminal: exit 3 comes back as 3 ($(rc_of three))" test "$(rc_of three)" = 3

"$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- sh -c 'exit 3' </dev/null >"$out" 2>"$err"; rc=$?
check "no terminal: exit 3 comes back as 3 ($rc)" test "$rc" = 3
"$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- \
  sh -c 'trap "echo got-INT; exit 42" INT; echo ready; while :; do sleep 1; done' </dev/null >"$out" 2>"$err" &
pid=$!
for _ in $(seq 200); do grep -q ready "$out" && break; sleep 0.05; done
kill -INT "$pid"; wait "$pid"; rc=$?
check "no terminal: SIGINT reaches the remote command, its exit status 42 comes back ($rc)" \
  eval '[ "$rc" = 42 ] && grep -qx got-INT "$out"'
"$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- sleep 100 </dev/null >"$out" 2>"$err" &
pid=$!
# The command itself: the lifeline's watchdog is a "sleep" of the user too,
# there from before the hand-over.
for _ in $(seq 200); do ps -o args= -u "$SSH_USER" | grep -qx "sleep 100" && break; sleep 0.05; done
kill -TERM "$pid"; wait "$pid"; rc=$?
all_gone () {
  [ -z "$(user_processes)" ] && [ "$(sessions)" = 0 ] && [ -z "$(master_pid)" ] && ! control_dirs_left
}
for _ in $(seq 50); do all_gone && break; sleep 0.1; done
check "no terminal: SIGTERM ends the remote command ($rc), the session, the master" \
  eval '[ "$rc" = 143 ] && [ -z "$(user_processes)" ] &&
        [ "$(sessions)" = 0 ] && [ -z "$(master_pid)" ] && ! control_dirs_left'

# --- --persist -----------------------------------------------------------------

# Scripts of the remote user: persist-probe.sh prints what the shell got,
# and either starts late.sh in the background (detached, as a process in
# tmux would be) or lets it run claude and waits for it.
cat >"$SSH_HOME/persist-probe.sh" <<'SCRIPT'
echo "base=$ANTHROPIC_BASE_URL"
printf %s "$CLAUDE_CODE_OAUTH_TOKEN" | sha256sum | cut -d' ' -f1
case $1 in
  start) setsid sh "$HOME/late.sh" "$2" </dev/null >/dev/null 2>&1 & ;;
  wait) touch "$HOME/go"; i=0
        while [ ! -s "$HOME/late.rc" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done ;;
esac
SCRIPT
cat >"$SSH_HOME/late.sh" <<SCRIPT
while [ ! -e "\$HOME/go" ]; do sleep 0.1; done
${REMOTE_ENV[*]} "\$1" -p ping >"\$HOME/late.out" 2>"\$HOME/late.err"
echo \$? >"\$HOME/late.rc"
SCRIPT
chown "$SSH_UID:$SSH_GID" "$SSH_HOME/persist-probe.sh" "$SSH_HOME/late.sh"

stop_api
start_api --oauth-server "$CK_OAUTH_BASE"
run_claude -- "$CK_CLI" ssh --persist "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- \
  sh persist-probe.sh start "$REMOTE_CLAUDE"
first_base=$(sed -n 's/^base=//p' "$out") first_hash=$(sed -n 2p "$out")
sessions_listed=$(ck_call ListGatewaySessions)
check "persist: the first connection's shell got the base URL and the token in its environment" \
  eval '[ "$rc" = 0 ] && [[ $first_base =~ ^http://127\.0\.0\.1:[0-9]+$ ]] &&
        [[ $sessions_listed == *"'"'token-sha256'"': <'"'$first_hash'"'>"* ]]'
check "persist: the session stays, not connected, with its remote port" \
  eval '[[ $sessions_listed == *"'"'connected'"': <false>"* ]] &&
        [[ $sessions_listed == *"'"'remote-port'"': <uint32 ${first_base##*:}>"* ]]'
check "persist: meanwhile the remote port refuses connections" \
  eval '[ "$(as_user curl -s -o /dev/null -w "%{http_code}" --max-time 5 "$first_base/v1/models")" = 000 ]'
run_claude -- "$CK_CLI" ssh --persist "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- \
  sh persist-probe.sh wait
check "persist: the next connection gets the same remote port and token" \
  eval '[ "$rc" = 0 ] && [ "$(sed -n "s/^base=//p" "$out")" = "$first_base" ] && [ "$(sed -n 2p "$out")" = "$first_hash" ]'
check "persist: claude started in the first connection works in the next ($(cat "$SSH_HOME/late.rc" 2>/dev/null))" \
  eval '[ "$(cat "$SSH_HOME/late.rc" 2>/dev/null)" = 0 ] && grep -qx pong "$SSH_HOME/late.out" &&
        all_requests_match "^POST /v1/messages 200 x-api-key=absent authorization=bearer-other anthropic-beta=oauth$"'

# Without a command: the login shell, in a terminal, with the session.
in_tmux login "$CK_CLI" ssh --persist "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST"
pane_shows login '^\$ ?$' && tmux -S "$TMUX_SOCKET" send-keys -t login \
  'echo "port=${ANTHROPIC_BASE_URL##*:} length=${#CLAUDE_CODE_OAUTH_TOKEN}"; exit 5' Enter
check "persist: without a command, the login shell has the session ($(rc_of login))" \
  eval 'pane_shows login "^port=${first_base##*:} length=43" && [ "$(rc_of login)" = 5 ]'
persistent_id=$(ck_call ListGatewaySessions | grep -o "'id': <'[^']*'>" | head -n 1 | cut -d"'" -f4)
ck_call CloseGatewaySession "$persistent_id" >/dev/null

# --- an API key; no claude on the remote host ----------------------------------

stop_api
store_api_key
start_api --accept "$KEY" --tool-sleep 3
start_claude "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" -- "${REMOTE_ENV[@]}" "$REMOTE_CLAUDE" \
  -p "Wait a while, then say so." --allowedTools "Bash(python3:*)"
claude_pid=$(remote_claude_pid)
environ=$(tr '\0' '\n' <"/proc/$claude_pid/environ" 2>/dev/null)
finish_claude 600
check "api key: remote claude finished with the answer (exit $rc)" eval '[ "$rc" = 0 ] && grep -qx slept "$out"'
check "api key: every request reached the API with the stored key as x-api-key only" \
  eval 'requests_ok api-key && all_requests_match "^POST /v1/messages 200 x-api-key=expected authorization=absent " --expect "$KEY"'
check "api key: remote claude was told of a key on fd 3, and never had the key" \
  eval '[ -n "$claude_pid" ] && grep -qx CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR=3 <<<"$environ" &&
        ! grep -q "$KEY" <<<"$environ" && ! user_files_hold -F -f - <<<"$KEY"'

if as_user sh -c 'command -v claude' >/dev/null 2>&1; then
  echo "ok - no claude on the remote host: exit 127 and a hint # SKIP the remote user has a claude in PATH"
else
  "$CK_CLI" ssh "${SSH_OPTS[@]}" -p "$SSH_PORT" "$DEST" </dev/null >"$out" 2>"$err"; rc=$?
  check "no claude on the remote host: exit 127 and a hint ($rc)" \
    eval '[ "$rc" = 127 ] && grep -q "claude-keyring: claude was not found on $DEST: install Claude Code there" "$err"'
fi

check "nothing left: no session, master or control directory" \
  eval '[ "$(sessions)" = 0 ] && [ -z "$(master_pid)" ] && ! control_dirs_left &&
        [ -z "$(user_processes)" ] && [ -z "$(user_tmp_files)" ]'

e2e_exit
