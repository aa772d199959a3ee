#!/usr/bin/env python3
# fake-messages-api.py: a stand-in for the Anthropic API that the real
# `claude` can talk to (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT), so the
# end-to-end tests can see which credential claude sends, and how.
#
# Serve:
#   fake-messages-api.py --port-file FILE --log FILE [--accept CRED]...
#
#   POST /v1/messages answers "pong", as an SSE stream when the body asks
#   for "stream": true and as one JSON message otherwise. count_tokens
#   answers a small count, GET /v1/models a one-model list; every other
#   path is a 404 in the API's error shape. With --accept, a request whose
#   x-api-key or bearer token is not one of the accepted credentials gets
#   401 authentication_error; without it every request is accepted.
#
#   Each request is appended to the log as one JSON line: method, path,
#   status and the auth-relevant headers (x-api-key, authorization,
#   anthropic-beta). The credentials in tests are fake, but the log still
#   is not meant to be printed: use --report.
#
# Report (what tests print):
#   fake-messages-api.py --report LOG [--expect CRED]... [--path-prefix P]
#
#   One line per request telling, for each auth header, only whether it was
#   present and whether it equalled an expected credential; never a value.
#
# Python 3 standard library only.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OAUTH_BETA = 'oauth-2025-04-20'
AUTH_HEADERS = ('x-api-key', 'authorization', 'anthropic-beta')


class FakeApi(ThreadingHTTPServer):
    daemon_threads = True
    # Many short-lived test servers in a row: let the port be reused.
    allow_reuse_address = True

    def __init__(self, address, accept, log_path, delay):
        super().__init__(address, Handler)
        self.accept = set(accept)
        self.log_path = log_path
        self.delay = delay
        self.log_lock = threading.Lock()
        self.counter = 0

    def record(self, entry):
        with self.log_lock:
            self.counter += 1
            entry['n'] = self.counter
            if self.log_path:
                with open(self.log_path, 'a', encoding='utf-8') as log:
                    log.write(json.dumps(entry) + '\n')


