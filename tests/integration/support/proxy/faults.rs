//! Programmed faults: what the proxy does to the requests that match (cut, corrupt, delay,
//! answer in the registry's place), counted per fault.

use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{Head, Tamper};
use super::{answer, lock, Reader, Request, Shared};

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
    /// Send the response body at this many bytes a second, steadily (a slow link).
    PaceResponse(u64),
    /// Forward the request, then keep the registry's answer for this long before sending it.
    HoldResponse(Duration),
    /// Hold each request until the group's `n` have all arrived, then forward them: requests
    /// sent at once are seen in flight at once however slow the machine, and requests sent
    /// one after the other are not (the first waits [`TOGETHER_AT_MOST`], then goes alone).
    /// Made by [`Action::together`]; give the fault `.times(n)`.
    Together(Arc<Group>),
}

/// How long a request of a [`Action::Together`] group waits for the others.
pub const TOGETHER_AT_MOST: Duration = Duration::from_secs(60);

/// The requests of a [`Action::Together`] group that have arrived.
#[derive(Debug)]
pub struct Group {
    n: usize,
    arrived: Mutex<usize>,
    all_here: Condvar,
}

impl Action {
    /// A group of `n` requests that are forwarded only once all have arrived.
    pub fn together(n: usize) -> Action {
        Action::Together(Arc::new(Group { n, arrived: Mutex::new(0), all_here: Condvar::new() }))
    }
}

impl Group {
    /// Count this request in, and wait until the group is complete (or the wait is over).
    fn arrive(&self) {
        let deadline = Instant::now() + TOGETHER_AT_MOST;
        let mut arrived = lock(&self.arrived);
        *arrived += 1;
        self.all_here.notify_all();
        while *arrived < self.n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            arrived = self.all_here.wait_timeout(arrived, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// A fault for the first `times` requests whose method and path match.
#[derive(Clone, Debug)]
pub struct Fault {
    method: Option<String>,
    path: String,
    times: usize,
    action: Action,
    seen: usize,
}

impl Fault {
    /// Any request, once.
    pub fn new(action: Action) -> Fault {
        Fault { method: None, path: String::new(), times: 1, action, seen: 0 }
    }

    /// Only `method` requests whose path (with query) contains `path`.
    pub fn on(mut self, method: &str, path: &str) -> Fault {
        self.method = Some(method.to_string());
        self.path = path.to_string();
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

/// What to do with a request once the faults had their say.
pub enum Next {
    /// A fault answered it; `true` keeps the connection.
    Done(bool),
    /// Forward it with these tamperings: request body, response body, hold.
    Forward((Tamper, Tamper, Option<Duration>)),
}

/// Apply the fault whose turn it is, if any.
pub fn apply(
    shared: &Shared,
    req: &Request,
    head: &Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<Next> {
    let action = shared.take_fault(&req.method, &req.path);
    if let Some(a) = &action {
        let note = match a {
            Action::Reply { content_type, body } => format!("Reply({content_type}, {} bytes)", body.len()),
            Action::Together(group) => format!("Together({})", group.n),
            other => format!("{other:?}"),
        };
        lock(&shared.log)[req.entry].fault = Some(note);
    }
    let (mut tamper, mut resp) = (Tamper::default(), Tamper::default());
    let mut hold = None;
    match action {
        Some(Action::Status { code, retry_after }) => {
            let extra: Vec<_> = retry_after.map(|s| ("Retry-After", s.to_string())).into_iter().collect();
            let body = br#"{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}"#;
            return answer(shared, req.entry, &req.method, head, reader, writer, code, &extra, body).map(Next::Done);
        }
        Some(Action::Redirect(base)) => {
            let extra = [("Location", format!("{base}{}", req.path))];
            return answer(shared, req.entry, &req.method, head, reader, writer, 307, &extra, b"").map(Next::Done);
        }
        Some(Action::Reply { content_type, body }) => {
            let extra = [("Content-Type", content_type)];
            return answer(shared, req.entry, &req.method, head, reader, writer, 200, &extra, &body).map(Next::Done);
        }
        Some(Action::Delay(wait)) => thread::sleep(wait),
        Some(Action::Together(group)) => group.arrive(),
        Some(Action::CutResponse(n)) => resp.cut_after = Some(n),
        Some(Action::StallResponse(n)) => resp.stall_after = Some(n),
        Some(Action::TrickleResponse(n)) => resp.trickle_after = Some(n),
        Some(Action::PaceResponse(rate)) => resp.pace = Some(rate),
        Some(Action::HoldResponse(wait)) => hold = Some(wait),
        Some(Action::Corrupt(n)) => resp.corrupt_at = Some(n),
        Some(Action::CutRequest(n)) => tamper.cut_after = Some(n),
        None => {}
    }
    Ok(Next::Forward((tamper, resp, hold)))
}

impl Shared {
    /// Count this request against every matching fault; the first whose turn it is applies.
    fn take_fault(&self, method: &str, path: &str) -> Option<Action> {
        let mut chosen = None;
        for fault in lock(&self.faults).iter_mut().filter(|f| f.matches(method, path)) {
            fault.seen += 1;
            let turn = fault.seen <= fault.times;
            if turn && chosen.is_none() {
                chosen = Some(fault.action.clone());
            }
        }
        chosen
    }
}
