//! Errors of release signature verification.
//!
//! Messages are lowercase, name the cause precisely and never repeat the text of their
//! source: callers print the chain (`{err:#}` with anyhow, or by walking `source()`).

use std::fmt;
use std::path::PathBuf;

/// Why a keyring could not be loaded or a signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The keyring file could not be read.
    #[error("cannot read keyring file {}", path.display())]
    KeyringRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The keyring holds no public key at all.
    #[error("keyring {name}: no public keys found")]
    NoKeys { name: String },

    /// A key block of the keyring is not a well-formed OpenPGP public key.
    #[error("keyring {name}: malformed public key")]
    MalformedKey {
        name: String,
        #[source]
        source: PgpError,
    },

    /// The signature bytes are not a well-formed OpenPGP message.
    #[error("signature is not a well-formed OpenPGP message")]
    MalformedMessage {
        #[source]
        source: PgpError,
    },

    /// A compressed-data packet of the signature could not be inflated.
    #[error("signature compressed data cannot be decompressed")]
    Decompress {
        #[source]
        source: std::io::Error,
    },

    /// The decompressed signature is larger than any real signature could be.
    #[error("signature decompresses to more than {limit} bytes")]
    TooLarge { limit: u64 },

    /// Compressed packets nested inside each other beyond reason.
    #[error("signature nests compressed data more than {depth} levels deep")]
    TooDeep { depth: usize },

    /// The message is encrypted rather than signed.
    #[error("signature is an encrypted message, not a signed one")]
    Encrypted,

    /// The message carries no signature packet.
    #[error("signature message is not signed (no signature packet)")]
    Unsigned,

    /// The message carries no literal data (the signed payload).
    #[error("signature message has no literal data packet")]
    NoLiteralData,

    /// The message carries more than one literal data packet.
    #[error("signature message has more than one literal data packet")]
    MultipleLiteralData,

    /// The message carries a packet that has no place in a signed message.
    #[error("signature message has an unexpected {tag} packet")]
    UnexpectedPacket { tag: String },

    /// No signature packet of the message signs a document.
    #[error("signature packet has type {typ}, not a binary or text document signature")]
    NotDocumentSignature { typ: String },

    /// No (non-revoked) key or subkey of the keyring verifies the signature.
    #[error("signature is not valid for any key of keyring {keyring}")]
    NoValidKey { keyring: String },

    /// The only key that verifies the signature is a revoked primary key.
    #[error("signed by revoked key {key_id}")]
    RevokedKey { key_id: String },

    /// The only key that verifies the signature is a revoked subkey.
    #[error("signed by revoked subkey {key_id}")]
    RevokedSubkey { key_id: String },

    /// The signature's own expiration time has passed.
    #[error("signature lifetime expired on {expired}")]
    Expired { expired: String },

    /// The signed payload does not parse as JSON.
    #[error("signature payload is not JSON")]
    PayloadNotJson {
        #[source]
        source: serde_json::Error,
    },

    /// The signed payload is valid JSON but not an object.
    #[error("signature payload is not a JSON object")]
    PayloadNotObject,

    /// A member of the signed payload is not of the JSON type it must be.
    #[error("signature payload field `{field}` is not {expected}")]
    PayloadFieldType { field: String, expected: &'static str },

    /// The signed payload has a member the CVO does not know.
    #[error("signature payload has unknown field `{field}`")]
    PayloadUnknownField { field: String },

    /// The signed payload lacks a required member.
    #[error("signature payload lacks field `{field}`")]
    PayloadMissingField { field: String },

    /// `critical.type` is not `atomic container signature`.
    #[error("signature type is {found:?}, want \"atomic container signature\"")]
    WrongType { found: String },

    /// `critical.image.docker-manifest-digest` is not the release digest.
    #[error("signed digest {signed} does not match release digest {expected}")]
    DigestMismatch { signed: String, expected: String },

    /// `critical.identity.docker-reference` is empty.
    #[error("signature identity (docker-reference) is empty")]
    EmptyIdentity,
}

/// An rPGP error, displayed without the debug dump that some of its variants embed.
#[derive(Debug)]
pub struct PgpError(pub pgp::errors::Error);

impl fmt::Display for PgpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            // Displays its (boxed) source with `{:?}`; the source follows in the chain anyway.
            pgp::errors::Error::InvalidPacketContent { .. } => f.write_str("invalid packet content"),
            other => write!(f, "{other}"),
        }
    }
}

impl std::error::Error for PgpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

impl From<pgp::errors::Error> for PgpError {
    fn from(err: pgp::errors::Error) -> Self {
        PgpError(err)
    }
}
