use vm_bench_runtime::{perf_target, Bench};

#[perf_target(max_us = 5, flavor = "current_thread")]
#[test]
async fn bench_x(b: &mut Bench) {
    b.iter_async(|| async { 1 });
}

fn main() {}
