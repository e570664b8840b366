//! Synthetic OpenShift releases: generated in memory (components with shared and unique
//! layers, a release image whose payload holds `release-manifests/`), pushed to a registry by
//! plain HTTP or written as oc's disk tree, and a launcher for the CNCF distribution registry.
//! Used by the demo, the benchmarks and (compiled in by path) the integration tests.

pub mod blobs;
pub mod generator;
pub mod http;
pub mod ocdisk;
pub mod payload;
pub mod profile;
pub mod push;
pub mod registry;
pub mod spec;

#[cfg(test)]
mod series_tests;

/// Install the ring crypto provider for rustls once per process.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
