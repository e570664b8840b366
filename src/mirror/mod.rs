//! Planning and carrying out a mirror, and reporting it.

mod executor;
mod inspect;
mod instructions;
mod plan;
mod report;
mod sigstore;
mod stores;

pub use executor::{execute, Totals};
pub use inspect::{read_destination, read_sources};
pub use plan::{mappings, plan, Mapping, Target};
pub use report::{SignatureSummary, Summary};
pub use sigstore::signature_mappings;
pub use stores::Stores;
