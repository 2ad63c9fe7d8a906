//! Runs one benchmark end to end: mode, locks, the body (panics caught), final verdicts,
//! the artifact, and the report. Shared by the `#[test]` wrapper and the registry.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::artifact::{Artifact, Identity, KpiResult, Mode, Outcome, Verdict, SCHEMA_VERSION};
use crate::bench::{kpi_result, Bench};
use crate::env;
use crate::profile::{FlamegraphPolicy, ProfilePlan, Session};
use crate::spec::{BenchSpec, KpiSpec};
use crate::verdict::{failure_line, VERDICT_RULE};

thread_local! {
    /// Set while this thread runs a benchmark body: a nested run would deadlock on the lock.
    static IN_BENCHMARK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

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
    /// A benchmark refused before anything was measured or written: one failure line.
    fn refused(failure: String, summary: String) -> Self {
        RunReport {
            artifact: None,
            artifact_path: None,
            failures: vec![failure],
            panic_message: None,
            summary,
        }
    }

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
            return RunReport::refused(
                format!("{full_name}: {e}"),
                format!("{full_name}: invalid mode"),
            )
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
    if IN_BENCHMARK.with(|b| b.get()) {
        return RunReport::refused(
            format!(
                "{full_name}: a benchmark cannot run another benchmark from its body \
                 (the harness lock is held)"
            ),
            format!("{full_name}: nested run refused"),
        );
    }
    let flamegraph_policy = match FlamegraphPolicy::from_env() {
        Ok(p) => p.for_benchmark(spec.config.flamegraph),
        Err(e) => {
            return RunReport::refused(
                format!("{full_name}: {e}"),
                format!("{full_name}: invalid {}", crate::profile::ENV_VAR),
            )
        }
    };
    // The bounds to check: the declared ones, or those of this machine class's override
    // file. A bad file fails the benchmark before anything is measured or written.
    let kpis = match resolve_bounds(spec) {
        Ok(k) => k,
        Err(e) => {
            return RunReport::refused(
                format!("BENCHMARK ERROR {full_name}: {e}"),
                format!("{full_name}: bad target override file"),
            )
        }
    };
    let started = Instant::now();
    // Gathered before taking the lock: running `git` is not worth other benchmarks' time.
    let mut environment = env::environment(spec.manifest_dir, spec.debug_assertions);
    let (crate_unoptimized, probe_ns) = match spec.opt_probe {
        Some(probe) => {
            let (slow, ns) = env::probe_optimization(probe);
            environment.bench_crate_optimized = Some(!slow);
            environment.opt_probe_ns = Some(ns);
            (slow, ns)
        }
        None => (false, f64::NAN),
    };
    let (lock, lock_warning) = crate::lock::acquire(&dir);
    let mut bench = Bench::new(spec, mode);
    bench.kpis = kpis.iter().map(|(k, _)| *k).collect();
    if let Some((_, src)) = kpis.iter().find(|(_, s)| s.file.is_some()) {
        let applied: Vec<String> = kpis
            .iter()
            .map(|(k, s)| {
                let declared = if s.applied != s.declared {
                    format!(" (declared {})", crate::verdict::fmt_num(s.declared))
                } else {
                    String::new()
                };
                format!(
                    "{} {} {}{declared}",
                    crate::targets::kpi_key(k),
                    crate::verdict::fmt_num(s.applied),
                    s.unit
                )
            })
            .collect();
        bench.info.decisions.push(format!(
            "bounds from {} (machine class {}): {}",
            src.file.as_deref().unwrap_or_default(),
            src.machine_class.as_deref().unwrap_or_default(),
            applied.join(", ")
        ));
    }
    bench.info.lock_wait_ns = lock.waited.as_nanos() as f64;
    bench.info.locked_from_unix_ns = unix_ns();
    IN_BENCHMARK.with(|b| b.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| body(&mut bench)));
    IN_BENCHMARK.with(|b| b.set(false));
    bench.info.locked_until_unix_ns = unix_ns();
    // The lock stays held through the profiling run below: SIGPROF interrupts whichever
    // thread of the process is running, so no other benchmark may be measuring meanwhile.

    let harness_unoptimized = env::is_unoptimized();
    let unoptimized = harness_unoptimized || crate_unoptimized;
    let enforced = mode == Mode::Enforce && !unoptimized;
    let path = dir.join(artifact_file_name(spec));
    let path_str = path.display().to_string();
    let mut info = std::mem::take(&mut bench.info);
    info.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    info.warnings.extend(lock_warning);
    let unoptimized_reason = if harness_unoptimized {
        Some(format!("opt-level {}", env::opt_level()))
    } else if crate_unoptimized {
        Some(format!(
            "the benchmark's crate is not optimized: its probe loop took {probe_ns:.0} ns, \
             optimized code folds it to a constant"
        ))
    } else {
        None
    };
    if let Some(reason) = &unoptimized_reason {
        info.warnings.push(format!(
            "UNOPTIMIZED BUILD ({reason}): KPIs of {full_name} are measured but NOT \
             enforced; set opt-level = 3 in [profile.test]"
        ));
    }

    let identity = Identity {
        name: spec.name.to_string(),
        module_path: spec.module_path.to_string(),
        full_name: full_name.clone(),
        file: spec.file.to_string(),
        line: spec.line,
        category: spec.category.map(str::to_string),
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
        flamegraph: None,
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
            for (k, (_, src)) in artifact.kpis.iter_mut().zip(&kpis) {
                k.bound_source = Some(src.clone());
            }
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

    let wants_flamegraph = panic_msg.is_none()
        && flamegraph_policy.wants(
            mode,
            artifact.kpis.iter().any(|k| k.verdict == Verdict::Fail),
        );
    let svg_name = crate::profile::svg_file_name(&artifact_file_name(spec));
    let svg_path = dir.join(&svg_name);
    if wants_flamegraph {
        let bounds: Vec<KpiSpec> = kpis.iter().map(|(k, _)| *k).collect();
        let drawn = draw_flamegraph(spec, body, mode, &bounds, &artifact, &svg_path);
        artifact.measurement.locked_until_unix_ns = unix_ns();
        let note = match drawn {
            Ok(d) => {
                artifact.flamegraph = Some(svg_name);
                let what = if d.iterations > 0 {
                    format!("{} iterations of its routine, run again", d.iterations)
                } else {
                    "the whole body, which measures no routine, run again".to_string()
                };
                artifact.measurement.decisions.push(format!(
                    "flame graph drawn after the verdict: {} samples over {} ms ({what}): {}",
                    d.samples,
                    d.profiled_ms,
                    svg_path.display()
                ));
                format!("; flame graph: {}", svg_path.display())
            }
            Err(why) => {
                artifact
                    .measurement
                    .warnings
                    .push(format!("no flame graph for {full_name}: {why}"));
                format!("; no flame graph: {why}")
            }
        };
        for f in &mut artifact.failures {
            f.push_str(&note);
        }
    } else if let Err(e) = std::fs::remove_file(&svg_path) {
        // A graph left by an earlier run would sit beside an artifact that does not name it.
        if e.kind() != std::io::ErrorKind::NotFound {
            artifact.measurement.warnings.push(format!(
                "could not remove the stale flame graph {}: {e}",
                svg_path.display()
            ));
        }
    }
    drop(lock);

    let mut artifact_path = None;
    match write_atomically(&path, &artifact) {
        Ok(()) => artifact_path = Some(path.clone()),
        Err(e) => eprintln!("vm-bench: warning: could not write artifact {path_str}: {e}"),
    }
    for w in &artifact.measurement.warnings {
        eprintln!("vm-bench: WARNING: {w}");
    }
    if let Some(reason) = &unoptimized_reason {
        shout_unoptimized_once(reason);
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
///
/// The generated test calls it with the span of the function's name, so the panic's
/// location is the `fn` line the artifact records (`identity.line`). A failed KPI is a
/// verdict, not a bug at a code location: its panic prints the failure lines and that
/// location but no backtrace, even with `RUST_BACKTRACE=1`. A panic inside the body has
/// already printed its own message, location and backtrace when it happened.
#[track_caller]
pub fn run_test(spec: &'static BenchSpec, body: fn(&mut Bench)) {
    let report = execute(spec, body, &RunOptions::default());
    if let Some(msg) = &report.panic_message {
        match &report.artifact_path {
            Some(p) => fail_without_backtrace(format!(
                "{msg}\n(benchmark {} panicked; artifact: {})",
                spec.full_name(),
                p.display()
            )),
            None => fail_without_backtrace(msg.clone()),
        }
    }
    if !report.failures.is_empty() {
        fail_without_backtrace(report.failures.join("\n"));
    }
}

thread_local! {
    /// Set just before the harness panics with a verdict: the hook prints it without a
    /// backtrace.
    static VERDICT_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics with `message` (a `String` payload, so `#[should_panic(expected = ..)]` works)
/// at the caller's location, printing no backtrace.
#[track_caller]
fn fail_without_backtrace(message: String) -> ! {
    install_verdict_hook();
    VERDICT_PANIC.with(|v| v.set(true));
    std::panic::panic_any(message)
}

/// Wraps the process's panic hook once: verdict panics print `thread '..' panicked at
/// file:line:col:` and the message, like the default hook, but never a backtrace; every
/// other panic goes to the previous hook unchanged.
fn install_verdict_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !VERDICT_PANIC.with(|v| v.replace(false)) {
                return previous(info);
            }
            let thread = std::thread::current();
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "<unknown>".into());
            eprintln!(
                "\nthread '{}' panicked at {location}:\n{}",
                thread.name().unwrap_or("<unnamed>"),
                panic_message(info.payload())
            );
        }));
    });
}

