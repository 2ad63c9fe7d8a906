//! Performance targets with tolerance (the spec's `PerformanceTarget` and
//! `validate_targets`), and per-machine-class overrides read from a file.
//!
//! Every KPI a benchmark declares is a target: `name` is the benchmark's full name,
//! `metric` the KPI key (`max_us`, `hit_rate`, `max_overhead_pct`), `target_value` the
//! bound in the key's own unit (microseconds for `max_us`) and `tolerance` a percentage
//! that loosens the bound (`max_us = 500` with tolerance 10 accepts up to 550 us). The
//! declared bounds are the defaults; an override file replaces values for one machine
//! class (a CI runner is slower than a workstation) without editing code:
//!
//! ```json
//! {
//!   "machine_class": "github-ubuntu-2core",
//!   "default_tolerance": 0,
//!   "targets": [
//!     { "name": "jit::bench_compilation_latency", "metric": "max_us",
//!       "target_value": 800, "tolerance": 10 }
//!   ]
//! }
//! ```
//!
//! A target is checked with the harness's verdict rule (`verdict::classify`) on the
//! KPI's recorded 95 % interval against the loosened bound: PASS when the whole interval
//! satisfies it, FAIL when none of it does, INCONCLUSIVE (not a failure) otherwise; a KPI
//! that was never measured is MISSING (a failure). Without overrides and tolerances the
//! verdicts equal the harness's own.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::{BoundSource, Interval, Verdict};
use crate::row::BenchRow;
use crate::spec::{BenchSpec, CmpOp, KpiSpec};

/// Environment variable naming an override file (same as `--targets FILE`).
pub const TARGETS_VAR: &str = "VM_BENCH_TARGETS";

/// One KPI target of one benchmark (the spec's `PerformanceTarget`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceTarget {
    /// Benchmark full name (`gc::bench_gc_pause_time`).
    pub name: String,
    /// The KPI key (`max_us`, `min_ops_per_sec`, a metric name, `min_speedup`).
    pub metric: String,
    /// Direction, from the declaration (`<`, `<=`, `>`, `>=`); an override cannot flip it.
    pub op: String,
    /// The bound, in [`PerformanceTarget::unit`].
    pub target_value: f64,
    /// Loosening of the bound in percent of |target_value| (>= 0).
    pub tolerance: f64,
    /// Unit of `target_value` (`us` for `max_us`, the metric's unit otherwise).
    pub unit: String,
}

impl PerformanceTarget {
    /// The bound after tolerance: raised for upper bounds, lowered for lower bounds.
    pub fn effective_bound(&self) -> f64 {
        let slack = self.target_value.abs() * self.tolerance / 100.0;
        if parse_op(&self.op).is_some_and(CmpOp::is_upper_bound) {
            self.target_value + slack
        } else {
            self.target_value - slack
        }
    }
}

fn parse_op(s: &str) -> Option<CmpOp> {
    match s {
        "<" => Some(CmpOp::Lt),
        "<=" => Some(CmpOp::Le),
        ">" => Some(CmpOp::Gt),
        ">=" => Some(CmpOp::Ge),
        _ => None,
    }
}

/// How many of a KPI row's units make one unit of the key (time keys are recorded in
/// ns/iter but written in the key's unit), and that unit's name.
fn key_unit(key: &str, row_unit: &str) -> (f64, String) {
    match key {
        "max_ns" => (1.0, "ns".into()),
        "max_us" => (1e3, "us".into()),
        "max_ms" => (1e6, "ms".into()),
        _ => (1.0, row_unit.to_string()),
    }
}

/// The declared targets of `rows`: one per KPI, tolerance `default_tolerance`.
pub fn declared_targets(rows: &[BenchRow], default_tolerance: f64) -> Vec<PerformanceTarget> {
    rows.iter()
        .flat_map(|r| {
            r.kpis.iter().map(move |k| {
                let (scale, unit) = key_unit(&k.key, &k.unit);
                PerformanceTarget {
                    name: r.name.clone(),
                    metric: k.key.clone(),
                    op: k.op.clone(),
                    target_value: k.bound / scale,
                    tolerance: default_tolerance,
                    unit,
                }
            })
        })
        .collect()
}

