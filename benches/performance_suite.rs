//! `cargo bench --bench performance_suite [-- OPTIONS]`: runs every registered
//! `#[perf_target]` benchmark in this process, prints the console report, writes
//! `report.json` / `report.csv` / `report.md` to `<target>/vm-bench/suite/` (or `--out DIR`),
//! saves or compares baselines, and exits non-zero on a KPI breach or a significant
//! regression.
//!
//! Options: `--filter SUBSTR`, `--out DIR`, `--save-baseline NAME`, `--baseline NAME`,
//! `--list`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use vm_bench_runtime::baseline::{compare, Baseline, Change, CompareConfig, BASELINE_SCHEMA};
use vm_bench_runtime::registry;
use vm_bench_runtime::report::{BenchRow, SuiteReport};
use vm_bench_runtime::runner::RunOptions;

// Every tests/*.rs holding a #[perf_target], as a module (see benches/build/suite_modules.rs).
include!(concat!(env!("OUT_DIR"), "/suite_modules.rs"));

struct Args {
    filter: String,
    out: Option<PathBuf>,
    save_baseline: Option<String>,
    baseline: Option<String>,
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        filter: String::new(),
        out: None,
        save_baseline: None,
        baseline: None,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--filter" => a.filter = val("--filter")?,
            "--out" => a.out = Some(PathBuf::from(val("--out")?)),
            "--save-baseline" => a.save_baseline = Some(val("--save-baseline")?),
            "--baseline" => a.baseline = Some(val("--baseline")?),
            "--list" => a.list = true,
            // cargo bench passes --bench; libtest-style flags are accepted and ignored.
            "--bench" | "--nocapture" => {}
            other if !other.starts_with('-') => a.filter = other.to_string(),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// The guide's KPI table, generated from the registry: one row per declared bound.
fn kpi_table() -> String {
    use vm_bench_runtime::__private::KpiSpec;
    let mut entries = registry::entries();
    entries.sort_by_key(|e| {
        (
            vm_bench_runtime::report::category_rank(
                e.category().map(|c| c.as_str()).unwrap_or("-"),
            ),
            e.name(),
        )
    });
    let mut s = String::from("| Category | Benchmark | KPI |\n|---|---|---|\n");
    for e in entries {
        let cat = e.category().map(|c| c.as_str()).unwrap_or("-");
        let kpis: Vec<String> = e
            .kpis()
            .iter()
            .map(|k| match k {
                KpiSpec::MaxTime { key, written, .. } => format!("{key} = {written}"),
                KpiSpec::MinThroughput { ops_per_sec } => {
                    format!("min_ops_per_sec = {ops_per_sec}")
                }
                KpiSpec::Metric { name, op, bound } => format!("{name} {} {bound}", op.as_str()),
                KpiSpec::Relative { kind, bound } => format!("{kind:?} {bound}"),
            })
            .collect();
        let kpis = if kpis.is_empty() {
            "(measured, no bound)".to_string()
        } else {
            kpis.join(", ")
        };
        s.push_str(&format!("| {cat} | {} | {kpis} |\n", e.name()));
    }
    s
}

const GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/P1_03_BENCHMARK_GUIDE.md");
const BEGIN: &str = "<!-- kpi-table:begin -->\n";
const END: &str = "<!-- kpi-table:end -->";

/// `--check-guide` / `--update-guide`: the guide's table must equal [`kpi_table`].
fn guide(update: bool) -> i32 {
    let text = match std::fs::read_to_string(GUIDE) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("performance_suite: {GUIDE}: {e}");
            return 2;
        }
    };
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        eprintln!("performance_suite: {GUIDE}: kpi-table markers missing");
        return 2;
    };
    let current = &text[b + BEGIN.len()..e];
    let want = kpi_table();
    if current == want {
        println!("{GUIDE}: KPI table matches the registry");
        return 0;
    }
    if update {
        let new = format!("{}{BEGIN}{want}{}", &text[..b], &text[e..]);
        if let Err(err) =
            vm_bench_runtime::report::write_atomic(std::path::Path::new(GUIDE), new.as_bytes())
        {
            eprintln!("performance_suite: {GUIDE}: {err}");
            return 2;
        }
        println!("{GUIDE}: KPI table updated");
        return 0;
    }
    eprintln!("performance_suite: {GUIDE}: KPI table differs from the registry; run `cargo bench --bench performance_suite -- --update-guide`\nexpected:\n{want}");
    1
}

