//! oc's `v2/` disk layout: pure path logic, an atomic writer and a reader, as an image store.

mod error;
pub mod layout;
mod store;
mod write;

pub use error::DiskError;
pub use store::DiskStore;
pub use write::{ensure_dir, write_file_atomic};
