//! The guest programs the benchmark suites share (`mod common;` in each
//! test file that runs them).

// Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The glibc builds (rv64gc, lp64d, `riscv64-linux-gnu-gcc -O2 -static`;
/// `vm-core/guest/build_glibc.sh`) the `*_glibc` benchmarks run: the
/// workloads on glibc and four glibc test programs (libm, printf of
/// doubles, malloc churn with a 64 MB block, qsort of strings); the set
/// `vm-core/guest/cpu_vs_qemu.py` measures. Each static binary carries
/// glibc: ~500 KB of code, an AOT image of ~8.5 MB.
pub const GC_PROGRAMS: [&str; 10] = [
    "sieve",
    "matmul",
    "qsort",
    "crc32",
    "fib",
    "strings",
    "libm",
    "printf_float",
    "malloc_churn",
    "qsort_strings",
];

/// The rv64im (freestanding) build of workload `name`.
pub fn workload(name: &str) -> Vec<u8> {
    read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("vm-core/guest/bin/{name}.elf")))
}

/// Path of the glibc build of `name`.
pub fn gc_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("vm-core/guest/bin/gc/{name}.elf"))
}

/// The glibc build of `name`.
pub fn gc_workload(name: &str) -> Vec<u8> {
    read(&gc_path(name))
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