/// The declared targets of registered benchmarks, without running them (used to check
/// an override file before a long run). Equal to [`declared_targets`] of their results.
pub fn declared_from_entries(entries: &[crate::registry::BenchEntry]) -> Vec<PerformanceTarget> {
    use crate::spec::KpiSpec;
    let mut out = Vec::new();
    for e in entries {
        for k in e.kpis() {
            let (metric, op, value, unit) = match *k {
                KpiSpec::MaxTime { key, written, .. } => {
                    (key.to_string(), CmpOp::Le, written, key_unit(key, "").1)
                }
                KpiSpec::MinThroughput { ops_per_sec } => (
                    "min_ops_per_sec".into(),
                    CmpOp::Ge,
                    ops_per_sec,
                    "ops/s".into(),
                ),
                KpiSpec::Metric { name, op, bound } => (name.to_string(), op, bound, String::new()),
                KpiSpec::Relative { kind, bound } => {
                    (kind.key().to_string(), kind.op(), bound, String::new())
                }
            };
            out.push(PerformanceTarget {
                name: e.full_name(),
                metric,
                op: op.as_str().to_string(),
                target_value: value,
                tolerance: 0.0,
                unit,
            });
        }
    }
    out
}

/// Same target, ignoring the unit's spelling (a KPI never measured records no unit).
fn same_target(a: &PerformanceTarget, b: &PerformanceTarget) -> bool {
    a.name == b.name
        && a.metric == b.metric
        && a.op == b.op
        && a.target_value == b.target_value
        && a.tolerance == b.tolerance
}

/// One entry of an override file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOverride {
    /// Benchmark full name, or its function name when that is unique.
    pub name: String,
    /// The KPI key.
    pub metric: String,
    /// New bound in the key's unit; the declared one when absent.
    #[serde(default)]
    pub target_value: Option<f64>,
    /// New tolerance in percent; the file's `default_tolerance` when absent.
    #[serde(default)]
    pub tolerance: Option<f64>,
}

/// An override file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOverrides {
    /// Name of the machine class these targets are for (recorded in reports).
    pub machine_class: String,
    /// Free text: why these values.
    #[serde(default)]
    pub description: Option<String>,
    /// Tolerance (percent) applied to every target the file does not list.
    #[serde(default)]
    pub default_tolerance: f64,
    /// Per-KPI overrides.
    #[serde(default)]
    pub targets: Vec<TargetOverride>,
    /// The file it was read from (not part of the file).
    #[serde(skip)]
    pub source: PathBuf,
}

/// Why an override file was rejected; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// The file could not be read.
    #[error("target override file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not valid JSON of the expected shape (serde's message carries line and column).
    #[error("target override file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A value is out of range (non-finite, negative tolerance, empty class).
    #[error("target override file {path}: {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the entry.
        what: String,
    },
    /// An entry names a benchmark that is not in the run, or is ambiguous.
    #[error("target override file {path}: targets[{index}]: {what}")]
    UnknownBenchmark {
        /// The file.
        path: PathBuf,
        /// Index of the entry in `targets`.
        index: usize,
        /// What is wrong, with the known names.
        what: String,
    },
    /// An entry names a KPI the benchmark does not declare.
    #[error("target override file {path}: targets[{index}]: benchmark {name} declares no KPI {metric:?} (it declares: {known})")]
    UnknownMetric {
        /// The file.
        path: PathBuf,
        /// Index of the entry.
        index: usize,
        /// The benchmark.
        name: String,
        /// The metric asked for.
        metric: String,
        /// The declared KPI keys.
        known: String,
    },
}

