//! oc's `v2/` disk layout: pure path logic, an atomic writer and a reader, as an image store,
//! and the bounded reader of the small files beside it.

mod error;
pub mod layout;
mod read;
mod store;
mod write;

pub use error::DiskError;
pub use read::read_small;
pub use store::DiskStore;
pub use write::{ensure_dir, write_file_atomic};
