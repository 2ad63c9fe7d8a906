use vm_bench_runtime::perf_target;

#[perf_target(max_us = 0, min_ops_per_sec = -10, min_speedup = 0.0, samples = 0, measure_ms = -1)]
#[test]
fn bench_x() {}

fn main() {}
