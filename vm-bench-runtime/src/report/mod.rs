//! Suite reports: `report.json`, `report.csv`, `report.md`, `report.html`, charts and
//! interoperability exports, built from a flat [`BenchRow`] model so the same code serves
//! the in-process suite runner and the `vm-bench report` CLI (which reads the per-test
//! artifacts `cargo test` left).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, Environment, Verdict};
use crate::baseline::{compare_with_noise, Baseline, Change, CompareConfig, Comparison};
use crate::chart;
use crate::history::RunSummary;
use crate::targets::{
    check_targets, declared_targets, TargetCheck, TargetOverrides, TargetSource, TargetsError,
};

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
        }
    }

    /// Flattens a harness artifact. Compare-only benchmarks report their candidate side.
    pub fn from_artifact(a: &Artifact) -> BenchRow {
        let outcome = serde_json::to_value(a.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let mut row = BenchRow {
            name: a.identity.full_name.clone(),
            category: a
                .identity
                .category
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| "-".into()),
            outcome,
            enforced: a.enforced,
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

/// Version of the `report.json` layout.
pub const REPORT_SCHEMA: u32 = 2;

/// A baseline comparison included in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineSection {
    /// The baseline's name.
    pub baseline: String,
    /// Significance level used.
    pub alpha: f64,
    /// Noise threshold in percent.
    pub noise_pct: f64,
    /// Regressions beyond this percent fail the run.
    pub fail_pct: f64,
    /// One entry per benchmark on either side.
    pub comparisons: Vec<Comparison>,
}

/// The whole-suite report: what `report.json` holds and the other formats render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// [`REPORT_SCHEMA`].
    pub schema: u32,
    /// What built it (`performance_suite`, `vm-bench report`).
    pub runner: String,
    /// Machine and build of the measurements (from the artifacts, so a report built later
    /// from `cargo test` artifacts describes where they were measured, not where it was built).
    pub environment: Option<Environment>,
    /// Where the targets came from (declarations or an override file).
    pub targets: TargetSource,
    /// Every KPI target checked against the results.
    pub target_checks: Vec<TargetCheck>,
    /// Comparison against a saved baseline, when one was requested.
    pub baseline: Option<BaselineSection>,
    /// One row per benchmark, sorted by name.
    pub results: Vec<BenchRow>,
}

/// One chart of a report: file under `charts/`, its title, and the SVG text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name relative to the report directory (`charts/kpis.svg`).
    pub file: String,
    /// Human title.
    pub title: String,
    /// SVG document.
    pub svg: String,
}

/// Report rendering errors.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a report file failed.
    #[error("cannot write report file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, then rename,
/// so a reader never sees half a report.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A number with fixed precision (3 decimals).
pub fn num(v: f64) -> String {
    // Fixed precision so golden files are stable across platforms.
    format!("{v:.3}")
}

/// The upper-case word of a verdict.
pub fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Inconclusive => "INCONCLUSIVE",
        Verdict::Missing => "MISSING",
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The environment of a set of artifacts: that of the most recently written one.
pub fn environment_of(artifacts: &[Artifact]) -> Option<Environment> {
    artifacts
        .iter()
        .max_by_key(|a| a.environment.timestamp_unix_ms)
        .map(|a| a.environment.clone())
}

impl SuiteReport {
    /// A report of `results` (sorted here by name) against their declared targets.
    pub fn new(runner: &str, environment: Option<Environment>, results: Vec<BenchRow>) -> Self {
        let mut results = results;
        results.sort_by(|a, b| a.name.cmp(&b.name));
        let declared = declared_targets(&results, 0.0);
        SuiteReport {
            schema: REPORT_SCHEMA,
            runner: runner.to_string(),
            environment,
            targets: TargetSource::declared(),
            target_checks: check_targets(&results, &declared),
            baseline: None,
            results,
        }
    }

