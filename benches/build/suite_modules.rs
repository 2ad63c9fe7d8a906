//! Build script of the root package: lists every `tests/*.rs` that declares a
//! `#[perf_target]` benchmark and writes `$OUT_DIR/suite_modules.rs`, a `#[path]` module per
//! file, which `benches/performance_suite.rs` includes. Why: benchmarks are written once,
//! as `#[test]` fns in `tests/*.rs`; the macro emits each body and its registry entry
//! outside `cfg(test)`, so compiling the same file into the bench target registers it
//! without libtest, and a new `tests/x.rs` is picked up without editing the suite.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let tests = root.join("tests");
    println!("cargo:rerun-if-changed={}", tests.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tests)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    files.sort();
    let mut out = String::new();
    let mut sources = String::new();
    for f in files {
        println!("cargo:rerun-if-changed={}", f.display());
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if !text.contains("perf_target") {
            continue;
        }
        let stem = f
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace(['-', '.'], "_");
        let _ = writeln!(
            out,
            "#[path = {:?}]\n#[allow(dead_code, unused_imports)]\nmod {stem};",
            f.display().to_string()
        );
        // The suite's check mode scans these texts for `#[perf_target]` functions and
        // compares them with the registry ("every benchmark is linked").
        let _ = writeln!(
            sources,
            "    ({stem:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    let _ = writeln!(
        out,
        "/// (module, source text) of every suite file.\nconst SUITE_SOURCES: &[(&str, &str)] = &[\n{sources}];"
    );
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("suite_modules.rs");
    std::fs::write(dest, out).expect("write suite_modules.rs");
}
