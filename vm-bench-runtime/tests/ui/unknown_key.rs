use vm_bench_runtime::perf_target;

#[perf_target(max_uss = 500, catgory = "JIT", zzzz = 1)]
#[test]
fn bench_x() {}

fn main() {}
