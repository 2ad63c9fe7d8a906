//! Records how the harness itself was compiled, for every artifact's `environment`.
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=VM_BENCH_RUSTC_VERSION={version}");
    for (var, out) in [
        ("TARGET", "VM_BENCH_TARGET"),
        ("OPT_LEVEL", "VM_BENCH_OPT_LEVEL"),
        ("PROFILE", "VM_BENCH_PROFILE"),
    ] {
        let v = std::env::var(var).unwrap_or_else(|_| "unknown".into());
        println!("cargo:rustc-env={out}={v}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
