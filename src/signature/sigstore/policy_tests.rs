use super::*;
use crate::signature::sigstore::key::tests::P256_PEM;

const RELEASE: &str = "quay.io/openshift-release-dev/ocp-release";
const ART_4: &str = "quay.io/openshift-release-dev/ocp-v4.0-art-dev";
const ART_5: &str = "quay.io/openshift-release-dev/ocp-v5.0-art-dev";

fn key_data(pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem)
}

fn manifest(annotations: &str, scopes: &[&str], identity: &str) -> String {
    let scopes: String = scopes.iter().map(|s| format!("  - {s}\n")).collect();
    format!(
        "apiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata:\n  name: openshift\n  annotations:\n    \
         kubernetes.io/description: test\n{annotations}spec:\n  scopes:\n{scopes}  policy:\n    rootOfTrust:\n      \
         policyType: PublicKey\n      publicKey:\n        keyData: {}\n{identity}",
        key_data(P256_PEM)
    )
}

fn one(yaml: &str) -> ImagePolicy {
    let mut all = parse_policies(yaml.as_bytes()).unwrap();
    assert_eq!(all.len(), 1, "{yaml}");
    all.remove(0)
}

fn image(text: &str) -> ImageRef {
    ImageRef::parse(text).unwrap()
}

#[test]
fn reads_scopes_key_and_the_default_identity_of_a_4_22_shaped_policy() {
    let p = one(&manifest("", &[RELEASE, ART_4, ART_5], ""));
    assert_eq!(p.scopes, [RELEASE, ART_4, ART_5]);
    assert!(matches!(&p.root, RootOfTrust::PublicKey(k) if k.algorithm() == "ECDSA P-256"));
    assert_eq!(p.identity, SignedIdentity::MatchRepoDigestOrExact);
    assert!(p.enforced_by_default());
}

#[test]
fn a_feature_set_annotation_limits_the_policy_to_that_feature_set() {
    let p = one(&manifest(&format!("    {FEATURE_SET}: TechPreviewNoUpgrade\n"), &[RELEASE], ""));
    assert_eq!(p.feature_sets, ["TechPreviewNoUpgrade"]);
    assert!(!p.enforced_by_default());
    let both = one(&manifest(&format!("    {FEATURE_SET}: Default,TechPreviewNoUpgrade\n"), &[RELEASE], ""));
    assert!(both.enforced_by_default(), "a list naming Default applies to default clusters");
}

#[test]
fn reads_each_signed_identity_match_policy() {
    let cases = [
        ("    signedIdentity:\n      matchPolicy: MatchRepository\n", SignedIdentity::MatchRepository),
        (
            "    signedIdentity:\n      matchPolicy: ExactRepository\n      exactRepository:\n        repository: quay.io/a/b\n",
            SignedIdentity::ExactRepository("quay.io/a/b".into()),
        ),
        (
            "    signedIdentity:\n      matchPolicy: RemapIdentity\n      remapIdentity:\n        prefix: mirror.example:5000\n        signedPrefix: quay.io/openshift-release-dev\n",
            SignedIdentity::RemapIdentity {
                prefix: "mirror.example:5000".into(),
                signed_prefix: "quay.io/openshift-release-dev".into(),
            },
        ),
    ];
    for (identity, expected) in cases {
        assert_eq!(one(&manifest("", &[RELEASE], identity)).identity, expected, "{identity}");
    }
}

#[test]
fn refuses_a_policy_it_cannot_understand_naming_the_reason() {
    let unknown = manifest("", &[RELEASE], "    signedIdentity:\n      matchPolicy: Whatever\n");
    assert!(parse_policies(unknown.as_bytes()).unwrap_err().to_string().contains("Whatever"));
    let tagged = manifest(
        "",
        &[RELEASE],
        "    signedIdentity:\n      matchPolicy: RemapIdentity\n      remapIdentity:\n        prefix: quay.io/a:1\n        signedPrefix: quay.io/b\n",
    );
    assert!(parse_policies(tagged.as_bytes()).unwrap_err().to_string().contains("remapIdentity.prefix"));
    let bad_key = manifest("", &[RELEASE], "").replace(&key_data(P256_PEM), "bm90IGEga2V5");
    assert!(parse_policies(bad_key.as_bytes()).unwrap_err().to_string().contains("keyData"));
    let no_scopes = manifest("", &[], "").replace("  scopes:\n", "");
    assert!(parse_policies(no_scopes.as_bytes()).unwrap_err().to_string().contains("no scopes"));
}

#[test]
fn a_root_of_trust_it_cannot_check_offline_is_kept_as_unsupported() {
    let fulcio = manifest("", &[RELEASE], "").replace("policyType: PublicKey", "policyType: FulcioCAWithRekor");
    assert_eq!(one(&fulcio).root, RootOfTrust::Unsupported("policyType FulcioCAWithRekor".into()));
    let rekor =
        manifest("", &[RELEASE], "").replace("        keyData:", "        rekorKeyData: eA==\n        keyData:");
    assert!(matches!(one(&rekor).root, RootOfTrust::Unsupported(_)));
}

