//! The static description of one benchmark, as written in its `#[perf_target(...)]`
//! attribute. The macro emits one [`BenchSpec`] per benchmark as a `static`, so both the
//! `#[test]` wrapper and the registry point at the same description.

use serde::{Deserialize, Serialize};

/// Everything the attribute says about one benchmark. Built by the macro; the fields are
/// public so the macro can emit a `static` initializer, but hand-written specs are unusual.
#[derive(Debug, Clone, Copy)]
pub struct BenchSpec {
    /// The function name (`bench_gc_pause_time`).
    pub name: &'static str,
    /// `module_path!()` at the benchmark (starts with the crate name).
    pub module_path: &'static str,
    /// `file!()` at the benchmark.
    pub file: &'static str,
    /// `line!()` of the benchmark function.
    pub line: u32,
    /// The KPI category, when the attribute names one: any non-empty string (a suite
    /// may require its own set, see `suite::Suite::categories`).
    pub category: Option<&'static str>,
    /// The declared bounds, in attribute order.
    pub kpis: &'static [KpiSpec],
    /// The measurement shape requested by the attribute.
    pub config: ConfigSpec,
    /// How the function was written (which decides what a whole-body iteration is).
    pub form: BodyForm,
    /// `cfg!(debug_assertions)` of the crate that defines the benchmark.
    pub debug_assertions: bool,
    /// `env!("CARGO_MANIFEST_DIR")` of the crate that defines the benchmark.
    pub manifest_dir: &'static str,
    /// A loop compiled in the benchmark's crate that any optimizing build folds to a
    /// constant; timing it tells whether that crate was built unoptimized even when the
    /// harness itself was optimized (see `env::probe_optimization`).
    pub opt_probe: Option<fn() -> u64>,
}

impl BenchSpec {
    /// `module::path::name`, the identity used for artifacts and failure messages.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.module_path, self.name)
    }

    /// The statistic a time or throughput bound is checked on.
    pub fn stat(&self) -> Stat {
        self.config.stat.unwrap_or(Stat::DEFAULT)
    }

    /// True when the attribute declares a bound on the time of one iteration.
    pub fn has_time_kpi(&self) -> bool {
        self.kpis
            .iter()
            .any(|k| matches!(k, KpiSpec::MaxTime { .. } | KpiSpec::MinThroughput { .. }))
    }

    /// True when the attribute declares a relative (compare) bound.
    pub fn has_relative_kpi(&self) -> bool {
        self.kpis
            .iter()
            .any(|k| matches!(k, KpiSpec::Relative { .. }))
    }
}

/// The statistic of per-iteration time that a time or throughput bound is checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    /// 50th percentile. The default: a descheduled sample moves the mean, not the median.
    Median,
    /// Arithmetic mean.
    Mean,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// Largest sample.
    Max,
}

impl Stat {
    /// The statistic used when the attribute has no `stat = ...`.
    pub const DEFAULT: Stat = Stat::Median;

    /// The spelling used in the attribute and in artifacts.
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Median => "median",
            Stat::Mean => "mean",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::Max => "max",
        }
    }

    /// The quantile this statistic estimates, if it is one.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::Median => Some(0.5),
            Stat::P90 => Some(0.9),
            Stat::P95 => Some(0.95),
            Stat::P99 => Some(0.99),
            Stat::Mean | Stat::Max => None,
        }
    }
}

impl std::fmt::Display for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison operator of a `metrics(...)` bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// True for `<` and `<=`: the measured value must stay below the bound.
    pub fn is_upper_bound(self) -> bool {
        matches!(self, CmpOp::Lt | CmpOp::Le)
    }

    /// Whether `value op bound` holds.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            CmpOp::Lt => value < bound,
            CmpOp::Le => value <= bound,
            CmpOp::Gt => value > bound,
            CmpOp::Ge => value >= bound,
        }
    }
}

