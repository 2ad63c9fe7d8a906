use vm_bench_runtime::{perf_target, Bench};

// The bare flag, anywhere in the list, with or without a trailing comma.
#[perf_target(flamegraph, max_us = 5)]
#[test]
fn first(b: &mut Bench) {
    b.iter(|| 1);
}

#[perf_target(max_us = 5, category = "parser", flamegraph,)]
#[test]
fn last() {}

fn main() {}
