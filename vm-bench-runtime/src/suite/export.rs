//! Exports for continuous-benchmarking services, so results can be tracked across many
//! machines by existing tools:
//!
//! - **Bencher Metric Format** (`bencher.json`, for `bencher run --adapter json`): per
//!   benchmark, the built-in `latency` measure (median ns per iteration with its 95 %
//!   interval as `lower_value`/`upper_value`), `throughput` (ops/s), and one measure per
//!   custom metric (its mean and interval) and per relative KPI.
//! - **github-action-benchmark** `customSmallerIsBetter` (`github-action-benchmark.json`):
//!   `[{name, unit, value, range, extra}]` for every quantity where smaller is better
//!   (median time, metrics and relative KPIs with an upper bound); the bigger-is-better
//!   quantities (metrics with a lower bound, throughput) go to
//!   `github-action-benchmark-bigger.json` for `customBiggerIsBetter`.
//!
//! Metrics without a declared bound have no known direction and are exported to Bencher
//! only (a Bencher measure carries no direction).

use serde_json::{json, Map, Value};

use crate::suite::format::target_text;
use crate::suite::report::SuiteReport;

/// Which github-action-benchmark tool a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `customSmallerIsBetter`.
    Smaller,
    /// `customBiggerIsBetter`.
    Bigger,
}

fn metric_value(value: f64, interval: Option<(f64, f64)>) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), json!(value));
    if let Some((lo, hi)) = interval.filter(|(lo, hi)| lo.is_finite() && hi.is_finite()) {
        m.insert("lower_value".into(), json!(lo));
        m.insert("upper_value".into(), json!(hi));
    }
    Value::Object(m)
}

/// Time bounds (`max_us` ...): exported as the median time, not as a separate quantity.
fn is_time(key: &str) -> bool {
    matches!(key, "max_ns" | "max_us" | "max_ms" | "min_ops_per_sec")
}

/// Relative KPIs are measured by `b.compare`; their value is in the KPI rows only.
fn is_relative(key: &str) -> bool {
    matches!(
        key,
        "max_overhead_pct" | "min_speedup" | "max_overhead_ns" | "min_gain_pct"
    )
}

/// `bencher.json`: Bencher Metric Format.
pub fn bencher_metric_format(report: &SuiteReport) -> String {
    let mut root = Map::new();
    for r in &report.results {
        let mut measures = Map::new();
        if r.median_ns > 0.0 {
            measures.insert("latency".into(), metric_value(r.median_ns, r.median_ci));
            measures.insert("throughput".into(), metric_value(1e9 / r.median_ns, None));
        }
        for m in &r.metrics {
            measures.insert(m.name.clone(), metric_value(m.value, m.interval));
        }
        for k in r.kpis.iter().filter(|k| is_relative(&k.key)) {
            if let Some(v) = k.measured {
                measures.insert(k.key.clone(), metric_value(v, k.interval));
            }
        }
        if !measures.is_empty() {
            root.insert(r.name.clone(), Value::Object(measures));
        }
    }
    serde_json::to_string_pretty(&Value::Object(root)).expect("json values serialize") + "\n"
}

fn range(interval: Option<(f64, f64)>, value: f64) -> Option<String> {
    let (lo, hi) = interval?;
    let half = (value - lo).abs().max((hi - value).abs());
    half.is_finite()
        .then(|| format!("± {}", crate::verdict::fmt_num(half)))
}

fn entry(
    name: String,
    unit: &str,
    value: f64,
    interval: Option<(f64, f64)>,
    extra: String,
) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("unit".into(), json!(unit));
    m.insert("value".into(), json!(value));
    if let Some(r) = range(interval, value) {
        m.insert("range".into(), json!(r));
    }
    m.insert("extra".into(), json!(extra));
    Value::Object(m)
}

/// `github-action-benchmark.json` (smaller is better) or the bigger-is-better file.
pub fn github_action_benchmark(report: &SuiteReport, dir: Direction) -> String {
    let mut out = Vec::new();
    for r in &report.results {
        let checks: Vec<_> = report
            .target_checks
            .iter()
            .filter(|c| c.target.name == r.name)
            .collect();
        let extra_of = |metric: &str| {
            checks
                .iter()
                .find(|c| c.target.metric == metric)
                .map(|c| format!("{} {}: {}", metric, target_text(c), c.verdict))
                .unwrap_or_default()
        };
        if r.median_ns > 0.0 {
            match dir {
                Direction::Smaller => {
                    let extra = r
                        .kpis
                        .iter()
                        .filter(|k| is_time(&k.key))
                        .map(|k| extra_of(&k.key))
                        .collect::<Vec<_>>()
                        .join("; ");
                    out.push(entry(
                        format!("{} - median time", r.name),
                        "ns/iter",
                        r.median_ns,
                        r.median_ci,
                        extra,
                    ));
                }
                Direction::Bigger => out.push(entry(
                    format!("{} - throughput", r.name),
                    "ops/s",
                    1e9 / r.median_ns,
                    r.median_ci.map(|(lo, hi)| (1e9 / hi, 1e9 / lo)),
                    extra_of("min_ops_per_sec"),
                )),
            }
        }
        // Custom metrics and relative KPIs whose declared bound gives the direction.
        for k in &r.kpis {
            let upper = k.op.starts_with('<');
            if (dir == Direction::Smaller) != upper || is_time(&k.key) {
                continue;
            }
            let (value, interval) = match r.metrics.iter().find(|m| m.name == k.key) {
                Some(m) => (m.value, m.interval),
                None => match k.measured {
                    Some(v) => (v, k.interval),
                    None => continue,
                },
            };
            out.push(entry(
                format!("{} - {}", r.name, k.key),
                &k.unit,
                value,
                interval,
                extra_of(&k.key),
            ));
        }
    }
    serde_json::to_string_pretty(&Value::Array(out)).expect("json values serialize") + "\n"
}