    /// A report of harness artifacts, with their recorded environment.
    pub fn from_artifacts(runner: &str, artifacts: &[Artifact]) -> Self {
        let rows = artifacts.iter().map(BenchRow::from_artifact).collect();
        SuiteReport::new(runner, environment_of(artifacts), rows)
    }

    /// Re-checks the results against an override file's targets and records it.
    pub fn apply_targets(&mut self, overrides: &TargetOverrides) -> Result<(), TargetsError> {
        let declared = declared_targets(&self.results, 0.0);
        let effective = overrides.apply(&declared)?;
        self.target_checks = check_targets(&self.results, &effective);
        self.targets = TargetSource::from_overrides(overrides, &declared, &effective);
        Ok(())
    }

    /// Raw per-iteration samples by benchmark name (what a baseline stores).
    pub fn samples(&self) -> BTreeMap<String, Vec<f64>> {
        self.results
            .iter()
            .filter(|r| !r.samples.is_empty())
            .map(|r| (r.name.clone(), r.samples.clone()))
            .collect()
    }

    /// Compares the results with `baseline` and records the comparison.
    pub fn compare_baseline(&mut self, baseline: &Baseline, cfg: &CompareConfig) {
        self.compare_baseline_with_history(baseline, cfg, &[]);
    }

    /// [`SuiteReport::compare_baseline`], with each benchmark's noise threshold raised to
    /// its run-to-run noise over the recorded `history` (this run left out).
    pub fn compare_baseline_with_history(
        &mut self,
        baseline: &Baseline,
        cfg: &CompareConfig,
        history: &[RunSummary],
    ) {
        let noise = crate::history::noise_by_benchmark(history, &RunSummary::of(self).id);
        self.baseline = Some(BaselineSection {
            baseline: baseline.name.clone(),
            alpha: cfg.alpha,
            noise_pct: cfg.noise_pct,
            fail_pct: cfg.fail_pct,
            comparisons: compare_with_noise(baseline, &self.samples(), cfg, &noise),
        });
    }

