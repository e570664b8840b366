//! Test-only access to the real vectors in `../shared/fixtures` (signatures, keys), shared by
//! the unit tests of the signature and release modules. Every test that uses them is
//! `#[ignore = "needs ../shared/fixtures"]`: a clean clone reports them as ignored, and
//! `scripts/test` runs them (`--include-ignored`) where the folder exists. Run without it, such
//! a test fails; it never passes by skipping its checks.

use std::path::{Path, PathBuf};

use super::error::SignatureError;
use super::keyring::Keyring;
use super::verify::{verify, Verified};

pub(crate) const CI: &str = "containers-image/signature/fixtures";
pub(crate) const CI_DIGEST: &str = "sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55";
pub(crate) const RH_KEY: &str = "cluster-update-keys/keys/verifier-public-key-redhat-release";
pub(crate) const RH_FPR: &str = "567E347AD0044ADE55BA8A5F199E2F91FD431D51";
pub(crate) const LG: &str = "library-go/pkg/verify/testdata";
pub(crate) const E3F1: &str = "sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7";

/// The fixtures folder; panics when it is absent (the caller is an ignored test run anyway).
pub(crate) fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    assert!(
        dir.is_dir(),
        "{} is absent: this test needs the real-world vectors (it is #[ignore]d for that reason; \
         scripts/test runs it only where the folder exists)",
        dir.display()
    );
    dir
}

pub fn check(fx: &Path, sig: &str, key: &str, digest: &str) -> Result<Verified, SignatureError> {
    let keyring = Keyring::from_file(fx.join(key)).expect("keyring loads");
    let data = std::fs::read(fx.join(sig)).expect("signature readable");
    verify(&data, &keyring, digest)
}

pub(crate) fn accept(fx: &Path, sig: &str, key: &str, digest: &str) -> Verified {
    check(fx, sig, key, digest).unwrap_or_else(|e| panic!("{sig} rejected: {e}"))
}

pub(crate) fn reject(fx: &Path, sig: &str, key: &str, digest: &str) -> SignatureError {
    match check(fx, sig, key, digest) {
        Ok(v) => panic!("{sig} accepted: {v:?}"),
        Err(err) => err,
    }
}

/// The project's own v3 signature (GnuPG can no longer make one): `tests/data/v3`, made and
/// checked byte for byte by `tests/integration/signatures/v3.rs`, verified there by GnuPG.
pub(crate) const V3_SIGNATURE: &[u8] = include_bytes!("../../tests/data/v3/signature-1");
pub(crate) const V3_KEY: &[u8] = include_bytes!("../../tests/data/v3/key.pub.asc");
pub(crate) const V3_FPR: &str = "078DD255D7DEB1BEE7A2D4420120A081D7E31732";
pub(crate) const V3_DIGEST: &str = "sha256:3f0d4f2c8f6e7a1b9c5d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e8f0a1b";

/// The keyring of the v3 vector's key (no fixtures needed).
pub(crate) fn v3_keyring() -> Keyring {
    Keyring::from_bytes("key.pub.asc", V3_KEY).expect("the v3 vector's key loads")
}
