//! Suite reports: `report.json`, `report.csv`, `report.md`, built from a flat
//! [`BenchRow`] model so the same code serves the in-process suite runner and the
//! `vm-bench report` CLI (which reads the per-test artifacts `cargo test` left).

use std::fmt::Write as _;
use std::path::Path;

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
    /// KPI lines.
    pub kpis: Vec<KpiRow>,
    /// Raw per-iteration samples (ns); for baselines and charts, not written to CSV.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
}

impl BenchRow {
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
            iterations: 0,
            total_ns: 0.0,
            mean_ns: 0.0,
            min_ns: 0.0,
            max_ns: 0.0,
            stddev_ns: 0.0,
            throughput: 0.0,
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
            samples: Vec::new(),
        };
        if let Some(t) = &a.timing {
            row.iterations = t.total_iterations;
            row.total_ns = t.total_ns;
            row.mean_ns = t.kept.mean;
            row.min_ns = t.kept.min;
            row.max_ns = t.kept.max;
            row.stddev_ns = t.kept.stddev;
            row.throughput = t.throughput_ops_per_sec;
            row.samples = t.samples.iter().map(|s| s.per_iter_ns).collect();
        } else if let Some(c) = &a.compare {
            row.iterations = c.candidate_iterations;
            row.mean_ns = c.candidate.mean;
            row.min_ns = c.candidate.min;
            row.max_ns = c.candidate.max;
            row.stddev_ns = c.candidate.stddev;
            row.total_ns = c.candidate.mean * c.candidate_iterations as f64;
            row.throughput = if c.candidate.mean > 0.0 {
                1e9 / c.candidate.mean
            } else {
                0.0
            };
            row.samples = c.raw_pairs.iter().map(|p| p.1).collect();
        }
        row
    }

    /// True when no KPI failed or went missing and the body did not panic.
    pub fn passed(&self) -> bool {
        !matches!(self.outcome.as_str(), "failed" | "panicked")
    }
}

/// Whole-suite report input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// Free-form environment description (commit, machine, rustc).
    pub environment: serde_json::Value,
    /// Target overrides applied, if any (file and machine class).
    pub target_overrides: Option<String>,
    /// One row per benchmark, sorted by name.
    pub results: Vec<BenchRow>,
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

fn num(v: f64) -> String {
    // Fixed precision so golden files are stable across platforms.
    format!("{v:.3}")
}

fn verdict_str(v: Verdict) -> &'static str {
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

impl SuiteReport {
    /// `report.json`: the whole report, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report model is always serializable") + "\n"
    }

    /// `report.csv`: one row per benchmark, the spec's `BenchmarkResult` columns plus the
    /// outcome and the KPI verdicts.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "name,category,outcome,iterations,total_us,avg_time_us,min_time_us,max_time_us,stddev_us,throughput_ops_per_sec,kpis\n",
        );
        for r in &self.results {
            let kpis: Vec<String> = r
                .kpis
                .iter()
                .map(|k| format!("{} {} {}: {}", k.key, k.op, k.bound, verdict_str(k.verdict)))
                .collect();
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&r.name),
                csv_field(&r.category),
                r.outcome,
                r.iterations,
                num(r.total_ns / 1e3),
                num(r.mean_ns / 1e3),
                num(r.min_ns / 1e3),
                num(r.max_ns / 1e3),
                num(r.stddev_ns / 1e3),
                num(r.throughput),
                csv_field(&kpis.join("; "))
            );
        }
        s
    }

    /// `report.md`: per-category KPI tables (KPI, bound, measured, interval, verdict,
    /// margin), with a link to each benchmark's distribution chart.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("# Performance report\n\n");
        let passed = self.results.iter().filter(|r| r.passed()).count();
        let _ = writeln!(
            s,
            "{} benchmarks, {} passed, {} failed.\n",
            self.results.len(),
            passed,
            self.results.len() - passed
        );
        if let Some(o) = &self.target_overrides {
            let _ = writeln!(s, "Target overrides: {o}\n");
        }
        let mut cats: Vec<&str> = self.results.iter().map(|r| r.category.as_str()).collect();
        cats.dedup();
        cats.sort_by_key(|c| category_rank(c));
        cats.dedup();
        for cat in cats {
            let _ = writeln!(s, "## {cat}\n");
            s.push_str(
                "| Benchmark | KPI | Bound | Measured | Interval | Verdict | Margin | Chart |\n",
            );
            s.push_str("|---|---|---|---|---|---|---|---|\n");
            for r in self.results.iter().filter(|r| r.category == cat) {
                let short = r.name.rsplit("::").next().unwrap_or(&r.name);
                let chart = if r.samples.is_empty() {
                    "-".to_string()
                } else {
                    format!("[samples](charts/{}.svg)", chart_file_stem(&r.name))
                };
                if r.kpis.is_empty() {
                    let _ = writeln!(
                        s,
                        "| {short} | - | - | - | - | {} | - | {chart} |",
                        r.outcome
                    );
                }
                for k in &r.kpis {
                    let measured = k
                        .measured
                        .map(|v| format!("{} {}", num(v), k.unit).trim_end().to_string())
                        .unwrap_or("-".into());
                    let bound = format!("{} {} {}", k.op, num(k.bound), k.unit);
                    let interval = k
                        .interval
                        .map(|(lo, hi)| format!("[{}, {}]", num(lo), num(hi)))
                        .unwrap_or("-".into());
                    let margin = k
                        .margin_pct
                        .map(|m| format!("{m:+.1}%"))
                        .unwrap_or("-".into());
                    let _ = writeln!(
                        s,
                        "| {short} | {} | {} | {measured} | {interval} | {} | {margin} | {chart} |",
                        k.key,
                        bound.trim_end(),
                        verdict_str(k.verdict)
                    );
                }
            }
            s.push('\n');
        }
        s
    }

    /// Writes `report.json`, `report.csv` and `report.md` into `dir`.
    pub fn write_all(&self, dir: &Path) -> Result<(), ReportError> {
        for (file, text) in [
            ("report.json", self.to_json()),
            ("report.csv", self.to_csv()),
            ("report.md", self.to_markdown()),
        ] {
            let path = dir.join(file);
            write_atomic_report(&path, text.as_bytes())?;
        }
        // One distribution chart per benchmark with samples; the Markdown links only those.
        for r in &self.results {
            if let Some(svg) = crate::chart::sample_histogram(&r.name, &r.samples) {
                let path = dir
                    .join("charts")
                    .join(format!("{}.svg", chart_file_stem(&r.name)));
                write_atomic_report(&path, svg.as_bytes())?;
            }
        }
        Ok(())
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
