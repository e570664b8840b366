//! Sigstore (cosign) signatures through the public API, against a real registry: a release
//! whose payload carries a ClusterImagePolicy, its images signed by `openssl` in cosign's
//! exact format (support/cosign.rs), read back and judged by `signature::sigstore`; what
//! they cost a run is in `cost`.

mod cost;

use release_mirror::digest::Digest;
use release_mirror::reference::ImageRef;
use release_mirror::registry::{RegistryStore, Settings, Transport};
use release_mirror::release::{self, Release};
use release_mirror::signature::sigstore::{self, ImagePolicy, Subject, Verdict};
use release_mirror::store::BlobCheck;

use crate::mirror::{source_with, Source};
use crate::support::cosign::{sign_and_push, sign_release, signature_image, unsign, CosignKey, Signature};
use crate::support::spec::{ImagePolicySpec, ReleaseSpec};

/// A release of 3 components (the first a list of 2 platform images) whose payload's policy
/// trusts `key` (`feature_set` as given).
fn release_with_policy(key: &CosignKey, feature_set: Option<&str>) -> Source {
    let image_policy =
        Some(ImagePolicySpec { key_pem: key.public_pem.clone(), feature_set: feature_set.map(Into::into) });
    source_with(ReleaseSpec { components: 3, multi_arch_components: 1, image_policy, ..ReleaseSpec::default() })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    crate::support::install_crypto();
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

fn store(src: &Source) -> RegistryStore {
    let http = release_mirror::http::Settings { insecure: true, ..Default::default() };
    let progress = release_mirror::progress::Progress::new(std::sync::Arc::new(release_mirror::events::Discard));
    let transport = Transport::new(&http, &Settings::default(), progress).expect("transport");
    RegistryStore::new(transport.client(&src.registry.host()))
}

fn load(src: &Source) -> Release {
    let reference = ImageRef::parse(&src.release.release_ref()).expect("release reference");
    block_on(release::load(&store(src), &reference, BlobCheck::Digest)).expect("the release loads")
}

/// Judge the signature of the image `reference` (`host/repo@digest`) under `policy`.
fn judge(src: &Source, policy: &ImagePolicy, reference: &str) -> Verdict {
    let logical = ImageRef::parse(reference).expect("image reference");
    let digest: Digest = logical.digest.clone().expect("a digest reference");
    assert!(policy.scope_of(&logical).is_some(), "{reference} is in a scope of the policy");
    let subject = Subject { digest: &digest, logical: &logical };
    let trust = policy.trust(&[]).expect("the policy's key");
    block_on(sigstore::check(&store(src), &logical.repository, subject, trust)).expect("the lookup runs")
}

#[test]
fn a_release_and_its_components_signed_with_rsa_or_ecdsa_keys_are_verified_from_the_registry() {
    for key in [CosignKey::rsa(), CosignKey::ecdsa_p256()] {
        let src = release_with_policy(&key, None);
        let release = load(&src);
        let policy = release.enforced_image_policy().expect("a 4.22-shaped policy is enforced");
        assert_eq!(policy.scopes.len(), 2, "the release and the component repository");
        let signed = sign_release(&src.release, &src.registry.client(), &key);
        assert_eq!(signed.len(), 1 + 3 + 2, "the release, 3 components, the 2 platform images of a list");
        for s in &signed {
            let reference = format!("{}/{}@{}", src.release.host, s.repo, s.image);
            let verdict = judge(&src, policy, &reference);
            let Verdict::Verified { signature, .. } = verdict else { panic!("{reference}: {verdict:?}") };
            assert_eq!(signature.as_str(), s.signature.digest, "{reference}");
        }
    }
}

#[test]
fn a_component_signed_by_another_key_is_rejected_and_an_unsigned_one_is_missing() {
    let (trusted, stranger) = (CosignKey::rsa(), CosignKey::ecdsa_p256());
    let src = release_with_policy(&trusted, None);
    let release = load(&src);
    let policy = release.enforced_image_policy().expect("enforced");
    let (host, signed, unsigned) = (&src.release.host, &src.release.images[1], &src.release.images[2]);
    let identity = format!("{host}/{}:4.99.0", signed.repo);
    sign_and_push(&src.registry.client(), &signed.repo, &signed.digest, &identity, &stranger);
    let reference = format!("{host}/{}@{}", signed.repo, signed.digest);
    let Verdict::Rejected { reasons, .. } = judge(&src, policy, &reference) else { panic!("rejected") };
    assert!(reasons[0].contains("does not verify with RSA-2048 key"), "{reasons:?}");
    assert_eq!(judge(&src, policy, &format!("{host}/{}@{}", unsigned.repo, unsigned.digest)), Verdict::Missing);
}

#[test]
fn a_4_20_shaped_tech_preview_policy_is_kept_but_not_enforced_by_default() {
    let src = release_with_policy(&CosignKey::ecdsa_p256(), Some("TechPreviewNoUpgrade"));
    let release = load(&src);
    assert_eq!(release.image_policies.len(), 1);
    assert_eq!(release.image_policies[0].feature_sets, ["TechPreviewNoUpgrade"]);
    assert_eq!(release.image_policies[0].scopes, [format!("{}/{}", src.release.host, src.release.release_repo)]);
    assert!(release.enforced_image_policy().is_none());
}

/// The test bed's `.sig` image is cosign's, byte for byte: built from the real vector's
/// payload and signature, it has the vector's config and, but for the Rekor bundle
/// annotation the test bed does not make, its manifest.
#[test]
#[ignore = "needs ../shared/fixtures"]
fn the_test_bed_builds_signature_images_byte_for_byte_as_cosign_does() {
    use base64::Engine as _;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/sigstore/cosign-oc-mirror-empty-image");
    let manifest = std::fs::read_to_string(dir.join("sig-manifest.json")).expect("the vector's manifest");
    let doc: serde_json::Value = serde_json::from_str(&manifest).expect("JSON");
    let layer = &doc["layers"][0];
    let encoded = layer["annotations"]["dev.cosignproject.cosign/signature"].as_str().expect("signature");
    let signature = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
    let payload = std::fs::read(dir.join("payload.json")).expect("payload");
    let built = signature_image(&[Signature { payload, signature }]);
    assert_eq!(built.blobs[0].0, doc["config"]["digest"].as_str().expect("config digest"), "the config");
    let bundle = serde_json::to_string(layer["annotations"]["dev.sigstore.cosign/bundle"].as_str().unwrap()).unwrap();
    let without_bundle = manifest.replace(&format!(",\"dev.sigstore.cosign/bundle\":{bundle}"), "");
    assert_eq!(String::from_utf8(built.manifest).unwrap(), without_bundle);
}

// ---- The run: every signature found, verified before the copy, copied beside its image.

const DEST_REPO: &str = "mirror/ocp/release";

/// `mirror` with `extra` flags, source → `dest` (GPG signatures skipped: tested elsewhere).
fn mirror_to(src: &Source, dest: &crate::support::registry::Registry, extra: &[&str]) -> std::process::Output {
    crate::support::run(crate::mirror::mirror_args(src, dest, extra))
}

/// Every pushed signature is in `dest` beside its image, byte for byte.
fn assert_signatures_copied(signed: &[crate::support::cosign::Signed], dest: &crate::support::registry::Registry) {
    for s in signed {
        let tag = crate::support::cosign::signature_tag(&s.image);
        let (bytes, _, _) = dest.client().get_manifest(DEST_REPO, &tag).unwrap_or_else(|| panic!("{tag} mirrored"));
        assert_eq!(bytes, s.signature.manifest, "{tag}: byte for byte");
    }
}

#[test]
fn a_release_signed_with_an_rsa_or_an_ecdsa_key_is_mirrored_with_every_signature_verified_and_copied() {
    use crate::support::{assert_success, registry::Registry, run, stdout, temp_dir};
    for key in [CosignKey::rsa(), CosignKey::ecdsa_p256()] {
        let src = release_with_policy(&key, None);
        let signed = sign_release(&src.release, &src.registry.client(), &key);
        let dest = Registry::start();
        let out = mirror_to(&src, &dest, &[]);
        assert_success(&out);
        assert_signatures_copied(&signed, &dest);
        let text = stdout(&out);
        assert!(text.contains("Sigstore signatures of release 4.99.0: 6 verified and copied\n"), "{text}");
        assert!(text.contains("ack-4.20-sigstore-in-4.21"), "the admin-ack for a 4.21+ release: {text}");

        // registry → disk → registry: the tree holds the tags, the upload checks them again.
        let media = temp_dir();
        let dir = format!("--to-dir={}", media.path().display());
        let to_disk = [format!("--from={}", src.release.release_ref()), dir, "--insecure".into()];
        let skip = "--skip-release-image-signature".to_string();
        assert_success(&run(to_disk.iter().cloned().chain([skip.clone()])));
        let second = Registry::start();
        let out = run([
            format!("--from-dir={}", media.path().display()),
            format!("--to={}/{DEST_REPO}", second.host()),
            "--insecure".into(),
            skip,
        ]);
        assert_success(&out);
        assert_signatures_copied(&signed, &second);
        assert!(stdout(&out).contains(": 6 verified and copied\n"), "{}", stdout(&out));
    }
}

#[test]
fn a_component_signed_by_another_key_stops_the_run_with_exit_3_and_nothing_copied() {
    use crate::support::{assert_success, registry::Registry, stderr, stdout};
    let (trusted, stranger) = (CosignKey::rsa(), CosignKey::ecdsa_p256());
    let src = release_with_policy(&trusted, None);
    let signed = sign_release(&src.release, &src.registry.client(), &trusted);
    let (forged, unsigned) = (&src.release.images[1], &src.release.images[2]);
    let identity = format!("{}/{}:4.99.0", src.release.host, forged.repo);
    sign_and_push(&src.registry.client(), &forged.repo, &forged.digest, &identity, &stranger);
    unsign(&src.registry.client(), &signed, unsigned);
    let dest = Registry::start();
    let out = mirror_to(&src, &dest, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    for (c, why) in [(forged, "does not verify with RSA-2048 key"), (unsigned, "no signature")] {
        let line = err.lines().find(|l| l.contains(&format!("component {} (", c.name))).unwrap_or("");
        assert!(line.contains("release 4.99.0") && line.contains(&c.digest) && line.contains(why), "{err}");
    }
    assert!(dest.client().catalog().is_empty(), "nothing copied");

    // --sigstore=copy mirrors what verifies, and says what is missing.
    let out = mirror_to(&src, &dest, &["--sigstore=copy"]);
    assert_success(&out);
    let ok: Vec<_> = signed.into_iter().filter(|s| s.image != forged.digest && s.image != unsigned.digest).collect();
    assert_signatures_copied(&ok, &dest);
    let missing = crate::support::cosign::signature_tag(&forged.digest);
    assert!(dest.client().get_manifest(DEST_REPO, &missing).is_none(), "a refused signature is not copied");
    assert!(stdout(&out).contains(": 4 verified and copied, 2 missing\n"), "{}", stdout(&out));
    for c in [forged, unsigned] {
        let warned = format!("warning: sigstore signature missing: release 4.99.0, component {} (", c.name);
        assert_eq!(stderr(&out).matches(&warned).count(), 1, "{}", stderr(&out));
    }
    assert!(!stdout(&out).contains("ack-4.20-sigstore-in-4.21"), "no admin-ack while signatures are missing");
}

#[test]
fn a_list_without_its_own_signature_mirrors_under_require_because_the_nodes_check_its_platform_images() {
    use crate::support::{assert_success, registry::Registry, stderr, stdout};
    let key = CosignKey::rsa();
    let src = release_with_policy(&key, None);
    let signed = sign_release(&src.release, &src.registry.client(), &key);
    let list = &src.release.images[0];
    assert_eq!(list.children.len(), 2, "the first component is a list");
    unsign(&src.registry.client(), &signed, list);
    let dest = Registry::start();
    let out = mirror_to(&src, &dest, &[]);
    assert_success(&out);
    let rest: Vec<_> = signed.into_iter().filter(|s| s.image != list.digest).collect();
    assert_signatures_copied(&rest, &dest);
    assert!(stdout(&out).contains(": 5 verified and copied\n"), "{}", stdout(&out));
    assert!(!stderr(&out).contains("missing"), "the list's own signature is not required: {}", stderr(&out));
}

#[test]
fn a_4_20_shaped_payload_without_signatures_mirrors_with_one_warning_line() {
    use crate::support::{assert_success, registry::Registry, stderr};
    let src = release_with_policy(&CosignKey::ecdsa_p256(), Some("TechPreviewNoUpgrade"));
    let dest = Registry::start();
    let out = mirror_to(&src, &dest, &[]);
    assert_success(&out);
    let err = stderr(&out);
    let warnings: Vec<&str> =
        err.lines().filter(|l| l.starts_with("warning:") && !l.contains("--skip-release-image-signature")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("TechPreviewNoUpgrade"), "{err}");
    let text = crate::support::stdout(&out);
    assert!(!text.contains("Sigstore signatures of release"), "nothing to count where none is needed: {text}");
}

#[test]
fn a_4_20_shaped_payload_with_a_signed_release_copies_that_signature_verified_and_no_component_ones() {
    use crate::support::{assert_success, registry::Registry, stderr, stdout};
    let key = CosignKey::ecdsa_p256();
    let src = release_with_policy(&key, Some("TechPreviewNoUpgrade"));
    let signed = sign_release(&src.release, &src.registry.client(), &key);
    let dest = Registry::start();
    let out = mirror_to(&src, &dest, &[]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("Sigstore signatures of release 4.99.0: 1 verified and copied\n"),
        "{}",
        stdout(&out)
    );
    let release = signed.iter().filter(|s| s.image == src.release.release_digest).collect::<Vec<_>>();
    assert_eq!(release.len(), 1);
    let copied = dest.client().get_manifest(DEST_REPO, &crate::support::cosign::signature_tag(&release[0].image));
    assert_eq!(copied.map(|(bytes, _, _)| bytes), Some(release[0].signature.manifest.clone()), "byte for byte");
    let component = crate::support::cosign::signature_tag(&src.release.images[1].digest);
    assert!(dest.client().get_manifest(DEST_REPO, &component).is_none(), "no policy covers the components");
    assert!(!stderr(&out).contains("TechPreviewNoUpgrade"), "{}", stderr(&out));
}

#[test]
fn a_signed_mirror_reads_each_component_and_signature_once_and_its_rerun_asks_the_source_for_the_release_only() {
    use crate::support::{assert_success, registry::Registry, run};
    let key = CosignKey::ecdsa_p256();
    let image_policy = Some(ImagePolicySpec { key_pem: key.public_pem.clone(), feature_set: None });
    let spec = ReleaseSpec { components: 3, multi_arch_components: 1, image_policy, ..ReleaseSpec::default() };
    let b = crate::faults::bed(spec);
    let signed = sign_release(&b.release, &b.registry.client(), &key);
    let dest = Registry::start();
    let to = format!("--to={}/{DEST_REPO}", dest.host());
    assert_success(&run(crate::faults::args(&b.release, to.clone(), &["-q"])));
    let gets = b.proxy.requests("GET", "/manifests/");
    let read = |digest: &str| gets.iter().filter(|e| e.path.ends_with(&format!("/manifests/{digest}"))).count();
    for image in &b.release.images {
        assert_eq!(read(&image.digest), 1, "{} read once, for its signatures and the copy", image.name);
    }
    for s in &signed {
        // By its digest or by its tag: one read either way.
        let reads = read(&s.signature.digest) + read(&crate::support::cosign::signature_tag(&s.image));
        assert_eq!(reads, 1, "the signature of {} read once, to judge and to copy", s.image);
    }
    let before = b.proxy.log().len();
    let out = run(crate::faults::args(&b.release, to, &[]));
    assert_success(&out);
    assert!(crate::support::stdout(&out).contains(": 6 verified and copied\n"), "verified in the destination");
    let asked: Vec<String> = b.proxy.log().into_iter().skip(before).map(|e| e.path).collect();
    let release = [b.release.release_digest.as_str(), b.release.release_tag.as_str()];
    let manifests: Vec<&String> = asked.iter().filter(|p| p.contains("/manifests/")).collect();
    assert!(
        manifests.iter().all(|p| release.iter().any(|r| p.ends_with(&format!("/manifests/{r}")))),
        "only the release manifest, no signature: {manifests:?}"
    );
}

#[test]
fn the_upload_checks_the_trees_signatures_again_and_a_key_of_ones_own_replaces_the_payloads() {
    use crate::support::{assert_success, registry::Registry, run, stderr, temp_dir};
    let (key, other) = (CosignKey::ecdsa_p256(), CosignKey::rsa());
    let src = release_with_policy(&key, None);
    let signed = sign_release(&src.release, &src.registry.client(), &key);
    let media = temp_dir();
    let dir = format!("--to-dir={}", media.path().display());
    let skip = "--skip-release-image-signature".to_string();
    let from = format!("--from={}", src.release.release_ref());
    assert_success(&run([from, dir, "--insecure".into(), skip.clone()]));
    let keys = temp_dir();
    let write = |name: &str, k: &CosignKey| {
        let path = keys.path().join(name);
        std::fs::write(&path, &k.public_pem).expect("write the key");
        format!("--sigstore-key={}", path.display())
    };
    let (own, theirs) = (write("own.pem", &key), write("other.pem", &other));
    let upload = |dest: &Registry, key: &str| {
        run([
            format!("--from-dir={}", media.path().display()),
            format!("--to={}/{DEST_REPO}", dest.host()),
            "--insecure".into(),
            skip.clone(),
            key.to_string(),
        ])
    };
    let dest = Registry::start();
    let out = upload(&dest, &theirs);
    assert_eq!(out.status.code(), Some(3), "the tree's signatures are checked with --sigstore-key: {}", stderr(&out));
    assert!(stderr(&out).contains("does not verify with RSA-2048 key"), "{}", stderr(&out));
    assert!(dest.client().catalog().is_empty(), "nothing uploaded");
    assert_success(&upload(&dest, &own));
    assert_signatures_copied(&signed, &dest);
}

#[test]
fn a_dry_run_lists_the_signatures_it_would_copy_and_the_missing_ones_per_release_in_text_and_json() {
    use crate::support::{assert_success, registry::Registry};
    let key = CosignKey::rsa();
    let src = release_with_policy(&key, None);
    let signed = sign_release(&src.release, &src.registry.client(), &key);
    let unsigned = &src.release.images[2];
    unsign(&src.registry.client(), &signed, unsigned);
    let dest = Registry::start();
    let out = mirror_to(&src, &dest, &["--dry-run", "--sigstore=copy", "-o", "json"]);
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["schemaVersion"], 3);
    let sigstore = &json["releases"][0]["sigstore"];
    assert_eq!(sigstore["enforced"], true, "{sigstore}");
    let verified: Vec<&str> =
        sigstore["verified"].as_array().expect("list").iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(verified.len(), 5, "{sigstore}");
    for s in signed.iter().filter(|s| s.image != unsigned.digest) {
        let tag = crate::support::cosign::signature_tag(&s.image);
        assert!(verified.contains(&format!("{}/{DEST_REPO}:{tag}", dest.host()).as_str()), "{tag}: {sigstore}");
    }
    let missing = &sigstore["missing"][0];
    assert_eq!(missing["component"], unsigned.name.as_str(), "{sigstore}");
    assert!(missing["image"].as_str().is_some_and(|i| i.ends_with(&unsigned.digest)), "{sigstore}");
    assert!(dest.client().catalog().is_empty(), "a dry run copies nothing");
    let out = mirror_to(&src, &dest, &["--dry-run", "--sigstore=copy"]);
    assert_success(&out);
    let text = crate::support::stdout(&out);
    assert!(text.contains("Sigstore signatures of release 4.99.0: 5 verified and to copy, 1 missing\n"), "{text}");
    assert!(text.contains(&format!("  missing: {} ", unsigned.name)), "{text}");
    let tag = crate::support::cosign::signature_tag(&signed[1].image);
    assert!(text.contains(&format!("{}/{DEST_REPO}:{tag}", dest.host())), "each signature to copy listed: {text}");
    assert!(dest.client().catalog().is_empty(), "a dry run copies nothing");
}

#[test]
fn verify_signature_checks_the_sigstore_signature_of_each_platform_image_in_a_registry_or_a_tree() {
    use crate::support::{assert_success, run, stdout, temp_dir};
    let (key, other) = (CosignKey::ecdsa_p256(), CosignKey::rsa());
    let src = release_with_policy(&key, None);
    sign_release(&src.release, &src.registry.client(), &key);
    let keys = temp_dir();
    let pem = |name: &str, k: &CosignKey| {
        let path = keys.path().join(name);
        std::fs::write(&path, &k.public_pem).expect("write the key");
        path.display().to_string()
    };
    let list = &src.release.images[0];
    assert_eq!(list.children.len(), 2, "a list of two platform images");
    let image = format!("{}/{}@{}", src.release.host, list.repo, list.digest);
    let verify = |extra: &[String]| {
        let base = ["verify-signature".to_string(), "--sigstore".into()];
        run(base.into_iter().chain(extra.iter().cloned()))
    };
    let out = verify(&[image.clone(), "--insecure".into(), format!("--key={}", pem("own.pem", &key))]);
    assert_success(&out);
    for child in &list.children {
        assert!(stdout(&out).contains(&format!("verified {}", child.digest)), "{}", stdout(&out));
    }
    let out = verify(&[image, "--insecure".into(), format!("--key={}", pem("other.pem", &other))]);
    assert_eq!(out.status.code(), Some(3), "{}", crate::support::stderr(&out));
    assert!(stdout(&out).contains(&format!("rejected {}", list.children[0].digest)), "{}", stdout(&out));

    let media = temp_dir();
    let to_disk = [
        format!("--from={}", src.release.release_ref()),
        format!("--to-dir={}", media.path().display()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ];
    assert_success(&run(to_disk));
    let out = verify(&[
        format!("file://openshift/release@{}", list.digest),
        format!("--from-dir={}", media.path().display()),
        format!("--identity={}/{}", src.release.host, list.repo),
        format!("--key={}", pem("own.pem", &key)),
    ]);
    assert_success(&out);
    assert_eq!(stdout(&out).lines().filter(|l| l.starts_with("verified ")).count(), 2, "{}", stdout(&out));
}
