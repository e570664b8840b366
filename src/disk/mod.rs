//! oc's `v2/` disk layout: pure path logic, an atomic writer and a reader, as an image store.

mod error;
pub(crate) mod layout;
mod store;
mod write;

pub(crate) use error::DiskError;
pub(crate) use store::DiskStore;
pub(crate) use write::{ensure_dir, write_file_atomic};
