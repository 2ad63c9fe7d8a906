//! The registry of every `#[perf_target]` benchmark linked into a binary (a linkme
//! distributed slice), so a runner can list and run benchmarks without libtest.
//!
//! The `#[test]` path never uses the registry: the generated test calls the runtime
//! directly. Where linkme cannot see an entry (see `docs/harness.md`, "Registry"), the test
//! still runs; only listing is affected.

use crate::bench::Bench;
use crate::runner::{execute, RunOptions, RunReport};
use crate::spec::{BenchSpec, KpiSpec};

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
    pub fn category(&self) -> Option<&'static str> {
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

    /// This entry as the `cargo test` binary of its file names it, for a binary that
    /// compiles `tests/*.rs` files as modules of one crate (the `performance_suite` bench):
    /// there `module_path!()` is `performance_suite::gc`, while `cargo test` builds
    /// `tests/gc.rs` as crate `gc`. Strips the leading `crate_name::` from the module path
    /// and `manifest_dir/` from the file, so names, artifact files, baselines and reports
    /// of both paths line up. Entries outside `crate_name` are returned unchanged.
    ///
    /// The rewritten spec is leaked: the runner takes `&'static BenchSpec`, and a suite
    /// relocates each entry once per process.
    pub fn relocated(&self, crate_name: &str, manifest_dir: &str) -> BenchEntry {
        let Some(module_path) = self
            .spec
            .module_path
            .strip_prefix(crate_name)
            .and_then(|rest| rest.strip_prefix("::"))
        else {
            return *self;
        };
        let file = self
            .spec
            .file
            .strip_prefix(manifest_dir)
            .map(|f| f.trim_start_matches('/'))
            .unwrap_or(self.spec.file);
        let spec: &'static BenchSpec = Box::leak(Box::new(BenchSpec {
            module_path: leak_str(module_path),
            file: leak_str(file),
            ..*self.spec
        }));
        BenchEntry {
            spec,
            body: self.body,
        }
    }
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{BodyForm, ConfigSpec};

    static SPEC: BenchSpec = BenchSpec {
        name: "bench_x",
        module_path: "performance_suite::gc",
        file: "/w/root/tests/gc.rs",
        line: 7,
        category: None,
        kpis: &[],
        config: ConfigSpec {
            stat: None,
            warmup_ms: None,
            measure_ms: None,
            samples: None,
            iterations: None,
            flavor: crate::spec::Flavor::CurrentThread,
            flamegraph: false,
        },
        form: BodyForm::Bench,
        debug_assertions: false,
        manifest_dir: "/w/root",
        opt_probe: None,
    };

    fn body(_: &mut Bench) {}

    #[test]
    fn relocation_gives_the_cargo_test_name_and_file() {
        let e = BenchEntry { spec: &SPEC, body };
        let r = e.relocated("performance_suite", "/w/root");
        assert_eq!(r.full_name(), "gc::bench_x");
        assert_eq!(r.module_path(), "gc");
        assert_eq!(r.file(), "tests/gc.rs");
        assert_eq!(r.line(), 7);
        // The suite writes the same artifact file as `cargo test --test gc`.
        assert_eq!(crate::runner::artifact_file_name(r.spec), "gc.bench_x.json");
        // Another crate's entry, or a prefix that is not a whole path segment: unchanged.
        assert_eq!(e.relocated("vm_core", "/w/root").full_name(), e.full_name());
        assert_eq!(
            e.relocated("performance", "/w/root").full_name(),
            e.full_name()
        );
    }
}
