#!/usr/bin/env python3
# logging-proxy.py: a forward HTTP proxy on 127.0.0.1 that records where a
# client (the real `claude`, with HTTPS_PROXY/HTTP_PROXY pointing here)
# tries to go, and lets it go nowhere but loopback: the tests run without
# a network, and what matters is the attempt.
#
#   logging-proxy.py --port-file FILE --log FILE [--raw FILE] [--mitm DIR]
#
#   CONNECT host:port        logged; tunnelled when host is loopback,
#                            otherwise answered 502 (or, with --mitm, 200
#                            and then TLS terminated here: see below).
#   METHOD http://host/path  (plain HTTP through the proxy) logged with
#                            whether Authorization, x-api-key or
#                            Proxy-Authorization was present (never their
#                            values), then answered 502.
#
#   --log gets one JSON line per request: kind ("connect" or "http"),
#   method, host, port, path (plain HTTP, without the query), the header
#   presence flags and user-agent. A CONNECT tunnel is TLS: the proxy sees
#   the host and nothing of what goes through it.
#
#   --mitm DIR: DIR holds ca.pem and ca.key, a throwaway CA the client
#   trusts (claude: NODE_EXTRA_CA_CERTS=DIR/ca.pem). A CONNECT to another
#   host is then accepted and its TLS ended here with a certificate for
#   that host made on the spot (by the openssl command), so the requests
#   inside are logged like plain HTTP (kind "tls": method, host, path,
#   header presence) and answered 503. Nothing leaves the machine.
#
#   --raw gets every request head byte for byte (request line and headers,
#   values included) so that a test can search it for a secret it knows;
#   it is not meant to be printed.
#
# Python 3 standard library only.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import argparse
import ipaddress
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CREDENTIAL_HEADERS = ('authorization', 'x-api-key', 'proxy-authorization')


def is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def is_loopback(host):
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


class Proxy(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, log_path, raw_path, mitm_dir=None):
        super().__init__(address, Handler)
        self.log_path = log_path
        self.raw_path = raw_path
        self.mitm_dir = mitm_dir
        self.lock = threading.Lock()
        self.contexts = {}

    def tls_context(self, host):
        """A server-side TLS context with a certificate for @host signed by
        the --mitm CA, made once per host."""
        with self.lock:
            if host in self.contexts:
                return self.contexts[host]
            name = ''.join(c if c.isalnum() or c in '.-' else '_' for c in host)
            key = os.path.join(self.mitm_dir, name + '.key')
            cert = os.path.join(self.mitm_dir, name + '.pem')
            san = ('IP:' if is_ip(host) else 'DNS:') + host
            subprocess.run(
                ['openssl', 'req', '-x509', '-newkey', 'ec',
                 '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                 '-keyout', key, '-out', cert, '-days', '1',
                 '-subj', '/CN=' + host, '-addext', 'subjectAltName=' + san,
                 '-CA', os.path.join(self.mitm_dir, 'ca.pem'),
                 '-CAkey', os.path.join(self.mitm_dir, 'ca.key')],
                check=True, capture_output=True)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            # HTTP/1.1 only: that is what this handler reads.
            context.set_alpn_protocols(['http/1.1'])
            self.contexts[host] = context
            return context

    def record(self, entry, raw_head):
        with self.lock:
            if self.log_path:
                with open(self.log_path, 'a', encoding='utf-8') as log:
                    log.write(json.dumps(entry) + '\n')
            if self.raw_path:
                with open(self.raw_path, 'ab') as raw:
                    raw.write(raw_head + b'\n')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'logging-proxy/1'

    def log_message(self, format, *args):
        # Quiet: the JSON log is the record.
        pass

    def raw_head(self):
        return (self.raw_requestline
                + b''.join(('%s: %s\r\n' % (name, value)).encode('utf-8', 'replace')
                           for name, value in self.headers.items()))

    def entry(self, kind, host, port, path=None):
        entry = {
            'time': time.time(),
            'kind': kind,
            'method': self.command,
            'host': host,
            'port': port,
            'user-agent': self.headers.get('user-agent'),
        }
        if path is not None:
            entry['path'] = path
        for name in CREDENTIAL_HEADERS:
            entry[name] = self.headers.get(name) is not None
        return entry

    def refuse(self, status, message):
        body = (message + '\n').encode()
        self.send_response(status)
        self.send_header('content-type', 'text/plain')
        self.send_header('content-length', str(len(body)))
        self.send_header('connection', 'close')
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        self.close_connection = True

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(':')
        try:
            port = int(port)
        except ValueError:
            host, port = self.path, 443
        host = host.strip('[]')
        self.server.record(self.entry('connect', host, port), self.raw_head())
        if not is_loopback(host) and self.server.mitm_dir:
            self.terminate_tls(host, port)
            return
        if not is_loopback(host):
            self.refuse(502, 'logging-proxy: no network beyond loopback')
            return
        try:
            upstream = socket.create_connection((host, port), timeout=10)
        except OSError as error:
            self.refuse(502, 'logging-proxy: %s' % error)
            return
        self.send_response(200, 'Connection established')
        self.end_headers()
        self.wfile.flush()
        self.tunnel(upstream)

    def terminate_tls(self, host, port):
        """Ends the client's TLS here and logs each request inside."""
        try:
            context = self.server.tls_context(host)
        except (OSError, subprocess.CalledProcessError, ssl.SSLError):
            self.refuse(502, 'logging-proxy: cannot make a certificate')
            return
        self.send_response(200, 'Connection established')
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            conn = context.wrap_socket(self.connection, server_side=True)
        except (OSError, ssl.SSLError):
            return
        inner = TlsHandler.__new__(TlsHandler)
        inner.tls_host, inner.tls_port = host, port
        try:
            BaseHTTPRequestHandler.__init__(inner, conn, self.client_address, self.server)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def tunnel(self, upstream):
        client = self.connection
        sockets = [client, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 60)
                if not readable:
                    break
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()
            self.close_connection = True

    def do_any(self):
        url = urllib.parse.urlsplit(self.path)
        host = url.hostname or (self.headers.get('host') or '').rpartition(':')[0]
        port = url.port or (443 if url.scheme == 'https' else 80)
        self.server.record(self.entry('http', host, port, url.path or '/'),
                           self.raw_head())
        # A body the client sent is left unread: the connection closes.
        self.refuse(502, 'logging-proxy: plain HTTP is not forwarded')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_any


class TlsHandler(Handler):
    """The requests inside a CONNECT tunnel whose TLS the proxy ended."""

    def finish(self):
        # The socket is the tunnel's: closed by whoever made it.
        try:
            self.wfile.flush()
        except OSError:
            pass

    def do_any(self):
        url = urllib.parse.urlsplit(self.path)
        self.server.record(self.entry('tls', self.tls_host, self.tls_port, url.path or '/'),
                           self.raw_head())
        self.refuse(503, 'logging-proxy: no network beyond loopback')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_any

    def do_CONNECT(self):
        self.refuse(400, 'logging-proxy: CONNECT inside a tunnel')


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--port-file', help='write the port here once listening')
    parser.add_argument('--log', help='append one JSON line per request here')
    parser.add_argument('--raw', help='append every request head here, verbatim')
    parser.add_argument('--mitm', metavar='DIR',
                        help='end TLS here with certificates from the CA in DIR')
    args = parser.parse_args()

    server = Proxy(('127.0.0.1', 0), args.log, args.raw, args.mitm)
    port = server.server_address[1]
    if args.port_file:
        # Written atomically so a poller never reads half a number.
        tmp = args.port_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d\n' % port)
        os.rename(tmp, args.port_file)
    else:
        print(port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
