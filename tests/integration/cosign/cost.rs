//! What signatures cost: each `.sig` blob read once from the source and copied as read, the
//! destination asked about a signature only where it has the image, and the `.sig` images
//! stored beside the copy while large blobs are still on their way.

use super::{assert_signatures_copied, DEST_REPO};
use crate::support::cosign::{sign_release, CosignKey, Signed};
use crate::support::registry::Registry;
use crate::support::spec::{ImagePolicySpec, ReleaseSpec};
use crate::support::{assert_success, run};

/// A bed of 3 components (the first a list of 2 platform images, or with a `big_layer`)
/// whose payload's policy trusts `key`, behind a proxy that counts.
fn signed_bed(key: &CosignKey, big_layer: Option<u64>) -> crate::faults::Bed {
    let image_policy = Some(ImagePolicySpec { key_pem: key.public_pem.clone(), feature_set: None });
    let multi_arch_components = if big_layer.is_some() { 0 } else { 1 };
    crate::faults::bed(ReleaseSpec {
        components: 3,
        multi_arch_components,
        big_layer,
        image_policy,
        ..ReleaseSpec::default()
    })
}

/// A [`signed_bed`] without a large layer, signed with `key` and mirrored into a fresh
/// registry: the bed, its signatures and the destination.
fn mirrored(key: &CosignKey) -> (crate::faults::Bed, Vec<Signed>, Registry) {
    let b = signed_bed(key, None);
    let signed = sign_release(&b.release, &b.registry.client(), key);
    let dest = Registry::start();
    assert_success(&run(crate::faults::args(&b.release, format!("--to={}/{DEST_REPO}", dest.host()), &["-q"])));
    (b, signed, dest)
}

#[test]
fn a_signed_mirror_reads_each_signature_by_its_tag_and_each_of_its_blobs_once_and_copies_those_bytes() {
    let (b, signed, dest) = mirrored(&CosignKey::rsa());
    let manifests = b.proxy.requests("GET", "/manifests/");
    let gets = b.proxy.requests("GET", "/blobs/");
    for s in &signed {
        let tag = crate::support::cosign::signature_tag(&s.image);
        let by_tag = manifests.iter().filter(|e| e.path.ends_with(&format!("/manifests/{tag}"))).count();
        assert_eq!(by_tag, 1, "the .sig manifest of {} read by its tag, once (no HEAD first)", s.image);
        assert!(b.proxy.requests("HEAD", &tag).is_empty(), "{tag}: read, not asked about");
        for (digest, bytes) in &s.signature.blobs {
            let read = gets.iter().filter(|e| e.path.ends_with(&format!("/blobs/{digest}"))).count();
            assert_eq!(read, 1, "blob {digest} of the signature of {}: read once, to judge and to copy", s.image);
            let copied = dest.client().get_blob(DEST_REPO, digest);
            assert_eq!(copied.as_ref(), Some(bytes), "blob {digest} copied byte for byte");
        }
    }
    assert_signatures_copied(&signed, &dest);
}

#[test]
fn signature_images_are_stored_while_a_large_layer_is_still_on_its_way() {
    use crate::support::proxy::{Action, Fault, Proxy};
    use crate::support::{assert_success, registry::Registry, run};
    let key = CosignKey::ecdsa_p256();
    let b = signed_bed(&key, Some(3 << 20));
    let signed = sign_release(&b.release, &b.registry.client(), &key);
    let layer = b.release.big_layer.clone().expect("big layer");
    // A distant source: the large layer's first byte comes late.
    let slow = Action::Delay(std::time::Duration::from_secs(3));
    b.proxy.add(Fault::new(slow).on("GET", &format!("/blobs/{}", layer.digest)));
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    assert_success(&run(crate::faults::args(&b.release, format!("--to={}/{DEST_REPO}", front.host()), &["-q"])));
    let log = front.log();
    let layer_stored = log.iter().filter(|e| e.method == "PUT" && e.path.contains(&layer.digest)).map(|e| e.at).max();
    let layer_stored = layer_stored.expect("the large layer uploaded");
    let stored: Vec<_> = log.iter().filter(|e| e.method == "PUT" && e.path.contains("/manifests/sha256-")).collect();
    assert_eq!(stored.len(), signed.len(), "every .sig image stored once");
    for e in stored {
        assert!(e.at < layer_stored, "{} stored before the large layer's upload ended, not after every blob", e.path);
    }
    assert_signatures_copied(&signed, &dest);
}

