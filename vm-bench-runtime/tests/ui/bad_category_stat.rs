use vm_bench_runtime::perf_target;

#[perf_target(max_us = 5, category = "", stat = "p50", flavor = "single")]
#[test]
fn bench_x() {}

fn main() {}
