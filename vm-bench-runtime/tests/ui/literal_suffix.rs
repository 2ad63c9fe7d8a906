use vm_bench_runtime::{perf_target, Bench};

// The unit comes from the key: `2us` must not silently become 2 ms.
#[perf_target(max_ms = 2us)]
#[test]
fn unit_suffix_on_other_key(b: &mut Bench) {
    b.iter(|| 1);
}

#[perf_target(max_us = 5us)]
#[test]
fn unit_suffix_on_same_key(b: &mut Bench) {
    b.iter(|| 1);
}

#[perf_target(max_us = 5u32)]
#[test]
fn integer_type_suffix(b: &mut Bench) {
    b.iter(|| 1);
}

#[perf_target(max_ns = 5f32)]
#[test]
fn float_type_suffix(b: &mut Bench) {
    b.iter(|| 1);
}

#[perf_target(metrics(hit_rate >= 0.9f64), samples = 10usize)]
#[test]
fn suffix_on_metric_and_integer_keys(b: &mut Bench) {
    b.metric("hit_rate", 1.0);
}

fn main() {}
