use vm_bench_runtime::perf_target;

#[perf_target(max_us = 5)]
struct Bench;

fn main() {}
