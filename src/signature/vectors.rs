//! Test-only access to the real vectors in `../shared/fixtures` (signatures, keys), shared by
//! the signature module's unit tests. Every test that uses them skips with a notice when the
//! folder is absent.

use std::path::{Path, PathBuf};

use super::error::SignatureError;
use super::keyring::Keyring;
use super::verify::{verify, Verified};

pub const CI: &str = "containers-image/signature/fixtures";
pub const CI_DIGEST: &str = "sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55";
pub const RH_KEY: &str = "cluster-update-keys/keys/verifier-public-key-redhat-release";
pub const RH_FPR: &str = "567E347AD0044ADE55BA8A5F199E2F91FD431D51";
pub const LG: &str = "library-go/pkg/verify/testdata";
pub const E3F1: &str = "sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7";

/// The fixtures folder, or `None` (with a notice) when it is absent.
pub fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.is_dir() {
        return Some(dir);
    }
    println!("notice: ../shared/fixtures absent, skipping");
    None
}

pub fn check(fx: &Path, sig: &str, key: &str, digest: &str) -> Result<Verified, SignatureError> {
    let keyring = Keyring::from_file(fx.join(key)).expect("keyring loads");
    let data = std::fs::read(fx.join(sig)).expect("signature readable");
    verify(&data, &keyring, digest)
}

pub fn accept(fx: &Path, sig: &str, key: &str, digest: &str) -> Verified {
    check(fx, sig, key, digest).unwrap_or_else(|e| panic!("{sig} rejected: {e}"))
}

pub fn reject(fx: &Path, sig: &str, key: &str, digest: &str) -> SignatureError {
    match check(fx, sig, key, digest) {
        Ok(v) => panic!("{sig} accepted: {v:?}"),
        Err(err) => err,
    }
}
