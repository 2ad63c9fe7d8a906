//! End-to-end tests: the fixture crate (`tests/fixture`, a user crate outside the
//! workspace) is driven by `cargo test` / `cargo nextest run` as a subprocess, and its
//! output and artifacts are checked. The fixture is built once into
//! `<target>/vm-bench-fixture`, shared by every run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use vm_bench_runtime::artifact::{Artifact, Outcome, Verdict};

/// Serializes fixture runs: they would otherwise disturb each other's measurements.
static RUNS: Mutex<()> = Mutex::new(());

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture/Cargo.toml")
}

fn fixture_target() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    base.join("vm-bench-fixture")
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = fixture_target().join("e2e-artifacts").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cargo(args: &[&str], dir: &Path, mode: Option<&str>) -> (Output, String) {
    cargo_env(args, dir, mode, &[])
}

fn cargo_env(
    args: &[&str],
    dir: &Path,
    mode: Option<&str>,
    vars: &[(&str, &str)],
) -> (Output, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Cargo options go right after the subcommand, before any `--`.
    let sub = if args[0] == "nextest" { 2 } else { 1 };
    cmd.args(&args[..sub])
        .arg("--manifest-path")
        .arg(manifest())
        .arg("--target-dir")
        .arg(fixture_target())
        .args(&args[sub..])
        .env("VM_BENCH_DIR", dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("VM_BENCH_MODE")
        // CI names its runner class's file; the fixture is another workspace.
        .env_remove("VM_BENCH_TARGETS");
    if let Some(m) = mode {
        cmd.env("VM_BENCH_MODE", m);
    }
    cmd.envs(vars.iter().copied());
    let out = cmd.output().expect("cargo runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn artifact(dir: &Path, file: &str) -> Artifact {
    Artifact::read(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn libtest_verdicts_messages_and_artifacts() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("verdicts");
    let (out, text) = cargo(
        &["test", "--test", "verdicts", "--", "--test-threads=4"],
        &dir,
        None,
    );
    assert!(
        !out.status.success(),
        "some fixture tests must fail:\n{text}"
    );
    for line in [
        "test pass_under_bound ... ok",
        "test compare_speedup_holds ... ok",
        "test registry_run_in_process ... ok",
        "test fail_over_bound ... FAILED",
        "test unreported_metric ... FAILED",
        "test panicking_body ... FAILED",
        "test metric_below_bound ... FAILED",
        "test compare_overhead_breached ... FAILED",
        "test throughput_below_bound ... FAILED",
        "test metric_straddles_bound ... ok",
        "KPI FAILED verdicts::throughput_below_bound: median throughput = ",
        "violates >= 1.0000e9 ops/s (min_ops_per_sec)",
        "KPI FAILED verdicts::fail_over_bound: median time = ",
        "violates <= 100.0 ns/iter (max_ns), margin -",
        "KPI FAILED verdicts::unreported_metric: hit_rate >= 0.90000 (hit_rate) was never measured",
        "boom 42",
        "KPI FAILED verdicts::compare_overhead_breached: median of pairs overhead_pct = ",
        "KPI FAILED verdicts::metric_below_bound: value hit_rate = 0.50000",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    // A failure is one line holding the artifact path, then its flame graph's
    // (tests/flamegraph_e2e.rs checks the graph).
    let fail_line = text
        .lines()
        .find(|l| l.starts_with("KPI FAILED verdicts::fail_over_bound"))
        .unwrap();
    assert!(fail_line.contains("samples; artifact: "));
    assert!(
        fail_line.contains("verdicts.fail_over_bound.json; flame graph: ")
            && fail_line.ends_with("verdicts.fail_over_bound.flame.svg"),
        "{fail_line}"
    );

    let pass = artifact(&dir, "verdicts.pass_under_bound.json");
    assert_eq!(pass.outcome, Outcome::Passed);
    assert!(pass.enforced);
    assert_eq!(pass.kpis[0].verdict, Verdict::Pass);
    let t = pass.timing.as_ref().expect("timing");
    assert!(t.all.n >= 3 && !t.samples.is_empty());
    assert!(t.all.min <= t.all.median && t.all.median <= t.all.max);
    assert!(pass.kpis[0].interval.as_ref().unwrap().lo <= pass.kpis[0].measured.unwrap());
    assert_eq!(pass.identity.name, "pass_under_bound");
    assert_eq!(pass.identity.module_path, "verdicts");
    assert!(pass.identity.file.ends_with("verdicts.rs"));
    assert!(pass.identity.test_binary.contains("verdicts"));
    let env = &pass.environment;
    assert_eq!(env.opt_level, "3");
    assert_eq!(env.bench_crate_optimized, Some(true));
    assert!(env.rustc_version.starts_with("rustc "));
    assert!(!env.target_triple.is_empty() && !env.cpu_model.is_empty());
    assert!(env.logical_cores >= 1 && env.timestamp.ends_with('Z'));
    assert!(!pass.verdict_rule.is_empty());
    assert!(pass.measurement.clock_cost_ns > 0.0);

    let fail = artifact(&dir, "verdicts.fail_over_bound.json");
    assert_eq!(fail.outcome, Outcome::Failed);
    assert_eq!(fail.kpis[0].verdict, Verdict::Fail);
    assert!(fail.kpis[0].margin_pct.unwrap() < -100.0);
    assert_eq!(fail.failures.len(), 1);

    let panicked = artifact(&dir, "verdicts.panicking_body.json");
    assert_eq!(panicked.outcome, Outcome::Panicked);
    assert_eq!(panicked.panic_message.as_deref(), Some("boom 42"));
    assert!(panicked.timing.is_none() && panicked.kpis.is_empty() && panicked.metrics.is_empty());

    let missing = artifact(&dir, "verdicts.unreported_metric.json");
    assert_eq!(missing.kpis[0].verdict, Verdict::Missing);

    let metric = artifact(&dir, "verdicts.metric_below_bound.json");
    assert_eq!(metric.metrics[0].values, vec![0.5]);
    // A failing body without a routine is profiled whole.
    assert_eq!(
        metric.flamegraph.as_deref(),
        Some("verdicts.metric_below_bound.flame.svg")
    );
    assert!(
        metric
            .measurement
            .decisions
            .iter()
            .any(|d| d.contains("(the whole body, which measures no routine, run again)")),
        "{:?}",
        metric.measurement.decisions
    );
    assert!(dir.join("verdicts.metric_below_bound.flame.svg").exists());
    assert_eq!(metric.identity.category.as_deref(), Some("JIT"));

    let straddle = artifact(&dir, "verdicts.metric_straddles_bound.json");
    assert_eq!(straddle.outcome, Outcome::Passed);
    assert_eq!(straddle.kpis[0].verdict, Verdict::Inconclusive);
    assert_eq!(straddle.kpis[0].statistic, "mean");
    let iv = straddle.kpis[0].interval.as_ref().unwrap();
    assert!(iv.lo < 0.9 && iv.hi > 0.9 && iv.method == "bootstrap_percentile");

    let speedup = artifact(&dir, "verdicts.compare_speedup_holds.json");
    let c = speedup.compare.as_ref().expect("compare result");
    assert!(c.speedup.value > 2.0 && c.pairs >= 3);
}

fn assert_disjoint_windows(dir: &Path, expect: usize) {
    let mut windows: Vec<(u128, u128, String)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then_some(p)
        })
        .map(|p| {
            let a = Artifact::read(&p).unwrap();
            assert_eq!(a.outcome, Outcome::Passed, "{}", p.display());
            (
                a.measurement.locked_from_unix_ns,
                a.measurement.locked_until_unix_ns,
                a.identity.name,
            )
        })
        .collect();
    assert_eq!(windows.len(), expect, "{windows:?}");
    windows.sort();
    for w in windows.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "{} [{}, {}] overlaps {} [{}, {}]",
            w[0].2,
            w[0].0,
            w[0].1,
            w[1].2,
            w[1].0,
            w[1].1
        );
    }
}

