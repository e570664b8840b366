//! Docker credential helpers: `docker-credential-<name> get`, the server URL on stdin, the
//! JSON `{"ServerURL","Username","Secret"}` on stdout (docker/docker-credential-helpers).
//!
//! A helper is run without a shell, with a time limit, and nothing it writes is ever
//! printed: errors say how it ended (`exit status 1`), never what it said, because a
//! failing helper's output may hold the secret.

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::auth::Credential;

/// Every helper program is this prefix plus the name the configuration gives.
pub(crate) const PREFIX: &str = "docker-credential-";
/// How long a helper may take to answer (it may be unlocking a keychain).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);
/// The answer a helper gives (exit status 1) when it holds nothing for the server.
const NOT_FOUND: &str = "credentials not found in native keychain";
/// The protocol's other fixed complaints: safe to repeat, they hold no secret.
const KNOWN_COMPLAINTS: &[&str] = &["no credentials server URL", "no credentials username"];
/// A `Username` meaning the `Secret` is an identity token (docker/cli's native store).
const TOKEN_USERNAME: &str = "<token>";
/// A credential is a few KiB at most; a longer answer is not one.
const MAX_ANSWER: u64 = 1 << 20;
/// How long, once the helper has exited, its answer may take to reach EOF.
const AFTER_EXIT: Duration = Duration::from_secs(1);
/// How often a running helper is checked for having exited.
const POLL: Duration = Duration::from_millis(5);

/// Why a helper gave no credential. Holds nothing the helper wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HelperError {
    /// The name cannot be a program name (empty, or a path).
    BadName,
    /// No such program on `PATH`.
    Missing,
    /// It could not be started or its pipes failed.
    Io(String),
    /// It ended unsuccessfully: `exit status 1`, possibly with a known complaint.
    Failed(String),
    /// It did not exit within the limit (and was killed).
    TimedOut(Duration),
    /// It exited 0 but did not answer with the credential JSON.
    BadAnswer,
}

impl fmt::Display for HelperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelperError::BadName => f.write_str("the name is not a program name"),
            HelperError::Missing => f.write_str("not found on PATH"),
            HelperError::Io(e) => f.write_str(e),
            HelperError::Failed(how) => f.write_str(how),
            HelperError::TimedOut(limit) => write!(f, "no answer within {} s (stopped)", limit.as_secs()),
            HelperError::BadAnswer => f.write_str("its answer is not the credential JSON"),
        }
    }
}

/// The server URL a helper is asked about for registry `host`: the host itself, except
/// Docker Hub, which `docker login` stores under its historical index URL.
pub(crate) fn server_url(host: &str) -> String {
    if host == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        host.to_string()
    }
}

/// Ask helper `name` (the part after `docker-credential-`) for the credential of
/// `server`. `Ok(None)` when it has none. Blocks: call it from a blocking task.
pub(crate) fn get(name: &str, server: &str, timeout: Duration) -> Result<Option<Credential>, HelperError> {
    if name.is_empty() || name.contains(['/', '\\', '\0']) {
        return Err(HelperError::BadName);
    }
    run(OsStr::new(&format!("{PREFIX}{name}")), server, timeout)
}

/// Run `program get` with `server` on stdin and read its answer. The helper runs in its own
/// process group: at the limit the whole group is killed, children included. Its answer is
/// what it wrote by the time it exited (a child it left holding the pipe is not waited for).
fn run(program: &OsStr, server: &str, timeout: Duration) -> Result<Option<Credential>, HelperError> {
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => HelperError::Missing,
            _ => HelperError::Io(format!("cannot run it ({e})")),
        })?;
    // Drain both outputs on their own threads so a chatty helper never blocks on a full
    // pipe; stderr is read and dropped.
    let answer = Arc::new(Mutex::new(Vec::new()));
    let (eof_tx, eof_rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        let answer = Arc::clone(&answer);
        std::thread::spawn(move || {
            let _ = eof_tx.send(read_answer(out, &answer));
        });
    }
    if let Some(mut err) = child.stderr.take() {
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    }
    if let Some(mut input) = child.stdin.take() {
        // As docker does: the bare URL, no newline; then EOF. A helper that exits without
        // reading closes the pipe: its exit status tells.
        let _ = input.write_all(server.as_bytes());
    }
    let status = wait_or_kill(&mut child, timeout)?;
    // What it wrote before exiting is in the pipe: read at once, unless a child of it
    // holds the pipe open; then what arrived within a moment is the answer.
    if let Ok(Err(e)) = eof_rx.recv_timeout(AFTER_EXIT) {
        return Err(HelperError::Io(format!("reading its answer failed ({e})")));
    }
    let stdout = std::mem::take(&mut *answer.lock().unwrap_or_else(|p| p.into_inner()));
    if stdout.len() as u64 > MAX_ANSWER {
        return Err(HelperError::BadAnswer);
    }
    interpret(if status.success() { Ok(()) } else { Err(describe(status)) }, &stdout)
}

