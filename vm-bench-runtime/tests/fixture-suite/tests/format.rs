//! Formatter benchmark, in a second file and a second category: the suite compiles every
//! `tests/*.rs` holding a `#[perf_target]`.

use vm_bench_runtime::{perf_target, Bench};

#[perf_target(max_ms = 20, category = "formatter", warmup_ms = 5, measure_ms = 40)]
#[test]
fn bench_format_1000(b: &mut Bench) {
    let xs = csv_numbers::sample(1000);
    b.iter(|| csv_numbers::format_numbers(&xs));
}