#[test]
fn no_overlap_under_libtest_threads() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("overlap-libtest");
    let (out, text) = cargo(
        &["test", "--test", "overlap", "--", "--test-threads=6"],
        &dir,
        None,
    );
    assert!(out.status.success(), "{text}");
    assert_disjoint_windows(&dir, 6);
}

#[test]
fn no_overlap_under_nextest_processes() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let probe = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["nextest", "--version"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("cargo-nextest is not installed; skipping the nextest overlap check");
        return;
    }
    let dir = fresh_dir("overlap-nextest");
    let (out, text) = cargo(
        &[
            "nextest",
            "run",
            "--test",
            "overlap",
            "--test-threads",
            "6",
            "--no-fail-fast",
        ],
        &dir,
        None,
    );
    assert!(out.status.success(), "{text}");
    assert_disjoint_windows(&dir, 6);
    // Processes, not threads: the artifacts must show that the lock was contended at least
    // once or that the runs were sequential anyway; either way they are disjoint (above).
}

#[test]
fn modes_report_smoke_off() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let args = [
        "test",
        "--test",
        "verdicts",
        "fail_over_bound",
        "--",
        "--exact",
    ];

    let dir = fresh_dir("mode-report");
    let (out, text) = cargo(&args, &dir, Some("report"));
    assert!(out.status.success(), "report mode never fails:\n{text}");
    let a = artifact(&dir, "verdicts.fail_over_bound.json");
    assert_eq!(a.outcome, Outcome::Reported);
    assert!(!a.enforced);
    assert_eq!(a.kpis[0].verdict, Verdict::Fail);

    let dir = fresh_dir("mode-smoke");
    let (out, text) = cargo(&args, &dir, Some("smoke"));
    assert!(out.status.success(), "{text}");
    let a = artifact(&dir, "verdicts.fail_over_bound.json");
    assert_eq!(a.outcome, Outcome::Smoke);
    assert_eq!(a.timing.unwrap().samples.len(), 5);

    let dir = fresh_dir("mode-off");
    let (out, text) = cargo(&args, &dir, Some("off"));
    assert!(out.status.success(), "{text}");
    assert!(!dir.join("verdicts.fail_over_bound.json").exists());

    let dir = fresh_dir("mode-bad");
    let (out, text) = cargo(&args, &dir, Some("fast"));
    assert!(!out.status.success());
    assert!(
        text.contains("VM_BENCH_MODE=\"fast\" is not one of"),
        "{text}"
    );
}