impl TargetOverrides {
    /// Reads and validates an override file (values only; names are checked by
    /// [`TargetOverrides::apply`], which knows the benchmarks).
    pub fn load(path: &Path) -> Result<TargetOverrides, TargetsError> {
        let text = std::fs::read_to_string(path).map_err(|source| TargetsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses override JSON; `path` is only used in errors and recorded as the source.
    pub fn parse(text: &str, path: &Path) -> Result<TargetOverrides, TargetsError> {
        let mut o: TargetOverrides =
            serde_json::from_str(text).map_err(|e| TargetsError::Parse {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        o.source = path.to_path_buf();
        let invalid = |what: String| TargetsError::Invalid {
            path: path.to_path_buf(),
            what,
        };
        if o.machine_class.trim().is_empty() {
            return Err(invalid("machine_class is empty".into()));
        }
        if !o.default_tolerance.is_finite() || o.default_tolerance < 0.0 {
            return Err(invalid(format!(
                "default_tolerance {} must be a finite number >= 0",
                o.default_tolerance
            )));
        }
        for (i, t) in o.targets.iter().enumerate() {
            if let Some(v) = t.target_value.filter(|v| !v.is_finite()) {
                return Err(invalid(format!(
                    "targets[{i}] ({} {}): target_value {v} is not finite",
                    t.name, t.metric
                )));
            }
            if let Some(v) = t.tolerance.filter(|v| !v.is_finite() || *v < 0.0) {
                return Err(invalid(format!(
                    "targets[{i}] ({} {}): tolerance {v} must be a finite number >= 0",
                    t.name, t.metric
                )));
            }
            if t.target_value.is_none() && t.tolerance.is_none() {
                return Err(invalid(format!(
                    "targets[{i}] ({} {}): sets neither target_value nor tolerance",
                    t.name, t.metric
                )));
            }
            if o.targets[..i]
                .iter()
                .any(|p| p.name == t.name && p.metric == t.metric)
            {
                return Err(invalid(format!(
                    "targets[{i}] ({} {}): listed twice",
                    t.name, t.metric
                )));
            }
        }
        Ok(o)
    }

    /// `declared` with this file applied: the default tolerance everywhere, then each
    /// entry's value and tolerance. Errors name entries whose benchmark or KPI is unknown.
    pub fn apply(
        &self,
        declared: &[PerformanceTarget],
    ) -> Result<Vec<PerformanceTarget>, TargetsError> {
        let mut out: Vec<PerformanceTarget> = declared
            .iter()
            .cloned()
            .map(|mut t| {
                t.tolerance = self.default_tolerance;
                t
            })
            .collect();
        let mut names: Vec<&str> = declared.iter().map(|t| t.name.as_str()).collect();
        names.dedup();
        for (index, o) in self.targets.iter().enumerate() {
            let name =
                resolve_name(&names, &o.name).map_err(|what| TargetsError::UnknownBenchmark {
                    path: self.source.clone(),
                    index,
                    what,
                })?;
            let Some(t) = out
                .iter_mut()
                .find(|t| t.name == name && t.metric == o.metric)
            else {
                let known: Vec<&str> = declared
                    .iter()
                    .filter(|t| t.name == name)
                    .map(|t| t.metric.as_str())
                    .collect();
                return Err(TargetsError::UnknownMetric {
                    path: self.source.clone(),
                    index,
                    name: name.to_string(),
                    metric: o.metric.clone(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            };
            if let Some(v) = o.target_value {
                t.target_value = v;
            }
            if let Some(v) = o.tolerance {
                t.tolerance = v;
            }
        }
        Ok(out)
    }
}

/// A full name, or a function name that matches exactly one full name.
fn resolve_name<'a>(names: &[&'a str], wanted: &str) -> Result<&'a str, String> {
    if let Some(n) = names.iter().find(|n| **n == wanted) {
        return Ok(n);
    }
    let by_fn: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.rsplit("::").next() == Some(wanted))
        .collect();
    match by_fn.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no benchmark named {wanted:?} in this run (known: {})",
            names.join(", ")
        )),
        many => Err(format!(
            "{wanted:?} is ambiguous ({}); use the full name",
            many.join(", ")
        )),
    }
}

/// Where the targets of a run came from; recorded in the reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSource {
    /// The override file, or `None` for the declared targets.
    pub file: Option<String>,
    /// The machine class of the override file.
    pub machine_class: Option<String>,
    /// Targets whose value or tolerance differ from the declaration.
    pub overridden: Vec<PerformanceTarget>,
}

impl TargetSource {
    /// The declared targets, no file.
    pub fn declared() -> TargetSource {
        TargetSource {
            file: None,
            machine_class: None,
            overridden: Vec::new(),
        }
    }

    /// A file's targets, recording those that differ from `declared`.
    pub fn from_overrides(
        o: &TargetOverrides,
        declared: &[PerformanceTarget],
        effective: &[PerformanceTarget],
    ) -> TargetSource {
        TargetSource {
            file: Some(o.source.display().to_string()),
            machine_class: Some(o.machine_class.clone()),
            overridden: effective
                .iter()
                .filter(|t| !declared.iter().any(|d| same_target(d, t)))
                .cloned()
                .collect(),
        }
    }

    /// One line for reports (`declared in the benchmarks` or `file (class X, N overridden)`).
    pub fn describe(&self) -> String {
        match (&self.file, &self.machine_class) {
            (Some(f), Some(c)) => format!(
                "{f} (machine class {c}; {} target(s) differ from the declared ones)",
                self.overridden.len()
            ),
            _ => "as declared in the benchmarks".into(),
        }
    }
}

