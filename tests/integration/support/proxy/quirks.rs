//! Quirk modes: the proxy makes the CNCF distribution registry behind it answer the way
//! other registries are documented to (each variant names the behaviour; its doc says who is
//! known for it). All are within what the OCI distribution spec allows a registry, except
//! where a doc says otherwise; none changes what is stored.

use std::collections::HashSet;
use std::io;
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use super::wire::{copy_body, request_framing, Framing, Head, Tamper};
use super::{answer, lock, Reader, Request, Shared};

/// A documented registry behaviour to play.
#[derive(Clone, Debug)]
pub enum Quirk {
    /// A cross-repository mount (`POST …/blobs/uploads/?mount=&from=`) is answered 202 with
    /// an ordinary upload session, the spec's fallback: ECR unless blob mounting is turned
    /// on (and then for blobs no manifest of the source references, containers-roadmap
    /// #2860), Harbor when the blob is not linked in the source repository (harbor #18541).
    MountOpensUpload,
    /// Monolithic uploads refused, chunks required: upload sessions carry
    /// `OCI-Chunk-Min-Length: N`; a `PUT` with a body is answered 405 `UNSUPPORTED`; a chunk
    /// under N followed by another is answered 416. Pulp (Red Hat Satellite's registry)
    /// took only chunked uploads until pulp_container #1219 (2023); ECR takes layer parts of
    /// 5 MiB or more but the last.
    ChunkedOnly(u64),
    /// A `PUT` with a body (a whole blob) is answered with this status and no
    /// `OCI-Chunk-Min-Length`; chunks are taken: 400 `BLOB_UPLOAD_INVALID` (as registries
    /// behind the mirror-registry guides answer), 405, 501.
    MonolithicRefused(u16),
    /// A chunk over N bytes is kept only up to N bytes, and the `Range` of the answer says so.
    /// No registry is known to do this on a 202, but the spec makes the registry's `Range`
    /// the progress of an upload (a 416 carries one too): the client must follow it.
    KeepsPartOfChunks(u64),
    /// A request body over N bytes is answered 413 before it is stored: a reverse proxy's
    /// body limit, as nginx's `client_max_body_size` (1 MiB by default) in front of Harbor,
    /// Nexus or Pulp (pulp_container #1454), or Cloudflare's 100 MB.
    BodyLimit(u64),
    /// Blob `GET`s are answered with `status` (302 or 307) and a `Location` on another
    /// listener, `cdn` (`http://host:port`), with a signed, expiring query string: Docker
    /// Hub (Cloudflare), Quay.io (CloudFront/S3), ECR (S3), Artifact Registry (GCS), and any
    /// distribution registry with `storage.redirect` on S3.
    BlobsFromCdn { cdn: String, status: u16 },
    /// This proxy is that CDN: it serves only live signed URLs (403 otherwise) and refuses a
    /// request carrying `Authorization` (400, as S3 does: "Only one auth mechanism allowed").
    SignedUrlsOnly,
    /// `HEAD` on manifests is answered 405 (static or object-store–backed registries; seen
    /// behind Harbor proxies, crossplane #3222).
    ManifestHeadRefused,
    /// No `Docker-Content-Digest` header on any answer: registry.access.redhat.com and
    /// registry.redhat.io (PROJQUAY-3750, regclient #363), ECR on manifest GETs
    /// (distribution #3792), a registry served from a static bucket.
    NoContentDigest,
    /// `Location` headers relative to the request (`<uuid>?_state=…`, `../sha256:…`), as
    /// RFC 9110 and the spec allow.
    RelativeLocations,
    /// `Location` headers as absolute paths (`/v2/…`): the spec's own examples, and the
    /// distribution registry with `http.relativeurls: true`.
    PathLocations,
    /// Every `every`-th repository request without a body (GET, HEAD, the POST that opens an
    /// upload) is answered 429, with `Retry-After` as given: Docker Hub's pull rate limit
    /// sends none; load balancers and CDNs in front of registries send delta-seconds or an
    /// HTTP date.
    RateLimited { every: usize, retry_after: RetryAfter },
    /// The registry lives under `/v2/<prefix>/` only: `/v2/` and every other path answer 404
    /// (a reverse proxy routing one Artifactory or Nexus repository by path).
    PathPrefix(String),
}