/// The KPI results after the body returned: time and relative results from the last
/// round, metric checks, and MISSING entries for bounds nothing measured.
fn final_kpis(spec: &BenchSpec, bench: &Bench) -> Vec<KpiResult> {
    let metrics = bench.metric_results();
    let mut time = bench.time_kpis.iter();
    let mut rel = bench.relative_kpis.iter();
    bench
        .kpis
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

/// What the profiling run drew.
struct Drawn {
    samples: u64,
    profiled_ms: u128,
    iterations: u64,
}

/// Runs the body again under the sampling profiler, after the verdict was computed (the
/// timed samples are in `artifact` already and nothing here touches them), and writes the
/// flame graph to `svg_path`. The routine runs at the verdict run's sample size until the
/// process used `profile::CPU_BUDGET` of CPU time (or `profile::WALL_LIMIT` passed), and
/// only that loop is sampled; a body without a routine runs again, sampled whole, until
/// then (at least once). The error says why no graph was written.
fn draw_flamegraph(
    spec: &'static BenchSpec,
    body: fn(&mut Bench),
    mode: crate::artifact::Mode,
    bounds: &[KpiSpec],
    artifact: &Artifact,
    svg_path: &Path,
) -> Result<Drawn, String> {
    let (iterations, candidate_iterations) = match (&artifact.timing, &artifact.compare) {
        (Some(t), _) => (t.iterations_per_sample, t.iterations_per_sample),
        (None, Some(c)) => (c.baseline_iterations, c.candidate_iterations),
        (None, None) => (1, 1),
    };
    let plan = ProfilePlan {
        title: format!("{}: {}", spec.full_name(), artifact.outcome),
        iterations: iterations.max(1),
        candidate_iterations: candidate_iterations.max(1),
    };
    let run_body = |session_outside: bool| -> Result<Bench, String> {
        let mut bench = Bench::new(spec, mode);
        bench.kpis = bounds.to_vec();
        if !session_outside {
            bench.profile = Some(plan.clone());
        }
        IN_BENCHMARK.with(|b| b.set(true));
        let result = catch_unwind(AssertUnwindSafe(|| body(&mut bench)));
        IN_BENCHMARK.with(|b| b.set(false));
        match result {
            Ok(()) => Ok(bench),
            Err(payload) => Err(format!(
                "the body panicked when run again for profiling: {}",
                panic_message(&*payload)
            )),
        }
    };
    // The routine profiles itself (only its loop is sampled, not the setup before it).
    let bench = run_body(false)?;
    let (graph, routine_iterations) = match bench.profiled {
        Some(graph) => (graph?, bench.profiled_iterations),
        None => {
            // No routine (a body that only reports metrics): the whole body is the work,
            // run again under the profiler until the budget is spent.
            let session = Session::start()?;
            let budget = crate::profile::Budget::start();
            loop {
                run_body(true)?;
                if budget.spent() {
                    break;
                }
            }
            (session.finish(&plan.title)?, 0)
        }
    };
    crate::atomic::write_atomic(svg_path, &graph.svg)
        .map_err(|e| format!("could not write {}: {e}", svg_path.display()))?;
    Ok(Drawn {
        samples: graph.samples,
        profiled_ms: graph.profiled.as_millis(),
        iterations: routine_iterations,
    })
}

/// The bounds of `spec` with `$VM_BENCH_TARGETS` applied, each with its source.
fn resolve_bounds(
    spec: &BenchSpec,
) -> Result<Vec<(KpiSpec, crate::artifact::BoundSource)>, String> {
    let file = match crate::targets::runtime_targets_path(spec.manifest_dir) {
        Some(path) => Some(crate::targets::load_cached(&path)?),
        None => None,
    };
    crate::targets::apply_to_spec(spec, file.as_deref()).map_err(|e| e.to_string())
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
        bound_source: None,
    }
}

