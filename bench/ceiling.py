#!/usr/bin/env python3
"""The reference ceiling: the simplest parallel streaming copy of a release between two
registries (plain HTTP, no auth) -- every manifest read WORKERS at a time, then every unique
blob GET-streamed into a monolithic PUT, WORKERS at a time, largest first, then every
manifest PUT. A blob GET answered with a redirect (a CDN, as quay.io does) is followed once.
Each worker thread keeps one connection per host. No HEADs, no retries, no checks: what the
registries, the link and this machine allow. It starts from the plan, so it never reads the
release payload. Input: the mappings JSON of `kubectl-release_mirror --dry-run -o json`.

  ceiling.py PLAN.json [WORKERS]      (WORKERS: default 6, as --max-per-registry)"""
import concurrent.futures
import http.client
import json
import sys
import threading
import urllib.parse

ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])
_local = threading.local()


def split(ref):
    host, rest = ref.split("/", 1)
    return host, rest


def request(host, method, path, body=None, headers=None):
    """`method path` on this thread's kept connection to host; a connection the server closed
    while idle is reopened once (for a body that can be sent again)."""
    pool = _local.__dict__.setdefault("pool", {})
    for attempt in range(2):
        conn = pool.get(host)
        if conn is None:
            conn = pool[host] = http.client.HTTPConnection(host, timeout=600)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            return conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            conn.close()
            del pool[host]
            if attempt or not (body is None or isinstance(body, bytes)):
                raise
    raise AssertionError("unreachable")


def get_manifest(host, repo, reference):
    r = request(host, "GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
    return r.read(), r.getheader("Content-Type")


def open_blob(host, repo, digest):
    """The response streaming a blob, following one redirect."""
    r = request(host, "GET", f"/v2/{repo}/blobs/{digest}")
    if r.status in (301, 302, 303, 307, 308):
        r.read()
        loc = urllib.parse.urlsplit(r.getheader("Location"))
        target = loc.path + (f"?{loc.query}" if loc.query else "")
        r = request(loc.netloc or host, "GET", target)
    assert r.status == 200, (digest, r.status)
    return r


def copy_blob(src, src_repo, dst, dst_repo, digest):
    r = open_blob(src, src_repo, digest)
    size = int(r.getheader("Content-Length"))
    loc = request(dst, "POST", f"/v2/{dst_repo}/blobs/uploads/", body=b"", headers={"Content-Length": "0"})
    loc.read()
    location = loc.getheader("Location")
    path = location.split(dst, 1)[-1] if location.startswith("http") else location
    sep = "&" if "?" in path else "?"

    def chunks():
        while True:
            b = r.read(1 << 20)
            if not b:
                return
            yield b

    resp = request(dst, "PUT", f"{path}{sep}digest={digest}", body=chunks(),
                   headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
    resp.read()
    assert resp.status == 201, (digest, resp.status)
    return size


def read_image(mapping):
    """(blob jobs, manifests to push) of one mapping."""
    src_host, rest = split(mapping["source"])
    src_repo, digest = rest.split("@")
    dst_host, drest = split(mapping["destination"])
    dst_repo, tag = drest.rsplit(":", 1)
    body, ctype = get_manifest(src_host, src_repo, digest)
    doc = json.loads(body)
    children = []
    for child in doc.get("manifests", []):
        cbody, cctype = get_manifest(src_host, src_repo, child["digest"])
        children.append((child["digest"], cbody, cctype, json.loads(cbody)))
    jobs = {}
    for _, _, _, cdoc in children + [(None, None, None, doc)]:
        for blob in ([cdoc["config"]] if "config" in cdoc else []) + cdoc.get("layers", []):
            jobs[(dst_repo, blob["digest"])] = (src_host, src_repo, dst_host, blob["size"])
    manifests = [(dst_host, dst_repo, cdigest, cbody, cctype) for cdigest, cbody, cctype, _ in children]
    manifests.append((dst_host, dst_repo, tag, body, ctype))
    return jobs, manifests


def put_manifest(host, repo, ref, body, ctype):
    r = request(host, "PUT", f"/v2/{repo}/manifests/{ref}", body=body, headers={"Content-Type": ctype})
    r.read()
    assert r.status == 201, (ref, r.status)


def main():
    summary = json.load(open(sys.argv[1]))
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    jobs, manifests = {}, []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for j, m in pool.map(read_image, summary["mappings"]):
            jobs.update(j)
            manifests.extend(m)
        order = sorted(jobs.items(), key=lambda kv: -kv[1][3])
        futures = [pool.submit(copy_blob, s, sr, d, dr, dig) for (dr, dig), (s, sr, d, _) in order]
        total = sum(f.result() for f in futures)
        children = [m for m in manifests if m[2].startswith("sha256:")]
        for f in [pool.submit(put_manifest, *m) for m in children]:
            f.result()
        for f in [pool.submit(put_manifest, *m) for m in manifests if not m[2].startswith("sha256:")]:
            f.result()
    print(f"{len(jobs)} blobs, {total} bytes, {len(manifests)} manifests", file=sys.stderr)


if __name__ == "__main__":
    main()
