// A category is any non-empty string: a crate that benchmarks a parser says so.
use vm_bench_runtime::{perf_target, Bench};

#[perf_target(max_us = 5, category = "parser")]
#[test]
fn bench_parse(b: &mut Bench) {
    b.iter(|| 1 + 1);
}

fn main() {}
