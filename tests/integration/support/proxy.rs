//! A fault-injecting HTTP/1.1 proxy in front of a real registry, request by request, with
//! programmable faults (cut a response or a request body, answer a status, corrupt a byte,
//! delay, redirect elsewhere), a request log (with arrival times, body sizes and
//! connections), an optional bearer-token front (the proxy demands `Authorization: Bearer
//! <token>` and serves the token realm itself), and quirk modes that make the registry
//! behind it answer the way other registries do ([`Quirk`], in `proxy/quirks.rs`).

mod faults;
mod gate;
mod quirks;
pub mod wire;

use std::io::{self, BufRead, BufReader};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::registry::Registry;
use faults::Next;
pub use faults::{Action, Fault};
pub use gate::TokenPolicy;
use gate::{bearer_gate, Bearer, Tokens};
pub use quirks::{Quirk, RetryAfter};
use wire::{copy_body, request_framing, respond, response_framing, Framing, Head, Tamper};

/// One request the proxy saw, as it arrived, and what became of it.
#[derive(Clone, Debug, Default)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// 0 while in flight or when the connection was cut before a response.
    pub status: u16,
    /// Response body bytes sent to the client.
    pub body_bytes: u64,
    pub fault: Option<String>,
    /// When its head arrived, from the proxy's start.
    pub at: Duration,
    /// Request body bytes that arrived from the client.
    pub request_bytes: u64,
    /// Which client connection carried it (numbered from 1 as they are accepted).
    pub conn: u64,
    /// When its response was sent whole, from the proxy's start (zero until then).
    pub done: Duration,
}

impl LogEntry {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Shared {
    host: String,
    upstream: Mutex<String>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<LogEntry>>,
    bearer: Mutex<Option<Bearer>>,
    tokens: Mutex<Option<Tokens>>,
    /// Revoke every token when the nth request matching `(method, path)` arrives.
    revocations: Mutex<Vec<gate::Revocation>>,
    quirks: Mutex<quirks::State>,
    connections: AtomicU64,
    stop: AtomicBool,
    started: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running proxy; it stops accepting on drop.
pub struct Proxy {
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy on 127.0.0.1 in front of `registry`.
    pub fn in_front_of(registry: &Registry) -> Proxy {
        Proxy::start("127.0.0.1", &registry.host())
    }

