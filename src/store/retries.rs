//! The retry budget every store of a run shares: how many tries a request gets
//! (`--retries`), how long to wait between them, one budget per blob spent by whichever way
//! it is retried (a resumed download, a restarted copy), and the count of retries made. The
//! registry spends it on requests and resumes; the executor on whole blobs copied again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The default number of tries per request (`--retries`).
pub const DEFAULT_TRIES: u32 = 5;

/// Exponential backoff with jitter, capped, honouring a server's wait.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total tries per request, the first included (so 1 means no retry).
    pub tries: u32,
    /// The first wait.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl RetryPolicy {
    /// `tries` tries in all (at least one), waits from 200 ms up to 30 s.
    pub fn new(tries: u32) -> RetryPolicy {
        RetryPolicy { tries: tries.max(1), base: Duration::from_millis(200), max: Duration::from_secs(30) }
    }

    /// The wait before try number `attempt + 1` (`attempt` starts at 1). A server's
    /// `Retry-After` wins when given (capped at `max`); otherwise `base * 2^(attempt-1)`
    /// with ±25 % jitter (`jitter` in 0..1), capped at `max`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max);
        }
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
        exp.mul_f64(factor).min(self.max)
    }
}

/// A number in 0..1 that differs from call to call, for jitter (no RNG dependency needed).
pub fn jitter() -> f64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let mixed = (u64::from(nanos)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (mixed as f64) / f64::from(1u32 << 24)
}

/// The run's shared retry budget; clones share it.
#[derive(Debug, Clone)]
pub struct Retries {
    policy: RetryPolicy,
    retried: Arc<AtomicU64>,
    /// Retries spent per blob, by whichever way.
    spent: Arc<Mutex<HashMap<String, u32>>>,
}

impl Retries {
    /// A budget of `tries` tries per request and per blob; 0 means [`DEFAULT_TRIES`].
    pub fn new(tries: u32) -> Retries {
        let tries = if tries == 0 { DEFAULT_TRIES } else { tries };
        Retries { policy: RetryPolicy::new(tries), retried: Arc::default(), spent: Arc::default() }
    }

    /// The backoff of every retry.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Spend one retry of blob `digest` from its one budget (`--retries` tries in all,
    /// however they are made). `false` when the budget is used up.
    pub fn take(&self, digest: &str) -> bool {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let used = spent.entry(digest.to_string()).or_insert(0);
        if *used + 1 >= self.policy.tries {
            return false;
        }
        *used += 1;
        true
    }

    /// Count a retry (a request tried again, a blob copied again).
    pub fn count(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// How many retries were made so far.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_has_one_budget_shared_by_clones_and_counted_retries_add_up() {
        let budget = Retries::new(3);
        let other = budget.clone();
        assert!(budget.take("sha256:a"), "first retry");
        assert!(other.take("sha256:a"), "second retry, from a clone");
        assert!(!budget.take("sha256:a"), "3 tries in all: the budget is spent");
        assert!(other.take("sha256:b"), "another blob has its own budget");
        budget.count();
        other.count();
        assert_eq!(budget.retried(), 2);
        assert_eq!(Retries::new(0).policy().tries, DEFAULT_TRIES);
    }
}
