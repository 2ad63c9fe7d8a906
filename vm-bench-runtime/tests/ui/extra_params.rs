use vm_bench_runtime::{perf_target, Bench};

#[perf_target(max_us = 5)]
#[test]
fn bench_x(b: &mut Bench, n: u32) {
    b.iter(|| n);
}

fn main() {}
