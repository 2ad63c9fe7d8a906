//! The clocks of the harness: the wall clock (`Instant`) that times samples, and the
//! thread CPU clock that tells whether the thread was descheduled during a sample.
//! Both are calibrated once per process (cost of a read, smallest observable step).

use std::sync::OnceLock;
use std::time::Instant;

/// Reads the calling thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
/// `None` where the platform does not provide it.
pub fn thread_cpu_ns() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            return Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
        }
        None
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Calibration of the clocks, measured once per process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockCalibration {
    /// Median cost of one `Instant::now()` (ns).
    pub wall_cost_ns: f64,
    /// Median smallest non-zero step of `Instant` (ns).
    pub wall_resolution_ns: f64,
    /// Median cost of one thread-CPU-clock read (ns), if available.
    pub cpu_cost_ns: Option<f64>,
}

impl ClockCalibration {
    /// The calibration of this process (measured on first use).
    pub fn get() -> ClockCalibration {
        static CAL: OnceLock<ClockCalibration> = OnceLock::new();
        *CAL.get_or_init(ClockCalibration::measure)
    }

    /// Per-sample cost of the timing itself that lands inside the timed region (ns):
    /// one wall-clock read.
    pub fn in_region_overhead_ns(&self) -> f64 {
        self.wall_cost_ns
    }

    fn measure() -> ClockCalibration {
        // Cost: time batches of 1000 reads; the median of 15 batches resists preemption.
        const BATCH: u32 = 1000;
        let mut costs = Vec::with_capacity(15);
        for _ in 0..15 {
            let t0 = Instant::now();
            for _ in 0..BATCH {
                std::hint::black_box(Instant::now());
            }
            costs.push(t0.elapsed().as_nanos() as f64 / BATCH as f64);
        }
        let wall_cost_ns = crate::stats::quantile_sorted(&crate::stats::sorted(&costs), 0.5);

        // Resolution: smallest non-zero difference between consecutive reads.
        let mut steps = Vec::with_capacity(15);
        for _ in 0..15 {
            let mut best = u128::MAX;
            for _ in 0..100 {
                let a = Instant::now();
                let mut b = Instant::now();
                while b == a {
                    b = Instant::now();
                }
                best = best.min((b - a).as_nanos());
            }
            steps.push(best as f64);
        }
        let wall_resolution_ns = crate::stats::quantile_sorted(&crate::stats::sorted(&steps), 0.5);

        let cpu_cost_ns = thread_cpu_ns().map(|_| {
            let mut costs = Vec::with_capacity(9);
            for _ in 0..9 {
                let t0 = Instant::now();
                for _ in 0..200 {
                    std::hint::black_box(thread_cpu_ns());
                }
                costs.push(t0.elapsed().as_nanos() as f64 / 200.0);
            }
            crate::stats::quantile_sorted(&crate::stats::sorted(&costs), 0.5)
        });
        ClockCalibration {
            wall_cost_ns,
            wall_resolution_ns,
            cpu_cost_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_is_sane() {
        let c = ClockCalibration::get();
        assert!(c.wall_cost_ns > 0.0 && c.wall_cost_ns.is_finite());
        assert!(c.wall_resolution_ns >= 1.0);
    }

    #[test]
    fn thread_cpu_clock_advances_with_work() {
        let Some(a) = thread_cpu_ns() else { return };
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let b = thread_cpu_ns().unwrap();
        assert!(b > a);
    }
}
