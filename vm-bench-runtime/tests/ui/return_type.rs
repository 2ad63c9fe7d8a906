use vm_bench_runtime::perf_target;

#[perf_target(max_us = 5)]
#[test]
fn bench_x() -> u32 {
    3
}

fn main() {}
