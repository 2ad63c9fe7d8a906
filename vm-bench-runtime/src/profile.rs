//! The flame graph of a benchmark: when a KPI fails (or on demand), the body runs again
//! *after* the verdict under an in-process sampling profiler, and the samples are drawn as
//! an SVG beside the artifact (`<artifact stem>.flame.svg`).
//!
//! Sampling is pprof's: `setitimer(ITIMER_PROF)` makes the kernel send `SIGPROF` every
//! 1/[`FREQUENCY_HZ`] s of the *process's* CPU time to whichever thread is running, and the
//! handler unwinds that thread's stack (DWARF call frame information, `.eh_frame`, which
//! every Rust build with `panic = "unwind"` has). The stacks are symbolized afterwards and
//! drawn by inferno. Because the verdict's samples were taken before the profiler starts,
//! sampling never touches them.

use std::time::{Duration, Instant};

use crate::artifact::Mode;

/// The environment variable that chooses when flame graphs are drawn.
pub(crate) const ENV_VAR: &str = "VM_BENCH_FLAMEGRAPH";

/// CPU time (of the whole process, the clock `SIGPROF` is paced by) the profiling run gives
/// the measured routine (`iter`, `compare`, ...): at the sampling rate the kernel delivers
/// (about 250 per CPU second on the development machine) a few hundred stacks, enough to
/// see which functions hold the time; short enough that a failing suite is not doubled in
/// length. A body without a routine runs again until this is spent (at least once).
pub(crate) const CPU_BUDGET: Duration = Duration::from_millis(1000);

/// Wall-clock limit of the profiling run, for a body that waits off-CPU (sleeping, I/O,
/// locks) or runs on a loaded machine: `CPU_BUDGET` may never be reached.
pub(crate) const WALL_LIMIT: Duration = Duration::from_millis(3000);

/// Requested samples per second of CPU time. Not a round number, so the sampling does not
/// run in lock-step with periodic work of the body; the kernel may deliver fewer (see
/// docs/harness.md, "Flame graphs": its measured rate and cost per sample).
pub const FREQUENCY_HZ: i32 = 997;

/// When the harness draws a flame graph (`VM_BENCH_FLAMEGRAPH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlamegraphPolicy {
    /// When a KPI's verdict is FAIL (the default), outside smoke mode.
    Fail,
    /// After every measured run, passing or not.
    Always,
    /// Never, not even for a benchmark whose attribute asks for one.
    Off,
}

impl FlamegraphPolicy {
    /// The spellings `VM_BENCH_FLAMEGRAPH` accepts, for messages.
    pub const SPELLINGS: &'static str = "fail (default), always (or 1), off (or 0)";

    /// Parses a value of `VM_BENCH_FLAMEGRAPH`.
    pub fn parse(value: &str) -> Result<FlamegraphPolicy, String> {
        match value.trim() {
            "" | "fail" => Ok(FlamegraphPolicy::Fail),
            "always" | "1" => Ok(FlamegraphPolicy::Always),
            "off" | "0" => Ok(FlamegraphPolicy::Off),
            other => Err(format!(
                "invalid {ENV_VAR}={other:?}: expected one of {}",
                Self::SPELLINGS
            )),
        }
    }

    /// The policy of the environment (`Fail` when unset).
    pub fn from_env() -> Result<FlamegraphPolicy, String> {
        match std::env::var(ENV_VAR) {
            Ok(v) => Self::parse(&v),
            Err(std::env::VarError::NotPresent) => Ok(FlamegraphPolicy::Fail),
            Err(std::env::VarError::NotUnicode(v)) => Err(format!(
                "invalid {ENV_VAR}={v:?}: expected one of {}",
                Self::SPELLINGS
            )),
        }
    }

    /// The policy of one benchmark: its attribute's `flamegraph` key asks for a flame graph
    /// on every run, unless the environment turned them off.
    pub fn for_benchmark(self, attribute_asks: bool) -> FlamegraphPolicy {
        match self {
            FlamegraphPolicy::Fail if attribute_asks => FlamegraphPolicy::Always,
            other => other,
        }
    }

