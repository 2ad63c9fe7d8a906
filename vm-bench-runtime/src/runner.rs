//! Runs one benchmark end to end: mode, locks, the body (panics caught), final verdicts,
//! the artifact, and the report. Shared by the `#[test]` wrapper and the registry.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::artifact::{Artifact, Identity, KpiResult, Mode, Outcome, Verdict, SCHEMA_VERSION};
use crate::bench::{kpi_result, Bench};
use crate::env;
use crate::spec::{BenchSpec, KpiSpec};
use crate::verdict::{failure_line, VERDICT_RULE};

/// Options of a run; `None` fields come from the environment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Mode override (else `VM_BENCH_MODE`).
    pub mode: Option<Mode>,
    /// Artifact directory override (else `VM_BENCH_DIR`, `CARGO_TARGET_DIR`, ...).
    pub dir: Option<PathBuf>,
    /// Do not print the summary line (warnings are still printed).
    pub quiet: bool,
}

/// The result of running one benchmark.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The artifact (absent in `off` mode).
    pub artifact: Option<Artifact>,
    /// Where the artifact was written, if it was.
    pub artifact_path: Option<PathBuf>,
    /// The failure lines; empty means the test passes.
    pub failures: Vec<String>,
    /// The body's panic message, when it panicked.
    pub panic_message: Option<String>,
    /// A human-readable one-line summary.
    pub summary: String,
}

impl RunReport {
    /// True when the benchmark passes (no failure line, no panic).
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.panic_message.is_none()
    }
}

