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

/// The artifact directory: `$VM_BENCH_DIR`; else `$CARGO_TARGET_DIR/vm-bench` when that is
/// absolute; else the `vm-bench` directory of the target dir that holds the running test
/// binary (`<target>/[<triple>/]<profile>/deps/<bin>`); else a relative `$CARGO_TARGET_DIR`
/// taken from the benchmark crate's directory; else `<manifest dir>/target/vm-bench`.
pub fn output_dir(manifest_dir: &str) -> PathBuf {
    output_dir_from(
        |k| std::env::var_os(k),
        std::env::current_exe().ok().as_deref(),
        manifest_dir,
    )
}

/// [`output_dir`] with the environment and executable path passed in.
pub fn output_dir_from(
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
    exe: Option<&Path>,
    manifest_dir: &str,
) -> PathBuf {
    if let Some(d) = var(DIR_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let cargo_target = var("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    if let Some(d) = cargo_target.as_ref().filter(|d| d.is_absolute()) {
        return d.join("vm-bench");
    }
    // A relative CARGO_TARGET_DIR is relative to where cargo ran, which the test process
    // does not know; the binary's own location is exact.
    if let Some(t) = exe.and_then(target_dir_of) {
        return t.join("vm-bench");
    }
    if let Some(d) = cargo_target {
        return Path::new(manifest_dir).join(d).join("vm-bench");
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

/// A probe loop slower than this (best of several calls) means its crate was not optimized:
/// optimized, the 10000-iteration loop folds to a constant and a call costs a few ns; at
/// opt-level 0 it runs every iteration (microseconds).
pub const OPT_PROBE_THRESHOLD_NS: f64 = 300.0;

/// Times a benchmark crate's probe loop: `(unoptimized?, best call time in ns)`.
pub fn probe_optimization(probe: fn() -> u64) -> (bool, f64) {
    let mut best = f64::INFINITY;
    for _ in 0..9 {
        let t = std::time::Instant::now();
        std::hint::black_box(probe());
        best = best.min(t.elapsed().as_nanos() as f64);
    }
    (best > OPT_PROBE_THRESHOLD_NS, best)
}

/// The cargo profile the running binary was built with. Cargo tells build scripts only
/// `debug` or `release` (its `PROFILE`), which says "debug" for an opt-level-3 `test`
/// build. The binary's place in the target directory is exact: test and bench targets
/// live in `<profile dir>/deps/`, and the profile dir is `debug` for the `dev`/`test`
/// profiles, `release` for `release`/`bench`, and the profile's own name for a custom
/// profile. So `debug/deps/` is `test`, `release/deps/` is `bench` (also `cargo test
/// --release`, which builds with the bench profile), `debug/` is `dev`, `release/` is
/// `release`. Outside that layout, cargo's `PROFILE` is returned.
pub fn cargo_profile(exe: Option<&Path>, cargo_profile_var: &str) -> String {
    let Some(dir) = exe.and_then(Path::parent) else {
        return cargo_profile_var.to_string();
    };
    let (profile_dir, in_deps) = if dir.file_name().is_some_and(|n| n == "deps") {
        (dir.parent(), true)
    } else {
        (Some(dir), false)
    };
    let Some(name) = profile_dir
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
    else {
        return cargo_profile_var.to_string();
    };
    let is_target_layout = profile_dir.and_then(Path::parent).is_some_and(|t| {
        t.join("CACHEDIR.TAG").exists() || t.join(name).join(".fingerprint").is_dir()
    });
    if !is_target_layout {
        return cargo_profile_var.to_string();
    }
    match (name, in_deps) {
        ("debug", true) => "test".into(),
        ("debug", false) => "dev".into(),
        ("release", true) => "bench".into(),
        ("release", false) => "release".into(),
        (custom, _) => custom.to_string(),
    }
}

/// The facts recorded in every artifact. Process-wide facts are gathered once.
pub fn environment(manifest_dir: &str, debug_assertions: bool) -> Environment {
    static STATIC: OnceLock<Environment> = OnceLock::new();
    let base = STATIC.get_or_init(|| Environment {
        rustc_version: env!("VM_BENCH_RUSTC_VERSION").to_string(),
        target_triple: env!("VM_BENCH_TARGET").to_string(),
        opt_level: opt_level().to_string(),
        profile: cargo_profile(
            std::env::current_exe().ok().as_deref(),
            env!("VM_BENCH_PROFILE"),
        ),
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
    fn output_dir_precedence() {
        use std::ffi::OsString;
        let exe = Path::new("/w/target/debug/deps/t-1");
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let d = |v, e| output_dir_from(v, e, "/w/crate");
        assert_eq!(
            d(
                env(&[(DIR_VAR, "/out"), ("CARGO_TARGET_DIR", "/t")]),
                Some(exe)
            ),
            PathBuf::from("/out")
        );
        assert_eq!(
            d(env(&[("CARGO_TARGET_DIR", "/t")]), Some(exe)),
            PathBuf::from("/t/vm-bench")
        );
        assert_eq!(
            d(env(&[("CARGO_TARGET_DIR", "rel")]), Some(exe)),
            PathBuf::from("/w/target/vm-bench")
        );
        assert_eq!(
            d(env(&[("CARGO_TARGET_DIR", "rel")]), None),
            PathBuf::from("/w/crate/rel/vm-bench")
        );
        assert_eq!(d(env(&[]), None), PathBuf::from("/w/crate/target/vm-bench"));
        let cross = Path::new(concat!(
            "/w/target/",
            env!("VM_BENCH_TARGET"),
            "/release/deps/t"
        ));
        assert_eq!(
            d(env(&[]), Some(cross)),
            PathBuf::from("/w/target/vm-bench")
        );
    }

    #[test]
    fn profile_follows_the_binarys_place_in_the_target_dir() {
        let t = std::env::temp_dir().join(format!("vm-bench-profile-{}", std::process::id()));
        for d in [
            "debug/deps",
            "release/deps",
            "perf/deps",
            "debug/.fingerprint",
        ] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        std::fs::write(t.join("CACHEDIR.TAG"), "").unwrap();
        let p = |rel: &str| cargo_profile(Some(&t.join(rel)), "debug");
        assert_eq!(p("debug/deps/gc-0123"), "test");
        assert_eq!(p("release/deps/gc-0123"), "bench");
        assert_eq!(p("debug/vm-bench"), "dev");
        assert_eq!(p("release/vm-bench"), "release");
        assert_eq!(p("perf/deps/gc-0123"), "perf");
        assert_eq!(
            cargo_profile(Some(Path::new("/usr/bin/x")), "debug"),
            "debug"
        );
        assert_eq!(cargo_profile(None, "release"), "release");
        let _ = std::fs::remove_dir_all(&t);
        // This very test binary: built by `cargo test` (test profile) in <target>/debug/deps.
        let me = cargo_profile(std::env::current_exe().ok().as_deref(), "debug");
        assert!(me == "test" || me == "bench", "{me}");
    }

    #[test]
    fn target_dir_from_test_binary_path() {
        let p = Path::new("/w/target/debug/deps/foo-123");
        assert_eq!(target_dir_of(p), Some(PathBuf::from("/w/target")));
        assert_eq!(target_dir_of(Path::new("/w/bin/foo")), None);
    }
}
