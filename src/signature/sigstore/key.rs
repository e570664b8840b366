//! Sigstore public keys: a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY`
//! (PKCS#1), RSA or ECDSA P-256/P-384, verified with `ring` as sigstore's `LoadVerifier(key,
//! SHA256)` does: RSASSA-PKCS1-v1_5 with SHA-256, or ECDSA with SHA-256 over an ASN.1 DER
//! signature (P-384 keys too: containers/image always asks for SHA-256).

use base64::Engine as _;
use ring::signature::{self as sig, UnparsedPublicKey};

use super::der::{self, DerError, Reader};
use crate::digest::Digest;

/// The largest PEM text accepted for one key (an RSA-8192 key is under 2 KiB).
pub const MAX_PEM_BYTES: usize = 64 * 1024;

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// Why a key file (`--sigstore-key`) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read sigstore key file {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no usable key.
    #[error("invalid sigstore key file {}", path.display())]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with the key.
        #[source]
        source: KeyError,
    },
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Larger than any PEM public key (its size in bytes).
    #[error("it is {0} bytes, over the limit of {MAX_PEM_BYTES}")]
    TooLarge(usize),
    /// No `PUBLIC KEY` block.
    #[error("it holds no PEM PUBLIC KEY block")]
    NoPem,
    /// The block is not base64.
    #[error("its PEM block is not valid base64")]
    Base64,
    /// The key is not valid DER.
    #[error("its public key is not valid DER")]
    Der(#[from] DerError),
    /// Neither RSA nor ECDSA P-256/P-384.
    #[error("its algorithm is neither RSA nor ECDSA P-256/P-384")]
    Algorithm,
    /// An RSA key of this many bits, outside 2048–8192.
    #[error("its RSA key has {0} bits; 2048 to 8192 are accepted")]
    RsaSize(usize),
    /// Not an uncompressed point of the curve.
    #[error("its ECDSA point is not an uncompressed point of the curve")]
    Point,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa { bits: usize },
    P256,
    P384,
}

/// One public key that signatures are checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: Kind,
    /// What ring takes: the PKCS#1 RSAPublicKey, or the EC point.
    material: Vec<u8>,
    /// sha256 of the SubjectPublicKeyInfo DER (or of the PKCS#1 DER for an `RSA PUBLIC KEY`).
    fingerprint: Digest,
}

impl PublicKey {
    /// The first PEM public key of `text`, as sigstore's `UnmarshalPEMToPublicKey` takes it.
    pub(crate) fn from_pem(text: &[u8]) -> Result<PublicKey, KeyError> {
        if text.len() > MAX_PEM_BYTES {
            return Err(KeyError::TooLarge(text.len()));
        }
        let text = String::from_utf8_lossy(text);
        let (label, der) = first_pem_block(&text)?;
        match label {
            "PUBLIC KEY" => PublicKey::from_spki(&der),
            _ => PublicKey::rsa(der.clone(), Digest::of(&der)),
        }
    }

    /// The key in a PEM file, reading at most one byte past [`MAX_PEM_BYTES`].
    pub fn from_file(path: &std::path::Path) -> Result<PublicKey, KeyFileError> {
        use std::io::Read as _;
        let read = |source| KeyFileError::Read { path: path.to_path_buf(), source };
        let mut text = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_PEM_BYTES as u64 + 1).read_to_end(&mut text))
            .map_err(read)?;
        PublicKey::from_pem(&text).map_err(|source| KeyFileError::Invalid { path: path.to_path_buf(), source })
    }

    /// A SubjectPublicKeyInfo in DER.
    pub(crate) fn from_spki(spki: &[u8]) -> Result<PublicKey, KeyError> {
        let mut outer = Reader::new(spki);
        let mut info = outer.nested(der::SEQUENCE)?;
        outer.finish()?;
        let mut algorithm = info.nested(der::SEQUENCE)?;
        let bits = info.read(der::BIT_STRING)?;
        info.finish()?;
        let oid = algorithm.read(der::OID)?;
        let key = match bits.split_first() {
            Some((0, key)) => key,
            Some(_) => return Err(KeyError::Algorithm),
            None => return Err(DerError::Truncated.into()),
        };
        let fingerprint = Digest::of(spki);
        if oid == RSA_ENCRYPTION {
            if algorithm.peek().is_some() {
                algorithm.read(der::NULL)?;
            }
            algorithm.finish()?;
            return PublicKey::rsa(key.to_vec(), fingerprint);
        }
        if oid != EC_PUBLIC_KEY {
            return Err(KeyError::Algorithm);
        }
        let curve = algorithm.read(der::OID)?;
        algorithm.finish()?;
        let (kind, coordinate) = match curve {
            P256 => (Kind::P256, 32),
            P384 => (Kind::P384, 48),
            _ => return Err(KeyError::Algorithm),
        };
        if key.len() != 1 + 2 * coordinate || key[0] != 0x04 {
            return Err(KeyError::Point);
        }
        Ok(PublicKey { kind, material: key.to_vec(), fingerprint })
    }

    /// A PKCS#1 RSAPublicKey: SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
    fn rsa(pkcs1: Vec<u8>, fingerprint: Digest) -> Result<PublicKey, KeyError> {
        let mut outer = Reader::new(&pkcs1);
        let mut seq = outer.nested(der::SEQUENCE)?;
        outer.finish()?;
        let modulus = seq.read(der::INTEGER)?;
        seq.read(der::INTEGER)?;
        seq.finish()?;
        let significant = modulus.iter().skip_while(|b| **b == 0).count();
        let bits = significant * 8;
        if !(2048..=8192).contains(&bits) {
            return Err(KeyError::RsaSize(bits));
        }
        Ok(PublicKey { kind: Kind::Rsa { bits }, material: pkcs1, fingerprint })
    }

    /// Whether `signature` is this key's signature of exactly `payload`.
    pub(crate) fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn sig::VerificationAlgorithm = match self.kind {
            Kind::Rsa { .. } => &sig::RSA_PKCS1_2048_8192_SHA256,
            Kind::P256 => &sig::ECDSA_P256_SHA256_ASN1,
            Kind::P384 => &sig::ECDSA_P384_SHA256_ASN1,
        };
        UnparsedPublicKey::new(algorithm, &self.material).verify(payload, signature).is_ok()
    }

    /// `RSA-4096`, `ECDSA P-256`, …
    pub(crate) fn algorithm(&self) -> String {
        match self.kind {
            Kind::Rsa { bits } => format!("RSA-{bits}"),
            Kind::P256 => "ECDSA P-256".to_string(),
            Kind::P384 => "ECDSA P-384".to_string(),
        }
    }

    /// sha256 of the key's DER, the way keys are told apart in messages.
    pub fn fingerprint(&self) -> &Digest {
        &self.fingerprint
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} key {}", self.algorithm(), &self.fingerprint.hex()[..16])
    }
}

