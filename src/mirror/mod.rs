//! Planning and carrying out a mirror, and reporting it.

mod executor;
mod inspect;
mod instructions;
mod plan;
mod report;
mod stores;

pub use executor::{execute, Totals};
pub use inspect::{read_destination, read_sources};
pub use instructions::{mirror_sources, render, MirrorSource};
pub use plan::{mappings, plan, BlobAction, BlobTask, DestState, Mapping, Plan, SourceImage, Target};
pub use report::{SignatureSummary, Summary, SCHEMA_VERSION};
pub use stores::Stores;
