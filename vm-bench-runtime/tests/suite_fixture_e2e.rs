//! End to end: `tests/fixture-suite` (crate `csv-numbers`, outside the workspace) adopts the
//! harness exactly as docs/harness.md's "A suite for your crate" says (a dev-dependency,
//! `[profile.test] opt-level = 3`, a `[[bench]]` with `harness = false`, and the two-line
//! `benches/suite.rs`), with categories of its own (`parser`, `formatter`). This test runs
//! its `cargo test` and `cargo bench --bench suite` as subprocesses and checks the console
//! report, the report directory, baselines, history, and that bad input writes nothing.
//! The fixture builds into `<target>/vm-bench-fixture`, shared with `fixture_e2e.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture-suite/Cargo.toml")
}

fn fixture_target() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    base.join("vm-bench-fixture")
}

/// Runs `cargo <sub> --manifest-path .. --target-dir .. <rest>` with artifacts (and the
/// suite's store: reports, baselines, history) in `dir`. Returns (exit code, output).
fn cargo(sub: &str, rest: &[&str], dir: &Path) -> (Option<i32>, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg(sub)
        .arg("--manifest-path")
        .arg(manifest())
        .arg("--target-dir")
        .arg(fixture_target())
        .args(rest)
        .env("VM_BENCH_DIR", dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("VM_BENCH_MODE")
        .env_remove("VM_BENCH_TARGETS")
        .output()
        .expect("cargo runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|rd| rd.count()).unwrap_or(0)
}

#[test]
fn a_crate_outside_the_workspace_gets_tests_and_a_suite_as_documented() {
    let dir = fixture_target().join("e2e-artifacts/suite");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // cargo test: every benchmark runs as a KPI-checked test, and the suite bench runs
    // its check mode.
    let (code, text) = cargo("test", &[], &dir);
    assert_eq!(code, Some(0), "cargo test failed:\n{text}");
    for want in [
        "test bench_parse_1000 ... ok",
        "test bench_parse_throughput ... ok",
        "test bench_format_1000 ... ok",
        "suite check mode (cargo test; nothing measured): 3 benchmarks from 2 file(s) registered and categorized",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    let a = vm_bench_runtime::artifact::Artifact::read(&dir.join("parse.bench_parse_1000.json"))
        .expect("cargo test wrote the artifact");
    assert_eq!(a.identity.category.as_deref(), Some("parser"));

    // cargo bench: measures in-process, prints the console and target reports, writes the
    // report directory, saves a baseline, records the history.
    let (code, text) = cargo(
        "bench",
        &["--bench", "suite", "--", "--save-baseline", "first"],
        &dir,
    );
    assert_eq!(code, Some(0), "cargo bench failed:\n{text}");
    for want in [
        "running 3 benchmarks",
        "parse::bench_parse_1000 [parser] passed",
        "format::bench_format_1000 [formatter] passed",
        "  median:",
        "targets (as declared in the benchmarks):",
        "PASS         parse::bench_parse_throughput.fields_per_kib > 10",
        "overall: PASS: 3 benchmarks; 4 targets: 4 PASS",
        "baseline saved: ",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    let out = dir.join("suite");
    for f in [
        "report.json",
        "report.csv",
        "report.md",
        "report.html",
        "bencher.json",
        "github-action-benchmark.json",
        "charts/kpis.svg",
        "charts/parse.bench_parse_1000.svg",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## formatter") && md.contains("## parser"),
        "{md}"
    );
    assert!(dir.join("baselines/first.json").is_file());
    assert_eq!(count(&dir.join("history")), 1);

    // The suite's own command line: every option described, the exit status documented.
    let (code, text) = cargo("bench", &["--bench", "suite", "--", "--help"], &dir);
    assert_eq!(code, Some(0), "{text}");
    for want in [
        "Usage: suite [OPTIONS] [FILTER]",
        "--save-baseline <NAME>",
        "--targets <FILE>",
        "Exit status:",
        "  2  bad input",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }

    // A filtered run compared with the baseline.
    let (code, text) = cargo(
        "bench",
        &["--bench", "suite", "--", "--baseline", "first", "parse"],
        &dir,
    );
    assert!(matches!(code, Some(0) | Some(1)), "{text}");
    assert!(text.contains("running 2 benchmarks"), "{text}");
    assert!(
        text.contains("comparison against baseline first:"),
        "{text}"
    );
    assert_eq!(count(&dir.join("history")), 2);

    // Bad input is refused before anything is measured or written.
    let report_before = std::fs::read(out.join("report.json")).unwrap();
    let (code, text) = cargo(
        "bench",
        &["--bench", "suite", "--", "--save-baseline", "../x"],
        &dir,
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("invalid baseline name"), "{text}");
    std::fs::write(dir.join("history/zz.json"), "{").unwrap();
    let (code, text) = cargo("bench", &["--bench", "suite"], &dir);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("zz.json") && !text.contains("running 3"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(out.join("report.json")).unwrap(),
        report_before
    );
    assert_eq!(count(&dir.join("history")), 3, "only zz.json was added");
    let _ = std::fs::remove_dir_all(&dir);
}
