//! `vm-bench`: builds the suite reports from the per-test JSON artifacts a plain
//! `cargo test` left in the artifact directory (`$VM_BENCH_DIR`, else `target/vm-bench/`).
//!
//! ```text
//! vm-bench list    [--dir DIR] [--filter S]
//! vm-bench report  [--dir DIR] [--filter S] [--out DIR] [--targets FILE] [--baseline NAME]
//!                  [--save-baseline NAME] [--history DIR | --no-history] [compare options]
//! vm-bench compare --baseline NAME [--dir DIR] [--filter S] [compare options]
//! compare options: --noise-pct P  --fail-pct P  --alpha A
//! ```
//! `--targets` defaults to `$VM_BENCH_TARGETS`. Exit status: 0 ok, 1 a target failed or a
//! significant regression beyond the fail threshold, 2 usage or input error (the message
//! names the file).

use std::path::{Path, PathBuf};

use vm_bench_runtime::artifact::{Artifact, ArtifactError};
use vm_bench_runtime::baseline::{Baseline, BaselineError, CompareConfig, BASELINE_SCHEMA};
use vm_bench_runtime::history::{self, HistoryError, RunSummary};
use vm_bench_runtime::report::{change_str, ReportError, SuiteReport};
use vm_bench_runtime::targets::{render_checks, TargetOverrides, TargetsError, TARGETS_VAR};

const USAGE: &str = "usage: vm-bench <list|report|compare> [--dir DIR] [--filter S] [--out DIR] \
[--targets FILE] [--baseline NAME] [--save-baseline NAME] [--history DIR] [--no-history] \
[--noise-pct P] [--fail-pct P] [--alpha A]";

/// Everything that stops the CLI before a verdict; exit status 2.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error("artifact directory {path}: {source}")]
    ArtifactDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no benchmark artifacts (*.json) in {0}; run `cargo test` first or pass --dir")]
    NoArtifacts(PathBuf),
    /// Unreadable file (the error names it).
    #[error("{0}")]
    ArtifactIo(ArtifactError),
    #[error("artifact {path}: {source}")]
    Artifact {
        path: PathBuf,
        source: ArtifactError,
    },
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Targets(#[from] TargetsError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

struct Args {
    cmd: String,
    dir: PathBuf,
    filter: String,
    out: Option<PathBuf>,
    targets: Option<PathBuf>,
    baseline: Option<String>,
    save: Option<String>,
    history: Option<PathBuf>,
    no_history: bool,
    cfg: CompareConfig,
}

fn parse_args(argv: &[String]) -> Result<Args, CliError> {
    let mut it = argv.iter();
    let cmd = it
        .next()
        .ok_or_else(|| CliError::Usage("missing command".into()))?
        .clone();
    if !matches!(cmd.as_str(), "list" | "report" | "compare") {
        return Err(CliError::Usage(format!("unknown command {cmd:?}")));
    }
    let mut a = Args {
        cmd,
        dir: std::env::var_os("VM_BENCH_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/vm-bench")),
        filter: String::new(),
        out: None,
        targets: std::env::var_os(TARGETS_VAR)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
        baseline: None,
        save: None,
        history: None,
        no_history: false,
        cfg: CompareConfig::default(),
    };
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))
        };
        let number = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| CliError::Usage(format!("{flag} {v:?} is not a number >= 0")))
        };
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(value()?),
            "--filter" => a.filter = value()?,
            "--out" => a.out = Some(PathBuf::from(value()?)),
            "--targets" => a.targets = Some(PathBuf::from(value()?)),
            "--baseline" => a.baseline = Some(value()?),
            "--save-baseline" => a.save = Some(value()?),
            "--history" => a.history = Some(PathBuf::from(value()?)),
            "--no-history" => a.no_history = true,
            "--noise-pct" => a.cfg.noise_pct = number(value()?)?,
            "--fail-pct" => a.cfg.fail_pct = number(value()?)?,
            "--alpha" => a.cfg.alpha = number(value()?)?,
            other => return Err(CliError::Usage(format!("unknown option {other:?}"))),
        }
    }
    if a.cmd == "compare" && a.baseline.is_none() {
        return Err(CliError::Usage("compare needs --baseline NAME".into()));
    }
    Ok(a)
}

