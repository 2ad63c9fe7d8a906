use vm_bench_runtime::perf_target;

#[perf_target(metrics(hit_rate == 0.9))]
#[test]
fn bench_op() {}

#[perf_target(metrics(hit_rate >= "high"))]
#[test]
fn bench_string() {}

#[perf_target(metrics = 3)]
#[test]
fn bench_not_list() {}

fn main() {}
