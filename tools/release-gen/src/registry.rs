//! A real CNCF distribution registry (`docker-registry` Debian package) on a free
//! 127.0.0.1 port with temporary storage, optionally with htpasswd auth and TLS.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::http::Client;

/// The registry binary; a hard requirement of the suite.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How long a registry may take to answer `GET /v2/` after starting.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Options for [`Registry::start_with`].
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Require basic auth with this `(user, password)` (bcrypt htpasswd file).
    pub htpasswd: Option<(String, String)>,
    /// Serve HTTPS with a certificate for 127.0.0.1/localhost signed by a fresh CA.
    pub tls: bool,
}

/// A running registry; the process is killed and its storage removed on drop.
pub struct Registry {
    dir: TempDir,
    port: u16,
    options: RegistryOptions,
    ca: Option<PathBuf>,
    child: Option<Child>,
}

impl Registry {
    /// An anonymous plain-HTTP registry.
    pub fn start() -> Self {
        Self::start_with(RegistryOptions::default())
    }

    /// A registry with the given options.
    pub fn start_with(options: RegistryOptions) -> Self {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} not found: install the Debian package `docker-registry` \
             (apt-get install -y docker-registry); the integration suite needs it"
        );
        let dir = tempfile::Builder::new().prefix("test-registry-").tempdir().expect("create registry temp dir");
        fs::create_dir_all(dir.path().join("storage")).expect("create storage dir");
        if let Some((user, password)) = &options.htpasswd {
            write_htpasswd(&dir.path().join("htpasswd"), user, password);
        }
        let ca = options.tls.then(|| make_certificates(dir.path()));
        let mut registry = Registry { dir, port: 0, options, ca, child: None };
        // A free port can be taken by someone else before the registry binds it:
        // try a few ports before giving up.
        let mut last_error = String::new();
        for _ in 0..5 {
            registry.port = free_port();
            match registry.spawn() {
                Ok(()) => return registry,
                Err(e) => last_error = e,
            }
        }
        panic!("docker-registry did not start: {last_error}");
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.host())
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.options.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The filesystem driver's root directory (`docker/registry/v2/...` inside).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The CA that signed the server certificate (PEM), when serving TLS.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// A directory holding only `ca.crt`, usable as skopeo's `--cert-dir`.
    pub fn ca_dir(&self) -> Option<&Path> {
        self.ca.as_deref().and_then(Path::parent)
    }

    /// The `(user, password)` the registry requires, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.options.htpasswd.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's log file (stdout and stderr of the process).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// A blocking client set up with this registry's scheme, CA and credentials.
    pub fn client(&self) -> Client {
        Client::for_registry(self)
    }

    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().map(|s| s.is_none()).unwrap_or(false),
            None => false,
        }
    }

    /// Kill the process (SIGKILL) and wait for it. Storage is kept.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port with the same storage (kills it first if running).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("registry restart failed: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let config = self.dir.path().join("config.yml");
        fs::write(&config, self.config_yaml()).expect("write registry config");
        let log = File::options().create(true).append(true).open(self.log_path()).expect("open registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        self.child = Some(child);
        self.wait_ready().inspect_err(|_| self.kill())
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let client = self.client();
        let deadline = Instant::now() + START_TIMEOUT;
        let http = client.raw();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let log = fs::read_to_string(self.log_path()).unwrap_or_default();
                return Err(format!("exited with {status}; log:\n{log}"));
            }
            if let Ok(response) = http.get(format!("{}/v2/", self.url())).send() {
                let code = response.status().as_u16();
                if code == 200 || code == 401 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let log = fs::read_to_string(self.log_path()).unwrap_or_default();
                return Err(format!("no answer on {} within {START_TIMEOUT:?}; log:\n{log}", self.url()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn config_yaml(&self) -> String {
        let dir = self.dir.path().display();
        let mut yaml = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {dir}/storage\n  \
               delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      \
               enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: test-bed-secret-{port}\n  \
               headers:\n    X-Content-Type-Options: [nosniff]\n",
            port = self.port
        );
        if self.options.tls {
            yaml.push_str(&format!("  tls:\n    certificate: {dir}/tls/server.crt\n    key: {dir}/tls/server.key\n"));
        }
        if self.options.htpasswd.is_some() {
            yaml.push_str(&format!("auth:\n  htpasswd:\n    realm: test-registry\n    path: {dir}/htpasswd\n"));
        }
        yaml
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn write_htpasswd(path: &Path, user: &str, password: &str) {
    let output = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("run htpasswd (Debian package apache2-utils)");
    assert!(output.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&output.stderr));
    fs::write(path, output.stdout).expect("write htpasswd file");
}

fn openssl(dir: &Path, args: &[&str]) {
    let output =
        Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl (Debian package openssl)");
    assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// A self-signed CA and a server certificate (`tls/server.crt`, `tls/server.key`) for
/// 127.0.0.1 and localhost, ECDSA P-256, valid for two days. Returns the path of a
/// copy of the CA certificate alone in `ca/ca.crt`.
fn make_certificates(root: &Path) -> PathBuf {
    let dir = &root.join("tls");
    fs::create_dir_all(dir).expect("create tls dir");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=release-mirror test CA"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-new", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &csr);
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write certificate extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    let ca_dir = root.join("ca");
    fs::create_dir_all(&ca_dir).expect("create ca dir");
    let ca = ca_dir.join("ca.crt");
    fs::copy(dir.join("ca.crt"), &ca).expect("copy CA certificate");
    ca
}
