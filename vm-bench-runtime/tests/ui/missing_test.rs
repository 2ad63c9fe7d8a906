use vm_bench_runtime::perf_target;

#[perf_target(max_us = 5)]
fn bench_x() {}

fn main() {}
