//! Release signature verification (OpenPGP "atomic container signature").

mod error;
mod keyring;
mod verify;

pub use error::{PgpError, SignatureError};
pub use keyring::Keyring;
pub use verify::{check_payload, verify, Payload, Verified};
