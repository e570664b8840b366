//! The OCI distribution client: credentials, authentication, TLS and the image store.

mod auth;
mod challenge;
mod client;
mod error;
mod store;

pub use auth::{Credential, Credentials};
pub use client::{RegistryClient, Transport};
pub use error::RegistryError;
pub use store::RegistryStore;
