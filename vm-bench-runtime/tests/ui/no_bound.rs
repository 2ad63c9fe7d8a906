use vm_bench_runtime::{perf_target, Bench};

#[perf_target]
#[test]
fn bare_attribute(b: &mut Bench) {
    b.iter(|| 1);
}

#[perf_target(category = "JIT", measure_ms = 100)]
#[test]
fn only_configuration() {}

// Recording metrics without a bound is allowed: the values are the output.
#[perf_target(category = "GC")]
#[test]
fn records_metrics(b: &mut Bench) {
    b.metric("pause_ms", 1.0);
}

fn main() {}
