//! The order of a report run, shared by `vm-bench report` and every suite bench:
//!
//! 1. [`prepare`]: every input is read and checked (baseline names, the baseline to compare
//!    with, the target override file, the history, the report directory) before anything
//!    is measured or written;
//! 2. [`analyze`]: targets and the baseline comparison are applied to the report;
//! 3. [`write()`]: the report directory is rendered into a temporary directory and moved into
//!    place, then the baseline is saved, and the run is appended to the history last, so a
//!    run whose report was not written leaves no history record.

use std::path::{Path, PathBuf};

use crate::suite::baseline::{Baseline, BaselineError, BASELINE_SCHEMA};
use crate::suite::changepoint::{ChangePointConfig, ChangePointError};
use crate::suite::history::{self, HistoryError, RunSummary, TREND_RUNS};
use crate::suite::inputs::{self, InputError};
use crate::suite::options::ReportOptions;
use crate::suite::output::{self, ReportError};
use crate::suite::report::SuiteReport;
use crate::targets::{PerformanceTarget, TargetOverrides, TargetsError};

/// Why a report run stopped before its verdict (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// Bad input, found before anything was written.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Target application failed.
    #[error(transparent)]
    Targets(#[from] TargetsError),
    /// The report directory could not be written (the previous one is intact).
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The baseline could not be saved (the report was written).
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// The history record could not be written (report and baseline were).
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The change-point search over the history could not run.
    #[error(transparent)]
    ChangePoints(#[from] ChangePointError),
}

/// The checked inputs of a report run.
#[derive(Debug)]
pub struct Prepared {
    /// Where baselines live (`<store>/baselines/`).
    pub store: PathBuf,
    /// The report directory.
    pub out: PathBuf,
    /// The override file, checked against the declared targets.
    pub overrides: Option<TargetOverrides>,
    /// The baseline to compare with.
    pub baseline: Option<Baseline>,
    /// The history directory and its records (none with `--no-history`).
    pub history: Option<(PathBuf, Vec<RunSummary>)>,
    /// The baseline name to save, already checked.
    pub save_baseline: Option<String>,
}

/// Step 1: reads and checks every input. `store` holds baselines and (by default) the
/// history; `default_out` is the report directory when `--out` is not given (it must be
/// new, empty or a previous report); `declared` are the targets of every known benchmark
/// (an override file must name only those; entries of benchmarks a filter leaves out are
/// skipped when the report applies it).
pub fn prepare(
    opts: &ReportOptions,
    store: &Path,
    default_out: PathBuf,
    declared: &[PerformanceTarget],
) -> Result<Prepared, InputError> {
    let prep = prepare_reading(opts, store, default_out, declared)?;
    inputs::check_out_dir(&prep.out)?;
    Ok(prep)
}

/// [`prepare`] for a run that writes nothing (`vm-bench compare`): the report directory is
/// not checked.
pub fn prepare_reading(
    opts: &ReportOptions,
    store: &Path,
    default_out: PathBuf,
    declared: &[PerformanceTarget],
) -> Result<Prepared, InputError> {
    if let Some(name) = &opts.save_baseline {
        inputs::check_baseline_name(store, name)?;
    }
    let baseline = match &opts.baseline {
        Some(name) => Some(inputs::load_baseline(store, name)?),
        None => None,
    };
    let overrides = match opts
        .targets
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(path) => Some(inputs::load_targets(path, declared)?),
        None => None,
    };
    let history = if opts.no_history {
        None
    } else {
        let dir = opts
            .history
            .clone()
            .unwrap_or_else(|| store.join("history"));
        let runs = inputs::load_history(&dir)?;
        Some((dir, runs))
    };
    let out = opts.out.clone().unwrap_or(default_out);
    Ok(Prepared {
        store: store.to_path_buf(),
        out,
        overrides,
        baseline,
        history,
        save_baseline: opts.save_baseline.clone(),
    })
}

/// Step 2: applies the override file, compares with the baseline (each benchmark's
/// noise threshold raised to its run-to-run noise over the recorded history), and
/// analyses the history (change against the previous run, change points).
pub fn analyze(
    report: &mut SuiteReport,
    prep: &Prepared,
    opts: &ReportOptions,
) -> Result<(), SuiteError> {
    if let Some(o) = &prep.overrides {
        report.apply_targets(o)?;
    }
    if let Some(b) = &prep.baseline {
        let past = prep
            .history
            .as_ref()
            .map(|(_, runs)| history::latest(runs, TREND_RUNS))
            .unwrap_or_default();
        report.compare_baseline_with_history(b, &opts.compare_config(), past);
    }
    if let Some((_, runs)) = &prep.history {
        report.analyze_history(runs, &ChangePointConfig::default())?;
    }
    Ok(())
}

/// What [`write()`] wrote.
#[derive(Debug)]
pub struct Written {
    /// The report directory.
    pub out: PathBuf,
    /// The saved baseline file.
    pub baseline: Option<PathBuf>,
    /// The history record.
    pub history_record: Option<PathBuf>,
}

/// Step 3: writes the report directory, then the baseline, then the history record.
pub fn write(report: &SuiteReport, prep: &Prepared) -> Result<Written, SuiteError> {
    let summary = report.summary();
    // The trend charts show the recorded runs and this one.
    let trend: Vec<RunSummary> = prep
        .history
        .as_ref()
        .map(|(_, runs)| report.history_with_this_run(runs))
        .unwrap_or_default();
    let trend = history::latest(&trend, TREND_RUNS);
    let mut shown = report.clone();
    let (flamegraphs, notes) = output::collect_flamegraphs(&mut shown, &prep.store);
    for note in notes {
        eprintln!("warning: {note}");
    }
    output::write_report(&shown, trend, &prep.out, flamegraphs)?;
    let baseline = match &prep.save_baseline {
        Some(name) => Some(
            Baseline {
                schema: BASELINE_SCHEMA,
                name: name.clone(),
                benchmarks: report.samples(),
            }
            .save(&prep.store)?,
        ),
        None => None,
    };
    let history_record = match &prep.history {
        Some((dir, _)) => Some(history::record(dir, &summary)?),
        None => None,
    };
    Ok(Written {
        out: prep.out.clone(),
        baseline,
        history_record,
    })
}
