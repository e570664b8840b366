//! Unit tests of release series (`spec::series`, `component_versions`) and of the default
//! output staying byte-identical.

use std::collections::BTreeSet;

use crate::generator::{generate, GeneratedRelease};
use crate::spec::{changed_components, series, Media, ReleaseSpec};

const HOST: &str = "quay.example";
const PREFIX: &str = "openshift-release-dev";
const PATH: &[&str] = &["4.99.0", "4.99.1", "4.99.2", "4.100.0"];

fn gen(spec: &ReleaseSpec) -> GeneratedRelease {
    generate(spec, HOST, PREFIX)
}

/// A spec without `component_versions` generates exactly what naming every component's own
/// version does: the knob changes nothing for existing callers. (Pinned digests would depend
/// on the gzip backend the build links, which differs between `-p release-gen` and a
/// workspace build.)
#[test]
fn default_output_is_unchanged() {
    for base in [
        ReleaseSpec::default(),
        ReleaseSpec { components: 5, multi_arch_components: 1, media: Media::Oci, ..ReleaseSpec::default() },
        ReleaseSpec {
            components: 20,
            multi_arch_components: 2,
            arch: "arm64".into(),
            seed: 7,
            ..ReleaseSpec::default()
        },
    ] {
        let explicit = ReleaseSpec { component_versions: vec![base.version.clone(); base.components], ..base.clone() };
        let (a, b) = (gen(&base), gen(&explicit));
        assert_eq!(a.release_digest, b.release_digest);
        let digests = |r: &GeneratedRelease| r.images.iter().map(|i| i.digest.clone()).collect::<Vec<_>>();
        assert_eq!(digests(&a), digests(&b));
        assert_eq!(a.release_digest, gen(&base).release_digest, "deterministic");
    }
}

fn base() -> ReleaseSpec {
    ReleaseSpec { components: 20, multi_arch_components: 2, ..ReleaseSpec::default() }
}

#[test]
fn unchanged_components_are_byte_identical_changed_ones_differ() {
    let specs = series(&base(), PATH, 0.25);
    let releases: Vec<GeneratedRelease> = specs.iter().map(gen).collect();
    for k in 1..releases.len() {
        let (before, after) = (&releases[k - 1], &releases[k]);
        let mut changed = 0;
        for (i, (a, b)) in before.images.iter().zip(&after.images).enumerate() {
            assert_eq!(a.name, b.name);
            let same_content = specs[k - 1].content_version(i) == specs[k].content_version(i);
            if same_content {
                assert_eq!(a.digest, b.digest, "{} step {k}", a.name);
                assert_eq!(a.manifest, b.manifest);
                assert_eq!(a.blobs, b.blobs);
                for digest in &a.blobs {
                    assert_eq!(before.blob(digest), after.blob(digest), "{digest}");
                }
                let children = |x: &crate::generator::GeneratedImage| {
                    x.children.iter().map(|c| c.digest.clone()).collect::<Vec<_>>()
                };
                assert_eq!(children(a), children(b));
            } else {
                changed += 1;
                assert_ne!(a.digest, b.digest, "{} step {k}", a.name);
                assert_ne!(a.blobs, b.blobs);
            }
        }
        let share = changed as f64 / before.images.len() as f64;
        assert!((0.2..=0.3).contains(&share), "step {k}: {changed} of {} changed", before.images.len());
        // Most blobs are shared between neighbours: the base layers and the unchanged layers.
        let a: BTreeSet<String> = before.all_blob_digests().into_iter().collect();
        let b: BTreeSet<String> = after.all_blob_digests().into_iter().collect();
        assert!(a.intersection(&b).count() * 10 >= a.len() * 7, "{} of {} shared", a.intersection(&b).count(), a.len());
    }
    let digests: BTreeSet<&str> = releases.iter().map(|r| r.release_digest.as_str()).collect();
    assert_eq!(digests.len(), releases.len(), "release digests all differ");
    let tags: BTreeSet<&str> = releases.iter().map(|r| r.release_tag.as_str()).collect();
    assert_eq!(tags.len(), releases.len());
}

