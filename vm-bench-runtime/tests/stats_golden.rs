//! Statistics checked against values computed independently with numpy/scipy
//! (`tests/golden/gen_stats.py`, committed output `tests/golden/stats.json`).

use serde::Deserialize;
use vm_bench_runtime::__internal::stats;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Outliers {
    low_severe: usize,
    low_mild: usize,
    high_mild: usize,
    high_severe: usize,
}

#[derive(Deserialize)]
struct QuantileCi {
    q: f64,
    l: usize,
    u: usize,
    lo: f64,
    hi: f64,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    data: Vec<f64>,
    mean: f64,
    median: f64,
    min: f64,
    max: f64,
    stddev: f64,
    mad: f64,
    p90: f64,
    p95: f64,
    p99: f64,
    outliers: Outliers,
    quantile_ci: Vec<QuantileCi>,
    mean_ci_bootstrap: Option<[f64; 2]>,
}

fn close(name: &str, what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol,
        "{name}: {what} = {got}, numpy/scipy say {want}"
    );
}

fn golden() -> Golden {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/stats.json"
    ))
    .expect("golden file");
    serde_json::from_str(&text).expect("golden JSON")
}

#[test]
fn summary_statistics_match_numpy() {
    for c in golden().cases {
        let s = stats::summarize(&c.data);
        let n = &c.name;
        assert_eq!(s.n, c.data.len());
        close(n, "mean", s.mean, c.mean);
        close(n, "median", s.median, c.median);
        close(n, "min", s.min, c.min);
        close(n, "max", s.max, c.max);
        close(n, "stddev", s.stddev, c.stddev);
        close(n, "mad", s.mad, c.mad);
        close(n, "p90", s.p90, c.p90);
        close(n, "p95", s.p95, c.p95);
        close(n, "p99", s.p99, c.p99);
        let o = s.outliers;
        assert_eq!(
            (o.low_severe, o.low_mild, o.high_mild, o.high_severe),
            (
                c.outliers.low_severe,
                c.outliers.low_mild,
                c.outliers.high_mild,
                c.outliers.high_severe
            ),
            "{n}: Tukey outliers"
        );
    }
}

#[test]
fn order_statistic_intervals_match_scipy_binomial() {
    for c in golden().cases {
        let sorted = stats::sorted(&c.data);
        for q in &c.quantile_ci {
            let (lo, hi, l, u) = stats::quantile_ci_sorted(&sorted, q.q, 0.95);
            assert_eq!((l, u), (q.l, q.u), "{}: ranks of q={}", c.name, q.q);
            close(&c.name, "ci lo", lo, q.lo);
            close(&c.name, "ci hi", hi, q.hi);
        }
    }
}

/// The bootstrap uses its own generator, so agreement is statistical: each end within 10 %
/// of the interval width of scipy's 20000-resample percentile interval.
#[test]
fn bootstrap_mean_interval_agrees_with_scipy() {
    for c in golden().cases {
        let Some([lo, hi]) = c.mean_ci_bootstrap else {
            continue;
        };
        if c.data.len() < 10 {
            continue;
        }
        let (glo, ghi) = stats::bootstrap_mean_ci(&c.data, 0.95, 2000);
        let tol = 0.10 * (hi - lo);
        assert!(
            (glo - lo).abs() <= tol && (ghi - hi).abs() <= tol,
            "{}: bootstrap [{glo}, {ghi}] vs scipy [{lo}, {hi}]",
            c.name
        );
    }
}
