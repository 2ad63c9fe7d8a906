//! Every report format against golden files for one fixed input: report.json, report.csv,
//! report.md, report.html, the Bencher Metric Format and github-action-benchmark exports,
//! and the suite-wide charts (KPI budget, baseline vs current, trend). Regenerate after an
//! intended format change with `VM_BENCH_BLESS=1 cargo test -p vm-bench-runtime --test
//! suite_report_golden` and review the diff.
//!
//! Independent checks beside the goldens: the export values are recomputed from the input
//! here, and the exports are checked against the published formats' shapes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vm_bench_runtime::artifact::{Environment, Verdict};
use vm_bench_runtime::suite::baseline::{Baseline, CompareConfig, BASELINE_SCHEMA};
use vm_bench_runtime::suite::changepoint::ChangePointConfig;
use vm_bench_runtime::suite::history::{KpiPoint, RunSummary, HISTORY_SCHEMA};
use vm_bench_runtime::suite::{BenchRow, KpiRow, MetricRow, SuiteReport};
use vm_bench_runtime::targets::TargetOverrides;

fn environment() -> Environment {
    Environment {
        timestamp: "2026-11-29T01:00:00.000Z".into(),
        timestamp_unix_ms: 1_795_914_000_000,
        git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        git_dirty: Some(false),
        rustc_version: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
        target_triple: "x86_64-unknown-linux-gnu".into(),
        opt_level: "3".into(),
        profile: "release".into(),
        debug_assertions: false,
        bench_crate_optimized: Some(true),
        opt_probe_ns: Some(20.0),
        cpu_model: "Test CPU @ 3.00GHz".into(),
        logical_cores: 2,
        os: "linux 6.1.0 Debian GNU/Linux 12 (bookworm)".into(),
        hostname: "golden".into(),
    }
}

/// Deterministic samples around `median`.
fn samples(median: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| median * (1.0 + ((i * 37) % 11) as f64 / 100.0 - 0.05))
        .collect()
}

fn rows() -> Vec<BenchRow> {
    vec![
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
            median_ns: 249_000.0,
            median_ci: Some((248_500.0, 251_500.0)),
            kpis: vec![KpiRow {
                key: "max_us".into(),
                op: "<=".into(),
                bound: 500_000.0,
                unit: "ns/iter".into(),
                measured: Some(249_000.0),
                interval: Some((248_500.0, 251_500.0)),
                verdict: Verdict::Pass,
                margin_pct: Some(50.2),
            }],
            samples: samples(249_000.0, 12),
            ..BenchRow::empty()
        },
        BenchRow {
            name: "gc::bench_gc_throughput".into(),
            category: "GC".into(),
            outcome: "failed".into(),
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
            metrics: vec![MetricRow {
                name: "mutator_share".into(),
                value: 0.95,
                interval: Some((0.94, 0.96)),
            }],
            ..BenchRow::empty()
        },
        BenchRow {
            name: "gc::bench_gc_pause_time".into(),
            category: "GC".into(),
            outcome: "passed".into(),
            iterations: 40,
            total_ns: 40e6,
            mean_ns: 1e6,
            min_ns: 0.9e6,
            max_ns: 1.3e6,
            stddev_ns: 0.1e6,
            throughput: 1000.0,
            median_ns: 1e6,
            median_ci: Some((0.95e6, 1.05e6)),
            kpis: vec![KpiRow {
                key: "max_pause_ms".into(),
                op: "<".into(),
                bound: 100.0,
                unit: "".into(),
                measured: Some(12.5),
                interval: Some((12.5, 12.5)),
                verdict: Verdict::Pass,
                margin_pct: Some(87.5),
            }],
            metrics: vec![MetricRow {
                name: "max_pause_ms".into(),
                value: 12.5,
                interval: None,
            }],
            samples: samples(1e6, 10),
            ..BenchRow::empty()
        },
        BenchRow {
            name: "gc::bench_gc_mark_phase".into(),
            category: "GC".into(),
            outcome: "passed".into(),
            iterations: 3,
            total_ns: 3e6,
            mean_ns: 1e6,
            min_ns: 1e6,
            max_ns: 1e6,
            median_ns: 1e6,
            metrics: vec![MetricRow {
                name: "mark_ms_depth20".into(),
                value: 48.25,
                interval: Some((47.0, 49.5)),
            }],
            ..BenchRow::empty()
        },
    ]
}