/// Every artifact directly in `dir` (hidden and temporary files skipped) whose name
/// contains `filter`, sorted by benchmark name.
fn load_artifacts(dir: &Path, filter: &str) -> Result<Vec<Artifact>, CliError> {
    let rd = std::fs::read_dir(dir).map_err(|source| CliError::ArtifactDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let a = Artifact::read(&path).map_err(|source| match source {
            ArtifactError::Io { .. } => CliError::ArtifactIo(source),
            source => CliError::Artifact {
                path: path.clone(),
                source,
            },
        })?;
        if a.identity.full_name.contains(filter) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(CliError::NoArtifacts(dir.to_path_buf()));
    }
    out.sort_by(|a, b| a.identity.full_name.cmp(&b.identity.full_name));
    Ok(out)
}

fn history_dir(a: &Args) -> PathBuf {
    a.history.clone().unwrap_or_else(|| a.dir.join("history"))
}

/// The recorded runs that set each benchmark's run-to-run noise (none with --no-history).
fn past_runs(a: &Args) -> Result<Vec<RunSummary>, CliError> {
    if a.no_history {
        return Ok(Vec::new());
    }
    let all = history::load(&history_dir(a))?;
    Ok(history::latest(&all, history::TREND_RUNS).to_vec())
}

/// Runs the command; `Ok(true)` when everything passed.
fn run(a: &Args) -> Result<bool, CliError> {
    let artifacts = load_artifacts(&a.dir, &a.filter)?;
    let mut report = SuiteReport::from_artifacts("vm-bench report", &artifacts);
    match a.cmd.as_str() {
        "list" => {
            for r in &report.results {
                println!("{:<50} {:<10} {}", r.name, r.category, r.outcome);
            }
            return Ok(true);
        }
        "compare" => {
            let name = a.baseline.as_deref().unwrap_or_default();
            let b = Baseline::load(&a.dir, name)?;
            report.compare_baseline_with_history(&b, &a.cfg, &past_runs(a)?);
            let section = report.baseline.as_ref().expect("just compared");
            for c in &section.comparisons {
                println!(
                    "{:<50} {:<14} {:>8} noise ±{:.1}% p={}",
                    c.name,
                    change_str(c.change),
                    c.change_pct
                        .map(|p| format!("{p:+.1}%"))
                        .unwrap_or("-".into()),
                    c.noise_pct,
                    c.p_value.map(|p| format!("{p:.2e}")).unwrap_or("-".into())
                );
            }
            return Ok(!section.comparisons.iter().any(|c| c.fails));
        }
        _ => {}
    }
    // report
    if let Some(path) = &a.targets {
        report.apply_targets(&TargetOverrides::load(path)?)?;
    }
    if let Some(name) = &a.baseline {
        let b = Baseline::load(&a.dir, name)?;
        report.compare_baseline_with_history(&b, &a.cfg, &past_runs(a)?);
    }
    let out = a.out.clone().unwrap_or_else(|| a.dir.join("report"));
    let history: Vec<RunSummary> = if a.no_history {
        Vec::new()
    } else {
        let dir = history_dir(a);
        history::record(&dir, &RunSummary::of(&report))?;
        let all = history::load(&dir)?;
        history::latest(&all, history::TREND_RUNS).to_vec()
    };
    report.write_all(&out, &history)?;
    print!("{}", render_checks(&report.target_checks));
    println!("{}", report.headline());
    for f in report.failures() {
        println!("  {f}");
    }
    println!("reports: {}", out.join("report.html").display());
    if let Some(name) = &a.save {
        let b = Baseline {
            schema: BASELINE_SCHEMA,
            name: name.clone(),
            benchmarks: report.samples(),
        };
        println!("baseline saved: {}", b.save(&a.dir)?.display());
    }
    Ok(report.passed())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&argv).and_then(|a| run(&a));
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("vm-bench: {e}");
            std::process::exit(2);
        }
    }
}