def bearer_token(value):
    """The token of an "Authorization: Bearer TOKEN" value ("" for a bare
    "Bearer", which claude sends when its helper failed), else None."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(' ')
    if scheme.lower() != 'bearer':
        return None
    return token.strip()


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'fake-messages-api/1'

    def log_message(self, format, *args):
        # Quiet: the JSON log is the record.
        pass

    def read_body(self):
        if self.headers.get('transfer-encoding', '').lower() == 'chunked':
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    # Trailers end with an empty line.
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b''.join(chunks)
        length = int(self.headers.get('content-length') or 0)
        return self.rfile.read(length) if length > 0 else b''

    def send(self, status, content_type, body, extra_headers=()):
        self.send_response(status)
        self.send_header('content-type', content_type)
        self.send_header('content-length', str(len(body)))
        self.send_header('request-id', 'req_fake_%d' % self.server.counter)
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
            self.wfile.flush()

    def send_json(self, status, obj):
        self.send(status, 'application/json', json.dumps(obj).encode())

    def send_error_json(self, status, kind, message):
        self.send_json(status, {'type': 'error',
                                'error': {'type': kind, 'message': message}})

    def authorized(self):
        if not self.server.accept:
            return True
        key = self.headers.get('x-api-key')
        token = bearer_token(self.headers.get('authorization'))
        return key in self.server.accept or token in self.server.accept

    def handle_any(self):
        body = self.read_body()
        path = self.path.split('?', 1)[0]
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = {}
        if not isinstance(request, dict):
            request = {}

        entry = {
            'time': time.time(),
            'method': self.command,
            'path': self.path,
            'headers': {h: self.headers.get(h) for h in AUTH_HEADERS},
            'user-agent': self.headers.get('user-agent'),
            'stream': bool(request.get('stream')),
            'model': request.get('model'),
        }

        if path.startswith('/v1/') and not self.authorized():
            status, answer = 401, lambda: self.send_error_json(
                401, 'authentication_error', 'invalid x-api-key')
        elif self.command == 'POST' and path == '/v1/messages':
            status, answer = 200, lambda: self.answer_messages(request)
        elif self.command == 'POST' and path == '/v1/messages/count_tokens':
            status, answer = 200, lambda: self.send_json(200, {'input_tokens': 7})
        elif self.command == 'GET' and path == '/v1/models':
            status, answer = 200, lambda: self.send_json(200, {
                'data': [{'type': 'model', 'id': 'claude-fake-1',
                          'display_name': 'Fake',
                          'created_at': '2025-01-01T00:00:00Z'}],
                'has_more': False, 'first_id': 'claude-fake-1',
                'last_id': 'claude-fake-1'})
        else:
            status, answer = 404, lambda: self.send_error_json(
                404, 'not_found_error', 'Not found')

        # Logged on arrival, before any delay, so a test can look at the
        # client while its request is still open.
        entry['status'] = status
        self.server.record(entry)
        if self.server.delay:
            time.sleep(self.server.delay)
        answer()

    def answer_messages(self, request):
        model = request.get('model') or 'claude-fake-1'
        message_id = 'msg_fake_%d' % self.server.counter
        usage = {'input_tokens': 3, 'output_tokens': 1,
                 'cache_creation_input_tokens': 0,
                 'cache_read_input_tokens': 0}
        if not request.get('stream'):
            self.send_json(200, {
                'id': message_id, 'type': 'message', 'role': 'assistant',
                'model': model,
                'content': [{'type': 'text', 'text': 'pong'}],
                'stop_reason': 'end_turn', 'stop_sequence': None,
                'usage': usage,
            })
            return

        events = [
            ('message_start', {'type': 'message_start', 'message': {
                'id': message_id, 'type': 'message', 'role': 'assistant',
                'model': model, 'content': [], 'stop_reason': None,
                'stop_sequence': None, 'usage': usage}}),
            ('content_block_start', {'type': 'content_block_start', 'index': 0,
                                     'content_block': {'type': 'text', 'text': ''}}),
            ('ping', {'type': 'ping'}),
            ('content_block_delta', {'type': 'content_block_delta', 'index': 0,
                                     'delta': {'type': 'text_delta', 'text': 'pong'}}),
            ('content_block_stop', {'type': 'content_block_stop', 'index': 0}),
            ('message_delta', {'type': 'message_delta',
                               'delta': {'stop_reason': 'end_turn',
                                         'stop_sequence': None},
                               'usage': {'output_tokens': 1}}),
            ('message_stop', {'type': 'message_stop'}),
        ]
        body = ''.join('event: %s\ndata: %s\n\n' % (name, json.dumps(data))
                       for name, data in events).encode()
        self.send(200, 'text/event-stream', body,
                  extra_headers=[('cache-control', 'no-cache')])

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def describe(name, value, expect):
    """Presence and equality only: never the value itself."""
    if value is None:
        return '%s=absent' % name
    if value.strip() == '':
        return '%s=empty' % name
    if name == 'anthropic-beta':
        betas = [b.strip() for b in value.split(',')]
        return '%s=%s' % (name, 'oauth' if OAUTH_BETA in betas else 'present-no-oauth')
    if name == 'authorization':
        token = bearer_token(value)
        if token is None:
            return '%s=present-not-bearer' % name
        if token == '':
            return '%s=bearer-empty' % name
        return '%s=bearer-%s' % (name, 'expected' if token in expect else 'other')
    return '%s=%s' % (name, 'expected' if value in expect else 'other')


def report(args):
    try:
        with open(args.report, encoding='utf-8') as log:
            lines = [json.loads(line) for line in log if line.strip()]
    except FileNotFoundError:
        lines = []
    for entry in lines:
        path = entry['path'].split('?', 1)[0]
        if args.path_prefix and not path.startswith(args.path_prefix):
            continue
        fields = [describe(h, entry['headers'].get(h), set(args.expect))
                  for h in AUTH_HEADERS]
        print('%s %s %d %s' % (entry['method'], path, entry['status'],
                               ' '.join(fields)))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--port-file', help='write the port here once listening')
    parser.add_argument('--log', help='append one JSON line per request here')
    parser.add_argument('--accept', action='append', default=[],
                        help='a credential to accept (repeatable)')
    parser.add_argument('--delay', type=float, default=0,
                        help='seconds to wait before each answer')
    parser.add_argument('--report', metavar='LOG',
                        help='print a value-free summary of LOG and exit')
    parser.add_argument('--expect', action='append', default=[],
                        help='with --report: the credential a header should carry')
    parser.add_argument('--path-prefix', default='',
                        help='with --report: only requests under this path')
    args = parser.parse_args()

    if args.report:
        return report(args)

    server = FakeApi(('127.0.0.1', 0), args.accept, args.log, args.delay)
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
