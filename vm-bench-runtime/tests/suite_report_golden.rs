//! report.json / report.csv / report.md against golden files for a fixed input.
//! Regenerate after an intended format change with `VM_BENCH_BLESS=1 cargo test -p
//! vm-bench-runtime --test suite_report_golden` and review the diff.

use std::path::PathBuf;

use vm_bench_runtime::artifact::Verdict;
use vm_bench_runtime::report::{BenchRow, KpiRow, SuiteReport};

fn input() -> SuiteReport {
    SuiteReport {
        environment: serde_json::json!({ "git_commit": "abc123", "cpu_model": "test cpu" }),
        target_overrides: Some("targets/ci.toml (class ci)".into()),
        results: vec![
            BenchRow {
                name: "jit::bench_compilation_latency".into(),
                category: "JIT".into(),
                outcome: "passed".into(),
                iterations: 1000,
                total_ns: 250_000_000.0,
                mean_ns: 250_000.0,
                min_ns: 240_000.5,
                max_ns: 301_000.0,
                stddev_ns: 9_500.25,
                throughput: 4000.0,
                kpis: vec![KpiRow {
                    key: "max_us".into(),
                    op: "<".into(),
                    bound: 500.0,
                    unit: "us".into(),
                    measured: Some(250.0),
                    interval: Some((248.5, 251.5)),
                    verdict: Verdict::Pass,
                    margin_pct: Some(50.0),
                }],
                samples: vec![],
            },
            BenchRow {
                name: "gc::bench_gc_throughput".into(),
                category: "GC".into(),
                outcome: "failed".into(),
                iterations: 0,
                total_ns: 0.0,
                mean_ns: 0.0,
                min_ns: 0.0,
                max_ns: 0.0,
                stddev_ns: 0.0,
                throughput: 0.0,
                kpis: vec![KpiRow {
                    key: "mutator_share".into(),
                    op: ">".into(),
                    bound: 0.99,
                    unit: "".into(),
                    measured: Some(0.95),
                    interval: Some((0.94, 0.96)),
                    verdict: Verdict::Fail,
                    margin_pct: Some(-4.04),
                }],
                samples: vec![],
            },
        ],
    }
}

fn check(file: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/golden")
        .join(file);
    if std::env::var_os("VM_BENCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got, want, "{} differs from the golden file", path.display());
}

#[test]
fn csv_matches_golden() {
    check("report.csv", &input().to_csv());
}

#[test]
fn json_matches_golden() {
    check("report.json", &input().to_json());
}

#[test]
fn markdown_matches_golden() {
    check("report.md", &input().to_markdown());
}

#[test]
fn write_all_writes_the_three_reports() {
    let dir = std::env::temp_dir().join(format!("vmb-report-{}", std::process::id()));
    input().write_all(&dir).unwrap();
    for f in ["report.json", "report.csv", "report.md"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
