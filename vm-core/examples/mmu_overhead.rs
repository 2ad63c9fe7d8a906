//! Slowdown of the Sv39 MMU + software TLB against the flat memory model,
//! per guest workload and engine, measured in-process on thread CPU time
//! (immune to the descheduling that dominates wall-clock noise on a shared
//! machine), with flat and MMU runs interleaved.
//!
//! `cargo run --release -p vm-core --example mmu_overhead [ENGINE] [ROUNDS]`
//! (ENGINE: jit | tiered | interp, default jit; ROUNDS default 15).
//! Prints per workload: median and min CPU ms flat vs MMU, the slowdown,
//! guest loads+stores (counted by the interpreter through the TLB), the
//! extra ns per access, TLB misses, and the share of MMU run time spent in
//! address translation ((mmu - flat) / mmu).

use std::path::Path;

use vm_core::mmu::MmuConfig;
use vm_core::{EngineKind, Vm, VmConfig};

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn run(elf: &[u8], name: &str, engine: EngineKind, mmu: bool) -> (u64, Vm) {
    let cfg = VmConfig {
        engine,
        mmu: mmu.then(MmuConfig::default),
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    vm.load_elf(elf, &[name.to_string()]).unwrap();
    let t0 = thread_cpu_ns();
    vm.run().unwrap();
    (thread_cpu_ns() - t0, vm)
}

fn median(v: &mut [u64]) -> f64 {
    v.sort_unstable();
    v[v.len() / 2] as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let engine: EngineKind = args.next().unwrap_or_else(|| "jit".into()).parse().unwrap();
    let rounds: usize = args.next().map_or(15, |r| r.parse().unwrap());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/bin");
    println!("engine {engine:?}, {rounds} interleaved rounds, thread CPU time");
    println!(
        "{:8} {:>10} {:>10} {:>9} {:>9} {:>12} {:>8} {:>8} {:>8}",
        "workload",
        "flat ms",
        "mmu ms",
        "slowdown",
        "min-based",
        "accesses",
        "ns/acc",
        "misses",
        "xlate %"
    );
    for name in ["sieve", "matmul", "qsort", "crc32", "fib", "strings", "smc"] {
        let elf = std::fs::read(dir.join(format!("{name}.elf"))).unwrap();
        let (mut flat, mut mmu) = (Vec::new(), Vec::new());
        let mut misses = 0;
        for r in 0..rounds + 1 {
            let order = if r % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for m in order {
                let (t, vm) = run(&elf, name, engine, m);
                if r == 0 {
                    continue; // warm-up round
                }
                if m {
                    misses = vm.stats().mmu.walks;
                    mmu.push(t);
                } else {
                    flat.push(t);
                }
            }
        }
        // Every load and store, counted through the TLB by the interpreter.
        let (_, ivm) = run(&elf, name, EngineKind::Interp, true);
        let t = ivm.stats().mmu.tlb;
        let accesses = t.read.hits + t.read.misses + t.write.hits + t.write.misses;
        let (fmin, mmin) = (*flat.iter().min().unwrap(), *mmu.iter().min().unwrap());
        let (f, m) = (median(&mut flat), median(&mut mmu));
        println!(
            "{:8} {:>10.2} {:>10.2} {:>8.1}% {:>8.1}% {:>12} {:>8.3} {:>8} {:>7.1}%",
            name,
            f / 1e6,
            m / 1e6,
            100.0 * (m / f - 1.0),
            100.0 * (mmin as f64 / fmin as f64 - 1.0),
            accesses,
            (m - f) / accesses as f64,
            misses,
            100.0 * (m - f) / m
        );
    }
}
