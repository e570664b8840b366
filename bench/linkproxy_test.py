#!/usr/bin/env python3
"""Self-test of bench/linkproxy.py against a small in-process registry stand-in (its blob
answers HEAD, GET and Range like the distribution registry; one manifest comes chunked):

- a blob fetched through the 307 and the CDN is byte-identical; Range gives a 206 slice; HEAD
  gives the length and no body; a tampered CDN signature is refused (403); a missing blob is
  a 404, not a redirect;
- chunked and Content-Length answers pass unchanged; keep-alive: several requests on one
  client connection use one upstream connection;
- every request waits the round trip, a new connection one more;
- the rate cap holds within +-10 %, for one connection and for four sharing the link, at
  80 Mbit/s and at 1 Gbit/s (the fast case also shows the proxy itself keeps up);
- the counters: blob bytes served equal the bytes fetched.

  python3 bench/linkproxy_test.py        # exit 0 when everything holds, ~20 s
"""
import hashlib
import http.client
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
BLOB = os.urandom(32 << 20)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
MANIFEST = json.dumps({"schemaVersion": 2, "layers": [{"digest": DIGEST, "size": len(BLOB)}]}).encode()
upstream_connections = 0
failures = []


class Registry(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global upstream_connections
        upstream_connections += 1
        super().setup()

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=(), send_body=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET(send_body=False)

    def do_GET(self, send_body=True):
        if self.path == "/v2/":
            return self.reply(200, b"{}", send_body=send_body)
        if self.path == f"/v2/test/blobs/{DIGEST}":
            rng = self.headers.get("Range")
            if rng:
                start, end = (int(x) for x in rng.removeprefix("bytes=").split("-"))
                return self.reply(206, BLOB[start:end + 1], [("Content-Range", f"bytes {start}-{end}/{len(BLOB)}")],
                                  send_body)
            return self.reply(200, BLOB, [("Docker-Content-Digest", DIGEST)], send_body)
        if self.path == "/v2/test/manifests/latest":
            return self.reply(200, MANIFEST, [("Content-Type", "application/json")], send_body)
        if self.path == "/v2/test/manifests/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (MANIFEST[:10], MANIFEST[10:50], MANIFEST[50:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return None
        return self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', send_body=send_body)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def start_proxy(upstream, rtt_ms, mbit):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "linkproxy.py"), "--upstream", upstream,
                             "--rtt-ms", str(rtt_ms), "--mbit", str(mbit)], stdout=subprocess.PIPE, text=True)
    ports = json.loads(proc.stdout.readline())
    return proc, ports["port"], ports["cdn_port"]


def get(conn, path, headers=None, method="GET"):
    conn.request(method, path, headers=headers or {})
    r = conn.getresponse()
    return r, r.read()


def fetch_blob(port, out, i):
    """Fetch the blob through the redirect; record (bytes, seconds of body transfer)."""
    c = http.client.HTTPConnection("127.0.0.1", port)
    r, _ = get(c, f"/v2/test/blobs/{DIGEST}")
    loc = urllib.parse.urlsplit(r.getheader("Location"))
    cdn = http.client.HTTPConnection(loc.hostname, loc.port)
    cdn.request("GET", f"{loc.path}?{loc.query}")
    resp = cdn.getresponse()
    start = time.monotonic()
    body = resp.read()
    out[i] = (body, time.monotonic() - start, start)


def rate_case(port, mbit, parallel):
    out = [None] * parallel
    threads = [threading.Thread(target=fetch_blob, args=(port, out, i)) for i in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = min(s for _, _, s in out)
    last = max(s + d for _, d, s in out)
    got = sum(len(b) for b, _, _ in out) * 8 / (last - first) / 1e6
    check(all(b == BLOB for b, _, _ in out), f"{parallel} x blob through 307 + CDN byte-identical")
    check(abs(got - mbit) <= 0.1 * mbit, f"{parallel} connection(s) at {mbit} Mbit/s cap: {got:.1f} Mbit/s (+-10 %)")


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f"127.0.0.1:{server.server_address[1]}"
    rtt = 50
    proc, port, cdn_port = start_proxy(upstream, rtt, 80)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port)
        t = time.monotonic()
        r, body = get(c, "/v2/test/manifests/latest")
        first = time.monotonic() - t
        t = time.monotonic()
        r2, body2 = get(c, "/v2/test/manifests/chunked")
        second = time.monotonic() - t
        check(r.status == 200 and body == MANIFEST, "Content-Length manifest passes unchanged")
        check(r2.status == 200 and body2 == MANIFEST and r2.getheader("Transfer-Encoding") == "chunked",
              "chunked manifest passes unchanged, still chunked")
        check(2 * rtt / 1000 <= first < 2 * rtt / 1000 + 0.1, f"first request on a new connection: {first * 1000:.0f} ms (2 RTT)")
        check(rtt / 1000 <= second < rtt / 1000 + 0.05, f"next request on the kept connection: {second * 1000:.0f} ms (1 RTT)")
        before = upstream_connections
        r, body = get(c, f"/v2/test/blobs/{DIGEST}", method="HEAD")
        check(r.status == 200 and body == b"" and r.getheader("Content-Length") == str(len(BLOB)),
              "HEAD blob: 200, length, no body")
        r, _ = get(c, f"/v2/test/blobs/{DIGEST}")
        loc = r.getheader("Location") or ""
        check(r.status == 307 and f":{cdn_port}/" in loc and "X-Amz-Signature=" in loc, f"GET blob: 307 to the CDN ({loc[:60]}...)")
        r, _ = get(c, "/v2/test/blobs/sha256:" + "0" * 64)
        check(r.status == 404, "GET of a missing blob: 404")
        check(upstream_connections == before, "keep-alive: one upstream connection for one client connection")
        u = urllib.parse.urlsplit(loc)
        cdn = http.client.HTTPConnection("127.0.0.1", cdn_port)
        r, body = get(cdn, f"{u.path}?{u.query}", {"Range": "bytes=1000-2999"})
        check(r.status == 206 and body == BLOB[1000:3000], "Range through the CDN: 206 and the right slice")
        tampered = u.query.replace("X-Amz-Signature=", "X-Amz-Signature=0")
        r, _ = get(cdn, f"{u.path}?{tampered}")
        check(r.status == 403, "tampered CDN signature: 403")
        get(c, "/__linkproxy/reset", method="POST")
        rate_case(port, 80, 1)
        rate_case(port, 80, 4)
        r, body = get(c, "/__linkproxy/stats")
        stats = json.loads(body)
        check(stats["blob_bytes"] == 5 * len(BLOB), f"stats: blob bytes {stats['blob_bytes']} = 5 x {len(BLOB)}")
        check(stats["requests"].get("blob-redirect") == 5 and stats["requests"].get("cdn-get") == 5,
              f"stats: requests {stats['requests']}")
    finally:
        proc.terminate()
        proc.wait()
    proc, port, _ = start_proxy(upstream, 0, 1000)
    try:
        rate_case(port, 1000, 4)
        rate_case(port, 1000, 8)
    finally:
        proc.terminate()
        proc.wait()
    server.shutdown()
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("linkproxy: all checks passed")


if __name__ == "__main__":
    main()