/// The fixed input: overrides for a machine class and a baseline comparison.
fn input() -> SuiteReport {
    let mut r = SuiteReport::new("golden", Some(environment()), rows());
    // The workspace suite's category order (free-form categories; a suite lists its own).
    r.category_order = ["JIT", "AOT", "GC", "TLB", "CrossArch", "Scheduler"]
        .map(String::from)
        .to_vec();
    let o = TargetOverrides::parse(
        r#"{"machine_class": "ci-2core",
            "targets": [{"name": "bench_compilation_latency", "metric": "max_us",
                         "target_value": 400, "tolerance": 10}]}"#,
        Path::new("targets/ci.json"),
    )
    .unwrap();
    r.apply_targets(&o).unwrap();
    let mut benchmarks = BTreeMap::new();
    // 20 % slower before: the current run is an improvement.
    benchmarks.insert(
        "jit::bench_compilation_latency".to_string(),
        samples(300_000.0, 12),
    );
    // Same distribution: unchanged.
    benchmarks.insert("gc::bench_gc_pause_time".to_string(), samples(1e6, 10));
    benchmarks.insert("gc::bench_removed".to_string(), samples(5.0, 10));
    r.compare_baseline(
        &Baseline {
            schema: BASELINE_SCHEMA,
            name: "v1.0".into(),
            benchmarks,
        },
        &CompareConfig::default(),
    );
    r.analyze_history(&history(), &ChangePointConfig::default())
        .unwrap();
    r
}