fn summary_line(a: &Artifact, path: &str) -> String {
    let mut parts = vec![format!(
        "vm-bench {} [{:?}]",
        a.identity.full_name, a.outcome
    )];
    if let Some(t) = &a.timing {
        // In the unit of the time bound, when there is one (a `max_ms` benchmark in ms).
        let (scale, unit) = a
            .kpis
            .iter()
            .find(|k| k.kind == "time")
            .map(crate::verdict::display_unit)
            .unwrap_or((1.0, "ns/iter".into()));
        parts.push(format!(
            "median {} {unit} (mean {}, n={}, {} iters/sample, {} descheduled)",
            crate::verdict::fmt_num(t.kept.median / scale),
            crate::verdict::fmt_num(t.kept.mean / scale),
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
    if let Some(svg) = &a.flamegraph {
        parts.push(format!(
            "flame graph {}",
            Path::new(path).with_file_name(svg).display()
        ));
    }
    parts.join("; ")
}

/// The artifact file name of a spec: module path with `::` replaced by `.`, then the name.
pub fn artifact_file_name(spec: &BenchSpec) -> String {
    format!("{}.{}.json", spec.module_path.replace("::", "."), spec.name)
}

/// Writes JSON to a temporary file in the same directory, then renames it into place, so a
/// reader never sees a partial artifact.
pub fn write_atomically(path: &Path, artifact: &Artifact) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(artifact).map_err(std::io::Error::other)?;
    crate::atomic::write_atomic(path, &json)
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

/// Writes the unoptimized-build warning once per process straight to the process's stderr:
/// libtest captures `eprintln!` of passing tests, and a not-enforced KPI passes, so the
/// captured copy alone would never be seen.
fn shout_unoptimized_once(reason: &str) {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! vm-bench: UNOPTIMIZED BUILD ({reason}): benchmarks are measured but their \
             KPIs are NOT enforced. Build tests with opt-level = 3 ([profile.test]). !!!\n"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::ArtifactError;
    use crate::spec::{BodyForm, ConfigSpec};

    static SPEC: BenchSpec = BenchSpec {
        name: "round_trip",
        module_path: "runner::tests",
        file: file!(),
        line: line!(),
        category: None,
        kpis: &[],
        config: ConfigSpec {
            stat: None,
            warmup_ms: Some(0.0),
            measure_ms: Some(5.0),
            samples: None,
            iterations: None,
            flavor: crate::spec::Flavor::CurrentThread,
            flamegraph: false,
        },
        form: BodyForm::Bench,
        debug_assertions: cfg!(debug_assertions),
        manifest_dir: env!("CARGO_MANIFEST_DIR"),
        opt_probe: None,
    };

    #[test]
    fn artifact_round_trips_and_unknown_schema_is_rejected() {
        let dir = std::env::temp_dir().join(format!("vm-bench-runner-{}", std::process::id()));
        let report = execute(
            &SPEC,
            |b| b.iter(|| std::hint::black_box(7u64).pow(3)),
            &RunOptions {
                mode: Some(Mode::Report),
                dir: Some(dir.clone()),
                quiet: true,
            },
        );
        let path = report.artifact_path.clone().expect("written");
        assert_eq!(path.file_name().unwrap(), "runner.tests.round_trip.json");
        let read = Artifact::read(&path).expect("parses");
        assert_eq!(Some(read.clone()), report.artifact);
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        json["schema"] = serde_json::json!(SCHEMA_VERSION + 1);
        assert!(matches!(
            Artifact::from_json(&json.to_string()),
            Err(ArtifactError::Schema(_))
        ));
        assert!(matches!(
            Artifact::from_json("{"),
            Err(ArtifactError::Json(_))
        ));
        // No temp file is left behind by the atomic write.
        let leftovers = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    static OVER_BOUND: BenchSpec = BenchSpec {
        name: "over_bound",
        kpis: &[KpiSpec::MaxTime {
            bound_ns: 1.0,
            key: "max_ns",
            written: 1.0,
        }],
        config: ConfigSpec {
            samples: Some(10),
            warmup_ms: Some(0.0),
            ..SPEC.config
        },
        ..SPEC
    };

    /// A checksum loop of about a microsecond: far over the 1 ns bound.
    fn over_bound_body(b: &mut Bench) {
        let data: Vec<u64> = (0..1000).collect();
        b.iter(|| {
            data.iter()
                .fold(0u64, |h, &x| (h ^ x).wrapping_mul(0x100_0000_01b3))
        });
    }

    /// When the profiler cannot start (here: another profiler holds `SIGPROF`), the
    /// failure still carries its verdict and says why there is no flame graph; with the
    /// profiler free, the graph is drawn and the artifact names it.
    #[cfg(all(
        feature = "flamegraph",
        any(target_os = "linux", target_os = "macos", target_os = "freebsd")
    ))]
    #[test]
    fn a_failure_names_its_flame_graph_or_says_why_there_is_none() {
        let dir = std::env::temp_dir().join(format!("vm-bench-flame-{}", std::process::id()));
        let opts = RunOptions {
            mode: Some(Mode::Report),
            dir: Some(dir.clone()),
            quiet: true,
        };
        let svg = dir.join("runner.tests.over_bound.flame.svg");

        let other = pprof::ProfilerGuard::new(100).expect("a profiler starts");
        let report = execute(&OVER_BOUND, over_bound_body, &opts);
        drop(other);
        let a = report.artifact.expect("artifact");
        assert_eq!(a.kpis[0].verdict, Verdict::Fail);
        assert_eq!(a.flamegraph, None);
        assert!(
            a.failures[0].starts_with("KPI FAILED runner::tests::over_bound: ")
                && a.failures[0]
                    .contains("; no flame graph: the sampling profiler could not start: "),
            "{:?}",
            a.failures
        );
        assert!(
            a.measurement
                .warnings
                .iter()
                .any(|w| w.starts_with("no flame graph for runner::tests::over_bound: ")),
            "{:?}",
            a.measurement.warnings
        );
        assert!(!svg.exists());

        let report = execute(&OVER_BOUND, over_bound_body, &opts);
        let a = report.artifact.expect("artifact");
        assert_eq!(
            a.flamegraph.as_deref(),
            Some("runner.tests.over_bound.flame.svg")
        );
        assert!(a.failures[0].ends_with(&format!("; flame graph: {}", svg.display())));
        let text = std::fs::read_to_string(&svg).expect("svg written");
        assert!(text.contains("<svg") && text.contains("over_bound_body"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Without the profiler compiled in, a failure says so instead of naming a graph
    /// (`cargo test -p vm-bench-runtime --no-default-features --features suite --lib`).
    #[cfg(not(all(
        feature = "flamegraph",
        any(target_os = "linux", target_os = "macos", target_os = "freebsd")
    )))]
    #[test]
    fn without_the_profiler_a_failure_says_why_there_is_no_flame_graph() {
        let dir = std::env::temp_dir().join(format!("vm-bench-noflame-{}", std::process::id()));
        let report = execute(
            &OVER_BOUND,
            over_bound_body,
            &RunOptions {
                mode: Some(Mode::Report),
                dir: Some(dir.clone()),
                quiet: true,
            },
        );
        let a = report.artifact.expect("artifact");
        assert_eq!(a.kpis[0].verdict, Verdict::Fail);
        assert_eq!(a.flamegraph, None);
        let why = if cfg!(feature = "flamegraph") {
            "; no flame graph: sampling with SIGPROF is not supported on this OS"
        } else {
            "; no flame graph: vm-bench-runtime was built without its `flamegraph` feature"
        };
        assert!(a.failures[0].contains(why), "{:?}", a.failures);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn panic_payloads_become_messages() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42u8), "<non-string panic payload>");
    }
}
