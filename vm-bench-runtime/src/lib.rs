//! Test-integrated benchmark harness: `#[perf_target]` turns a `#[test]` function into a
//! statistically checked benchmark that fails on a clear KPI breach and writes a JSON
//! artifact. See `docs/harness.md`.
//!
//! ```no_run
//! use vm_bench_runtime::{perf_target, Bench};
//! # fn prepare() -> Vec<u8> { vec![1, 2, 3] }
//! # fn compile(block: &[u8]) -> usize { block.len() }
//!
//! #[perf_target(max_us = 500, category = "JIT")]
//! #[test]
//! fn bench_compilation_latency(b: &mut Bench) {
//!     let block = prepare();          // setup: not timed
//!     b.iter(|| compile(&block));     // timed; result black-boxed
//! }
//! ```
//!
//! # Layers
//!
//! The crate root holds what a benchmark author uses ([`perf_target`], [`Bench`],
//! [`black_box`]). Below it, two layers with dependencies pointing one way:
//!
//! - the **measurement core** (calibration, sampling, statistics, verdicts, artifacts, the
//!   [`registry`], [`targets`]); of it, [`artifact`], [`registry`], [`targets`] and [`row`]
//!   are public because the suite layer and other tools read what it writes;
//! - the **suite layer** ([`suite`], cargo feature `suite`, on by default): reports,
//!   baselines, history, charts, the `vm-bench` CLI and [`suite::main`]. It reads
//!   artifacts and registry entries; nothing in the core imports it.

// Measurement core.
pub mod artifact;
pub(crate) mod atomic;
pub(crate) mod bench;
pub(crate) mod clock;
pub(crate) mod env;
pub(crate) mod lock;
pub(crate) mod profile;
pub mod registry;
pub mod row;
pub(crate) mod runner;
pub(crate) mod spec;
pub(crate) mod stats;
pub mod targets;
pub(crate) mod verdict;

// Suite and reporting layer.
#[cfg(feature = "suite")]
pub mod suite;

pub use bench::{Bench, MAX_LIVE_INPUTS};
/// The calling thread's CPU time, for splitting a benchmark's work into stages reported
/// with [`Bench::metric`] (time on the CPU, unaffected by preemption).
pub use clock::thread_cpu_ns;
pub use runner::{RunOptions, RunReport};
pub use std::hint::black_box;
pub use vm_bench_macros::perf_target;

/// Items the generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{BenchEntry, BENCHMARKS};
    pub use crate::runner::run_test;
    pub use crate::spec::{
        BenchSpec, BodyForm, CmpOp, ConfigSpec, Flavor, KpiSpec, RelativeKind, Stat,
    };
    #[cfg(feature = "suite")]
    pub use crate::suite::SuiteFiles;
    pub use linkme;
}

/// Core internals reachable for the harness's own integration tests and benches
/// (`tests/stats_golden.rs`, `tests/noise.rs`, `benches/harness_self.rs`). Not a public
/// API: anything here may change without notice.
#[doc(hidden)]
pub mod __internal {
    /// Statistics.
    pub mod stats {
        pub use crate::stats::*;
    }
    /// In-process execution of a spec.
    pub mod runner {
        pub use crate::runner::{execute, RunOptions};
    }
    /// The static description of a benchmark.
    pub mod spec {
        pub use crate::spec::*;
    }
    /// The recorded environment.
    pub mod env {
        pub use crate::env::environment;
    }
    /// Clock calibration.
    pub mod clock {
        pub use crate::clock::{process_cpu_ns, thread_runqueue_wait_ns, ClockCalibration};
    }
    /// The sampling profiler behind flame graphs.
    pub mod profile {
        pub use crate::profile::{Session, FREQUENCY_HZ};
    }
}
