//! Named baselines with raw samples, and the comparison of a run against one.
//!
//! A baseline is `<dir>/baselines/<name>.json` holding, per benchmark full name, the raw
//! per-iteration samples in nanoseconds. Comparison runs a Mann-Whitney U test per
//! benchmark ([`crate::suite::significance`]) plus a noise threshold on the median change:
//! a change is only *significant* when both the p-value is below `alpha` and the
//! |median change| exceeds `noise_pct`, because on a noisy machine tiny but real shifts
//! (a different cache layout) would otherwise be flagged on every run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::stats;
use crate::suite::significance::mann_whitney_u;

/// Baseline file format version.
pub const BASELINE_SCHEMA: u32 = 1;

/// A saved baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Format version ([`BASELINE_SCHEMA`]).
    pub schema: u32,
    /// Its name (`v1.0`, `main`).
    pub name: String,
    /// Raw per-iteration samples (ns) by benchmark full name.
    pub benchmarks: BTreeMap<String, Vec<f64>>,
}

/// Why a baseline could not be read or written; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// No baseline file of that name.
    #[error("baseline file {path} does not exist (save one with --save-baseline <name>)")]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The file exists but is not a baseline.
    #[error("baseline file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Filesystem error.
    #[error("baseline file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A name that would escape the baseline directory.
    #[error("invalid baseline name {0:?} (use letters, digits, '.', '-', '_')")]
    InvalidName(String),
}

/// The file of baseline `name` under `dir`.
pub fn baseline_path(dir: &Path, name: &str) -> Result<PathBuf, BaselineError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !ok {
        return Err(BaselineError::InvalidName(name.to_string()));
    }
    Ok(dir.join("baselines").join(format!("{name}.json")))
}

impl Baseline {
    /// Reads baseline `name` from `dir`.
    pub fn load(dir: &Path, name: &str) -> Result<Baseline, BaselineError> {
        let path = baseline_path(dir, name)?;
        Baseline::read(&path)
    }

    /// Reads a baseline file.
    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BaselineError::Missing {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(BaselineError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let corrupt = |reason: String| BaselineError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let b: Baseline = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if b.schema != BASELINE_SCHEMA {
            return Err(corrupt(format!(
                "schema {} is not supported (expected {BASELINE_SCHEMA})",
                b.schema
            )));
        }
        for (name, samples) in &b.benchmarks {
            if samples.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(corrupt(format!(
                    "benchmark {name} has a non-finite or negative sample"
                )));
            }
        }
        Ok(b)
    }

    /// Writes this baseline atomically (temp file + rename) under `dir`; returns the path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, BaselineError> {
        let path = baseline_path(dir, &self.name)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| BaselineError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::atomic::write_atomic(&path, text.as_bytes()).map_err(|source| {
            BaselineError::Io {
                path: path.clone(),
                source,
            }
        })?;
        Ok(path)
    }
}

/// Comparison thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareConfig {
    /// Significance level of the Mann-Whitney test. The default 0.001 (not 0.05) because
    /// a suite compares ~19 benchmarks on every push: at 0.01 the synthetic-noise test saw
    /// 3 false alarms in 500 unchanged re-runs.
    pub alpha: f64,
    /// Median changes within ±this percent are noise, never flagged.
    pub noise_pct: f64,
    /// A significant regression larger than this percent fails the run.
    pub fail_pct: f64,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig {
            alpha: 0.001,
            noise_pct: 5.0,
            fail_pct: 10.0,
        }
    }
}

/// Classification of one benchmark against its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Significantly faster.
    Improved,
    /// Significantly slower.
    Regressed,
    /// Within noise or not significant.
    Unchanged,
    /// Present on one side only.
    NotComparable,
}

impl std::fmt::Display for Change {
    /// The word reports print (`improved`, `regressed`, `unchanged`, `not comparable`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Change::Improved => "improved",
            Change::Regressed => "regressed",
            Change::Unchanged => "unchanged",
            Change::NotComparable => "not comparable",
        })
    }
}

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

/// One benchmark's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Benchmark full name.
    pub name: String,
    /// Baseline median (ns), if present.
    pub baseline_median: Option<f64>,
    /// Current median (ns), if present.
    pub current_median: Option<f64>,
    /// Median change in percent (positive = slower).
    pub change_pct: Option<f64>,
    /// Two-sided Mann-Whitney p-value.
    pub p_value: Option<f64>,
    /// The classification.
    pub change: Change,
    /// True when this regression fails the run.
    pub fails: bool,
    /// Noise threshold applied (percent): the configured one, or the benchmark's
    /// run-to-run noise from the history when that is larger.
    #[serde(default)]
    pub noise_pct: f64,
}

