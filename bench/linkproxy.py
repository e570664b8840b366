#!/usr/bin/env python3
"""A wide-area link in front of a registry, on loopback: an HTTP/1.1 proxy that

- adds --rtt-ms to every request (the request goes out and the answer's first byte comes back
  one round trip later; each redirect hop is a request of its own), and --connect-rtts round
  trips more before the first request of a new connection (the TCP handshake);
- caps the bytes it sends back to clients at --mbit with ONE token bucket shared by every
  connection of both listeners (the link, not each connection, is the limit);
- answers blob GETs (`GET /v2/<name>/blobs/sha256:<hex>`) with a 307 to a second listener, the
  "CDN", at a quay.io-like signed URL (`/quayio-production-s3/sha256/ab/<hex>?X-Amz-...`); the
  CDN checks the signature and expiry (403 otherwise) and serves the bytes from the registry,
  through the same delay and bucket. HEAD on a blob is answered by the registry, as quay does.

Everything else passes through unchanged: HEAD, Range (206), chunked and Content-Length
bodies in both directions, keep-alive (one upstream connection per client connection).
Request bodies (uploads) are delayed but not shaped: a mirror pulls from this side.

Not modelled: TCP slow start and per-connection windows (one connection can fill the link
once its request is answered), loss, TLS (add a round trip per connection with
--connect-rtts 2 for TLS 1.3).

Control, on the main listener, neither delayed nor shaped:
  GET /__linkproxy/stats   JSON: bytes sent (all, blob bodies from the CDN, manifests), requests
                           by kind, connections, first blob byte (epoch seconds), bytes sent per
                           --bin-ms since the last reset (the throughput curve)
  GET /__linkproxy/events  every request since the reset: [start s, end s, kind, path tail,
                           connection] (end: the last byte of the answer sent)
  POST /__linkproxy/reset  zero the counters and start a new curve

  bench/linkproxy.py --upstream 127.0.0.1:5000 --port 5001 --cdn-port 5002 --rtt-ms 40 --mbit 1000
Python 3.11 standard library only. Self-test: bench/linkproxy_test.py.
"""
import argparse
import asyncio
import calendar
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import time
import urllib.parse

HEAD_LIMIT = 64 * 1024          # largest request or response head accepted
CHUNK = 64 * 1024               # bytes moved per read
IDLE_TIMEOUT = 300              # seconds a connection may wait for its next request
MAX_REQUESTS = 1_000_000        # requests per connection before it is closed
MAX_INFORMATIONAL = 8           # 1xx answers skipped before the final one
MAX_EVENTS = 200_000            # requests remembered for /__linkproxy/events
SIGNED_FOR = 600                # seconds a CDN URL stays valid
BUCKET = "quayio-production-s3"
BLOB_PATH = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")
CDN_PATH = re.compile(r"^/" + BUCKET + r"/sha256/[0-9a-f]{2}/([0-9a-f]{64})$")
MANIFEST_PATH = re.compile(r"^/v2/.+/manifests/[^/]+$")


