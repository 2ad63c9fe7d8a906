//! The JSON artifact written for every benchmark run, as serde types.
//!
//! One file per benchmark: `<dir>/<module path with "::" as ".">.<name>.json`, where
//! `<dir>` is `$VM_BENCH_DIR`, else `$CARGO_TARGET_DIR/vm-bench`, else the `target/vm-bench`
//! directory of the test binary. It is written atomically (temp file + rename) and
//! overwritten by the next run of the same benchmark.
//!
//! Schema (version [`SCHEMA_VERSION`]); all times are nanoseconds as `f64`:
//! - `schema`: the version number; readers reject versions they do not know.
//! - `identity`: name, module path, file, line, category, test binary ([`Identity`]).
//! - `outcome`: `passed` | `failed` | `panicked` | `reported` | `not_enforced` | `smoke`
//!   ([`Outcome`]); `enforced` says whether a breach would fail the test.
//! - `kpis`: one [`KpiResult`] per declared bound: bound, statistic, measured value,
//!   confidence interval, margin, verdict and the reason for it.
//! - `timing`: statistics of the timed routine ([`TimingResult`]: [`Stats`] of all samples
//!   and of the samples kept for the verdict, raw samples, outliers, descheduled samples);
//!   `null` when the body has no timed routine or panicked.
//! - `compare`: the interleaved baseline/candidate measurement of `Bench::compare`
//!   ([`CompareResult`]), or `null`.
//! - `metrics`: every custom metric reported with `Bench::metric` ([`MetricResult`]).
//! - `config`: the effective harness configuration ([`Config`]); `measurement`: how the run
//!   went (clock calibration, lock wait, rounds, decisions: [`MeasurementInfo`]).
//! - `verdict_rule`: the exact rule applied, as text.
//! - `panic_message`: the body's panic message when `outcome` is `panicked` (then `timing`,
//!   `compare` and `metrics` are empty: no half-computed statistics).
//! - `failures`: the one-line failure messages, as printed.
//! - `flamegraph`: the flame graph SVG drawn after the verdict, relative to the artifact's
//!   directory (`<artifact stem>.flame.svg`); absent when none was drawn (artifacts written
//!   before the field existed load as absent).
//! - `environment`: timestamp, git commit, rustc, target, optimization level, CPU, OS
//!   ([`Environment`]).
//!
//! Fields are only ever added (never renamed); readers should ignore unknown fields.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::spec::{BodyForm, CmpOp, Flavor, Stat};

/// The artifact schema version written by this harness.
pub const SCHEMA_VERSION: u32 = 1;

/// One benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// Schema version, [`SCHEMA_VERSION`].
    pub schema: u32,
    /// Which benchmark.
    pub identity: Identity,
    /// The final outcome.
    pub outcome: Outcome,
    /// The mode the harness ran in.
    pub mode: Mode,
    /// Whether a clear KPI breach fails the test (enforce mode on an optimized build).
    pub enforced: bool,
    /// One entry per declared bound.
    pub kpis: Vec<KpiResult>,
    /// The timed routine (`iter`, `iter_batched`, `iter_async`, or the whole body).
    pub timing: Option<TimingResult>,
    /// The interleaved comparison of `Bench::compare`.
    pub compare: Option<CompareResult>,
    /// Custom metrics reported by the body.
    pub metrics: Vec<MetricResult>,
    /// The effective configuration.
    pub config: Config,
    /// How the measurement went.
    pub measurement: MeasurementInfo,
    /// The exact verdict rule, in words.
    pub verdict_rule: String,
    /// The panic message of the body, when it panicked.
    pub panic_message: Option<String>,
    /// The failure lines, one per breached KPI (or other failure), as printed.
    pub failures: Vec<String>,
    /// The flame graph drawn after the verdict (a failed KPI, `VM_BENCH_FLAMEGRAPH=always`
    /// or the attribute's `flamegraph`): the SVG's path relative to the artifact's
    /// directory. Absent when none was drawn; `measurement.warnings` then says why when
    /// one was wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flamegraph: Option<String>,
    /// Where and when it ran.
    pub environment: Environment,
}

