//! The registry module's error type.

use std::path::PathBuf;

/// A registry failure. Messages name the registry and the object; credentials never appear.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The credentials file could not be read or parsed.
    #[error("failed to read registry credentials {path}: {reason}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// The HTTP setup could not be built.
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),

    /// The HTTP client could not be built.
    #[error("failed to set up the HTTP client")]
    Client(#[source] reqwest::Error),

    /// The registry could not be reached.
    #[error("cannot reach registry {host}")]
    Connect {
        /// The registry host.
        host: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },

    /// The registry refused access (401 or 403).
    #[error(
        "registry {host} refused access to {repo} ({status}): give credentials for {host} with \
         --registry-config or the default auth files (REGISTRY_AUTH_FILE, \
         $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, \
         ~/.docker/config.json, ~/.dockercfg; credential helpers included)"
    )]
    Unauthorized {
        /// The registry host.
        host: String,
        /// The repository.
        repo: String,
        /// The HTTP status.
        status: u16,
    },

    /// The registry rejected the credentials a helper or file gave.
    #[error(
        "registry {host} rejected the credentials {origin} gave for {repo} ({status}): check them, or log in again"
    )]
    Rejected {
        /// The registry host.
        host: String,
        /// The repository.
        repo: String,
        /// The HTTP status.
        status: u16,
        /// Where the credentials came from (a helper or a file).
        origin: String,
    },

    /// A token was refused in the middle of an upload.
    #[error(
        "registry {host} refused the token for {repo} in the middle of an upload (401); it expired or was revoked"
    )]
    TokenRefused {
        /// The registry host.
        host: String,
        /// The repository.
        repo: String,
    },

    /// No token could be had from the token service.
    #[error("failed to get a token for {host} from {realm} ({reason})")]
    Token {
        /// The registry host.
        host: String,
        /// The token service that was asked.
        realm: String,
        /// Why.
        reason: String,
    },

    /// The object is not in the registry.
    #[error("{what} not found in registry {host}")]
    NotFound {
        /// The registry host.
        host: String,
        /// What was asked for (a manifest, a blob, a tag).
        what: String,
    },

    /// The registry answered an unexpected status.
    #[error("registry {host} answered {status} for {what}{detail}")]
    Status {
        /// The registry host.
        host: String,
        /// What was asked for (a manifest, a blob, a tag).
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's own error text, when it sent one.
        detail: String,
    },

    /// Bytes received do not match their digest.
    #[error("{what} from registry {host} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The registry host.
        host: String,
        /// What was asked for (a manifest, a blob, a tag).
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },

    /// An answer over the size limit.
    #[error("{what} from registry {host} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The registry host.
        host: String,
        /// What was asked for (a manifest, a blob, a tag).
        what: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// A repository or reference the tool refuses to send.
    #[error("refusing a request to registry {host}: {reason}")]
    BadName {
        /// The registry host.
        host: String,
        /// Why.
        reason: String,
    },

    /// An answer that does not follow the distribution protocol.
    #[error("registry {host} sent a bad response for {what}: {reason}")]
    BadResponse {
        /// The registry host.
        host: String,
        /// What was asked for (a manifest, a blob, a tag).
        what: String,
        /// Why.
        reason: String,
    },

    /// The registry did not answer after receiving a whole upload.
    #[error("registry {host} did not answer the {what} within {secs} s of receiving it all")]
    Stalled {
        /// The registry host.
        host: String,
        /// What was asked for (a manifest, a blob, a tag).
        what: String,
        /// How long it waited, in seconds.
        secs: u64,
    },

    /// The bytes to upload could not be read.
    #[error("failed reading the bytes of {what} to upload")]
    Read {
        /// What was asked for (a manifest, a blob, a tag).
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The body of an answer could not be read.
    #[error("failed reading {what} from registry {host}")]
    Body {
        /// The registry host.
        host: String,
        /// What was asked for (a manifest, a blob, a tag).
        what: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
}

impl RegistryError {
    /// Failures another try cannot fix: access, absence, bad local files, unsafe or
    /// oversized input, a redirect refused.
    pub(crate) fn is_permanent(&self) -> bool {
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