#[test]
fn registry_lists_dependency_and_unreferenced_module() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("registry");
    let (out, text) = cargo(
        &["test", "--test", "registry_dep", "--", "--nocapture"],
        &dir,
        None,
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("REGISTRY vm_bench_fixture_dep::dep_crate_bench"),
        "{text}"
    );
    assert!(
        text.contains("REGISTRY vm_bench_fixture::unreferenced::unreferenced_module_bench"),
        "{text}"
    );

    // The documented limit: a binary that never uses the dependency does not link it, so
    // the dependency's benchmark is absent there (its own and the library's are listed).
    let (out, text) = cargo(
        &[
            "test",
            "--test",
            "verdicts",
            "registry_listing",
            "--",
            "--exact",
            "--nocapture",
        ],
        &dir,
        None,
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("REGISTRY verdicts::pass_under_bound"),
        "{text}"
    );
    assert!(
        text.contains("REGISTRY vm_bench_fixture::unreferenced::unreferenced_module_bench"),
        "{text}"
    );
    assert!(!text.contains("vm_bench_fixture_dep::"), "{text}");
}

#[test]
fn unoptimized_build_warns_and_does_not_enforce() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("unoptimized");
    let (out, text) = cargo_env(
        &[
            "test",
            "--test",
            "verdicts",
            "fail_over_bound",
            "--",
            "--exact",
            "--nocapture",
        ],
        &dir,
        None,
        &[("CARGO_PROFILE_TEST_OPT_LEVEL", "0")],
    );
    assert!(out.status.success(), "KPIs are not enforced:\n{text}");
    assert!(
        text.contains("vm-bench: WARNING: UNOPTIMIZED BUILD (opt-level 0)"),
        "{text}"
    );
    let a = artifact(&dir, "verdicts.fail_over_bound.json");
    assert_eq!(a.outcome, Outcome::NotEnforced);
    assert!(!a.enforced);
    assert_eq!(a.environment.opt_level, "0");
    assert!(a
        .measurement
        .warnings
        .iter()
        .any(|w| w.contains("UNOPTIMIZED")));
}