impl Artifact {
    /// Reads and deserializes an artifact file, rejecting unknown schema versions.
    pub fn read(path: &Path) -> Result<Artifact, ArtifactError> {
        let text = std::fs::read_to_string(path).map_err(|source| ArtifactError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Artifact::from_json(&text)
    }

    /// Deserializes an artifact from JSON text, rejecting unknown schema versions.
    pub fn from_json(text: &str) -> Result<Artifact, ArtifactError> {
        let artifact: Artifact = serde_json::from_str(text).map_err(ArtifactError::Json)?;
        if artifact.schema != SCHEMA_VERSION {
            return Err(ArtifactError::Schema(artifact.schema));
        }
        Ok(artifact)
    }
}

/// Why an artifact could not be read or written.
#[derive(Debug)]
pub enum ArtifactError {
    /// Filesystem error.
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not valid JSON for this schema.
    Json(serde_json::Error),
    /// A schema version this harness does not know.
    Schema(u32),
}

impl std::fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArtifactError::Io { path, source } => write!(f, "artifact {path}: {source}"),
            ArtifactError::Json(e) => write!(f, "artifact is not valid JSON: {e}"),
            ArtifactError::Schema(v) => write!(
                f,
                "artifact schema {v} is not supported (this harness writes {SCHEMA_VERSION})"
            ),
        }
    }
}

impl std::error::Error for ArtifactError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArtifactError::Io { source, .. } => Some(source),
            ArtifactError::Json(e) => Some(e),
            ArtifactError::Schema(_) => None,
        }
    }
}

/// Which benchmark an artifact belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Function name.
    pub name: String,
    /// `module_path!()` of the function.
    pub module_path: String,
    /// `module_path::name`.
    pub full_name: String,
    /// Source file.
    pub file: String,
    /// Source line.
    pub line: u32,
    /// KPI category, if declared (free-form, as written in the attribute).
    pub category: Option<String>,
    /// Path of the executable that ran it.
    pub test_binary: String,
    /// How the function was written.
    pub form: BodyForm,
}

/// The outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every enforced KPI passed.
    Passed,
    /// At least one KPI was clearly breached (or a declared metric was not reported, or the
    /// body misused the API), and KPIs were enforced.
    Failed,
    /// The body panicked.
    Panicked,
    /// Report mode: measured, never fails.
    Reported,
    /// KPIs were not enforced because the build is unoptimized.
    NotEnforced,
    /// Smoke mode: one short pass, KPIs reported but not enforced.
    Smoke,
}

impl Outcome {
    /// The spelling used in artifacts (`passed`, `not_enforced`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Panicked => "panicked",
            Outcome::Reported => "reported",
            Outcome::NotEnforced => "not_enforced",
            Outcome::Smoke => "smoke",
        }
    }
}

impl std::fmt::Display for Outcome {
    /// The artifact spelling (`passed`, `not_enforced`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Harness mode, from `VM_BENCH_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Measure and fail on a clear KPI breach (default).
    #[default]
    Enforce,
    /// Measure and write artifacts, never fail on a KPI.
    Report,
    /// One short pass for fast local iteration; KPIs are reported, not enforced.
    Smoke,
    /// The body runs once as a plain test; nothing is measured or written.
    Off,
}

impl Mode {
    /// The spelling used in `VM_BENCH_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
            Mode::Smoke => "smoke",
            Mode::Off => "off",
        }
    }
}

/// The verdict of one KPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The whole confidence interval satisfies the bound.
    Pass,
    /// The whole confidence interval breaches the bound.
    Fail,
    /// The interval still straddled the bound after the last round: no clear breach, so the
    /// test does not fail, and the artifact says so.
    Inconclusive,
    /// A declared metric was never reported, or a time bound has no timed routine.
    Missing,
}

impl std::fmt::Display for Verdict {
    /// The upper-case word reports print: `PASS`, `FAIL`, `INCONCLUSIVE`, `MISSING`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::Missing => "MISSING",
        })
    }
}

/// A confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// Nominal coverage (0.95 = 95 %).
    pub confidence: f64,
    /// How it was computed: `order_statistic`, `bootstrap_percentile`, `exact` (a single
    /// observation or the sample maximum: no uncertainty estimate).
    pub method: String,
}