    /// Why this run fails, one line each; empty when it passes. A run fails on a panicked
    /// benchmark, an enforced target that is FAIL or MISSING, or a failing regression.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in self.results.iter().filter(|r| r.outcome == "panicked") {
            out.push(format!("{} panicked", r.name));
        }
        for c in self.target_checks.iter().filter(|c| !c.ok()) {
            out.push(format!(
                "{}.{}: {} (target {}; measured {})",
                c.target.name,
                c.target.metric,
                verdict_str(c.verdict),
                target_text(c),
                c.measured
                    .map(|m| with_unit(sig(m), &c.target.unit))
                    .unwrap_or("nothing".into())
            ));
        }
        if let Some(b) = &self.baseline {
            for c in b.comparisons.iter().filter(|c| c.fails) {
                out.push(format!(
                    "{}: regressed {:+.1}% against baseline {} (p = {:.2e})",
                    c.name,
                    c.change_pct.unwrap_or(f64::NAN),
                    b.baseline,
                    c.p_value.unwrap_or(f64::NAN)
                ));
            }
        }
        out
    }

    /// True when [`SuiteReport::failures`] is empty.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// `report.json`: the whole report, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report model is always serializable") + "\n"
    }

    /// `report.csv`: one row per benchmark, the spec's `BenchmarkResult` columns plus the
    /// median, the outcome and the target verdicts.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "name,category,outcome,iterations,total_us,avg_time_us,median_time_us,min_time_us,max_time_us,stddev_us,throughput_ops_per_sec,targets\n",
        );
        for r in &self.results {
            let targets: Vec<String> = self
                .checks_of(&r.name)
                .map(|c| {
                    format!(
                        "{} {} {}{}: {}",
                        c.target.metric,
                        c.target.op,
                        sig(c.target.target_value),
                        if c.target.unit.is_empty() {
                            String::new()
                        } else {
                            format!(" {}", c.target.unit)
                        },
                        verdict_str(c.verdict)
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&r.name),
                csv_field(&r.category),
                r.outcome,
                r.iterations,
                num(r.total_ns / 1e3),
                num(r.mean_ns / 1e3),
                num(r.median_ns / 1e3),
                num(r.min_ns / 1e3),
                num(r.max_ns / 1e3),
                num(r.stddev_ns / 1e3),
                num(r.throughput),
                csv_field(&targets.join("; "))
            );
        }
        s
    }

    /// The unit of a benchmark's samples (`ns/iter`, `ratio`); empty when not in the run.
    pub fn samples_unit_of(&self, name: &str) -> &str {
        self.results
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.samples_unit.as_str())
            .unwrap_or("")
    }

    fn checks_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a TargetCheck> + 'a {
        self.target_checks
            .iter()
            .filter(move |c| c.target.name == name)
    }

    /// Categories present, in the spec's order.
    pub fn categories(&self) -> Vec<&str> {
        let mut cats: Vec<&str> = self.results.iter().map(|r| r.category.as_str()).collect();
        cats.sort_by_key(|c| (category_rank(c), c.to_string()));
        cats.dedup();
        cats
    }

    /// One line: verdict, counts of benchmarks and target verdicts.
    pub fn headline(&self) -> String {
        let count = |v| self.target_checks.iter().filter(|c| c.verdict == v).count();
        let regressions = self
            .baseline
            .as_ref()
            .map(|b| {
                let n = b
                    .comparisons
                    .iter()
                    .filter(|c| c.change == Change::Regressed)
                    .count();
                format!("; {n} regression(s) against baseline {}", b.baseline)
            })
            .unwrap_or_default();
        format!(
            "{}: {} benchmarks; {} targets: {} PASS, {} FAIL, {} INCONCLUSIVE, {} MISSING{regressions}",
            if self.passed() { "PASS" } else { "FAIL" },
            self.results.len(),
            self.target_checks.len(),
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Inconclusive),
            count(Verdict::Missing),
        )
    }

    /// The environment as `(label, value)` pairs for the Markdown and HTML reports.
    pub fn environment_lines(&self) -> Vec<(&'static str, String)> {
        let Some(e) = &self.environment else {
            return vec![("environment", "not recorded".into())];
        };
        let commit = match (&e.git_commit, e.git_dirty) {
            (Some(c), Some(true)) => format!("{c} (uncommitted changes)"),
            (Some(c), _) => c.clone(),
            (None, _) => "unknown".into(),
        };
        vec![
            (
                "CPU",
                format!("{} ({} logical cores)", e.cpu_model, e.logical_cores),
            ),
            ("OS", e.os.clone()),
            ("rustc", e.rustc_version.clone()),
            (
                "build",
                format!(
                    "opt-level {}, profile {}, {}",
                    e.opt_level, e.profile, e.target_triple
                ),
            ),
            ("git commit", commit),
            ("measured", e.timestamp.clone()),
        ]
    }

    /// `report.md`: verdict, environment, per-category target tables (KPI, target with
    /// tolerance, measured, interval, verdict, margin, chart link), the baseline comparison,
    /// and links to `charts`.
    pub fn to_markdown(&self, charts: &[Chart]) -> String {
        let mut s = String::from("# Performance report\n\n");
        let _ = writeln!(s, "**{}**\n", self.headline());
        for (k, v) in self.environment_lines() {
            let _ = writeln!(s, "- {k}: {v}");
        }
        let _ = writeln!(s, "- targets: {}\n", self.targets.describe());
        for cat in self.categories() {
            let _ = writeln!(s, "## {cat}\n");
            s.push_str(
                "| Benchmark | KPI | Target | Measured | Interval | Verdict | Margin | Chart |\n",
            );
            s.push_str("|---|---|---|---|---|---|---|---|\n");
            for r in self.results.iter().filter(|r| r.category == cat) {
                let short = r.name.rsplit("::").next().unwrap_or(&r.name);
                let chart = if r.samples.is_empty() {
                    "-".to_string()
                } else {
                    format!("[samples](charts/{}.svg)", chart_file_stem(&r.name))
                };
                let mut any = false;
                for c in self.checks_of(&r.name) {
                    any = true;
                    let _ = writeln!(
                        s,
                        "| {short} | {} | {} | {} | {} | {} | {} | {chart} |",
                        c.target.metric,
                        target_text(c),
                        c.measured
                            .map(|v| with_unit(sig(v), &c.target.unit))
                            .unwrap_or("-".into()),
                        c.interval
                            .map(|(lo, hi)| format!("[{}, {}]", sig(lo), sig(hi)))
                            .unwrap_or("-".into()),
                        verdict_str(c.verdict),
                        c.margin_pct
                            .map(|m| format!("{m:+.1}%"))
                            .unwrap_or("-".into()),
                    );
                }
                if !any {
                    let measured = if r.median_ns > 0.0 {
                        format!("median {}", with_unit(sig(r.median_ns), "ns/iter"))
                    } else {
                        "-".into()
                    };
                    let _ = writeln!(
                        s,
                        "| {short} | {} | - | {measured} | - | {} | - | {chart} |",
                        metrics_text(r),
                        r.outcome
                    );
                }
            }
            s.push('\n');
        }
        if let Some(b) = &self.baseline {
            let _ = writeln!(
                s,
                "## Baseline comparison ({})\n\nMann-Whitney U, alpha {}, noise threshold {}% (raised per benchmark to its run-to-run noise in the history), fail above {}%.\n",
                b.baseline, b.alpha, b.noise_pct, b.fail_pct
            );
            s.push_str(
                "| Benchmark | Baseline median | Current median | Change | Noise | p-value | Result |\n",
            );
            s.push_str("|---|---|---|---|---|---|---|\n");
            for c in &b.comparisons {
                let unit = self.samples_unit_of(&c.name);
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | ±{}% | {} | {}{} |",
                    c.name,
                    c.baseline_median
                        .map(|v| with_unit(sig(v), unit))
                        .unwrap_or("-".into()),
                    c.current_median
                        .map(|v| with_unit(sig(v), unit))
                        .unwrap_or("-".into()),
                    c.change_pct
                        .map(|p| format!("{p:+.1}%"))
                        .unwrap_or("-".into()),
                    sig(c.noise_pct),
                    c.p_value.map(|p| format!("{p:.2e}")).unwrap_or("-".into()),
                    change_str(c.change),
                    if c.fails { " (fails)" } else { "" }
                );
            }
            s.push('\n');
        }
        if !charts.is_empty() {
            s.push_str("## Charts\n\n");
            for c in charts {
                let _ = writeln!(s, "- [{}]({})", c.title, c.file);
            }
            s.push('\n');
        }
        s
    }

    /// The suite-wide charts this report has data for: KPI budget, baseline vs current,
    /// and the trend over `history` (at least two runs), then one sample histogram per
    /// benchmark with samples.
    pub fn charts(&self, history: &[RunSummary]) -> Vec<Chart> {
        let mut out = Vec::new();
        if let Some(svg) = chart::kpi_budget_chart(&self.target_checks) {
            out.push(Chart {
                file: "charts/kpis.svg".into(),
                title: "Measured / target per KPI".into(),
                svg,
            });
        }
        if let Some(svg) = self.baseline.as_ref().and_then(chart::baseline_chart) {
            out.push(Chart {
                file: "charts/baseline.svg".into(),
                title: "Baseline vs current (median change)".into(),
                svg,
            });
        }
        if let Some(svg) = chart::trend_chart(history) {
            out.push(Chart {
                file: "charts/trend.svg".into(),
                title: format!("Trend over the last {} runs", history.len()),
                svg,
            });
        }
        out
    }

    /// Writes `report.json`, `report.csv`, `report.md`, `report.html`, the exports
    /// (`bencher.json`, `github-action-benchmark.json`, `github-action-benchmark-bigger.json`)
    /// and the charts into `dir`; `history` feeds the trend chart.
    pub fn write_all(&self, dir: &Path, history: &[RunSummary]) -> Result<(), ReportError> {
        let charts = self.charts(history);
        for c in &charts {
            write_atomic_report(&dir.join(&c.file), c.svg.as_bytes())?;
        }
        // One distribution chart per benchmark with samples; reports link only those.
        for r in &self.results {
            if let Some(svg) = crate::chart::sample_histogram(&r.name, &r.samples, &r.samples_unit)
            {
                let path = dir
                    .join("charts")
                    .join(format!("{}.svg", chart_file_stem(&r.name)));
                write_atomic_report(&path, svg.as_bytes())?;
            }
        }
        for (file, text) in [
            ("report.json", self.to_json()),
            ("report.csv", self.to_csv()),
            ("report.md", self.to_markdown(&charts)),
            ("report.html", crate::html::render(self, &charts)),
            ("bencher.json", crate::export::bencher_metric_format(self)),
            (
                "github-action-benchmark.json",
                crate::export::github_action_benchmark(self, crate::export::Direction::Smaller),
            ),
            (
                "github-action-benchmark-bigger.json",
                crate::export::github_action_benchmark(self, crate::export::Direction::Bigger),
            ),
        ] {
            write_atomic_report(&dir.join(file), text.as_bytes())?;
        }
        Ok(())
    }
}

