//! Scheduler metrics: per-worker busy time and run counts, vCPU wait time
//! (runnable -> running), migrations, steals, and how vCPUs ended.
//!
//! Workers update relaxed atomics they alone write (one cache line each), so
//! recording costs a few uncontended adds per quantum; [`SchedMetrics`] is a
//! snapshot, and the difference of two snapshots describes the interval
//! between them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two in the wait-time histogram (relative bucket
/// width 1/8 = 12.5 %).
const SUB: usize = 8;
/// Histogram buckets: values up to 2^40 ns (~18 min).
const BUCKETS: usize = 41 * SUB;

/// Log-linear histogram of wait times in ns (lock-free recording).
pub struct WaitHistogram {
    counts: Box<[AtomicU64]>,
}

impl WaitHistogram {
    pub(crate) fn new() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn index(ns: u64) -> usize {
        if ns < SUB as u64 {
            return ns as usize;
        }
        let log = 63 - ns.leading_zeros() as usize; // >= 3
        let sub = ((ns >> (log - 3)) & (SUB as u64 - 1)) as usize;
        ((log - 2) * SUB + sub).min(BUCKETS - 1)
    }

    /// Upper edge (exclusive) of bucket `i` in ns.
    fn upper(i: usize) -> u64 {
        if i < SUB {
            return i as u64 + 1;
        }
        let log = i / SUB + 2;
        let sub = (i % SUB) as u64;
        ((SUB as u64 + sub + 1) << (log - 3)).max(1)
    }

    /// Records one wait. Each worker has its own histogram (single writer),
    /// so this is a plain load and store, and two workers never bounce a
    /// bucket's cache line between their cores.
    pub(crate) fn record(&self, ns: u64) {
        WorkerCounters::add(&self.counts[Self::index(ns)], 1);
    }

    /// Adds this histogram's counts into `into`.
    fn add_to(&self, into: &mut [u64]) {
        for (o, c) in into.iter_mut().zip(self.counts.iter()) {
            *o += c.load(Ordering::Relaxed);
        }
    }
}

/// Counters one worker writes.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct WorkerCounters {
    pub busy_ns: AtomicU64,
    pub runs: AtomicU64,
    pub wait_ns: AtomicU64,
    pub wait_max_ns: AtomicU64,
    pub migrations: AtomicU64,
    pub steals: AtomicU64,
    pub stolen_tasks: AtomicU64,
    pub steal_search_ns: AtomicU64,
    pub parks: AtomicU64,
}

impl WorkerCounters {
    /// Adds `v` to a counter that only one thread writes at a time.
    #[inline]
    pub fn add(c: &AtomicU64, v: u64) {
        // Single writer: load + store is enough and avoids a locked add.
        c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
    }
}

/// One worker's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerMetrics {
    /// Time spent polling vCPUs (running guest quanta plus per-poll overhead).
    pub busy: Duration,
    /// vCPU polls (quanta run).
    pub runs: u64,
    /// Sum of runnable -> running waits of the vCPUs this worker started.
    pub wait_total: Duration,
    /// Longest such wait.
    pub wait_max: Duration,
    /// vCPUs this worker ran that last ran on another worker.
    pub migrations: u64,
    /// Successful steal decisions (each moves half of a victim's queue).
    pub steals: u64,
    /// vCPUs moved by those steals.
    pub stolen_tasks: u64,
    /// Time spent in balancing searches that ended in a steal or found nothing.
    pub steal_search: Duration,
    /// Times the worker went to sleep for lack of work.
    pub parks: u64,
    /// CPU time the OS gave the worker thread (None if it could not be read).
    pub cpu_time: Option<Duration>,
}

/// A snapshot of the scheduler's metrics.
#[derive(Debug, Clone)]
pub struct SchedMetrics {
    /// Time since the scheduler started.
    pub elapsed: Duration,
    /// Per worker.
    pub workers: Vec<WorkerMetrics>,
    /// vCPUs spawned.
    pub spawned: u64,
    /// vCPUs whose guest exited.
    pub exited: u64,
    /// vCPUs stopped by a guest fault.
    pub faulted: u64,
    /// vCPUs cancelled.
    pub cancelled: u64,
    /// vCPUs whose host code panicked (contained).
    pub panicked: u64,
    wait_hist: Vec<u64>,
}

impl SchedMetrics {
    pub(crate) fn new(
        elapsed: Duration,
        workers: Vec<WorkerMetrics>,
        outcomes: [u64; 5],
        hists: &[WaitHistogram],
    ) -> Self {
        let mut wait_hist = vec![0; BUCKETS];
        for h in hists {
            h.add_to(&mut wait_hist);
        }
        Self {
            elapsed,
            workers,
            spawned: outcomes[0],
            exited: outcomes[1],
            faulted: outcomes[2],
            cancelled: outcomes[3],
            panicked: outcomes[4],
            wait_hist,
        }
    }

