//! Run history: a small summary of every suite run (`<history dir>/<id>.json`), read back
//! for the trend charts and change points. A summary keeps what they need (median time per benchmark,
//! measured value and effective bound per KPI), not the raw samples, so a long history
//! stays small.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Format version of a summary file.
pub const HISTORY_SCHEMA: u32 = 1;

/// How many of the most recent runs the trend charts show.
pub const TREND_RUNS: usize = 30;

/// One KPI of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiPoint {
    /// Benchmark full name.
    pub benchmark: String,
    /// KPI key.
    pub metric: String,
    /// Operator (`<`, `>=`).
    pub op: String,
    /// Bound after tolerance, in `unit`.
    pub bound: f64,
    /// Measured value, in `unit`.
    pub measured: Option<f64>,
    /// Unit.
    pub unit: String,
}

impl KpiPoint {
    /// Share of the target used: `measured / bound` for upper bounds, `bound / measured`
    /// for lower bounds, so that <= 1 meets the target either way. `None` when undefined.
    pub fn budget(&self) -> Option<f64> {
        budget_ratio(&self.op, self.measured?, self.bound)
    }
}

/// `measured / bound` (upper bound) or `bound / measured` (lower bound). A value at or
/// below zero uses none of an upper bound (0, e.g. a negative overhead) and infinitely
/// misses a lower one. `None` unless both are finite and the bound is positive.
pub(crate) fn budget_ratio(op: &str, measured: f64, bound: f64) -> Option<f64> {
    if !(measured.is_finite() && bound.is_finite() && bound > 0.0) {
        return None;
    }
    Some(if op.starts_with('<') {
        measured.max(0.0) / bound
    } else if measured > 0.0 {
        bound / measured
    } else {
        f64::INFINITY
    })
}

/// The summary of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// [`HISTORY_SCHEMA`].
    pub schema: u32,
    /// Unique, sortable id: measurement time (Unix ms) and commit prefix.
    pub id: String,
    /// Measurement time (Unix ms) of the newest result.
    pub timestamp_unix_ms: u128,
    /// RFC 3339 time.
    pub timestamp: String,
    /// Commit measured.
    pub git_commit: Option<String>,
    /// Machine class of the target override file, if any.
    pub machine_class: Option<String>,
    /// Whether the run passed.
    pub passed: bool,
    /// Median ns per iteration by benchmark.
    pub medians_ns: BTreeMap<String, f64>,
    /// Median of the samples a baseline stores (ns/iter, or the candidate/baseline ratio of
    /// a relative benchmark) by benchmark: the history's measure of run-to-run noise.
    #[serde(default)]
    pub sample_medians: BTreeMap<String, f64>,
    /// Unit of each benchmark's sample median (`ns/iter`, `ratio`); absent in summaries
    /// written before it was recorded, which means `ns/iter`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sample_units: BTreeMap<String, String>,
    /// Every checked KPI.
    pub kpis: Vec<KpiPoint>,
}

impl RunSummary {
    /// A short label for chart axes: the commit prefix, else the date.
    pub fn label(&self) -> String {
        match &self.git_commit {
            Some(c) => c.chars().take(7).collect(),
            None => self.timestamp.chars().take(10).collect(),
        }
    }
}

/// Why the history could not be read or written; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Filesystem error.
    #[error("history {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A summary file that does not parse or has another schema.
    #[error("history file {path} is corrupt: {reason} (delete it to continue)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Writes `summary` as `<dir>/<id>.json` (atomically), replacing a summary of the same id.
pub fn record(dir: &Path, summary: &RunSummary) -> Result<PathBuf, HistoryError> {
    let path = dir.join(format!("{}.json", summary.id));
    let text = serde_json::to_string_pretty(summary).expect("summary is serializable") + "\n";
    crate::atomic::write_atomic(&path, text.as_bytes()).map_err(|source| HistoryError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Every summary in `dir`, oldest first; an absent directory is an empty history.
pub fn load(dir: &Path) -> Result<Vec<RunSummary>, HistoryError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HistoryError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| HistoryError::Io {
            path: path.clone(),
            source,
        })?;
        let corrupt = |reason: String| HistoryError::Corrupt {
            path: path.clone(),
            reason,
        };
        let s: RunSummary = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if s.schema != HISTORY_SCHEMA {
            return Err(corrupt(format!(
                "schema {} is not supported (expected {HISTORY_SCHEMA})",
                s.schema
            )));
        }
        out.push(s);
    }
    out.sort_by(|a, b| (a.timestamp_unix_ms, &a.id).cmp(&(b.timestamp_unix_ms, &b.id)));
    Ok(out)
}

