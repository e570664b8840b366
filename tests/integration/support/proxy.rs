//! A fault-injecting HTTP/1.1 proxy in front of a real registry, request by request, with
//! programmable faults (cut a response or a request body, answer a status, corrupt a byte,
//! delay, redirect elsewhere), a request log (with arrival times), and an optional bearer-token front (the proxy
//! demands `Authorization: Bearer <token>` and serves the token realm itself).

mod wire;

use std::io::{self, BufRead, BufReader};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::registry::Registry;
use wire::{copy_body, request_framing, respond, response_framing, Framing, Head, Tamper};

/// What a fault does to a matching request.
#[derive(Clone, Debug)]
pub enum Action {
    /// Close the connection after this many bytes of the response body.
    CutResponse(u64),
    /// Close the connection after this many bytes of the request body have arrived.
    CutRequest(u64),
    /// Answer this status (with `Retry-After: <s>` when given); the registry never sees it.
    Status { code: u16, retry_after: Option<u64> },
    /// Flip the bits of the response body's byte at this offset.
    Corrupt(u64),
    /// Wait this long, then forward as usual.
    Delay(Duration),
    /// Answer `307` to `<base><path>` (another listener).
    Redirect(String),
    /// Answer `200` with this `Content-Type` and body instead of the registry.
    Reply { content_type: String, body: Vec<u8> },
    /// Send this many bytes of the response body, then nothing for minutes (a stall).
    StallResponse(u64),
    /// Send this many bytes of the response body, then one byte a second (a trickle).
    TrickleResponse(u64),
    /// Forward the request, then keep the registry's answer for this long before sending it.
    HoldResponse(Duration),
}

/// A fault for the requests whose method and path match, from the `skip+1`-th such request
/// on, `times` times.
#[derive(Clone, Debug)]
pub struct Fault {
    method: Option<String>,
    path: String,
    skip: usize,
    times: usize,
    action: Action,
    seen: usize,
}

impl Fault {
    /// Any request, once.
    pub fn new(action: Action) -> Fault {
        Fault { method: None, path: String::new(), skip: 0, times: 1, action, seen: 0 }
    }

    /// Only `method` requests whose path (with query) contains `path`.
    pub fn on(mut self, method: &str, path: &str) -> Fault {
        self.method = Some(method.to_string());
        self.path = path.to_string();
        self
    }

    /// Leave the first `n` matching requests alone.
    pub fn after(mut self, n: usize) -> Fault {
        self.skip = n;
        self
    }

    /// Apply to `n` matching requests in a row.
    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }

    /// Apply to every matching request.
    pub fn always(self) -> Fault {
        self.times(usize::MAX)
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && path.contains(&self.path)
    }
}

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
}

