//! One benchmark's result flattened from its artifact ([`BenchRow`]): what target checks
//! ([`crate::targets`]) and the suite reports compare and render. It sits in the
//! measurement core, below both, because checking a target needs nothing else.

use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, Verdict};

/// One KPI line of a benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiRow {
    /// The KPI key (`max_us`, `hit_rate`, `max_overhead_pct`).
    pub key: String,
    /// Comparison operator (`<`, `>=`).
    pub op: String,
    /// The bound.
    pub bound: f64,
    /// Unit of bound and measured value.
    pub unit: String,
    /// Point estimate, if measured.
    pub measured: Option<f64>,
    /// Confidence interval, if measured.
    pub interval: Option<(f64, f64)>,
    /// Verdict.
    pub verdict: Verdict,
    /// Distance to the bound in percent of the bound (positive = headroom).
    pub margin_pct: Option<f64>,
}

/// One benchmark, flattened for reporting (the spec's `BenchmarkResult` plus KPIs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// `module::path::name`.
    pub name: String,
    /// Category spelling, `-` when undeclared.
    pub category: String,
    /// Outcome spelling (`passed`, `failed`, ...).
    pub outcome: String,
    /// Timed iterations.
    pub iterations: u64,
    /// Total timed nanoseconds.
    pub total_ns: f64,
    /// Mean ns per iteration.
    pub mean_ns: f64,
    /// Min ns per iteration (per sample).
    pub min_ns: f64,
    /// Max ns per iteration (per sample).
    pub max_ns: f64,
    /// Standard deviation ns per iteration.
    pub stddev_ns: f64,
    /// Operations per second.
    pub throughput: f64,
    /// Median ns per iteration (the default checked statistic).
    #[serde(default)]
    pub median_ns: f64,
    /// 95 % interval of the median (ns), when measured.
    #[serde(default)]
    pub median_ci: Option<(f64, f64)>,
    /// Whether the run enforced KPIs (false in report/smoke mode or an unoptimized build).
    #[serde(default = "enforced_default")]
    pub enforced: bool,
    /// KPI lines.
    pub kpis: Vec<KpiRow>,
    /// Custom metrics reported with `b.metric` (mean value and its interval).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricRow>,
    /// Raw samples for baselines and charts (not written to CSV): per-iteration ns, or for a
    /// `b.compare` benchmark the per-pair ratio candidate/baseline, which is what its KPI
    /// constrains and which interleaving keeps stable when the machine's load changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
    /// Unit of `samples`: `ns/iter` or `ratio`.
    #[serde(default = "samples_unit_default")]
    pub samples_unit: String,
    /// The artifact's flame graph SVG, relative to the artifact's directory (the
    /// artifact's `flamegraph` field), when one was drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flamegraph: Option<String>,
}

fn samples_unit_default() -> String {
    "ns/iter".into()
}

fn enforced_default() -> bool {
    true
}

/// A custom metric of a benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Name passed to `b.metric`.
    pub name: String,
    /// Mean of the reported values.
    pub value: f64,
    /// Its 95 % interval.
    pub interval: Option<(f64, f64)>,
}

impl BenchRow {
    /// A row with a name only and every number zero; a base for building rows by hand.
    pub fn empty() -> BenchRow {
        BenchRow {
            name: String::new(),
            category: "-".into(),
            outcome: "passed".into(),
            iterations: 0,
            total_ns: 0.0,
            mean_ns: 0.0,
            min_ns: 0.0,
            max_ns: 0.0,
            stddev_ns: 0.0,
            throughput: 0.0,
            median_ns: 0.0,
            median_ci: None,
            enforced: true,
            kpis: Vec::new(),
            metrics: Vec::new(),
            samples: Vec::new(),
            samples_unit: samples_unit_default(),
            flamegraph: None,
        }
    }

    /// Flattens a harness artifact. Compare-only benchmarks report their candidate side.
    pub fn from_artifact(a: &Artifact) -> BenchRow {
        let mut row = BenchRow {
            name: a.identity.full_name.clone(),
            category: a.identity.category.clone().unwrap_or_else(|| "-".into()),
            outcome: a.outcome.to_string(),
            enforced: a.enforced,
            flamegraph: a.flamegraph.clone(),
            metrics: a
                .metrics
                .iter()
                .map(|m| MetricRow {
                    name: m.name.clone(),
                    value: m.value,
                    interval: Some((m.interval.lo, m.interval.hi))
                        .filter(|(lo, hi)| lo.is_finite() && hi.is_finite()),
                })
                .collect(),
            kpis: a
                .kpis
                .iter()
                .map(|k| KpiRow {
                    key: k.key.clone(),
                    op: k.op.as_str().to_string(),
                    bound: k.bound,
                    unit: k.unit.clone(),
                    measured: k.measured,
                    interval: k.interval.as_ref().map(|i| (i.lo, i.hi)),
                    verdict: k.verdict,
                    margin_pct: k.margin_pct,
                })
                .collect(),
            ..BenchRow::empty()
        };
        if let Some(t) = &a.timing {
            row.iterations = t.total_iterations;
            row.total_ns = t.total_ns;
            row.mean_ns = t.kept.mean;
            row.min_ns = t.kept.min;
            row.max_ns = t.kept.max;
            row.stddev_ns = t.kept.stddev;
            row.throughput = t.throughput_ops_per_sec;
            row.median_ns = t.kept.median;
            row.median_ci = Some((t.kept.median_ci.lo, t.kept.median_ci.hi));
            row.samples = t.samples.iter().map(|s| s.per_iter_ns).collect();
        } else if let Some(c) = &a.compare {
            row.iterations = c.candidate_iterations;
            row.mean_ns = c.candidate.mean;
            row.min_ns = c.candidate.min;
            row.max_ns = c.candidate.max;
            row.stddev_ns = c.candidate.stddev;
            row.median_ns = c.candidate.median;
            row.median_ci = Some((c.candidate.median_ci.lo, c.candidate.median_ci.hi));
            row.total_ns = c.candidate.mean * c.candidate_iterations as f64;
            row.throughput = if c.candidate.mean > 0.0 {
                1e9 / c.candidate.mean
            } else {
                0.0
            };
            row.samples = c
                .raw_pairs
                .iter()
                .filter(|p| p.0 > 0.0)
                .map(|p| p.1 / p.0)
                .collect();
            row.samples_unit = "ratio".into();
        }
        row
    }

    /// True when no KPI failed or went missing and the body did not panic.
    pub fn passed(&self) -> bool {
        !matches!(self.outcome.as_str(), "failed" | "panicked")
    }
}
