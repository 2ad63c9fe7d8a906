//! Writing a report directory: every file is rendered into a temporary sibling directory
//! first, which then replaces the report directory in two renames. A run that fails while
//! writing leaves the previous report as it was and no temporary behind.

use std::path::{Path, PathBuf};

use crate::suite::chart::{Chart, ChartKind};
use crate::suite::export::{bencher_metric_format, github_action_benchmark, Direction};
use crate::suite::history::RunSummary;
use crate::suite::html;
use crate::suite::report::SuiteReport;

/// Writing the report failed; the previous report (if any) is intact.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a report file or moving the directory into place failed.
    #[error("cannot write report {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Every file of a report directory, relative path and content: `report.json`,
/// `report.csv`, `report.md`, `report.html`, the exports (`bencher.json`,
/// `github-action-benchmark.json`, `github-action-benchmark-bigger.json`), the suite-wide
/// charts, and per benchmark its trend (`charts/trend/<name>.svg`) and sample histogram
/// (`charts/<name>.svg`). `history` (oldest first, this run included) feeds the trends.
pub fn render_files(report: &SuiteReport, history: &[RunSummary]) -> Vec<(String, String)> {
    let charts = report.charts();
    let per_benchmark = report.benchmark_charts(history);
    let mut files: Vec<(String, String)> = charts
        .iter()
        .chain(&per_benchmark)
        .map(|c| (c.file.clone(), c.svg.clone()))
        .collect();
    // Markdown lists the suite-wide charts and the trends (its tables link histograms).
    let listed: Vec<Chart> = charts
        .iter()
        .chain(
            per_benchmark
                .iter()
                .filter(|c| matches!(c.kind, ChartKind::Trend { .. })),
        )
        .cloned()
        .collect();
    files.extend([
        ("report.json".to_string(), report.to_json()),
        ("report.csv".to_string(), report.to_csv()),
        ("report.md".to_string(), report.to_markdown(&listed)),
        (
            "report.html".to_string(),
            html::render(report, &charts, &per_benchmark),
        ),
        ("bencher.json".to_string(), bencher_metric_format(report)),
        (
            "github-action-benchmark.json".to_string(),
            github_action_benchmark(report, Direction::Smaller),
        ),
        (
            "github-action-benchmark-bigger.json".to_string(),
            github_action_benchmark(report, Direction::Bigger),
        ),
    ]);
    files
}

/// Renders `report` and replaces `dir` with it (see the module doc); `extra` files (the
/// flame graphs of [`collect_flamegraphs`]) are written with it.
pub fn write_report(
    report: &SuiteReport,
    history: &[RunSummary],
    dir: &Path,
    extra: Vec<(String, String)>,
) -> Result<(), ReportError> {
    let mut files = render_files(report, history);
    files.extend(extra);
    replace_dir(dir, &files, |path, bytes| std::fs::write(path, bytes))
}

/// The flame graphs that `report`'s rows name, read from the artifact directory `store`,
/// as report files `flamegraphs/<file>`: copied so that the report directory stands alone
/// (a CI upload of just that directory keeps its links). A row whose file cannot be read
/// loses its link; the returned notes name the file and why.
pub fn collect_flamegraphs(
    report: &mut SuiteReport,
    store: &Path,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    for row in &mut report.results {
        let Some(name) = row.flamegraph.clone() else {
            continue;
        };
        let path = store.join(&name);
        match std::fs::read_to_string(&path) {
            Ok(svg) => files.push((format!("{}/{name}", html::FLAMEGRAPH_DIR), svg)),
            Err(e) => {
                notes.push(format!(
                    "flame graph {} of {} not copied into the report (no link): {e}",
                    path.display(),
                    row.name
                ));
                row.flamegraph = None;
            }
        }
    }
    (files, notes)
}

/// `dir` + a hidden sibling name (`.<name>.<what>-<pid>`).
fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parent.join(format!(".{name}.{what}-{}", std::process::id()))
}

/// Writes `files` into a fresh temporary directory with `write`, then moves it to `dir`
/// (the old `dir` is moved aside first and deleted last). On any failure the temporary is
/// removed and `dir` is left as it was. `write` is a parameter so tests can make a write
/// fail half-way.
pub(crate) fn replace_dir(
    dir: &Path,
    files: &[(String, String)],
    mut write: impl FnMut(&Path, &[u8]) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let tmp = sibling(dir, "tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    let filled = (|| {
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        for (rel, text) in files {
            let path = tmp.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            // Name the file as it will be called, not its temporary location.
            write(&path, text.as_bytes()).map_err(io(&dir.join(rel)))?;
        }
        Ok(())
    })();
    if let Err(e) = filled {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = sibling(dir, "old");
    let had_old = dir.exists();
    if had_old {
        if old.exists() {
            let _ = std::fs::remove_dir_all(&old);
        }
        if let Err(e) = std::fs::rename(dir, &old) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(io(dir)(e));
        }
    }
    if let Err(e) = std::fs::rename(&tmp, dir) {
        if had_old {
            let _ = std::fs::rename(&old, dir);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(io(dir)(e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_write_failing_half_way_leaves_the_previous_report_and_no_temporary() {
        let root = std::env::temp_dir().join(format!("vmb-output-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let out = root.join("report");
        let files: Vec<(String, String)> = (0..11)
            .map(|i| (format!("f{i:02}.txt"), format!("new {i}")))
            .collect();
        // First report: written completely.
        replace_dir(&out, &files[..3], |p, b| std::fs::write(p, b)).unwrap();
        assert_eq!(listing(&out), ["f00.txt", "f01.txt", "f02.txt"]);
        // Second report: the 6th write fails.
        let mut n = 0;
        let err = replace_dir(&out, &files, |p, b| {
            n += 1;
            if n == 6 {
                return Err(std::io::Error::other("disk full"));
            }
            std::fs::write(p, b)
        })
        .unwrap_err();
        assert!(err.to_string().contains("f05.txt"), "{err}");
        assert!(err.to_string().contains("disk full"), "{err}");
        // The previous report is untouched, nothing else is in the parent directory.
        assert_eq!(listing(&out), ["f00.txt", "f01.txt", "f02.txt"]);
        assert_eq!(listing(&root), ["report"]);
        // A complete run replaces it as a whole.
        replace_dir(&out, &files, |p, b| std::fs::write(p, b)).unwrap();
        assert_eq!(listing(&out).len(), 11);
        assert_eq!(listing(&root), ["report"]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