/// The quantity a relative bound constrains; all are computed from interleaved
/// baseline/candidate samples of [`crate::Bench::compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelativeKind {
    /// `(candidate/baseline - 1) * 100 <= bound`
    MaxOverheadPct,
    /// `baseline/candidate >= bound`
    MinSpeedup,
    /// `candidate - baseline <= bound` (ns per iteration)
    MaxOverheadNs,
    /// `(baseline/candidate - 1) * 100 >= bound`
    MinGainPct,
}

impl RelativeKind {
    /// The attribute key.
    pub fn key(self) -> &'static str {
        match self {
            RelativeKind::MaxOverheadPct => "max_overhead_pct",
            RelativeKind::MinSpeedup => "min_speedup",
            RelativeKind::MaxOverheadNs => "max_overhead_ns",
            RelativeKind::MinGainPct => "min_gain_pct",
        }
    }

    /// The name of the measured quantity (`overhead_pct`, `speedup`, ...).
    pub fn quantity(self) -> &'static str {
        match self {
            RelativeKind::MaxOverheadPct => "overhead_pct",
            RelativeKind::MinSpeedup => "speedup",
            RelativeKind::MaxOverheadNs => "overhead_ns",
            RelativeKind::MinGainPct => "gain_pct",
        }
    }

    /// The direction of the bound.
    pub fn op(self) -> CmpOp {
        match self {
            RelativeKind::MaxOverheadPct | RelativeKind::MaxOverheadNs => CmpOp::Le,
            RelativeKind::MinSpeedup | RelativeKind::MinGainPct => CmpOp::Ge,
        }
    }
}

/// One declared bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KpiSpec {
    /// `max_ns`/`max_us`/`max_ms`, normalized to nanoseconds per iteration.
    MaxTime {
        /// The bound in ns per iteration.
        bound_ns: f64,
        /// The attribute key it was written with, for messages.
        key: &'static str,
        /// The value as written (in the key's unit).
        written: f64,
    },
    /// `min_ops_per_sec`.
    MinThroughput {
        /// Iterations per second that must at least be reached.
        ops_per_sec: f64,
    },
    /// One entry of `metrics(...)`.
    Metric {
        /// The metric name passed to [`crate::Bench::metric`].
        name: &'static str,
        /// The operator.
        op: CmpOp,
        /// The bound.
        bound: f64,
    },
    /// A relative bound on a [`crate::Bench::compare`] measurement.
    Relative {
        /// Which quantity.
        kind: RelativeKind,
        /// The bound.
        bound: f64,
    },
}

/// The tokio runtime flavour used for async bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// One thread: the future runs on the benchmark thread (lowest overhead, the default).
    #[default]
    CurrentThread,
    /// A multi-thread runtime (required when an `async fn` takes `&mut Bench`).
    MultiThread,
}

/// The measurement shape keys of the attribute; `None` means "harness default".
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConfigSpec {
    /// `stat = "..."`.
    pub stat: Option<Stat>,
    /// `warmup_ms = ...`.
    pub warmup_ms: Option<f64>,
    /// `measure_ms = ...`: the time budget of one measurement round.
    pub measure_ms: Option<f64>,
    /// `samples = ...`: an exact sample count (disables early stopping).
    pub samples: Option<u32>,
    /// `iterations = ...`: iterations per sample (disables calibration).
    pub iterations: Option<u64>,
    /// `flavor = "..."`.
    pub flavor: Flavor,
    /// `flamegraph`: draw a flame graph after every run, not only when a KPI fails.
    pub flamegraph: bool,
}

/// How the benchmark function was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyForm {
    /// `fn f()`: the whole body is one iteration.
    WholeBody,
    /// `fn f(b: &mut Bench)`.
    Bench,
    /// `async fn f()`: the whole body is one iteration, awaited on the harness runtime.
    AsyncWholeBody,
    /// `async fn f(b: &mut Bench)`.
    AsyncBench,
}
