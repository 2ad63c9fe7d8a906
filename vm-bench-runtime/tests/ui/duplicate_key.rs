use vm_bench_runtime::perf_target;

#[perf_target(max_us = 5, category = "GC", category = "JIT", samples = 10, samples = 20)]
#[test]
fn bench_x() {}

fn main() {}
