//! Planning and carrying out a mirror, and describing it. Owns the mappings (which image
//! goes where, under which tag), the plan (a plain value computed from the sources and the
//! destination's state), the one executor that runs a plan for every direction, and the
//! mirror configuration (IDMS/ICSP). It is the one place that picks a registry or a disk
//! store for a reference ([`Stores`]); it never touches signatures' verification or the
//! cluster.

mod beside;
mod executor;
mod inspect;
mod instructions;
mod plan;
mod report;
mod sigstore;
mod stores;
mod streams;

pub(crate) use executor::{execute, Totals};
pub(crate) use inspect::survey;
pub use inspect::TreeCheck;
pub use instructions::{render as render_instructions, Instructions, MirrorSource};
pub use plan::{mappings, plan, DestState, Mapping, Plan, SourceImage, Target};
pub use report::{MappingSummary, MediaCheck, ReleaseSummary, SpaceNeeded, Summary, TransferSummary, SCHEMA_VERSION};
pub(crate) use sigstore::platform_digests;
pub(crate) use stores::Stores;
pub use streams::{Concurrency, Sample, Streams};
