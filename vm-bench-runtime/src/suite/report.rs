//! Suite reports: `report.json`, `report.csv`, `report.md`, `report.html`, charts and
//! interoperability exports, built from a flat [`BenchRow`] model so the same code serves
//! the in-process suite runner and the `vm-bench report` CLI (which reads the per-test
//! artifacts `cargo test` left).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, Environment, Verdict};
use crate::row::BenchRow;
use crate::suite::baseline::{
    compare_with_noise, Baseline, BaselineSection, Change, CompareConfig,
};
use crate::suite::changepoint::{ChangePointConfig, ChangePointError};
use crate::suite::chart::{self, Chart, ChartKind, TrendMark, TrendPoint};
use crate::suite::format::{
    chart_file_stem, csv_field, num, quantity, quantity_range, sig, target_text, time_unit,
};
use crate::suite::history::{self, KpiPoint, RunSummary, HISTORY_SCHEMA};
use crate::suite::trend::{self, HistorySection};
use crate::targets::{
    check_targets, declared_targets, TargetCheck, TargetOverrides, TargetSource, TargetsError,
};

/// Version of the `report.json` layout.
pub const REPORT_SCHEMA: u32 = 2;

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
    /// The order in which the Markdown and HTML reports list categories (a suite's
    /// configured categories); categories not listed follow in alphabetical order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category_order: Vec<String>,
    /// What the run history says per benchmark (change against the previous run, change
    /// points), when a history was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistorySection>,
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
            category_order: Vec::new(),
            history: None,
        }
    }

    /// A report of harness artifacts, with their recorded environment.
    pub fn from_artifacts(runner: &str, artifacts: &[Artifact]) -> Self {
        let rows = artifacts.iter().map(BenchRow::from_artifact).collect();
        SuiteReport::new(runner, environment_of(artifacts), rows)
    }

    /// Re-checks the results against an override file's targets and records it.
    ///
    /// Entries naming a benchmark that is not in this report (a filtered run) are skipped:
    /// the file was checked against every registered benchmark before the run
    /// (`suite::inputs::load_targets`); an entry naming an unknown KPI of a benchmark that
    /// is here is still an error.
    pub fn apply_targets(&mut self, overrides: &TargetOverrides) -> Result<(), TargetsError> {
        let declared = declared_targets(&self.results, 0.0);
        let mut in_run = overrides.clone();
        in_run.targets.retain(|t| {
            let one = TargetOverrides {
                targets: vec![t.clone()],
                ..overrides.clone()
            };
            !matches!(
                one.apply(&declared),
                Err(TargetsError::UnknownBenchmark { .. })
            )
        });
        let effective = in_run.apply(&declared)?;
        self.target_checks = check_targets(&self.results, &effective);
        self.targets = TargetSource::from_overrides(overrides, &declared, &effective);
        Ok(())
    }

    /// The history record of this report. Its id comes from the recorded measurement time, so building
    /// the report again from the same artifacts replaces the summary instead of adding one.
    pub fn summary(&self) -> RunSummary {
        let report = self;
        let (ms, ts, commit) = match &report.environment {
            Some(e) => (
                e.timestamp_unix_ms,
                e.timestamp.clone(),
                e.git_commit.clone(),
            ),
            None => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                (
                    now.as_millis(),
                    crate::env::rfc3339(now.as_secs(), now.subsec_millis()),
                    None,
                )
            }
        };
        let short: String = commit
            .as_deref()
            .unwrap_or("nocommit")
            .chars()
            .take(10)
            .collect();
        RunSummary {
            schema: HISTORY_SCHEMA,
            id: format!("{ms:015}-{short}"),
            timestamp_unix_ms: ms,
            timestamp: ts,
            git_commit: commit,
            machine_class: report.targets.machine_class.clone(),
            passed: report.passed(),
            medians_ns: report
                .results
                .iter()
                .filter(|r| r.median_ns > 0.0)
                .map(|r| (r.name.clone(), r.median_ns))
                .collect(),
            sample_medians: report
                .results
                .iter()
                .filter(|r| !r.samples.is_empty())
                .map(|r| {
                    let m = crate::stats::quantile_sorted(&crate::stats::sorted(&r.samples), 0.5);
                    (r.name.clone(), m)
                })
                .collect(),
            sample_units: report
                .results
                .iter()
                .filter(|r| !r.samples.is_empty())
                .map(|r| (r.name.clone(), r.samples_unit.clone()))
                .collect(),
            kpis: report
                .target_checks
                .iter()
                .map(|c| KpiPoint {
                    benchmark: c.target.name.clone(),
                    metric: c.target.metric.clone(),
                    op: c.target.op.clone(),
                    bound: c.effective_bound,
                    measured: c.measured,
                    unit: c.target.unit.clone(),
                })
                .collect(),
        }
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
        let noise = history::noise_by_benchmark(history, &self.summary().id);
        self.baseline = Some(BaselineSection {
            baseline: baseline.name.clone(),
            alpha: cfg.alpha,
            noise_pct: cfg.noise_pct,
            fail_pct: cfg.fail_pct,
            comparisons: compare_with_noise(baseline, &self.samples(), cfg, &noise),
        });
    }

    /// `history` (oldest first) with this run's summary in its place: a recorded run of
    /// the same id (built from the same artifacts) is replaced rather than counted twice.
    pub fn history_with_this_run(&self, history: &[RunSummary]) -> Vec<RunSummary> {
        let summary = self.summary();
        let mut runs: Vec<RunSummary> = history
            .iter()
            .filter(|r| r.id != summary.id)
            .cloned()
            .collect();
        runs.push(summary);
        runs.sort_by(|a, b| (a.timestamp_unix_ms, &a.id).cmp(&(b.timestamp_unix_ms, &b.id)));
        runs
    }

    /// Records what `history` (the stored runs; this run is added) says per benchmark:
    /// the change against the previous run and the change points
    /// ([`crate::suite::trend`]).
    pub fn analyze_history(
        &mut self,
        history: &[RunSummary],
        cfg: &ChangePointConfig,
    ) -> Result<(), ChangePointError> {
        let runs = self.history_with_this_run(history);
        self.history = Some(trend::analyze(&runs, &self.summary().id, cfg)?);
        Ok(())
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
                c.verdict,
                target_text(c),
                c.measured
                    .map(|m| quantity(m, &c.target.unit))
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
                        c.verdict
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

    /// Categories present, in [`SuiteReport::category_order`], then alphabetically.
    pub fn categories(&self) -> Vec<&str> {
        let mut cats: Vec<&str> = self.results.iter().map(|r| r.category.as_str()).collect();
        let rank = |c: &str| {
            self.category_order
                .iter()
                .position(|o| o == c)
                .unwrap_or(self.category_order.len())
        };
        cats.sort_by_key(|c| (rank(c), c.to_string()));
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
                            .map(|v| quantity(v, &c.target.unit))
                            .unwrap_or("-".into()),
                        c.interval
                            .map(|(lo, hi)| quantity_range(lo, hi, &c.target.unit))
                            .unwrap_or("-".into()),
                        c.verdict,
                        c.margin_pct
                            .map(|m| format!("{m:+.1}%"))
                            .unwrap_or("-".into()),
                    );
                }
                if !any {
                    let measured = if r.median_ns > 0.0 {
                        format!("median {}", quantity(r.median_ns, "ns/iter"))
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
                        .map(|v| quantity(v, unit))
                        .unwrap_or("-".into()),
                    c.current_median
                        .map(|v| quantity(v, unit))
                        .unwrap_or("-".into()),
                    c.change_pct
                        .map(|p| format!("{p:+.1}%"))
                        .unwrap_or("-".into()),
                    sig(c.noise_pct),
                    c.p_value.map(|p| format!("{p:.2e}")).unwrap_or("-".into()),
                    c.change,
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

    /// The suite-wide charts this report has data for: KPI budget and baseline vs
    /// current.
    pub fn charts(&self) -> Vec<Chart> {
        let mut out = Vec::new();
        if let Some(svg) = chart::kpi_budget_chart(&self.target_checks) {
            out.push(Chart {
                file: "charts/kpis.svg".into(),
                title: "Measured / target per KPI".into(),
                svg,
                kind: ChartKind::Suite,
            });
        }
        if let Some(svg) = self.baseline.as_ref().and_then(chart::baseline_chart) {
            out.push(Chart {
                file: "charts/baseline.svg".into(),
                title: "Baseline vs current (median change)".into(),
                svg,
                kind: ChartKind::Suite,
            });
        }
        out
    }

    /// Per benchmark (in result order): its trend over `history` (oldest first; at least
    /// two runs with it), with its bound and the change points of
    /// [`SuiteReport::history`], then its sample histogram with the bound.
    pub fn benchmark_charts(&self, history: &[RunSummary]) -> Vec<Chart> {
        let mut out = Vec::new();
        for r in &self.results {
            let stem = chart_file_stem(&r.name);
            let short = r.name.rsplit("::").next().unwrap_or(&r.name);
            let points: Vec<TrendPoint> = trend::series(history, &r.name)
                .into_iter()
                .map(|(run, value)| TrendPoint {
                    time_ms: run.timestamp_unix_ms,
                    label: run.label(),
                    value,
                })
                .collect();
            let unit = history
                .iter()
                .rev()
                .find(|run| {
                    run.sample_medians.contains_key(&r.name) || run.medians_ns.contains_key(&r.name)
                })
                .map(|run| trend::unit_of(run, &r.name))
                .unwrap_or_else(|| r.samples_unit.clone());
            let marks: Vec<TrendMark> = self
                .history
                .as_ref()
                .and_then(|h| h.benchmark(&r.name))
                .map(|b| {
                    b.change_points
                        .iter()
                        .filter_map(|c| {
                            let run = history.iter().find(|run| run.id == c.run.run_id)?;
                            Some(TrendMark {
                                time_ms: run.timestamp_unix_ms,
                                label: run.label(),
                                change_pct: c.change_pct,
                                p_value: c.p_value,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let bound = self.bound_in(&r.name, &unit);
            if let Some(svg) = chart::trend_small_multiple(
                short,
                &unit,
                &points,
                bound.as_ref().map(|(v, l)| (*v, l.as_str())),
                &marks,
            ) {
                out.push(Chart {
                    file: format!("charts/trend/{stem}.svg"),
                    title: format!("{} over the last {} runs", r.name, points.len()),
                    svg,
                    kind: ChartKind::Trend {
                        benchmark: r.name.clone(),
                    },
                });
            }
            let bound = self.bound_in(&r.name, &r.samples_unit);
            if let Some(svg) = chart::sample_histogram(
                &r.name,
                &r.samples,
                &r.samples_unit,
                bound.as_ref().map(|(v, l)| (*v, l.as_str())),
            ) {
                out.push(Chart {
                    file: format!("charts/{stem}.svg"),
                    title: format!("{} samples", r.name),
                    svg,
                    kind: ChartKind::Histogram {
                        benchmark: r.name.clone(),
                    },
                });
            }
        }
        out
    }

    /// The effective bound of benchmark `name`'s first KPI that can be drawn on values
    /// in `unit`, converted to `unit`, with a label (`<= 40.00 us/iter`): a time bound
    /// on times; on candidate/baseline ratios, an overhead bound (`1 + pct/100`) or a
    /// speedup bound (`1 / x`).
    pub fn bound_in(&self, name: &str, unit: &str) -> Option<(f64, String)> {
        self.checks_of(name).find_map(|c| {
            let b = c.effective_bound;
            let label = format!("{} {}", c.target.op, quantity(b, &c.target.unit));
            let v = match (time_unit(unit), time_unit(&c.target.unit)) {
                (Some((to, _)), Some((from, _))) => b * from / to,
                _ if unit == "ratio" && c.target.metric == "max_overhead_pct" => 1.0 + b / 100.0,
                _ if unit == "ratio" && c.target.metric == "min_speedup" && b > 0.0 => 1.0 / b,
                _ if unit == c.target.unit => b,
                _ => return None,
            };
            v.is_finite().then_some((v, label))
        })
    }
}

/// A benchmark's unbounded metrics as `name = value, ...` (`-` when none).
pub(crate) fn metrics_text(r: &BenchRow) -> String {
    if r.metrics.is_empty() {
        return "-".into();
    }
    r.metrics
        .iter()
        .map(|m| format!("{} = {}", m.name, sig(m.value)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::KpiRow;

    fn row(name: &str, bound: f64, measured: f64) -> BenchRow {
        BenchRow {
            name: name.into(),
            kpis: vec![KpiRow {
                key: "max_us".into(),
                op: "<=".into(),
                bound,
                unit: "ns/iter".into(),
                measured: Some(measured),
                interval: Some((measured, measured)),
                verdict: Verdict::Pass,
                margin_pct: None,
            }],
            ..BenchRow::empty()
        }
    }

    #[test]
    fn a_filtered_run_skips_override_entries_of_benchmarks_not_in_it() {
        let mut r = SuiteReport::new("t", None, vec![row("a::x", 1000.0, 900.0)]);
        let o = TargetOverrides::parse(
            r#"{"machine_class":"ci","targets":[
                {"name":"a::x","metric":"max_us","target_value":0.5},
                {"name":"b::filtered_out","metric":"max_us","target_value":9}]}"#,
            std::path::Path::new("t.json"),
        )
        .unwrap();
        r.apply_targets(&o).unwrap();
        assert_eq!(r.target_checks.len(), 1);
        assert_eq!(r.target_checks[0].verdict, Verdict::Fail);
        // An unknown KPI of a benchmark in the run is still an error.
        let bad = TargetOverrides::parse(
            r#"{"machine_class":"ci","targets":[{"name":"a::x","metric":"nope","tolerance":1}]}"#,
            std::path::Path::new("t.json"),
        )
        .unwrap();
        assert!(r.apply_targets(&bad).is_err());
    }

    #[test]
    fn categories_follow_the_configured_order_then_the_alphabet() {
        let mut rows = vec![
            row("a::x", 1.0, 1.0),
            row("b::y", 1.0, 1.0),
            row("c::z", 1.0, 1.0),
        ];
        rows[0].category = "parser".into();
        rows[1].category = "GC".into();
        rows[2].category = "JIT".into();
        let mut r = SuiteReport::new("t", None, rows);
        assert_eq!(r.categories(), ["GC", "JIT", "parser"]);
        r.category_order = vec!["JIT".into(), "GC".into()];
        assert_eq!(r.categories(), ["JIT", "GC", "parser"]);
    }
}
