use vm_bench_runtime::perf_target;

#[perf_target(max_us = 5, max_ms = 1)]
#[test]
fn bench_x() {}

fn main() {}