#[test]
fn series_names_previous_versions_and_is_deterministic() {
    let specs = series(&base(), PATH, 0.25);
    assert_eq!(specs.iter().map(|s| s.version.as_str()).collect::<Vec<_>>(), PATH);
    assert_eq!(specs[0].previous, ReleaseSpec::default().previous);
    for k in 1..specs.len() {
        assert_eq!(specs[k].previous, vec![PATH[k - 1].to_string()]);
        let meta = gen(&specs[k]).manifest_file("release-metadata").map(<[u8]>::to_vec).expect("release-metadata");
        let meta: serde_json::Value = serde_json::from_slice(&meta).expect("json");
        assert_eq!(meta["version"], PATH[k]);
        assert_eq!(meta["previous"], serde_json::json!([PATH[k - 1]]));
    }
    let again = series(&base(), PATH, 0.25);
    let versions = |s: &[ReleaseSpec]| s.iter().map(|x| x.component_versions.clone()).collect::<Vec<_>>();
    assert_eq!(versions(&specs), versions(&again));
    // The first release is all its own; different steps change different components.
    assert!(specs[0].component_versions.iter().all(|v| v == "4.99.0"));
    let mut touched = BTreeSet::new();
    for k in 1..specs.len() {
        let step: BTreeSet<usize> =
            (0..20).filter(|&i| specs[k].content_version(i) != specs[k - 1].content_version(i)).collect();
        assert_eq!(step.len(), 5);
        assert_eq!(step.iter().copied().collect::<Vec<_>>(), changed_components(1, PATH[k], 20, 5));
        assert!(step.iter().all(|&i| specs[k].content_version(i) == PATH[k]));
        touched.extend(step);
    }
    assert!(touched.len() > 5, "steps change different components: {touched:?}");
}

#[test]
fn changed_count_follows_the_fraction() {
    let changed = |components: usize, fraction: f64| {
        let specs = series(&ReleaseSpec { components, ..ReleaseSpec::default() }, &["1.0.0", "1.0.1"], fraction);
        (0..components).filter(|&i| specs[1].content_version(i) != specs[0].content_version(i)).count()
    };
    assert_eq!(changed(20, 0.25), 5);
    assert_eq!(changed(10, 0.25), 3);
    assert_eq!(changed(3, 0.25), 1);
    assert_eq!(changed(3, 0.01), 1, "a positive fraction changes at least one");
    assert_eq!(changed(8, 0.0), 0);
    assert_eq!(changed(8, 1.0), 8);
    assert_eq!(changed(8, 7.0), 8, "clamped");
    assert_eq!(changed(0, 0.5), 0);
}

#[test]
fn no_change_still_gives_a_new_release_image() {
    let specs = series(&ReleaseSpec::default(), &["4.99.0", "4.99.1"], 0.0);
    let (a, b) = (gen(&specs[0]), gen(&specs[1]));
    assert_eq!(a.component_digests(), b.component_digests());
    assert_ne!(a.release_digest, b.release_digest);
    assert_eq!(b.release_tag, "4.99.1-x86_64");
}

#[test]
fn base_component_versions_and_tag_are_respected_and_reset() {
    let base = ReleaseSpec {
        component_versions: vec!["4.98.7".into()],
        release_tag: Some("fixed".into()),
        ..ReleaseSpec::default()
    };
    let specs = series(&base, &["4.99.0", "4.99.1"], 0.0);
    assert_eq!(specs[0].component_versions, ["4.98.7", "4.99.0", "4.99.0"]);
    assert!(specs.iter().all(|s| s.release_tag.is_none()));
    // Component 0 of the series is the component 0 of a plain 4.98.7 release.
    let old = gen(&ReleaseSpec { version: "4.98.7".into(), ..ReleaseSpec::default() });
    assert_eq!(gen(&specs[1]).images[0].digest, old.images[0].digest);
}
