//! Finding the release's signatures: every store, N = 1..9, each candidate checked against
//! every keyring not yet satisfied, until every keyring has a valid signature (the CVO's
//! rule). The first valid signature per keyring is kept; every attempt is recorded so that
//! a failure can say what was tried and why each candidate failed.

use std::fmt;

use super::keyring::Keyring;
use super::store::{self, Fetched, StoreClient, MAX_SIGNATURES};
use super::verify::{verify, Verified};
use crate::digest::Digest;

/// A signature accepted for one keyring.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The keyring it satisfies.
    pub(crate) keyring: String,
    /// Where it came from.
    pub(crate) url: String,
    /// What it says and who signed it.
    pub(crate) verified: Verified,
    /// The raw signature, as the ConfigMap carries it.
    pub(crate) bytes: Vec<u8>,
}

/// What happened to one `signature-<N>` of one store.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) store: String,
    pub(crate) n: u32,
    pub(crate) outcome: Outcome,
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// 404 / no such file: the end of that store.
    NotFound,
    /// Could not be fetched; the reason with its causes.
    FetchFailed(String),
    /// Fetched, and rejected by each keyring it was checked against: (keyring, reason).
    Rejected(Vec<(String, String)>),
    /// Fetched and valid for these keyrings.
    Accepted(Vec<String>),
}

/// No store gave a valid signature for some keyring.
#[derive(Debug, thiserror::Error)]
pub(crate) struct NoValidSignature {
    pub(crate) digest: Digest,
    /// Keyrings without a valid signature: `name (key FINGERPRINT, …)`.
    pub(crate) unsatisfied: Vec<String>,
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) stores: Vec<String>,
}

/// Searches `stores` for signatures of `digest` until every keyring is satisfied.
pub(crate) async fn find_signatures(
    client: &StoreClient,
    stores: &[String],
    keyrings: &[Keyring],
    digest: &Digest,
) -> Result<Vec<Accepted>, NoValidSignature> {
    let mut found: Vec<Option<Accepted>> = vec![None; keyrings.len()];
    let mut attempts = Vec::new();
    'stores: for store in stores {
        for n in 1..=MAX_SIGNATURES {
            if found.iter().all(Option::is_some) {
                break 'stores;
            }
            let outcome = match client.fetch(store, digest, n).await {
                Fetched::NotFound => Outcome::NotFound,
                Fetched::Failed(err) => Outcome::FetchFailed(crate::exit::one_line(&err)),
                Fetched::Found(bytes) => {
                    let url = store::describe(store, digest, n);
                    check_candidate(&bytes, &url, keyrings, digest, &mut found)
                }
            };
            let end = matches!(outcome, Outcome::NotFound);
            attempts.push(Attempt { store: store::redact(store), n, outcome });
            if end {
                break;
            }
        }
    }
    if found.iter().all(Option::is_some) {
        return Ok(found.into_iter().flatten().collect());
    }
    let unsatisfied = keyrings
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(k, _)| format!("{} (key {})", k.name(), k.fingerprints().join(", ")))
        .collect();
    let stores = stores.iter().map(|s| store::redact(s)).collect();
    Err(NoValidSignature { digest: digest.clone(), unsatisfied, attempts, stores })
}

/// Checks one fetched signature against every keyring still without one.
fn check_candidate(
    bytes: &[u8],
    url: &str,
    keyrings: &[Keyring],
    digest: &Digest,
    found: &mut [Option<Accepted>],
) -> Outcome {
    let (mut accepted, mut rejected) = (Vec::new(), Vec::new());
    for (keyring, slot) in keyrings.iter().zip(found.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        match verify(bytes, keyring, digest.as_str()) {
            Ok(verified) => {
                accepted.push(keyring.name().to_string());
                *slot = Some(Accepted {
                    keyring: keyring.name().to_string(),
                    url: url.to_string(),
                    verified,
                    bytes: bytes.to_vec(),
                });
            }
            Err(err) => rejected.push((keyring.name().to_string(), crate::exit::one_line(&err))),
        }
    }
    if accepted.is_empty() {
        Outcome::Rejected(rejected)
    } else {
        Outcome::Accepted(accepted)
    }
}

impl fmt::Display for NoValidSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no valid signature for release {} from keyring(s) {}", self.digest, self.unsatisfied.join(", "))?;
        for store in &self.stores {
            write!(f, "\n  store {store}:")?;
            let tried: Vec<&Attempt> = self.attempts.iter().filter(|a| &a.store == store).collect();
            if tried.is_empty() {
                write!(f, " not searched (every keyring was already satisfied)")?;
            }
            for attempt in tried {
                write!(f, "\n    signature-{}: {}", attempt.n, attempt.outcome)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::NotFound => f.write_str("not found (end of this store)"),
            Outcome::FetchFailed(reason) => write!(f, "fetch failed: {reason}"),
            Outcome::Accepted(keyrings) => write!(f, "valid for keyring {}", keyrings.join(", ")),
            Outcome::Rejected(reasons) if reasons.len() == 1 => f.write_str(&reasons[0].1),
            Outcome::Rejected(reasons) => {
                let parts: Vec<String> = reasons.iter().map(|(k, r)| format!("keyring {k}: {r}")).collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        "sha256:81154f5c03294534e1eaf0319bef7a601134f891689ccede5d705ef659aa8c92".parse().expect("digest")
    }

    #[test]
    fn failure_lists_each_store_and_attempt() {
        let err = NoValidSignature {
            digest: digest(),
            unsatisfied: vec!["redhat".into()],
            stores: vec!["https://a".into(), "file:///b".into()],
            attempts: vec![
                Attempt {
                    store: "https://a".into(),
                    n: 1,
                    outcome: Outcome::FetchFailed("no answer from https://a/x within 1 s".into()),
                },
                Attempt {
                    store: "https://a".into(),
                    n: 2,
                    outcome: Outcome::Rejected(vec![("redhat".into(), "bad".into())]),
                },
                Attempt { store: "file:///b".into(), n: 1, outcome: Outcome::NotFound },
            ],
        };
        let want = format!(
            "no valid signature for release {} from keyring(s) redhat\n  store https://a:\n    \
             signature-1: fetch failed: no answer from https://a/x within 1 s\n    \
             signature-2: bad\n  store file:///b:\n    signature-1: not found (end of this store)",
            digest()
        );
        assert_eq!(err.to_string(), want);
    }

    #[tokio::test]
    async fn a_store_without_signature_1_satisfies_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = format!("file://{}", dir.path().display());
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client =
            StoreClient::new(&crate::http::Settings::default(), std::time::Duration::from_secs(30)).expect("client");
        // Any keyring will do: nothing is found to check against it.
        let keyring = crate::signature::vectors::v3_keyring();
        let err = find_signatures(&client, &[store], &[keyring], &digest()).await.expect_err("nothing to find");
        assert_eq!(err.attempts.len(), 1);
        assert!(matches!(err.attempts[0].outcome, Outcome::NotFound));
        assert_eq!(err.unsatisfied, [format!("key.pub.asc (key {})", crate::signature::vectors::V3_FPR)]);
    }
}
