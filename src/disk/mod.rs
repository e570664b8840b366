//! oc's `v2/` disk layout: pure path logic, an atomic writer and a reader (direct I/O where
//! the file system takes it), as an image store, the bounded reader of the small files
//! beside it, the list of the blobs it holds, the free space of the media, and the same
//! tree as numbered tar segments (`segments/`).

mod direct;
mod error;
pub(crate) mod layout;
mod pipe;
mod read;
mod scan;
pub(crate) mod segments;
pub(crate) mod space;
mod store;
mod write;

pub(crate) use error::DiskError;
pub(crate) use read::read_small;
pub(crate) use scan::blobs_in_tree;
pub use segments::parse_size;
pub(crate) use segments::SegmentStore;
pub(crate) use store::DiskStore;
pub(crate) use write::{ensure_dir, write_file_atomic};
