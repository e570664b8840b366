//! An in-process stand-in for the Kubernetes API server (no kube-apiserver can be installed
//! here; DESIGN §8): HTTPS on 127.0.0.1 with a certificate from a fresh CA (openssl CLI),
//! bearer-token auth, HTTP/1.1 keep-alive, one thread per connection, and a log of every
//! request for assertions. The API semantics live in `apiserver_api.rs`. [`ApiServer::kubeconfig`]
//! writes a real kubeconfig file (server, certificate-authority-data, token) pointing at it.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

pub use super::apiserver_api::Forbid;
use super::apiserver_api::{ApiState, Call, Reply};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The JSON body, when there was one.
    pub body: Option<Value>,
    pub content_type: Option<String>,
    pub status: u16,
}

impl Logged {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    log: Vec<Logged>,
}

/// A running stand-in; its threads live as long as the test process.
pub struct ApiServer {
    port: u16,
    ca_pem: Vec<u8>,
    token: String,
    state: Arc<Mutex<ApiState>>,
    shared: Arc<Mutex<Shared>>,
    _dir: tempfile::TempDir,
}

impl ApiServer {
    /// An OpenShift 4.15 cluster with the `openshift-config-managed` namespace.
    pub fn start() -> ApiServer {
        super::install_crypto();
        let dir = super::temp_dir();
        make_certificates(dir.path());
        let tls = dir.path();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(tls.join("server.crt"))
            .expect("read server.crt")
            .collect::<Result<_, _>>()
            .expect("parse server.crt");
        let key = PrivateKeyDer::from_pem_file(tls.join("server.key")).expect("read server.key");
        let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).expect("tls");
        let config = Arc::new(config);
        let token = format!("sha256~standin-{}", std::process::id());
        let state = Arc::new(Mutex::new(ApiState::new(&token)));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the api server");
        let port = listener.local_addr().expect("local address").port();
        let (st, sh) = (Arc::clone(&state), Arc::clone(&shared));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, st, sh) = (Arc::clone(&config), Arc::clone(&st), Arc::clone(&sh));
                thread::spawn(move || serve_tls(stream, config, &st, &sh));
            }
        });
        let ca_pem = std::fs::read(tls.join("ca.crt")).expect("read CA");
        ApiServer { port, ca_pem, token, state, shared, _dir: dir }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The bearer token the server accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The cluster's state, to arrange or inspect.
    pub fn state(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).log.clone()
    }

    /// Requests other than reads.
    pub fn writes(&self) -> Vec<Logged> {
        self.requests().into_iter().filter(|r| r.method != "GET").collect()
    }

    /// A kubeconfig document with one cluster, user and context (`context`), whose names
    /// are derived from `context`, pointing at this server with its CA and token.
    pub fn kubeconfig_yaml(&self, context: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: {context}-cluster\n  \
             cluster:\n    server: {}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {context}\n  \
             context:\n    cluster: {context}-cluster\n    user: {context}-user\n    namespace: default\nusers:\n\
             - name: {context}-user\n  user:\n    token: {}\n",
            self.url(),
            self.token
        )
    }

    /// Writes [`Self::kubeconfig_yaml`] to `dir/<file>`; its path.
    pub fn kubeconfig(&self, dir: &Path, file: &str, context: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.kubeconfig_yaml(context)).expect("write kubeconfig");
        path
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// `ca.crt` (a fresh CA) and `server.crt`/`server.key` (P-256, for 127.0.0.1) in `dir`.
fn make_certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=api stand-in CA", "-keyout", "ca.key"];
    ca.extend(ec);
    ca.extend([
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-new", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"];
    csr.extend(ec);
    openssl(dir, &csr);
    let ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
               keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("server.ext"), ext).expect("write certificate extensions");
    let sign = ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"];
    openssl(dir, &[&sign[..], &["-days", "2", "-extfile", "server.ext", "-out", "server.crt"]].concat());
}

fn serve_tls(stream: TcpStream, config: Arc<rustls::ServerConfig>, state: &Mutex<ApiState>, shared: &Mutex<Shared>) {
    let Ok(connection) = rustls::ServerConnection::new(config) else { return };
    // One reader for the connection's life: nothing it has read ahead is lost between requests.
    let mut reader = BufReader::new(rustls::StreamOwned::new(connection, stream));
    loop {
        let Some(request) = read_request(&mut reader) else { return };
        let (method, target, headers, body) = request;
        let (path, query) = split_target(&target);
        let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let authorization = header("authorization");
        let content_type = header("content-type");
        let call = Call {
            method: &method,
            path: &path,
            query: &query,
            body: &body,
            authorization: authorization.as_deref(),
            content_type: content_type.as_deref(),
        };
        let reply: Reply = state.lock().unwrap_or_else(|e| e.into_inner()).handle(&call);
        shared.lock().unwrap_or_else(|e| e.into_inner()).log.push(Logged {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            body: serde_json::from_slice(&body).ok(),
            content_type,
            status: reply.status,
        });
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache, private\r\n\r\n",
            reply.status,
            super::reason(reply.status),
            reply.content_type,
            reply.body.len()
        );
        let tls = reader.get_mut();
        if tls.write_all(head.as_bytes()).and_then(|()| tls.write_all(&reply.body)).and_then(|()| tls.flush()).is_err()
        {
            return;
        }
    }
}

