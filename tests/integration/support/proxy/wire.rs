//! HTTP/1.1 on the wire for the fault proxy: message heads, body framing, and copying a
//! body from one socket to another while cutting or corrupting it.

use std::io::{self, BufRead, Write};

/// The start line and headers of a request or response.
#[derive(Clone, Debug)]
pub struct Head {
    /// `GET /v2/ HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub start: String,
    pub headers: Vec<(String, String)>,
}

/// Longest head accepted, so a broken peer cannot make the proxy buffer without end.
const MAX_HEAD: usize = 64 * 1024;

impl Head {
    /// Read a head; `None` on a clean end of stream before its first byte.
    pub fn read(from: &mut impl BufRead) -> io::Result<Option<Head>> {
        let mut start = String::new();
        if from.read_line(&mut start)? == 0 {
            return Ok(None);
        }
        let mut headers = Vec::new();
        let mut total = start.len();
        loop {
            let mut line = String::new();
            let n = from.read_line(&mut line)?;
            total += n;
            if n == 0 || total > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated or oversized head"));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        Ok(Some(Head { start: start.trim_end().to_string(), headers }))
    }

    /// The first value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Replace every `name` header with one of `value`.
    pub fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.headers.push((name.to_string(), value.to_string()));
    }

    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The status code of a response head.
    pub fn status(&self) -> u16 {
        self.start.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    pub fn write_to(&self, to: &mut impl Write) -> io::Result<()> {
        let mut text = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        to.write_all(text.as_bytes())
    }
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

fn declared(head: &Head) -> Option<Framing> {
    if head.get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Some(Framing::Chunked);
    }
    head.get("content-length").and_then(|v| v.parse().ok()).map(Framing::Length)
}

/// A request has a body only when it says so.
pub fn request_framing(head: &Head) -> Framing {
    declared(head).unwrap_or(Framing::None)
}

/// A response to HEAD, or a 1xx/204/304, has no body; otherwise as declared, else until close.
pub fn response_framing(head: &Head, method: &str) -> Framing {
    let status = head.status();
    if method == "HEAD" || status < 200 || status == 204 || status == 304 {
        return Framing::None;
    }
    declared(head).unwrap_or(Framing::UntilClose)
}

/// What to do to a body's bytes (offsets count body bytes, not framing).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tamper {
    /// Stop after this many bytes: the caller then closes both connections.
    pub cut_after: Option<u64>,
    /// Flip the bits of the byte at this offset.
    pub corrupt_at: Option<u64>,
    /// After this many bytes send nothing more for a long while (a stall), then cut.
    pub stall_after: Option<u64>,
    /// After this many bytes send one byte a second (a trickle), until cut by the client.
    pub trickle_after: Option<u64>,
    /// Send at most this many bytes a second.
    pub pace: Option<u64>,
}

/// How long a stalled body stays silent before the proxy gives up on it.
const STALL: std::time::Duration = std::time::Duration::from_secs(300);

/// How a body copy went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Copied {
    pub bytes: u64,
    pub cut: bool,
}

/// Copy a body framed as `framing` from `from` to `to`, applying `tamper`. Chunked bodies
/// keep their chunk framing.
pub fn copy_body(from: &mut impl BufRead, to: &mut impl Write, framing: Framing, tamper: Tamper) -> io::Result<Copied> {
    let mut copied = Copied::default();
    match framing {
        Framing::None => {}
        Framing::Length(n) => copy_data(from, to, Some(n), tamper, &mut copied)?,
        Framing::UntilClose => copy_data(from, to, None, tamper, &mut copied)?,
        Framing::Chunked => copy_chunked(from, to, tamper, &mut copied)?,
    }
    to.flush()?;
    Ok(copied)
}

