//! A stand-in for the OpenShift update service (Cincinnati policy-engine) on 127.0.0.1:
//! `GET /api/upgrades_info/v1/graph?channel=C&arch=A` answers the graph stored for
//! (channel, arch), with the real service's statuses, error bodies and content negotiation.
//! One thread per connection, `Connection: close`, a request log the test can read.
//!
//! What it copies from the real service, and where that was checked (openshift/cincinnati;
//! the graph fixture is `../shared/fixtures/oc-mirror/internal/e2e/infra_demo/cincinnati-graph.json`):
//! - Routes (policy-engine/src/main.rs): `{prefix}/v1/graph` and `{prefix}/graph`, GET only,
//!   prefix `/api/upgrades_info` (dist/openshift/cincinnati-deployment.yaml). Another method on
//!   those paths: actix-web's resource default, 405 with an empty body and `Allow: GET`
//!   (actix-web >= 4.3, PR actix/actix-web#2949). Any other path: the app's
//!   `default_response`, 404 with an empty body.
//! - Order of checks (policy-engine/src/graph.rs `_index`): Accept first, then the mandatory
//!   parameters, then the plugins (channel-filter, then arch-filter: settings.rs
//!   `default_openshift_plugin_settings`). So a bad Accept wins over a missing channel.
//! - Accept (commons/src/lib.rs `validate_content_type`, "not a full-blown Accept parser"):
//!   the whole header value must equal one of `*`, `*/*`, `application/*`, `application/json`,
//!   `application/vnd.redhat.cincinnati.v1+json`; anything else (a list, a parameter, other
//!   case) is 406. No Accept header is fine. The success `Content-Type` echoes the accepted
//!   type, `application/json` for the wildcards, and `application/vnd.redhat.cincinnati.v1+json`
//!   when the request had no Accept (graph.rs `process_plugins`, `MIN_CINCINNATI_VERSION`).
//! - Errors (commons/src/errors.rs `as_json_error`): `Content-Type: application/json`, body
//!   `{"kind":K,"value":V}`. Missing channel: 400 `missing_params`, value
//!   `mandatory client parameters missing: channel` (also asserted verbatim by the project's
//!   production monitor, e2e/stage_monitoring/check_cincinnati.sh). Bad Accept: 406
//!   `invalid_content_type`, value `invalid Content-Type requested`.
//! - `channel` must match `^[0-9a-z\-\.]+$` (channel_filter.rs) and `arch` `^[0-9a-z]+$`
//!   (arch_filter.rs), else 400 `invalid_params` with value
//!   `invalid client parameters: channel '<c>' does not match regex '<re>'`; `arch` defaults
//!   to `amd64`. `channel=` (present, empty) fails the regex, it is not "missing".
//! - Query values are form-urlencoded (serde_urlencoded: `+` is a space, `%XX` a byte,
//!   lossy UTF-8); a repeated key keeps its last value. Unknown params (`version`, `id`) are
//!   ignored.
//! - A channel or arch with no releases: 200 with the empty versioned graph
//!   `{"version":1,"nodes":[],"edges":[],"conditionalEdges":[]}`: `conditionalEdges` is present
//!   even when empty, and the key order is version, nodes, edges, conditionalEdges (the
//!   README's sample answer, and the fixture, which is compact JSON in that order).
//! - Not copied: CORS headers (actix-cors echoes `Origin`), `Date`, HEAD (405 as on the real one).
//!
//! The cincinnati fixtures in `../shared/fixtures/cincinnati` hold only signature vectors (no
//! graph request/response pairs); the e2e suite's expected graphs are not in the fixtures.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};

/// The path the stand-in serves (and `url()` names); `/api/upgrades_info/graph` works too.
pub const GRAPH_PATH: &str = "/api/upgrades_info/v1/graph";
const UNVERSIONED_PATH: &str = "/api/upgrades_info/graph";
const JSON: &str = "application/json";
const CINCINNATI_V1: &str = "application/vnd.redhat.cincinnati.v1+json";
/// The real service's answer for a channel (or arch) that holds no release.
pub const EMPTY_GRAPH: &str = r#"{"version":1,"nodes":[],"edges":[],"conditionalEdges":[]}"#;
const CHANNEL_RE: &str = r"^[0-9a-z\-\.]+$";
const ARCH_RE: &str = r"^[0-9a-z]+$";