fn main() {
    if let Some(flag) = std::env::args().find(|a| a == "--check-guide" || a == "--update-guide") {
        std::process::exit(guide(flag == "--update-guide"));
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("performance_suite: {e}");
            std::process::exit(2);
        }
    };
    let entries = registry::matching(&args.filter);
    if args.list {
        for e in &entries {
            println!(
                "{} [{}]",
                e.full_name(),
                e.category().map(|c| c.as_str()).unwrap_or("-")
            );
        }
        return;
    }
    let out = args.out.clone().unwrap_or_else(|| {
        vm_bench_runtime::env::output_dir(env!("CARGO_MANIFEST_DIR")).join("suite")
    });
    let opts = RunOptions {
        mode: None,
        dir: None,
        quiet: true,
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    println!("running {} benchmarks", entries.len());
    for (i, e) in entries.iter().enumerate() {
        let t0 = Instant::now();
        let cat = e.category().map(|c| c.as_str()).unwrap_or("-");
        println!(
            "[{}/{}] {} ({cat}) ...",
            i + 1,
            entries.len(),
            e.full_name()
        );
        let report = e.run(&opts);
        let verdict = if report.passed() { "ok" } else { "FAILED" };
        println!(
            "[{}/{}] {} ({cat}) {verdict} in {:.1}s (suite {:.1}s)",
            i + 1,
            entries.len(),
            e.full_name(),
            t0.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        for f in &report.failures {
            println!("    {f}");
        }
        if let Some(a) = &report.artifact {
            let mut row = BenchRow::from_artifact(a);
            // Same name as the `cargo test` artifact of tests/<file>.rs (module `<file>`),
            // so baselines and reports from either path line up.
            if let Some(rest) = row.name.strip_prefix("performance_suite::") {
                row.name = rest.to_string();
            }
            rows.push(row);
        }
    }
    let mut ok = rows.iter().all(BenchRow::passed);
    for r in &rows {
        println!("\n{} [{}]", r.name, r.category);
        println!("  iterations: {}", r.iterations);
        println!("  total:      {:.3} ms", r.total_ns / 1e6);
        println!("  average:    {:.3} us", r.mean_ns / 1e3);
        println!("  min:        {:.3} us", r.min_ns / 1e3);
        println!("  max:        {:.3} us", r.max_ns / 1e3);
        println!("  std dev:    {:.3} us", r.stddev_ns / 1e3);
        println!("  throughput: {:.1} ops/s", r.throughput);
    }
    println!(
        "\nKPI                                      bound              measured           verdict"
    );
    for r in &rows {
        for k in &r.kpis {
            let m = k
                .measured
                .map(|v| format!("{v:.3} {}", k.unit))
                .unwrap_or("-".into());
            println!(
                "{:<40} {:<18} {:<18} {:?}",
                format!(
                    "{}.{}",
                    r.name.rsplit("::").next().unwrap_or(&r.name),
                    k.key
                ),
                format!("{} {} {}", k.op, k.bound, k.unit),
                m,
                k.verdict
            );
        }
    }
    let passed = rows.iter().filter(|r| r.passed()).count();
    println!(
        "\noverall: {} benchmarks, {passed} passed, {} failed, {:.1}s",
        rows.len(),
        rows.len() - passed,
        started.elapsed().as_secs_f64()
    );
    let report = SuiteReport {
        environment: serde_json::json!({ "runner": "performance_suite" }),
        target_overrides: None,
        results: rows.clone(),
    };
    match report.write_all(&out) {
        Ok(()) => println!("reports: {}", out.display()),
        Err(e) => {
            eprintln!("performance_suite: {e}");
            ok = false;
        }
    }
    let current: BTreeMap<String, Vec<f64>> = rows
        .iter()
        .map(|r| (r.name.clone(), r.samples.clone()))
        .collect();
    let base_dir = out.parent().map(PathBuf::from).unwrap_or(out.clone());
    if let Some(name) = &args.baseline {
        match Baseline::load(&base_dir, name) {
            Ok(b) => {
                println!("\ncomparison against baseline {name}:");
                for c in compare(&b, &current, &CompareConfig::default()) {
                    println!(
                        "  {:<50} {:?} {} p={}",
                        c.name,
                        c.change,
                        c.change_pct
                            .map(|p| format!("{p:+.1}%"))
                            .unwrap_or("-".into()),
                        c.p_value.map(|p| format!("{p:.2e}")).unwrap_or("-".into())
                    );
                    if c.change == Change::Regressed && c.fails {
                        ok = false;
                    }
                }
            }
            Err(e) => {
                eprintln!("performance_suite: {e}");
                ok = false;
            }
        }
    }
    if let Some(name) = &args.save_baseline {
        let b = Baseline {
            schema: BASELINE_SCHEMA,
            name: name.clone(),
            benchmarks: current,
        };
        match b.save(&base_dir) {
            Ok(p) => println!("baseline saved: {}", p.display()),
            Err(e) => {
                eprintln!("performance_suite: {e}");
                ok = false;
            }
        }
    }
    if !ok {
        std::process::exit(1);
    }
}
