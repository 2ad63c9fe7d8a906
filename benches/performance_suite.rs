//! The KPI suite runner.
//!
//! `cargo bench --bench performance_suite [-- OPTIONS]` runs every registered
//! `#[perf_target]` benchmark in this process, prints the console report and the target
//! PASS/FAIL report, writes the reports (`report.json/.csv/.md/.html`, charts, exports) to
//! `<target>/vm-bench/suite/` (or `--out DIR`), records the run in the history, saves or
//! compares baselines, and exits 1 on a failed target or a failing regression (2 on bad
//! input).
//!
//! Under `cargo test` (no `--bench` argument; the target has `test = true`) it runs in
//! **check mode** instead and measures nothing: every `#[perf_target]` in the suite's
//! sources is registered, benchmark names are unique, every benchmark has a category, the
//! guide's KPI table equals the registry's, and a `$VM_BENCH_TARGETS` file (if set) and
//! `docs/bench-targets.example.json` name only known KPIs. `--update-guide` rewrites the guide's table.
//!
//! Options: `--filter SUBSTR` (or a bare word), `--list`, `--out DIR`, `--targets FILE`
//! (default `$VM_BENCH_TARGETS`), `--save-baseline NAME`, `--baseline NAME`,
//! `--noise-pct P`, `--fail-pct P`, `--alpha A`, `--history DIR`, `--no-history`,
//! `--check-guide`, `--update-guide`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use vm_bench_runtime::baseline::{Baseline, CompareConfig, BASELINE_SCHEMA};
use vm_bench_runtime::guide;
use vm_bench_runtime::history::{self, RunSummary};
use vm_bench_runtime::registry::{self, BenchEntry};
use vm_bench_runtime::report::{change_str, SuiteReport};
use vm_bench_runtime::runner::RunOptions;
use vm_bench_runtime::targets::{
    declared_from_entries, render_checks, TargetOverrides, TARGETS_VAR,
};

// Every tests/*.rs holding a #[perf_target], as a module, and SUITE_SOURCES
// (see benches/build/suite_modules.rs).
include!(concat!(env!("OUT_DIR"), "/suite_modules.rs"));

const GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/P1_03_BENCHMARK_GUIDE.md");
/// The guide's example override file: checked against the registry like a real one.
const EXAMPLE_TARGETS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/bench-targets.example.json"
);

/// This binary's crate name: `module_path!()` of the included files starts with it.
const CRATE: &str = "performance_suite";

