#!/usr/bin/env python3
"""Sign every image of a release plan with cosign's key-based format and push the `.sig`
images beside them, as `cosign sign --key` would: one OCI manifest per image under the tag
`sha256-<hex>.sig`, one layer (the simple-signing payload) whose annotation carries the
base64 RSA PKCS#1 v1.5 / SHA-256 signature. The signer is `openssl`, independent of the tool.

    cosign_sign.py PLAN.json REGISTRY KEY.pem VERSION

PLAN.json is `kubectl-release_mirror --dry-run -o json`: its mappings name every image by
digest (`host/repo@sha256:…`). The images are read at REGISTRY (the registry behind the
host they name); each signature claims `<host>/<repo>:VERSION`, as the test bed's signer does.
"""
import base64, hashlib, json, subprocess, sys, urllib.request

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, resp.headers, resp.read()


def push_blob(registry, repo, data):
    digest = sha256(data)
    try:
        request("HEAD", f"http://{registry}/v2/{repo}/blobs/{digest}")
        return digest
    except urllib.error.HTTPError:
        pass
    _, headers, _ = request("POST", f"http://{registry}/v2/{repo}/blobs/uploads/")
    location = headers["Location"]
    if location.startswith("/"):
        location = f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    request("PUT", f"{location}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
    return digest


def sign(key, payload):
    out = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=payload, capture_output=True, check=True)
    return out.stdout


def signature_image(payload, signature):
    layer = sha256(payload)
    config = json.dumps({"architecture": "", "created": "0001-01-01T00:00:00Z",
                         "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
                         "rootfs": {"type": "layers", "diff_ids": [layer]}, "config": {}},
                        separators=(",", ":")).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "size": len(config), "digest": sha256(config)},
                           "layers": [{"mediaType": SIMPLE_SIGNING, "size": len(payload), "digest": layer,
                                       "annotations": {"dev.cosignproject.cosign/signature":
                                                       base64.b64encode(signature).decode()}}]},
                          separators=(",", ":")).encode()
    return config, manifest


def main():
    plan, registry, key, version = sys.argv[1:5]
    images = {}
    for m in json.load(open(plan))["mappings"]:
        if m["name"].endswith(".sig"):
            continue
        name, digest = m["source"].split("@", 1)
        host, repo = name.split("/", 1)
        images[(host, repo, digest)] = True
    for host, repo, digest in images:
        payload = json.dumps({"critical": {"identity": {"docker-reference": f"{host}/{repo}:{version}"},
                                           "image": {"docker-manifest-digest": digest},
                                           "type": "cosign container image signature"},
                              "optional": None}, separators=(",", ":")).encode()
        config, manifest = signature_image(payload, sign(key, payload))
        push_blob(registry, repo, config)
        push_blob(registry, repo, payload)
        tag = digest.replace(":", "-", 1) + ".sig"
        request("PUT", f"http://{registry}/v2/{repo}/manifests/{tag}", manifest, {"Content-Type": OCI_MANIFEST})
    print(f"signed {len(images)} images", file=sys.stderr)


if __name__ == "__main__":
    main()
