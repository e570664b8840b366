//! The engine of `kubectl release-mirror`: mirror an OpenShift release — the release image
//! and every component image its payload references — between registries and oc's disk
//! layout, verify its signature before the copy, and write or apply the signature ConfigMap
//! the cluster-version operator needs.
//!
//! Data flows one way:
//!
//! ```text
//! Job ──► select::resolve ──► release::load ──► signatures verified ──► mirror::plan ──► mirror::execute
//!  (job)   (which releases)     (payloads)        (before any copy)       (pure value)     (one executor)
//!                                                                                              │
//!                  run::Report ◄── cluster::apply_signature ◄── ConfigMap file ◄────────────────┘
//! ```
//!
//! The public API is what this page names; everything else is crate-private. A failed run is
//! an [`exit::RunError`]: the error and its [`exit::Failure`] kind, which gives the exit code.
//!
//! - [`job`]: the run as a plain value (releases, target, signature policies, HTTP and
//!   registry settings). The command line builds one; so can any program.
//! - [`select`]: which releases, in which order: listed, chosen from an update graph, or
//!   recorded in a tree; one [`select::Selection`].
//! - [`run`](mod@run): the only module that sees every part: it runs a [`Job`] as named
//!   steps over one record per release and assembles the [`Report`].
//! - [`store`]: the one image-store interface; [`registry`] and [`disk`] implement it, and
//!   [`mirror`] picks one per reference, so every direction is one executor.
//! - [`events`]: what a run tells its caller on the way (progress, retries, warnings), as
//!   typed [`events::Event`]s sent to the [`events::EventSink`] the caller passes to
//!   [`run()`]. The library prints nothing; the command line renders them.
//! - [`release`] reads payloads, [`signature`] verifies and builds ConfigMaps, [`cluster`]
//!   applies them. None of them knows the others, the command line, or the report.
//! - [`osus`]: the disconnected update service: the graph-data image built without a
//!   container runtime ([`osus::GraphDataJob`], in [`Job`]) and the `UpdateService` naming it.
//! - [`http`]: the one HTTP setup (CA bundle, `--insecure`, proxy environment, redirects)
//!   the registry, the update service and signature stores build their clients from.
//!
//! Mirroring a release between two registries:
//!
//! ```no_run
//! use release_mirror::{mirror::Target, reference::ImageRef, Job};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let release = ImageRef::parse("quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64")?;
//! let to = ImageRef::parse_repository("mirror.internal:5000/ocp/release")?;
//! let job = Job::new(release, Target { to, release_image: None, skip_release_image: false, release_repo: None });
//! let report = release_mirror::run(&job, release_mirror::events::discard()).await?;
//! std::fs::write("report.json", serde_json::to_vec_pretty(&report)?)?;
//! # Ok(())
//! # }
//! ```
//!
//! The TLS stack is rustls with the `ring` provider: a program using this crate installs it
//! once (`rustls::crypto::ring::default_provider().install_default()`) before the first run.

#![warn(missing_docs)]

pub mod cluster;
pub mod digest;
pub mod disk;
pub mod events;
pub mod exit;
#[cfg(test)]
mod fuzzing;
pub mod graph;
pub mod http;
pub mod job;
pub mod manifest;
pub mod mirror;
pub mod osus;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod release;
pub mod run;
pub mod select;
pub mod signature;
pub mod store;

pub use job::Job;
pub use run::{run, Report};
