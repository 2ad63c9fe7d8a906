use vm_bench_runtime::perf_target;

#[perf_target(max_us = "500", stat = 5, samples = 1.5, category = 3, warmup_ms = "10")]
#[test]
fn bench_x() {}

fn main() {}
