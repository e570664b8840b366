//! Which registry answers are worth another try, and how long a server says to wait
//! (pure). The backoff itself is the run's shared [`crate::store::RetryPolicy`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, DATE, RETRY_AFTER};
use reqwest::StatusCode;

use super::httpdate;

/// 408, 429 and 5xx (but not 501 Not Implemented) are worth another try.
pub fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// How long a response's `Retry-After` says to wait: delta-seconds, or an HTTP date
/// measured against the response's own `Date` (so a skewed local clock does not matter;
/// the local clock when it has none). `None` when absent, unreadable or already past: the
/// ordinary backoff applies then.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let date = headers.get(DATE).and_then(|v| v.to_str().ok()).and_then(httpdate::parse);
    parse_retry_after(value, date.unwrap_or(now))
}

/// `Retry-After` (RFC 9110 §10.2.3) as a wait, an HTTP date counted from `now` (seconds
/// since the epoch).
pub fn parse_retry_after(value: &str, now: u64) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse(value)?;
    at.checked_sub(now).filter(|s| *s > 0).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RetryPolicy;

    #[test]
    fn backs_off_exponentially_within_jitter_and_cap() {
        let p = RetryPolicy::new(5);
        assert_eq!(p.delay(1, None, 0.5), Duration::from_millis(200));
        assert_eq!(p.delay(3, None, 0.5), Duration::from_millis(800));
        assert_eq!(p.delay(3, None, 0.0), Duration::from_millis(600));
        assert_eq!(p.delay(3, None, 1.0), Duration::from_millis(1000));
        assert_eq!(p.delay(30, None, 1.0), Duration::from_secs(30));
    }

    #[test]
    fn honours_retry_after_up_to_the_cap() {
        let p = RetryPolicy::new(5);
        assert_eq!(p.delay(1, parse_retry_after("2", 0), 0.9), Duration::from_secs(2));
        assert_eq!(p.delay(1, parse_retry_after("3600", 0), 0.9), Duration::from_secs(30));
        assert_eq!(p.delay(1, parse_retry_after("99999999999999999999999", 0), 0.9), Duration::from_secs(30));
    }

    /// 2015-10-21T07:28:00Z.
    const OCT_21: u64 = 1_445_412_480;

    #[test]
    fn reads_retry_after_as_an_http_date_counted_from_now() {
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(parse_retry_after(date, OCT_21 - 2), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", OCT_21 - 5), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Wed Oct 21 07:28:00 2015", OCT_21 - 1), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(date, OCT_21), None, "now: the ordinary backoff");
        assert_eq!(parse_retry_after(date, OCT_21 + 60), None, "past: the ordinary backoff");
        for bad in ["", "-1", "1.5", "soon", "Wed, 21 Oct 2015"] {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn a_date_retry_after_is_measured_against_the_response_date() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "Sun, 06 Nov 1994 08:49:40 GMT".parse().unwrap());
        headers.insert(DATE, "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)), "not against today's clock");
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retries_only_transient_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 501] {
            assert!(!retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
