//! Shared test bed for the integration tests: real registries, a synthetic release
//! generator, independent HTTP checks, and a helper to run the plugin binary.
//!

// The release generator and registry launcher are the workspace's release-gen library (the
// demo and the benchmarks use it too), a dev-dependency of this crate.
pub use release_gen::{generator, http, ocdisk, payload, registry, spec};
pub mod connect;
pub mod cosign;
pub mod gpg;
pub mod proxy;
pub mod sigstore;
pub mod tlsfront;
pub mod updateservice;

// The stand-in for the Kubernetes API server (cluster.rs).
pub mod apiserver;
mod apiserver_api;
mod apiserver_body;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Environment variables passed through to the plugin (coverage tooling only).
const PASS_THROUGH: &[&str] = &["PATH", "LLVM_PROFILE_FILE", "CARGO_LLVM_COV", "RUST_BACKTRACE"];

/// Path of the plugin binary under test, as built by cargo for this test target
/// (`CARGO_BIN_EXE_…`); outside the project's own tests, the file of that name in the
/// target directory (`target/debug/deps/<test>` → `target/debug/<bin>`).
pub fn bin() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_kubectl-release_mirror") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("locate the test executable");
    let dir = exe.parent().and_then(Path::parent).expect("test executable inside a target directory");
    dir.join("kubectl-release_mirror")
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("release-mirror-test-").tempdir().expect("create a temporary directory")
}

/// Install the ring crypto provider for rustls once per process (reqwest is built
/// with `rustls-no-provider`). Safe to call any number of times.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A command for the plugin with a clean environment: only `PATH` (and coverage
/// variables) survive, `HOME` is `home` so no user credentials or kubeconfig leak
/// in, and `NO_COLOR=1`. Add `env`/`args` before running it.
pub fn command(home: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear();
    for key in PASS_THROUGH {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.env("HOME", home).env("NO_COLOR", "1").env("LANG", "C").current_dir(home);
    cmd
}

/// Run the plugin with `args` in a clean environment whose `HOME` is `home`.
pub fn run_in<I, S>(home: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(home).args(args).output().expect("spawn the kubectl-release_mirror binary")
}

/// Run the plugin with `args` in a clean environment and a throw-away `HOME`.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let home = temp_dir();
    run_in(home.path(), args)
}

/// Standard output of a finished command, lossily decoded.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error of a finished command, lossily decoded.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Panic with both output streams unless the command succeeded.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "command failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// Serve connections on a fresh 127.0.0.1 port, each on its own thread, for as long as
/// the test process lives; returns the port. `what` names the server in a bind failure.
pub fn serve_on_loopback<F>(what: &str, handle: F) -> u16
where
    F: Fn(std::net::TcpStream) + Send + Sync + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind the {what}: {e}"));
    let port = listener.local_addr().expect("local address").port();
    let handle = std::sync::Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = std::sync::Arc::clone(&handle);
            std::thread::spawn(move || handle(stream));
        }
    });
    port
}

/// The HTTP reason phrase of `status` ("Status" for one without).
pub fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Status")
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// `+` is a space, `%XX` a byte (a malformed `%` stays as it is), then lossy UTF-8.
pub fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (bytes.get(i + 1).and_then(|&b| hex_digit(b)), bytes.get(i + 2).and_then(|&b| hex_digit(b))) {
                    (Some(high), Some(low)) => {
                        out.push(high * 16 + low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}
