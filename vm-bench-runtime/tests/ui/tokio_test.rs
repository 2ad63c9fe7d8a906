use vm_bench_runtime::{perf_target, Bench};

#[perf_target(max_us = 50)]
#[tokio::test]
async fn tokio_instead_of_test(b: &mut Bench) {
    b.iter_async(|| async { 1 });
}

#[perf_target(max_us = 50)]
#[tokio::test(flavor = "multi_thread")]
async fn tokio_multi_thread() {}

fn main() {}