type Request = (String, String, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 request: method, target, headers, body (Content-Length or chunked).
fn read_request(reader: &mut impl std::io::BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_string(), words.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let value = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    let body = if value("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else {
        let length: usize = value("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some((method, target, headers, body))
}

fn read_chunked(reader: &mut impl std::io::BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// `/path?a=b&c=d` → (`/path`, [(a, b), (c, d)]), percent-decoded.
fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (super::form_decode(k), super::form_decode(v))
        })
        .collect();
    (super::form_decode(path), pairs)
}

/// A ClusterVersion `version` whose desired and newest history version is `v`.
pub fn cluster_version(v: &str) -> Value {
    json!({
        "apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion",
        "metadata": {"name": "version", "resourceVersion": "1"},
        "spec": {"channel": "stable-4", "clusterID": "1d7fc6a1-0000-4000-8000-000000000000"},
        "status": {"desired": {"version": v, "image": format!("quay.io/openshift-release-dev/ocp-release:{v}-x86_64")},
                   "history": [{"state": "Completed", "version": v}]}
    })
}

/// The stand-in's own check, with an independent HTTP client: the status codes and `Status`
/// bodies a real API server gives for the cases the plugin relies on.
#[test]
fn the_stand_in_answers_like_the_api_server() {
    let api = ApiServer::start();
    let ca = reqwest::Certificate::from_pem(&api.ca_pem).expect("CA");
    let http = reqwest::blocking::Client::builder().add_root_certificate(ca).build().expect("client");
    let send_as = |method: reqwest::Method, path: &str, content_type: &str, body: &Value, token: &str| {
        let url = format!("{}/api/v1/namespaces/openshift-config-managed/configmaps{path}", api.url());
        let request = http.request(method, url).bearer_auth(token).header("content-type", content_type);
        let response = request.body(body.to_string()).send().expect("request");
        let code = response.status().as_u16();
        (code, serde_json::from_slice::<Value>(&response.bytes().expect("body")).expect("json body"))
    };
    let send = |method, path: &str, body: &Value, token: &str| send_as(method, path, "application/json", body, token);
    let token = api.token().to_string();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "binaryData": {"x-1": "YQ=="}});
    let (code, status) = send(reqwest::Method::POST, "", &cm, "wrong");
    assert_eq!((code, status["reason"].as_str()), (401, Some("Unauthorized")));
    let (code, _) = send(reqwest::Method::POST, "?dryRun=All&fieldManager=m", &cm, &token);
    assert_eq!(code, 201);
    assert!(api.state().config_maps.is_empty(), "dryRun=All persists nothing");
    let (code, status) = send_as(reqwest::Method::POST, "", "text/plain", &cm, &token);
    assert_eq!((code, status["reason"].as_str()), (415, Some("UnsupportedMediaType")));
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json, \
         application/yaml, application/vnd.kubernetes.protobuf"
    );
    let (code, created) = send(reqwest::Method::POST, "?fieldManager=m", &cm, &token);
    assert_eq!((code, created["metadata"]["managedFields"][0]["manager"].as_str()), (201, Some("m")));
    let (code, status) = send(reqwest::Method::POST, "", &cm, &token);
    assert_eq!(
        (code, status["kind"].as_str(), status["reason"].as_str()),
        (409, Some("Status"), Some("AlreadyExists"))
    );
    assert_eq!(status["message"], "configmaps \"x\" already exists");
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let (code, status) = send(reqwest::Method::PUT, "/x", &stale, &token);
    assert_eq!((code, status["reason"].as_str()), (409, Some("Conflict")));
    let (code, updated) = send(reqwest::Method::PUT, "/x", &created, &token);
    assert_eq!(code, 200);
    assert_ne!(updated["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"]);
    // A PATCH must name its patch type: plain JSON is not one.
    let labels = json!({"metadata": {"labels": {"a": "b"}}});
    let (code, status) = send(reqwest::Method::PATCH, "/x", &labels, &token);
    assert_eq!((code, status["reason"].as_str()), (415, Some("UnsupportedMediaType")));
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, \
         application/apply-patch+yaml"
    );
    let (code, patched) = send_as(reqwest::Method::PATCH, "/x", "application/merge-patch+json", &labels, &token);
    assert_eq!((code, patched["metadata"]["labels"]["a"].as_str()), (200, Some("b")));
    // In a missing namespace a read finds no object; only a create is refused for the namespace.
    api.state().namespaces.clear();
    let (code, status) = send(reqwest::Method::GET, "/x", &json!({}), &token);
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(status["message"], "configmaps \"x\" not found");
    assert_eq!(status["details"], json!({"name": "x", "kind": "configmaps"}));
    let (code, status) = send(reqwest::Method::POST, "", &cm, &token);
    assert_eq!((code, status["message"].as_str()), (404, Some("namespaces \"openshift-config-managed\" not found")));
}
