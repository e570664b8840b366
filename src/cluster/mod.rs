//! The cluster side of `--apply-release-image-signature`: kubeconfig loading with kubectl's
//! rules, checks before the copy, and the apply of the signature ConfigMap.

mod apply;
mod checks;
mod error;
mod flow;
mod kubeconfig;

pub use flow::ApplyReport;
pub(crate) use flow::{apply_signature, connect, preflight};
pub use kubeconfig::{Cluster, ClusterTarget};
