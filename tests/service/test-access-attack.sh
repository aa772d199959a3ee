#!/bin/bash
# Callers an outside review found the access check took for unsandboxed
# ones (both failed before the namespace and start-time checks):
#  1. A sandbox that keeps the host's root directory (bwrap --ro-bind / /,
#     firejail's default, unshare -m): only its namespaces differ.
#  2. A sandboxed process that connects, hands its connection to a child
#     and exits: the bus keeps the connect-time PID, which an unsandboxed
#     process of the same user then gets (here through ns_last_pid, which
#     stands in for cycling PIDs); pidfd_open() pins the wrong process.
set -uo pipefail
. "$CK_SOURCE_ROOT/tests/support/ck-sandbox.sh"
dest=(--session --dest io.github.claudekeyring.ClaudeKeyring
      --object-path /io/github/claudekeyring/ClaudeKeyring)
m=io.github.claudekeyring.Credentials1
failures=0
pass () { echo "ok - $1"; }
fail () { echo "not ok - $1"; failures=$((failures + 1)); }
gdbus call "${dest[@]}" --method $m.SetApiKey fake-key-attack >/dev/null

out=$(bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs "$HOME" --unshare-pid \
        --unshare-net --die-with-parent gdbus call "${dest[@]}" --method $m.GetCredential '{}' 2>&1)
if [[ $out == *AccessDenied* && $out != *fake-key-attack* ]]; then
  pass "a bwrap sandbox over the host's root is refused"
else
  fail "a bwrap sandbox over the host's root is refused"
fi

if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/kernel/ns_last_pid ]; then
  cp "$CK_SOURCE_ROOT/tests/support/ck-handoff-caller.py" "$CK_TEST_ROOT/run/h.py"
  go=$CK_TEST_ROOT/run/go
  ck_sandbox plain python3 "$CK_TEST_ROOT/run/h.py" "$go" >"$CK_TEST_ROOT/h.out" 2>&1 &
  for _ in $(seq 50); do [ -s "$CK_TEST_ROOT/h.out" ] && break; sleep 0.1; done
  pid=$(head -1 "$CK_TEST_ROOT/h.out"); sleep 0.5
  # Others fork too (a busy machine): try a few times.
  for _ in $(seq 20); do
    echo $((pid - 1)) >/proc/sys/kernel/ns_last_pid
    sleep 30 & other=$!
    [ "$other" = "$pid" ] && break
    kill $other
  done
  touch "$go"
  for _ in $(seq 100); do [ "$(wc -l <"$CK_TEST_ROOT/h.out")" -ge 2 ] && break; sleep 0.1; done
  kill $other
  if [ "$other" = "$pid" ] && ! grep -q REPLY-HAS-KEY "$CK_TEST_ROOT/h.out"; then
    pass "a sandbox's handed-off connection is refused after its PID is reused"
  elif [ "$other" != "$pid" ]; then
    echo "ok - # SKIP the PID was not reused ($other, not $pid)"
  else
    fail "a sandbox's handed-off connection is refused after its PID is reused"
  fi
else
  echo "ok - # SKIP PID reuse needs root (ns_last_pid)"
fi
exit $((failures > 0))
