//! Runs the JIT's translation pipeline (lift, optimizer, code generation,
//! no install) over the real blocks of the committed workloads in a loop:
//! a target for `perf record` / `valgrind --tool=callgrind` that, unlike
//! `tests/jit.rs`, spends almost all its time in translation.
//!
//! ```text
//! cargo run --profile test -p vm-core --example jit_translate_profile -- 200
//! ```
//!
//! Arguments: rounds over all blocks (default 100), optionally a file
//! caching the blocks (one line per block: pc, then the instruction words,
//! in hex): written when missing, read when present, so that a run under
//! callgrind does not execute the workloads; and optionally `baseline`:
//! profile the baseline tier instead (decode + emit + install, what the
//! JIT does at a block's first compile). `run:<workload>:<threshold|off>`
//! instead runs a workload under the JIT `rounds` times with that tier-up
//! threshold (`off`: no baseline tier) and prints the median thread CPU
//! time of a whole run (the blocks file argument is ignored, e.g. `-`).

use std::hint::black_box;
use std::path::Path;

use vm_core::backend::x86_64::X64Backend;
use vm_core::engine::{EngineKind, Vm, VmConfig};
use vm_core::frontend::riscv::{decode, encode, translate_block, Inst};
use vm_core::opt;

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .map(|a| a.parse().expect("rounds"))
        .unwrap_or(100);
    let cache_file = args.next();
    let mode = args.next();
    if let Some(spec) = mode.as_deref().and_then(|m| m.strip_prefix("run:")) {
        // run:<workload>:<tier-up threshold, or "off" for no baseline tier>
        let (name, t) = spec
            .split_once(':')
            .expect("run:<workload>:<threshold|off>");
        run_workload(name, t, rounds);
        return;
    }
    let baseline = mode.as_deref() == Some("baseline");
    let blocks = match cache_file.as_deref().map(std::fs::read_to_string) {
        Some(Ok(text)) => text
            .lines()
            .map(|l| {
                let mut f = l
                    .split(' ')
                    .map(|x| u64::from_str_radix(x, 16).expect("hex field"));
                let pc = f.next().expect("pc");
                let ins: Vec<Inst> = f.map(|w| decode(w as u32).expect("word")).collect();
                (pc, ins)
            })
            .collect(),
        _ => {
            let blocks = workload_blocks();
            if let Some(path) = &cache_file {
                let text: String = blocks
                    .iter()
                    .map(|(pc, ins)| {
                        let words: Vec<String> =
                            ins.iter().map(|i| format!("{:x}", encode(i))).collect();
                        format!("{pc:x} {}\n", words.join(" "))
                    })
                    .collect();
                std::fs::write(path, text).expect("write block file");
            }
            blocks
        }
    };
    if baseline {
        baseline_all(&blocks, rounds);
    } else {
        translate_all(&blocks, rounds);
    }
}

#[inline(never)]
fn baseline_all(blocks: &[(u64, Vec<Inst>)], rounds: usize) {
    let insns: usize = blocks.iter().map(|(_, i)| i.len()).sum();
    let words: Vec<(u64, Vec<u32>)> = blocks
        .iter()
        .map(|(pc, ins)| (*pc, ins.iter().map(encode).collect()))
        .collect();
    let mut backend = X64Backend::new(64 << 20).unwrap();
    let mut ins = Vec::with_capacity(64);
    let mut bytes = 0usize;
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        for (k, (pc, ws)) in words.iter().enumerate() {
            ins.clear();
            ins.extend(ws.iter().map(|&w| decode(w).expect("word")));
            let c = match backend.compile_baseline(*pc, &ins, Some(k as u32)) {
                Err(vm_core::backend::CodegenError::CodeRegionFull) => {
                    backend.flush();
                    backend.compile_baseline(*pc, &ins, Some(k as u32))
                }
                r => r,
            }
            .unwrap();
            bytes += c.size;
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / (rounds * insns) as f64;
    println!(
        "baseline tier: {} blocks, {} guest instructions, {rounds} rounds: {ns:.1} ns per guest instruction (wall, decode + emit + install), {:.1} code bytes per guest instruction",
        blocks.len(),
        insns,
        bytes as f64 / (rounds * insns) as f64
    );
}

/// Runs workload `name` `rounds` times under the JIT with the given
/// tier-up threshold (`off`: optimizing tier only) and prints the median
/// thread CPU time of a whole run (VM creation, loading, translation, execution).
fn run_workload(name: &str, threshold: &str, rounds: usize) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("guest/bin/{name}.elf"));
    let elf = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut times = Vec::new();
    let mut stats = None;
    for _ in 0..rounds.max(1) {
        let cfg = VmConfig {
            engine: EngineKind::Jit,
            baseline: threshold != "off",
            tier_up_threshold: threshold.parse().unwrap_or(0),
            ..VmConfig::default()
        };
        let t = thread_cpu();
        let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        vm.load_elf(&elf, &[name.to_string()]).unwrap();
        vm.run().unwrap();
        times.push(thread_cpu() - t);
        stats = Some(vm.stats());
    }
    times.sort();
    let s = stats.expect("one run");
    println!(
        "{name} tier-up {threshold}: median {:?} over {} runs; blocks compiled {} (baseline {}, tiered up {}), translate {:?}",
        times[times.len() / 2],
        times.len(),
        s.blocks_compiled,
        s.blocks_baseline,
        s.blocks_tiered_up,
        s.translate_time
    );
}

/// This thread's CPU time.
fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Decoded blocks left in the block cache by a JIT run of each workload.
fn workload_blocks() -> Vec<(u64, Vec<Inst>)> {
    let mut blocks = Vec::new();
    for name in ["sieve", "matmul", "qsort", "crc32", "fib", "strings"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("guest/bin/{name}.elf"));
        let elf = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let cfg = VmConfig {
            engine: EngineKind::Jit,
            ..VmConfig::default()
        };
        let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        vm.load_elf(&elf, &[name.to_string()]).unwrap();
        vm.run().unwrap();
        let cache = vm.cache();
        let mut ids = cache.ids();
        ids.sort();
        for id in ids {
            let b = cache.get(id);
            blocks.push((b.pc, b.insns.to_vec()));
        }
    }
    blocks
}

#[inline(never)]
fn translate_all(blocks: &[(u64, Vec<Inst>)], rounds: usize) {
    let insns: usize = blocks.iter().map(|(_, i)| i.len()).sum();
    let mut backend = X64Backend::new(64 << 20).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        for (pc, ins) in blocks {
            let mut ir = translate_block(*pc, ins);
            opt::optimize_built(&mut ir);
            black_box(backend.compile_detached(&ir).unwrap());
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / (rounds * insns) as f64;
    // FNV-1a over every block's relocatable code: equal hashes before and
    // after a translation-speed change show it left the code unchanged.
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for (pc, ins) in blocks {
        let mut ir = translate_block(*pc, ins);
        opt::optimize_built(&mut ir);
        for &byte in &backend.compile_relocatable(&ir).unwrap().code {
            hash = (hash ^ byte as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    println!("code hash {hash:016x}");
    println!(
        "{} blocks, {} guest instructions, {rounds} rounds: {ns:.1} ns per guest instruction (wall)",
        blocks.len(),
        insns
    );
}