    /// A proxy listening on `ip` (any of 127.0.0.0/8) forwarding to `upstream` (`host:port`).
    pub fn start(ip: &str, upstream: &str) -> Proxy {
        let listener = TcpListener::bind((ip, 0)).expect("bind the proxy");
        let host = listener.local_addr().expect("proxy address").to_string();
        let shared = Arc::new(Shared {
            host,
            upstream: Mutex::new(upstream.to_string()),
            faults: Mutex::default(),
            log: Mutex::default(),
            bearer: Mutex::default(),
            tokens: Mutex::default(),
            revocations: Mutex::default(),
            quirks: Mutex::default(),
            connections: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            started: Instant::now(),
        });
        let accepting = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = accepting.clone();
                let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                thread::spawn(move || serve(&shared, conn, id));
            }
        });
        Proxy { shared }
    }

    /// `IP:PORT`, for references.
    pub fn host(&self) -> String {
        self.shared.host.clone()
    }

    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.host)
    }

    pub fn add(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// The faults went away (for the rerun after a failed run).
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Demand `Bearer <token>` on every request and serve `GET /token` to `user:password`.
    pub fn require_bearer(&self, user: &str, password: &str, token: &str) {
        *lock(&self.shared.bearer) = Some(Bearer::new(user, password, token));
    }

    /// A token front issuing tokens as `policy` says (lifetimes, per-repository scopes).
    pub fn require_tokens(&self, policy: TokenPolicy) {
        *lock(&self.shared.tokens) = Some(Tokens::new(policy));
    }

    /// When the `nth` (from 1) `method` request whose path contains `path` arrives, revoke
    /// every token issued so far, before that request is let in: it meets a 401, as a request
    /// does whose token expired on its way. (A token's end at a known point of the run, where
    /// a clock would race with the client's.)
    pub fn revoke_tokens_at(&self, method: &str, path: &str, nth: usize) {
        lock(&self.shared.revocations).push(gate::Revocation::new(method, path, nth));
    }

    /// Answer as another registry does (see [`Quirk`]); quirks add up.
    pub fn quirk(&self, quirk: Quirk) {
        lock(&self.shared.quirks).quirks.push(quirk);
    }

    /// The token requests served so far, as `(scopes asked, status)`.
    pub fn token_requests(&self) -> Vec<(Vec<String>, u16)> {
        self.requests("GET", "/token").iter().map(|e| (gate::scopes_of(&e.path), e.status)).collect()
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<LogEntry> {
        lock(&self.shared.log).clone()
    }

    /// The requests with `method` whose path contains `path`.
    pub fn requests(&self, method: &str, path: &str) -> Vec<LogEntry> {
        self.log().into_iter().filter(|e| e.method == method && e.path.contains(path)).collect()
    }

    /// Wait until `count` such requests have arrived; false on timeout.
    /// The most `method` requests with `path` in their path that were in flight at once.
    pub fn peak_in_flight(&self, method: &str, path: &str) -> usize {
        let entries = self.requests(method, path);
        let mut edges: Vec<(Duration, i32)> = Vec::new();
        for e in entries.iter().filter(|e| !e.done.is_zero()) {
            edges.push((e.at, 1));
            edges.push((e.done, -1));
        }
        // At equal times an end comes before a start: back to back is not at once.
        edges.sort();
        let (mut now, mut peak) = (0i32, 0i32);
        for (_, step) in edges {
            now += step;
            peak = peak.max(now);
        }
        usize::try_from(peak).unwrap_or(0)
    }

    pub fn wait_for(&self, method: &str, path: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.requests(method, path).len() < count {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.shared.host);
    }
}

/// One client connection: requests one after the other (keep-alive).
fn serve(shared: &Shared, client: TcpStream, conn: u64) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(300)));
    let Ok(read_half) = client.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = client;
    // A TLS ClientHello (an `--insecure` client probing https first): hang up, as a plain
    // HTTP server would, so it falls back to http.
    if reader.fill_buf().map(|b| b.first() == Some(&0x16)).unwrap_or(true) {
        let _ = writer.shutdown(Shutdown::Both);
        return;
    }
    while let Ok(Some(head)) = Head::read(&mut reader) {
        match handle(shared, head, conn, &mut reader, &mut writer) {
            Ok(true) => {}
            _ => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

type Reader = BufReader<TcpStream>;

/// Handle one request; `Ok(false)` closes the connection.
fn handle(shared: &Shared, mut head: Head, conn: u64, reader: &mut Reader, writer: &mut TcpStream) -> io::Result<bool> {
    let mut parts = head.start.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let entry = shared.record(LogEntry {
        method: method.clone(),
        path: path.clone(),
        headers: head.headers.clone(),
        at: shared.started.elapsed(),
        conn,
        ..LogEntry::default()
    });
    let mut req = Request { entry, method: method.clone(), path: path.clone(), body: None };
    if let Some(keep) = quirks::before_auth(shared, &mut req, &mut head, reader, writer)? {
        return Ok(keep);
    }
    gate::revoke_if_due(shared, &method, &path);
    if let Some(keep) = gate::token_gate(shared, &req, &mut head, reader, writer)? {
        return Ok(keep);
    }
    if let Some(keep) = bearer_gate(shared, entry, &method, &path, &mut head, reader, writer)? {
        return Ok(keep);
    }
    if let Some(keep) = quirks::before_forward(shared, &mut req, &mut head, reader, writer)? {
        return Ok(keep);
    }
    match faults::apply(shared, &req, &head, reader, writer)? {
        Next::Done(keep) => Ok(keep),
        Next::Forward(tampering) => forward(shared, &req, head, reader, writer, tampering),
    }
}

/// The request being handled, as the quirks see it.
struct Request {
    entry: usize,
    method: String,
    /// The path (with query) as it arrived.
    path: String,
    /// A body a quirk read and changed, sent upstream instead of the client's.
    body: Option<Vec<u8>>,
}

/// Drain the request body and answer with a made-up response.
#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Shared,
    entry: usize,
    method: &str,
    head: &Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
    status: u16,
    extra: &[(&str, String)],
    body: &[u8],
) -> io::Result<bool> {
    let drained = copy_body(reader, &mut io::sink(), request_framing(head), Tamper::default())?;
    lock(&shared.log)[entry].request_bytes = drained.bytes;
    shared.answered(entry, status);
    respond(writer, method, status, extra, body)?;
    shared.finish(entry, if method == "HEAD" { 0 } else { body.len() as u64 });
    Ok(true)
}

/// Send the request to the registry and stream its answer back, tampering as asked.
fn forward(
    shared: &Shared,
    request: &Request,
    mut head: Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
    (req, resp, hold): (Tamper, Tamper, Option<Duration>),
) -> io::Result<bool> {
    let (entry, method) = (request.entry, request.method.as_str());
    let upstream = lock(&shared.upstream).clone();
    let Ok(mut up) = TcpStream::connect(&upstream) else {
        return answer(shared, entry, method, &head, reader, writer, 502, &[], b"{}");
    };
    head.set("Connection", "close");
    head.write_to(&mut up)?;
    let sent = match &request.body {
        Some(body) => copy_body(&mut body.as_slice(), &mut up, request_framing(&head), req)?,
        None => copy_body(reader, &mut up, request_framing(&head), req)?,
    };
    if request.body.is_none() {
        lock(&shared.log)[entry].request_bytes = sent.bytes;
    }
    if sent.cut {
        let _ = up.shutdown(Shutdown::Both);
        return Ok(false);
    }
    let mut up = BufReader::new(up);
    let Some(mut answer) = Head::read(&mut up)? else { return Ok(false) };
    if let Some(wait) = hold {
        thread::sleep(wait);
    }
    quirks::after(shared, request, &mut answer);
    let framing = response_framing(&answer, method);
    let keep_alive = framing != Framing::UntilClose;
    answer.remove("Connection");
    if !keep_alive {
        answer.set("Connection", "close");
    }
    shared.answered(entry, answer.status());
    answer.write_to(writer)?;
    let copied = copy_body(&mut up, writer, framing, resp)?;
    shared.finish(entry, copied.bytes);
    Ok(keep_alive && !copied.cut)
}

impl Shared {
    fn record(&self, entry: LogEntry) -> usize {
        let mut log = lock(&self.log);
        log.push(entry);
        log.len() - 1
    }

    /// The status, recorded before the client can see it: a client that exits on the answer
    /// must not find it missing from the log.
    fn answered(&self, entry: usize, status: u16) {
        lock(&self.log)[entry].status = status;
    }

    fn finish(&self, entry: usize, body_bytes: u64) {
        let mut log = lock(&self.log);
        log[entry].body_bytes = body_bytes;
        log[entry].done = self.started.elapsed();
    }
}