/// Read `out` into `answer` as it comes, at most [`MAX_ANSWER`] + 1 bytes kept.
fn read_answer(mut out: impl Read, answer: &Mutex<Vec<u8>>) -> std::io::Result<()> {
    let mut chunk = [0u8; 4096];
    loop {
        let n = out.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        let mut kept = answer.lock().unwrap_or_else(|p| p.into_inner());
        let room = (MAX_ANSWER as usize + 1).saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

/// The helper's exit status; at `timeout` its process group is killed.
fn wait_or_kill(child: &mut std::process::Child, timeout: Duration) -> Result<ExitStatus, HelperError> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let group = rustix::process::Pid::from_child(child);
                if rustix::process::kill_process_group(group, rustix::process::Signal::KILL).is_err() {
                    let _ = child.kill();
                }
                let _ = child.wait();
                return Err(HelperError::TimedOut(timeout));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(HelperError::Io(format!("waiting for it failed ({e})"))),
        }
    }
}

/// `exit status 1`, or the signal that ended it.
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    "exit status unknown".to_string()
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username", alias = "username", default)]
    username: String,
    #[serde(rename = "Secret", alias = "secret", default)]
    secret: String,
}

/// A helper's answer: how it exited (`Err("exit status 1")`) and what it wrote on stdout.
fn interpret(exit: Result<(), String>, stdout: &[u8]) -> Result<Option<Credential>, HelperError> {
    let said = std::str::from_utf8(stdout).map(str::trim).unwrap_or("");
    if said == NOT_FOUND {
        return Ok(None);
    }
    if let Err(how) = exit {
        return Err(match KNOWN_COMPLAINTS.iter().find(|c| **c == said) {
            Some(complaint) => HelperError::Failed(format!("{how} ({complaint})")),
            None => HelperError::Failed(how),
        });
    }
    // serde's message may quote the input: it is dropped.
    let answer: Answer = serde_json::from_slice(stdout).map_err(|_| HelperError::BadAnswer)?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == TOKEN_USERNAME {
        return Ok(Some(Credential::IdentityToken(answer.secret)));
    }
    Ok(Some(Credential::Basic { username: answer.username, password: answer.secret }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn basic(u: &str, p: &str) -> Option<Credential> {
        Some(Credential::Basic { username: u.into(), password: p.into() })
    }

    #[test]
    fn parses_the_answer_of_get() {
        let ok = |out: &str| interpret(Ok(()), out.as_bytes());
        assert_eq!(ok(r#"{"ServerURL":"q.io","Username":"me","Secret":"pw"}"#), Ok(basic("me", "pw")));
        assert_eq!(ok("{\"Username\":\"me\",\"Secret\":\"pw\"}\n"), Ok(basic("me", "pw")));
        assert_eq!(
            ok(r#"{"ServerURL":"q.io","Username":"<token>","Secret":"refresh"}"#),
            Ok(Some(Credential::IdentityToken("refresh".into())))
        );
        assert_eq!(ok(r#"{"ServerURL":"q.io","Username":"","Secret":""}"#), Ok(None));
        assert_eq!(ok(NOT_FOUND), Ok(None), "said with exit 0 by some helpers");
        assert_eq!(ok(r#"{"Username":"me","Secret":"pw-in-broken-json"#), Err(HelperError::BadAnswer));
        assert_eq!(ok("Secret pw"), Err(HelperError::BadAnswer));
    }

    #[test]
    fn not_found_is_no_credential_and_other_failures_never_quote_the_helper() {
        let failed = |out: &str| interpret(Err("exit status 1".into()), out.as_bytes());
        assert_eq!(failed("credentials not found in native keychain\n"), Ok(None));
        assert_eq!(
            failed("no credentials server URL\n"),
            Err(HelperError::Failed("exit status 1 (no credentials server URL)".into()))
        );
        let err = failed("unlock failed for me:hunter2").unwrap_err();
        assert_eq!(err, HelperError::Failed("exit status 1".into()));
        assert!(!err.to_string().contains("hunter2"));
        let bad = interpret(Ok(()), br#"{"Username":"me","Secret":hunter2}"#).unwrap_err().to_string();
        assert!(!bad.contains("hunter2"), "{bad}");
    }

    #[test]
    fn docker_hub_is_asked_under_its_index_url() {
        assert_eq!(server_url("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_url("quay.io"), "quay.io");
        assert_eq!(server_url("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn names_that_are_paths_are_refused() {
        for name in ["", "../../bin/sh", "a/b", "a\\b"] {
            assert_eq!(get(name, "q.io", TIMEOUT), Err(HelperError::BadName), "{name:?}");
        }
        let missing = get("release-mirror-test-absent-0c4f", "q.io", TIMEOUT);
        assert_eq!(missing, Err(HelperError::Missing));
    }

    /// A shell script helper in `dir`; run by its path (unit tests leave PATH alone).
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// `run`, again when another test's fork held the new script open for writing.
    fn run_script(path: &Path, server: &str, timeout: Duration) -> Result<Option<Credential>, HelperError> {
        for _ in 0..20 {
            match run(path.as_os_str(), server, timeout) {
                Err(HelperError::Io(e)) if e.contains("busy") => std::thread::sleep(Duration::from_millis(50)),
                other => return other,
            }
        }
        panic!("{} stayed busy", path.display());
    }

    #[test]
    fn runs_the_helper_with_the_server_on_stdin_and_get_as_its_argument() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let helper = script(
            dir.path(),
            "docker-credential-t",
            &format!(
                "s=$(cat); printf '%s|%s' \"$1\" \"$s\" > '{}'; echo >&2 noise-on-stderr\n\
                 printf '{{\"ServerURL\":\"%s\",\"Username\":\"u\",\"Secret\":\"p\"}}' \"$s\"",
                log.display()
            ),
        );
        assert_eq!(run_script(&helper, "reg.example:5000", TIMEOUT), Ok(basic("u", "p")));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "get|reg.example:5000");
    }

    #[test]
    fn a_failing_a_slow_or_a_silent_helper_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let fails = script(dir.path(), "fails", "echo 'me:hunter2'; echo >&2 hunter2; exit 3");
        assert_eq!(run_script(&fails, "q.io", TIMEOUT), Err(HelperError::Failed("exit status 3".into())));
        let not_found =
            script(dir.path(), "nf", "cat >/dev/null; echo 'credentials not found in native keychain'; exit 1");
        assert_eq!(run_script(&not_found, "q.io", TIMEOUT), Ok(None));
        let slow = script(dir.path(), "slow", "exec sleep 5");
        let started = Instant::now();
        let limit = Duration::from_millis(300);
        assert_eq!(run_script(&slow, "q.io", limit), Err(HelperError::TimedOut(limit)));
        assert!(started.elapsed() < Duration::from_secs(4), "killed at the limit, {:?}", started.elapsed());
        let silent = script(dir.path(), "silent", "exit 0");
        assert_eq!(run_script(&silent, "q.io", TIMEOUT), Err(HelperError::BadAnswer));
        let killed = script(dir.path(), "killed", "kill -9 $$");
        assert_eq!(run_script(&killed, "q.io", TIMEOUT), Err(HelperError::Failed("killed by signal 9".into())));
    }

    fn is_gone(pid: &str) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        stat.is_empty() || stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'))
    }

    #[test]
    fn a_hung_helper_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child");
        let hung = script(dir.path(), "hung", &format!("sleep 30 & echo $! > '{}'; wait", pid_file.display()));
        let limit = Duration::from_millis(500);
        assert_eq!(run_script(&hung, "q.io", limit), Err(HelperError::TimedOut(limit)));
        let pid = std::fs::read_to_string(&pid_file).expect("the helper started a child");
        // SIGKILL is delivered, not awaited: give the kernel a bounded moment to finish it.
        let gone = (0..200).any(|_| {
            is_gone(&pid) || {
                std::thread::sleep(Duration::from_millis(10));
                false
            }
        });
        assert!(gone, "the helper's child {} still runs", pid.trim());
    }

    #[test]
    fn a_helper_that_answers_and_exits_is_heard_even_if_its_child_holds_the_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let helper = script(
            dir.path(),
            "leaves-a-child",
            "cat >/dev/null; printf '{\"Username\":\"u\",\"Secret\":\"p\"}'; sleep 30 & exit 0",
        );
        assert_eq!(run_script(&helper, "q.io", Duration::from_secs(10)), Ok(basic("u", "p")));
    }
}
