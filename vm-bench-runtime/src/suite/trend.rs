//! What the run history says about each benchmark: its change against the previous run,
//! and the change points ([`crate::suite::changepoint`]) in its series of run medians.
//!
//! The series of a benchmark is the median of its samples in every stored run that has it
//! (ns per iteration, or the candidate/baseline ratio of a relative benchmark), oldest
//! first. The result is part of the report model (`report.json`'s `history`), so the
//! renderers only draw it.

use serde::{Deserialize, Serialize};

use crate::suite::changepoint::{detect, ChangePointConfig, ChangePointError};
use crate::suite::format::{percent, quantity};
use crate::suite::history::RunSummary;

/// At most this many of the most recent runs are searched for change points: the
/// permutation test costs O(permutations · runs²) per benchmark.
pub const CHANGE_POINT_RUNS: usize = 200;

/// One run of a benchmark's series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    /// History id of the run.
    pub run_id: String,
    /// Commit measured, if known.
    pub commit: Option<String>,
    /// RFC 3339 time of the run.
    pub timestamp: String,
}

impl RunRef {
    fn of(run: &RunSummary) -> RunRef {
        RunRef {
            run_id: run.id.clone(),
            commit: run.git_commit.clone(),
            timestamp: run.timestamp.clone(),
        }
    }

    /// The commit prefix, else the run's date.
    pub fn label(&self) -> String {
        match &self.commit {
            Some(c) => c.chars().take(7).collect(),
            None => self.timestamp.chars().take(10).collect(),
        }
    }
}

/// This run against the previous run of the same benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousRunChange {
    /// The previous run.
    pub previous: RunRef,
    /// Its sample median.
    pub previous_median: f64,
    /// This run's sample median.
    pub current_median: f64,
    /// `current / previous - 1` in percent (`None` when the previous median is zero).
    pub change_pct: Option<f64>,
}

/// A change point of a benchmark's series, located at a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryChangePoint {
    /// The first run after the change.
    pub run: RunRef,
    /// Median of the runs before it (back to the previous change point).
    pub before_median: f64,
    /// Median of the runs from it on (up to the next change point).
    pub after_median: f64,
    /// `after / before - 1` in percent (`None` when the before median is zero).
    pub change_pct: Option<f64>,
    /// Permutation p-value (the confidence is `1 - p`).
    pub p_value: f64,
}

/// The history of one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkTrend {
    /// Full benchmark name.
    pub name: String,
    /// Unit of the medians (`ns/iter`, `ratio`).
    pub unit: String,
    /// Runs in its series.
    pub runs: usize,
    /// Against the previous run, when this run and an earlier one have the benchmark.
    pub previous: Option<PreviousRunChange>,
    /// Change points, oldest first.
    pub change_points: Vec<HistoryChangePoint>,
}

/// The history section of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistorySection {
    /// Runs analysed (this one included).
    pub runs: usize,
    /// Significance level of the change-point test.
    pub alpha: f64,
    /// Permutations per test.
    pub permutations: usize,
    /// Smallest step reported, percent of the median before it (absent in reports
    /// older than the field, which reported every significant step).
    #[serde(default)]
    pub min_change_pct: f64,
    /// One entry per benchmark of the current run, by name.
    pub benchmarks: Vec<BenchmarkTrend>,
}

impl HistorySection {
    /// The entry of benchmark `name`.
    pub fn benchmark(&self, name: &str) -> Option<&BenchmarkTrend> {
        self.benchmarks.iter().find(|b| b.name == name)
    }

    /// The console block of the change points: a heading and one indented line each;
    /// empty when there are none.
    pub fn change_point_block(&self) -> String {
        let lines = self.change_point_lines();
        if lines.is_empty() {
            return String::new();
        }
        let mut s = format!("change points in the last {} runs:\n", self.runs);
        for l in lines {
            s.push_str("  ");
            s.push_str(&l);
            s.push('\n');
        }
        s
    }

    /// Every change point as one line, by benchmark, oldest first: which run and commit,
    /// by how much (medians before and after), and how sure (p-value, confidence).
    pub fn change_point_lines(&self) -> Vec<String> {
        self.benchmarks
            .iter()
            .flat_map(|b| b.change_points.iter().map(move |c| (b, c)))
            .map(|(b, c)| {
                format!(
                    "{}: {} at run {} (commit {}): {} -> {}, p = {:.3} ({:.1}% confidence)",
                    b.name,
                    c.change_pct.map(percent).unwrap_or("-".into()),
                    c.run.timestamp,
                    c.run.commit.as_deref().unwrap_or("unknown"),
                    quantity(c.before_median, &b.unit),
                    quantity(c.after_median, &b.unit),
                    c.p_value,
                    (1.0 - c.p_value) * 100.0
                )
            })
            .collect()
    }
}

/// A benchmark's series: (run, sample median) over `runs` (oldest first), for runs
/// that have it.
pub fn series<'a>(runs: &'a [RunSummary], name: &str) -> Vec<(&'a RunSummary, f64)> {
    runs.iter()
        .filter_map(|r| {
            let m = r
                .sample_medians
                .get(name)
                .or_else(|| r.medians_ns.get(name))?;
            // JSON has no NaN or infinity, so a stored median is finite; the filter keeps
            // the statistics' input contract explicit.
            m.is_finite().then_some((r, *m))
        })
        .collect()
}

/// The unit of a benchmark's stored medians in `run`.
pub fn unit_of(run: &RunSummary, name: &str) -> String {
    if run.sample_medians.contains_key(name) {
        run.sample_units
            .get(name)
            .cloned()
            .unwrap_or_else(|| "ns/iter".into())
    } else {
        "ns/iter".into()
    }
}

