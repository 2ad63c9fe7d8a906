//! The registry of every `#[perf_target]` benchmark linked into a binary (a linkme
//! distributed slice), so a runner can list and run benchmarks without libtest.
//!
//! The `#[test]` path never uses the registry: the generated test calls the runtime
//! directly. Where linkme cannot see an entry (see `docs/harness.md`, "Registry"), the test
//! still runs; only listing is affected.

use crate::bench::Bench;
use crate::runner::{execute, RunOptions, RunReport};
use crate::spec::{BenchSpec, Category, KpiSpec};

/// One registered benchmark.
#[derive(Debug, Clone, Copy)]
pub struct BenchEntry {
    /// Its static description.
    pub spec: &'static BenchSpec,
    /// The body, callable without libtest.
    pub body: fn(&mut Bench),
}

impl BenchEntry {
    /// Function name.
    pub fn name(&self) -> &'static str {
        self.spec.name
    }
    /// `module_path!()` of the function.
    pub fn module_path(&self) -> &'static str {
        self.spec.module_path
    }
    /// `module::path::name`.
    pub fn full_name(&self) -> String {
        self.spec.full_name()
    }
    /// Source file.
    pub fn file(&self) -> &'static str {
        self.spec.file
    }
    /// Source line.
    pub fn line(&self) -> u32 {
        self.spec.line
    }
    /// KPI category, if declared.
    pub fn category(&self) -> Option<Category> {
        self.spec.category
    }
    /// Declared bounds.
    pub fn kpis(&self) -> &'static [KpiSpec] {
        self.spec.kpis
    }
    /// Runs the benchmark in this process (taking the same locks as the test path) and
    /// returns its report; never panics on a KPI breach or a panicking body.
    pub fn run(&self, opts: &RunOptions) -> RunReport {
        execute(self.spec, self.body, opts)
    }
}

/// The distributed slice every `#[perf_target]` adds itself to.
#[linkme::distributed_slice]
pub static BENCHMARKS: [BenchEntry];

/// Every benchmark linked into this binary, sorted by full name.
pub fn entries() -> Vec<&'static BenchEntry> {
    let mut v: Vec<&'static BenchEntry> = BENCHMARKS.iter().collect();
    v.sort_by_key(|e| (e.spec.module_path, e.spec.name));
    v
}

/// Benchmarks whose full name contains `filter` (all for an empty filter).
pub fn matching(filter: &str) -> Vec<&'static BenchEntry> {
    entries()
        .into_iter()
        .filter(|e| e.full_name().contains(filter))
        .collect()
}

/// The benchmark with exactly this full name (`module::path::name`) or, if unique, this
/// function name.
pub fn find(name: &str) -> Option<&'static BenchEntry> {
    let all = entries();
    if let Some(e) = all.iter().find(|e| e.full_name() == name) {
        return Some(e);
    }
    let mut by_name = all.into_iter().filter(|e| e.spec.name == name);
    match (by_name.next(), by_name.next()) {
        (Some(e), None) => Some(e),
        _ => None,
    }
}
