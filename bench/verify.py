#!/usr/bin/env python3
"""Check a destination against the plan: every mapping's tag resolves to the source digest
with identical manifest bytes, and every blob (of lists: every platform's) is there.

  verify.py PLAN.json DEST_HOST DEST_REPO [--source HOST]
      a registry: each blob answers HEAD 200 with the descriptor's size (the registry checked
      its digest when it was pushed, so present means byte-identical)
  verify.py PLAN.json --dir TREE [--source HOST]
      oc's disk layout (the tag symlink and repository from each mapping's file:// destination):
      each blob file is hashed and must match its digest and size

--source reads the source manifests from HOST instead of the host the plan names (the registry
itself rather than a slow link in front of it)."""
import hashlib
import json
import os
import sys

from ceiling import get_manifest, request, split


def blobs_of(doc):
    return ([doc["config"]] if "config" in doc else []) + doc.get("layers", [])


def source_manifest(mapping, source):
    src_host, rest = split(mapping["source"])
    src_repo, digest = rest.split("@")
    want, _ = get_manifest(source or src_host, src_repo, digest)
    return want, digest


def check_registry(plan, host, repo, source):
    problems, seen = 0, set()
    for m in plan["mappings"]:
        tag = m["destination"].rsplit(":", 1)[1]
        want, digest = source_manifest(m, source)
        got, _ = get_manifest(host, repo, tag)
        if got != want or "sha256:" + hashlib.sha256(got).hexdigest() != digest:
            print(f"manifest {tag}: differs", file=sys.stderr)
            problems += 1
            continue
        doc = json.loads(got)
        docs = [doc] + [json.loads(get_manifest(host, repo, c["digest"])[0]) for c in doc.get("manifests", [])]
        for d in docs:
            for blob in blobs_of(d):
                if blob["digest"] in seen:
                    continue
                seen.add(blob["digest"])
                r = request(host, "HEAD", f"/v2/{repo}/blobs/{blob['digest']}")
                r.read()
                if r.status != 200 or int(r.getheader("Content-Length") or -1) != blob["size"]:
                    print(f"blob {blob['digest']} of {tag}: {r.status}", file=sys.stderr)
                    problems += 1
    return problems, len(seen)


def check_dir(plan, tree, source):
    problems, seen = 0, set()
    for m in plan["mappings"]:
        dest = m["destination"].removeprefix("file://")
        repo, tag = dest.rsplit(":", 1)
        root = os.path.join(tree, "v2", repo)
        want, digest = source_manifest(m, source)
        link = os.path.join(root, "manifests", tag)
        try:
            target = os.readlink(link)
            got = open(os.path.join(root, "manifests", target), "rb").read()
        except OSError as e:
            print(f"manifest {tag}: {e}", file=sys.stderr)
            problems += 1
            continue
        if target != digest or got != want:
            print(f"manifest {tag}: differs", file=sys.stderr)
            problems += 1
            continue
        doc = json.loads(got)
        docs = [doc] + [json.loads(open(os.path.join(root, "manifests", c["digest"]), "rb").read())
                        for c in doc.get("manifests", [])]
        for d in docs:
            for blob in blobs_of(d):
                if (root, blob["digest"]) in seen:
                    continue
                seen.add((root, blob["digest"]))
                path = os.path.join(root, "blobs", blob["digest"])
                h, size = hashlib.sha256(), 0
                try:
                    with open(path, "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
                            size += len(chunk)
                except OSError as e:
                    print(f"blob {blob['digest']} of {tag}: {e}", file=sys.stderr)
                    problems += 1
                    continue
                if "sha256:" + h.hexdigest() != blob["digest"] or size != blob["size"]:
                    print(f"blob {blob['digest']} of {tag}: content differs", file=sys.stderr)
                    problems += 1
    return problems, len(seen)


def main():
    args = sys.argv[1:]
    source = None
    if "--source" in args:
        i = args.index("--source")
        source = args[i + 1]
        del args[i:i + 2]
    plan = json.load(open(args[0]))
    if args[1] == "--dir":
        problems, blobs = check_dir(plan, args[2], source)
        where = args[2]
    else:
        problems, blobs = check_registry(plan, args[1], args[2], source)
        where = f"{args[1]}/{args[2]}"
    if problems:
        sys.exit(f"destination {where} incomplete: {problems} problems")
    print(f"verified {where}: {len(plan['mappings'])} images, {blobs} blobs", file=sys.stderr)


if __name__ == "__main__":
    main()