/// The result of one declared bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiResult {
    /// What is bounded: `time`, `throughput`, `metric`, `relative`.
    pub kind: String,
    /// The attribute key (`max_us`, `min_ops_per_sec`, `hit_rate`, `max_overhead_pct`).
    pub key: String,
    /// The measured quantity (`time_ns`, `ops_per_sec`, metric name, `overhead_pct`, ...).
    pub quantity: String,
    /// The statistic the bound is checked on (`median`, `mean`, ...).
    pub statistic: String,
    /// The operator: the KPI holds when `measured op bound`.
    pub op: CmpOp,
    /// The bound, in `unit`.
    pub bound: f64,
    /// Unit of `bound` and `measured` (`ns`, `ops/s`, `%`, `x`, or empty).
    pub unit: String,
    /// The measured value of the statistic, absent when never measured.
    pub measured: Option<f64>,
    /// Its confidence interval.
    pub interval: Option<Interval>,
    /// Signed margin in % of the bound; positive = headroom, negative = breach.
    pub margin_pct: Option<f64>,
    /// Number of samples behind the value.
    pub samples: usize,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
    /// The declared bound, the applied one and where it came from (an override file for
    /// this machine class, or the attribute).
    #[serde(default)]
    pub bound_source: Option<BoundSource>,
}

/// Where the bound a KPI was checked against came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundSource {
    /// The bound written in the attribute, in `unit`.
    pub declared: f64,
    /// The bound applied, in `unit` (after an override's value and tolerance).
    pub applied: f64,
    /// Unit of both (`ms` for `max_ms`, `us` for `max_us`, the KPI's unit otherwise).
    pub unit: String,
    /// The override file (`$VM_BENCH_TARGETS`), or `None` for the attribute's bound.
    pub file: Option<String>,
    /// The file's machine class.
    pub machine_class: Option<String>,
    /// Index of the file's `targets` entry for this KPI; `None` when only the file's
    /// `default_tolerance` applied.
    pub entry: Option<usize>,
    /// Tolerance applied, percent of the bound.
    pub tolerance_pct: f64,
}

impl BoundSource {
    /// One phrase for failure lines and reports.
    pub fn describe(&self) -> String {
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        let num = crate::verdict::fmt_num;
        match (&self.file, &self.machine_class) {
            (Some(file), class) if self.entry.is_none() && self.tolerance_pct == 0.0 => format!(
                "declared bound; {file} (machine class {}) has no entry for it",
                class.as_deref().unwrap_or("?")
            ),
            (Some(file), class) => {
                let what = match self.entry {
                    Some(i) => format!("targets[{i}]"),
                    None => "default_tolerance".to_string(),
                };
                let tol = if self.tolerance_pct > 0.0 {
                    format!(" incl. tolerance {}%", num(self.tolerance_pct))
                } else {
                    String::new()
                };
                format!(
                    "bound from {file} {what} (machine class {}){tol}; declared {}{unit}",
                    class.as_deref().unwrap_or("?"),
                    num(self.declared)
                )
            }
            (None, _) => "declared bound".to_string(),
        }
    }
}

/// Summary statistics of per-iteration times (ns), or of any sample set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (linear interpolation between order statistics, numpy's default).
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Sample standard deviation (n - 1 denominator).
    pub stddev: f64,
    /// Median absolute deviation from the median (unscaled).
    pub mad: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Bootstrap percentile interval of the mean.
    pub mean_ci: Interval,
    /// Order-statistic interval of the median.
    pub median_ci: Interval,
    /// Tukey-fence outlier counts (counted, never dropped).
    pub outliers: Outliers,
}

/// Tukey-fence outlier counts: mild beyond 1.5 IQR, severe beyond 3 IQR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Outliers {
    /// Below Q1 - 3 IQR.
    pub low_severe: usize,
    /// Between Q1 - 3 IQR and Q1 - 1.5 IQR.
    pub low_mild: usize,
    /// Between Q3 + 1.5 IQR and Q3 + 3 IQR.
    pub high_mild: usize,
    /// Above Q3 + 3 IQR.
    pub high_severe: usize,
}