/// One checked target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// The target.
    pub target: PerformanceTarget,
    /// The bound after tolerance, in the target's unit.
    pub effective_bound: f64,
    /// Measured value in the target's unit.
    pub measured: Option<f64>,
    /// Its 95 % interval in the target's unit.
    pub interval: Option<(f64, f64)>,
    /// PASS / FAIL / INCONCLUSIVE / MISSING against the effective bound.
    pub verdict: Verdict,
    /// Headroom in percent of the effective bound (negative = breach).
    pub margin_pct: Option<f64>,
    /// True when value or tolerance came from an override file.
    pub overridden: bool,
    /// Whether the run enforced KPIs (report/smoke modes and unoptimized builds do not).
    pub enforced: bool,
}

impl TargetCheck {
    /// True unless this check fails the run (FAIL or MISSING while enforced).
    pub fn ok(&self) -> bool {
        !self.enforced || !matches!(self.verdict, Verdict::Fail | Verdict::Missing)
    }
}

/// Checks every target against the results. A target whose benchmark is absent from
/// `results` (filtered out of the run) is skipped; one whose KPI was not measured is MISSING.
pub fn check_targets(results: &[BenchRow], targets: &[PerformanceTarget]) -> Vec<TargetCheck> {
    let declared = declared_targets(results, 0.0);
    targets
        .iter()
        .filter_map(|t| {
            let row = results.iter().find(|r| r.name == t.name)?;
            let kpi = row.kpis.iter().find(|k| k.key == t.metric);
            let op = parse_op(&t.op).unwrap_or(CmpOp::Le);
            let (scale, _) = key_unit(&t.metric, kpi.map(|k| k.unit.as_str()).unwrap_or(""));
            let bound = t.effective_bound();
            let measured = kpi.and_then(|k| k.measured).map(|v| v / scale);
            let interval = kpi
                .and_then(|k| k.interval)
                .map(|(lo, hi)| (lo / scale, hi / scale))
                .or(measured.map(|m| (m, m)));
            let verdict = match (kpi.map(|k| k.verdict), interval) {
                (Some(Verdict::Missing), _) | (None, _) | (_, None) => Verdict::Missing,
                (_, Some((lo, hi))) => crate::verdict::classify(
                    op,
                    bound,
                    &Interval {
                        lo,
                        hi,
                        confidence: 0.95,
                        method: String::new(),
                    },
                ),
            };
            Some(TargetCheck {
                target: t.clone(),
                effective_bound: bound,
                measured,
                interval,
                verdict,
                margin_pct: measured.map(|m| crate::verdict::margin_pct(op, bound, m)),
                overridden: !declared.iter().any(|d| same_target(d, t)),
                enforced: row.enforced,
            })
        })
        .collect()
}

/// The PASS/FAIL report of checked targets, one line each, then a summary line.
pub fn render_checks(checks: &[TargetCheck]) -> String {
    let mut s = String::new();
    let num = crate::verdict::fmt_num;
    for c in checks {
        let t = &c.target;
        let tol = if t.tolerance > 0.0 {
            format!(" ±{}%", num(t.tolerance))
        } else {
            String::new()
        };
        let measured = match (c.measured, c.interval) {
            (Some(m), Some((lo, hi))) if lo != hi => {
                format!("{} [{}, {}]", num(m), num(lo), num(hi))
            }
            (Some(m), _) => num(m),
            _ => "not measured".into(),
        };
        let unit = if t.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", t.unit)
        };
        let _ = writeln!(
            s,
            "{:<12} {}.{} {} {}{unit}{tol}{}: measured {measured}{unit}{}",
            c.verdict,
            t.name,
            t.metric,
            t.op,
            num(t.target_value),
            if c.overridden { " (override)" } else { "" },
            if c.enforced { "" } else { " (not enforced)" },
        );
    }
    let count = |v| checks.iter().filter(|c| c.verdict == v).count();
    let _ = writeln!(
        s,
        "targets: {} checked, {} PASS, {} FAIL, {} INCONCLUSIVE, {} MISSING => {}",
        checks.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Inconclusive),
        count(Verdict::Missing),
        if checks.iter().all(TargetCheck::ok) {
            "PASS"
        } else {
            "FAIL"
        }
    );
    s
}

/// The spec's `validate_targets`: checks every target, prints the PASS/FAIL report to
/// stdout, and returns true when no enforced target failed.
pub fn validate_targets(results: &[BenchRow], targets: &[PerformanceTarget]) -> bool {
    let checks = check_targets(results, targets);
    print!("{}", render_checks(&checks));
    checks.iter().all(TargetCheck::ok)
}