/// A KPI value with significant digits kept (`0.00541`, `6.314`, `1.2346e6`), for tables.
pub fn sig(v: f64) -> String {
    crate::verdict::fmt_num(v)
}

/// `< 500 us ±10% (override)` for a check.
pub fn target_text(c: &TargetCheck) -> String {
    let mut s = with_unit(
        format!("{} {}", c.target.op, sig(c.target.target_value)),
        &c.target.unit,
    );
    if c.target.tolerance > 0.0 {
        let _ = write!(s, " ±{}%", c.target.tolerance);
    }
    if c.overridden {
        s.push_str(" (override)");
    }
    s
}

/// A benchmark's unbounded metrics as `name = value, ...` (`-` when none).
pub fn metrics_text(r: &BenchRow) -> String {
    if r.metrics.is_empty() {
        return "-".into();
    }
    r.metrics
        .iter()
        .map(|m| format!("{} = {}", m.name, sig(m.value)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn with_unit(v: String, unit: &str) -> String {
    if unit.is_empty() {
        v
    } else {
        format!("{v} {unit}")
    }
}

/// The word for a baseline classification.
pub fn change_str(c: Change) -> &'static str {
    match c {
        Change::Improved => "improved",
        Change::Regressed => "regressed",
        Change::Unchanged => "unchanged",
        Change::NotComparable => "not comparable",
    }
}

fn write_atomic_report(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomic(path, bytes).map_err(|source| ReportError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Position of a category in the spec's order (unknown last).
pub fn category_rank(c: &str) -> usize {
    ["JIT", "AOT", "GC", "TLB", "CrossArch", "Scheduler"]
        .iter()
        .position(|x| *x == c)
        .unwrap_or(6)
}

/// A file-name-safe stem for a benchmark's chart.
pub fn chart_file_stem(name: &str) -> String {
    name.replace("::", ".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_are_quoted() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("a\"b,"), "\"a\"\"b,\"");
        assert_eq!(csv_field("ab"), "ab");
    }

    #[test]
    fn chart_stems_are_safe() {
        assert_eq!(chart_file_stem("jit::bench_x"), "jit.bench_x");
        assert_eq!(chart_file_stem("a/b c"), "a_b_c");
    }
}
