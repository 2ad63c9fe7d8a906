//! `vm-bench`: builds the suite reports from the per-test JSON artifacts a plain
//! `cargo test` left in the artifact directory (`target/vm-bench/` by default).
//!
//! ```text
//! vm-bench list    [--dir DIR]
//! vm-bench report  [--dir DIR] [--out DIR] [--save-baseline NAME]
//! vm-bench compare --baseline NAME [--dir DIR] [--noise-pct P] [--fail-pct P] [--alpha A]
//! ```
//! Exit status: 0 ok, 1 KPI failure or significant regression, 2 usage or input error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vm_bench_runtime::artifact::Artifact;
use vm_bench_runtime::baseline::{compare, Baseline, Change, CompareConfig, BASELINE_SCHEMA};
use vm_bench_runtime::report::{BenchRow, SuiteReport};

fn usage() -> ! {
    eprintln!("usage: vm-bench <list|report|compare> [--dir DIR] [--out DIR] [--baseline NAME] [--save-baseline NAME] [--noise-pct P] [--fail-pct P] [--alpha A]");
    std::process::exit(2)
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("vm-bench: {msg}");
    std::process::exit(2)
}

/// Every artifact in `dir` (files `*.json` directly inside it), sorted by benchmark name.
fn load_rows(dir: &Path) -> Vec<BenchRow> {
    let rd = std::fs::read_dir(dir)
        .unwrap_or_else(|e| fail(format!("artifact directory {}: {e}", dir.display())));
    let mut rows: Vec<BenchRow> = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") && p.is_file() {
            match Artifact::read(&p) {
                Ok(a) => rows.push(BenchRow::from_artifact(&a)),
                Err(err) => fail(format!("{}: {err}", p.display())),
            }
        }
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_else(|| usage());
    let default_dir = std::env::var_os("VM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/vm-bench"));
    let (mut dir, mut out, mut baseline, mut save) = (default_dir, None, None, None);
    let mut cfg = CompareConfig::default();
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| usage());
        let num = |s: String| {
            s.parse::<f64>()
                .unwrap_or_else(|_| fail(format!("not a number: {s}")))
        };
        match a.as_str() {
            "--dir" => dir = PathBuf::from(v()),
            "--out" => out = Some(PathBuf::from(v())),
            "--baseline" => baseline = Some(v()),
            "--save-baseline" => save = Some(v()),
            "--noise-pct" => cfg.noise_pct = num(v()),
            "--fail-pct" => cfg.fail_pct = num(v()),
            "--alpha" => cfg.alpha = num(v()),
            _ => usage(),
        }
    }
    let rows = load_rows(&dir);
    let current: BTreeMap<String, Vec<f64>> = rows
        .iter()
        .map(|r| (r.name.clone(), r.samples.clone()))
        .collect();
    match cmd.as_str() {
        "list" => {
            for r in &rows {
                println!("{:<50} {:<10} {}", r.name, r.category, r.outcome);
            }
        }
        "report" => {
            let out = out.unwrap_or_else(|| dir.join("report"));
            let report = SuiteReport {
                environment: serde_json::json!({ "source": dir.display().to_string() }),
                target_overrides: None,
                results: rows.clone(),
            };
            report.write_all(&out).unwrap_or_else(|e| fail(e));
            println!("reports: {}", out.display());
            if let Some(name) = save {
                let b = Baseline {
                    schema: BASELINE_SCHEMA,
                    name,
                    benchmarks: current,
                };
                let p = b.save(&dir).unwrap_or_else(|e| fail(e));
                println!("baseline saved: {}", p.display());
            }
            if !rows.iter().all(BenchRow::passed) {
                std::process::exit(1);
            }
        }
        "compare" => {
            let name = baseline.unwrap_or_else(|| usage());
            let b = Baseline::load(&dir, &name).unwrap_or_else(|e| fail(e));
            let mut failed = false;
            for c in compare(&b, &current, &cfg) {
                println!(
                    "{:<50} {:<14} {:>8} p={}",
                    c.name,
                    format!("{:?}", c.change),
                    c.change_pct
                        .map(|p| format!("{p:+.1}%"))
                        .unwrap_or("-".into()),
                    c.p_value.map(|p| format!("{p:.2e}")).unwrap_or("-".into())
                );
                failed |= c.change == Change::Regressed && c.fails;
            }
            if failed {
                std::process::exit(1);
            }
        }
        _ => usage(),
    }
}
