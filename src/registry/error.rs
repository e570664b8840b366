//! The registry module's error type.

use std::path::PathBuf;

/// A registry failure. Messages name the registry and the object; credentials never appear.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("failed to read registry credentials {path}: {reason}")]
    AuthFile { path: PathBuf, reason: String },

    #[error(transparent)]
    Http(#[from] crate::http::HttpError),

    #[error("failed to set up the HTTP client")]
    Client(#[source] reqwest::Error),

    #[error("cannot reach registry {host}")]
    Connect {
        host: String,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "registry {host} refused access to {repo} ({status}): give credentials for {host} with \
         --registry-config or the default auth files (REGISTRY_AUTH_FILE, \
         $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, \
         ~/.docker/config.json, ~/.dockercfg; credential helpers included)"
    )]
    Unauthorized { host: String, repo: String, status: u16 },

    #[error(
        "registry {host} rejected the credentials {origin} gave for {repo} ({status}): check them, or log in again"
    )]
    Rejected { host: String, repo: String, status: u16, origin: String },

    #[error(
        "registry {host} refused the token for {repo} in the middle of an upload (401); it expired or was revoked"
    )]
    TokenRefused { host: String, repo: String },

    #[error("failed to get a token for {host} from {realm} ({reason})")]
    Token { host: String, realm: String, reason: String },

    #[error("{what} not found in registry {host}")]
    NotFound { host: String, what: String },

    #[error("registry {host} answered {status} for {what}{detail}")]
    Status { host: String, what: String, status: u16, detail: String },

    #[error("{what} from registry {host} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { host: String, what: String, expected: String, actual: String },

    #[error("{what} from registry {host} is larger than the limit of {limit} bytes")]
    TooLarge { host: String, what: String, limit: usize },

    #[error("refusing a request to registry {host}: {reason}")]
    BadName { host: String, reason: String },

    #[error("registry {host} sent a bad response for {what}: {reason}")]
    BadResponse { host: String, what: String, reason: String },

    #[error("registry {host} did not answer the {what} within {secs} s of receiving it all")]
    Stalled { host: String, what: String, secs: u64 },

    #[error("failed reading the bytes of {what} to upload")]
    Read {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("failed reading {what} from registry {host}")]
    Body {
        host: String,
        what: String,
        #[source]
        source: reqwest::Error,
    },
}

impl RegistryError {
    /// Failures another try cannot fix: access, absence, bad local files, unsafe or
    /// oversized input, a redirect refused.
    pub fn is_permanent(&self) -> bool {
        if let RegistryError::Connect { source, .. } = self {
            return source.is_redirect();
        }
        matches!(
            self,
            RegistryError::Unauthorized { .. }
                | RegistryError::Rejected { .. }
                | RegistryError::NotFound { .. }
                | RegistryError::AuthFile { .. }
                | RegistryError::Http(_)
                | RegistryError::TooLarge { .. }
                | RegistryError::BadName { .. }
        )
    }
}

impl From<RegistryError> for crate::store::StoreError {
    fn from(err: RegistryError) -> Self {
        let permanent = err.is_permanent();
        crate::store::StoreError::new(err, permanent)
    }
}
