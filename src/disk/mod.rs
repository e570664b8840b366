//! oc's `v2/` disk layout: pure path logic, an atomic writer and a reader, as an image store,
//! the bounded reader of the small files beside it, and the free space of the media.

mod error;
pub(crate) mod layout;
mod read;
pub(crate) mod space;
mod store;
mod write;

pub(crate) use error::DiskError;
pub(crate) use read::read_small;
pub(crate) use store::DiskStore;
pub(crate) use write::{ensure_dir, write_file_atomic};
