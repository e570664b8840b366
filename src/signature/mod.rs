//! Release signature verification (OpenPGP "atomic container signature").

mod error;
mod key;
mod keyring;
mod message;
mod payload;
mod verify;

pub use error::{PgpError, SignatureError};
pub use keyring::Keyring;
pub use payload::{check_payload, Payload};
pub use verify::{verify, Verified};