    /// Total vCPU polls.
    pub fn runs(&self) -> u64 {
        self.workers.iter().map(|w| w.runs).sum()
    }

    /// Total migrations.
    pub fn migrations(&self) -> u64 {
        self.workers.iter().map(|w| w.migrations).sum()
    }

    /// Total successful steals.
    pub fn steals(&self) -> u64 {
        self.workers.iter().map(|w| w.steals).sum()
    }

    /// Number of recorded runnable -> running waits.
    pub fn wait_count(&self) -> u64 {
        self.wait_hist.iter().sum()
    }

    /// Quantile `q` in [0, 1] of runnable -> running wait time, as the upper
    /// edge of its histogram bucket (at most 12.5 % above the true value).
    /// None before anything ran.
    pub fn wait_quantile(&self, q: f64) -> Option<Duration> {
        quantile(&self.wait_hist, q)
    }

    /// Per-worker utilization over the interval since `earlier`: busy time
    /// divided by the interval's wall time.
    pub fn utilization_since(&self, earlier: &SchedMetrics) -> Vec<f64> {
        let wall = self.elapsed.saturating_sub(earlier.elapsed).as_secs_f64();
        self.workers
            .iter()
            .zip(&earlier.workers)
            .map(|(a, b)| {
                if wall > 0.0 {
                    a.busy.saturating_sub(b.busy).as_secs_f64() / wall
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// (max - min) worker utilization since `earlier`, in percentage points.
    pub fn imbalance_pct_since(&self, earlier: &SchedMetrics) -> f64 {
        let u = self.utilization_since(earlier);
        let max = u.iter().cloned().fold(f64::MIN, f64::max);
        let min = u.iter().cloned().fold(f64::MAX, f64::min);
        if u.is_empty() {
            0.0
        } else {
            (max - min) * 100.0
        }
    }

    /// Wait-time quantile of the waits recorded since `earlier`.
    pub fn wait_quantile_since(&self, earlier: &SchedMetrics, q: f64) -> Option<Duration> {
        let diff: Vec<u64> = self
            .wait_hist
            .iter()
            .zip(&earlier.wait_hist)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        quantile(&diff, q)
    }
}

fn quantile(hist: &[u64], q: f64) -> Option<Duration> {
    let total: u64 = hist.iter().sum();
    if total == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, &c) in hist.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(Duration::from_nanos(WaitHistogram::upper(i)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_bound_the_value_within_an_eighth() {
        for ns in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            100,
            999,
            1000,
            12_345,
            1 << 30,
            5_000_000_007,
        ] {
            let i = WaitHistogram::index(ns);
            let up = WaitHistogram::upper(i);
            assert!(up > ns, "{ns}: bucket {i} upper {up}");
            let lo = if i == 0 {
                0
            } else {
                WaitHistogram::upper(i - 1)
            };
            assert!(lo <= ns, "{ns}: bucket {i} lower {lo}");
            assert!(
                (up - lo) as f64 <= (ns as f64 / 8.0).max(1.0) + 1e-9,
                "{ns}: {lo}..{up}"
            );
        }
    }

    #[test]
    fn quantiles_from_the_histogram() {
        let h = WaitHistogram::new();
        for ns in 1..=100u64 {
            h.record(ns * 1000);
        }
        let m = SchedMetrics::new(Duration::ZERO, vec![], [0; 5], std::slice::from_ref(&h));
        let p50 = m.wait_quantile(0.5).unwrap().as_nanos() as f64;
        let p99 = m.wait_quantile(0.99).unwrap().as_nanos() as f64;
        assert!((50_000.0..=50_000.0 * 1.125).contains(&p50), "{p50}");
        assert!((99_000.0..=99_000.0 * 1.125).contains(&p99), "{p99}");
        assert_eq!(m.wait_count(), 100);
        assert_eq!(m.wait_quantile(1.5), None);
    }

    #[test]
    fn utilization_and_imbalance_over_an_interval() {
        let w = |busy_ms| WorkerMetrics {
            busy: Duration::from_millis(busy_ms),
            ..WorkerMetrics::default()
        };
        let h = WaitHistogram::new();
        let h = std::slice::from_ref(&h);
        let a = SchedMetrics::new(Duration::from_millis(100), vec![w(10), w(20)], [0; 5], h);
        let b = SchedMetrics::new(Duration::from_millis(200), vec![w(100), w(90)], [0; 5], h);
        let u = b.utilization_since(&a);
        assert!(
            (u[0] - 0.9).abs() < 1e-9 && (u[1] - 0.7).abs() < 1e-9,
            "{u:?}"
        );
        assert!((b.imbalance_pct_since(&a) - 20.0).abs() < 1e-9);
    }
}