#[test]
fn a_fresh_mirror_does_not_ask_the_destination_about_a_components_signature_tag() {
    use crate::support::proxy::Proxy;
    use crate::support::{assert_success, registry::Registry, run};
    let key = CosignKey::ecdsa_p256();
    let b = signed_bed(&key, None);
    let signed = sign_release(&b.release, &b.registry.client(), &key);
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    assert_success(&run(crate::faults::args(&b.release, format!("--to={}/{DEST_REPO}", front.host()), &["-q"])));
    let asked: Vec<String> =
        front.log().into_iter().filter(|e| e.method == "HEAD" || e.method == "GET").map(|e| e.path).collect();
    // The release image's own signature is looked for there too: no manifest was read to
    // tell whether the destination has the release.
    for s in signed.iter().filter(|s| s.image != b.release.release_digest) {
        let tag = crate::support::cosign::signature_tag(&s.image);
        let n = asked.iter().filter(|p| p.ends_with(&format!("/manifests/{tag}"))).count();
        // The plan lists the destination's tags instead of asking for each (upgrade::long).
        assert_eq!(n, 0, "{tag}: the image is not there, so its signature is not judged there");
    }
    assert_signatures_copied(&signed, &dest);
}

#[test]
fn a_components_signature_is_looked_up_while_its_manifest_is_still_on_its_way() {
    use crate::support::proxy::{Action, Fault};
    use crate::support::{assert_success, registry::Registry, run};
    let key = CosignKey::rsa();
    let b = signed_bed(&key, None);
    let signed = sign_release(&b.release, &b.registry.client(), &key);
    // A distant source: each component's manifest answers a second late.
    let slow = std::time::Duration::from_secs(1);
    let components: Vec<_> = b.release.images.iter().collect();
    for c in &components {
        b.proxy.add(Fault::new(Action::Delay(slow)).on("GET", &format!("/manifests/{}", c.digest)));
    }
    let dest = Registry::start();
    assert_success(&run(crate::faults::args(&b.release, format!("--to={}/{DEST_REPO}", dest.host()), &["-q"])));
    let log = b.proxy.log();
    for c in components {
        let tag = crate::support::cosign::signature_tag(&c.digest);
        let read = log.iter().find(|e| e.method == "GET" && e.path.ends_with(&format!("/manifests/{}", c.digest)));
        let read = read.unwrap_or_else(|| panic!("{} read from the source", c.digest));
        let looked = log.iter().find(|e| e.method == "GET" && e.path.ends_with(&format!("/manifests/{tag}")));
        let looked = looked.unwrap_or_else(|| panic!("{tag} looked up"));
        assert!(looked.at < read.done, "{tag} asked for before {}'s manifest had come back", c.name);
    }
    assert_signatures_copied(&signed, &dest);
}

#[test]
fn the_signature_step_reads_no_config_a_verdict_does_not_need_before_the_copy_begins() {
    let (b, signed, dest) = mirrored(&CosignKey::ecdsa_p256());
    let gets = b.proxy.requests("GET", "/blobs/");
    let read_at =
        |digest: &str| gets.iter().filter(|e| e.path.ends_with(&format!("/blobs/{digest}"))).map(|e| e.at).min();
    // The copy begins with the components' layers (the release's own are read to find them).
    let release = b.release.all_images().find(|i| i.digest == b.release.release_digest).expect("release image");
    let component_blobs = b
        .release
        .all_images()
        .filter(|i| i.digest != release.digest)
        .flat_map(|i| i.blobs.iter())
        .filter(|d| !release.blobs.contains(d));
    let copy_began = component_blobs.filter_map(|d| read_at(d)).min().expect("a component's blob copied");
    for s in &signed {
        let (config, _) = &s.signature.blobs[0];
        let at = read_at(config).unwrap_or_else(|| panic!("the config of {}'s signature was never read", s.image));
        assert!(at >= copy_began, "the config of {}'s signature read before the copy began", s.image);
    }
    assert_signatures_copied(&signed, &dest);
}
