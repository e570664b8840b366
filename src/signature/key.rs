//! One key or subkey of a keyring that may have made a signature, with its standing:
//! revoked or not (rPGP's signature verification ignores revocations, so they are
//! evaluated here, once), and when it expires (reported, never enforced, as by the CVO).

use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::{SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{PublicKey, PublicSubkey, Signature, SignatureType};
use pgp::types::KeyDetails;

#[derive(Debug, Clone)]
enum Material {
    Primary(PublicKey),
    Subkey(PublicSubkey),
}

/// One key or subkey that may have made a signature, with its standing.
#[derive(Debug, Clone)]
pub(crate) struct KeyEntry {
    material: Material,
    /// Uppercase hex fingerprint of this key or subkey.
    pub(crate) fingerprint: String,
    /// Uppercase hex key ID of this key or subkey.
    pub(crate) key_id: String,
    /// Uppercase hex fingerprint of the primary key, for a subkey.
    pub(crate) primary_fingerprint: Option<String>,
    /// The key, its primary key or the subkey binding is revoked.
    pub(crate) revoked: bool,
    /// When this key (or subkey) expires, unix seconds.
    expires: Option<u64>,
    /// When the primary key expires, for a subkey.
    primary_expires: Option<u64>,
}

impl KeyEntry {
    /// Whether `sig` is a cryptographically valid signature of `data` by this key.
    pub(crate) fn verifies(&self, sig: &Signature, data: &[u8]) -> bool {
        match &self.material {
            Material::Primary(key) => sig.verify(key, data).is_ok(),
            Material::Subkey(key) => sig.verify(key, data).is_ok(),
        }
    }

    /// Warnings about expiry of this key or its primary key (expiry is not enforced).
    pub(crate) fn expiry_warnings(&self, keyring: &str, now: u64) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(at) = self.expires.filter(|at| *at <= now) {
            let what = if self.primary_fingerprint.is_some() { "subkey" } else { "key" };
            warnings.push(format!(
                "{what} {} of keyring {keyring} expired on {}; key expiry is not enforced",
                self.fingerprint,
                format_date(at)
            ));
        }
        if let (Some(at), Some(primary)) = (self.primary_expires, &self.primary_fingerprint) {
            if at <= now {
                warnings.push(format!(
                    "key {primary} of keyring {keyring} expired on {}; key expiry is not enforced",
                    format_date(at)
                ));
            }
        }
        warnings
    }
}

pub(crate) fn fingerprint_of(key: &impl KeyDetails) -> String {
    hex::encode_upper(key.fingerprint().as_bytes())
}

fn key_id_of(key: &impl KeyDetails) -> String {
    hex::encode_upper(key.legacy_key_id())
}

/// The primary key and every subkey with a valid binding, with their standing.
pub(crate) fn key_entries(key: &SignedPublicKey) -> Vec<KeyEntry> {
    let primary = &key.primary_key;
    let primary_revoked = key
        .details
        .revocation_signatures
        .iter()
        .any(|sig| sig.typ() == Some(SignatureType::KeyRevocation) && sig.verify_key(primary).is_ok());
    let primary_expires = primary_expiry(key);
    let primary_fingerprint = fingerprint_of(primary);
    let mut entries = vec![KeyEntry {
        material: Material::Primary(primary.clone()),
        fingerprint: primary_fingerprint.clone(),
        key_id: key_id_of(primary),
        primary_fingerprint: None,
        revoked: primary_revoked,
        expires: primary_expires,
        primary_expires: None,
    }];
    for sub in &key.public_subkeys {
        let Some(binding) = latest_binding(primary, sub) else {
            continue; // an unbound subkey does not belong to the key
        };
        let sub_revoked = sub.signatures.iter().any(|sig| {
            sig.typ() == Some(SignatureType::SubkeyRevocation) && sig.verify_subkey_binding(primary, &sub.key).is_ok()
        });
        entries.push(KeyEntry {
            material: Material::Subkey(sub.key.clone()),
            fingerprint: fingerprint_of(&sub.key),
            key_id: key_id_of(&sub.key),
            primary_fingerprint: Some(primary_fingerprint.clone()),
            revoked: primary_revoked || sub_revoked,
            expires: expiry(sub.key.created_at().as_secs(), binding),
            primary_expires,
        });
    }
    entries
}

/// The most recent subkey binding signature that verifies, if any.
fn latest_binding<'a>(primary: &PublicKey, sub: &'a SignedPublicSubKey) -> Option<&'a Signature> {
    sub.signatures
        .iter()
        .filter(|sig| sig.typ() == Some(SignatureType::SubkeyBinding))
        .filter(|sig| sig.verify_subkey_binding(primary, &sub.key).is_ok())
        .max_by_key(|sig| sig.created().map(|t| t.as_secs()))
}

