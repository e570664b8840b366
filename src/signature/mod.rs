//! Release signatures: store fetch, OpenPGP verification with the CVO's rules, the
//! ConfigMap the cluster reads, and offline verification of one signature. The sigstore
//! (cosign) signatures the nodes check are in [`sigstore`].

mod configmap;
mod error;
mod gate;
mod key;
mod keyring;
mod message;
pub mod offline;
mod payload;
mod search;
pub mod sigstore;
mod store;
#[cfg(test)]
pub(crate) mod vectors;
mod verify;

pub(crate) use configmap::{build as build_config_map, config_map_name, ConfigMap, NAMESPACE};
pub(crate) use gate::{check_release, distinct_signatures, GateOptions, KEY_PREFIX};
pub(crate) use key::format_date;
pub(crate) use keyring::Keyring;
pub use search::Accepted;
pub(crate) use verify::verify;