class Bucket:
    """A token bucket: `rate` bytes a second (None: unlimited), `burst` bytes of credit.
    Senders queue in FIFO order on one lock; a sender takes its bytes, going into debt, and
    sleeps the debt off while holding the lock, so the long-run rate is exact and every
    connection gets its turn."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n):
        if not self.rate:
            return
        async with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= n
            if self.tokens < 0:
                await asyncio.sleep(-self.tokens / self.rate)


class Stats:
    def __init__(self, bin_s):
        self.bin_s = bin_s
        self.reset()

    def reset(self):
        self.since = time.time()
        self.t0 = time.monotonic()
        self.bytes_sent = 0
        self.blob_bytes = 0
        self.manifest_bytes = 0
        self.requests = {}
        self.connections = 0
        self.first_blob_byte = None
        self.bins = []
        self.events = []
        self.last_kind = ""

    def count(self, kind):
        self.requests[kind] = self.requests.get(kind, 0) + 1
        self.last_kind = kind

    def event(self, t0, t1, kind, what, conn):
        if len(self.events) < MAX_EVENTS:
            self.events.append((round(t0 - self.t0, 4), round(t1 - self.t0, 4), kind, what, conn))

    def sent(self, n, blob=False, manifest=False):
        self.bytes_sent += n
        if blob:
            self.blob_bytes += n
            if self.first_blob_byte is None and n:
                self.first_blob_byte = time.time()
        if manifest:
            self.manifest_bytes += n
        i = int((time.monotonic() - self.t0) / self.bin_s)
        if i < 1_000_000:  # a curve of at most 1e6 bins
            if i >= len(self.bins):
                self.bins.extend([0] * (i + 1 - len(self.bins)))
            self.bins[i] += n

    def as_json(self):
        return {
            "since": self.since, "bin_s": self.bin_s, "bytes_sent": self.bytes_sent,
            "blob_bytes": self.blob_bytes, "manifest_bytes": self.manifest_bytes,
            "requests": self.requests, "connections": self.connections,
            "first_blob_byte": self.first_blob_byte, "bins": self.bins,
        }


class Head:
    """A parsed request or response head."""

    def __init__(self, first, headers):
        self.first, self.headers = first, headers

    def get(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def encode(self):
        lines = [self.first] + [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_head(reader, first=b""):
    """The next head (whose first byte, already read, is `first`), or None at a clean end of
    stream."""
    try:
        raw = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial and not first:
            return None
        raise
    lines = raw[:-4].decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return Head(lines[0], headers)


def body_kind(head, is_response, method=None):
    """('none'|'chunked'|'length'|'close', length)."""
    if is_response:
        status = int(head.first.split(" ", 2)[1])
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return "none", 0
    te = (head.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        return "chunked", 0
    cl = head.get("Content-Length")
    if cl is not None:
        return "length", int(cl)
    return ("close", 0) if is_response else ("none", 0)


class Link:
    def __init__(self, args):
        self.upstream_host, port = args.upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.rtt = args.rtt_ms / 1000.0
        self.connect_rtts = args.connect_rtts
        rate = args.mbit * 1e6 / 8 if args.mbit > 0 else None
        self.bucket = Bucket(rate, max(64 * 1024, int(rate * 0.02)) if rate else 0)
        self.stats = Stats(args.bin_ms / 1000.0)
        self.secret = secrets.token_bytes(16)
        self.cdn_base = None
        self.blob_repo = {}

    # -- moving bytes ------------------------------------------------------------------------

    async def send(self, writer, data, shaped, blob=False, manifest=False):
        if shaped:
            await self.bucket.take(len(data))
        writer.write(data)
        await writer.drain()
        if shaped:
            self.stats.sent(len(data), blob, manifest)

    async def copy_exact(self, reader, writer, n, shaped, **kind):
        while n > 0:
            data = await reader.read(min(n, CHUNK))
            if not data:
                raise ConnectionError("upstream body ended early")
            n -= len(data)
            await self.send(writer, data, shaped, **kind)

    async def copy_body(self, reader, writer, kind, length, shaped, **flags):
        if kind == "length":
            await self.copy_exact(reader, writer, length, shaped, **flags)
        elif kind == "chunked":
            while True:  # ends at the last chunk, or by an exception at end of stream
                line = await reader.readuntil(b"\r\n")
                size = int(line.split(b";", 1)[0].strip(), 16)
                await self.send(writer, line, shaped)
                if size == 0:
                    while True:  # trailers, up to the empty line
                        t = await reader.readuntil(b"\r\n")
                        await self.send(writer, t, shaped)
                        if t == b"\r\n":
                            return
                await self.copy_exact(reader, writer, size, shaped, **flags)
                await self.send(writer, await reader.readexactly(2), shaped)
        elif kind == "close":
            while True:  # until the upstream closes
                data = await reader.read(CHUNK)
                if not data:
                    return
                await self.send(writer, data, shaped, **flags)

    # -- serving -------------------------------------------------------------------------------

    async def serve(self, reader, writer, cdn):
        self.stats.connections += 1
        conn = ("cdn" if cdn else "api") + str(self.stats.connections)
        upstream = None
        try:
            if self.rtt and self.connect_rtts:
                await asyncio.sleep(self.rtt * self.connect_rtts)
            for _ in range(MAX_REQUESTS):
                first = await asyncio.wait_for(reader.read(1), IDLE_TIMEOUT)
                if not first:
                    return
                if first == b"\x16":
                    # A TLS handshake on this plain-HTTP port: answer as Go's server does, at
                    # once (a client probing for HTTPS falls back to HTTP on this answer).
                    if self.rtt:
                        await asyncio.sleep(self.rtt)
                    self.stats.count("tls-probe")
                    self.stats.event(time.monotonic(), time.monotonic(), "tls-probe", "", conn)
                    writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                    await writer.drain()
                    return
                head = await asyncio.wait_for(read_head(reader, first), IDLE_TIMEOUT)
                upstream, keep = await self.one(head, reader, writer, upstream, cdn, conn)
                if not keep:
                    return
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError,
                asyncio.LimitOverrunError):
            pass
        finally:
            for w in ([upstream[1]] if upstream else []) + [writer]:
                w.close()

    async def one(self, head, reader, writer, upstream, cdn, conn):
        """Answer one request, noting when it came and when its answer was sent; returns
        (upstream connection, keep the client connection)."""
        t0 = time.monotonic()
        target = head.first.split(" ", 2)[1]
        upstream, keep = await self.answer(head, reader, writer, upstream, cdn)
        if not target.startswith("/__linkproxy/"):
            self.stats.event(t0, time.monotonic(), self.stats.last_kind, target.split("?")[0][-24:], conn)
        return upstream, keep

    async def answer(self, head, reader, writer, upstream, cdn):
        method, target, version = head.first.split(" ", 2)
        path, _, query = target.partition("?")
        if not cdn and path.startswith("/__linkproxy/"):
            await self.control(path, head, reader, writer)
            return upstream, True
        kind, length = body_kind(head, False)
        if self.rtt:
            await asyncio.sleep(self.rtt)
        blob = BLOB_PATH.match(path)
        if cdn:
            found = self.cdn_target(path, query)
            if found is None:
                self.stats.count("cdn-refused")
                await self.copy_body(reader, writer, kind, length, False)
                await self.simple(writer, 403, b'{"error":"signature does not match or expired"}')
                return upstream, True
            self.stats.count("cdn-" + method.lower())
            head = Head(f"{method} {found} {version}", [(k, v) for k, v in head.headers])
            return await self.forward(head, reader, writer, upstream, kind, length, blob_body=True)
        if method == "GET" and blob:
            return await self.redirect(blob.group(1), blob.group(2), head, reader, writer, upstream, kind, length)
        self.stats.count(("manifest-" if MANIFEST_PATH.match(path) else "other-") + method.lower())
        return await self.forward(head, reader, writer, upstream, kind, length,
                                  manifest=bool(MANIFEST_PATH.match(path)))

    async def open_upstream(self, upstream):
        if upstream is None:
            upstream = await asyncio.open_connection(self.upstream_host, self.upstream_port, limit=HEAD_LIMIT)
        return upstream

    async def exchange(self, head, reader, upstream, kind, length):
        """Send a request upstream (reconnecting once if a kept connection was closed) and
        read the final answer's head. Returns (upstream, response head)."""
        for attempt in range(2):
            upstream = await self.open_upstream(upstream)
            ureader, uwriter = upstream
            try:
                uwriter.write(head.encode())
                await uwriter.drain()
                if kind != "none":
                    await self.copy_body(reader, uwriter, kind, length, False)
                method = head.first.split(" ", 1)[0]
                for _ in range(MAX_INFORMATIONAL):
                    resp = await read_head(ureader)
                    if resp is None:
                        raise ConnectionError("upstream closed")
                    if not resp.first.split(" ", 2)[1].startswith("1"):
                        return upstream, resp, method
                raise ConnectionError("too many informational answers")
            except ConnectionError:
                uwriter.close()
                upstream = None
                if attempt or kind != "none":
                    raise
        raise ConnectionError("unreachable")

    async def forward(self, head, reader, writer, upstream, kind, length, blob_body=False, manifest=False):
        upstream, resp, method = await self.exchange(head, reader, upstream, kind, length)
        rkind, rlength = body_kind(resp, True, method)
        await self.send(writer, resp.encode(), True)
        await self.copy_body(upstream[0], writer, rkind, rlength, True, blob=blob_body, manifest=manifest)
        upstream_keep = rkind != "close" and (resp.get("Connection") or "").lower() != "close"
        if not upstream_keep:
            upstream[1].close()
            upstream = None
        client_keep = rkind != "close" and (head.get("Connection") or "").lower() != "close"
        return upstream, client_keep

    async def redirect(self, repo, digest, head, reader, writer, upstream, kind, length):
        """Quay's answer to a blob GET: the registry is asked whether the blob exists (HEAD),
        a missing one is a 404, an existing one a 307 to a signed CDN URL."""
        self.stats.count("blob-redirect")
        probe = Head(f"HEAD /v2/{repo}/blobs/{digest} HTTP/1.1", [(k, v) for k, v in head.headers
                                                                  if k.lower() not in ("range", "content-length")])
        upstream, resp, _ = await self.exchange(probe, reader, upstream, kind, length)
        status = int(resp.first.split(" ", 2)[1])
        if status != 200:
            await self.simple(writer, status, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
            return upstream, True
        hex_ = digest.split(":", 1)[1]
        self.blob_repo[hex_] = repo
        location = self.cdn_base + self.signed_path(hex_)
        await self.simple(writer, 307, b"", [("Location", location)])
        return upstream, True

    def signed_path(self, hex_, stamp=None):
        stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = f"/{BUCKET}/sha256/{hex_[:2]}/{hex_}"
        query = urllib.parse.urlencode([
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", f"AKIALINKPROXYEXAMPLE/{stamp[:8]}/us-east-1/s3/aws4_request"),
            ("X-Amz-Date", stamp),
            ("X-Amz-Expires", str(SIGNED_FOR)),
            ("X-Amz-SignedHeaders", "host"),
        ])
        sig = hmac.new(self.secret, f"{path}?{query}".encode(), hashlib.sha256).hexdigest()
        return f"{path}?{query}&X-Amz-Signature={sig}"

    def cdn_target(self, path, query):
        """The registry path a CDN request stands for, or None when refused."""
        m = CDN_PATH.match(path)
        if not m or m.group(1) not in self.blob_repo:
            return None
        params = urllib.parse.parse_qs(query)
        stamp = (params.get("X-Amz-Date") or [""])[0]
        try:
            issued = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return None
        if time.time() - issued > SIGNED_FOR:
            return None
        want = self.signed_path(m.group(1), stamp)
        if not hmac.compare_digest(want, f"{path}?{query}"):
            return None
        return f"/v2/{self.blob_repo[m.group(1)]}/blobs/sha256:{m.group(1)}"

    async def simple(self, writer, status, body, headers=()):
        reason = {200: "OK", 307: "Temporary Redirect", 403: "Forbidden", 404: "Not Found"}.get(status, "Status")
        head = Head(f"HTTP/1.1 {status} {reason}", [
            ("Content-Length", str(len(body))), ("Content-Type", "application/json"),
            ("Docker-Distribution-Api-Version", "registry/2.0"), *headers])
        await self.send(writer, head.encode() + body, True)

    async def control(self, path, head, reader, writer):
        kind, length = body_kind(head, False)
        await self.copy_body(reader, writer, kind, length, False)
        if path == "/__linkproxy/reset":
            self.stats.reset()
            body = b"{}"
        elif path == "/__linkproxy/stats":
            body = json.dumps(self.stats.as_json()).encode()
        elif path == "/__linkproxy/events":
            body = json.dumps(self.stats.events).encode()
        else:
            body = b'{"error":"unknown control path"}'
        writer.write(Head("HTTP/1.1 200 OK", [("Content-Length", str(len(body))),
                                              ("Content-Type", "application/json")]).encode() + body)
        await writer.drain()


async def main(args):
    link = Link(args)
    main_server = await asyncio.start_server(lambda r, w: link.serve(r, w, False), "127.0.0.1", args.port,
                                             limit=HEAD_LIMIT)
    cdn_server = await asyncio.start_server(lambda r, w: link.serve(r, w, True), "127.0.0.1", args.cdn_port,
                                            limit=HEAD_LIMIT)
    port = main_server.sockets[0].getsockname()[1]
    cdn_port = cdn_server.sockets[0].getsockname()[1]
    link.cdn_base = f"http://127.0.0.1:{cdn_port}"
    print(json.dumps({"port": port, "cdn_port": cdn_port}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    os._exit(0)  # open connections die with the process: no cancellation noise


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="registry host:port (plain HTTP)")
    p.add_argument("--port", type=int, default=0, help="main listener port (0: any free)")
    p.add_argument("--cdn-port", type=int, default=0, help="CDN listener port (0: any free)")
    p.add_argument("--rtt-ms", type=float, default=0.0, help="round trip added to every request")
    p.add_argument("--connect-rtts", type=int, default=1, help="round trips before a new connection's first request")
    p.add_argument("--mbit", type=float, default=0.0, help="link bandwidth in Mbit/s (0: unlimited)")
    p.add_argument("--bin-ms", type=float, default=100.0, help="width of a throughput-curve bin")
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
