//! How many blob transfers run at once. Fixed when `--max-per-registry` says so; otherwise
//! adapted to the link as the copy goes: a distant registry (each blob costs round trips
//! before its first byte, a redirect included) needs more transfers in flight to keep the
//! link full than a near one, and no fixed number suits both. The rule is a pure value fed
//! one sample a second, so it is tested without a network.

use std::time::Duration;

/// Transfers at once when nothing else is known: oc's default.
pub(crate) const START: usize = 6;
/// The most transfers at once the adaptive rule goes to (each holds a connection and at
/// most one chunk in memory).
pub(crate) const MOST: usize = 32;
/// Manifest reads and existence checks at once when adapting: a round trip each, no bulk.
pub(crate) const METADATA: usize = 32;
/// A step up must bring this much more throughput to be kept.
const GAIN: f64 = 1.08;
/// Samples a new number of transfers runs before it is judged.
const SETTLE: u32 = 2;
/// Samples between a step that brought nothing and the next try.
const HOLD: u32 = 8;
/// A step up is tried only when the blobs still queued would keep the transfers busy this
/// many samples at the current rate: long enough to judge it before the queue drains. A
/// short copy (a small release on a near registry) keeps the number it started with.
const WORTH: f64 = (SETTLE + 2) as f64;

/// How many requests run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// `--max-per-registry N`: at most N requests at once, of every kind (as oc).
    Fixed(usize),
    /// Nothing said: [`METADATA`] manifest reads and checks at once; blob transfers start at
    /// [`START`] and go up while more of them move more bytes (and enough is queued to
    /// tell), up to [`MOST`]; halved when a registry pushes back (a retried request).
    Adaptive,
}

impl Concurrency {
    /// Manifest reads and existence checks at once.
    pub fn metadata(self) -> usize {
        match self {
            Concurrency::Fixed(n) => n.max(1),
            Concurrency::Adaptive => METADATA,
        }
    }

    /// Blob transfers at once: (at the start, at most).
    pub(crate) fn transfers(self) -> (usize, usize) {
        match self {
            Concurrency::Fixed(n) => (n.max(1), n.max(1)),
            Concurrency::Adaptive => (START, MOST),
        }
    }
}

/// One second (or so) of the copy.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Blob bytes moved during it.
    pub(crate) bytes: u64,
    pub(crate) elapsed: Duration,
    /// Bytes of the blobs waiting to start (more transfers would have run if allowed).
    pub(crate) queued: u64,
    /// Requests retried during it: the registry or the link pushed back.
    pub(crate) retries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Just stepped up from `from` transfers, which moved `rate` bytes a second.
    Trying { from: usize, rate: f64 },
    /// Staying at the current number for `left` more samples.
    Holding { left: u32 },
}

/// Throughput at the current number of transfers: the samples since it was set, but the
/// first (transfers were still starting or ending then).
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    seen: u32,
    sum: f64,
}

impl Window {
    fn add(&mut self, rate: f64) {
        if self.seen > 0 {
            self.sum += rate;
        }
        self.seen += 1;
    }

    fn counted(&self) -> u32 {
        self.seen.saturating_sub(1)
    }

    fn mean(&self) -> f64 {
        self.sum / f64::from(self.counted().max(1))
    }
}

/// The adaptive rule: step up by half while each step brings [`GAIN`] more throughput; a
/// step that brings nothing is undone and tried again later (the mix of blob sizes changes
/// as the copy goes); pushback halves.
#[derive(Debug, Clone)]
pub struct Streams {
    adaptive: bool,
    limit: usize,
    least: usize,
    most: usize,
    window: Window,
    phase: Phase,
}

impl Streams {
    pub(crate) fn new(concurrency: Concurrency) -> Streams {
        let (start, most) = concurrency.transfers();
        Streams {
            adaptive: concurrency == Concurrency::Adaptive,
            limit: start,
            least: start.min(2),
            most,
            window: Window::default(),
            phase: Phase::Holding { left: SETTLE },
        }
    }

    /// Transfers allowed now.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Take one sample; returns the transfers allowed from now on.
    pub(crate) fn observe(&mut self, s: Sample) -> usize {
        if !self.adaptive || s.elapsed.is_zero() {
            return self.limit;
        }
        if s.retries > 0 {
            self.set((self.limit / 2).max(self.least), Phase::Holding { left: HOLD });
            return self.limit;
        }
        if s.queued == 0 {
            // The queue is draining: what the transfers move says nothing about more of them.
            return self.limit;
        }
        let rate = s.bytes as f64 / s.elapsed.as_secs_f64();
        self.window.add(rate);
        if self.window.counted() < SETTLE {
            return self.limit;
        }
        match self.phase {
            Phase::Trying { rate, .. } if self.window.mean() >= rate * GAIN => self.step_up(),
            Phase::Trying { from, .. } => self.set(from, Phase::Holding { left: HOLD }),
            Phase::Holding { left } if left > 1 => self.phase = Phase::Holding { left: left - 1 },
            Phase::Holding { .. } if (s.queued as f64) < rate * WORTH => {}
            Phase::Holding { .. } => self.step_up(),
        }
        self.limit
    }