/// The form of a 429's `Retry-After`.
#[derive(Clone, Copy, Debug)]
pub enum RetryAfter {
    None,
    /// An HTTP date this many seconds after the answer's own `Date`.
    Date(u64),
}

/// The quirks of one proxy and what they remember.
#[derive(Default)]
pub struct State {
    pub quirks: Vec<Quirk>,
    /// Repository requests counted for `RateLimited`.
    counted: usize,
    /// Upload sessions that had a chunk under the minimum (`ChunkedOnly`).
    short: HashSet<String>,
}

/// What signs CDN URLs (shared by the registry-side proxy and the CDN proxy).
const SIGNING_KEY: &str = "cdn-signing-key-3c1f";
const CDN_PREFIX: &str = "/cdn";

fn quirks(shared: &Shared) -> Vec<Quirk> {
    lock(&shared.quirks).quirks.clone()
}

/// Quirks that answer before any authentication: a path prefix, the CDN, rate limits.
pub fn before_auth(
    shared: &Shared,
    req: &mut Request,
    head: &mut Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<Option<bool>> {
    let (entry, method, path) = (req.entry, req.method.clone(), req.path.clone());
    let bodiless = matches!(method.as_str(), "GET" | "HEAD" | "POST") && path.starts_with("/v2/") && path != "/v2/";
    for quirk in quirks(shared) {
        match quirk {
            Quirk::PathPrefix(prefix) if !path.starts_with(&format!("/v2/{prefix}/")) => {
                let body = br#"{"errors":[{"code":"NOT_FOUND","message":"Not Found"}]}"#;
                return answer(shared, entry, &method, head, reader, writer, 404, &[], body).map(Some);
            }
            Quirk::SignedUrlsOnly => {
                if let Some(refusal) = cdn_refusal(head, &path) {
                    let (status, body) = refusal;
                    let extra = [("Content-Type", "application/xml".to_string())];
                    return answer(shared, entry, &method, head, reader, writer, status, &extra, body.as_bytes())
                        .map(Some);
                }
                let upstream = path.strip_prefix(CDN_PREFIX).unwrap_or(&path);
                let upstream = upstream.split_once('?').map_or(upstream, |(p, _)| p);
                head.start = format!("{method} {upstream} HTTP/1.1");
            }
            Quirk::RateLimited { every, retry_after } if bodiless => {
                let mut state = lock(&shared.quirks);
                state.counted += 1;
                if !state.counted.is_multiple_of(every.max(1)) {
                    continue;
                }
                drop(state);
                let extra = retry_after_headers(retry_after);
                let body =
                    br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#;
                return answer(shared, entry, &method, head, reader, writer, 429, &extra, body).map(Some);
            }
            _ => {}
        }
    }
    Ok(None)
}

/// A made-up answer: status, extra headers, body.
type Refusal = (u16, Vec<(&'static str, String)>, &'static [u8]);

/// Quirks that answer (or change the request) once it is authorized.
pub fn before_forward(
    shared: &Shared,
    req: &mut Request,
    head: &mut Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<Option<bool>> {
    for quirk in quirks(shared) {
        if let Some((status, extra, body)) = refusal(shared, quirk, req, head, reader)? {
            let (entry, method) = (req.entry, req.method.clone());
            return answer(shared, entry, &method, head, reader, writer, status, &extra, body).map(Some);
        }
    }
    Ok(None)
}

/// What `quirk` answers to `req` instead of the registry, if anything (it may change the
/// request instead).
fn refusal(
    shared: &Shared,
    quirk: Quirk,
    req: &mut Request,
    head: &mut Head,
    reader: &mut Reader,
) -> io::Result<Option<Refusal>> {
    let (method, path) = (req.method.as_str(), req.path.clone());
    let body_len = match request_framing(head) {
        Framing::Length(n) => n,
        Framing::Chunked => u64::MAX,
        _ => 0,
    };
    let upload = path.contains("/blobs/uploads/");
    Ok(match quirk {
        Quirk::MountOpensUpload if method == "POST" && path.contains("mount=") => {
            let plain = path.split_once('?').map_or(path.as_str(), |(p, _)| p);
            head.start = format!("POST {plain} HTTP/1.1");
            None
        }
        Quirk::BodyLimit(limit) if body_len > limit => Some((
            413,
            vec![("Content-Type", "text/html".to_string())],
            b"<html><head><title>413 Request Entity Too Large</title></head></html>",
        )),
        Quirk::MonolithicRefused(status) if upload && method == "PUT" && body_len > 0 => Some((
            status,
            vec![],
            br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}"#,
        )),
        Quirk::ChunkedOnly(_) if upload && method == "PUT" && body_len > 0 => Some((
            405,
            vec![],
            br#"{"errors":[{"code":"UNSUPPORTED","message":"monolithic uploads are not supported: upload in chunks"}]}"#,
        )),
        Quirk::ChunkedOnly(min) if upload && method == "PATCH" => {
            let mut state = lock(&shared.quirks);
            let session = session_of(&path);
            if state.short.contains(&session) {
                Some((416, vec![], br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"chunk under OCI-Chunk-Min-Length was not the last"}]}"#))
            } else {
                if body_len < min {
                    state.short.insert(session);
                }
                None
            }
        }
        Quirk::KeepsPartOfChunks(keep) if upload && method == "PATCH" && body_len > keep && body_len != u64::MAX => {
            keep_part(shared, req, head, reader, keep, body_len)?;
            None
        }
        Quirk::ManifestHeadRefused if method == "HEAD" && path.contains("/manifests/") => {
            Some((405, vec![("Allow", "GET, PUT, DELETE".to_string())], b""))
        }
        Quirk::BlobsFromCdn { cdn, status } if method == "GET" && path.contains("/blobs/sha256:") => {
            let location = format!("{cdn}{}", sign(&format!("{CDN_PREFIX}{path}"), now() + 60));
            Some((status, vec![("Location", location)], b""))
        }
        _ => None,
    })
}

/// Read a chunk whole and send only its first `keep` bytes on, as a chunk of that size.
fn keep_part(
    shared: &Shared,
    req: &mut Request,
    head: &mut Head,
    reader: &mut Reader,
    keep: u64,
    len: u64,
) -> io::Result<()> {
    let mut body = Vec::new();
    copy_body(reader, &mut body, Framing::Length(len), Tamper::default())?;
    lock(&shared.log)[req.entry].request_bytes = len;
    let start: u64 = head.get("content-range").and_then(|r| r.split('-').next()?.trim().parse().ok()).unwrap_or(0);
    body.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    head.set("Content-Length", &keep.to_string());
    head.set("Content-Range", &format!("{start}-{}", start + keep - 1));
    req.body = Some(body);
    Ok(())
}

/// Change the registry's answer to `req` as the quirks say.
pub fn after(shared: &Shared, req: &Request, answer: &mut Head) {
    let path = req.path.split_once('?').map_or(req.path.as_str(), |(p, _)| p);
    for quirk in quirks(shared) {
        match quirk {
            Quirk::NoContentDigest => answer.remove("Docker-Content-Digest"),
            Quirk::ChunkedOnly(min)
                if req.method == "POST" && path.ends_with("/blobs/uploads/") && answer.status() == 202 =>
            {
                answer.set("OCI-Chunk-Min-Length", &min.to_string());
            }
            Quirk::PathLocations | Quirk::RelativeLocations => {
                let Some(location) = answer.get("location").map(str::to_string) else { continue };
                let local = strip_origin(&location);
                let rewritten =
                    if matches!(quirk, Quirk::PathLocations) { local.to_string() } else { relative(path, local) };
                answer.set("Location", &rewritten);
            }
            _ => {}
        }
    }
}

/// `http://host:port/v2/…` → `/v2/…`.
fn strip_origin(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

/// `target` (a path, maybe with a query) relative to the directory of `from` (a path).
fn relative(from: &str, target: &str) -> String {
    let (target_path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
    let dir: Vec<&str> = from.rsplit_once('/').map_or("", |(d, _)| d).split('/').collect();
    let segments: Vec<&str> = target_path.split('/').collect();
    let common = dir.iter().zip(&segments[..segments.len() - 1]).take_while(|(a, b)| a == b).count();
    let mut out = "../".repeat(dir.len() - common);
    let rest = segments[common..].join("/");
    if out.is_empty() && rest.split('/').next().is_some_and(|s| s.contains(':')) {
        out.push_str("./");
    }
    out.push_str(&rest);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The upload session id of `/v2/<repo>/blobs/uploads/<id>?…`.
fn session_of(path: &str) -> String {
    let after = path.split_once("/blobs/uploads/").map_or("", |(_, s)| s);
    after.split_once('?').map_or(after, |(s, _)| s).to_string()
}

fn sign(path: &str, expires: u64) -> String {
    let mac = hex::encode(Sha256::digest(format!("{SIGNING_KEY}|{path}|{expires}")));
    format!("{path}?X-Expires={expires}&X-Signature={mac}")
}

/// Why the CDN refuses a request, if it does: `(status, S3-style XML body)`.
fn cdn_refusal(head: &Head, path: &str) -> Option<(u16, String)> {
    let xml = |code: &str, message: &str| format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>");
    if head.get("authorization").is_some() {
        return Some((400, xml("InvalidArgument", "Only one auth mechanism allowed")));
    }
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='));
    let expires: Option<u64> = param("X-Expires").and_then(|e| e.parse().ok());
    let valid = expires.is_some_and(|e| sign(route, e) == format!("{route}?{query}"));
    match expires {
        _ if !valid => Some((403, xml("SignatureDoesNotMatch", "The request signature does not match"))),
        Some(e) if e < now() => Some((403, xml("AccessDenied", "Request has expired"))),
        _ => None,
    }
}

fn retry_after_headers(form: RetryAfter) -> Vec<(&'static str, String)> {
    match form {
        RetryAfter::None => Vec::new(),
        RetryAfter::Date(s) => {
            let at = now();
            vec![("Date", http_date(at)), ("Retry-After", http_date(at + s))]
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

/// `secs` since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil from days (H. Hinnant), shifted to a March-based year.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_http_dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn locations_become_relative_to_the_request() {
        let uploads = "/v2/a/b/blobs/uploads/";
        assert_eq!(relative(uploads, "/v2/a/b/blobs/uploads/u1?_state=x"), "u1?_state=x");
        assert_eq!(relative("/v2/a/b/blobs/uploads/u1", "/v2/a/b/blobs/uploads/u1?_state=y"), "u1?_state=y");
        assert_eq!(relative("/v2/a/b/blobs/uploads/u1", "/v2/a/b/blobs/sha256:ab"), "../sha256:ab");
        assert_eq!(relative("/v2/a/b/manifests/t", "/v2/a/b/manifests/sha256:ab"), "./sha256:ab");
        assert_eq!(strip_origin("http://127.0.0.1:5000/v2/x?y"), "/v2/x?y");
    }

    #[test]
    fn the_cdn_takes_only_live_signed_urls_without_credentials() {
        let head = |auth: bool| Head {
            start: "GET / HTTP/1.1".into(),
            headers: if auth { vec![("Authorization".into(), "Bearer t".into())] } else { vec![] },
        };
        let url = sign("/cdn/v2/a/blobs/sha256:ab", now() + 60);
        assert_eq!(cdn_refusal(&head(false), &url), None);
        assert_eq!(cdn_refusal(&head(true), &url).map(|r| r.0), Some(400));
        assert_eq!(cdn_refusal(&head(false), &url.replace("/a/", "/b/")).map(|r| r.0), Some(403));
        assert_eq!(cdn_refusal(&head(false), &sign("/cdn/x", now() - 1)).map(|r| r.0), Some(403));
    }
}