/// The benchmark's crate at opt-level 0 but the harness optimized (a per-package profile
/// override): the probe loop compiled into the benchmark's crate reveals it.
#[test]
fn unoptimized_benchmark_crate_is_detected_by_its_probe() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("unoptimized-crate");
    let (out, text) = cargo_env(
        &[
            "test",
            "--config",
            "profile.test.package.vm-bench-runtime.opt-level=3",
            "--test",
            "verdicts",
            "fail_over_bound",
            "--",
            "--exact",
        ],
        &dir,
        None,
        &[("CARGO_PROFILE_TEST_OPT_LEVEL", "0")],
    );
    assert!(out.status.success(), "KPIs are not enforced:\n{text}");
    assert!(
        text.contains("!!! vm-bench: UNOPTIMIZED BUILD (the benchmark's crate is not optimized"),
        "{text}"
    );
    let a = artifact(&dir, "verdicts.fail_over_bound.json");
    assert_eq!(a.outcome, Outcome::NotEnforced);
    assert_eq!(a.environment.opt_level, "3");
    assert_eq!(a.environment.bench_crate_optimized, Some(false));
    assert!(a.environment.opt_probe_ns.unwrap() > 300.0);
}

/// The section libtest prints for one failed test's captured output.
fn test_output<'a>(text: &'a str, test: &str) -> &'a str {
    let head = format!("---- {test} stdout ----");
    let start = text
        .find(&head)
        .unwrap_or_else(|| panic!("no output section for {test}:\n{text}"));
    let rest = &text[start + head.len()..];
    let end = rest
        .find("\n---- ")
        .or_else(|| rest.find("\nfailures:"))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// A KPI failure prints no backtrace even with RUST_BACKTRACE=1 (a panicking body keeps its
/// own), shows values in the bound's unit, counts "1 sample", panics at the `fn` line the
/// artifact names, and the artifact names the `test` profile of an opt-level-3 build.
#[test]
fn failure_output_units_location_backtrace_and_profile() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("failure-output");
    let (out, text) = cargo_env(
        &[
            "test",
            "--test",
            "verdicts",
            "--",
            "fail_over_ms_bound",
            "metric_below_bound",
            "panicking_body",
        ],
        &dir,
        None,
        &[("RUST_BACKTRACE", "1")],
    );
    assert!(!out.status.success(), "{text}");

    let ms = test_output(&text, "fail_over_ms_bound");
    assert!(!ms.contains("stack backtrace"), "{ms}");
    assert!(
        ms.contains("median time = ") && ms.contains(" ms/iter [95% CI "),
        "{ms}"
    );
    assert!(ms.contains("violates <= 0.01000 ms/iter (max_ms)"), "{ms}");
    assert!(
        !ms.contains("ns/iter") && !ms.contains("e5") && !ms.contains("e6"),
        "{ms}"
    );
    let a = artifact(&dir, "verdicts.fail_over_ms_bound.json");
    let location = format!("panicked at {}:{}:", a.identity.file, a.identity.line);
    assert!(ms.contains(&location), "expected `{location}` in:\n{ms}");
    assert_eq!(a.environment.profile, "test");
    assert_eq!(a.environment.opt_level, "3");

    let metric = test_output(&text, "metric_below_bound");
    assert!(!metric.contains("stack backtrace"), "{metric}");
    assert!(metric.contains(", 1 sample;"), "{metric}");
    let a = artifact(&dir, "verdicts.metric_below_bound.json");
    assert!(metric.contains(&format!(
        "panicked at {}:{}:",
        a.identity.file, a.identity.line
    )));

    // The body's own panic keeps its location and backtrace.
    let body = test_output(&text, "panicking_body");
    assert!(body.contains("boom 42"), "{body}");
    assert!(body.contains("stack backtrace"), "{body}");
}

fn write_targets(dir: &Path, name: &str, json: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, json).unwrap();
    p
}