/// The timed routine's measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingResult {
    /// `iter`, `iter_batched`, `iter_async`, `whole_body`, `whole_body_async`.
    pub routine: String,
    /// Iterations per sample.
    pub iterations_per_sample: u64,
    /// Iterations timed in total (all rounds, excluding warm-up).
    pub total_iterations: u64,
    /// Wall time spent inside timed regions (ns).
    pub total_ns: f64,
    /// Statistics over all samples (per-iteration ns).
    pub all: Stats,
    /// Statistics over the samples the verdict used (descheduled samples excluded when
    /// they are a minority; otherwise identical to `all`).
    pub kept: Stats,
    /// Throughput from the checked statistic: 1e9 / time (iterations per second).
    pub throughput_ops_per_sec: f64,
    /// Samples during which the thread was descheduled for a noticeable share of the
    /// sample: preempted (waiting on a run queue) when `off_cpu_evidence` is `schedstat`,
    /// off-CPU for any reason when it is `thread_cpu_clock`.
    pub descheduled_samples: usize,
    /// Whether descheduled samples were excluded from `kept`.
    pub descheduled_excluded: bool,
    /// What told running, preempted and waiting time apart.
    #[serde(default)]
    pub off_cpu_evidence: OffCpuEvidence,
    /// Which per-sample time the checked statistic (`kept`) was computed from.
    #[serde(default)]
    pub checked_time: CheckedTime,
    /// Wall time of all samples split into running (thread CPU clock), preempted
    /// (run-queue wait) and waiting (off-CPU, not runnable: I/O, locks, other threads), in
    /// ns summed over samples; `None` parts were not observable on this platform.
    #[serde(default)]
    pub wall_split: WallSplit,
    /// Raw samples, in measurement order.
    pub samples: Vec<Sample>,
}

/// What the harness could observe about a sample's time off the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OffCpuEvidence {
    /// `/proc/thread-self/schedstat` run-queue wait plus the thread CPU clock: preemption is
    /// told apart from the body waiting on its own.
    Schedstat,
    /// Only the thread CPU clock (schedstat missing): wall minus CPU time is off-CPU time of
    /// either kind, and a sample mostly off-CPU cannot be told from a body that waits.
    ThreadCpuClock,
    /// Neither clock: samples are never judged descheduled.
    #[default]
    None,
}

/// Which per-sample time feeds the checked statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CheckedTime {
    /// Wall time of every sample (no sample was descheduled, or schedstat is missing and
    /// most samples were off-CPU, which then counts as the body's own waiting).
    #[default]
    Wall,
    /// Wall time of the samples that were not descheduled (they were a minority).
    WallExcludingDescheduled,
    /// Wall time minus run-queue wait of every sample (most samples were preempted; each
    /// sample's time is what it took while it had a CPU, its own waiting included).
    WallMinusPreemption,
}

impl CheckedTime {
    /// The spelling used in artifacts and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckedTime::Wall => "wall",
            CheckedTime::WallExcludingDescheduled => "wall_excluding_descheduled",
            CheckedTime::WallMinusPreemption => "wall_minus_preemption",
        }
    }
}

/// Wall time split by what the thread did (ns, summed over samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct WallSplit {
    /// Wall time of the timed regions.
    pub wall_ns: f64,
    /// Time on a CPU (thread CPU clock).
    pub running_ns: Option<f64>,
    /// Time runnable but waiting for a CPU (schedstat run-queue wait): preemption.
    pub preempted_ns: Option<f64>,
    /// The rest: off-CPU and not runnable (I/O, sleeping, locks, joined threads).
    pub waiting_ns: Option<f64>,
}

/// One raw sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Iterations in this sample.
    pub iterations: u64,
    /// Wall time of the whole sample (ns).
    pub wall_ns: f64,
    /// Thread CPU time of the whole sample (ns), when the platform provides it.
    pub cpu_ns: Option<f64>,
    /// Wall time per iteration (ns).
    pub per_iter_ns: f64,
    /// Whether this sample was judged descheduled (see `TimingResult::off_cpu_evidence`).
    pub descheduled: bool,
    /// Measurement round (1-based).
    pub round: u32,
    /// Run-queue wait of the thread during the sample (ns): time it was preempted.
    /// Absent without schedstat.
    #[serde(default)]
    pub preempted_ns: Option<f64>,
    /// Off-CPU time that was not run-queue wait (ns): the body's own waiting.
    /// Absent without schedstat.
    #[serde(default)]
    pub waiting_ns: Option<f64>,
}

/// The interleaved baseline/candidate measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareResult {
    /// Number of (baseline, candidate) pairs.
    pub pairs: usize,
    /// Iterations per baseline sample.
    pub baseline_iterations: u64,
    /// Iterations per candidate sample.
    pub candidate_iterations: u64,
    /// Baseline per-iteration statistics (ns).
    pub baseline: Stats,
    /// Candidate per-iteration statistics (ns).
    pub candidate: Stats,
    /// Median of the paired ratios candidate/baseline, with its order-statistic interval.
    pub ratio: Estimate,
    /// Median of the paired differences candidate - baseline (ns), with its interval.
    pub diff_ns: Estimate,
    /// (ratio - 1) * 100.
    pub overhead_pct: Estimate,
    /// 1 / ratio.
    pub speedup: Estimate,
    /// (1/ratio - 1) * 100.
    pub gain_pct: Estimate,
    /// Raw pairs: (baseline ns/iter, candidate ns/iter).
    pub raw_pairs: Vec<(f64, f64)>,
}