/// A deliberate failure of the graph endpoint, for error-path tests. It applies after the
/// path and method checks, before Accept and parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This status with an empty body (e.g. 503 from a gateway).
    Status(u16),
    /// This status, `Content-Type` and body.
    Reply { status: u16, content_type: String, body: Vec<u8> },
    /// 200 `application/json` with a body that is not JSON (a truncated graph).
    InvalidJson,
    /// Read the request, never answer: the connection stays open for a minute, then closes
    /// (to test the client's answer timeout).
    Hang,
    /// This status (301, 302, 307, 308) with `Location: <location>` and an empty body.
    Redirect { status: u16, location: String },
    /// 503 with `Retry-After: <seconds>` and an empty body (a service restarting).
    Busy { retry_after: u64 },
    /// 200 `application/json`, chunked, with no declared length, 80 MiB of whitespace for as
    /// long as the client reads: more than any update graph.
    Endless,
}

/// One request as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent (`/api/upgrades_info/v1/graph?channel=stable-4.15&arch=amd64`).
    pub target: String,
    /// The first `Accept` header's value, if any.
    pub accept: Option<String>,
}

#[derive(Default)]
struct State {
    graphs: HashMap<(String, String), Vec<u8>>,
    /// The fault and how many more requests it applies to (`None`: all).
    fault: Option<(Fault, Option<usize>)>,
    requests: Vec<Request>,
}

/// How long [`Fault::Hang`] keeps a connection open without a word before it closes it
/// (longer than any answer timeout a test sets, so a client without one fails otherwise).
const HANG: std::time::Duration = std::time::Duration::from_secs(60);

/// A running update service; its thread lives as long as the test process.
pub struct UpdateService {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl UpdateService {
    pub fn start() -> UpdateService {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let port = super::serve_on_loopback("update service", move |stream| serve(stream, &shared));
        UpdateService { port, state }
    }

    /// `http://127.0.0.1:<port>/api/upgrades_info/v1/graph`, the value for the plugin's
    /// update-service URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{GRAPH_PATH}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serve `json` (verbatim, not checked) for `channel` and `arch` (Go names: `amd64`,
    /// `arm64`, `multi`, ...). Replaces an earlier graph of that pair.
    pub fn add_graph(&self, channel: &str, arch: &str, json: impl Into<Vec<u8>>) {
        self.lock().graphs.insert((channel.to_string(), arch.to_string()), json.into());
    }

    /// Fail every graph request from now on, until `clear_fault`.
    pub fn fail_with(&self, fault: Fault) {
        self.lock().fault = Some((fault, None));
    }

    /// Fail the next `times` graph requests, then answer as usual.
    pub fn fail_next(&self, fault: Fault, times: usize) {
        self.lock().fault = Some((fault, Some(times)));
    }

    pub fn clear_fault(&self) {
        self.lock().fault = None;
    }