    /// Whether a run in `mode` whose KPIs include a FAIL (`kpi_failed`) gets a flame graph.
    /// Smoke mode's five samples are a quick look, not a verdict worth a second of
    /// profiling, so only `Always` draws one there.
    pub fn wants(self, mode: Mode, kpi_failed: bool) -> bool {
        match self {
            FlamegraphPolicy::Always => mode != Mode::Off,
            FlamegraphPolicy::Fail => kpi_failed && matches!(mode, Mode::Enforce | Mode::Report),
            FlamegraphPolicy::Off => false,
        }
    }
}

/// A drawn flame graph.
pub struct FlameGraph {
    /// The SVG document.
    pub svg: Vec<u8>,
    /// Stacks sampled.
    pub samples: u64,
    /// How long the profiler ran.
    pub profiled: Duration,
}

/// A running profiler: the process's `SIGPROF` handler and `ITIMER_PROF` timer are ours
/// until [`Session::finish`] (or drop) restores them.
pub struct Session {
    #[cfg(all(
        feature = "flamegraph",
        any(target_os = "linux", target_os = "macos", target_os = "freebsd")
    ))]
    guard: pprof::ProfilerGuard<'static>,
    started: Instant,
}

impl Session {
    /// Starts sampling the whole process. The error says why profiling is unavailable.
    pub fn start() -> Result<Session, String> {
        Self::start_impl()
    }

    #[cfg(all(
        feature = "flamegraph",
        any(target_os = "linux", target_os = "macos", target_os = "freebsd")
    ))]
    fn start_impl() -> Result<Session, String> {
        // Samples whose interrupted PC lies in the C runtime, the unwinder or the vDSO are
        // dropped, as pprof's documentation advises: unwinding from inside the unwinder or
        // from a `malloc` holding its lock can deadlock in the signal handler, and the vDSO's
        // unwind tables are wrong on some distributions. The price: time spent inside libc
        // itself (memcpy, malloc) is not in the graph.
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY_HZ)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|e| format!("the sampling profiler could not start: {e}"))?;
        // pprof ignores the result of `setitimer`; without an armed timer no SIGPROF ever
        // arrives, so check it here and say so instead of drawing an empty graph.
        let mut timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
        };
        // SAFETY: `getitimer` only writes the `itimerval` it is given, which lives on this
        // stack frame for the whole call.
        let rc = unsafe { libc::getitimer(libc::ITIMER_PROF, &mut timer) };
        if rc != 0 {
            return Err(format!(
                "getitimer(ITIMER_PROF) failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        if timer.it_interval.tv_sec == 0 && timer.it_interval.tv_usec == 0 {
            return Err(
                "setitimer(ITIMER_PROF) did not arm the profiling timer, so no SIGPROF \
                 would arrive"
                    .to_string(),
            );
        }
        Ok(Session {
            guard,
            started: Instant::now(),
        })
    }

    #[cfg(not(all(
        feature = "flamegraph",
        any(target_os = "linux", target_os = "macos", target_os = "freebsd")
    )))]
    fn start_impl() -> Result<Session, String> {
        if cfg!(feature = "flamegraph") {
            Err(
                "sampling with SIGPROF is not supported on this OS (the profiler runs on \
                 Linux, macOS and FreeBSD)"
                    .to_string(),
            )
        } else {
            Err(
                "vm-bench-runtime was built without its `flamegraph` feature (on by default)"
                    .to_string(),
            )
        }
    }

    /// Stops sampling and draws the samples; `title` heads the SVG.
    pub fn finish(self, title: &str) -> Result<FlameGraph, String> {
        let profiled = self.started.elapsed();
        self.finish_impl(title, profiled)
    }

    #[cfg(all(
        feature = "flamegraph",
        any(target_os = "linux", target_os = "macos", target_os = "freebsd")
    ))]
    fn finish_impl(self, title: &str, profiled: Duration) -> Result<FlameGraph, String> {
        let mut report = self
            .guard
            .report()
            .build()
            .map_err(|e| format!("the profiler's samples could not be symbolized: {e}"))?;
        // Stop sampling before drawing: the drawing is not the benchmark's work.
        drop(self.guard);
        let mut cut = 0u64;
        let mut data = std::collections::HashMap::with_capacity(report.data.len());
        for (mut frames, n) in std::mem::take(&mut report.data) {
            if label_cut_stack(&mut frames) {
                cut += n.max(0) as u64;
            }
            *data.entry(frames).or_insert(0) += n;
        }
        report.data = data;
        let samples: u64 = report.data.values().map(|&n| n.max(0) as u64).sum();
        if samples == 0 {
            return Err(format!(
                "the profiler collected no samples in {} ms (no SIGPROF arrived while the \
                 body ran on the CPU outside libc)",
                profiled.as_millis()
            ));
        }
        let mut options = pprof::flamegraph::Options::default();
        options.title = title.to_string();
        let cut_note = if cut > 0 {
            format!(", {cut} with a cut stack")
        } else {
            String::new()
        };
        options.subtitle = Some(format!(
            "{samples} samples{cut_note} in {} ms, taken after the verdict (SIGPROF requested \
             {FREQUENCY_HZ} times per CPU second)",
            profiled.as_millis()
        ));
        options.count_name = "samples".to_string();
        let mut svg = Vec::new();
        report
            .flamegraph_with_options(&mut svg, &mut options)
            .map_err(|e| format!("the flame graph could not be drawn: {e}"))?;
        Ok(FlameGraph {
            svg,
            samples,
            profiled,
        })
    }

    #[cfg(not(all(
        feature = "flamegraph",
        any(target_os = "linux", target_os = "macos", target_os = "freebsd")
    )))]
    fn finish_impl(self, _title: &str, _profiled: Duration) -> Result<FlameGraph, String> {
        // `start` never returns a session in this build.
        Err("no profiler in this build".to_string())
    }
}