/// Analyses `runs` (oldest first) for every benchmark of the run `current_id` among
/// them; nothing when it is not among them.
pub fn analyze(
    runs: &[RunSummary],
    current_id: &str,
    cfg: &ChangePointConfig,
) -> Result<HistorySection, ChangePointError> {
    let runs = &runs[runs.len().saturating_sub(CHANGE_POINT_RUNS)..];
    let mut benchmarks = Vec::new();
    if let Some(current) = runs.iter().find(|r| r.id == current_id) {
        let mut names: Vec<&String> = current
            .sample_medians
            .keys()
            .chain(current.medians_ns.keys())
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let s = series(runs, name);
            let values: Vec<f64> = s.iter().map(|(_, v)| *v).collect();
            let pct =
                |before: f64, after: f64| (before != 0.0).then(|| (after / before - 1.0) * 100.0);
            let at = s.iter().position(|(r, _)| r.id == current.id);
            let previous = match at {
                Some(i) if i > 0 => {
                    let ((prev, p), c) = (s[i - 1], s[i].1);
                    Some(PreviousRunChange {
                        previous: RunRef::of(prev),
                        previous_median: p,
                        current_median: c,
                        change_pct: pct(p, c),
                    })
                }
                _ => None,
            };
            let change_points = detect(&values, cfg)?
                .into_iter()
                .map(|c| HistoryChangePoint {
                    run: RunRef::of(s[c.index].0),
                    before_median: c.before_median,
                    after_median: c.after_median,
                    change_pct: c.change_pct(),
                    p_value: c.p_value,
                })
                .collect();
            benchmarks.push(BenchmarkTrend {
                name: name.clone(),
                unit: unit_of(current, name),
                runs: values.len(),
                previous,
                change_points,
            });
        }
    }
    Ok(HistorySection {
        runs: runs.len(),
        alpha: cfg.alpha,
        permutations: cfg.permutations,
        min_change_pct: cfg.min_change_pct,
        benchmarks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::history::HISTORY_SCHEMA;
    use std::collections::BTreeMap;

    fn run(i: u128, values: &[(&str, f64)]) -> RunSummary {
        RunSummary {
            schema: HISTORY_SCHEMA,
            id: format!("{i:015}-c{i}"),
            timestamp_unix_ms: i * 86_400_000,
            timestamp: crate::env::rfc3339((i * 86_400) as u64, 0),
            git_commit: Some(format!("c{i:06}abcdef")),
            machine_class: None,
            passed: true,
            medians_ns: BTreeMap::new(),
            sample_medians: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            sample_units: values
                .iter()
                .map(|(k, _)| (k.to_string(), "ns/iter".to_string()))
                .collect(),
            kpis: vec![],
        }
    }

    #[test]
    fn a_step_is_located_at_its_run_and_the_previous_run_is_compared() {
        // 20 runs; "a" steps up 30 % at run 12 with 1 % wobble, "b" is flat.
        let runs: Vec<RunSummary> = (0..20)
            .map(|i| {
                let wobble = 1.0 + ((i * 7 % 5) as f64 - 2.0) / 200.0;
                let a = if i >= 12 { 1300.0 } else { 1000.0 } * wobble;
                run(i as u128, &[("x::a", a), ("x::b", 50.0 * wobble)])
            })
            .collect();
        let h = analyze(&runs, &runs[19].id, &ChangePointConfig::default()).unwrap();
        assert_eq!(h.runs, 20);
        let a = h.benchmark("x::a").unwrap();
        assert_eq!(a.runs, 20);
        assert_eq!(a.change_points.len(), 1, "{a:?}");
        let cp = &a.change_points[0];
        assert_eq!(cp.run.run_id, runs[12].id);
        assert_eq!(cp.run.label(), "c000012");
        assert!((cp.change_pct.unwrap() - 30.0).abs() < 2.0, "{cp:?}");
        assert!(cp.p_value <= 0.05);
        let prev = a.previous.as_ref().unwrap();
        assert_eq!(prev.previous.run_id, runs[18].id);
        assert_eq!(prev.current_median, runs[19].sample_medians["x::a"]);
        assert!(h.benchmark("x::b").unwrap().change_points.is_empty());
        let lines = h.change_point_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            h.change_point_block(),
            format!("change points in the last 20 runs:\n  {}\n", lines[0])
        );
        assert!(
            lines[0].starts_with("x::a: +30.")
                && lines[0].contains("(commit c000012abcdef)")
                && lines[0].contains("us/iter -> 1.3")
                && lines[0].contains("% confidence"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_benchmark_new_in_this_run_has_no_previous_run() {
        let runs = vec![
            run(1, &[("x::a", 1.0)]),
            run(2, &[("x::a", 2.0), ("x::n", 3.0)]),
        ];
        let h = analyze(&runs, &runs[1].id, &ChangePointConfig::default()).unwrap();
        assert!(h.benchmark("x::n").unwrap().previous.is_none());
        let a = h.benchmark("x::a").unwrap().previous.clone().unwrap();
        assert_eq!(a.change_pct, Some(100.0));
        // Compared with the run before it, not the newest.
        let first = analyze(&runs, &runs[0].id, &ChangePointConfig::default()).unwrap();
        assert!(first.benchmark("x::a").unwrap().previous.is_none());
        assert!(analyze(&[], "none", &ChangePointConfig::default())
            .unwrap()
            .benchmarks
            .is_empty());
    }
}
