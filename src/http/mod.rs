//! The one HTTP setup every client of a run shares: the registry, the update service and
//! signature stores. It owns what makes a connection trusted and where it may go: the
//! extra CA bundle (`--certificate-authority`, including a self-signed server certificate
//! given as its own CA), `--insecure`, the proxy environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`, read by reqwest and never turned off here), the connect timeout and the
//! redirect policy (an `https` URL is never followed to plain `http`). Each client adds
//! its own request timeouts and retries on top.

mod tls;

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::redirect;

/// How every HTTP client of a run connects: plain values, filled from `--certificate-authority`
/// and `--insecure`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Extra CA bundle (PEM) to trust besides the system's (`--certificate-authority`). A
    /// server certificate byte-identical to one in it is accepted as it is, the way Go
    /// clients accept a self-signed certificate given as its own CA.
    pub certificate_authority: Option<PathBuf>,
    /// Plain HTTP to registries and unverified TLS everywhere (`--insecure`).
    pub insecure: bool,
    /// Time the update service has for its whole answer; `None`: 120 s. Lowered by the
    /// hidden `--update-service-timeout` (for tests of a service that never answers).
    pub update_service_timeout: Option<Duration>,
}

/// Time allowed to open a connection (TCP and TLS), for every client.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed for one request at most.
pub(crate) const MAX_REDIRECTS: usize = 10;
/// What every client says it is.
pub(crate) const USER_AGENT: &str = concat!("kubectl-release_mirror/", env!("CARGO_PKG_VERSION"));

/// Why an HTTP client could not be set up.
/// Why the HTTP setup could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The `--certificate-authority` file is missing, unreadable or holds no certificate.
    #[error("failed to read certificate authority {}: {reason}", path.display())]
    CaFile {
        /// The file given.
        path: PathBuf,
        /// What went wrong reading it.
        reason: String,
    },
}

/// An `https` URL redirected to plain `http`: refused, because whoever sits on the plain
/// hop could then answer in the server's place.
#[derive(Debug, thiserror::Error)]
#[error("refusing the redirect from {from} to {to}: it leaves https for plain http")]
pub(crate) struct DowngradeRefused {
    /// The URL that answered with the redirect.
    pub(crate) from: String,
    /// Where it pointed.
    pub(crate) to: String,
}

impl Settings {
    /// A client builder with this setup (TLS, proxy environment, connect timeout,
    /// redirects); the caller adds its timeouts and builds it.
    pub(crate) fn builder(&self) -> Result<reqwest::ClientBuilder, HttpError> {
        let builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirect_policy(self.insecure));
        if self.insecure {
            return Ok(builder.tls_danger_accept_invalid_certs(true));
        }
        match &self.certificate_authority {
            None => Ok(builder),
            Some(path) => {
                let bundle = read_bundle(path)?;
                let config = tls::client_config(bundle).map_err(|reason| fail(path, reason))?;
                Ok(builder.tls_backend_preconfigured(config))
            }
        }
    }
}

fn fail(path: &Path, reason: String) -> HttpError {
    HttpError::CaFile { path: path.to_path_buf(), reason }
}

/// The DER certificates of the PEM bundle at `path`; at least one.
fn read_bundle(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, HttpError> {
    use rustls::pki_types::pem::PemObject as _;
    let pem = std::fs::read(path).map_err(|e| fail(path, e.to_string()))?;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(path, format!("not a PEM bundle ({e})")))?;
    if certs.is_empty() {
        return Err(fail(path, "no PEM certificates in it".to_string()));
    }
    Ok(certs)
}

/// Follow at most [`MAX_REDIRECTS`], never from `https` to `http` (unless `insecure`,
/// which allows plain HTTP anyway).
fn redirect_policy(insecure: bool) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        let previous = attempt.previous().last().cloned();
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        match previous {
            Some(from) if !insecure && downgrades(from.scheme(), attempt.url().scheme()) => {
                let to = redact(attempt.url().as_str());
                attempt.error(DowngradeRefused { from: redact(from.as_str()), to })
            }
            _ => attempt.follow(),
        }
    })
}

fn downgrades(from: &str, to: &str) -> bool {
    from.eq_ignore_ascii_case("https") && !to.eq_ignore_ascii_case("https")
}

/// `url` without the credentials of its userinfo (`https://user:pass@host/…` →
/// `https://***@host/…`): what may be printed, logged or put in a report.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_leaving_https_is_a_downgrade() {
        assert!(downgrades("https", "http"));
        assert!(downgrades("HTTPS", "http"));
        assert!(!downgrades("https", "https"));
        assert!(!downgrades("http", "http"));
        assert!(!downgrades("http", "https"));
    }

    #[test]
    fn a_missing_or_empty_bundle_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").expect("write");
        let settings =
            |path: &Path| Settings { certificate_authority: Some(path.to_path_buf()), ..Settings::default() };
        let err = settings(&empty).builder().expect_err("an empty bundle is refused");
        assert_eq!(
            err.to_string(),
            format!("failed to read certificate authority {}: no PEM certificates in it", empty.display())
        );
        let missing = dir.path().join("missing.pem");
        let err = settings(&missing).builder().expect_err("a missing bundle is refused");
        assert!(err.to_string().starts_with(&format!("failed to read certificate authority {}: ", missing.display())));
    }
}
