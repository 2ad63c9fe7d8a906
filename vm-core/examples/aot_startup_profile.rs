//! Splits the work of `aot::bench_aot_startup_vs_jit` (fresh VM to the
//! exit of `fib 10`, JIT vs AOT image) into its phases, in thread CPU time,
//! interleaved in one run so the machine's load affects all phases alike:
//!
//! - S: what both sides share: `Vm::new` + `load_elf`, running the guest
//!   once every block is compiled, dropping the VM;
//! - J: the JIT's part: cold run minus the run with every block compiled;
//! - A: the AOT load (map, validate, install).
//!
//! `cargo run --release -p vm-core --example aot_startup_profile [ROUNDS] [jit|aot|both] [loop]`
//! (a second argument runs one side only, for callgrind; a third, `loop`,
//! skips the measurements of single parts after the loop, for `perf record`;
//! `batch` instead runs the rounds as the KPI does: per round one batch of
//! JIT starts and one of AOT starts, each batch about `SAMPLE_NS` long
//! (the KPI's sample on this machine: 2 JIT or 5 AOT starts), each phase in
//! wall time).

use vm_core::aot::{build_image, load_image, write_image, BadImagePolicy};
use vm_core::engine::{EngineKind, Vm, VmConfig};

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn median(v: &mut [u64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    v[v.len() / 2] as f64 / 1000.0
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let only = std::env::args().nth(2);
    let (do_jit, do_aot) = match only.as_deref() {
        Some("jit") => (true, false),
        Some("aot") => (false, true),
        _ => (true, true),
    };
    let elf_path = format!("{}/guest/bin/fib.elf", env!("CARGO_MANIFEST_DIR"));
    let elf = std::fs::read(&elf_path).expect("workload ELF");
    // The configuration of tests/aot.rs.
    let cfg = VmConfig {
        engine: EngineKind::Jit,
        mem_size: 32 << 20,
        code_cache_bytes: 4 << 20,
        ..VmConfig::default()
    };
    let (bytes, _) = build_image(&elf, cfg.max_block_insns).expect("image");
    let path =
        std::env::temp_dir().join(format!("aot-startup-profile-{}.vmimg", std::process::id()));
    write_image(&path, &bytes).expect("write");
    let args = vec!["fib".to_string(), "10".to_string()];
    let fresh = || {
        let mut vm = Vm::new(
            cfg.clone(),
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        )
        .expect("vm");
        vm.load_elf(&elf, &args).expect("elf");
        vm
    };
    if std::env::args().nth(3).as_deref() == Some("batch") {
        batches(rounds, (do_jit, do_aot), &cfg, &elf, &path, &args);
        let _ = std::fs::remove_file(&path);
        return;
    }
    // Per round: (new, load_elf, jit run, drop) and (new+elf, aot load, run, drop).
    let mut new_vm = Vec::new();
    let mut elf_load = Vec::new();
    let mut jit_run = Vec::new();
    let mut jit_drop = Vec::new();
    let mut aot_fresh = Vec::new();
    let mut aot_load = Vec::new();
    let mut aot_run = Vec::new();
    let mut aot_drop = Vec::new();
    let mut jit_total = Vec::new();
    let mut aot_total = Vec::new();
    let (mut map, mut val, mut inst) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        if do_jit {
            let t0 = thread_cpu_ns();
            let mut vm = Vm::new(
                cfg.clone(),
                Box::new(std::io::sink()),
                Box::new(std::io::sink()),
            )
            .expect("vm");
            let t1 = thread_cpu_ns();
            vm.load_elf(&elf, &args).expect("elf");
            let t2 = thread_cpu_ns();
            std::hint::black_box(vm.run().expect("run"));
            let t3 = thread_cpu_ns();
            drop(vm);
            let t4 = thread_cpu_ns();
            new_vm.push(t1 - t0);
            elf_load.push(t2 - t1);
            jit_run.push(t3 - t2);
            jit_drop.push(t4 - t3);
            jit_total.push(t4 - t0);
        }
        if do_aot {
            let t0 = thread_cpu_ns();
            let mut vm = fresh();
            let t1 = thread_cpu_ns();
            aot_fresh.push(t1 - t0);
            // SAFETY: the image was written by this program from build_image output.
            let l =
                unsafe { load_image(&mut vm, &path, &elf, BadImagePolicy::Stop) }.expect("load");
            let t2 = thread_cpu_ns();
            std::hint::black_box(vm.run().expect("run"));
            let t3 = thread_cpu_ns();
            drop(vm);
            let t4 = thread_cpu_ns();
            aot_load.push(t2 - t1);
            aot_run.push(t3 - t2);
            aot_drop.push(t4 - t3);
            aot_total.push(t4 - t0);
            map.push(l.map_time.as_nanos() as u64);
            val.push(l.validate_time.as_nanos() as u64);
            inst.push(l.install_time.as_nanos() as u64);
        }
    }
    let jt = median(&mut jit_total);
    let at = median(&mut aot_total);
    println!("medians over {rounds} rounds, us of thread CPU time (map/validate/install: wall)");
    println!("  Vm::new           {:8.1}", median(&mut new_vm));
    println!("  load_elf          {:8.1}", median(&mut elf_load));
    println!("  JIT run (cold)    {:8.1}", median(&mut jit_run));
    println!("  JIT drop          {:8.1}", median(&mut jit_drop));
    println!("  AOT new + elf     {:8.1}", median(&mut aot_fresh));
    println!(
        "  AOT load          {:8.1}  (map {:.1}, validate {:.1}, install {:.1})",
        median(&mut aot_load),
        median(&mut map),
        median(&mut val),
        median(&mut inst)
    );
    println!("  AOT run (linked)  {:8.1}", median(&mut aot_run));
    println!("  AOT drop          {:8.1}", median(&mut aot_drop));
    println!("  JIT total         {jt:8.1}");
    println!("  AOT total         {at:8.1}");
    println!("  ratio JIT/AOT     {:8.2}", jt / at);
    if std::env::args().nth(3).as_deref() == Some("loop") {
        let _ = std::fs::remove_file(&path);
        return;
    }
    // The pure computations of validation, alone (warm caches).
    let expect = vm_core::aot::format::Expectation::for_elf(
        vm_core::aot::build_info_for(&mut fresh()),
        &elf,
    );
    let n = rounds as u64;
    let per = |t: u64| (thread_cpu_ns() - t) as f64 / n as f64 / 1000.0;
    let t = thread_cpu_ns();
    for _ in 0..n {
        std::hint::black_box(vm_core::aot::hash::crc32c(std::hint::black_box(&bytes)));
    }
    let crc = per(t);
    let t = thread_cpu_ns();
    for _ in 0..n {
        std::hint::black_box(vm_core::aot::format::validate(&bytes, &expect).is_ok());
    }
    let valid = per(t);
    let t = thread_cpu_ns();
    for _ in 0..n {
        let m = vm_core::aot::MappedImage::open(&path).expect("map");
        std::hint::black_box(m.snapshot());
    }
    let mapped = per(t);
    let t = thread_cpu_ns();
    for _ in 0..n {
        std::hint::black_box(std::fs::read(&path).expect("read"));
    }
    let read = per(t);
    println!("  alone: map + private copy {mapped:.2}, read into a Vec {read:.2}");
    println!(
        "  alone: image CRC-32C ({} B) {crc:.2}, format::validate (incl. CRC) {valid:.2}",
        bytes.len()
    );
    let _ = std::fs::remove_file(&path);
}