/// The label and DER of the first `PUBLIC KEY` or `RSA PUBLIC KEY` block.
fn first_pem_block(text: &str) -> Result<(&'static str, Vec<u8>), KeyError> {
    for label in ["PUBLIC KEY", "RSA PUBLIC KEY"] {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let Some(start) = text.find(&begin) else { continue };
        let body = &text[start + begin.len()..];
        let Some(stop) = body.find(&end) else { return Err(KeyError::NoPem) };
        let b64: String = body[..stop].split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| KeyError::Base64)?;
        let label = if label == "PUBLIC KEY" { "PUBLIC KEY" } else { "RSA PUBLIC KEY" };
        return Ok((label, der));
    }
    Err(KeyError::NoPem)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Keys and signatures of b"cosign test vector" made by the `openssl` CLI (`genpkey`,
    /// `dgst -sha256 -sign`): an independent signer.
    pub(crate) const MESSAGE: &[u8] = b"cosign test vector";
    pub(crate) const RSA_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv95NN2K/RNNQkm1NdrBy
sbp76scGdiSdGVwWHZhGnkujsBnMXY+MAkoSvyCn2F4jeIC145NOWoQnqzXLwoWq
qVFKOXmjopGVPwpNgXhwDZAiGDbpo8Xc/gjwJLkelLVlsWpUtCE3XPWq91rgnJNv
qIbd4dXZJPiHKT0PnFNOLEuvt7VMeRU9T4aGy/HPkTSSMlFfG4gP2W940a6eTpU4
NG5KTeK3CH9HXLsGkAYfM8xQ2odG+3kNcpxU424D9TvBthz/yaF6R9gNf5zwklw4
8oMDyucV1WIkWSjVS9lu1odOESsDBppp4lFfp5liaPW/zcN6JIRyHLpWLz8Hp5Ef
BwIDAQAB
-----END PUBLIC KEY-----
";
    const RSA_SIG: &str = "SgBYrIf8hT/Su4d9OYzhUfCVshJwutYNKapjVc1wdK1Yd21jr3qYDPF8k5rgzuJ4Yl5v/uuaivJu8KO1I9mCEclWlLrQeI+Iz3Zr9OK5myjy+XfVILtQMMZzD/Tgk6ihXJjY7A8lw1eK5t6uNt6w7ro2hMdXUklKnkz/M5uNk3wrjWmIeP1or9RouaXdj4loUZ69Rj/QSBjSwxeddhXrdFsjD0Mh4LiTql6eJG1Wpd3Wvimmce8gfPImIcmlWD1MkxCRJURJ/CERRfgbq7rxSRXBb4G3WEMXA2NJRtfedt/t7uGbKi5Mqj5st4y+WCWNpfrV0xXUTm3nloDPYsARNg==";
    const P384_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEetpLIf53RBWzrgZcKxYTZMZ5CYFtbKuL
+RQST9P4mC/+nC1JpO/kOsu/10ZPeCkmKdZhH/Cq33XMrUXouzAIIePujiOPH49k
uRC0Z0ewRzj48hCzKe4qixXs2HRcpWEy
-----END PUBLIC KEY-----
";
    const P384_SIG: &str = "MGUCMQCKcZJlVDhDofZ6YcQ519jchL0GXh4bvoSG3evlcEYDNZwSLKg2dvXNMpGPVW4xLg4CMH7IOMZ4+5z4n0tRq6Rp8bALYvr4REZcN1NiHJM5eiTtTn/JXIDrOlWJHyFxh8bayw==";
    pub(crate) const P256_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2CNUMhWRqJZhHUVntrGFkdvyqpXg
jyJ7KiSdlhHeiF01Z5JAthpM44yYog0IfA1h9Dy9tzZN7ge5421wgHk5Ng==
-----END PUBLIC KEY-----
";
    const P256_SIG: &str =
        "MEYCIQCo/sABc0UUMdJjjAoiVMifLfPYt5no0g7l1eJYGAE90gIhAO2ECSH/HY9AOeJj+pGE6pOwYVM+1O826uwDsKZVx9jh";

    fn b64(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(text).unwrap()
    }

    #[test]
    fn verifies_openssl_signatures_of_rsa_p256_and_p384_keys_with_sha256() {
        for (pem, signature, algorithm) in
            [(RSA_PEM, RSA_SIG, "RSA-2048"), (P256_PEM, P256_SIG, "ECDSA P-256"), (P384_PEM, P384_SIG, "ECDSA P-384")]
        {
            let key = PublicKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(key.algorithm(), algorithm);
            assert!(key.verifies(MESSAGE, &b64(signature)), "{algorithm}");
            assert!(!key.verifies(b"cosign test vectoR", &b64(signature)), "{algorithm}: another message");
        }
        let rsa = PublicKey::from_pem(RSA_PEM.as_bytes()).unwrap();
        assert!(!rsa.verifies(MESSAGE, &b64(P256_SIG)), "another key's signature");
    }

    #[test]
    fn a_pkcs1_rsa_public_key_block_is_the_same_key() {
        let spki = PublicKey::from_pem(RSA_PEM.as_bytes()).unwrap();
        let pkcs1 = base64::engine::general_purpose::STANDARD.encode(&spki.material);
        let pem = format!("-----BEGIN RSA PUBLIC KEY-----\n{pkcs1}\n-----END RSA PUBLIC KEY-----\n");
        let key = PublicKey::from_pem(pem.as_bytes()).unwrap();
        assert!(key.verifies(MESSAGE, &b64(RSA_SIG)));
    }

    #[test]
    fn refuses_text_without_a_public_key_block() {
        assert_eq!(PublicKey::from_pem(b"hello"), Err(KeyError::NoPem));
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(PublicKey::from_pem(private.as_bytes()), Err(KeyError::NoPem));
        let bad = "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n";
        assert_eq!(PublicKey::from_pem(bad.as_bytes()), Err(KeyError::Base64));
        assert_eq!(PublicKey::from_pem(&vec![b' '; MAX_PEM_BYTES + 1]), Err(KeyError::TooLarge(MAX_PEM_BYTES + 1)));
    }

    #[test]
    fn a_key_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pub");
        std::fs::write(&path, RSA_PEM).unwrap();
        assert_eq!(PublicKey::from_file(&path).unwrap().algorithm(), "RSA-2048");
        std::fs::write(&path, "junk").unwrap();
        let err = PublicKey::from_file(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("invalid sigstore key file {}", path.display()));
        assert!(matches!(err, KeyFileError::Invalid { source: KeyError::NoPem, .. }));
        std::fs::write(&path, vec![b' '; MAX_PEM_BYTES * 2]).unwrap();
        let big = PublicKey::from_file(&path).unwrap_err();
        assert!(matches!(big, KeyFileError::Invalid { source: KeyError::TooLarge(n), .. } if n == MAX_PEM_BYTES + 1));
        assert!(matches!(PublicKey::from_file(&dir.path().join("absent")), Err(KeyFileError::Read { .. })));
    }

    #[test]
    fn refuses_a_key_of_another_algorithm() {
        // Ed25519 SPKI: SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING 00 || 32 bytes }.
        let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        spki.extend([7u8; 32]);
        assert_eq!(PublicKey::from_spki(&spki), Err(KeyError::Algorithm));
    }

    #[test]
    fn refuses_a_p256_key_whose_point_is_cut_short() {
        let der = b64(&P256_PEM.lines().filter(|l| !l.starts_with("-----")).collect::<String>());
        let mut cut = der[..der.len() - 1].to_vec();
        // Shorten the outer SEQUENCE and the BIT STRING by the byte removed.
        cut[1] -= 1;
        cut[24] -= 1;
        assert_eq!(PublicKey::from_spki(&cut), Err(KeyError::Point));
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn reads_red_hat_release_key_3_as_rsa_4096_with_its_published_key_id() {
        let path = crate::signature::vectors::fixtures().join("sigstore/redhat-release-3.pem");
        let key = PublicKey::from_pem(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(key.algorithm(), "RSA-4096");
        assert!(key.fingerprint().hex().ends_with("e60d446e63405576"), "{}", key.fingerprint());
    }
}
