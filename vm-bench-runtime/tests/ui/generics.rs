use vm_bench_runtime::{perf_target, Bench};

#[perf_target(max_us = 5)]
#[test]
fn bench_x<T: Default>(b: &mut Bench) {
    b.iter(T::default);
}

fn main() {}