/// Runs `body` as the benchmark described by `spec`.
pub fn execute(spec: &'static BenchSpec, body: fn(&mut Bench), opts: &RunOptions) -> RunReport {
    let full_name = spec.full_name();
    let mode = match opts.mode.map(Ok).unwrap_or_else(env::mode_from_env) {
        Ok(m) => m,
        Err(e) => {
            return RunReport {
                artifact: None,
                artifact_path: None,
                failures: vec![format!("{full_name}: {e}")],
                panic_message: None,
                summary: format!("{full_name}: invalid mode"),
            }
        }
    };
    if mode == Mode::Off {
        let mut bench = Bench::new(spec, mode);
        let result = catch_unwind(AssertUnwindSafe(|| body(&mut bench)));
        return match result {
            Ok(()) => RunReport {
                artifact: None,
                artifact_path: None,
                failures: bench.errors.clone(),
                panic_message: None,
                summary: format!("{full_name}: ran once (VM_BENCH_MODE=off)"),
            },
            Err(payload) => {
                let msg = panic_message(&*payload);
                RunReport {
                    artifact: None,
                    artifact_path: None,
                    failures: Vec::new(),
                    panic_message: Some(msg.clone()),
                    summary: format!("{full_name}: panicked: {msg}"),
                }
            }
        };
    }

    let dir = opts
        .dir
        .clone()
        .unwrap_or_else(|| env::output_dir(spec.manifest_dir));
    let started = Instant::now();
    let (lock, lock_warning) = crate::lock::acquire(&dir);
    let environment = env::environment(spec.manifest_dir, spec.debug_assertions);
    let mut bench = Bench::new(spec, mode);
    bench.info.lock_wait_ns = lock.waited.as_nanos() as f64;
    bench.info.locked_from_unix_ns = unix_ns();
    let result = catch_unwind(AssertUnwindSafe(|| body(&mut bench)));
    bench.info.locked_until_unix_ns = unix_ns();
    drop(lock);

    let unoptimized = env::is_unoptimized();
    let enforced = mode == Mode::Enforce && !unoptimized;
    let path = dir.join(artifact_file_name(spec));
    let path_str = path.display().to_string();
    let mut info = std::mem::take(&mut bench.info);
    info.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    info.warnings.extend(lock_warning);
    if unoptimized {
        info.warnings.push(format!(
            "UNOPTIMIZED BUILD (opt-level {}): KPIs of {full_name} are measured but NOT \
             enforced; set opt-level = 3 in [profile.test]",
            env::opt_level()
        ));
    }

    let identity = Identity {
        name: spec.name.to_string(),
        module_path: spec.module_path.to_string(),
        full_name: full_name.clone(),
        file: spec.file.to_string(),
        line: spec.line,
        category: spec.category,
        test_binary: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        form: spec.form,
    };

    let mut artifact = Artifact {
        schema: SCHEMA_VERSION,
        identity,
        outcome: Outcome::Passed,
        mode,
        enforced,
        kpis: Vec::new(),
        timing: None,
        compare: None,
        metrics: Vec::new(),
        config: bench.config().clone(),
        measurement: info,
        verdict_rule: VERDICT_RULE.to_string(),
        panic_message: None,
        failures: Vec::new(),
        environment,
    };

    let mut panic_msg = None;
    match result {
        Err(payload) => {
            let msg = panic_message(&*payload);
            artifact.outcome = Outcome::Panicked;
            artifact.panic_message = Some(msg.clone());
            artifact.failures.push(format!(
                "BENCHMARK PANICKED {full_name}: {msg}; artifact: {path_str}"
            ));
            panic_msg = Some(msg);
        }
        Ok(()) => {
            artifact.kpis = final_kpis(spec, &bench);
            artifact.metrics = bench.metric_results();
            artifact.timing = bench.timing.take();
            artifact.compare = bench.compare.take();
            let mut failures: Vec<String> = bench
                .errors
                .iter()
                .map(|e| format!("BENCHMARK ERROR {full_name}: {e}; artifact: {path_str}"))
                .collect();
            failures.extend(
                artifact
                    .kpis
                    .iter()
                    .filter(|k| matches!(k.verdict, Verdict::Fail | Verdict::Missing))
                    .map(|k| failure_line(&full_name, k, &path_str)),
            );
            artifact.outcome = match mode {
                Mode::Report => Outcome::Reported,
                Mode::Smoke => Outcome::Smoke,
                _ if unoptimized => Outcome::NotEnforced,
                _ if failures.is_empty() => Outcome::Passed,
                _ => Outcome::Failed,
            };
            artifact.failures = failures;
        }
    }

    let mut artifact_path = None;
    match write_atomically(&path, &artifact) {
        Ok(()) => artifact_path = Some(path.clone()),
        Err(e) => eprintln!("vm-bench: warning: could not write artifact {path_str}: {e}"),
    }
    for w in &artifact.measurement.warnings {
        eprintln!("vm-bench: WARNING: {w}");
    }
    let summary = summary_line(&artifact, &path_str);
    if !opts.quiet {
        println!("{summary}");
    }
    let failures = if panic_msg.is_some() || enforced {
        artifact.failures.clone()
    } else {
        for f in &artifact.failures {
            println!("vm-bench: (not enforced) {f}");
        }
        Vec::new()
    };
    RunReport {
        artifact: Some(artifact),
        artifact_path,
        failures,
        panic_message: panic_msg,
        summary,
    }
}

/// The `#[test]` entry point: runs the benchmark and panics with the failure lines.
#[track_caller]
pub fn run_test(spec: &'static BenchSpec, body: fn(&mut Bench)) {
    let report = execute(spec, body, &RunOptions::default());
    if let Some(msg) = &report.panic_message {
        match &report.artifact_path {
            Some(p) => panic!(
                "{msg}\n(benchmark {} panicked; artifact: {})",
                spec.full_name(),
                p.display()
            ),
            None => panic!("{msg}"),
        }
    }
    if !report.failures.is_empty() {
        panic!("{}", report.failures.join("\n"));
    }
}

