use vm_bench_runtime::perf_target;

#[perf_target(max_overhead_pct = 5)]
#[test]
fn relative_without_bench() {}

#[perf_target(min_speedup = 2, metrics(hit_rate >= 0.9))]
#[test]
fn speedup_and_metrics_without_bench() {}

fn main() {}