/// One console row: name, classification, median change, the noise threshold applied,
/// the p-value, and `FAILS` when this regression fails the run.
impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let change = self
            .change_pct
            .map_or_else(|| "-".to_string(), |p| format!("{p:+.1}%"));
        let p = self
            .p_value
            .map_or_else(|| "-".to_string(), |p| format!("{p:.2e}"));
        write!(
            f,
            "{:<50} {:<14} {:>8} noise ±{:.1}% p={}{}",
            self.name,
            self.change,
            change,
            self.noise_pct,
            p,
            if self.fails { "  FAILS" } else { "" }
        )
    }
}

/// The run-to-run noise of a benchmark, from the medians of its recorded runs (same
/// unit as its samples): `exp(3 * 1.4826 * MAD(ln median)) - 1`, in percent, i.e. three
/// robust standard deviations of the log-median. `None` with fewer than 3 usable runs.
///
/// Why: Mann-Whitney treats the samples of one run as independent draws, but on a shared
/// machine the whole distribution moves between runs (other processes, frequency, cache
/// state). A benchmark whose medians wander ±15 % from run to run on unchanged code must
/// not be flagged for a 15 % change, however small the p-value.
pub(crate) fn history_noise_pct(medians: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = medians
        .iter()
        .filter(|m| m.is_finite() && **m > 0.0)
        .map(|m| m.ln())
        .collect();
    if logs.len() < 3 {
        return None;
    }
    let center = stats::quantile_sorted(&stats::sorted(&logs), 0.5);
    let dev: Vec<f64> = logs.iter().map(|l| (l - center).abs()).collect();
    let mad = stats::quantile_sorted(&stats::sorted(&dev), 0.5);
    Some(((3.0 * 1.4826 * mad).exp() - 1.0) * 100.0)
}

/// Compares `current` samples against `baseline` for every benchmark in either.
pub fn compare(
    baseline: &Baseline,
    current: &BTreeMap<String, Vec<f64>>,
    cfg: &CompareConfig,
) -> Vec<Comparison> {
    compare_with_noise(baseline, current, cfg, &BTreeMap::new())
}

/// [`compare`] with per-benchmark run-to-run noise (percent, see [`history_noise_pct`]):
/// a benchmark's noise threshold is the larger of `cfg.noise_pct` and its entry.
pub(crate) fn compare_with_noise(
    baseline: &Baseline,
    current: &BTreeMap<String, Vec<f64>>,
    cfg: &CompareConfig,
    noise: &BTreeMap<String, f64>,
) -> Vec<Comparison> {
    let mut names: Vec<&String> = baseline.benchmarks.keys().chain(current.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            compare_one(
                name,
                baseline.benchmarks.get(name).map(Vec::as_slice),
                current.get(name).map(Vec::as_slice),
                cfg,
                noise.get(name).copied(),
            )
        })
        .collect()
}