/// Length of a batch in `batch` mode: the harness's `target_sample_ns`
/// (2000 clock reads, at least 50 us), so that the batches hold as many
/// starts as the KPI's samples and the caches see what they see there.
const SAMPLE_NS: u64 = 50_000;

/// `rounds` pairs of batches (JIT, AOT alternately first), wall time per
/// phase (`Instant`), medians in us per start.
fn batches(
    rounds: usize,
    sides: (bool, bool),
    cfg: &VmConfig,
    elf: &[u8],
    path: &std::path::Path,
    args: &[String],
) {
    use std::time::Instant;
    let ns = |a: Instant, b: Instant| (b - a).as_nanos() as u64;
    // Per start: new, elf, load, run, drop, total; JIT then AOT.
    let mut ph: [[Vec<u64>; 6]; 2] = Default::default();
    let mut ratio = Vec::new();
    let mut split: [Vec<u64>; 3] = Default::default();
    // Starts per batch: the mean of 16 warm starts of each side, as the
    // harness calibrates after its warm-up.
    let mut batch = [1usize; 2];
    for (side, n) in batch.iter_mut().enumerate() {
        let mut t = Instant::now();
        for i in 0..32 {
            if i == 16 {
                t = Instant::now();
            }
            let mut vm = Vm::new(
                cfg.clone(),
                Box::new(std::io::sink()),
                Box::new(std::io::sink()),
            )
            .expect("vm");
            vm.load_elf(elf, args).expect("elf");
            if side == 1 {
                // SAFETY: the image was written by this program from build_image output.
                unsafe { load_image(&mut vm, path, elf, BadImagePolicy::Stop) }.expect("load");
            }
            vm.run().expect("run");
        }
        let per = (t.elapsed().as_nanos() as u64 / 16).max(1);
        *n = SAMPLE_NS.div_ceil(per) as usize;
    }
    for r in 0..rounds {
        let mut tot = [0u64; 2];
        for k in 0..2 {
            let side = if r % 2 == 0 { k } else { 1 - k };
            if ![sides.0, sides.1][side] {
                continue;
            }
            for _ in 0..batch[side] {
                let t0 = Instant::now();
                let mut vm = Vm::new(
                    cfg.clone(),
                    Box::new(std::io::sink()),
                    Box::new(std::io::sink()),
                )
                .expect("vm");
                let t1 = Instant::now();
                vm.load_elf(elf, args).expect("elf");
                let t2 = Instant::now();
                if side == 1 {
                    // SAFETY: the image was written by this program from build_image output.
                    let l = unsafe { load_image(&mut vm, path, elf, BadImagePolicy::Stop) }
                        .expect("load");
                    split[0].push(l.map_time.as_nanos() as u64);
                    split[1].push(l.validate_time.as_nanos() as u64);
                    split[2].push(l.install_time.as_nanos() as u64);
                }
                let t3 = Instant::now();
                std::hint::black_box(vm.run().expect("run"));
                let t4 = Instant::now();
                drop(vm);
                let t5 = Instant::now();
                let p = &mut ph[side];
                p[0].push(ns(t0, t1));
                p[1].push(ns(t1, t2));
                p[2].push(ns(t2, t3));
                p[3].push(ns(t3, t4));
                p[4].push(ns(t4, t5));
                p[5].push(ns(t0, t5));
                tot[side] += ns(t0, t5);
            }
        }
        ratio.push((tot[0] as f64 / batch[0] as f64) / (tot[1].max(1) as f64 / batch[1] as f64));
    }
    ratio.sort_by(f64::total_cmp);
    println!(
        "batches of {} JIT / {} AOT starts, {rounds} pairs, wall us per start (medians): new / elf / load / run / drop / total",
        batch[0], batch[1]
    );
    for (name, p) in ["JIT", "AOT"].iter().zip(ph.iter_mut()) {
        let m: Vec<String> = p.iter_mut().map(|v| format!("{:.2}", median(v))).collect();
        println!("  {name}: {}", m.join(" / "));
    }
    let m: Vec<String> = split
        .iter_mut()
        .map(|v| format!("{:.2}", median(v)))
        .collect();
    println!("  AOT load: map / validate / install {}", m.join(" / "));
    println!(
        "  JIT/AOT per batch pair, median: {:.3}",
        ratio[ratio.len() / 2]
    );
}
