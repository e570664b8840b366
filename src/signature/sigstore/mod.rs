//! Sigstore (cosign) signatures, the ones CRI-O checks on every node since OpenShift 4.21:
//! this folder owns the `openshift` ClusterImagePolicy a payload ships (scopes, key,
//! `signedIdentity`, whether it applies by default), the public keys it names (PEM, RSA and
//! ECDSA, checked with `ring`), containers/image's rules for a `sha256-<hex>.sig` image, and
//! looking one up through the [`ImageStore`](crate::store::ImageStore) interface to say
//! whether it is verified, missing or rejected (and why). It copies nothing and knows no
//! run: the mirror decides what to do with a [`Verdict`]. The GPG signatures the CVO checks
//! live beside it, in `signature/`.

mod der;
mod identity;
mod key;
mod lookup;
mod payload;
mod policy;
#[cfg(test)]
mod proptests;
mod verify;

pub(crate) use identity::SignedIdentity;
pub use key::{KeyError, KeyFileError, PublicKey, MAX_PEM_BYTES};
pub use lookup::{
    check, judge, signature_manifest, signature_tag, Judged, LookupError, Verdict, MAX_SIGNATURE_IMAGE_BYTES,
};
pub use policy::{mentions_policy, parse_policies, scope_matches, ImagePolicy, PolicyError, RootOfTrust};
pub use verify::{Accepted, Subject, Trust, MAX_SIGNATURE_BYTES, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};

/// Test material other modules' tests build on (a key made by openssl).
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::key::tests::P256_PEM;
}