/// Compares one benchmark's samples; `history_noise` is its run-to-run noise in percent.
pub(crate) fn compare_one(
    name: &str,
    base: Option<&[f64]>,
    cur: Option<&[f64]>,
    cfg: &CompareConfig,
    history_noise: Option<f64>,
) -> Comparison {
    let noise_pct = history_noise
        .filter(|n| n.is_finite())
        .map_or(cfg.noise_pct, |n| n.max(cfg.noise_pct));
    let median = |xs: &[f64]| stats::quantile_sorted(&stats::sorted(xs), 0.5);
    let bm = base.filter(|s| !s.is_empty()).map(median);
    let cm = cur.filter(|s| !s.is_empty()).map(median);
    let mut out = Comparison {
        name: name.to_string(),
        baseline_median: bm,
        current_median: cm,
        change_pct: None,
        p_value: None,
        change: Change::NotComparable,
        fails: false,
        noise_pct,
    };
    let (Some(b), Some(c), Some(bs), Some(cs)) = (bm, cm, base, cur) else {
        return out;
    };
    if b <= 0.0 {
        return out;
    }
    let pct = (c / b - 1.0) * 100.0;
    out.change_pct = Some(pct);
    // Identical constant samples: no rank information, and no change either.
    let p = mann_whitney_u(bs, cs).map(|r| r.p_value).unwrap_or(1.0);
    out.p_value = Some(p);
    let significant = p < cfg.alpha && pct.abs() > noise_pct;
    out.change = match (significant, pct > 0.0) {
        (false, _) => Change::Unchanged,
        (true, true) => Change::Regressed,
        (true, false) => Change::Improved,
    };
    out.fails = out.change == Change::Regressed && pct > cfg.fail_pct;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_directory() {
        let d = Path::new("/tmp/x");
        assert!(baseline_path(d, "v1.0").is_ok());
        for bad in ["", "..", "../x", "a/b", "a b"] {
            assert!(matches!(
                baseline_path(d, bad),
                Err(BaselineError::InvalidName(_))
            ));
        }
    }

    #[test]
    fn missing_and_corrupt_files_name_the_file() {
        let dir = std::env::temp_dir().join(format!("vmb-baseline-{}", std::process::id()));
        let err = Baseline::load(&dir, "nope").unwrap_err();
        assert!(matches!(err, BaselineError::Missing { .. }));
        assert!(err.to_string().contains("nope.json"), "{err}");
        let path = baseline_path(&dir, "bad").unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{ not json").unwrap();
        let err = Baseline::load(&dir, "bad").unwrap_err();
        assert!(matches!(err, BaselineError::Corrupt { .. }));
        assert!(err.to_string().contains("bad.json"), "{err}");
        std::fs::write(&path, r#"{"schema":99,"name":"bad","benchmarks":{}}"#).unwrap();
        assert!(Baseline::load(&dir, "bad")
            .unwrap_err()
            .to_string()
            .contains("schema 99"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = std::env::temp_dir().join(format!("vmb-baseline-rt-{}", std::process::id()));
        let mut benchmarks = BTreeMap::new();
        benchmarks.insert("a::bench_x".to_string(), vec![1.5, 2.25, 1e9]);
        let b = Baseline {
            schema: BASELINE_SCHEMA,
            name: "v1.0".into(),
            benchmarks,
        };
        b.save(&dir).unwrap();
        assert_eq!(Baseline::load(&dir, "v1.0").unwrap(), b);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_sided_benchmarks_are_not_comparable() {
        let c = compare_one(
            "x",
            None,
            Some(&[1.0, 2.0]),
            &CompareConfig::default(),
            None,
        );
        assert_eq!(c.change, Change::NotComparable);
        assert!(!c.fails);
    }

    #[test]
    fn history_noise_is_three_robust_sigmas_of_the_log_median() {
        assert_eq!(history_noise_pct(&[1.0, 2.0]), None);
        assert_eq!(history_noise_pct(&[5.0, 5.0, 5.0]), Some(0.0));
        // ln of [100, 110, 90, 100, 125]: median ln 100; |dev| sorted
        // [0, 0, 0.0953, 0.1054, 0.2231] -> MAD = ln(1.1) = 0.09531;
        // exp(3 * 1.4826 * 0.09531) - 1 = 0.527940 (Python: math.exp, statistics.median).
        let n = history_noise_pct(&[100.0, 110.0, 90.0, 100.0, 125.0]).unwrap();
        assert!((n - 52.794_029_760_610_584).abs() < 1e-9, "{n}");
    }

    #[test]
    fn history_noise_raises_the_threshold_of_a_wandering_benchmark() {
        // The shape seen on this machine: scheduler::bench_coroutine_creation read +37 %
        // (p = 2.5e-8) on unchanged code while the machine's load changed.
        let base: Vec<f64> = (0..100).map(|i| 400.0 + (i % 10) as f64 * 10.0).collect();
        let cur: Vec<f64> = base.iter().map(|v| v * 1.37).collect();
        let cfg = CompareConfig::default();
        let plain = compare_one("x", Some(&base), Some(&cur), &cfg, None);
        assert_eq!(plain.change, Change::Regressed);
        assert!(plain.fails);
        assert_eq!(plain.noise_pct, 5.0);
        let noisy = compare_one("x", Some(&base), Some(&cur), &cfg, Some(52.9));
        assert_eq!(noisy.change, Change::Unchanged);
        assert!(!noisy.fails);
        assert_eq!(noisy.noise_pct, 52.9);
        // A quiet history never lowers the configured threshold.
        let quiet = compare_one("x", Some(&base), Some(&cur), &cfg, Some(1.0));
        assert_eq!(quiet.noise_pct, 5.0);
    }
}