/// `$VM_BENCH_TARGETS` applies under plain `cargo test` and nextest: the override's bound
/// is checked, and the failure line and artifact say which bound came from where. A bad
/// file fails the benchmark with the file's name before anything is measured.
#[test]
fn override_targets_apply_under_cargo_test_and_nextest() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("targets");
    // pass_under_bound does ~1 us of work against max_ms = 1; this class allows 100 ns.
    let file = write_targets(
        &dir,
        "tight.json",
        r#"{ "machine_class": "fixture-ci", "targets": [
             { "name": "pass_under_bound", "metric": "max_ms", "target_value": 0.0001 } ] }"#,
    );
    let args = [
        "test",
        "--test",
        "verdicts",
        "pass_under_bound",
        "--",
        "--exact",
    ];
    let (out, text) = cargo_env(
        &args,
        &dir,
        None,
        &[("VM_BENCH_TARGETS", file.to_str().unwrap())],
    );
    assert!(!out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("KPI FAILED verdicts::pass_under_bound"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("violates <= 1.000e-4 ms/iter (max_ms, bound from "),
        "{line}"
    );
    assert!(
        line.contains("tight.json targets[0] (machine class fixture-ci); declared 1.000 ms)"),
        "{line}"
    );
    let a = artifact(&dir, "verdicts.pass_under_bound.json");
    let src = a.kpis[0].bound_source.as_ref().unwrap();
    assert_eq!(
        (src.declared, src.applied, src.unit.as_str()),
        (1.0, 0.0001, "ms")
    );
    assert_eq!(src.file.as_deref(), file.to_str());
    assert_eq!(a.kpis[0].bound, 100.0);

    // A relative path is taken from the fixture's workspace root, under nextest too.
    let nextest = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let rel = "relative-targets.json";
    let root_file = manifest().parent().unwrap().join(rel);
    std::fs::copy(&file, &root_file).unwrap();
    let (out, text) = cargo_env(&args, &dir, None, &[("VM_BENCH_TARGETS", rel)]);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("relative-targets.json targets[0] (machine class fixture-ci)"),
        "{text}"
    );
    if nextest {
        let (out, text) = cargo_env(
            &[
                "nextest",
                "run",
                "--test",
                "verdicts",
                "-E",
                "test(=pass_under_bound)",
            ],
            &dir,
            None,
            &[("VM_BENCH_TARGETS", rel)],
        );
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains("relative-targets.json targets[0] (machine class fixture-ci)"),
            "{text}"
        );
    } else {
        eprintln!("cargo-nextest is not installed; the nextest half of this check did not run");
    }
    let _ = std::fs::remove_file(&root_file);

    // A looser class bound lets a declared breach pass, and says so in the artifact.
    let loose = write_targets(
        &dir,
        "loose.json",
        r#"{ "machine_class": "slow-runner", "default_tolerance": 0, "targets": [
             { "name": "verdicts::fail_over_bound", "metric": "max_ns", "target_value": 1e9 } ] }"#,
    );
    let (out, text) = cargo_env(
        &[
            "test",
            "--test",
            "verdicts",
            "fail_over_bound",
            "--",
            "--exact",
        ],
        &dir,
        None,
        &[("VM_BENCH_TARGETS", loose.to_str().unwrap())],
    );
    assert!(out.status.success(), "{text}");
    let a = artifact(&dir, "verdicts.fail_over_bound.json");
    assert_eq!(a.kpis[0].verdict, Verdict::Pass);
    assert_eq!(
        a.kpis[0]
            .bound_source
            .as_ref()
            .unwrap()
            .machine_class
            .as_deref(),
        Some("slow-runner")
    );

    // A bad file: the benchmark fails naming the file, and writes nothing.
    let bad = write_targets(
        &dir,
        "bad.json",
        r#"{ "machine_class": "x", "targets": [ { "name": "pass_under_bound", "metric": "max_us", "target_value": 1 } ] }"#,
    );
    let _ = std::fs::remove_file(dir.join("verdicts.pass_under_bound.json"));
    let (out, text) = cargo_env(
        &args,
        &dir,
        None,
        &[("VM_BENCH_TARGETS", bad.to_str().unwrap())],
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("bad.json: targets[0]: benchmark verdicts::pass_under_bound declares no KPI \"max_us\" (it declares: max_ms)"), "{text}");
    assert!(!dir.join("verdicts.pass_under_bound.json").exists());
}