    /// Requests received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An answer: status, extra headers, body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Send [`Fault::Endless`]'s body instead of `body`.
    endless: bool,
}

impl Reply {
    fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), endless: false }
    }

    fn typed(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply { status, headers: vec![("Content-Type", content_type.to_string())], body, endless: false }
    }

    /// The real error body: `{"kind":..,"value":..}`, `application/json`.
    fn error(status: u16, kind: &str, value: &str) -> Reply {
        let body = format!(r#"{{"kind":{},"value":{}}}"#, json_string(kind), json_string(value));
        Reply::typed(status, JSON, body.into_bytes())
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let Some(request) = read_request(&stream) else { return };
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.requests.push(request.clone());
    let reply = match answer(&request, &mut st) {
        Some(reply) => reply,
        None => {
            drop(st);
            std::thread::sleep(HANG); // Fault::Hang: kept open, unanswered, then closed
            drop(stream);
            return;
        }
    };
    drop(st);
    let _ = write_reply(stream, &reply);
}

/// The answer to `request`, or `None` to hang.
fn answer(request: &Request, st: &mut State) -> Option<Reply> {
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    if path != GRAPH_PATH && path != UNVERSIONED_PATH {
        return Some(Reply::empty(404));
    }
    if request.method != "GET" {
        let mut reply = Reply::empty(405);
        reply.headers.push(("Allow", "GET".to_string()));
        return Some(reply);
    }
    if let Some(fault) = take_fault(st) {
        return match fault {
            Fault::Status(status) => Some(Reply::empty(status)),
            Fault::Reply { status, content_type, body } => Some(Reply::typed(status, &content_type, body)),
            Fault::InvalidJson => Some(Reply::typed(200, JSON, br#"{"version":1,"nodes":[{"vers"#.to_vec())),
            Fault::Hang => None,
            Fault::Redirect { status, location } => {
                Some(Reply { headers: vec![("Location", location)], ..Reply::empty(status) })
            }
            Fault::Endless => Some(Reply { endless: true, ..Reply::typed(200, JSON, Vec::new()) }),
            Fault::Busy { retry_after } => {
                Some(Reply { headers: vec![("Retry-After", retry_after.to_string())], ..Reply::empty(503) })
            }
        };
    }
    let content_type = match negotiate(request.accept.as_deref()) {
        Some(content_type) => content_type,
        None => return Some(Reply::error(406, "invalid_content_type", "invalid Content-Type requested")),
    };
    let params = parse_query(query);
    let Some(channel) = params.get("channel") else {
        return Some(Reply::error(400, "missing_params", "mandatory client parameters missing: channel"));
    };
    if !channel_ok(channel) {
        return Some(invalid_param("channel", channel, CHANNEL_RE));
    }
    let arch = params.get("arch").map_or("amd64", String::as_str);
    if !arch_ok(arch) {
        return Some(invalid_param("arch", arch, ARCH_RE));
    }
    let body = st.graphs.get(&(channel.clone(), arch.to_string())).cloned();
    Some(Reply::typed(200, content_type, body.unwrap_or_else(|| EMPTY_GRAPH.as_bytes().to_vec())))
}

fn take_fault(st: &mut State) -> Option<Fault> {
    let (fault, left) = st.fault.as_mut()?;
    let fault = fault.clone();
    match left {
        None => {}
        Some(0) => {
            st.fault = None;
            return None;
        }
        Some(n) => {
            *n -= 1;
            if *n == 0 {
                st.fault = None;
            }
        }
    }
    Some(fault)
}

/// The response `Content-Type` for this `Accept`, or `None` for 406 (exact whole-value match).
fn negotiate(accept: Option<&str>) -> Option<&'static str> {
    match accept {
        None => Some(CINCINNATI_V1),
        Some("*" | "*/*" | "application/*" | JSON) => Some(JSON),
        Some(CINCINNATI_V1) => Some(CINCINNATI_V1),
        Some(_) => None,
    }
}

fn invalid_param(name: &str, value: &str, regex: &str) -> Reply {
    let value = format!("invalid client parameters: {name} '{value}' does not match regex '{regex}'");
    Reply::error(400, "invalid_params", &value)
}

fn channel_ok(channel: &str) -> bool {
    !channel.is_empty()
        && channel.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-' || b == b'.')
}

fn arch_ok(arch: &str) -> bool {
    !arch.is_empty() && arch.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// Form-urlencoded pairs, decoded; a repeated key keeps its last value.
pub fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (super::form_decode(key), super::form_decode(value))
        })
        .collect()
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The request line and headers; a body announced by `Content-Length` is read (up to 1 MiB)
/// and dropped, so closing the socket does not reset the connection before the answer.
fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut accept = None;
    let mut length = 0u64;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("accept") && accept.is_none() {
            accept = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().unwrap_or(0);
        }
    }
    let _ = std::io::copy(&mut reader.take(length.min(1 << 20)), &mut std::io::sink());
    Some(Request { method, target, accept })
}

fn write_reply(mut stream: TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, super::reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.endless {
        head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes())?;
        let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, " ".repeat(64 << 10));
        for _ in 0..1280 {
            stream.write_all(chunk.as_bytes())?;
        }
        return stream.write_all(b"0\r\n\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", reply.body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&reply.body)?;
    stream.flush()
}