fn copy_chunked(from: &mut impl BufRead, to: &mut impl Write, tamper: Tamper, copied: &mut Copied) -> io::Result<()> {
    loop {
        let mut line = String::new();
        from.read_line(&mut line)?;
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
        to.write_all(line.as_bytes())?;
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                let mut trailer = String::new();
                from.read_line(&mut trailer)?;
                to.write_all(trailer.as_bytes())?;
                if trailer.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        copy_data(from, to, Some(size), tamper, copied)?;
        if copied.cut {
            return Ok(());
        }
        let mut crlf = [0u8; 2];
        from.read_exact(&mut crlf)?;
        to.write_all(&crlf)?;
    }
}

/// Copy `limit` bytes (or until end of stream), counting into `copied.bytes`.
fn copy_data(
    from: &mut impl BufRead,
    to: &mut impl Write,
    limit: Option<u64>,
    tamper: Tamper,
    copied: &mut Copied,
) -> io::Result<()> {
    let mut left = limit;
    let mut buf = vec![0u8; 64 * 1024];
    while left != Some(0) {
        let want = left.map_or(buf.len(), |l| buf.len().min(usize::try_from(l).unwrap_or(usize::MAX)));
        let mut n = from.read(&mut buf[..want])?;
        if n == 0 {
            if left.is_some() {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "body ended early"));
            }
            return Ok(());
        }
        let start = copied.bytes;
        let slow_from = tamper.stall_after.or(tamper.trickle_after);
        if let Some(at) = slow_from.filter(|&s| s < start + n as u64) {
            let head = usize::try_from(at.saturating_sub(start)).unwrap_or(0);
            to.write_all(&buf[..head])?;
            to.flush()?;
            copied.bytes += head as u64;
            if tamper.stall_after.is_some() {
                std::thread::sleep(STALL);
            } else {
                for byte in &buf[head..n] {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    to.write_all(std::slice::from_ref(byte))?;
                    to.flush()?;
                    copied.bytes += 1;
                }
            }
            copied.cut = true;
            return Ok(());
        }
        if let Some(cut) = tamper.cut_after.filter(|&c| c < start + n as u64) {
            n = usize::try_from(cut.saturating_sub(start)).unwrap_or(0);
            copied.cut = true;
        }
        if let Some(at) = tamper.corrupt_at.filter(|&a| a >= start && a < start + n as u64) {
            buf[usize::try_from(at - start).unwrap_or(0)] ^= 0xff;
        }
        to.write_all(&buf[..n])?;
        copied.bytes += n as u64;
        if let Some(rate) = tamper.pace.filter(|&r| r > 0) {
            to.flush()?;
            std::thread::sleep(std::time::Duration::from_secs_f64(n as f64 / rate as f64));
        }
        if copied.cut {
            return Ok(());
        }
        left = left.map(|l| l - n as u64);
    }
    Ok(())
}

/// A complete response made up by the proxy (no body for HEAD).
pub fn respond(
    to: &mut impl Write,
    method: &str,
    status: u16,
    extra: &[(&str, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = Head { start: format!("HTTP/1.1 {status} {}", crate::support::reason(status)), headers: Vec::new() };
    head.set("Content-Length", &body.len().to_string());
    head.set("Content-Type", "application/json");
    for (name, value) in extra {
        head.set(name, value);
    }
    head.write_to(to)?;
    if method != "HEAD" {
        to.write_all(body)?;
    }
    to.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_and_corrupts_a_chunked_body_by_payload_offset() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let mut out = Vec::new();
        let tamper = Tamper { corrupt_at: Some(6), ..Tamper::default() };
        let copied = copy_body(&mut &body[..], &mut out, Framing::Chunked, tamper).unwrap();
        assert_eq!(copied.bytes, 11);
        assert_eq!(out, b"5\r\nhello\r\n6\r\n \x88orld\r\n0\r\n\r\n");
        let mut out = Vec::new();
        let tamper = Tamper { cut_after: Some(7), ..Tamper::default() };
        let copied = copy_body(&mut &body[..], &mut out, Framing::Chunked, tamper).unwrap();
        assert!(copied.cut);
        assert_eq!(out, b"5\r\nhello\r\n6\r\n w");
    }
}