fn history() -> Vec<RunSummary> {
    (0..4u128)
        .map(|i| RunSummary {
            schema: HISTORY_SCHEMA,
            id: format!("{:015}-c{i}", 1_795_900_000_000u128 + i * 1000),
            timestamp_unix_ms: 1_795_900_000_000 + i * 1000,
            timestamp: "2026-11-29T00:00:00.000Z".into(),
            git_commit: Some(format!("c{i}aaaaaaaaaa")),
            machine_class: None,
            passed: true,
            medians_ns: BTreeMap::new(),
            // The JIT benchmark's medians in these runs (ns/iter): a trend of five runs
            // with the current one.
            sample_medians: BTreeMap::from([(
                "jit::bench_compilation_latency".to_string(),
                200_000.0 + 50_000.0 * i as f64,
            )]),
            sample_units: BTreeMap::from([(
                "jit::bench_compilation_latency".to_string(),
                "ns/iter".to_string(),
            )]),
            kpis: vec![
                KpiPoint {
                    benchmark: "jit::bench_compilation_latency".into(),
                    metric: "max_us".into(),
                    op: "<=".into(),
                    bound: 500.0,
                    measured: Some(200.0 + 50.0 * i as f64),
                    unit: "us".into(),
                },
                KpiPoint {
                    benchmark: "gc::bench_gc_throughput".into(),
                    metric: "mutator_share".into(),
                    op: ">".into(),
                    bound: 0.99,
                    measured: if i == 2 {
                        None
                    } else {
                        Some(0.995 - 0.01 * i as f64)
                    },
                    unit: "".into(),
                },
            ],
        })
        .collect()
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
fn json_matches_golden_and_round_trips() {
    let r = input();
    check("report.json", &r.to_json());
    let back: SuiteReport = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(back, r);
}

/// The files of the report directory, as the pipeline renders them (the history with
/// this run).
fn files() -> BTreeMap<String, String> {
    let r = input();
    let runs = r.history_with_this_run(&history());
    vm_bench_runtime::suite::output::render_files(&r, &runs)
        .into_iter()
        .collect()
}

#[test]
fn markdown_matches_golden() {
    check("report.md", &files()["report.md"]);
}

#[test]
fn html_matches_golden() {
    check("report.html", &files()["report.html"]);
}

#[test]
fn charts_match_golden() {
    let files = files();
    let charts: Vec<&String> = files.keys().filter(|f| f.starts_with("charts/")).collect();
    assert_eq!(
        charts,
        [
            "charts/baseline.svg",
            "charts/gc.bench_gc_pause_time.svg",
            "charts/jit.bench_compilation_latency.svg",
            "charts/kpis.svg",
            "charts/trend/jit.bench_compilation_latency.svg"
        ]
    );
    for c in [
        "baseline.svg",
        "kpis.svg",
        "trend/jit.bench_compilation_latency.svg",
    ] {
        check(c, &files[&format!("charts/{c}")]);
    }
}

#[test]
fn overrides_are_recorded_and_change_the_verdict() {
    let r = input();
    assert_eq!(r.targets.file.as_deref(), Some("targets/ci.json"));
    assert_eq!(r.targets.machine_class.as_deref(), Some("ci-2core"));
    assert_eq!(r.targets.overridden.len(), 1);
    let jit = &r.target_checks[0];
    // Checks are in result (name) order: gc::bench_gc_pause_time, gc::bench_gc_throughput,
    // jit::bench_compilation_latency.
    let jit = r
        .target_checks
        .iter()
        .find(|c| c.target.metric == "max_us")
        .unwrap_or(jit);
    assert!(jit.overridden);
    assert_eq!(jit.effective_bound, 440.0);
    assert_eq!(jit.measured, Some(249.0));
    assert_eq!(jit.verdict, Verdict::Pass);
    // The failing GC target fails the run; the improvement does not.
    assert_eq!(
        r.failures(),
        ["gc::bench_gc_throughput.mutator_share: FAIL (target > 0.99000; measured 0.95000)"]
    );
}

#[test]
fn bencher_export_matches_golden_and_the_input() {
    let r = input();
    let text = vm_bench_runtime::suite::export::bencher_metric_format(&r);
    check("bencher.json", &text);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Shape: {benchmark: {measure: {value, lower_value?, upper_value?}}}.
    for (bench, measures) in v.as_object().unwrap() {
        for (measure, m) in measures.as_object().unwrap() {
            assert!(m["value"].is_number(), "{bench}.{measure}");
            assert!(
                measure.len() <= 64,
                "Bencher measure slugs are at most 64 chars"
            );
        }
    }
    let lat = &v["jit::bench_compilation_latency"]["latency"];
    assert_eq!(lat["value"], 249_000.0);
    assert_eq!(lat["lower_value"], 248_500.0);
    assert_eq!(lat["upper_value"], 251_500.0);
    assert_eq!(
        v["jit::bench_compilation_latency"]["throughput"]["value"],
        1e9 / 249_000.0
    );
    assert_eq!(v["gc::bench_gc_throughput"]["mutator_share"]["value"], 0.95);
    assert!(v["gc::bench_gc_throughput"].get("latency").is_none());
    assert_eq!(
        v["gc::bench_gc_mark_phase"]["mark_ms_depth20"]["upper_value"],
        49.5
    );
}

#[test]
fn github_action_benchmark_exports_match_golden_and_the_input() {
    use vm_bench_runtime::suite::export::{github_action_benchmark, Direction};
    let r = input();
    let smaller = github_action_benchmark(&r, Direction::Smaller);
    let bigger = github_action_benchmark(&r, Direction::Bigger);
    check("github-action-benchmark.json", &smaller);
    check("github-action-benchmark-bigger.json", &bigger);
    let s: Vec<serde_json::Value> = serde_json::from_str(&smaller).unwrap();
    let names: Vec<&str> = s.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "gc::bench_gc_mark_phase - median time",
            "gc::bench_gc_pause_time - median time",
            "gc::bench_gc_pause_time - max_pause_ms",
            "jit::bench_compilation_latency - median time",
        ]
    );
    for e in &s {
        assert!(e["value"].is_number() && e["unit"].is_string() && e["name"].is_string());
    }
    assert_eq!(s[3]["value"], 249_000.0);
    assert_eq!(s[3]["range"], "± 2500.0");
    let b: Vec<serde_json::Value> = serde_json::from_str(&bigger).unwrap();
    assert!(b
        .iter()
        .any(|e| e["name"] == "gc::bench_gc_throughput - mutator_share" && e["value"] == 0.95));
}

#[test]
fn write_report_writes_every_file_the_html_links() {
    let dir = std::env::temp_dir().join(format!("vmb-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = input();
    vm_bench_runtime::suite::output::write_report(&r, &history(), &dir, Vec::new()).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let mut linked = 0;
    for part in html.split(['"']) {
        if part.ends_with(".svg")
            || part.ends_with(".json")
            || part.ends_with(".csv")
            || part.ends_with(".md")
        {
            assert!(dir.join(part).is_file(), "report.html links missing {part}");
            linked += 1;
        }
    }
    assert!(linked >= 10, "{linked} links");
    let _ = std::fs::remove_dir_all(&dir);
}
