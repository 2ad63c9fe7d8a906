//! `vm-bench`: builds the suite reports from the per-test JSON artifacts a plain
//! `cargo test` left in the artifact directory (`$VM_BENCH_DIR`, else `target/vm-bench/`).
//! Run `vm-bench --help` for the commands, options and exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use vm_bench_runtime::artifact::Artifact;
use vm_bench_runtime::suite::inputs::{self, InputError};
use vm_bench_runtime::suite::options::{ChangePointOptions, ReportOptions, EXIT_STATUS_HELP};
use vm_bench_runtime::suite::pipeline::{self, SuiteError};
use vm_bench_runtime::suite::SuiteReport;
use vm_bench_runtime::targets::{declared_targets, render_checks, PerformanceTarget};

/// Reports, baselines and history from the artifacts `cargo test` wrote.
#[derive(Debug, Parser)]
#[command(name = "vm-bench", version, about, after_help = EXIT_STATUS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the benchmarks that have an artifact (name, category, outcome).
    #[command(after_help = EXIT_STATUS_HELP)]
    List {
        #[command(flatten)]
        source: Source,
        /// Only benchmarks whose full name contains TEXT.
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
    },
    /// Write the report directory (JSON, CSV, Markdown, HTML, charts, exports), check the
    /// targets, compare with and save baselines, and record the run in the history.
    #[command(after_help = EXIT_STATUS_HELP)]
    Report {
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Compare the artifacts with a saved baseline (--baseline NAME) and print the table;
    /// writes nothing.
    #[command(after_help = EXIT_STATUS_HELP)]
    Compare {
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Change points in the stored history (E-divisive means with a permutation test):
    /// per benchmark, the run and commit where its median stepped, the medians before and
    /// after, and the p-value. Reads only the history; writes nothing.
    #[command(after_help = CHANGES_HELP)]
    Changes {
        #[command(flatten)]
        source: Source,
        /// History directory (default: DIR/history).
        #[arg(long, value_name = "DIR")]
        history: Option<PathBuf>,
        /// Only benchmarks whose full name contains TEXT.
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
        #[command(flatten)]
        options: ChangePointOptions,
    },
}

const CHANGES_HELP: &str = "Exit status:\n  \
    0  the history was read (whether or not it has change points)\n  \
    2  bad input or usage: an unreadable or corrupt history file, an invalid option";

/// Where the artifacts are.
#[derive(Debug, Args)]
struct Source {
    /// Artifact directory; baselines live in DIR/baselines, the history in DIR/history.
    #[arg(
        long,
        value_name = "DIR",
        env = "VM_BENCH_DIR",
        default_value = "target/vm-bench"
    )]
    dir: PathBuf,
}

fn load(source: &Source, filter: &str) -> Result<Vec<Artifact>, InputError> {
    Ok(inputs::load_artifacts(&source.dir, filter)?
        .into_iter()
        .map(|l| l.artifact)
        .collect())
}

/// The artifacts matching the filter, and the declared targets of every artifact in the
/// directory (an override file may name benchmarks the filter leaves out).
fn load_for_report(
    source: &Source,
    filter: &str,
) -> Result<(Vec<Artifact>, Vec<PerformanceTarget>), InputError> {
    let all = load(source, "")?;
    let declared = declared_targets(&SuiteReport::from_artifacts("all", &all).results, 0.0);
    let selected: Vec<Artifact> = all
        .into_iter()
        .filter(|a| a.identity.full_name.contains(filter))
        .collect();
    if selected.is_empty() {
        return Err(InputError::NoArtifacts {
            path: source.dir.clone(),
            filter: format!(" matching {filter:?}"),
        });
    }
    Ok((selected, declared))
}

/// Runs the command; `Ok(true)` when everything passed.
fn run(cli: Cli) -> Result<bool, SuiteError> {
    match cli.command {
        Command::Changes {
            source,
            history,
            filter,
            options,
        } => {
            let dir = history.unwrap_or_else(|| source.dir.join("history"));
            let runs = inputs::load_history(&dir)?;
            let Some(newest) = runs.last() else {
                return Err(InputError::Usage(format!(
                    "history {}: no recorded runs (`vm-bench report` records one)",
                    dir.display()
                ))
                .into());
            };
            let mut section =
                vm_bench_runtime::suite::trend::analyze(&runs, &newest.id, &options.config())?;
            let filter = filter.unwrap_or_default();
            section.benchmarks.retain(|b| b.name.contains(&filter));
            let lines = section.change_point_lines();
            println!(
                "{} change point(s) in {} run(s) of {} benchmark(s) (alpha {}, {} permutations, steps of at least {}%)",
                lines.len(),
                section.runs,
                section.benchmarks.len(),
                section.alpha,
                section.permutations,
                section.min_change_pct
            );
            for l in lines {
                println!("  {l}");
            }
            Ok(true)
        }
        Command::List { source, filter } => {
            let artifacts = load(&source, filter.as_deref().unwrap_or(""))?;
            let report = SuiteReport::from_artifacts("vm-bench list", &artifacts);
            for r in &report.results {
                println!("{:<50} {:<10} {}", r.name, r.category, r.outcome);
            }
            Ok(true)
        }
        Command::Compare { source, options } => {
            if options.baseline.is_none() {
                return Err(InputError::Usage("compare needs --baseline NAME".into()).into());
            }
            let (artifacts, declared) = load_for_report(&source, options.filter_text())?;
            let mut report = SuiteReport::from_artifacts("vm-bench compare", &artifacts);
            let prep = pipeline::prepare_reading(
                &ReportOptions {
                    save_baseline: None,
                    ..options.clone()
                },
                &source.dir,
                source.dir.join("report"),
                &declared,
            )?;
            pipeline::analyze(&mut report, &prep, &options)?;
            let section = report.baseline.as_ref().expect("a baseline was requested");
            for c in &section.comparisons {
                println!("{c}");
            }
            Ok(!section.comparisons.iter().any(|c| c.fails))
        }
        Command::Report { source, options } => {
            let (artifacts, declared) = load_for_report(&source, options.filter_text())?;
            let mut report = SuiteReport::from_artifacts("vm-bench report", &artifacts);
            let prep =
                pipeline::prepare(&options, &source.dir, source.dir.join("report"), &declared)?;
            pipeline::analyze(&mut report, &prep, &options)?;
            let written = pipeline::write(&report, &prep)?;
            print!("{}", render_checks(&report.target_checks));
            println!("{}", report.headline());
            for f in report.failures() {
                println!("  {f}");
            }
            if let Some(h) = &report.history {
                print!("{}", h.change_point_block());
            }
            println!("reports: {}", written.out.join("report.html").display());
            if let Some(p) = &written.baseline {
                println!("baseline saved: {}", p.display());
            }
            Ok(report.passed())
        }
    }
}

fn main() -> ExitCode {
    // clap exits 2 on a usage error and 0 for --help/--version.
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("vm-bench: {e}");
            ExitCode::from(2)
        }
    }
}