// ---------------------------------------------------------------------------------------
// Overrides applied by the runner itself: plain `cargo test`, nextest, an IDE's "Run test".

/// Where the override file of this process comes from: `$VM_BENCH_TARGETS`. A relative
/// path is taken from the workspace root of the benchmark's crate (the nearest directory at
/// or above its manifest whose `Cargo.toml` has a `[workspace]` table), so one spelling
/// works from `cargo test` (whose working directory is the package), nextest and an IDE.
/// A workspace names a file for every run with cargo's own `[env]` table in
/// `.cargo/config.toml` (`VM_BENCH_TARGETS = { value = "...", relative = true }`).
pub fn runtime_targets_path(manifest_dir: &str) -> Option<PathBuf> {
    let raw = std::env::var_os(TARGETS_VAR).filter(|v| !v.is_empty())?;
    let path = PathBuf::from(raw);
    if path.is_absolute() {
        return Some(path);
    }
    Some(workspace_root(Path::new(manifest_dir)).join(path))
}

/// The nearest directory at or above `manifest_dir` whose `Cargo.toml` declares
/// `[workspace]`; `manifest_dir` itself when there is none.
pub fn workspace_root(manifest_dir: &Path) -> PathBuf {
    manifest_dir
        .ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .map(|t| t.lines().any(|l| l.trim() == "[workspace]"))
                .unwrap_or(false)
        })
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// The override file at `path`, read and validated once per process (every benchmark of a
/// test binary shares it). The error text names the file.
pub fn load_cached(path: &Path) -> Result<std::sync::Arc<TargetOverrides>, String> {
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = Mutex<Vec<(PathBuf, Result<Arc<TargetOverrides>, String>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((_, r)) = cache.iter().find(|(p, _)| p == path) {
        return r.clone();
    }
    let r = TargetOverrides::load(path)
        .map(Arc::new)
        .map_err(|e| e.to_string());
    cache.push((path.to_path_buf(), r.clone()));
    r
}

/// The key's unit scale: bound in ns = value in the key's unit x scale (1 for keys whose
/// bound is stored as written).
fn spec_scale(k: &KpiSpec) -> f64 {
    match *k {
        KpiSpec::MaxTime { key, .. } => key_unit(key, "").0,
        _ => 1.0,
    }
}

/// The attribute key of a KPI (`max_ms`, `min_ops_per_sec`, a metric name, a relative key).
pub(crate) fn kpi_key(k: &KpiSpec) -> &'static str {
    spec_key(k).0
}

/// The KPI key, the bound as written (in the key's unit), its direction and unit.
fn spec_key(k: &KpiSpec) -> (&'static str, f64, CmpOp, String) {
    match *k {
        KpiSpec::MaxTime { key, written, .. } => (key, written, CmpOp::Le, key_unit(key, "").1),
        KpiSpec::MinThroughput { ops_per_sec } => {
            ("min_ops_per_sec", ops_per_sec, CmpOp::Ge, "ops/s".into())
        }
        KpiSpec::Metric { name, op, bound } => (name, bound, op, String::new()),
        KpiSpec::Relative { kind, bound } => (kind.key(), bound, kind.op(), String::new()),
    }
}

