use vm_bench_runtime::perf_target;

#[perf_target(max_ns = 1e999, metrics(hit_rate >= 1e400))]
#[test]
fn bench_x() {}

fn main() {}
