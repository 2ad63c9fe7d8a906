use vm_bench_runtime::{perf_target, Bench};

#[perf_target(max_us = 5)]
#[test]
fn bench_shared_ref(b: &Bench) {}

#[perf_target(max_us = 5)]
#[test]
fn bench_by_value(b: Bench) {}

#[perf_target(max_us = 5)]
#[test]
fn bench_number(n: u32) {}

fn main() {}