    fn set(&mut self, limit: usize, phase: Phase) {
        if limit != self.limit {
            self.window = Window::default();
        }
        self.limit = limit;
        self.phase = phase;
    }

    fn step_up(&mut self) {
        if self.limit >= self.most {
            self.phase = Phase::Holding { left: HOLD };
            return;
        }
        let (from, rate) = (self.limit, self.window.mean());
        self.set((from + from.div_ceil(2)).min(self.most), Phase::Trying { from, rate });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(mbit: f64, backlog: bool, retries: u64) -> Sample {
        let queued = if backlog { u64::MAX } else { 0 };
        Sample { bytes: (mbit * 125_000.0) as u64, elapsed: Duration::from_secs(1), queued, retries }
    }

    /// Feed `link(limit)` (the throughput a number of transfers gets) for `secs` samples.
    fn run(streams: &mut Streams, secs: usize, link: impl Fn(usize) -> f64) -> Vec<usize> {
        (0..secs).map(|_| streams.observe(sample(link(streams.limit()), true, 0))).collect()
    }

    #[test]
    fn a_latency_bound_link_is_given_more_transfers_up_to_the_most() {
        // Each transfer moves 20 Mbit/s (round trips dominate) on a 1 Gbit/s link.
        let mut s = Streams::new(Concurrency::Adaptive);
        let limits = run(&mut s, 30, |n| (n as f64 * 20.0).min(1000.0));
        assert_eq!(s.limit(), MOST, "{limits:?}");
        assert!(limits.windows(2).all(|w| w[1] >= w[0]), "only up: every step paid, {limits:?}");
    }

    #[test]
    fn a_full_link_keeps_the_number_that_fills_it() {
        // 6 transfers already fill a 200 Mbit/s link: a step up brings nothing and is undone.
        let mut s = Streams::new(Concurrency::Adaptive);
        let limits = run(&mut s, 40, |n| (n as f64 * 40.0).min(200.0));
        assert_eq!(s.limit(), START, "{limits:?}");
        assert!(limits.iter().any(|&l| l > START), "it tried more: {limits:?}");
        assert!(limits.iter().all(|&l| l <= 9), "one step at a time: {limits:?}");
    }

    #[test]
    fn the_number_stops_where_the_link_fills() {
        // 10 Mbit/s a transfer, 140 Mbit/s link: 14 transfers fill it.
        let mut s = Streams::new(Concurrency::Adaptive);
        let limits = run(&mut s, 60, |n| (n as f64 * 10.0).min(140.0));
        let settled = *limits.last().unwrap();
        assert!((13..=20).contains(&settled), "{limits:?}");
    }

    #[test]
    fn pushback_halves_the_transfers() {
        let mut s = Streams::new(Concurrency::Adaptive);
        run(&mut s, 30, |n| n as f64 * 20.0);
        assert_eq!(s.limit(), MOST);
        assert_eq!(s.observe(sample(600.0, true, 1)), MOST / 2);
        assert_eq!(s.observe(sample(600.0, true, 3)), MOST / 4);
    }

    #[test]
    fn a_copy_too_short_to_judge_a_step_keeps_the_number_it_started_with() {
        // 200 MB/s whatever the number (a near registry), 1 GB to copy: 5 s, too short to
        // settle a step and judge it.
        let mut s = Streams::new(Concurrency::Adaptive);
        let mut queued: u64 = 1_000_000_000;
        let mut limits = Vec::new();
        while queued > 0 {
            let moved = 200_000_000u64.min(queued);
            queued -= moved;
            limits.push(s.observe(Sample { bytes: moved, elapsed: Duration::from_secs(1), queued, retries: 0 }));
        }
        assert!(limits.iter().all(|&l| l == START), "{limits:?}");
        // The same link with 20 GB queued is tried one step up.
        let mut s = Streams::new(Concurrency::Adaptive);
        let limits: Vec<usize> = (0..5)
            .map(|_| {
                let sample =
                    Sample { bytes: 200_000_000, elapsed: Duration::from_secs(1), queued: 20_000_000_000, retries: 0 };
                s.observe(sample)
            })
            .collect();
        assert!(limits.contains(&(START + START / 2)), "{limits:?}");
    }

    #[test]
    fn nothing_changes_without_a_backlog_or_when_fixed() {
        let mut s = Streams::new(Concurrency::Adaptive);
        for _ in 0..20 {
            assert_eq!(s.observe(sample(100.0, false, 0)), START);
        }
        let mut fixed = Streams::new(Concurrency::Fixed(4));
        let limits = run(&mut fixed, 20, |n| n as f64 * 20.0);
        assert!(limits.iter().all(|&l| l == 4), "{limits:?}");
        assert_eq!(fixed.observe(sample(10.0, true, 5)), 4, "a fixed number stays fixed");
        assert_eq!(Concurrency::Fixed(4).metadata(), 4);
        assert_eq!(Concurrency::Adaptive.metadata(), METADATA);
    }
}
