//! An independent cosign signer for the test bed: keys and signatures made by the `openssl`
//! CLI (`genpkey`, `dgst -sha256 -sign`), and the `.sig` image built exactly as cosign pushes
//! it (the fixtures in ../shared/fixtures/sigstore show the bytes: manifest, config and
//! simple-signing layer, in that key order), pushed beside its image as `sha256-<hex>.sig`.

use std::process::{Command, Stdio};

use base64::Engine as _;
use reqwest::blocking::Body;

use super::generator::{GeneratedImage, GeneratedRelease};
use super::http::Client;
use super::sha256_digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// A signing key in a temporary directory, removed when dropped.
pub struct CosignKey {
    dir: tempfile::TempDir,
    /// The public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_pem: String,
}

impl CosignKey {
    /// An RSA-2048 key (`openssl genpkey -algorithm RSA`).
    pub fn rsa() -> CosignKey {
        CosignKey::generate(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
    }

    /// An ECDSA P-256 key, what `cosign generate-key-pair` makes.
    pub fn ecdsa_p256() -> CosignKey {
        CosignKey::generate(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
    }

    fn generate(options: &[&str]) -> CosignKey {
        let dir = tempfile::Builder::new().prefix("cosign-key-").tempdir().expect("key directory");
        let key = dir.path().join("key.pem");
        openssl(&[&["genpkey"], options, &["-out", path(&key)]].concat(), b"");
        let public = openssl(&["pkey", "-in", path(&key), "-pubout"], b"");
        CosignKey { public_pem: String::from_utf8(public).expect("PEM text"), dir }
    }

    /// The DER signature of `payload` with SHA-256 (PKCS#1 v1.5 for RSA, ASN.1 ECDSA).
    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let key = self.dir.path().join("key.pem");
        openssl(&["dgst", "-sha256", "-sign", path(&key)], payload)
    }
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

/// `openssl <args>` with `stdin`; its standard output; panics on failure.
fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl (is the openssl CLI installed?)");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write to openssl");
    let out = child.wait_with_output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The simple-signing payload cosign writes for `reference` (the identity) and `digest`.
pub fn payload(reference: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// One signature: payload bytes and the DER signature over them.
pub struct Signature {
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Signature {
    /// `key`'s signature of cosign's payload for `reference` and `digest`.
    pub fn of(key: &CosignKey, reference: &str, digest: &str) -> Signature {
        let payload = payload(reference, digest);
        Signature { signature: key.sign(&payload), payload }
    }
}

/// A `.sig` image: its manifest and blobs (config, then one layer per signature).
pub struct SignatureImage {
    pub manifest: Vec<u8>,
    pub digest: String,
    pub blobs: Vec<(String, Vec<u8>)>,
}

/// The `.sig` image of `signatures`, byte for byte as cosign writes one.
pub fn signature_image(signatures: &[Signature]) -> SignatureImage {
    let layers: Vec<(String, &Signature)> = signatures.iter().map(|s| (sha256_digest(&s.payload), s)).collect();
    let diff_ids: Vec<String> = layers.iter().map(|(d, _)| format!("\"{d}\"")).collect();
    let config = format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":[{}]}},"config":{{}}}}"#,
        diff_ids.join(",")
    )
    .into_bytes();
    let config_digest = sha256_digest(&config);
    let b64 = base64::engine::general_purpose::STANDARD;
    let descriptors: Vec<String> = layers
        .iter()
        .map(|(digest, s)| {
            format!(
                r#"{{"mediaType":"{SIMPLE_SIGNING}","size":{},"digest":"{digest}","annotations":{{"dev.cosignproject.cosign/signature":"{}"}}}}"#,
                s.payload.len(),
                b64.encode(&s.signature)
            )
        })
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{config_digest}"}},"layers":[{}]}}"#,
        config.len(),
        descriptors.join(",")
    )
    .into_bytes();
    let mut blobs = vec![(config_digest, config)];
    blobs.extend(layers.iter().map(|(d, s)| (d.clone(), s.payload.clone())));
    SignatureImage { digest: sha256_digest(&manifest), manifest, blobs }
}

/// `sha256-<hex>.sig`, the tag of the signature of `digest` (`sha256:<hex>`).
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

impl SignatureImage {
    /// Push it to `repo` as the signature of the image `digest`: blobs, then the manifest
    /// under the tag `sha256-<hex>.sig`.
    pub fn push(&self, client: &Client, repo: &str, digest: &str) {
        for (blob, data) in &self.blobs {
            client.push_blob(repo, blob, || Body::from(data.clone()));
        }
        let pushed = client.put_manifest(repo, &signature_tag(digest), OCI_MANIFEST, &self.manifest);
        assert_eq!(pushed, self.digest, "registry computed another manifest digest");
    }
}

/// Sign the image `digest` in `repo` with `key`, claiming `reference`, and push the
/// signature beside it; the `.sig` image pushed.
pub fn sign_and_push(client: &Client, repo: &str, digest: &str, reference: &str, key: &CosignKey) -> SignatureImage {
    let image = signature_image(&[Signature::of(key, reference, digest)]);
    image.push(client, repo, digest);
    image
}

/// One pushed signature: the repository, the image digest it signs, the `.sig` image.
pub struct Signed {
    pub repo: String,
    pub image: String,
    pub signature: SignatureImage,
}

/// Remove the signature of `image` (one of `signed`) from the registry `client` talks to.
pub fn unsign(client: &Client, signed: &[Signed], image: &GeneratedImage) {
    let sig = signed.iter().find(|s| s.image == image.digest).expect("the image was signed");
    let deleted = client.delete_manifest(&image.repo, &sig.signature.digest);
    assert!(deleted.is_success(), "{deleted}");
}

/// Sign every image a cluster pulls of `release` (the release image, each component, and
/// each platform image of a list; lists themselves too, as oc-mirror copies theirs) with
/// `key`, each claiming `<host>/<repo>:<version>`, and push the signatures with `client`.
pub fn sign_release(release: &GeneratedRelease, client: &Client, key: &CosignKey) -> Vec<Signed> {
    fn walk<'a>(image: &'a GeneratedImage, out: &mut Vec<&'a GeneratedImage>) {
        out.push(image);
        for child in &image.children {
            walk(child, out);
        }
    }
    let mut images = Vec::new();
    for image in release.all_images() {
        walk(image, &mut images);
    }
    images
        .into_iter()
        .map(|image| {
            let identity = format!("{}/{}:{}", release.host, image.repo, release.version);
            let signature = sign_and_push(client, &image.repo, &image.digest, &identity, key);
            Signed { repo: image.repo.clone(), image: image.digest.clone(), signature }
        })
        .collect()
}
