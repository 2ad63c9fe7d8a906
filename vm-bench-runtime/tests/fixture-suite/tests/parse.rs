//! Parser benchmarks: plain `#[test]`s that `cargo test` runs with KPI checks, and that
//! `cargo bench --bench suite` measures and reports.

use vm_bench_runtime::{perf_target, Bench};

#[perf_target(max_ms = 20, category = "parser", warmup_ms = 5, measure_ms = 40)]
#[test]
fn bench_parse_1000(b: &mut Bench) {
    let text = csv_numbers::format_numbers(&csv_numbers::sample(1000));
    b.iter(|| csv_numbers::parse_numbers(&text).expect("valid input"));
}

#[perf_target(
    min_ops_per_sec = 1000,
    category = "parser",
    metrics(fields_per_kib > 10),
    warmup_ms = 5,
    measure_ms = 40
)]
#[test]
fn bench_parse_throughput(b: &mut Bench) {
    let text = csv_numbers::format_numbers(&csv_numbers::sample(100));
    b.metric("fields_per_kib", 100.0 * 1024.0 / text.len() as f64);
    b.iter(|| csv_numbers::parse_numbers(&text).expect("valid input"));
}
