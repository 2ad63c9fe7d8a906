//! The `vm-bench` CLI, run as a process on fixture artifacts.
//!
//! `tests/data/artifacts/` holds four real artifacts written by `cargo test -p vm-perf
//! --test jit` (enforce mode), with raw samples cut to the first 20 to keep them small and
//! the test binary path replaced; their statistics are those of the full runs. Outputs are
//! compared with golden files (`VM_BENCH_BLESS=1` rewrites them) and with values read
//! straight from the fixture JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/artifacts")
}

/// A fresh directory holding copies of the fixture artifacts (commands write beside them).
fn workdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmb-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    dir
}

fn vm_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vm-bench"))
        .args(args)
        .env_remove("VM_BENCH_DIR")
        .env_remove("VM_BENCH_TARGETS")
        .output()
        .expect("run vm-bench")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn golden(file: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/golden/cli")
        .join(file);
    if std::env::var_os("VM_BENCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got, want, "{} differs from the golden file", path.display());
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn list_shows_every_artifact() {
    let o = vm_bench(&["list", "--dir", s(&fixtures())]);
    assert!(o.status.success(), "{}", stderr(&o));
    golden("list.txt", &stdout(&o));
    let o = vm_bench(&["list", "--dir", s(&fixtures()), "--filter", "hotspot"]);
    assert_eq!(stdout(&o).lines().count(), 1);
}

#[test]
fn report_from_artifacts_matches_golden_and_the_artifacts() {
    let dir = workdir("report");
    let out = dir.join("out");
    let o = vm_bench(&["report", "--dir", s(&dir), "--out", s(&out), "--no-history"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("PASS: 4 benchmarks; 4 targets: 4 PASS"),
        "{}",
        stdout(&o)
    );
    for f in ["report.csv", "report.md"] {
        golden(f, &std::fs::read_to_string(out.join(f)).unwrap());
    }
    // The report's numbers and environment are the artifacts', not this machine's.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let art: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("jit.bench_compilation_latency.json")).unwrap(),
    )
    .unwrap();
    let row = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "jit::bench_compilation_latency")
        .unwrap();
    assert_eq!(row["median_ns"], art["timing"]["kept"]["median"]);
    assert_eq!(row["iterations"], art["timing"]["total_iterations"]);
    assert_eq!(
        report["environment"]["cpu_model"],
        art["environment"]["cpu_model"]
    );
    assert_eq!(
        report["environment"]["git_commit"],
        art["environment"]["git_commit"]
    );
    // A relative (b.compare) benchmark's samples are the per-pair ratios candidate/baseline.
    let art: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("jit.bench_mixed_execution.json")).unwrap(),
    )
    .unwrap();
    let row = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "jit::bench_mixed_execution")
        .unwrap();
    let pair = &art["compare"]["raw_pairs"][0];
    assert_eq!(row["samples_unit"], "ratio");
    assert_eq!(
        row["samples"][0].as_f64().unwrap(),
        pair[1].as_f64().unwrap() / pair[0].as_f64().unwrap()
    );
    for f in [
        "report.html",
        "bencher.json",
        "github-action-benchmark.json",
        "charts/kpis.svg",
        "charts/jit.bench_compilation_latency.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn target_override_file_changes_verdicts_and_is_recorded() {
    let dir = workdir("targets");
    // hotspot detection measured ~5.4 ns; a 1 ns target fails, so the run fails (exit 1).
    std::fs::create_dir_all(dir.join("targets")).unwrap();
    let targets = dir.join("targets/ci.json");
    std::fs::write(
        &targets,
        r#"{"machine_class": "tiny-budget",
            "targets": [{"name": "bench_hotspot_detection", "metric": "max_us",
                         "target_value": 0.001}]}"#,
    )
    .unwrap();
    let out = dir.join("out");
    let o = vm_bench(&[
        "report",
        "--dir",
        s(&dir),
        "--out",
        s(&out),
        "--no-history",
        "--targets",
        s(&targets),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("FAIL         jit::bench_hotspot_detection.max_us <= 0.00100 us (override): measured 0.00541"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["targets"]["machine_class"], "tiny-budget");
    assert_eq!(report["targets"]["file"], s(&targets));
    assert_eq!(report["targets"]["overridden"][0]["target_value"], 0.001);
    // The same file through the environment variable.
    let o = Command::new(env!("CARGO_BIN_EXE_vm-bench"))
        .args(["report", "--dir", s(&dir), "--out", s(&out), "--no-history"])
        .env("VM_BENCH_TARGETS", &targets)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn baseline_save_compare_and_regression() {
    let dir = workdir("baseline");
    let o = vm_bench(&[
        "report",
        "--dir",
        s(&dir),
        "--no-history",
        "--save-baseline",
        "same",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("baselines/same.json").is_file());
    let o = vm_bench(&["compare", "--dir", s(&dir), "--baseline", "same"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("regressed"), "{}", stdout(&o));
    assert_eq!(stdout(&o).matches("unchanged").count(), 4, "{}", stdout(&o));

    // A baseline 30 % faster than the fixtures: the current run regressed by ~43 %.
    let mut b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("baselines/same.json")).unwrap())
            .unwrap();
    b["name"] = "fast".into();
    for samples in b["benchmarks"].as_object_mut().unwrap().values_mut() {
        for v in samples.as_array_mut().unwrap() {
            *v = (v.as_f64().unwrap() * 0.7).into();
        }
    }
    std::fs::write(dir.join("baselines/fast.json"), b.to_string()).unwrap();
    let o = vm_bench(&["compare", "--dir", s(&dir), "--baseline", "fast"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("jit::bench_compilation_latency"));
    assert!(stdout(&o).contains("regressed"), "{}", stdout(&o));
    // A looser fail threshold keeps the classification but does not fail.
    let o = vm_bench(&[
        "compare",
        "--dir",
        s(&dir),
        "--baseline",
        "fast",
        "--fail-pct",
        "60",
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
    // A history in which this benchmark's median wandered widely from run to run raises
    // its noise threshold above the +43 %: no longer a regression.
    let hist = dir.join("history");
    std::fs::create_dir_all(&hist).unwrap();
    let mut medians = std::collections::BTreeMap::new();
    for (i, m) in [6000.0, 9000.0, 4000.0].into_iter().enumerate() {
        medians.insert("jit::bench_compilation_latency".to_string(), m);
        let summary = serde_json::json!({
            "schema": 1, "id": format!("00000000000000{i}-old"), "timestamp_unix_ms": i,
            "timestamp": "2026-01-01T00:00:00.000Z", "git_commit": null, "machine_class": null,
            "passed": true, "medians_ns": {}, "sample_medians": medians, "kpis": []
        });
        std::fs::write(hist.join(format!("{i}.json")), summary.to_string()).unwrap();
    }
    let o = vm_bench(&["compare", "--dir", s(&dir), "--baseline", "fast"]);
    let line = stdout(&o)
        .lines()
        .find(|l| l.starts_with("jit::bench_compilation_latency"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("unchanged") && line.contains("noise ±507.0%"),
        "{line}"
    );
    let o = vm_bench(&[
        "compare",
        "--dir",
        s(&dir),
        "--baseline",
        "fast",
        "--no-history",
    ]);
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_dir_all(&hist).unwrap();
    // The report with --baseline records the comparison and its chart.
    let out = dir.join("out");
    let o = vm_bench(&[
        "report",
        "--dir",
        s(&dir),
        "--out",
        s(&out),
        "--no-history",
        "--baseline",
        "fast",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.join("charts/baseline.svg").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn history_accumulates_and_feeds_the_trend_chart() {
    let dir = workdir("history");
    let out = dir.join("out");
    let run = || vm_bench(&["report", "--dir", s(&dir), "--out", s(&out)]);
    assert!(run().status.success());
    // Same artifacts again: same run, replaced, still one summary and no trend.
    assert!(run().status.success());
    assert_eq!(std::fs::read_dir(dir.join("history")).unwrap().count(), 1);
    assert!(!out.join("charts/trend").exists());
    // A newer measurement of one benchmark makes a second run.
    let p = dir.join("jit.bench_hotspot_detection.json");
    let mut a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let ms = a["environment"]["timestamp_unix_ms"].as_u64().unwrap() + 60_000;
    a["environment"]["timestamp_unix_ms"] = ms.into();
    std::fs::write(&p, a.to_string()).unwrap();
    assert!(run().status.success());
    assert_eq!(std::fs::read_dir(dir.join("history")).unwrap().count(), 2);
    // One small trend chart per benchmark, inlined in the page and written beside it.
    let trends: Vec<_> = std::fs::read_dir(out.join("charts/trend"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(trends.len(), 4, "{trends:?}");
    let trend =
        std::fs::read_to_string(out.join("charts/trend/jit.bench_hotspot_detection.svg")).unwrap();
    assert_eq!(trend.matches("class=\"point\"").count(), 2);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("charts/trend/jit.bench_hotspot_detection.svg"));
    assert_eq!(
        html.matches("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"trend\"")
            .count(),
        4
    );
    // Its change against the previous run is in the table and in report.json.
    assert!(html.contains("class=\"num previous"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["history"]["runs"], 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_an_error_naming_the_file() {
    let dir = workdir("bad");
    let err = |args: &[&str]| {
        let o = vm_bench(args);
        assert_eq!(o.status.code(), Some(2), "{:?}: {}", args, stdout(&o));
        stderr(&o)
    };
    // Missing artifact directory.
    let e = err(&["list", "--dir", "/nonexistent/vm-bench"]);
    assert!(e.contains("/nonexistent/vm-bench"), "{e}");
    // Empty directory.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = err(&["report", "--dir", s(&empty)]);
    assert!(
        e.contains("no benchmark artifacts") && e.contains(s(&empty)),
        "{e}"
    );
    // Missing and corrupt baselines.
    let e = err(&["compare", "--dir", s(&dir), "--baseline", "nope"]);
    assert!(
        e.contains(&format!("{}/baselines/nope.json", s(&dir))),
        "{e}"
    );
    std::fs::create_dir_all(dir.join("baselines")).unwrap();
    std::fs::write(dir.join("baselines/broken.json"), "[1,").unwrap();
    let e = err(&["compare", "--dir", s(&dir), "--baseline", "broken"]);
    assert!(e.contains("broken.json is corrupt"), "{e}");
    // Bad override files.
    let t = dir.join("baselines/t.json");
    std::fs::write(
        &t,
        r#"{"machine_class":"x","targets":[{"name":"jit::nope","metric":"max_us","tolerance":1}]}"#,
    )
    .unwrap();
    let e = err(&[
        "report",
        "--dir",
        s(&dir),
        "--no-history",
        "--targets",
        s(&t),
    ]);
    assert!(
        e.contains(s(&t)) && e.contains("no benchmark named \"jit::nope\""),
        "{e}"
    );
    let e = err(&[
        "report",
        "--dir",
        s(&dir),
        "--targets",
        "/nonexistent/t.json",
    ]);
    assert!(e.contains("/nonexistent/t.json"), "{e}");
    // Usage errors.
    assert!(err(&["frobnicate"]).contains("unrecognized subcommand 'frobnicate'"));
    assert!(err(&["list", "--wat"]).contains("unexpected argument '--wat'"));
    assert!(err(&["compare", "--dir", s(&dir)]).contains("needs --baseline"));
    assert!(err(&["compare", "--baseline", "x", "--alpha", "-1"]).contains("--alpha"));
    assert!(err(&["compare", "--baseline", "x", "--alpha", "2"]).contains("--alpha"));
    assert!(err(&[]).contains("Usage: vm-bench <COMMAND>"));
    // A corrupt artifact: named, and nothing is reported from a partial set.
    let bad = dir.join("jit.zz_corrupt.json");
    std::fs::write(&bad, "{\"schema\": 1").unwrap();
    let e = err(&["report", "--dir", s(&dir), "--no-history"]);
    assert!(e.contains(s(&bad)), "{e}");
    let mut a: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("jit.bench_hotspot_detection.json")).unwrap(),
    )
    .unwrap();
    a["schema"] = 99.into();
    std::fs::write(&bad, a.to_string()).unwrap();
    let e = err(&["list", "--dir", s(&dir)]);
    assert!(e.contains(s(&bad)) && e.contains("schema 99"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file under `dir`, relative, with its content (to prove nothing changed).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn help_version_and_exit_codes_are_documented() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let o = vm_bench(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let text = stdout(&o);
        for want in [
            "Usage: vm-bench <COMMAND>",
            "report",
            "compare",
            "list",
            "Exit status:",
            "  0  ",
            "  1  ",
            "  2  ",
        ] {
            assert!(text.contains(want), "{args:?}: missing {want:?} in\n{text}");
        }
    }
    let o = vm_bench(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        format!("vm-bench {}", env!("CARGO_PKG_VERSION"))
    );
    // Every flag of `report` has a description.
    let o = vm_bench(&["report", "--help"]);
    let text = stdout(&o);
    let mut flags = 0;
    // A flag line is indented by six spaces; a wrapped description by more.
    for line in text.lines().filter(|l| l.starts_with("      --")) {
        flags += 1;
        let desc = line
            .trim_start()
            .split_once("  ")
            .map(|(_, d)| d.trim())
            .unwrap_or("");
        assert!(!desc.is_empty(), "flag without a description: {line:?}");
    }
    assert!(flags >= 11, "{flags} flags in\n{text}");
    assert!(text.contains("Exit status:"), "{text}");
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = workdir("refuse");
    let out = dir.join("report");
    let code = |args: &[&str]| {
        let o = vm_bench(args);
        (o.status.code(), format!("{}{}", stdout(&o), stderr(&o)))
    };
    // An invalid baseline name: nothing is written (no report, no history record).
    let (c, e) = code(&["report", "--dir", s(&dir), "--save-baseline", "../x"]);
    assert_eq!(c, Some(2), "{e}");
    assert!(e.contains("invalid baseline name \"../x\""), "{e}");
    assert!(!out.exists() && !dir.join("history").exists());
    // A good run writes the report and one history record.
    let (c, e) = code(&["report", "--dir", s(&dir)]);
    assert_eq!(c, Some(0), "{e}");
    let before = snapshot(&dir);
    assert_eq!(std::fs::read_dir(dir.join("history")).unwrap().count(), 1);
    // A corrupt history record: exit 2 naming it, the previous report and history intact.
    std::fs::write(dir.join("history/zz.json"), "{").unwrap();
    let (c, e) = code(&["report", "--dir", s(&dir), "--save-baseline", "b"]);
    assert_eq!(c, Some(2), "{e}");
    assert!(e.contains("zz.json") && e.contains("corrupt"), "{e}");
    std::fs::remove_file(dir.join("history/zz.json")).unwrap();
    assert_eq!(snapshot(&dir), before, "a refused run changed files");
    // A report directory that cannot be created: exit 2, no stray temporary.
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, "a file").unwrap();
    let (c, e) = code(&[
        "report",
        "--dir",
        s(&dir),
        "--no-history",
        "--out",
        &format!("{}/r", s(&blocker)),
    ]);
    assert_eq!(c, Some(2), "{e}");
    let (c, e) = code(&[
        "report",
        "--dir",
        s(&dir),
        "--no-history",
        "--out",
        s(&blocker),
    ]);
    assert_eq!(c, Some(2), "{e}");
    assert!(e.contains("not a directory"), "{e}");
    // A directory of other files is not replaced by a report.
    let (c, e) = code(&["report", "--dir", s(&dir), "--no-history", "--out", s(&dir)]);
    assert_eq!(c, Some(2), "{e}");
    assert!(e.contains("not a report"), "{e}");
    std::fs::remove_file(&blocker).unwrap();
    assert_eq!(snapshot(&dir), before, "a refused run changed files");
    let stray: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n.contains(".old-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn duplicate_and_inconsistent_artifacts_are_refused() {
    let dir = workdir("dup");
    // A copied artifact: both files named, nothing counted twice.
    let copy = dir.join("jit.copy_of_caching.json");
    std::fs::copy(dir.join("jit.bench_block_caching.json"), &copy).unwrap();
    for cmd in ["list", "report"] {
        let o =
            vm_bench(&[cmd, "--dir", s(&dir), "--no-history"][..if cmd == "list" { 3 } else { 4 }]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", stdout(&o));
        let e = stderr(&o);
        assert!(
            e.contains("jit.bench_block_caching.json")
                && e.contains("jit.copy_of_caching.json")
                && e.contains("jit::bench_block_caching"),
            "{e}"
        );
    }
    assert!(!dir.join("report").exists());
    std::fs::remove_file(&copy).unwrap();
    // A KPI with a verdict but "measured": null.
    let path = dir.join("jit.bench_compilation_latency.json");
    let mut a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(a["kpis"][0]["verdict"], "pass");
    a["kpis"][0]["measured"] = serde_json::Value::Null;
    std::fs::write(&path, a.to_string()).unwrap();
    let o = vm_bench(&["report", "--dir", s(&dir), "--no-history"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let e = stderr(&o);
    assert!(
        e.contains(s(&path))
            && e.contains("kpis[0] (max_us)")
            && e.contains("\"measured\" is null"),
        "{e}"
    );
    assert!(!stdout(&o).contains("PASS"), "{}", stdout(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn non_positive_target_values_are_bad_input() {
    let dir = workdir("bad-targets");
    let t = dir.with_extension("targets.json");
    for value in ["-5", "0"] {
        std::fs::write(
            &t,
            format!(r#"{{"machine_class":"x","targets":[{{"name":"bench_compilation_latency","metric":"max_us","target_value":{value}}}]}}"#),
        )
        .unwrap();
        let o = vm_bench(&["report", "--dir", s(&dir), "--targets", s(&t)]);
        assert_eq!(o.status.code(), Some(2), "{value}: {}", stdout(&o));
        let e = stderr(&o);
        assert!(
            e.contains(s(&t)) && e.contains(&format!("target_value {value} must be positive")),
            "{e}"
        );
        assert!(!dir.join("report").exists() && !dir.join("history").exists());
    }
    let _ = std::fs::remove_file(&t);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_filtered_report_accepts_overrides_of_benchmarks_it_leaves_out() {
    let dir = workdir("filtered");
    let t = dir.with_extension("filtered-targets.json");
    std::fs::write(
        &t,
        r#"{"machine_class":"x","targets":[
            {"name":"bench_compilation_latency","metric":"max_us","tolerance":5},
            {"name":"bench_block_caching","metric":"hit_rate","tolerance":5}]}"#,
    )
    .unwrap();
    let out = dir.join("out");
    let o = vm_bench(&[
        "report",
        "--dir",
        s(&dir),
        "--no-history",
        "--out",
        s(&out),
        "--filter",
        "compilation",
        "--targets",
        s(&t),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let checks = r["target_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(
        checks[0]["target"]["name"],
        "jit::bench_compilation_latency"
    );
    assert_eq!(checks[0]["target"]["tolerance"], 5.0);
    // A name no artifact has is still an error.
    std::fs::write(
        &t,
        r#"{"machine_class":"x","targets":[{"name":"bench_nope","metric":"max_us","tolerance":5}]}"#,
    )
    .unwrap();
    let o = vm_bench(&[
        "report",
        "--dir",
        s(&dir),
        "--no-history",
        "--filter",
        "compilation",
        "--targets",
        s(&t),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("no benchmark named \"bench_nope\""),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_file(&t);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn changes_reports_the_run_commit_size_and_p_value_of_a_step_in_the_history() {
    let dir = workdir("changes");
    let hist = dir.join("history");
    std::fs::create_dir_all(&hist).unwrap();
    // 20 runs, one a day; "jit::a" steps from 1000 to 1250 ns/iter at run 12 (commit
    // c12...), with ±1 % wobble; "jit::flat" does not move.
    for i in 0..20u64 {
        let wobble = 1.0 + ((i * 7 % 5) as f64 - 2.0) / 200.0;
        let a = if i >= 12 { 1250.0 } else { 1000.0 } * wobble;
        let summary = serde_json::json!({
            "schema": 1, "id": format!("{:015}-c{i}", i * 86_400_000),
            "timestamp_unix_ms": i * 86_400_000,
            "timestamp": format!("2026-01-{:02}T00:00:00.000Z", i + 1),
            "git_commit": format!("c{i:02}deadbeef"), "machine_class": null,
            "passed": true, "medians_ns": {},
            "sample_medians": {"jit::a": a, "jit::flat": 30.0 * wobble},
            "sample_units": {"jit::a": "ns/iter", "jit::flat": "ns/iter"}, "kpis": []
        });
        std::fs::write(hist.join(format!("{i}.json")), summary.to_string()).unwrap();
    }
    let o = vm_bench(&["changes", "--dir", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "1 change point(s) in 20 run(s) of 2 benchmark(s) (alpha 0.05, 199 permutations, steps of at least 2%)"
        ),
        "{out}"
    );
    let line = out.lines().nth(1).unwrap();
    assert!(
        line.contains("jit::a: +25.")
            && line.contains("at run 2026-01-13T00:00:00.000Z (commit c12deadbeef)")
            && line.contains(": 1.000 us/iter -> 1.2")
            && line.contains("us/iter, p = 0.005 (99.5% confidence)"),
        "{line}"
    );
    // Same input, same answer (seeded permutations).
    assert_eq!(stdout(&vm_bench(&["changes", "--dir", s(&dir)])), out);
    let o = vm_bench(&["changes", "--dir", s(&dir), "--filter", "flat"]);
    assert!(stdout(&o).starts_with("0 change point(s) in 20 run(s) of 1 benchmark(s)"));
    // The magnitude floor is an option; a negative one is a usage error.
    let o = vm_bench(&["changes", "--dir", s(&dir), "--min-change-pct", "30"]);
    assert!(
        stdout(&o).starts_with("0 change point(s) in 20 run(s) of 2 benchmark(s)"),
        "{}",
        stdout(&o)
    );
    let o = vm_bench(&["changes", "--dir", s(&dir), "--min-change-pct", "-1"]);
    assert_eq!(o.status.code(), Some(2));
    // Too few permutations for alpha, and an empty history: errors.
    let o = vm_bench(&["changes", "--dir", s(&dir), "--permutations", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("permutations"), "{}", stderr(&o));
    let o = vm_bench(&["changes", "--dir", s(&dir.join("nothing"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no recorded runs"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