/// A point estimate with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Point value.
    pub value: f64,
    /// Confidence interval.
    pub interval: Interval,
}

/// A custom metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    /// Name passed to `Bench::metric`.
    pub name: String,
    /// Every reported value, in order.
    pub values: Vec<f64>,
    /// The value the bound is checked on: the single value, or the mean of several.
    pub value: f64,
    /// Interval: exact for one value, bootstrap percentile of the mean for several.
    pub interval: Interval,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Checked statistic for time/throughput bounds.
    pub stat: Stat,
    /// Warm-up time before the first round (ms).
    pub warmup_ms: f64,
    /// Time budget of one measurement round (ms).
    pub measure_ms: f64,
    /// Exact sample count, if fixed by the attribute.
    pub samples: Option<u32>,
    /// Iterations per sample, if fixed by the attribute.
    pub iterations: Option<u64>,
    /// Samples taken before the stopping rule is consulted.
    pub min_samples: usize,
    /// Upper limit on samples per round.
    pub max_samples: usize,
    /// The stopping rule's target: CI half-width / estimate.
    pub target_rel_error: f64,
    /// Target wall time of one sample (ns), used by calibration.
    pub target_sample_ns: f64,
    /// Confidence level of every interval.
    pub confidence: f64,
    /// Maximum measurement rounds when an interval straddles a bound.
    pub max_rounds: u32,
    /// Async runtime flavour.
    pub flavor: Flavor,
}

/// How the measurement went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MeasurementInfo {
    /// Cost of one wall-clock read (ns).
    pub clock_cost_ns: f64,
    /// Smallest observable wall-clock step (ns).
    pub clock_resolution_ns: f64,
    /// Cost of one thread-CPU-clock read (ns), if available.
    pub cpu_clock_cost_ns: Option<f64>,
    /// Time spent waiting for the process and file locks (ns).
    pub lock_wait_ns: f64,
    /// When the locks were acquired (ns since the Unix epoch): the benchmark ran, setup and
    /// timed regions included, inside `[locked_from_unix_ns, locked_until_unix_ns]`.
    pub locked_from_unix_ns: u128,
    /// When the locks were released (ns since the Unix epoch).
    pub locked_until_unix_ns: u128,
    /// Measurement rounds performed.
    pub rounds: u32,
    /// Rounds of `Bench::metric_rounds` run (0 when the body does not use it).
    #[serde(default)]
    pub metric_rounds: u32,
    /// Warm-up iterations run.
    pub warmup_iterations: u64,
    /// Wall time of the whole benchmark, setup included (ms).
    pub elapsed_ms: f64,
    /// Why measuring stopped, per round (`relative error 0.8% <= 1%`, `budget`, ...).
    pub stop_reasons: Vec<String>,
    /// What was decided and why (re-measurement, inconclusive outcome, exclusions).
    pub decisions: Vec<String>,
    /// Warnings (unoptimized build, descheduling, ...).
    pub warnings: Vec<String>,
}

/// Where and when it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Environment {
    /// Start time, RFC 3339 UTC.
    pub timestamp: String,
    /// Start time, milliseconds since the Unix epoch.
    pub timestamp_unix_ms: u128,
    /// `git rev-parse HEAD` in the benchmark crate, when available.
    pub git_commit: Option<String>,
    /// Whether the git work tree had uncommitted changes, when known.
    pub git_dirty: Option<bool>,
    /// `rustc --version` of the compiler that built the harness.
    pub rustc_version: String,
    /// Target triple.
    pub target_triple: String,
    /// Optimization level the harness was built with (`0`..`3`, `s`, `z`).
    pub opt_level: String,
    /// Cargo profile name the harness was built with.
    pub profile: String,
    /// `cfg!(debug_assertions)` of the benchmark's crate.
    pub debug_assertions: bool,
    /// Whether the benchmark's own crate was optimized, from its probe loop (absent for
    /// specs without a probe).
    pub bench_crate_optimized: Option<bool>,
    /// Best time of one probe-loop call (ns).
    pub opt_probe_ns: Option<f64>,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical cores available to the process.
    pub logical_cores: usize,
    /// Operating system (`linux`, plus release when known).
    pub os: String,
    /// Host name.
    pub hostname: String,
}
