//! Mirror configuration for the cluster: ImageDigestMirrorSet / ImageContentSourcePolicy and
//! the install-config snippets, covering every source repository of the release (pure).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::plan::Mapping;

/// Which mirror configuration to print at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Instructions {
    /// ImageDigestMirrorSet and install-config imageDigestSources (OpenShift 4.13+).
    #[default]
    Idms,
    /// ImageContentSourcePolicy and install-config imageContentSources (older clusters).
    Icsp,
    /// No mirror configuration.
    None,
}

/// One source repository and the mirrors that serve it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MirrorSource {
    pub(crate) source: String,
    pub(crate) mirrors: Vec<String>,
}

/// Group the mappings by the repository the payload names, in first-seen order.
pub(crate) fn mirror_sources(mappings: &[Mapping]) -> Vec<MirrorSource> {
    let mut order: Vec<String> = Vec::new();
    let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // A file:// origin (a release uploaded from disk) names no registry a cluster pulls from.
    for m in mappings.iter().filter(|m| m.origin.registry().is_some()) {
        let source = m.origin.name();
        let mirror = m.destination.name();
        let mirrors = by_source.entry(source.clone()).or_insert_with(|| {
            order.push(source.clone());
            Vec::new()
        });
        if !mirrors.contains(&mirror) {
            mirrors.push(mirror);
        }
    }
    order.into_iter().map(|s| MirrorSource { mirrors: by_source.remove(&s).unwrap_or_default(), source: s }).collect()
}

/// The install-config section and the cluster object, as oc prints them.
pub fn render(kind: Instructions, sources: &[MirrorSource]) -> String {
    let (field, object) = match kind {
        Instructions::None => return String::new(),
        Instructions::Idms => ("imageDigestSources", idms(sources)),
        Instructions::Icsp => ("imageContentSources", icsp(sources)),
    };
    let name = if kind == Instructions::Idms { "an ImageDigestMirrorSet" } else { "an ImageContentSourcePolicy" };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "To use the new mirrored repository to install, add the following section to the install-config.yaml:\n"
    );
    let _ = writeln!(out, "{field}:");
    out.push_str(&entries(sources, ""));
    let _ = writeln!(out, "\nTo use the new mirrored repository for upgrades, use the following to create {name}:\n");
    out.push_str(&object);
    out
}

fn entries(sources: &[MirrorSource], indent: &str) -> String {
    let mut out = String::new();
    for s in sources {
        let _ = writeln!(out, "{indent}- mirrors:");
        for m in &s.mirrors {
            let _ = writeln!(out, "{indent}  - {}", scalar(m));
        }
        let _ = writeln!(out, "{indent}  source: {}", scalar(&s.source));
    }
    out
}

/// `text` as a YAML scalar: plain when YAML reads it back as the same string (every real
/// repository name), else double-quoted (`[::1]:5000/ocp/release`; JSON's string syntax is
/// YAML's double-quoted scalar).
fn scalar(text: &str) -> String {
    let plain = text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "._/:@-".contains(c))
        && !text.ends_with(':');
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

fn idms(sources: &[MirrorSource]) -> String {
    format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: release-mirror\nspec:\n  imageDigestMirrors:\n{}",
        entries(sources, "  ")
    )
}

fn icsp(sources: &[MirrorSource]) -> String {
    format!(
        "apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nmetadata:\n  name: release-mirror\nspec:\n  repositoryDigestMirrors:\n{}",
        entries(sources, "  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ImageRef;

    fn mapping(name: &str, origin: &str, dest: &str) -> Mapping {
        let origin = ImageRef::parse(origin).unwrap();
        Mapping {
            name: name.into(),
            digest: origin.digest.clone().unwrap(),
            source: origin.clone(),
            origin,
            destination: ImageRef::parse(dest).unwrap(),
        }
    }

    fn sample() -> Vec<Mapping> {
        let d = format!("sha256:{}", "1".repeat(64));
        vec![
            mapping("", &format!("quay.io/ocp/release@{d}"), "m.io/mirror/release:4.1-x86_64"),
            mapping("a", &format!("quay.io/ocp/art@{d}"), "m.io/mirror/release:4.1-x86_64-a"),
            mapping("b", &format!("quay.io/ocp/art@{d}"), "m.io/mirror/release:4.1-x86_64-b"),
        ]
    }

    #[test]
    fn covers_every_source_repository_once() {
        let s = mirror_sources(&sample());
        assert_eq!(
            s,
            vec![
                MirrorSource { source: "quay.io/ocp/release".into(), mirrors: vec!["m.io/mirror/release".into()] },
                MirrorSource { source: "quay.io/ocp/art".into(), mirrors: vec!["m.io/mirror/release".into()] },
            ]
        );
    }

    #[test]
    fn renders_an_image_digest_mirror_set() {
        let text = render(Instructions::Idms, &mirror_sources(&sample()));
        assert!(
            text.contains("imageDigestSources:\n- mirrors:\n  - m.io/mirror/release\n  source: quay.io/ocp/release\n"),
            "{text}"
        );
        assert!(text.contains("kind: ImageDigestMirrorSet\n"));
        assert!(
            text.contains("  imageDigestMirrors:\n  - mirrors:\n    - m.io/mirror/release\n    source: quay.io/ocp/release\n  - mirrors:\n    - m.io/mirror/release\n    source: quay.io/ocp/art\n"),
            "{text}"
        );
    }

    #[test]
    fn an_ipv6_mirror_is_quoted_so_yaml_reads_it_back() {
        let d = format!("sha256:{}", "1".repeat(64));
        let mappings = [mapping("", &format!("quay.io/ocp/release@{d}"), "[::1]:5000/ocp/release:4.1-x86_64")];
        for kind in [Instructions::Idms, Instructions::Icsp] {
            let text = render(kind, &mirror_sources(&mappings));
            let object = &text[text.find("apiVersion").expect("object")..];
            let doc: serde_json::Value = serde_saphyr::from_str(object).expect("valid YAML");
            let spec = &doc["spec"];
            let entry = spec.get("imageDigestMirrors").or(spec.get("repositoryDigestMirrors")).expect("entries");
            assert_eq!(entry[0]["mirrors"][0], "[::1]:5000/ocp/release", "{text}");
            assert_eq!(entry[0]["source"], "quay.io/ocp/release");
            let install = &text[text.find("- mirrors").expect("install section")..text.find("\nTo use").expect("end")];
            let doc: serde_json::Value = serde_saphyr::from_str(install).expect("valid YAML");
            assert_eq!(doc[0]["mirrors"][0], "[::1]:5000/ocp/release", "{text}");
        }
    }

    #[test]
    fn renders_an_image_content_source_policy_or_nothing() {
        let text = render(Instructions::Icsp, &mirror_sources(&sample()));
        assert!(text.contains("imageContentSources:") && text.contains("kind: ImageContentSourcePolicy"), "{text}");
        assert!(text.contains("repositoryDigestMirrors:"));
        assert_eq!(render(Instructions::None, &mirror_sources(&sample())), "");
    }
}
