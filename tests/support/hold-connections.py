#!/usr/bin/env python3
"""Hold idle connections to a server and count the ones it drops.

usage: hold-connections.py PORT N [PAUSE]

Opens N TCP connections to 127.0.0.1:PORT (PAUSE seconds apart, so that
a server behind a forward takes them in turn), sending nothing, waits half a
second, prints how many the server has left open, and holds them until its
standard input ends. The tests run it as another user (setpriv), with the
text passed to python3 -c, as that user may not be able to read the tree.
"""

import resource
import select
import socket
import sys
import time


def is_open(conn):
    readable, _, _ = select.select([conn], [], [], 0)
    return not readable or conn.recv(1, socket.MSG_PEEK) != b""


# A test that lowered its own descriptor limit before starting us must
# not limit the count.
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

port, count = int(sys.argv[1]), int(sys.argv[2])
pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0
conns = []
for _ in range(count):
    conns.append(socket.create_connection(("127.0.0.1", port)))
    time.sleep(pause)
time.sleep(0.5)
print(sum(is_open(c) for c in conns), flush=True)
sys.stdin.read()
