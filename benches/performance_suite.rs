//! The KPI suite of this workspace: `cargo bench --bench performance_suite [-- OPTIONS]`
//! measures every `#[perf_target]` of `tests/*.rs` in this process and writes the reports;
//! `cargo test --bench performance_suite` runs its check mode (nothing measured). It is the
//! same two-line suite any crate gets (docs/harness.md, "A suite for your crate"), plus
//! what this workspace holds itself to: the six categories spelled as the benchmark guide
//! spells them, the guide's KPI table, and the guide's example override file.
//! `-- --help` lists the options.

// Every tests/*.rs holding a #[perf_target], compiled in as a module; defines SUITE_FILES.
vm_bench_runtime::suite::include_tests!();

fn main() {
    vm_bench_runtime::suite::Suite::new(SUITE_FILES)
        .categories(&["JIT", "AOT", "GC", "TLB", "CrossArch", "Scheduler"])
        .guide("docs/P1_03_BENCHMARK_GUIDE.md")
        .example_targets("docs/bench-targets.example.json")
        .main()
}
