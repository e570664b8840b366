//! The OCI distribution client: credentials, authentication, TLS and the image store.

mod auth;
mod challenge;
mod client;
mod credhelper;
mod error;
mod httpdate;
mod resume;
mod retry;
mod store;
mod tokens;

pub use client::{Settings, Transport, DEFAULT_STALL_TIMEOUT, STALL_FLOOR};
pub use error::RegistryError;
pub use retry::{jitter, DEFAULT_TRIES};
pub use store::RegistryStore;