struct Args {
    bench: bool,
    check_guide: bool,
    update_guide: bool,
    list: bool,
    filter: String,
    out: Option<PathBuf>,
    targets: Option<PathBuf>,
    save_baseline: Option<String>,
    baseline: Option<String>,
    history: Option<PathBuf>,
    no_history: bool,
    cfg: CompareConfig,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        bench: argv.iter().any(|x| x == "--bench"),
        check_guide: false,
        update_guide: false,
        list: false,
        filter: String::new(),
        out: None,
        targets: std::env::var_os(TARGETS_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        save_baseline: None,
        baseline: None,
        history: None,
        no_history: false,
        cfg: CompareConfig::default(),
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        let num = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or(format!("{arg} {v:?} is not a number >= 0"))
        };
        match arg.as_str() {
            "--bench" => {}
            "--check-guide" => a.check_guide = true,
            "--update-guide" => a.update_guide = true,
            "--list" => a.list = true,
            "--filter" => a.filter = val()?,
            "--out" => a.out = Some(PathBuf::from(val()?)),
            "--targets" => a.targets = Some(PathBuf::from(val()?)),
            "--save-baseline" => a.save_baseline = Some(val()?),
            "--baseline" => a.baseline = Some(val()?),
            "--history" => a.history = Some(PathBuf::from(val()?)),
            "--no-history" => a.no_history = true,
            "--noise-pct" => a.cfg.noise_pct = num(val()?)?,
            "--fail-pct" => a.cfg.fail_pct = num(val()?)?,
            "--alpha" => a.cfg.alpha = num(val()?)?,
            other if !other.starts_with('-') => a.filter = other.to_string(),
            // libtest flags `cargo test` may forward (--nocapture, --test-threads=2, ...)
            // mean nothing to check mode; in a measuring run an unknown flag is a mistake.
            other if !a.bench => {
                let _ = other;
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// The registered benchmarks, named as their `cargo test` binaries name them.
fn suite_entries() -> Vec<BenchEntry> {
    registry::entries()
        .into_iter()
        .map(|e| e.relocated(CRATE, env!("CARGO_MANIFEST_DIR")))
        .collect()
}

/// `(module, function)` of every `#[perf_target]` in the suite's sources.
fn expected_benchmarks() -> Vec<(&'static str, String)> {
    SUITE_SOURCES
        .iter()
        .flat_map(|(module, text)| {
            guide::scan_benchmarks(text)
                .into_iter()
                .map(move |name| (*module, name))
        })
        .collect()
}

/// Check mode: registry, guide and override file; no measurement. Exit status.
fn check(entries: &[BenchEntry], targets: Option<&Path>) -> i32 {
    let expected = expected_benchmarks();
    let expected: Vec<(&str, &str)> = expected.iter().map(|(m, n)| (*m, n.as_str())).collect();
    let mut problems = guide::registry_problems(entries, &expected);
    if let Err(e) = guide::check_guide(Path::new(GUIDE), &guide::kpi_table(entries)) {
        problems.push(e.to_string());
    }
    let declared = declared_from_entries(entries);
    for path in targets.into_iter().chain([Path::new(EXAMPLE_TARGETS)]) {
        if let Err(e) = TargetOverrides::load(path).and_then(|o| o.apply(&declared)) {
            problems.push(e.to_string());
        }
    }
    if problems.is_empty() {
        println!(
            "performance_suite check mode (cargo test; nothing measured): {} benchmarks registered \
             and categorized, names unique, {GUIDE} matches the registry, {EXAMPLE_TARGETS}{} \
             valid. Measure with `cargo bench --bench performance_suite`.",
            entries.len(),
            targets
                .map(|p| format!(" and {}", p.display()))
                .unwrap_or_default()
        );
        return 0;
    }
    eprintln!(
        "performance_suite check mode found {} problem(s):",
        problems.len()
    );
    for p in &problems {
        eprintln!("- {p}");
    }
    eprintln!(
        "(after adding or changing a benchmark, regenerate the guide's KPI table with: {})",
        guide::UPDATE_COMMAND
    );
    1
}

/// The spec-style console block of one benchmark.
fn print_block(r: &vm_bench_runtime::report::BenchRow) {
    println!("\n{} [{}] {}", r.name, r.category, r.outcome);
    if r.iterations > 0 {
        println!("  iterations: {}", r.iterations);
        println!("  total:      {:.3} ms", r.total_ns / 1e6);
        println!("  average:    {:.3} us", r.mean_ns / 1e3);
        println!("  median:     {:.3} us", r.median_ns / 1e3);
        println!("  min:        {:.3} us", r.min_ns / 1e3);
        println!("  max:        {:.3} us", r.max_ns / 1e3);
        println!("  std dev:    {:.3} us", r.stddev_ns / 1e3);
        println!("  throughput: {:.1} ops/s", r.throughput);
    }
    for m in &r.metrics {
        println!(
            "  {}: {}",
            m.name,
            vm_bench_runtime::verdict::fmt_num(m.value)
        );
    }
}

/// A measuring run; returns the exit status.
fn run(a: &Args, entries: &[BenchEntry]) -> Result<bool, String> {
    // Everything that can be wrong with the inputs is checked before measuring.
    let overrides = match &a.targets {
        Some(p) => {
            let o = TargetOverrides::load(p).map_err(|e| e.to_string())?;
            o.apply(&declared_from_entries(entries))
                .map_err(|e| e.to_string())?;
            Some(o)
        }
        None => None,
    };
    let out = a.out.clone().unwrap_or_else(|| {
        vm_bench_runtime::env::output_dir(env!("CARGO_MANIFEST_DIR")).join("suite")
    });
    let store = out.parent().map(PathBuf::from).unwrap_or(out.clone());
    let baseline = match &a.baseline {
        Some(name) => Some(Baseline::load(&store, name).map_err(|e| e.to_string())?),
        None => None,
    };
    let selected: Vec<&BenchEntry> = entries
        .iter()
        .filter(|e| e.full_name().contains(&a.filter))
        .collect();
    if selected.is_empty() {
        return Err(format!("no benchmark matches {:?}", a.filter));
    }
    let opts = RunOptions {
        mode: None,
        dir: None,
        quiet: true,
    };
    let started = Instant::now();
    let mut artifacts = Vec::new();
    println!("running {} benchmarks", selected.len());
    for (i, e) in selected.iter().enumerate() {
        let t0 = Instant::now();
        let cat = e.category().map(|c| c.as_str()).unwrap_or("-");
        println!(
            "[{}/{}] {} ({cat}) ...",
            i + 1,
            selected.len(),
            e.full_name()
        );
        let report = e.run(&opts);
        let verdict = match &report.artifact {
            Some(a) => format!("{:?}", a.outcome).to_lowercase(),
            None => "not run".into(),
        };
        println!(
            "[{}/{}] {} ({cat}) {verdict} in {:.1}s (suite {:.1}s)",
            i + 1,
            selected.len(),
            e.full_name(),
            t0.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        for f in &report.failures {
            println!("    {f}");
        }
        artifacts.extend(report.artifact);
    }
    let mut report = SuiteReport::from_artifacts("performance_suite", &artifacts);
    if let Some(o) = &overrides {
        report.apply_targets(o).map_err(|e| e.to_string())?;
    }
    for r in &report.results {
        print_block(r);
    }
    println!("\ntargets ({}):", report.targets.describe());
    print!("{}", render_checks(&report.target_checks));
    let history_dir = a.history.clone().unwrap_or_else(|| store.join("history"));
    if let Some(b) = &baseline {
        // Past runs set each benchmark's run-to-run noise threshold.
        let past = if a.no_history {
            Vec::new()
        } else {
            history::load(&history_dir).map_err(|e| e.to_string())?
        };
        report.compare_baseline_with_history(
            b,
            &a.cfg,
            history::latest(&past, history::TREND_RUNS),
        );
        println!("\ncomparison against baseline {}:", b.name);
        for c in &report.baseline.as_ref().expect("just compared").comparisons {
            println!(
                "  {:<50} {:<14} {:>8} noise ±{:.1}% p={}{}",
                c.name,
                change_str(c.change),
                c.change_pct
                    .map(|p| format!("{p:+.1}%"))
                    .unwrap_or("-".into()),
                c.noise_pct,
                c.p_value.map(|p| format!("{p:.2e}")).unwrap_or("-".into()),
                if c.fails { "  FAILS" } else { "" }
            );
        }
    }
    let history = if a.no_history {
        Vec::new()
    } else {
        history::record(&history_dir, &RunSummary::of(&report)).map_err(|e| e.to_string())?;
        let all = history::load(&history_dir).map_err(|e| e.to_string())?;
        history::latest(&all, history::TREND_RUNS).to_vec()
    };
    report
        .write_all(&out, &history)
        .map_err(|e| e.to_string())?;
    if let Some(name) = &a.save_baseline {
        let b = Baseline {
            schema: BASELINE_SCHEMA,
            name: name.clone(),
            benchmarks: report.samples(),
        };
        let p = b.save(&store).map_err(|e| e.to_string())?;
        println!("baseline saved: {}", p.display());
    }
    println!(
        "\noverall: {} in {:.1}s",
        report.headline(),
        started.elapsed().as_secs_f64()
    );
    for f in report.failures() {
        println!("  {f}");
    }
    println!("reports: {}", out.join("report.html").display());
    Ok(report.passed())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("performance_suite: {e}");
            std::process::exit(2);
        }
    };
    let entries = suite_entries();
    if args.update_guide {
        match guide::update_guide(Path::new(GUIDE), &guide::kpi_table(&entries)) {
            Ok(true) => println!("{GUIDE}: KPI table updated ({} benchmarks)", entries.len()),
            Ok(false) => println!("{GUIDE}: KPI table already up to date"),
            Err(e) => {
                eprintln!("performance_suite: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    if args.list {
        for e in entries
            .iter()
            .filter(|e| e.full_name().contains(&args.filter))
        {
            println!(
                "{} [{}] {}:{}",
                e.full_name(),
                e.category().map(|c| c.as_str()).unwrap_or("-"),
                e.file(),
                e.line()
            );
        }
        return;
    }
    if !args.bench || args.check_guide {
        std::process::exit(check(&entries, args.targets.as_deref()));
    }
    match run(&args, &entries) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("performance_suite: {e}");
            std::process::exit(2);
        }
    }
}
