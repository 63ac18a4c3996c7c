"""tests/console/strip_proxy.py -- a reverse proxy on loopback that serves `inquest serve` under a
path and strips that path before passing a request on, as a site's proxy does for
server.external_url https://ops.example.com/inquest (docs/console.md, "Behind a proxy").
For tests/console/browser; Python's standard library only.

    strip_proxy.py --prefix /inquest --upstream-file FILE --port-file FILE

Listens on 127.0.0.1, on a port of the kernel's choice, which it writes to --port-file once it
listens. A request for PREFIX/rest goes to http://127.0.0.1:PORT/rest, PORT read from
--upstream-file at each request (serve starts after the proxy: its external_url names the
proxy's port); anything outside PREFIX is 404 here. The Host header is passed on as the browser
sent it, and answers (redirects included) come back unchanged: serve itself must put the prefix
in what it sends.
"""
import argparse
import http.client
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prefix", required=True)
    p.add_argument("--upstream-file", required=True)
    p.add_argument("--port-file", required=True)
    return p.parse_args()


ARGS = parse_args()
PREFIX = ARGS.prefix.rstrip("/")


class StripProxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a browser expects of a proxy

    def log_message(self, fmt, *args):
        sys.stderr.write("strip_proxy: %s %s\n" % (self.address_string(), fmt % args))

    def forward(self):
        if not (self.path == PREFIX or self.path.startswith(PREFIX + "/") or self.path.startswith(PREFIX + "?")):
            self.answer(404, [("Content-Type", "text/plain")], b"not under the proxy's prefix\n")
            return
        rest = self.path[len(PREFIX):] or "/"
        if rest.startswith("?"):
            rest = "/" + rest
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        with open(ARGS.upstream_file) as f:
            port = int(f.read().strip())
        upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            upstream.request(self.command, rest, body=body, headers=headers)
            res = upstream.getresponse()
            self.answer(res.status, res.getheaders(), res.read())
        finally:
            upstream.close()

    def answer(self, status, headers, data):
        """Answers with 'status', the (name, value) pairs of 'headers' as they came (Set-Cookie may
        repeat) but those of this hop, and 'data'."""
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP | {"content-length", "date", "server"}:  # sent above
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = forward


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StripProxy)
    server.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
