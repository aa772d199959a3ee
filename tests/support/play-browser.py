#!/usr/bin/env python3
"""Play the user's browser in an OAuth login (Python 3 stdlib only).

usage: play-browser.py URL [--stop-at-host-port-prefix PREFIX]...
                           [--print-code] [--no-callback] [--manual]
                           [--timeout SECONDS] [--max-hops N]

GETs URL (an authorize URL) with a cookie jar and follows redirects
(301/302/303/307/308) by hand.

Default: when a Location points at the loopback redirect, GET that URL (the
agent's loopback server receives the callback), print the final status and
the first 200 bytes of its page to stderr, and exit 0 if it was 2xx, 1
otherwise. A Location is "the loopback redirect" when it starts with one of
the --stop-at-host-port-prefix values (e.g. http://localhost:), or, without
that option, when it is an http URL on localhost / 127.0.0.1 / [::1] whose
origin differs from URL's origin.

--print-code   also print CODE#STATE, taken from the loopback redirect's
               query, on stdout.
--no-callback  stop at the loopback redirect without GETting it; print its
               URL on stdout (or CODE#STATE with --print-code); exit 0.
--manual       follow every redirect to the final page (the server's manual
               callback page), print CODE#STATE scraped from the element with
               id="code" on stdout; exit 0 if found, 1 otherwise.

Exit status 2 for usage errors and network failures.
"""

import argparse
import html.parser
import http.cookiejar
import sys
import urllib.error
import urllib.parse
import urllib.request

REDIRECTS = {301, 302, 303, 307, 308}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


class _NoRedirect(urllib.request.HTTPErrorProcessor):
    """Hand every response back as it is: no redirect following, no raise."""

    def http_response(self, request, response):
        return response

    https_response = http_response


class _CodeScraper(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.text = []
        self.found = False

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == "code" and not self.found:
            self.found = True
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def origin(url):
    p = urllib.parse.urlsplit(url)
    port = p.port or {"http": 80, "https": 443}.get(p.scheme)
    return (p.scheme, (p.hostname or "").lower(), port)


def is_loopback_redirect(location, start_url, prefixes):
    if prefixes:
        return any(location.startswith(prefix) for prefix in prefixes)
    p = urllib.parse.urlsplit(location)
    if p.scheme != "http" or (p.hostname or "").lower() not in LOOPBACK_HOSTS:
        return False
    return origin(location) != origin(start_url)


def code_state(url):
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    code = query.get("code", [""])[0]
    state = query.get("state", [""])[0]
    return f"{code}#{state}" if code else None


def describe(status, body):
    snippet = body[:200].decode("utf-8", "replace")
    print(f"play-browser: final status {status}", file=sys.stderr)
    print(f"play-browser: page: {snippet}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(
        usage=argparse.SUPPRESS, description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--stop-at-host-port-prefix", action="append",
                    default=[], metavar="PREFIX")
    ap.add_argument("--print-code", action="store_true")
    ap.add_argument("--no-callback", action="store_true")
    ap.add_argument("--manual", action="store_true")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--max-hops", type=int, default=20)
    args = ap.parse_args()

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    opener.addheaders = [("User-Agent", "play-browser/1 (claude-keyring tests)"),
                         ("Accept", "text/html,application/json;q=0.9,*/*;q=0.8")]

    def get(url):
        with opener.open(url, timeout=args.timeout) as resp:
            return resp.status, resp.headers, resp.read()

    url = args.url
    try:
        for _ in range(args.max_hops):
            status, headers, body = get(url)
            location = headers.get("Location")
            if status not in REDIRECTS or not location:
                break
            next_url = urllib.parse.urljoin(url, location)
            print(f"play-browser: {status} -> "
                  f"{urllib.parse.urlsplit(next_url).path}", file=sys.stderr)
            if not args.manual and is_loopback_redirect(
                    next_url, args.url, args.stop_at_host_port_prefix):
                if args.no_callback:
                    if args.print_code:
                        cs = code_state(next_url)
                        if cs is None:
                            print("play-browser: no code in the redirect",
                                  file=sys.stderr)
                            return 1
                        print(cs)
                    else:
                        print(next_url)
                    return 0
                if args.print_code:
                    cs = code_state(next_url)
                    if cs is not None:
                        print(cs)
                try:
                    status, _, body = get(next_url)
                except urllib.error.URLError as e:
                    print(f"play-browser: callback failed: {e.reason}",
                          file=sys.stderr)
                    return 1
                describe(status, body)
                return 0 if 200 <= status < 300 else 1
            url = next_url
        else:
            print("play-browser: too many redirects", file=sys.stderr)
            return 1
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        print(f"play-browser: request failed: {reason}", file=sys.stderr)
        return 2

    # A page that is not a redirect (or a redirect without Location).
    describe(status, body)
    if args.manual:
        scraper = _CodeScraper()
        scraper.feed(body.decode("utf-8", "replace"))
        text = "".join(scraper.text).strip()
        if 200 <= status < 300 and scraper.found and text:
            print(text)
            return 0
        print("play-browser: no element with id=\"code\" on the final page",
              file=sys.stderr)
        return 1
    print("play-browser: never redirected to the loopback callback",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