/// The frame put at the root of a stack whose unwinding stopped before the thread's entry:
/// the sampled code has no unwind tables (code the VM generates at run time: JIT blocks,
/// mapped AOT images) or no symbols, so the unwinder could not go past it.
#[cfg(all(
    feature = "flamegraph",
    any(target_os = "linux", target_os = "macos", target_os = "freebsd")
))]
const CUT_STACK: &str = "[stack cut: code without unwind tables, e.g. JIT-generated]";

/// The outermost frames of a complete stack: a thread's or the process's entry point.
#[cfg(all(
    feature = "flamegraph",
    any(target_os = "linux", target_os = "macos", target_os = "freebsd")
))]
const STACK_ROOTS: &[&str] = &[
    "clone3",
    "clone",
    "start_thread",
    "_pthread_start",
    "thread_start",
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
];

/// Marks a stack that does not reach a thread's entry point with a [`CUT_STACK`] root frame,
/// so that samples in generated code (which resolve to no frame at all) and calls from it
/// into Rust helpers are not drawn as if the thread itself ran them. True when it did.
#[cfg(all(
    feature = "flamegraph",
    any(target_os = "linux", target_os = "macos", target_os = "freebsd")
))]
fn label_cut_stack(frames: &mut pprof::Frames) -> bool {
    // `frames` is leaf first: the last frame is the outermost one.
    let complete = frames.frames.last().is_some_and(|outer| {
        outer
            .iter()
            .any(|symbol| STACK_ROOTS.contains(&symbol.name().as_str()))
    });
    if !complete {
        frames.frames.push(vec![pprof::Symbol {
            name: Some(CUT_STACK.as_bytes().to_vec()),
            addr: None,
            lineno: None,
            filename: None,
        }]);
    }
    !complete
}

/// The flame graph's file name for an artifact file name (`m.name.json` ->
/// `m.name.flame.svg`).
pub(crate) fn svg_file_name(artifact_file_name: &str) -> String {
    let stem = artifact_file_name
        .strip_suffix(".json")
        .unwrap_or(artifact_file_name);
    format!("{stem}.flame.svg")
}

/// What the profiling run of a benchmark's routine asks of [`crate::Bench`].
#[derive(Debug, Clone)]
pub(crate) struct ProfilePlan {
    /// The graph's title.
    pub title: String,
    /// Iterations per call of the routine's sampler (the verdict run's per-sample count),
    /// so the profiled loop is the measured one.
    pub iterations: u64,
    /// Same for the candidate side of `compare` (`iterations` is the baseline's).
    pub candidate_iterations: u64,
}

/// The profiling run's clock: spent once the process used [`CPU_BUDGET`] of CPU time or
/// [`WALL_LIMIT`] passed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    wall_start: Instant,
    cpu_start: Option<u64>,
}