/// The KPI results after the body returned: time and relative results from the last
/// round, metric checks, and MISSING entries for bounds nothing measured.
fn final_kpis(spec: &BenchSpec, bench: &Bench) -> Vec<KpiResult> {
    let metrics = bench.metric_results();
    let mut time = bench.time_kpis.iter();
    let mut rel = bench.relative_kpis.iter();
    spec.kpis
        .iter()
        .map(|k| match *k {
            KpiSpec::MaxTime { bound_ns, key, .. } => time.next().cloned().unwrap_or_else(|| {
                missing(
                    "time",
                    key,
                    "time",
                    spec.stat().as_str(),
                    crate::spec::CmpOp::Le,
                    bound_ns,
                    "ns",
                    "the body never called b.iter / iter_batched / iter_async",
                )
            }),
            KpiSpec::MinThroughput { ops_per_sec } => time.next().cloned().unwrap_or_else(|| {
                missing(
                    "throughput",
                    "min_ops_per_sec",
                    "throughput",
                    spec.stat().as_str(),
                    crate::spec::CmpOp::Ge,
                    ops_per_sec,
                    "ops/s",
                    "the body never called b.iter / iter_batched / iter_async",
                )
            }),
            KpiSpec::Relative { kind, bound } => rel.next().cloned().unwrap_or_else(|| {
                missing(
                    "relative",
                    kind.key(),
                    kind.quantity(),
                    "median of pairs",
                    kind.op(),
                    bound,
                    "",
                    "the body never called b.compare(baseline, candidate)",
                )
            }),
            KpiSpec::Metric { name, op, bound } => match metrics.iter().find(|m| m.name == name) {
                Some(m) => kpi_result(
                    "metric",
                    name,
                    name,
                    if m.values.len() == 1 { "value" } else { "mean" },
                    op,
                    bound,
                    "",
                    crate::artifact::Estimate {
                        value: m.value,
                        interval: m.interval.clone(),
                    },
                    m.values.len(),
                ),
                None => missing(
                    "metric",
                    name,
                    name,
                    "value",
                    op,
                    bound,
                    "",
                    &format!("the body never called b.metric(\"{name}\", ..)"),
                ),
            },
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn missing(
    kind: &str,
    key: &str,
    quantity: &str,
    statistic: &str,
    op: crate::spec::CmpOp,
    bound: f64,
    unit: &str,
    why: &str,
) -> KpiResult {
    KpiResult {
        kind: kind.into(),
        key: key.into(),
        quantity: quantity.into(),
        statistic: statistic.into(),
        op,
        bound,
        unit: unit.into(),
        measured: None,
        interval: None,
        margin_pct: None,
        samples: 0,
        verdict: Verdict::Missing,
        reason: why.into(),
    }
}

fn summary_line(a: &Artifact, path: &str) -> String {
    let mut parts = vec![format!(
        "vm-bench {} [{:?}]",
        a.identity.full_name, a.outcome
    )];
    if let Some(t) = &a.timing {
        parts.push(format!(
            "median {} ns/iter (mean {}, n={}, {} iters/sample, {} descheduled)",
            crate::verdict::fmt_num(t.kept.median),
            crate::verdict::fmt_num(t.kept.mean),
            t.kept.n,
            t.iterations_per_sample,
            t.descheduled_samples
        ));
    }
    if let Some(c) = &a.compare {
        parts.push(format!(
            "candidate/baseline {} (overhead {}%, {} pairs)",
            crate::verdict::fmt_num(c.ratio.value),
            crate::verdict::fmt_num(c.overhead_pct.value),
            c.pairs
        ));
    }
    for m in &a.metrics {
        parts.push(format!("{} = {}", m.name, crate::verdict::fmt_num(m.value)));
    }
    parts.push(format!("artifact {path}"));
    parts.join("; ")
}

/// The artifact file name of a spec: module path with `::` replaced by `.`, then the name.
pub fn artifact_file_name(spec: &BenchSpec) -> String {
    format!("{}.{}.json", spec.module_path.replace("::", "."), spec.name)
}

/// Writes JSON to a temporary file in the same directory, then renames it into place, so a
/// reader never sees a partial artifact.
pub fn write_atomically(path: &Path, artifact: &Artifact) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(artifact).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("artifact"),
        std::process::id()
    ));
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The message of a panic payload (`&str` or `String`; other payloads are named as such).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

fn unix_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
