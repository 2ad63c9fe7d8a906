//! GC telemetry: every pause, every cycle, and the mutator/GC time split.

use std::time::{Duration, Instant};

/// Why the mutator was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseKind {
    /// A whole stop-the-world collection (mark and sweep).
    StopTheWorld,
    /// Start of a concurrent cycle: roots snapshot, barrier on.
    ConcurrentStart,
    /// End of a concurrent cycle: SATB drain, remaining marking, sweep.
    ConcurrentFinish,
    /// The mutator waited for the background sweeper (heap tail exhausted,
    /// or a new cycle had to start).
    SweepWait,
}

/// One pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// Offset from heap creation.
    pub start: Duration,
    /// Length of the pause.
    pub duration: Duration,
    /// What the pause did.
    pub kind: PauseKind,
}

/// One completed collection cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleStats {
    /// Bytes in surviving objects after the sweep.
    pub live_bytes: usize,
    /// Bytes of objects freed by the sweep.
    pub freed_bytes: usize,
    /// Marking time inside pauses.
    pub mark_pause: Duration,
    /// Marking time on the background thread (concurrent plan only).
    pub concurrent_mark: Duration,
    /// Sweep time.
    pub sweep: Duration,
}

/// Everything the collector recorded since the heap was created.
#[derive(Debug, Clone)]
pub struct Telemetry {
    created: Instant,
    /// Every pause in order.
    pub pauses: Vec<Pause>,
    /// Every completed cycle in order.
    pub cycles: Vec<CycleStats>,
    /// Bytes handed out by the allocator.
    pub bytes_allocated: u64,
    /// Bytes reclaimed by sweeps.
    pub bytes_freed: u64,
    /// Objects the mutator allocated below a running background sweep's
    /// range (born marked, see `sweep::FreeChunks::Keep`).
    pub objects_allocated_during_sweep: u64,
}

impl Telemetry {
    pub(crate) fn new() -> Self {
        Self {
            created: Instant::now(),
            pauses: Vec::new(),
            cycles: Vec::new(),
            bytes_allocated: 0,
            bytes_freed: 0,
            objects_allocated_during_sweep: 0,
        }
    }

    pub(crate) fn record_pause(&mut self, start: Instant, kind: PauseKind) {
        self.pauses.push(Pause {
            start: start - self.created,
            duration: start.elapsed(),
            kind,
        });
    }

    /// Wall time since the heap was created.
    pub fn wall_time(&self) -> Duration {
        self.created.elapsed()
    }

    /// Total time the mutator was paused.
    pub fn gc_pause_time(&self) -> Duration {
        self.pauses.iter().map(|p| p.duration).sum()
    }

    /// Mutator time: wall time minus pauses.
    pub fn mutator_time(&self) -> Duration {
        self.wall_time().saturating_sub(self.gc_pause_time())
    }

    /// Share of wall time the mutator ran, in 0..=1.
    pub fn mutator_utilization(&self) -> f64 {
        let wall = self.wall_time().as_secs_f64();
        if wall == 0.0 {
            return 1.0;
        }
        self.mutator_time().as_secs_f64() / wall
    }

    /// The `q` quantile (0..=1, nearest rank) of pause durations.
    pub fn pause_quantile(&self, q: f64) -> Duration {
        let mut d: Vec<Duration> = self.pauses.iter().map(|p| p.duration).collect();
        if d.is_empty() {
            return Duration::ZERO;
        }
        d.sort_unstable();
        let rank = ((q.clamp(0.0, 1.0) * d.len() as f64).ceil() as usize).clamp(1, d.len());
        d[rank - 1]
    }

    /// The longest pause.
    pub fn max_pause(&self) -> Duration {
        self.pauses
            .iter()
            .map(|p| p.duration)
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut t = Telemetry::new();
        for ms in 1..=100u64 {
            t.pauses.push(Pause {
                start: Duration::ZERO,
                duration: Duration::from_millis(ms),
                kind: PauseKind::StopTheWorld,
            });
        }
        assert_eq!(t.pause_quantile(0.5), Duration::from_millis(50));
        assert_eq!(t.pause_quantile(0.99), Duration::from_millis(99));
        assert_eq!(t.max_pause(), Duration::from_millis(100));
        assert_eq!(t.gc_pause_time(), Duration::from_millis(5050));
    }
}
