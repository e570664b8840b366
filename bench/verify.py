#!/usr/bin/env python3
"""Check a destination registry against the plan: every mapping's tag resolves to the source
digest with identical manifest bytes, and every blob (of lists: every platform's) exists.
Usage: verify.py MAPPINGS.json DEST_HOST DEST_REPO"""
import hashlib
import http.client
import json
import sys

from ceiling import ACCEPT, get_manifest, split


def main():
    summary = json.load(open(sys.argv[1]))
    dest_host, dest_repo = sys.argv[2], sys.argv[3]
    missing = 0
    for m in summary["mappings"]:
        src_host, rest = split(m["source"])
        src_repo, digest = rest.split("@")
        tag = m["destination"].rsplit(":", 1)[1]
        want, _ = get_manifest(src_host, src_repo, digest)
        got, _ = get_manifest(dest_host, dest_repo, tag)
        if got != want or "sha256:" + hashlib.sha256(got).hexdigest() != digest:
            print(f"manifest {tag}: differs", file=sys.stderr)
            missing += 1
            continue
        doc = json.loads(got)
        docs = [doc] + [json.loads(get_manifest(dest_host, dest_repo, c["digest"])[0]) for c in doc.get("manifests", [])]
        for d in docs:
            for blob in ([d["config"]] if "config" in d else []) + d.get("layers", []):
                c = http.client.HTTPConnection(dest_host)
                c.request("HEAD", f"/v2/{dest_repo}/blobs/{blob['digest']}")
                if c.getresponse().status != 200:
                    print(f"blob {blob['digest']} of {tag}: missing", file=sys.stderr)
                    missing += 1
    if missing:
        sys.exit(f"destination incomplete: {missing} problems")


if __name__ == "__main__":
    main()
