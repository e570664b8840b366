//! The OCI distribution client: credentials, authentication (tokens cached per scope set
//! for as long as they last), TLS, retries and the image store over one registry, including
//! the ways registries other than CNCF distribution answer (docs/registries.md): uploads in
//! chunks, sessions opened by a refused mount, relative `Location`s, redirects to CDNs,
//! `Retry-After` dates, and a `/v2/` ping that learns how to authenticate.

mod auth;
mod challenge;
mod chunking;
mod client;
mod credhelper;
mod error;
mod httpdate;
mod resume;
mod retry;
mod store;
mod tags;
mod tokens;
mod transport;
mod upload;

pub use error::RegistryError;
pub use store::RegistryStore;
pub(crate) use tags::Listing;
pub use transport::{Settings, Transport, DEFAULT_STALL_TIMEOUT, STALL_FLOOR};
