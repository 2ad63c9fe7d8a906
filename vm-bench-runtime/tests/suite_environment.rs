//! The environment recorded in artifacts (and copied into report.json) is the real one:
//! each field is compared with what an independent tool on this machine says.

use std::process::Command;

use vm_bench_runtime::__internal::env::environment;

fn tool(cmd: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(cmd).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

#[test]
fn environment_matches_independent_sources() {
    let e = environment(env!("CARGO_MANIFEST_DIR"), cfg!(debug_assertions));
    if let Some(v) = tool("rustc", &["--version"]) {
        assert_eq!(e.rustc_version, v);
    }
    if let Some(head) = tool(
        "git",
        &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"],
    ) {
        assert_eq!(e.git_commit.as_deref(), Some(head.as_str()));
        assert!(e.git_dirty.is_some());
    }
    if let Some(n) = tool("nproc", &[]) {
        assert_eq!(e.logical_cores.to_string(), n);
    }
    if let Some(release) = tool("uname", &["-r"]) {
        assert!(e.os.contains(&release), "{} vs {release}", e.os);
    }
    if cfg!(target_os = "linux") {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        if let Some(line) = cpuinfo.lines().find(|l| l.starts_with("model name")) {
            assert!(
                line.ends_with(&e.cpu_model),
                "{line:?} vs {:?}",
                e.cpu_model
            );
            assert!(!e.cpu_model.is_empty());
        }
    }
    // The workspace builds tests at opt-level 3 ([profile.test]); the harness records the
    // level it was compiled with.
    assert_eq!(e.opt_level, "3");
    assert!(e.target_triple.contains(std::env::consts::ARCH));
    assert!(e.timestamp.ends_with('Z') && e.timestamp_unix_ms > 1_700_000_000_000);
}
