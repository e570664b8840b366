#!/usr/bin/env python3
"""The reference ceiling: the simplest parallel streaming copy of a release between two
registries (plain HTTP, no auth) -- every unique blob GET-streamed into a monolithic PUT,
WORKERS at a time, then every manifest. No HEADs, no retries, no checks: what the registries
and this machine allow. Input: the mappings JSON of `kubectl-release_mirror --dry-run -o json`."""
import concurrent.futures
import http.client
import json
import sys

ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def split(ref):
    host, rest = ref.split("/", 1)
    return host, rest


def get_manifest(host, repo, reference):
    c = http.client.HTTPConnection(host)
    c.request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
    r = c.getresponse()
    return r.read(), r.getheader("Content-Type")


def copy_blob(src, src_repo, dst, dst_repo, digest):
    s = http.client.HTTPConnection(src)
    s.request("GET", f"/v2/{src_repo}/blobs/{digest}")
    r = s.getresponse()
    if r.status in (301, 302, 307):
        raise SystemExit("redirects are not handled by the ceiling copier")
    size = int(r.getheader("Content-Length"))
    d = http.client.HTTPConnection(dst)
    d.request("POST", f"/v2/{dst_repo}/blobs/uploads/", headers={"Content-Length": "0"})
    loc = d.getresponse()
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

    d.request("PUT", f"{path}{sep}digest={digest}", body=chunks(),
              headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
    resp = d.getresponse()
    resp.read()
    assert resp.status == 201, (digest, resp.status)
    return size


def main():
    summary = json.load(open(sys.argv[1]))
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    jobs, manifests = {}, []
    for m in summary["mappings"]:
        src_host, rest = split(m["source"])
        src_repo, digest = rest.split("@")
        dst_host, drest = split(m["destination"])
        dst_repo, tag = drest.rsplit(":", 1)
        body, ctype = get_manifest(src_host, src_repo, digest)
        doc = json.loads(body)
        children = []
        for child in doc.get("manifests", []):
            cbody, cctype = get_manifest(src_host, src_repo, child["digest"])
            children.append((child["digest"], cbody, cctype, json.loads(cbody)))
        for _, _, _, cdoc in children + [(None, None, None, doc)]:
            for blob in ([cdoc["config"]] if "config" in cdoc else []) + cdoc.get("layers", []):
                jobs[(dst_repo, blob["digest"])] = (src_host, src_repo, dst_host)
        for cdigest, cbody, cctype, _ in children:
            manifests.append((dst_host, dst_repo, cdigest, cbody, cctype))
        manifests.append((dst_host, dst_repo, tag, body, ctype))
    total = 0
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(copy_blob, s, sr, d, dr, dig) for (dr, dig), (s, sr, d) in jobs.items()]
        for f in futures:
            total += f.result()
    for host, repo, ref, body, ctype in manifests:
        c = http.client.HTTPConnection(host)
        c.request("PUT", f"/v2/{repo}/manifests/{ref}", body=body, headers={"Content-Type": ctype})
        r = c.getresponse()
        r.read()
        assert r.status == 201, (ref, r.status)
    print(f"{len(jobs)} blobs, {total} bytes, {len(manifests)} manifests", file=sys.stderr)


if __name__ == "__main__":
    main()
