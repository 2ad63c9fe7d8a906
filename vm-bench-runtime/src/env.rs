//! The harness's view of its surroundings: the mode and output directory chosen through
//! environment variables, and the facts about the machine and build recorded in artifacts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::artifact::{Environment, Mode};

/// Environment variable selecting the mode: `enforce` (default), `report`, `smoke`, `off`.
pub const MODE_VAR: &str = "VM_BENCH_MODE";
/// Environment variable overriding the artifact directory.
pub const DIR_VAR: &str = "VM_BENCH_DIR";

/// A `VM_BENCH_MODE` value the harness does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMode(pub String);

impl std::fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{MODE_VAR}={:?} is not one of enforce, report, smoke, off",
            self.0
        )
    }
}

impl std::error::Error for UnknownMode {}

/// Parses a mode name (case-insensitive; empty = default).
pub fn parse_mode(s: &str) -> Result<Mode, UnknownMode> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "enforce" => Ok(Mode::Enforce),
        "report" => Ok(Mode::Report),
        "smoke" => Ok(Mode::Smoke),
        "off" => Ok(Mode::Off),
        _ => Err(UnknownMode(s.to_string())),
    }
}

/// The mode from `VM_BENCH_MODE`.
pub fn mode_from_env() -> Result<Mode, UnknownMode> {
    parse_mode(&std::env::var(MODE_VAR).unwrap_or_default())
}

/// The artifact directory: `$VM_BENCH_DIR`, else `$CARGO_TARGET_DIR/vm-bench`, else the
/// `target/vm-bench` directory that holds the running test binary, else
/// `<manifest dir>/target/vm-bench`.
pub fn output_dir(manifest_dir: &str) -> PathBuf {
    if let Some(d) = std::env::var_os(DIR_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        let d = if d.is_relative() {
            Path::new(manifest_dir).join(d)
        } else {
            d
        };
        return d.join("vm-bench");
    }
    if let Some(t) = std::env::current_exe().ok().and_then(|e| target_dir_of(&e)) {
        return t.join("vm-bench");
    }
    Path::new(manifest_dir).join("target").join("vm-bench")
}

/// The cargo target directory that contains a test binary
/// (`<target>/[<triple>/]<profile>/deps/<bin>`).
fn target_dir_of(exe: &Path) -> Option<PathBuf> {
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    let profile_dir = deps.parent()?;
    let mut target = profile_dir.parent()?;
    if target.file_name().and_then(|n| n.to_str()) == Some(env!("VM_BENCH_TARGET")) {
        target = target.parent()?;
    }
    Some(target.to_path_buf())
}

/// The optimization level the harness crate was compiled with (cargo's `OPT_LEVEL`).
/// Cargo compiles the harness with the same profile as the test target under `cargo test`,
/// so this is the level the benchmarks run at.
pub fn opt_level() -> &'static str {
    env!("VM_BENCH_OPT_LEVEL")
}

/// True when the build is unoptimized (opt-level 0): KPIs are then not enforced.
pub fn is_unoptimized() -> bool {
    opt_level() == "0"
}

/// The facts recorded in every artifact. Process-wide facts are gathered once.
pub fn environment(manifest_dir: &str, debug_assertions: bool) -> Environment {
    static STATIC: OnceLock<Environment> = OnceLock::new();
    let base = STATIC.get_or_init(|| Environment {
        rustc_version: env!("VM_BENCH_RUSTC_VERSION").to_string(),
        target_triple: env!("VM_BENCH_TARGET").to_string(),
        opt_level: opt_level().to_string(),
        profile: env!("VM_BENCH_PROFILE").to_string(),
        cpu_model: cpu_model(),
        logical_cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        os: os_description(),
        hostname: hostname(),
        ..Environment::default()
    });
    let (git_commit, git_dirty) = git_state(manifest_dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Environment {
        timestamp: rfc3339(now.as_secs(), now.subsec_millis()),
        timestamp_unix_ms: now.as_millis(),
        git_commit,
        git_dirty,
        debug_assertions,
        ..base.clone()
    }
}

/// (manifest dir, commit, dirty) per benchmark crate seen by this process.
type GitCache = std::sync::Mutex<Vec<(String, Option<String>, Option<bool>)>>;

fn git_state(manifest_dir: &str) -> (Option<String>, Option<bool>) {
    static CACHE: OnceLock<GitCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c, d)) = cache.iter().find(|(m, _, _)| m == manifest_dir) {
        return (c.clone(), *d);
    }
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(manifest_dir)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    let commit = run(&["rev-parse", "HEAD"]).map(|s| s.trim().to_string());
    let dirty = commit
        .as_ref()
        .and_then(|_| run(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.trim().is_empty());
    cache.push((manifest_dir.to_string(), commit.clone(), dirty));
    (commit, dirty)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn os_description() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    [std::env::consts::OS.to_string(), release, pretty]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Formats seconds since the epoch as RFC 3339 UTC (`2026-11-28T22:15:03.123Z`).
pub fn rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!(parse_mode(""), Ok(Mode::Enforce));
        assert_eq!(parse_mode("Report"), Ok(Mode::Report));
        assert_eq!(parse_mode("smoke"), Ok(Mode::Smoke));
        assert_eq!(parse_mode("off"), Ok(Mode::Off));
        assert!(parse_mode("fast").is_err());
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn target_dir_from_test_binary_path() {
        let p = Path::new("/w/target/debug/deps/foo-123");
        assert_eq!(target_dir_of(p), Some(PathBuf::from("/w/target")));
        assert_eq!(target_dir_of(Path::new("/w/bin/foo")), None);
    }
}