/// Expiry of the primary key, from its most recent self-signature (informational only).
fn primary_expiry(key: &SignedPublicKey) -> Option<u64> {
    let primary = &key.primary_key;
    let created = primary.created_at().as_secs();
    if let Some(days) = primary.legacy_v3_expiration_days().filter(|d| *d > 0) {
        return Some(u64::from(created) + u64::from(days) * 86_400);
    }
    let own_id = primary.legacy_key_id();
    let self_sig = key
        .details
        .users
        .iter()
        .flat_map(|user| user.signatures.iter())
        .filter(|sig| sig.is_certification())
        .chain(key.details.direct_signatures.iter())
        .filter(|sig| {
            let issuers = sig.issuer_key_id();
            issuers.is_empty() || issuers.contains(&&own_id)
        })
        .max_by_key(|sig| sig.created().map(|t| t.as_secs()))?;
    expiry(created, self_sig)
}

fn expiry(created: u32, sig: &Signature) -> Option<u64> {
    let lifetime = sig.key_expiration_time()?.as_secs();
    (lifetime > 0).then(|| u64::from(created) + u64::from(lifetime))
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Formats unix seconds as an ISO 8601 UTC timestamp.
pub(crate) fn format_date(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::signature::error::SignatureError;
    use crate::signature::vectors::*;

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn signature_by_revoked_subkey_is_rejected() {
        let fx = fixtures();
        let key = format!("{CI}/public-key-with-revoked-subkey.gpg");
        for sig in ["subkey-revoked.signature", "subkey-revoked.signature-v3"] {
            let err = reject(&fx, &format!("{CI}/{sig}"), &key, CI_DIGEST);
            assert_eq!(err.to_string(), "signed by revoked subkey 3EF0F93A1F602997");
        }
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn expired_key_still_verifies_with_a_warning() {
        // Also the Go-written vector: its literal data starts with a 2-byte partial body.
        let fx = fixtures();
        let digest = "sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140";
        let sig = format!("{LG}/signatures/sha256={}/signature-1", &digest[7..]);
        for ring in ["simple.txt", "combined.txt"] {
            let v = accept(&fx, &sig, &format!("{LG}/keyrings/{ring}"), digest);
            assert_eq!(v.key_fingerprint, "D04761B116203B0C0859B61628B76E05B923888E");
            assert_eq!(v.timestamp, Some(1_555_943_751));
            assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
            assert!(v.warnings[0].contains("expired on 2021-04-21"), "{:?}", v.warnings);
        }
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn ocp_4_4_6_v3_signature_is_valid_for_binary_keyring() {
        let fx = fixtures();
        let key = "crashvb-oc-mirror/tests/data/567e347ad0044ade55ba8a5f199e2f91fd431d51.gnupg";
        let digest = "sha256:7613d8f7db639147b91b16b54b24cfa351c3cbde6aa7b7bf1b9c80c260efad06";
        let v = accept(&fx, "crashvb-oc-mirror/tests/data/atomicsignature", key, digest);
        assert_eq!(v.identity, "quay.io/openshift-release-dev/ocp-release:4.4.6-x86_64");
        assert_eq!((v.creator, v.timestamp), (None, None));
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn library_go_v3_signature_is_valid_for_redhat_and_combined_keyrings() {
        let fx = fixtures();
        let sig = format!("{LG}/signatures/sha256={}/signature-1", &E3F1[7..]);
        for ring in ["redhat.txt", "combined.txt"] {
            let v = accept(&fx, &sig, &format!("{LG}/keyrings/{ring}"), E3F1);
            assert_eq!(v.key_fingerprint, RH_FPR);
        }
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn library_go_v3_signature_is_invalid_for_unrelated_keyring() {
        let fx = fixtures();
        let sig = format!("{LG}/signatures/sha256={}/signature-1", &E3F1[7..]);
        let err = reject(&fx, &sig, &format!("{LG}/keyrings/simple.txt"), E3F1);
        assert!(matches!(&err, SignatureError::NoValidKey { keyring } if keyring == "simple.txt"));
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn subkey_signatures_name_the_subkey_and_its_primary() {
        let fx = fixtures();
        let key = format!("{CI}/public-key-with-subkey.gpg");
        for sig in ["subkey.signature", "subkey.signature-v3", "dir-img-valid-subkey/signature-1"] {
            let v = accept(&fx, &format!("{CI}/{sig}"), &key, CI_DIGEST);
            assert_eq!(v.key_id, "D75B3109B3BAAEAF");
            assert_eq!(
                v.key_fingerprint,
                "57D1D95BBC53BA0EAFF0718CD75B3109B3BAAEAF (subkey of B9F4CDB9FD8C475BFA340AC38D54A947EE396F36)"
            );
        }
    }

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(format_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_date(1_619_000_000), "2021-04-21T10:13:20Z");
        assert_eq!(format_date(951_782_400), "2000-02-29T00:00:00Z");
    }
}
