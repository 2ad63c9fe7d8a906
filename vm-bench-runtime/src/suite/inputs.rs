//! Everything a report run reads, checked before anything is measured or written: the
//! artifacts of a directory (each parsed and checked for consistency, no benchmark twice),
//! baseline names, the target override file, the history. Every error names the file and
//! what is wrong with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::artifact::{Artifact, ArtifactError, Verdict};
use crate::suite::baseline::{baseline_path, Baseline, BaselineError};
use crate::suite::history::{self, HistoryError, RunSummary};
use crate::targets::{PerformanceTarget, TargetOverrides, TargetsError};

/// Why the inputs of a report run were rejected (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The artifact directory cannot be listed.
    #[error("artifact directory {path}: {source}")]
    ArtifactDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No artifact (matching the filter) in the directory.
    #[error(
        "no benchmark artifacts (*.json){filter} in {path}; run `cargo test` first or pass --dir"
    )]
    NoArtifacts {
        /// The directory.
        path: PathBuf,
        /// ` matching "x"` when a filter was given.
        filter: String,
    },
    /// An artifact that cannot be read or parsed.
    #[error("artifact {path}: {reason}")]
    Artifact {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Two artifacts describe the same benchmark (a copied or renamed file).
    #[error("artifacts {first} and {second} both hold benchmark {name}; remove one (a report counts each benchmark once)")]
    Duplicate {
        /// The benchmark.
        name: String,
        /// The file read first.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
    /// A baseline problem (invalid name, missing or corrupt file).
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// A target override file problem.
    #[error(transparent)]
    Targets(#[from] TargetsError),
    /// A corrupt history record.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// A usage problem (a required option missing, an option that cannot work).
    #[error("{0}")]
    Usage(String),
}

/// One artifact and the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedArtifact {
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub artifact: Artifact,
}

/// Every artifact directly in `dir` (hidden and temporary files skipped) whose benchmark
/// name contains `filter`, sorted by benchmark name. Each is checked with
/// [`check_artifact`]; two files of the same benchmark are an error naming both.
pub fn load_artifacts(dir: &Path, filter: &str) -> Result<Vec<LoadedArtifact>, InputError> {
    let rd = std::fs::read_dir(dir).map_err(|source| InputError::ArtifactDir {
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
    let mut by_name: BTreeMap<String, LoadedArtifact> = BTreeMap::new();
    for path in paths {
        let artifact = Artifact::read(&path).map_err(|e| InputError::Artifact {
            path: path.clone(),
            reason: match e {
                ArtifactError::Io { source, .. } => source.to_string(),
                other => other.to_string(),
            },
        })?;
        check_artifact(&artifact).map_err(|reason| InputError::Artifact {
            path: path.clone(),
            reason,
        })?;
        let name = artifact.identity.full_name.clone();
        if !name.contains(filter) {
            continue;
        }
        if let Some(first) = by_name.get(&name) {
            return Err(InputError::Duplicate {
                name,
                first: first.path.clone(),
                second: path,
            });
        }
        by_name.insert(name, LoadedArtifact { path, artifact });
    }
    if by_name.is_empty() {
        return Err(InputError::NoArtifacts {
            path: dir.to_path_buf(),
            filter: if filter.is_empty() {
                String::new()
            } else {
                format!(" matching {filter:?}")
            },
        });
    }
    Ok(by_name.into_values().collect())
}

/// Consistency of one artifact beyond its JSON shape: a benchmark name, and for every KPI
/// that has a verdict other than MISSING a finite measured value and a finite, ordered
/// interval (a verdict without a measurement would print as "PASS ... not measured").
pub fn check_artifact(a: &Artifact) -> Result<(), String> {
    if a.identity.full_name.trim().is_empty() {
        return Err("identity.full_name is empty".into());
    }
    if let Some(f) = &a.flamegraph {
        // The report copies the file from the artifact directory: a path that could leave
        // that directory (or name a directory) is refused rather than followed.
        if !is_plain_svg_name(f) {
            return Err(format!(
                "flamegraph {f:?} is not a plain *.svg file name beside the artifact"
            ));
        }
    }
    for (i, k) in a.kpis.iter().enumerate() {
        let at = || format!("kpis[{i}] ({})", k.key);
        if !k.bound.is_finite() {
            return Err(format!("{}: bound {} is not finite", at(), k.bound));
        }
        if k.verdict == Verdict::Missing {
            continue;
        }
        match k.measured {
            None => {
                return Err(format!(
                "{}: verdict {} but \"measured\" is null (only a MISSING KPI has no measurement)",
                at(),
                k.verdict
            ))
            }
            Some(m) if !m.is_finite() => {
                return Err(format!("{}: measured value {m} is not finite", at()))
            }
            Some(_) => {}
        }
        if let Some(iv) = &k.interval {
            if !(iv.lo.is_finite() && iv.hi.is_finite() && iv.lo <= iv.hi) {
                return Err(format!(
                    "{}: interval [{}, {}] is not a finite, ordered range",
                    at(),
                    iv.lo,
                    iv.hi
                ));
            }
        }
    }
    Ok(())
}

/// A file name with no directory part, not hidden, ending in `.svg`: what the harness
/// writes as an artifact's flame graph (`<artifact stem>.flame.svg`).
pub(crate) fn is_plain_svg_name(f: &str) -> bool {
    !f.is_empty()
        && !f.starts_with('.')
        && !f.contains(['/', '\\', '\0'])
        && f.len() > ".svg".len()
        && f.ends_with(".svg")
}

/// KPI keys whose bound the attribute requires to be positive; an override cannot make
/// them zero or negative either (a custom metric's bound may be any finite number).
const POSITIVE_KEYS: &[&str] = &[
    "max_ns",
    "max_us",
    "max_ms",
    "min_ops_per_sec",
    "max_overhead_pct",
    "min_speedup",
    "max_overhead_ns",
    "min_gain_pct",
];

/// Loads an override file and checks it against the `declared` targets: known benchmarks
/// and KPIs ([`TargetOverrides::apply`]), and a positive `target_value` for time,
/// throughput and relative KPIs.
pub fn load_targets(
    path: &Path,
    declared: &[PerformanceTarget],
) -> Result<TargetOverrides, InputError> {
    let o = TargetOverrides::load(path)?;
    o.apply(declared)?;
    for (i, t) in o.targets.iter().enumerate() {
        if let Some(v) = t.target_value {
            if POSITIVE_KEYS.contains(&t.metric.as_str()) && v <= 0.0 {
                return Err(InputError::Targets(TargetsError::Invalid {
                    path: path.to_path_buf(),
                    what: format!(
                        "targets[{i}] ({} {}): target_value {v} must be positive (a {} bound is a positive number)",
                        t.name, t.metric, t.metric
                    ),
                }));
            }
        }
    }
    Ok(o)
}

/// Checks a baseline name (letters, digits, `.`, `-`, `_`) without touching the disk.
pub fn check_baseline_name(store: &Path, name: &str) -> Result<(), InputError> {
    baseline_path(store, name)?;
    Ok(())
}

/// Reads baseline `name` from `store` (name checked first).
pub fn load_baseline(store: &Path, name: &str) -> Result<Baseline, InputError> {
    Ok(Baseline::load(store, name)?)
}

/// Every recorded run in `dir`, oldest first (an absent directory is an empty history);
/// a corrupt record is an error naming it.
pub fn load_history(dir: &Path) -> Result<Vec<RunSummary>, InputError> {
    Ok(history::load(dir)?)
}

/// The report directory must be new, empty, or a previous report (it is replaced as a
/// whole): refusing anything else keeps `--out` from replacing a directory of other files.
pub fn check_out_dir(out: &Path) -> Result<(), InputError> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(InputError::Usage(format!(
            "report directory {} exists and is not a directory",
            out.display()
        )));
    }
    let empty = std::fs::read_dir(out)
        .map(|mut rd| rd.next().is_none())
        .unwrap_or(false);
    if !empty && !out.join("report.json").is_file() {
        return Err(InputError::Usage(format!(
            "report directory {} holds files that are not a report (no report.json); \
             a report replaces its directory as a whole, so pass a new or empty --out",
            out.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_plain_svg_name;

    #[test]
    fn a_flamegraph_field_must_name_a_plain_svg_beside_the_artifact() {
        assert!(is_plain_svg_name("jit.bench_compilation_latency.flame.svg"));
        for bad in [
            "",
            ".svg",
            ".hidden.svg",
            "../x.svg",
            "sub/x.svg",
            "/etc/x.svg",
            "c:\\x.svg",
            "x.svg\0",
            "x.json",
            "x.svgz",
        ] {
            assert!(!is_plain_svg_name(bad), "{bad:?} accepted");
        }
    }
}