impl Budget {
    /// Starts counting now.
    pub fn start() -> Budget {
        Budget {
            wall_start: Instant::now(),
            cpu_start: crate::clock::process_cpu_ns(),
        }
    }

    /// True once the CPU budget or the wall limit is used up.
    pub fn spent(&self) -> bool {
        let cpu_spent = match (self.cpu_start, crate::clock::process_cpu_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a) >= CPU_BUDGET.as_nanos() as u64,
            // Without a process CPU clock, the budget is wall time.
            _ => self.wall_start.elapsed() >= CPU_BUDGET,
        };
        cpu_spent || self.wall_start.elapsed() >= WALL_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_spellings_and_precedence() {
        assert_eq!(FlamegraphPolicy::parse("").unwrap(), FlamegraphPolicy::Fail);
        assert_eq!(
            FlamegraphPolicy::parse("fail").unwrap(),
            FlamegraphPolicy::Fail
        );
        assert_eq!(
            FlamegraphPolicy::parse("1").unwrap(),
            FlamegraphPolicy::Always
        );
        assert_eq!(
            FlamegraphPolicy::parse("always").unwrap(),
            FlamegraphPolicy::Always
        );
        assert_eq!(FlamegraphPolicy::parse("0").unwrap(), FlamegraphPolicy::Off);
        assert_eq!(
            FlamegraphPolicy::parse("off").unwrap(),
            FlamegraphPolicy::Off
        );
        let err = FlamegraphPolicy::parse("yes").unwrap_err();
        assert!(err.contains("VM_BENCH_FLAMEGRAPH=\"yes\"") && err.contains("always"));
        // The attribute asks for one on every run; the environment's `off` wins.
        assert_eq!(
            FlamegraphPolicy::Fail.for_benchmark(true),
            FlamegraphPolicy::Always
        );
        assert_eq!(
            FlamegraphPolicy::Off.for_benchmark(true),
            FlamegraphPolicy::Off
        );
        assert_eq!(
            FlamegraphPolicy::Fail.for_benchmark(false),
            FlamegraphPolicy::Fail
        );
        assert!(FlamegraphPolicy::Fail.wants(Mode::Enforce, true));
        assert!(FlamegraphPolicy::Fail.wants(Mode::Report, true));
        assert!(!FlamegraphPolicy::Fail.wants(Mode::Enforce, false));
        assert!(!FlamegraphPolicy::Fail.wants(Mode::Smoke, true));
        assert!(FlamegraphPolicy::Always.wants(Mode::Smoke, false));
        assert!(!FlamegraphPolicy::Off.wants(Mode::Enforce, true));
    }

    #[cfg(all(
        feature = "flamegraph",
        any(target_os = "linux", target_os = "macos", target_os = "freebsd")
    ))]
    #[test]
    fn stacks_that_stop_short_of_the_thread_entry_are_marked_cut() {
        let symbol = |name: &str| pprof::Symbol {
            name: Some(name.as_bytes().to_vec()),
            addr: None,
            lineno: None,
            filename: None,
        };
        let stack = |names: &[&str]| pprof::Frames {
            frames: names.iter().map(|n| vec![symbol(n)]).collect(),
            thread_name: "bench".into(),
            thread_id: 1,
            sample_timestamp: std::time::SystemTime::UNIX_EPOCH,
        };
        // Whole: from the hot function out to the thread's entry.
        let mut whole = stack(&["hot", "body", "start_thread", "clone3"]);
        assert!(!label_cut_stack(&mut whole));
        assert_eq!(whole.frames.len(), 4);
        // A sample in generated code: nothing resolved.
        let mut jit = stack(&[]);
        assert!(label_cut_stack(&mut jit));
        assert_eq!(jit.frames.len(), 1);
        assert_eq!(jit.frames[0][0].name(), CUT_STACK);
        // A Rust helper called from generated code: the helper stays, the root says cut.
        let mut helper = stack(&["tlb_miss_handler"]);
        assert!(label_cut_stack(&mut helper));
        assert_eq!(helper.frames[0][0].name(), "tlb_miss_handler");
        assert_eq!(helper.frames[1][0].name(), CUT_STACK);
    }

    #[test]
    fn svg_sits_beside_the_artifact() {
        assert_eq!(svg_file_name("a.b.c.json"), "a.b.c.flame.svg");
    }
}
