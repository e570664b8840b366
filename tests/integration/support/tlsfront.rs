//! HTTPS in front of any plain stand-in (a real registry, the update service, a signature
//! store): a TLS-terminating HTTP/1.1 forwarder on 127.0.0.1 with a certificate made by the
//! openssl CLI, either signed by a private CA or self-signed and marked `CA:TRUE` (as the
//! mirror-registry guides make it). Each request goes upstream with
//! `X-Forwarded-Proto: https`, so a registry's upload `Location`s name `https`. It counts the
//! connections it accepted.

use std::io::{BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::proxy::wire::{copy_body, request_framing, response_framing, Framing, Head, Tamper};

/// A server certificate for 127.0.0.1 and the PEM bundle a client trusts it with.
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// `openssl req -x509 -newkey rsa:2048 -nodes -addext subjectAltName=IP:127.0.0.1`: one
    /// certificate that is the server's and its own CA (`CA:TRUE`, from openssl's defaults).
    pub fn self_signed() -> Certs {
        Certs::self_signed_for("127.0.0.1")
    }

    /// The same for another address `ip` than the one the front listens on.
    pub fn self_signed_for(ip: &str) -> Certs {
        let certs = Certs { dir: super::temp_dir() };
        let (subject, san) = (format!("/CN={ip}"), format!("subjectAltName=IP:{ip}"));
        openssl(
            certs.path(),
            &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject],
            &["-keyout", "server.key", "-out", "server.crt", "-addext", &san],
        );
        std::fs::copy(certs.path().join("server.crt"), certs.ca()).expect("copy the certificate as its CA");
        certs
    }

    /// A private CA (`ca.crt`) and a server certificate for 127.0.0.1 it signed.
    pub fn private_ca() -> Certs {
        let certs = Certs { dir: super::temp_dir() };
        let dir = certs.path();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        openssl(
            dir,
            &["req", "-x509", "-days", "2", "-subj", "/CN=release-mirror private CA", "-keyout", "ca.key"],
            &[&ec[..], &["-out", "ca.crt", "-addext", "basicConstraints=critical,CA:TRUE"]].concat(),
        );
        openssl(dir, &["req", "-new", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"], &ec);
        let ext = "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n";
        std::fs::write(dir.join("server.ext"), ext).expect("write certificate extensions");
        let sign = ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"];
        openssl(dir, &sign, &["-days", "2", "-extfile", "server.ext", "-out", "server.crt"]);
        certs
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle to give with `--certificate-authority`.
    pub fn ca(&self) -> PathBuf {
        self.path().join("ca.crt")
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        super::install_crypto();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(self.path().join("server.crt"))
            .expect("open server.crt")
            .collect::<Result<_, _>>()
            .expect("read server.crt");
        let key = PrivateKeyDer::from_pem_file(self.path().join("server.key")).expect("read server.key");
        let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).expect("tls");
        Arc::new(config)
    }
}

fn openssl(dir: &Path, args: &[&str], more: &[&str]) {
    let out = Command::new("openssl").args(args).args(more).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?} {more:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A running HTTPS front; its threads live as long as the test process.
pub struct TlsFront {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl TlsFront {
    /// HTTPS on a fresh 127.0.0.1 port, forwarding to `upstream` (`host:port`, plain HTTP).
    pub fn start(upstream: &str, certs: &Certs) -> TlsFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS front");
        let port = listener.local_addr().expect("local address").port();
        let (config, accepted) = (certs.server_config(), Arc::new(AtomicUsize::new(0)));
        let (upstream, counter) = (upstream.to_string(), Arc::clone(&accepted));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let (config, upstream) = (Arc::clone(&config), upstream.clone());
                thread::spawn(move || serve(stream, config, &upstream));
            }
        });
        TlsFront { port, accepted }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.host())
    }

    /// TCP connections accepted so far (TLS handshakes tried).
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// One client connection: requests one after the other, each on a new upstream connection.
fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, upstream: &str) {
    let Ok(connection) = rustls::ServerConnection::new(config) else { return };
    let mut reader = BufReader::new(rustls::StreamOwned::new(connection, stream));
    while let Ok(Some(mut head)) = Head::read(&mut reader) {
        let method = head.start.split_whitespace().next().unwrap_or_default().to_string();
        let Ok(mut up) = TcpStream::connect(upstream) else { return };
        head.set("X-Forwarded-Proto", "https");
        head.set("Connection", "close");
        let framing = request_framing(&head);
        if head.write_to(&mut up).is_err() || copy_body(&mut reader, &mut up, framing, Tamper::default()).is_err() {
            return;
        }
        let mut up = BufReader::new(up);
        let Ok(Some(mut answer)) = Head::read(&mut up) else { return };
        let framing = response_framing(&answer, &method);
        answer.remove("Connection");
        if framing == Framing::UntilClose {
            answer.set("Connection", "close");
        }
        let client = reader.get_mut();
        if answer.write_to(client).is_err() || copy_body(&mut up, client, framing, Tamper::default()).is_err() {
            return;
        }
        if client.flush().is_err() || framing == Framing::UntilClose {
            client.conn.send_close_notify();
            let _ = client.flush();
            return;
        }
    }
}
