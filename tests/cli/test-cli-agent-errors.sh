#!/bin/bash
# When the agent cannot be reached or does not answer, the client says so
# in one line and does not hang.
. "$(dirname "$0")/cli-lib.sh"

# A bus where nothing can activate the agent.
conf=$CK_TEST_ROOT/empty-bus.conf
mkdir -p "$CK_TEST_ROOT/no-services"
cat >"$conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$CK_TEST_ROOT/run</listen>
  <servicedir>$CK_TEST_ROOT/no-services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF

for command in token status logout; do
  status=0
  dbus-run-session --config-file="$conf" -- "$CK_CLI" "$command" >"$out" 2>"$err.all" || status=$?
  # dbus-daemon itself may log to the same stderr.
  grep -v '^dbus-daemon' "$err.all" >"$err" || true
  expect_status 1 "$command without an agent"
  expect_empty_stdout "$command without an agent"
  expect_one_error_line "$command without an agent"
  grep -q 'agent is not installed or could not start' "$err" ||
    fail "$command without an agent does not say the agent is missing"
done

# No session bus at all.
DBUS_SESSION_BUS_ADDRESS=unix:path=$CK_TEST_ROOT/no-such-socket run token
expect_status 1 "token without a session bus"
expect_empty_stdout "token without a session bus"
expect_one_error_line "token without a session bus"
grep -q 'session bus' "$err" || fail "the error does not name the session bus"

# An agent that hangs: token gives up after its bound.
echo -n some-key | "$CK_CLI" set-api-key 2>/dev/null || fail "set-api-key failed"
run token
expect_status 0 "token before the agent is stopped"
# Let the agent finish re-reading the keyring after the change, so that
# the stop below freezes an idle agent.
sleep 1
pid=$(agent_pid)
kill -STOP "$pid"
start=$(date +%s)
run token
kill -CONT "$pid"
elapsed=$(($(date +%s) - start))
expect_status 1 "token with a stopped agent"
expect_empty_stdout "token with a stopped agent"
expect_one_error_line "token with a stopped agent"
grep -q 'did not answer within 20 s' "$err" || fail "the timeout is not reported as such"
[ "$elapsed" -le 25 ] || fail "token waited ${elapsed}s for a stopped agent"

# And it answers again afterwards (a keyring call the stop froze may time
# out first inside the agent).
for _ in $(seq 10); do
  run token
  [ "$status" -eq 0 ] && break
  sleep 1
done
expect_status 0 "token once the agent runs again"

echo "ok"
