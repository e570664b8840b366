//! A small signature store on 127.0.0.1: serves `/<prefix>/sha256=<hex>/signature-<N>`
//! from a map, 404 for anything else, chosen statuses on chosen paths, or never answers
//! (to test the store timeout). One thread per connection; `Connection: close`.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// How the store answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Files from the map, statuses as set, 404 otherwise.
    Serve,
    /// Accept connections, read the request, never answer.
    Hang,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    statuses: HashMap<String, u16>,
    redirects: HashMap<String, String>,
    requests: Vec<String>,
    held: Vec<TcpStream>,
}

/// A running store; its thread lives as long as the test process.
pub struct SigStore {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl SigStore {
    pub fn start(mode: Mode) -> SigStore {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let port = super::serve_on_loopback("signature store", move |stream| serve(stream, &shared, mode));
        SigStore { port, state }
    }

    /// The store URL to configure (`http://127.0.0.1:<port>/signatures`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/signatures", self.port)
    }

    /// Serve `bytes` as `signature-<n>` of `digest` (`sha256:<hex>`).
    pub fn put(&self, digest: &str, n: u32, bytes: Vec<u8>) {
        self.lock().files.insert(path_of(digest, n), bytes);
    }

    /// Answer `signature-<n>` of `digest` with an empty body and `status`.
    pub fn put_status(&self, digest: &str, n: u32, status: u16) {
        self.lock().statuses.insert(path_of(digest, n), status);
    }

    /// Answer `signature-<n>` of `digest` with `302 Location: <location>`.
    pub fn put_redirect(&self, digest: &str, n: u32, location: &str) {
        self.lock().redirects.insert(path_of(digest, n), location.to_string());
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `/signatures/sha256=<hex>/signature-<n>`.
pub fn path_of(digest: &str, n: u32) -> String {
    format!("/signatures/{}/signature-{n}", digest.replacen(':', "=", 1))
}

fn serve(stream: TcpStream, state: &Mutex<State>, mode: Mode) {
    let Some(path) = read_request_path(&stream) else { return };
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.requests.push(path.clone());
    if mode == Mode::Hang {
        st.held.push(stream); // kept open, never answered
        return;
    }
    let location = st.redirects.get(&path).map(|l| format!("Location: {l}\r\n")).unwrap_or_default();
    let (status, body) = match (st.statuses.get(&path), st.files.get(&path)) {
        _ if !location.is_empty() => (302, Vec::new()),
        (Some(code), _) => (*code, Vec::new()),
        (None, Some(bytes)) => (200, bytes.clone()),
        (None, None) => (404, b"not found".to_vec()),
    };
    drop(st);
    let head = format!(
        "HTTP/1.1 {status} X\r\n{location}Content-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
}

/// The path of the request line; the headers are read and dropped.
fn read_request_path(stream: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            return Some(path);
        }
    }
}
