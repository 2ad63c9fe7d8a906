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

pub mod artifact;
pub mod bench;
pub mod clock;
pub mod env;
pub mod lock;
pub mod registry;
pub mod runner;
pub mod spec;
pub mod stats;
pub mod verdict;

pub use bench::Bench;
pub use std::hint::black_box;
pub use vm_bench_macros::perf_target;

/// Items the generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{BenchEntry, BENCHMARKS};
    pub use crate::runner::run_test;
    pub use crate::spec::{
        BenchSpec, BodyForm, Category, CmpOp, ConfigSpec, Flavor, KpiSpec, RelativeKind, Stat,
    };
    pub use linkme;
}
pub mod baseline;
pub mod chart;
pub mod export;
pub mod guide;
pub mod history;
pub mod html;
pub mod report;
pub mod significance;
pub mod targets;