#[test]
fn own_keys_replace_the_policy_key_and_stand_in_for_one_that_cannot_be_checked() {
    let p = one(&manifest("", &[RELEASE], ""));
    let RootOfTrust::PublicKey(policy_key) = &p.root else { panic!("a key") };
    assert_eq!(p.trust(&[]).unwrap().keys, std::slice::from_ref(policy_key));
    let own = [PublicKey::from_pem(crate::signature::sigstore::key::tests::RSA_PEM.as_bytes()).unwrap()];
    assert_eq!(p.trust(&own).unwrap().keys, own);
    let fulcio = one(&manifest("", &[RELEASE], "").replace("policyType: PublicKey", "policyType: FulcioCAWithRekor"));
    assert!(fulcio.trust(&[]).unwrap_err().contains("--sigstore-key"));
    assert_eq!(fulcio.trust(&own).unwrap().identity, &SignedIdentity::MatchRepoDigestOrExact);
}

#[test]
fn only_cluster_image_policies_named_openshift_are_kept() {
    let other = manifest("", &[RELEASE], "").replace("name: openshift", "name: mine");
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  names:\n    kind: ClusterImagePolicy\n";
    let yaml = format!("{other}---\n{crd}---\n{}", manifest("", &[RELEASE], ""));
    assert_eq!(parse_policies(yaml.as_bytes()).unwrap().len(), 1);
    assert!(!mentions_policy(crd.as_bytes()), "the CRD names the kind only indented");
    assert!(mentions_policy(yaml.as_bytes()));
}

#[test]
fn scopes_cover_a_repository_its_namespace_host_and_wildcards() {
    let digest = format!("@sha256:{}", "a".repeat(64));
    let component = image(&format!("{ART_4}{digest}"));
    assert!(scope_matches(ART_4, &component));
    assert!(scope_matches("quay.io/openshift-release-dev", &component));
    assert!(scope_matches("quay.io", &component));
    assert!(scope_matches("*.io", &component));
    assert!(scope_matches(&format!("{ART_4}{digest}"), &component));
    assert!(!scope_matches(RELEASE, &component));
    assert!(!scope_matches("quay.io/openshift-release-dev/ocp-v4", &component), "a prefix stops at a slash");
    assert!(!scope_matches("*.quay.io", &component));
    let p = one(&manifest("", &[RELEASE], ""));
    assert_eq!(p.scope_of(&image(&format!("{RELEASE}{digest}"))), Some(RELEASE));
    assert_eq!(p.scope_of(&component), None);
}

/// Every policy shipped from 4.17 to 5.1 and main: scopes, key and enforcement as
/// SOURCES.md §1 describes them.
#[test]
#[ignore = "needs ../shared/fixtures"]
fn every_shipped_openshift_policy_parses_with_its_scopes_and_enforcement() {
    let dir = crate::signature::vectors::fixtures().join("sigstore");
    let key3 = PublicKey::from_pem(&std::fs::read(dir.join("redhat-release-3.pem")).unwrap()).unwrap();
    let old_key =
        PublicKey::from_pem(&std::fs::read(dir.join("redhat-sigstore-key-release-4.17.pem")).unwrap()).unwrap();
    let all = [RELEASE, ART_4, ART_5];
    let cases: [(&str, bool, &[&str], &PublicKey); 10] = [
        ("release-4.17", false, &[RELEASE], &old_key),
        ("release-4.18", false, &[RELEASE], &key3),
        ("release-4.19", false, &[RELEASE], &key3),
        ("release-4.20", false, &[RELEASE], &key3),
        ("release-4.21", true, &[RELEASE], &key3),
        ("release-4.22", true, &all, &key3),
        ("release-4.23", true, &all, &key3),
        ("release-5.0", true, &all, &key3),
        ("release-5.1", true, &all, &key3),
        ("main", true, &all, &key3),
    ];
    for (branch, enforced, scopes, key) in cases {
        let path = dir.join(format!("cluster-image-policy-{branch}.yaml"));
        let yaml = std::fs::read(&path).unwrap();
        assert!(mentions_policy(&yaml), "{branch}");
        let p = one(std::str::from_utf8(&yaml).unwrap());
        assert_eq!(p.enforced_by_default(), enforced, "{branch}");
        assert_eq!(p.scopes, scopes, "{branch}");
        assert_eq!(p.root, RootOfTrust::PublicKey(key.clone()), "{branch}");
        assert_eq!(p.identity, SignedIdentity::MatchRepoDigestOrExact, "{branch}");
    }
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn release_key_3_is_read_from_the_4_22_policy() {
    let dir = crate::signature::vectors::fixtures().join("sigstore");
    let p = one(&std::fs::read_to_string(dir.join("cluster-image-policy-release-4.22.yaml")).unwrap());
    let RootOfTrust::PublicKey(key) = p.root else { panic!("a public key") };
    assert_eq!(key.algorithm(), "RSA-4096");
    assert!(key.fingerprint().hex().ends_with("e60d446e63405576"), "release key 3's key ID");
}
