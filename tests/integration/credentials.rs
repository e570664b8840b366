//! Credentials where the container tools keep them: Docker credential helpers (`credHelpers`,
//! `credsStore`) run as `docker-credential-<name> get`, and podman's
//! `$XDG_CONFIG_HOME/containers/auth.json`. The helpers are small shell scripts first on
//! `PATH`; the destination is a real docker-registry with htpasswd auth.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;

use crate::mirror::{assert_complete, mirror_args, source_with, Source};
use crate::support::registry::{Registry, RegistryOptions};
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, command, stderr, stdout, temp_dir};

const USER: &str = "mirror";
const PASSWORD: &str = "helper-Pa55-4e7b9c";

fn source() -> Source {
    source_with(ReleaseSpec { components: 2, ..ReleaseSpec::default() })
}

fn guarded_registry() -> Registry {
    Registry::start_with(RegistryOptions { htpasswd: Some((USER.into(), PASSWORD.into())), tls: false })
}

/// `docker-credential-<name>` in `home/bin`: logs `<argument> <stdin>` to `home/<name>.log`,
/// writes the password to stderr (which must go nowhere), and answers `host` with the
/// registry's credentials, any other server with the protocol's "not found".
fn answering_helper(home: &Path, name: &str, host: &str) -> PathBuf {
    let log = home.join(format!("{name}.log"));
    helper(
        home,
        name,
        &format!(
            "server=$(cat)\n\
             printf '%s %s\\n' \"$1\" \"$server\" >> '{log}'\n\
             echo \"unlocking the keychain with {PASSWORD}\" >&2\n\
             if [ \"$1\" = get ] && [ \"$server\" = '{host}' ]; then\n\
             \x20 printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}\\n' \"$server\"\n\
             \x20 exit 0\n\
             fi\n\
             echo 'credentials not found in native keychain'\n\
             exit 1",
            log = log.display()
        ),
    );
    log
}

/// An executable shell script `home/bin/docker-credential-<name>`.
fn helper(home: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).expect("create bin dir");
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("make helper executable");
}

fn write(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dir");
    std::fs::write(path, body).expect("write file");
}

/// Run the plugin in `home` with `home/bin` first on `PATH`, plus `env`.
fn run_with(home: &Path, env: &[(&str, &Path)], args: Vec<String>) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![home.join("bin")];
    dirs.extend(std::env::split_paths(&path));
    let mut cmd = command(home);
    cmd.env("PATH", std::env::join_paths(dirs).expect("a PATH"));
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.args(args).output().expect("run the plugin")
}

fn output(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

fn assert_no_secret(all: &str) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert!(!all.contains(PASSWORD), "the password appears in the output:\n{all}");
    assert!(!all.contains(&encoded), "the encoded password appears in the output:\n{all}");
}

