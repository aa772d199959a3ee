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
#   With --oauth-server URL, a bearer token is also accepted when that
#   OAuth server (tests/support/fake-oauth-server.py) answers its
#   /api/oauth/profile with 200 for it: the access tokens it considers
#   valid at that moment, so a token that has expired gets 401 here.
#
#   With --tool-sleep N, a request that offers claude's Bash tool and holds
#   no tool_result yet is answered with a tool_use that runs
#   `python3 -c 'import time; time.sleep(N)'` (allow it with --allowedTools
#   "Bash(python3:*)"); the request that brings the tool_result back is
#   answered "slept". So one `claude -p` session makes a request N seconds
#   after the first.
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
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OAUTH_BETA = 'oauth-2025-04-20'
AUTH_HEADERS = ('x-api-key', 'authorization', 'anthropic-beta')


class FakeApi(ThreadingHTTPServer):
    daemon_threads = True
    # Many short-lived test servers in a row: let the port be reused.
    allow_reuse_address = True

    def __init__(self, address, accept, log_path, delay, oauth_server=None,
                 tool_sleep=None):
        super().__init__(address, Handler)
        self.accept = set(accept)
        self.log_path = log_path
        self.delay = delay
        self.oauth_server = oauth_server
        self.tool_sleep = tool_sleep
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

    def oauth_valid(self, token):
        """Whether the OAuth server takes @token as a valid access token now."""
        if not self.server.oauth_server or not token:
            return False
        request = urllib.request.Request(
            self.server.oauth_server + '/api/oauth/profile',
            headers={'Authorization': 'Bearer ' + token})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def authorized(self):
        if not self.server.accept and not self.server.oauth_server:
            return True
        key = self.headers.get('x-api-key')
        token = bearer_token(self.headers.get('authorization'))
        return (key in self.server.accept or token in self.server.accept
                or self.oauth_valid(token))

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
            'tool_result': any(
                isinstance(m, dict) and isinstance(m.get('content'), list) and any(
                    isinstance(b, dict) and b.get('type') == 'tool_result'
                    for b in m['content'])
                for m in request.get('messages') or []),
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

    def tool_to_run(self, request):
        """The Bash tool_use to answer with (--tool-sleep), or None."""
        if self.server.tool_sleep is None:
            return None
        tools = request.get('tools') or []
        if not any(isinstance(t, dict) and t.get('name') == 'Bash' for t in tools):
            return None
        for message in request.get('messages') or []:
            content = message.get('content') if isinstance(message, dict) else None
            if isinstance(content, list) and any(
                    isinstance(b, dict) and b.get('type') == 'tool_result' for b in content):
                return None
        return {'type': 'tool_use', 'id': 'toolu_fake_%d' % self.server.counter,
                'name': 'Bash',
                'input': {'command': "python3 -c 'import time; time.sleep(%g)'"
                                     % self.server.tool_sleep,
                          'description': 'Wait a while'}}

    def answer_messages(self, request):
        model = request.get('model') or 'claude-fake-1'
        message_id = 'msg_fake_%d' % self.server.counter
        usage = {'input_tokens': 3, 'output_tokens': 1,
                 'cache_creation_input_tokens': 0,
                 'cache_read_input_tokens': 0}
        tool = self.tool_to_run(request)
        text = 'pong'
        if self.server.tool_sleep is not None and tool is None and request.get('tools'):
            text = 'slept'
        block = tool if tool is not None else {'type': 'text', 'text': text}
        stop_reason = 'tool_use' if tool is not None else 'end_turn'
        if not request.get('stream'):
            self.send_json(200, {
                'id': message_id, 'type': 'message', 'role': 'assistant',
                'model': model,
                'content': [block],
                'stop_reason': stop_reason, 'stop_sequence': None,
                'usage': usage,
            })
            return

        if tool is not None:
            start = dict(tool, input={})
            delta = {'type': 'input_json_delta',
                     'partial_json': json.dumps(tool['input'])}
        else:
            start = {'type': 'text', 'text': ''}
            delta = {'type': 'text_delta', 'text': text}
        events = [
            ('message_start', {'type': 'message_start', 'message': {
                'id': message_id, 'type': 'message', 'role': 'assistant',
                'model': model, 'content': [], 'stop_reason': None,
                'stop_sequence': None, 'usage': usage}}),
            ('content_block_start', {'type': 'content_block_start', 'index': 0,
                                     'content_block': start}),
            ('ping', {'type': 'ping'}),
            ('content_block_delta', {'type': 'content_block_delta', 'index': 0,
                                     'delta': delta}),
            ('content_block_stop', {'type': 'content_block_stop', 'index': 0}),
            ('message_delta', {'type': 'message_delta',
                               'delta': {'stop_reason': stop_reason,
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
    parser.add_argument('--oauth-server', metavar='URL',
                        help='also accept the bearer tokens this OAuth server '
                             'takes as valid now (its /api/oauth/profile)')
    parser.add_argument('--tool-sleep', type=float, metavar='N',
                        help='answer a first request with a Bash tool_use '
                             'that sleeps N seconds')
    parser.add_argument('--report', metavar='LOG',
                        help='print a value-free summary of LOG and exit')
    parser.add_argument('--expect', action='append', default=[],
                        help='with --report: the credential a header should carry')
    parser.add_argument('--path-prefix', default='',
                        help='with --report: only requests under this path')
    args = parser.parse_args()

    if args.report:
        return report(args)

    server = FakeApi(('127.0.0.1', 0), args.accept, args.log, args.delay,
                     args.oauth_server, args.tool_sleep)
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