/// The benchmark's KPIs with an override file applied, each with where its bound came
/// from. Without a file the declared bounds are returned unchanged. An entry of the file
/// that names this benchmark (full name, or function name when no other benchmark linked
/// into this process has that function name) but a KPI it does not declare is an error;
/// entries for other benchmarks are left to them (a test binary does not know every
/// benchmark of the workspace; the suite's check mode validates all names).
pub fn apply_to_spec(
    spec: &BenchSpec,
    file: Option<&TargetOverrides>,
) -> Result<Vec<(KpiSpec, BoundSource)>, TargetsError> {
    let full = spec.full_name();
    let declared = |k: &KpiSpec| {
        let (_, written, _, unit) = spec_key(k);
        BoundSource {
            declared: written,
            applied: written,
            unit,
            file: None,
            machine_class: None,
            entry: None,
            tolerance_pct: 0.0,
        }
    };
    let Some(file) = file else {
        return Ok(spec.kpis.iter().map(|k| (*k, declared(k))).collect());
    };
    let fn_name_unique = crate::registry::entries()
        .iter()
        .filter(|e| e.name() == spec.name)
        .count()
        <= 1;
    let mine: Vec<(usize, &TargetOverride)> = file
        .targets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.name == full || (fn_name_unique && t.name == spec.name))
        .collect();
    for (index, t) in &mine {
        if !spec.kpis.iter().any(|k| spec_key(k).0 == t.metric) {
            return Err(TargetsError::UnknownMetric {
                path: file.source.clone(),
                index: *index,
                name: full.clone(),
                metric: t.metric.clone(),
                known: spec
                    .kpis
                    .iter()
                    .map(|k| spec_key(k).0)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(spec
        .kpis
        .iter()
        .map(|k| {
            let (key, written, op, unit) = spec_key(k);
            let entry = mine.iter().find(|(_, t)| t.metric == key);
            let value = entry.and_then(|(_, t)| t.target_value).unwrap_or(written);
            let tolerance = entry
                .and_then(|(_, t)| t.tolerance)
                .unwrap_or(file.default_tolerance);
            let target = PerformanceTarget {
                name: full.clone(),
                metric: key.to_string(),
                op: op.as_str().to_string(),
                target_value: value,
                tolerance,
                unit: unit.clone(),
            };
            let applied = target.effective_bound();
            let source = BoundSource {
                declared: written,
                applied,
                unit,
                file: Some(file.source.display().to_string()),
                machine_class: Some(file.machine_class.clone()),
                entry: entry.map(|(i, _)| *i),
                tolerance_pct: tolerance,
            };
            (with_bound(k, applied * spec_scale(k)), source)
        })
        .collect())
}

/// `k` with its bound replaced (time bounds in ns; the written value is kept).
fn with_bound(k: &KpiSpec, bound: f64) -> KpiSpec {
    match *k {
        KpiSpec::MaxTime { key, written, .. } => KpiSpec::MaxTime {
            bound_ns: bound,
            key,
            written,
        },
        KpiSpec::MinThroughput { .. } => KpiSpec::MinThroughput { ops_per_sec: bound },
        KpiSpec::Metric { name, op, .. } => KpiSpec::Metric { name, op, bound },
        KpiSpec::Relative { kind, .. } => KpiSpec::Relative { kind, bound },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::KpiRow;

    fn row(name: &str, kpis: Vec<KpiRow>) -> BenchRow {
        BenchRow {
            name: name.into(),
            kpis,
            ..BenchRow::empty()
        }
    }

    fn kpi(key: &str, op: &str, bound: f64, unit: &str, m: f64, ci: (f64, f64)) -> KpiRow {
        KpiRow {
            key: key.into(),
            op: op.into(),
            bound,
            unit: unit.into(),
            measured: Some(m),
            interval: Some(ci),
            verdict: Verdict::Pass,
            margin_pct: None,
        }
    }

    fn rows() -> Vec<BenchRow> {
        vec![
            row(
                "jit::bench_compile",
                vec![kpi(
                    "max_us",
                    "<=",
                    500_000.0,
                    "ns/iter",
                    520_000.0,
                    (515_000.0, 530_000.0),
                )],
            ),
            row(
                "jit::bench_cache",
                vec![kpi("hit_rate", ">=", 0.9, "", 0.95, (0.95, 0.95))],
            ),
        ]
    }

    #[test]
    fn runtime_overrides_replace_bounds_in_the_keys_unit_and_record_the_source() {
        static KPIS: [KpiSpec; 2] = [
            KpiSpec::MaxTime {
                bound_ns: 8e6,
                key: "max_ms",
                written: 8.0,
            },
            KpiSpec::Metric {
                name: "hit_rate",
                op: CmpOp::Ge,
                bound: 0.9,
            },
        ];
        let spec = BenchSpec {
            name: "bench_runtime_override",
            module_path: "targets::tests",
            file: file!(),
            line: line!(),
            category: None,
            kpis: &KPIS,
            config: Default::default(),
            form: crate::spec::BodyForm::Bench,
            debug_assertions: false,
            manifest_dir: env!("CARGO_MANIFEST_DIR"),
            opt_probe: None,
        };
        let declared = apply_to_spec(&spec, None).unwrap();
        assert_eq!(declared[0].0, KPIS[0]);
        assert_eq!(declared[0].1.file, None);
        assert_eq!(declared[0].1.unit, "ms");

        let p = Path::new("/ci/runner.json");
        let file = TargetOverrides::parse(
            r#"{"machine_class":"runner","default_tolerance":5,"targets":[
                {"name":"bench_runtime_override","metric":"max_ms","target_value":6},
                {"name":"other::bench","metric":"whatever","target_value":1}]}"#,
            p,
        )
        .unwrap();
        let applied = apply_to_spec(&spec, Some(&file)).unwrap();
        // 6 ms from the entry plus the file's default tolerance of 5 %: 6.3 ms.
        match applied[0].0 {
            KpiSpec::MaxTime {
                bound_ns, written, ..
            } => {
                assert!((bound_ns - 6.3e6).abs() < 1e-3, "{bound_ns}");
                assert_eq!(written, 8.0);
            }
            _ => unreachable!(),
        }
        assert_eq!(applied[0].1.entry, Some(0));
        assert_eq!(applied[0].1.machine_class.as_deref(), Some("runner"));
        // A lower bound is lowered by the tolerance.
        match applied[1].0 {
            KpiSpec::Metric { bound, .. } => assert!((bound - 0.855).abs() < 1e-12),
            _ => unreachable!(),
        }
        assert_eq!(applied[1].1.entry, None);

        let bad = TargetOverrides::parse(
            r#"{"machine_class":"runner","targets":[
                {"name":"targets::tests::bench_runtime_override","metric":"max_us","target_value":6}]}"#,
            p,
        )
        .unwrap();
        let e = apply_to_spec(&spec, Some(&bad)).unwrap_err().to_string();
        assert!(e.contains("/ci/runner.json: targets[0]"), "{e}");
        assert!(
            e.contains("declares no KPI \"max_us\" (it declares: max_ms, hit_rate)"),
            "{e}"
        );
    }

    /// This repository's runner-class files state the seed bounds; they may tighten a bound
    /// but never loosen one. Loosening takes a tolerance or a `target_value`, so both are
    /// refused here; a tighter `target_value` must be added with a check of its direction.
    #[test]
    fn this_repositorys_target_files_never_loosen_a_seed_bound() {
        let dir =
            workspace_root(Path::new(env!("CARGO_MANIFEST_DIR"))).join(".github/bench-targets");
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(!files.is_empty(), "no target files in {}", dir.display());
        for f in files {
            let o = TargetOverrides::load(&f).unwrap();
            assert_eq!(o.default_tolerance, 0.0, "{}", f.display());
            for t in &o.targets {
                assert!(
                    t.tolerance.unwrap_or(0.0) == 0.0 && t.target_value.is_none(),
                    "{}: {} {} may loosen a seed bound",
                    f.display(),
                    t.name,
                    t.metric
                );
            }
        }
    }

    #[test]
    fn relative_targets_paths_start_at_the_workspace_root() {
        let root = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(root.join("vm-bench-runtime").is_dir(), "{}", root.display());
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture");
        assert_eq!(workspace_root(&fixture), fixture);
    }

    #[test]
    fn declared_targets_are_in_the_keys_unit() {
        let t = declared_targets(&rows(), 0.0);
        assert_eq!(t[0].target_value, 500.0);
        assert_eq!(t[0].unit, "us");
        assert_eq!(t[1].target_value, 0.9);
    }

    #[test]
    fn tolerance_loosens_in_the_bounds_direction() {
        let mut t = declared_targets(&rows(), 10.0);
        assert!((t[0].effective_bound() - 550.0).abs() < 1e-9);
        assert!((t[1].effective_bound() - 0.81).abs() < 1e-9);
        t[0].target_value = -10.0;
        assert!((t[0].effective_bound() + 9.0).abs() < 1e-9);
    }

    #[test]
    fn checks_use_the_interval_rule_on_the_loosened_bound() {
        let declared = declared_targets(&rows(), 0.0);
        let c = check_targets(&rows(), &declared);
        // 515..530 us against <= 500 us: the whole interval breaches.
        assert_eq!(c[0].verdict, Verdict::Fail);
        assert!(!c[0].ok());
        assert_eq!(c[0].measured, Some(520.0));
        assert_eq!(c[1].verdict, Verdict::Pass);
        // 10 % tolerance: <= 550 us holds over the whole interval.
        let loose = declared_targets(&rows(), 10.0);
        let c = check_targets(&rows(), &loose);
        assert_eq!(c[0].verdict, Verdict::Pass);
        assert!(c[0].overridden);
        // 4 % tolerance: <= 520 us straddles 515..530.
        let c = check_targets(&rows(), &declared_targets(&rows(), 4.0));
        assert_eq!(c[0].verdict, Verdict::Inconclusive);
        assert!(c[0].ok());
        let text = render_checks(&c);
        assert!(text.contains("INCONCLUSIVE"), "{text}");
        assert!(text.ends_with("=> PASS\n"), "{text}");
    }

    #[test]
    fn validate_targets_is_false_exactly_when_an_enforced_target_fails() {
        assert!(!validate_targets(&rows(), &declared_targets(&rows(), 0.0)));
        assert!(validate_targets(&rows(), &declared_targets(&rows(), 10.0)));
        // A target of a benchmark that did not run (filtered out) is skipped.
        let mut t = declared_targets(&rows(), 10.0);
        t[0].name = "jit::not_run".into();
        t[0].target_value = 1.0;
        assert!(validate_targets(&rows(), &t));
        assert_eq!(check_targets(&rows(), &t).len(), 1);
    }

    #[test]
    fn unmeasured_kpis_are_missing_and_unenforced_runs_do_not_fail() {
        let mut r = rows();
        r[0].kpis[0].measured = None;
        r[0].kpis[0].interval = None;
        r[0].kpis[0].verdict = Verdict::Missing;
        let c = check_targets(&r, &declared_targets(&r, 0.0));
        assert_eq!(c[0].verdict, Verdict::Missing);
        assert!(!c[0].ok());
        r[0].enforced = false;
        let c = check_targets(&r, &declared_targets(&r, 0.0));
        assert!(c[0].ok());
    }

    #[test]
    fn overrides_apply_by_full_or_function_name() {
        let declared = declared_targets(&rows(), 0.0);
        let o = TargetOverrides::parse(
            r#"{"machine_class":"ci","default_tolerance":2,
               "targets":[{"name":"bench_compile","metric":"max_us","target_value":800},
                          {"name":"jit::bench_cache","metric":"hit_rate","tolerance":5}]}"#,
            Path::new("ci.json"),
        )
        .unwrap();
        let t = o.apply(&declared).unwrap();
        assert_eq!((t[0].target_value, t[0].tolerance), (800.0, 2.0));
        assert_eq!((t[1].target_value, t[1].tolerance), (0.9, 5.0));
        let src = TargetSource::from_overrides(&o, &declared, &t);
        assert_eq!(src.overridden.len(), 2);
        assert!(src.describe().contains("ci.json (machine class ci"));
    }

    #[test]
    fn bad_override_files_name_the_file_and_the_problem() {
        let p = Path::new("/etc/vm/ci.json");
        let err = |text: &str| TargetOverrides::parse(text, p).unwrap_err().to_string();
        let e = err("{ nope");
        assert!(
            e.starts_with("target override file /etc/vm/ci.json: "),
            "{e}"
        );
        assert!(e.contains("line 1"), "{e}");
        let e = err(r#"{"machine_class":"ci","targets":[{"name":"a","metric":"b","value":1}]}"#);
        assert!(e.contains("unknown field `value`"), "{e}");
        let e =
            err(r#"{"machine_class":"ci","targets":[{"name":"a","metric":"b","tolerance":-1}]}"#);
        assert!(e.contains("targets[0] (a b): tolerance -1"), "{e}");
        let e = err(r#"{"machine_class":"ci","targets":[{"name":"a","metric":"b"}]}"#);
        assert!(e.contains("sets neither"), "{e}");
        let e = err(r#"{"machine_class":" "}"#);
        assert!(e.contains("machine_class is empty"), "{e}");
        let dup = r#"{"machine_class":"ci","targets":[{"name":"a","metric":"b","tolerance":1},{"name":"a","metric":"b","tolerance":2}]}"#;
        assert!(err(dup).contains("targets[1] (a b): listed twice"));

        let declared = declared_targets(&rows(), 0.0);
        let apply = |text: &str| {
            TargetOverrides::parse(text, p)
                .unwrap()
                .apply(&declared)
                .unwrap_err()
                .to_string()
        };
        let e = apply(
            r#"{"machine_class":"ci","targets":[{"name":"gc::x","metric":"m","tolerance":1}]}"#,
        );
        assert!(
            e.contains("/etc/vm/ci.json: targets[0]: no benchmark named \"gc::x\""),
            "{e}"
        );
        let e = apply(
            r#"{"machine_class":"ci","targets":[{"name":"bench_cache","metric":"max_us","tolerance":1}]}"#,
        );
        assert!(
            e.contains("declares no KPI \"max_us\" (it declares: hit_rate)"),
            "{e}"
        );
        let missing = TargetOverrides::load(Path::new("/nonexistent/t.json")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/t.json"));
    }
}
