//! A drop-in for `oc adm release mirror`: the behaviours an administrator's existing commands
//! and scripts rely on (docs/oc-compatibility.md).

use crate::faults::{args, bed};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, run_in, stderr, stdout, temp_dir};

#[test]
fn a_dry_run_needs_no_reachable_destination() {
    let b = bed(ReleaseSpec { components: 3, ..ReleaseSpec::default() });
    let out = run(args(&b.release, "--to=127.0.0.1:1/ocp/release".into(), &["--dry-run"]));
    assert_success(&out);
    let err = stderr(&out);
    assert_eq!(err.matches("planning as if the destination were empty").count(), 1, "one warning: {err}");
    let text = stdout(&out);
    assert!(text.contains("Dry run: nothing was copied."), "{text}");
    assert!(text.contains("cli: "), "the plan lists the components: {text}");
    assert!(text.contains("127.0.0.1:1/ocp/release:4.99.0-x86_64-cli"), "{text}");
}

#[test]
fn the_text_summary_has_one_mirror_prefix_line_as_oc_prints_it() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let repo = format!("{}/mirror/ocp/release", dest.host());
    let out = run(args(&b.release, format!("--to={repo}"), &[]));
    assert_success(&out);
    let text = stdout(&out);
    let prefixes: Vec<&str> = text.lines().filter(|l| l.starts_with("Mirror prefix:")).collect();
    assert_eq!(prefixes, [format!("Mirror prefix: {repo}")]);
    let release_image = format!("{}/other/release:mine", dest.host());
    let out = run(args(&b.release, format!("--to={repo}"), &[&format!("--to-release-image={release_image}")]));
    assert_success(&out);
    let text = stdout(&out);
    let prefixes: Vec<&str> = text.lines().filter(|l| l.starts_with("Mirror prefix:")).collect();
    assert_eq!(prefixes, [format!("Mirror prefix: {repo}"), format!("Mirror prefix: {release_image}")]);
    let tree = temp_dir();
    let out = run(args(&b.release, format!("--to-dir={}", tree.path().display()), &[]));
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("Update image:  openshift/release:4.99.0-x86_64\n"), "as oc names a disk target: {text}");
    assert!(!text.contains("Mirror prefix:"), "{text}");
}

#[test]
fn print_mirror_instructions_takes_any_case() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let out = run(args(&b.release, format!("--to={}/m/r", dest.host()), &["--print-mirror-instructions=ICSP"]));
    assert_success(&out);
    assert!(stdout(&out).contains("kind: ImageContentSourcePolicy"), "{}", stdout(&out));
}

/// Upload the tree at `tree` holding `release` to a fresh registry, as on the far side.
fn upload(tree: &std::path::Path, release: &crate::support::generator::GeneratedRelease) -> std::process::Output {
    let dest = Registry::start();
    run([
        format!("--from-dir={}", tree.display()),
        format!("--from=file://openshift/release:{}", release.release_tag),
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ])
}

#[test]
fn the_disk_round_trip_prints_the_release_and_component_repositories() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let tree = temp_dir();
    assert_success(&run(args(&b.release, format!("--to-dir={}", tree.path().display()), &[])));
    let out = upload(tree.path(), &b.release);
    assert_success(&out);
    let text = stdout(&out);
    let section = text.split("imageDigestSources:").nth(1).expect("an install-config section");
    let release_repo = format!("{}/{}", b.release.host, b.release.release_repo);
    let component_repo = format!("{}/ocp/ocp-v4.0-art-dev", b.release.host);
    for repo in [&release_repo, &component_repo] {
        assert!(section.contains(&format!("source: {repo}\n")), "{repo} missing:\n{text}");
    }
    assert!(!stderr(&out).contains("does not record where"), "{}", stderr(&out));
}

#[test]
fn a_tree_written_by_oc_says_the_release_repository_is_unknown() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let tree = temp_dir();
    assert_success(&run(args(&b.release, format!("--to-dir={}", tree.path().display()), &[])));
    std::fs::remove_dir_all(tree.path().join("release-mirror")).expect("as oc leaves it");
    let out = upload(tree.path(), &b.release);
    assert_success(&out);
    assert!(stderr(&out).contains("does not record where release 4.99.0 came from"), "{}", stderr(&out));
    assert!(stderr(&out).contains("add its original repository"), "{}", stderr(&out));
}

#[test]
fn file_references_use_the_current_directory_both_ways() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let cwd = temp_dir();
    let out = run_in(cwd.path(), args(&b.release, "--to=file://openshift/release".into(), &[]));
    assert_success(&out);
    assert!(cwd.path().join("v2/openshift/release/manifests").join(&b.release.release_tag).exists());
    let dest = Registry::start();
    let out = run_in(
        cwd.path(),
        [
            format!("--from=file://openshift/release:{}", b.release.release_tag),
            format!("--to={}/mirror/ocp/release", dest.host()),
            "--insecure".into(),
            "--skip-release-image-signature".into(),
        ],
    );
    assert_success(&out);
    crate::mirror::assert_complete_in(&b.release, &dest.client(), "mirror/ocp/release");
}

#[test]
fn to_mirror_prints_the_planned_mappings_and_copies_nothing() {
    let b = bed(ReleaseSpec { components: 3, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let to = format!("--to={}/mirror/ocp/release", dest.host());
    let planned = run(args(&b.release, to.clone(), &["--dry-run", "-o", "json"]));
    assert_success(&planned);
    let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).expect("JSON");
    let want: String = plan["mappings"]
        .as_array()
        .expect("mappings")
        .iter()
        .map(|m| format!("{} {}\n", m["source"].as_str().unwrap_or(""), m["destination"].as_str().unwrap_or("")))
        .collect();
    let out = run(args(&b.release, to, &["--to-mirror"]));
    assert_success(&out);
    assert_eq!(stdout(&out), want);
    assert!(dest.client().catalog().is_empty(), "nothing copied");
}

#[test]
fn unsupported_oc_forms_are_usage_errors() {
    let from = "--from=quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64";
    for (args, said) in [
        (vec![from, "--to-image-stream=release"], "--to-image-stream"),
        (vec![from, "--to=m.io/ocp/${component}"], "invalid image reference"),
        (vec![from, "--to=m.io/ocp/r", "--filter-by-os=linux/amd64"], "--filter-by-os"),
        (vec![from, "--to=s3://bucket/ocp/release"], "only file:// is accepted"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_dry_run_with_apply_needs_no_reachable_cluster() {
    let (b, _store) = crate::reliability::signed_bed();
    let home = temp_dir();
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {server: 'https://127.0.0.1:1'}\n\
         users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: c\n  context: {cluster: gone, user: u}\n\
         current-context: c\n",
    )
    .expect("write kubeconfig");
    let dest = Registry::start();
    let mut a = vec![
        format!("--from={}", b.release.release_ref()),
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--dry-run".into(),
        "--apply-release-image-signature".into(),
        format!("--kubeconfig={}", kubeconfig.display()),
    ];
    let out = run_in(home.path(), &a);
    assert_success(&out);
    assert!(stderr(&out).contains("the dry run goes on without the cluster"), "{}", stderr(&out));
    a.retain(|x| x != "--dry-run");
    let out = run_in(home.path(), &a);
    assert_eq!(out.status.code(), Some(5), "without --dry-run the cluster is required: {}", stderr(&out));
}