impl LogEntry {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Bearer {
    basic: String,
    token: String,
}

struct Shared {
    host: String,
    upstream: Mutex<String>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<LogEntry>>,
    bearer: Mutex<Option<Bearer>>,
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
                thread::spawn(move || serve(&shared, conn));
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
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        *lock(&self.shared.bearer) = Some(Bearer { basic: format!("Basic {basic}"), token: token.to_string() });
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
fn serve(shared: &Shared, client: TcpStream) {
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
        match handle(shared, head, &mut reader, &mut writer) {
            Ok(true) => {}
            _ => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

type Reader = BufReader<TcpStream>;

/// Handle one request; `Ok(false)` closes the connection.
fn handle(shared: &Shared, mut head: Head, reader: &mut Reader, writer: &mut TcpStream) -> io::Result<bool> {
    let mut parts = head.start.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let entry = shared.record(LogEntry {
        method: method.clone(),
        path: path.clone(),
        headers: head.headers.clone(),
        at: shared.started.elapsed(),
        ..LogEntry::default()
    });
    if let Some(keep) = bearer_gate(shared, entry, &method, &path, &mut head, reader, writer)? {
        return Ok(keep);
    }
    let action = shared.take_fault(&method, &path);
    if let Some(a) = &action {
        let note = match a {
            Action::Reply { content_type, body } => format!("Reply({content_type}, {} bytes)", body.len()),
            other => format!("{other:?}"),
        };
        lock(&shared.log)[entry].fault = Some(note);
    }
    let (mut req, mut resp) = (Tamper::default(), Tamper::default());
    let mut hold = None;
    match action {
        Some(Action::Status { code, retry_after }) => {
            let extra: Vec<_> = retry_after.map(|s| ("Retry-After", s.to_string())).into_iter().collect();
            let body = br#"{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}"#;
            return answer(shared, entry, &method, &head, reader, writer, code, &extra, body);
        }
        Some(Action::Redirect(base)) => {
            let extra = [("Location", format!("{base}{path}"))];
            return answer(shared, entry, &method, &head, reader, writer, 307, &extra, b"");
        }
        Some(Action::Reply { content_type, body }) => {
            let extra = [("Content-Type", content_type)];
            return answer(shared, entry, &method, &head, reader, writer, 200, &extra, &body);
        }
        Some(Action::Delay(wait)) => thread::sleep(wait),
        Some(Action::CutResponse(n)) => resp.cut_after = Some(n),
        Some(Action::StallResponse(n)) => resp.stall_after = Some(n),
        Some(Action::TrickleResponse(n)) => resp.trickle_after = Some(n),
        Some(Action::HoldResponse(wait)) => hold = Some(wait),
        Some(Action::Corrupt(n)) => resp.corrupt_at = Some(n),
        Some(Action::CutRequest(n)) => req.cut_after = Some(n),
        None => {}
    }
    forward(shared, entry, &method, head, reader, writer, (req, resp, hold))
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
    copy_body(reader, &mut io::sink(), request_framing(head), Tamper::default())?;
    respond(writer, method, status, extra, body)?;
    shared.finish(entry, status, if method == "HEAD" { 0 } else { body.len() as u64 });
    Ok(true)
}

/// With a bearer front: serve the token realm, refuse requests without the token, and
/// strip it from those forwarded. `None` to go on with the request.
fn bearer_gate(
    shared: &Shared,
    entry: usize,
    method: &str,
    path: &str,
    head: &mut Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<Option<bool>> {
    let Some(bearer) = lock(&shared.bearer).clone() else { return Ok(None) };
    if path.starts_with("/token") {
        let (status, body) = if head.get("authorization") == Some(bearer.basic.as_str()) {
            (200, format!(r#"{{"token":"{}","expires_in":300}}"#, bearer.token))
        } else {
            (401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_string())
        };
        return answer(shared, entry, method, head, reader, writer, status, &[], body.as_bytes()).map(Some);
    }
    if head.get("authorization") == Some(format!("Bearer {}", bearer.token).as_str()) {
        head.remove("Authorization");
        return Ok(None);
    }
    let challenge = format!(r#"Bearer realm="http://{}/token",service="proxy""#, shared.host);
    let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
    answer(shared, entry, method, head, reader, writer, 401, &[("WWW-Authenticate", challenge)], body).map(Some)
}

/// Send the request to the registry and stream its answer back, tampering as asked.
fn forward(
    shared: &Shared,
    entry: usize,
    method: &str,
    mut head: Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
    (req, resp, hold): (Tamper, Tamper, Option<Duration>),
) -> io::Result<bool> {
    let upstream = lock(&shared.upstream).clone();
    let Ok(mut up) = TcpStream::connect(&upstream) else {
        return answer(shared, entry, method, &head, reader, writer, 502, &[], b"{}");
    };
    head.set("Connection", "close");
    head.write_to(&mut up)?;
    let sent = copy_body(reader, &mut up, request_framing(&head), req)?;
    if sent.cut {
        let _ = up.shutdown(Shutdown::Both);
        return Ok(false);
    }
    let mut up = BufReader::new(up);
    let Some(mut answer) = Head::read(&mut up)? else { return Ok(false) };
    if let Some(wait) = hold {
        thread::sleep(wait);
    }
    let framing = response_framing(&answer, method);
    let keep_alive = framing != Framing::UntilClose;
    answer.remove("Connection");
    if !keep_alive {
        answer.set("Connection", "close");
    }
    answer.write_to(writer)?;
    let copied = copy_body(&mut up, writer, framing, resp)?;
    shared.finish(entry, answer.status(), copied.bytes);
    Ok(keep_alive && !copied.cut)
}

impl Shared {
    fn record(&self, entry: LogEntry) -> usize {
        let mut log = lock(&self.log);
        log.push(entry);
        log.len() - 1
    }

    fn finish(&self, entry: usize, status: u16, body_bytes: u64) {
        let mut log = lock(&self.log);
        log[entry].status = status;
        log[entry].body_bytes = body_bytes;
    }

    /// Count this request against every matching fault; the first whose turn it is applies.
    fn take_fault(&self, method: &str, path: &str) -> Option<Action> {
        let mut chosen = None;
        for fault in lock(&self.faults).iter_mut().filter(|f| f.matches(method, path)) {
            fault.seen += 1;
            let turn = fault.seen > fault.skip && fault.seen - fault.skip <= fault.times;
            if turn && chosen.is_none() {
                chosen = Some(fault.action.clone());
            }
        }
        chosen
    }
}
