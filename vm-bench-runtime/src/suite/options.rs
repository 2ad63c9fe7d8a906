//! The report options shared by `vm-bench report` and every suite bench
//! (`cargo bench --bench <suite> -- OPTIONS`): one clap struct, flattened into both CLIs,
//! so a flag is spelled, described and validated once.

use std::path::PathBuf;

use clap::Args;

use crate::suite::baseline::CompareConfig;
use crate::suite::changepoint::ChangePointConfig;

/// Exit status text shown at the end of both CLIs' `--help`.
pub const EXIT_STATUS_HELP: &str = "Exit status:\n  \
    0  every enforced target passed and no significant regression beyond --fail-pct\n  \
    1  a target failed (FAIL or MISSING), a benchmark panicked, or a regression fails the run\n  \
    2  bad input or usage: an unreadable or corrupt artifact, baseline, target or history file, \
       an invalid name or option; nothing is written";

/// Options of a report run (which benchmarks, where reports go, targets, baselines,
/// history, comparison thresholds).
#[derive(Debug, Clone, Default, Args)]
pub struct ReportOptions {
    /// Only benchmarks whose full name (`module::function`) contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,

    /// Directory the reports are written to; replaced as a whole, so it must be new, empty
    /// or a previous report (default: `<store>/report` for vm-bench, `<store>/suite` for a suite).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Target override file for this machine class (JSON, see docs/harness.md); checked
    /// against the benchmarks before anything runs.
    #[arg(
        long,
        value_name = "FILE",
        env = "VM_BENCH_TARGETS",
        hide_env_values = true
    )]
    pub targets: Option<PathBuf>,

    /// Compare against saved baseline NAME (`<store>/baselines/NAME.json`); a significant
    /// regression beyond --fail-pct fails the run.
    #[arg(long, value_name = "NAME", value_parser = baseline_name)]
    pub baseline: Option<String>,

    /// Save this run's samples as baseline NAME (letters, digits, '.', '-', '_').
    #[arg(long, value_name = "NAME", value_parser = baseline_name)]
    pub save_baseline: Option<String>,

    /// Directory of the run history (one record per run; feeds the trend charts, the
    /// change points, the change against the previous run and the per-benchmark noise
    /// thresholds) (default: `<store>/history`).
    #[arg(long, value_name = "DIR", conflicts_with = "no_history")]
    pub history: Option<PathBuf>,

    /// Neither read nor append the run history.
    #[arg(long)]
    pub no_history: bool,

    /// Median changes within ±PCT percent are noise, never flagged.
    #[arg(long, value_name = "PCT", default_value_t = CompareConfig::default().noise_pct, value_parser = non_negative, allow_negative_numbers = true)]
    pub noise_pct: f64,

    /// A significant regression larger than PCT percent fails the run.
    #[arg(long, value_name = "PCT", default_value_t = CompareConfig::default().fail_pct, value_parser = non_negative, allow_negative_numbers = true)]
    pub fail_pct: f64,

    /// Significance level of the Mann-Whitney U test (0 < ALPHA < 1).
    #[arg(long, value_name = "ALPHA", default_value_t = CompareConfig::default().alpha, value_parser = probability, allow_negative_numbers = true)]
    pub alpha: f64,
}

impl ReportOptions {
    /// The comparison thresholds.
    pub fn compare_config(&self) -> CompareConfig {
        CompareConfig {
            alpha: self.alpha,
            noise_pct: self.noise_pct,
            fail_pct: self.fail_pct,
        }
    }

    /// The filter text (empty: everything).
    pub fn filter_text(&self) -> &str {
        self.filter.as_deref().unwrap_or("")
    }
}

fn baseline_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "invalid baseline name {s:?} (use letters, digits, '.', '-', '_')"
        ))
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| format!("{s:?} is not a number >= 0"))
}

/// Options of the change-point search over the history (`vm-bench changes`).
#[derive(Debug, Clone, Args)]
pub struct ChangePointOptions {
    /// Significance level of the permutation test: a split with a larger p-value ends the
    /// search.
    #[arg(long = "cp-alpha", value_name = "ALPHA", default_value_t = ChangePointConfig::default().alpha, value_parser = probability)]
    pub alpha: f64,
    /// Permutations per test (at least 1/ALPHA - 1).
    #[arg(long, value_name = "N", default_value_t = ChangePointConfig::default().permutations)]
    pub permutations: usize,
    /// Smallest step reported, in percent of the median before it (0 reports every
    /// significant step).
    #[arg(long = "min-change-pct", value_name = "PCT", default_value_t = ChangePointConfig::default().min_change_pct, value_parser = non_negative)]
    pub min_change_pct: f64,
}

impl ChangePointOptions {
    /// The search configuration (the default seed and minimum segment).
    pub fn config(&self) -> ChangePointConfig {
        ChangePointConfig {
            alpha: self.alpha,
            permutations: self.permutations,
            min_change_pct: self.min_change_pct,
            ..ChangePointConfig::default()
        }
    }
}

fn probability(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|x| *x > 0.0 && *x < 1.0)
        .ok_or_else(|| format!("{s:?} is not a number between 0 and 1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: ReportOptions,
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for argv in [
            &["x", "--save-baseline", "../x"][..],
            &["x", "--baseline", ""],
            &["x", "--noise-pct", "-1"],
            &["x", "--alpha", "1.5"],
            &["x", "--history", "h", "--no-history"],
        ] {
            let e = Cli::try_parse_from(argv).err().expect("rejected");
            assert_eq!(e.exit_code(), 2, "{argv:?}: {e}");
        }
        let ok =
            Cli::try_parse_from(["x", "--save-baseline", "v1.0_rc-2", "--alpha", "0.01"]).unwrap();
        assert_eq!(ok.opts.save_baseline.as_deref(), Some("v1.0_rc-2"));
        assert_eq!(ok.opts.compare_config().alpha, 0.01);
        assert_eq!(ok.opts.compare_config().noise_pct, 5.0);
    }
}
