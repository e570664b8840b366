//! An HTTPS proxy stand-in on 127.0.0.1, as `HTTPS_PROXY` names one: it answers
//! `CONNECT host:port` with 200 and then relays the bytes both ways, counting the tunnels
//! it opened per target. Anything else (a plain-http request in absolute form, as
//! `HTTP_PROXY` makes them) is recorded and answered 405.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// A running proxy; its threads live as long as the test process.
pub struct ConnectProxy {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

/// What the proxy saw: tunnels per `host:port`, and other request lines.
#[derive(Default)]
struct Seen {
    tunnels: BTreeMap<String, usize>,
    forwarded: Vec<String>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let counted = Arc::clone(&seen);
        let port = super::serve_on_loopback("CONNECT proxy", move |stream| serve(stream, &counted));
        ConnectProxy { port, seen }
    }

    /// `http://127.0.0.1:<port>`, the value of `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Tunnels opened so far to `host:port`.
    pub fn tunnels_to(&self, target: &str) -> usize {
        self.lock().tunnels.get(target).copied().unwrap_or(0)
    }

    /// Tunnels opened so far, to any target.
    pub fn tunnels(&self) -> usize {
        self.lock().tunnels.values().sum()
    }

    /// The request lines of plain-http requests so far (`GET http://host/path HTTP/1.1`).
    pub fn forwarded(&self) -> Vec<String> {
        self.lock().forwarded.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(client: TcpStream, seen: &Mutex<Seen>) {
    let Ok(read_half) = client.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_or(true, |n| n == 0) || header.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default().to_string());
    let mut client = client;
    let upstream = match (method, TcpStream::connect(&target)) {
        ("CONNECT", Ok(upstream)) => upstream,
        ("CONNECT", Err(_)) => {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        _ => {
            seen.lock().unwrap_or_else(|e| e.into_inner()).forwarded.push(line.trim().to_string());
            let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
            return;
        }
    };
    *seen.lock().unwrap_or_else(|e| e.into_inner()).tunnels.entry(target).or_insert(0) += 1;
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").is_err() {
        return;
    }
    // Bytes the client sent after its CONNECT head (a TLS ClientHello) are in the reader.
    let Ok(mut up_write) = upstream.try_clone() else { return };
    let buffered = reader.buffer().to_vec();
    if up_write.write_all(&buffered).is_err() {
        return;
    }
    let mut down = upstream;
    let mut client_write = client;
    let relay = thread::spawn(move || {
        let _ = std::io::copy(&mut down, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(reader.get_mut(), &mut up_write);
    let _ = up_write.shutdown(Shutdown::Write);
    let _ = relay.join();
}