#[test]
fn a_cred_helper_supplies_the_password_once_and_it_appears_in_no_output() {
    let src = source();
    let dest = guarded_registry();
    let home = temp_dir();
    let log = answering_helper(home.path(), "mirror-test", &dest.host());
    let config = format!(r#"{{"auths":{{}},"credHelpers":{{"{}":"mirror-test"}}}}"#, dest.host());
    write(&home.path().join(".docker/config.json"), &config);
    let out = run_with(home.path(), &[], mirror_args(&src, &dest, &["-v", "-v"]));
    assert_success(&out);
    assert_complete(&src.release, &dest.client().with_basic(USER, PASSWORD));
    // Asked once for the whole run (every repository and scope after the first is cached),
    // with `get` and the registry host on stdin.
    let calls = std::fs::read_to_string(&log).expect("the helper was run");
    assert_eq!(calls, format!("get {}\n", dest.host()));
    assert_no_secret(&output(&out));
}

#[test]
fn creds_store_answers_for_every_registry_but_runs_only_for_one_that_asks() {
    let src = source();
    let dest = guarded_registry();
    let home = temp_dir();
    let log = answering_helper(home.path(), "store-test", &dest.host());
    // What `docker login` leaves behind with a store: an empty entry and the store's name.
    let config = format!(r#"{{"auths":{{"{}":{{}}}},"credsStore":"store-test"}}"#, dest.host());
    write(&home.path().join(".docker/config.json"), &config);
    let out = run_with(home.path(), &[], mirror_args(&src, &dest, &["-v", "-v"]));
    assert_success(&out);
    assert_complete(&src.release, &dest.client().with_basic(USER, PASSWORD));
    // The source registry never asked for credentials, so its host was never looked up.
    let calls = std::fs::read_to_string(&log).expect("the helper was run");
    assert_eq!(calls, format!("get {}\n", dest.host()));
    assert_no_secret(&output(&out));
}

#[test]
fn a_failing_or_missing_helper_is_a_clear_error_that_prints_nothing_of_it() {
    let src = source();
    let dest = guarded_registry();
    let home = temp_dir();
    helper(home.path(), "broken", &format!("cat >/dev/null\necho 'fatal: {PASSWORD}'\necho '{PASSWORD}' >&2\nexit 1"));
    let docker_config = home.path().join(".docker/config.json");
    write(&docker_config, &format!(r#"{{"credHelpers":{{"{}":"broken"}}}}"#, dest.host()));
    let out = run_with(home.path(), &[], mirror_args(&src, &dest, &["-v", "-v"]));
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    let err = stderr(&out);
    let expected =
        format!("credential helper docker-credential-broken failed for registry {}: exit status 1", dest.host());
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains(&docker_config.display().to_string()), "the file naming the helper: {err}");
    assert_no_secret(&output(&out));

    write(&docker_config, &format!(r#"{{"credHelpers":{{"{}":"not-installed"}}}}"#, dest.host()));
    let out = run_with(home.path(), &[], mirror_args(&src, &dest, &[]));
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    let err = stderr(&out);
    let expected = format!(
        "credential helper docker-credential-not-installed failed for registry {}: not found on PATH",
        dest.host()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(dest.client().with_basic(USER, PASSWORD).catalog().is_empty(), "nothing was pushed");
}

#[test]
fn containers_auth_json_under_xdg_config_home_is_read() {
    let src = source();
    let dest = guarded_registry();
    let home = temp_dir();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let entry = |host: &str| format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#);
    // The docker file exists but knows another registry only.
    write(&home.path().join(".docker/config.json"), &entry("elsewhere.example:5000"));
    let xdg = home.path().join("xdg");
    write(&xdg.join("containers/auth.json"), &entry(&dest.host()));
    let out = run_with(home.path(), &[("XDG_CONFIG_HOME", &xdg)], mirror_args(&src, &dest, &["-q"]));
    assert_success(&out);
    assert_complete(&src.release, &dest.client().with_basic(USER, PASSWORD));
    // Without XDG_CONFIG_HOME, podman's default ~/.config/containers/auth.json (the rerun
    // reads the destination, which needs the credentials too).
    std::fs::create_dir_all(home.path().join(".config")).expect("create ~/.config");
    std::fs::rename(xdg.join("containers"), home.path().join(".config/containers")).expect("move the auth file");
    let out = run_with(home.path(), &[], mirror_args(&src, &dest, &["-o", "json"]));
    assert_success(&out);
    assert!(stderr(&out).contains("nothing to copy"), "{}", stderr(&out));
}

#[test]
fn a_password_the_registry_rejects_is_reported_as_rejected_naming_the_helper() {
    let src = source();
    let dest = guarded_registry();
    let home = temp_dir();
    helper(
        home.path(),
        "stale",
        &format!("cat >/dev/null\nprintf '{{\"Username\":\"{USER}\",\"Secret\":\"old-{PASSWORD}\"}}'"),
    );
    let docker_config = home.path().join(".docker/config.json");
    write(&docker_config, &format!(r#"{{"credHelpers":{{"{}":"stale"}}}}"#, dest.host()));
    let out = run_with(home.path(), &[], mirror_args(&src, &dest, &[]));
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    let err = stderr(&out);
    let expected = format!(
        "registry {} rejected the credentials credential helper docker-credential-stale (named by {}) gave",
        dest.host(),
        docker_config.display()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(!err.contains("give credentials for"), "not reported as no credentials: {err}");
    assert_no_secret(&output(&out));
}