/// Per benchmark, the run-to-run noise (percent) of its sample medians over `runs`,
/// leaving out the run `exclude_id` (the one being compared); benchmarks with fewer than
/// three runs are absent. See [`crate::suite::baseline::history_noise_pct`].
pub(crate) fn noise_by_benchmark(runs: &[RunSummary], exclude_id: &str) -> BTreeMap<String, f64> {
    let mut medians: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.id != exclude_id) {
        for (name, m) in &run.sample_medians {
            medians.entry(name).or_default().push(*m);
        }
    }
    medians
        .into_iter()
        .filter_map(|(name, ms)| {
            crate::suite::baseline::history_noise_pct(&ms).map(|n| (name.to_string(), n))
        })
        .collect()
}

/// The most recent `n` summaries of `all` (oldest first).
pub fn latest(all: &[RunSummary], n: usize) -> &[RunSummary] {
    &all[all.len().saturating_sub(n)..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(ms: u128, commit: &str) -> RunSummary {
        RunSummary {
            schema: HISTORY_SCHEMA,
            id: format!("{ms:015}-{commit}"),
            timestamp_unix_ms: ms,
            timestamp: crate::env::rfc3339((ms / 1000) as u64, 0),
            git_commit: Some(commit.into()),
            machine_class: None,
            passed: true,
            medians_ns: BTreeMap::from([("a::b".to_string(), 10.0)]),
            sample_medians: BTreeMap::from([("a::b".to_string(), ms as f64)]),
            sample_units: BTreeMap::new(),
            kpis: vec![],
        }
    }

    #[test]
    fn budget_is_below_one_when_the_target_is_met() {
        assert_eq!(budget_ratio("<", 50.0, 100.0), Some(0.5));
        assert_eq!(budget_ratio(">=", 0.95, 0.9).map(|v| v < 1.0), Some(true));
        assert_eq!(budget_ratio(">", 0.5, 0.9).map(|v| v > 1.0), Some(true));
        assert_eq!(budget_ratio("<=", -2.0, 5.0), Some(0.0));
        assert_eq!(budget_ratio(">", 0.0, 1.0), Some(f64::INFINITY));
        assert_eq!(budget_ratio("<", 1.0, 0.0), None);
        assert_eq!(budget_ratio("<", f64::NAN, 1.0), None);
    }

    #[test]
    fn noise_needs_three_runs_and_leaves_out_the_compared_run() {
        let runs = [summary(100, "a"), summary(110, "b"), summary(90, "c")];
        assert!(noise_by_benchmark(&runs[..2], "").is_empty());
        let n = noise_by_benchmark(&runs, "");
        let want = crate::suite::baseline::history_noise_pct(&[100.0, 110.0, 90.0]).unwrap();
        assert_eq!(n["a::b"], want);
        assert!(noise_by_benchmark(&runs, &runs[2].id).is_empty());
    }

    #[test]
    fn record_load_orders_replaces_and_rejects_corrupt_files() {
        let dir = std::env::temp_dir().join(format!("vmb-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(load(&dir).unwrap().is_empty());
        record(&dir, &summary(2000, "bbb")).unwrap();
        record(&dir, &summary(1000, "aaa")).unwrap();
        let mut again = summary(2000, "bbb");
        again.passed = false;
        record(&dir, &again).unwrap();
        let all = load(&dir).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].label(), "aaa");
        assert!(!all[1].passed);
        assert_eq!(latest(&all, 1)[0].id, all[1].id);
        assert_eq!(latest(&all, 5).len(), 2);
        std::fs::write(dir.join("zzz.json"), "{").unwrap();
        let err = load(&dir).unwrap_err().to_string();
        assert!(err.contains("zzz.json") && err.contains("corrupt"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
