//! The pure parts of a blob upload: where a `Location` points, how large each chunk of a
//! chunked upload is, and how much of a chunk the registry says it kept (its `Range`).

/// Chunk size when a registry wants chunks but names no minimum (it refused a monolithic
/// upload): large enough to keep requests few, small enough to hold in memory per upload.
pub(crate) const DEFAULT_CHUNK: u64 = 8 << 20;
/// Smallest chunk sent when a registry's `OCI-Chunk-Min-Length` is smaller: fewer requests.
pub(crate) const MIN_CHUNK: u64 = 1 << 20;
/// Chunks are halved after a "too large" answer (413) down to this, and no further.
pub(crate) const SMALLEST_CHUNK: u64 = 64 << 10;

/// The absolute URL a `Location` header names, resolved against the URL of the request it
/// answered (RFC 9110 §10.2.2: absolute, path-absolute `/v2/…`, or relative `uuid?…`).
/// `None` when it is not a URL, or leaves HTTP(S). An absolute one is kept verbatim: its
/// query may be signed.
pub(crate) fn resolve_location(request_url: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let web = |url: &reqwest::Url| matches!(url.scheme(), "http" | "https");
    if let Ok(url) = reqwest::Url::parse(location) {
        return web(&url).then(|| location.to_string());
    }
    let url = reqwest::Url::parse(request_url).ok()?.join(location).ok()?;
    web(&url).then(|| url.to_string())
}

/// Bytes per `PATCH`: the registry's minimum (at least [`MIN_CHUNK`]) when it names one,
/// else [`DEFAULT_CHUNK`]; never over `limit` (the largest chunk it took after refusing a
/// larger one; 0 for none) unless its minimum demands it.
pub(crate) fn chunk_size(min: Option<u64>, limit: u64) -> u64 {
    let want = min.map_or(DEFAULT_CHUNK, |m| m.max(MIN_CHUNK));
    if limit == 0 {
        return want;
    }
    want.min(limit).max(min.unwrap_or(0))
}

/// How many bytes of a chunk of `sent` bytes starting at `offset` the registry kept, from the
/// `Range: 0-<last byte>` it answered with (`bytes=0-<last>` accepted too). Without a Range,
/// all of it. An error when the registry claims fewer bytes than it acknowledged before, or
/// more than were sent.
pub(crate) fn kept(offset: u64, sent: u64, range: Option<&str>) -> Result<u64, String> {
    let Some(range) = range else { return Ok(sent) };
    let text = range.trim();
    let text = text.strip_prefix("bytes=").unwrap_or(text);
    let last = text
        .split_once('-')
        .filter(|(first, _)| first.trim() == "0")
        .and_then(|(_, last)| last.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("its Range {range:?} is not 0-<offset>"))?;
    let held = last.saturating_add(1);
    if held < offset {
        return Err(format!("it holds {held} bytes, fewer than the {offset} it acknowledged before"));
    }
    if held > offset + sent {
        return Err(format!("it claims {held} bytes, more than the {} sent", offset + sent));
    }
    Ok(held - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://r.example:5000/v2/ocp/release/blobs/uploads/";

    #[test]
    fn locations_resolve_absolute_path_absolute_and_relative() {
        let abs = "https://r.example:5000/v2/ocp/release/blobs/uploads/u1?_state=a";
        assert_eq!(resolve_location(BASE, abs).as_deref(), Some(abs));
        assert_eq!(
            resolve_location(BASE, "https://storage.example/up/u1?sig=x").as_deref(),
            Some("https://storage.example/up/u1?sig=x"),
            "another host is the registry's choice"
        );
        assert_eq!(resolve_location(BASE, "/v2/ocp/release/blobs/uploads/u1?_state=a").as_deref(), Some(abs));
        assert_eq!(resolve_location(BASE, "u1?_state=a").as_deref(), Some(abs));
        let patched = "https://r.example:5000/v2/ocp/release/blobs/uploads/u1?_state=a";
        assert_eq!(
            resolve_location(patched, "u1?_state=b").as_deref(),
            Some("https://r.example:5000/v2/ocp/release/blobs/uploads/u1?_state=b")
        );
        assert_eq!(
            resolve_location(patched, "?_state=c").as_deref(),
            Some("https://r.example:5000/v2/ocp/release/blobs/uploads/u1?_state=c")
        );
        assert_eq!(
            resolve_location(patched, "../uploads/u2").as_deref(),
            Some("https://r.example:5000/v2/ocp/release/blobs/uploads/u2")
        );
        assert_eq!(
            resolve_location(BASE, "//cdn.example/u1").as_deref(),
            Some("https://cdn.example/u1"),
            "scheme-relative"
        );
    }

    #[test]
    fn locations_that_leave_http_are_refused() {
        assert_eq!(resolve_location(BASE, "file:///etc/passwd"), None);
        assert_eq!(resolve_location(BASE, "ftp://r.example/u1"), None);
        assert_eq!(resolve_location("not a url", "u1"), None);
    }

    #[test]
    fn chunks_honour_the_registry_minimum_and_a_learned_limit() {
        assert_eq!(chunk_size(None, 0), DEFAULT_CHUNK);
        assert_eq!(chunk_size(Some(5 << 20), 0), 5 << 20, "ECR-like 5 MiB minimum");
        assert_eq!(chunk_size(Some(1024), 0), MIN_CHUNK, "a tiny minimum is not a reason for tiny requests");
        assert_eq!(chunk_size(None, 1 << 20), 1 << 20, "after a 413 at 2 MiB");
        assert_eq!(chunk_size(Some(1024), 256 << 10), 256 << 10);
        assert_eq!(chunk_size(Some(4 << 20), 1 << 20), 4 << 20, "the minimum wins over a learned limit");
    }

    #[test]
    fn the_range_says_how_much_of_a_chunk_was_kept() {
        assert_eq!(kept(0, 100, Some("0-99")), Ok(100));
        assert_eq!(kept(100, 50, Some("bytes=0-149")), Ok(50));
        assert_eq!(kept(100, 50, Some("0-119")), Ok(20), "kept part: the rest is sent again");
        assert_eq!(kept(100, 50, Some("0-99")), Ok(0), "kept none");
        assert_eq!(kept(100, 50, None), Ok(50), "no Range: trust the count");
        assert!(kept(100, 50, Some("0-49")).unwrap_err().contains("fewer than the 100"));
        assert!(kept(100, 50, Some("0-150")).unwrap_err().contains("more than the 150 sent"));
        assert!(kept(0, 5, Some("5-9")).is_err());
        assert!(kept(0, 5, Some("garbage")).is_err());
    }
}
