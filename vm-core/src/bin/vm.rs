//! `vm`: run a static RV64IM Linux ELF.
//!
//! `vm run [--engine interp|jit|tiered|aot] [--image IMG] [--on-bad-image jit|stop]
//! [--stats] [--budget N] [--mem-mb N] [--threshold N] [--no-chain] [--mmu]
//! [--tlb-entries N] [--tlb-ways N] [--prefetch none|next|stride] PROGRAM.elf [ARGS...]`
//! exits with the guest's status; `vm aot PROGRAM.elf -o PROGRAM.vmimg` compiles
//! the program ahead of time into a code image. `--mmu` runs the guest in an
//! Sv39 address space behind the software TLB (the default is the flat memory
//! model), so the two can be compared.

use std::process::ExitCode;

use std::path::PathBuf;

use vm_core::aot::{build_image, load_image, write_image, BadImagePolicy};
use vm_core::engine::{EngineKind, Vm, VmConfig};
use vm_core::mmu::{MmuConfig, PrefetchConfig, PrefetchPolicy};

const USAGE: &str = "usage: vm run [--engine interp|jit|tiered|aot] [--image IMG.vmimg] [--on-bad-image jit|stop] [--stats] [--budget N] [--mem-mb N] [--threshold N] [--no-chain] [--mmu] [--tlb-entries N] [--tlb-ways N] [--prefetch none|next|stride] PROGRAM.elf [ARGS...]
       vm aot PROGRAM.elf -o PROGRAM.vmimg [--stats]";

fn parse_num(flag: &str, v: Option<String>) -> Result<u64, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: not a number: {v}"))
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => ExitCode::from(code as u8),
        Err(msg) => {
            eprintln!("vm: {msg}");
            ExitCode::from(125)
        }
    }
}

fn real_main() -> Result<i32, String> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("run") => {}
        Some("aot") => return aot_main(args),
        Some("--help") | Some("-h") => {
            println!("{USAGE}");
            return Ok(0);
        }
        _ => return Err(USAGE.into()),
    }
    let mut cfg = VmConfig::default();
    let mut stats = false;
    let mut program = None;
    let mut aot = false;
    let mut image: Option<PathBuf> = None;
    let mut policy = BadImagePolicy::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--engine" => {
                let e = args.next().ok_or("--engine needs a value")?;
                // AOT runs on the JIT engine with the image's blocks
                // installed up front; blocks not in the image are JIT-compiled.
                aot = e == "aot";
                cfg.engine = if aot {
                    EngineKind::Jit
                } else {
                    e.parse::<EngineKind>().map_err(|e| e.to_string())?
                };
            }
            "--image" => image = Some(args.next().ok_or("--image needs a value")?.into()),
            "--on-bad-image" => {
                policy = args.next().ok_or("--on-bad-image needs a value")?.parse()?
            }
            "--stats" => stats = true,
            "--no-chain" => cfg.chaining = false,
            "--budget" => cfg.insn_budget = Some(parse_num("--budget", args.next())?),
            "--mem-mb" => cfg.mem_size = parse_num("--mem-mb", args.next())? << 20,
            "--threshold" => cfg.tier_threshold = parse_num("--threshold", args.next())? as u32,
            "--mmu" => {
                cfg.mmu.get_or_insert_with(MmuConfig::default);
            }
            "--tlb-entries" => {
                cfg.mmu.get_or_insert_with(MmuConfig::default).tlb.entries =
                    parse_num("--tlb-entries", args.next())? as usize
            }
            "--tlb-ways" => {
                cfg.mmu.get_or_insert_with(MmuConfig::default).tlb.ways =
                    parse_num("--tlb-ways", args.next())? as usize
            }
            "--prefetch" => {
                let policy = match args.next().as_deref() {
                    Some("none") => None,
                    Some("next") => Some(PrefetchPolicy::NextPage),
                    Some("stride") => Some(PrefetchPolicy::Stride),
                    _ => return Err("--prefetch needs none|next|stride".into()),
                };
                cfg.mmu.get_or_insert_with(MmuConfig::default).prefetch =
                    policy.map(|policy| PrefetchConfig {
                        policy,
                        ..PrefetchConfig::default()
                    });
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            _ => {
                program = Some(a);
                break;
            }
        }
    }
    let program = program.ok_or(USAGE)?;
    let mut guest_args = vec![program.clone()];
    guest_args.extend(args);
    let elf = std::fs::read(&program).map_err(|e| format!("{program}: {e}"))?;
    let mut vm = Vm::new(
        cfg,
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
    )
    .map_err(|e| e.to_string())?;
    vm.load_elf(&elf, &guest_args).map_err(|e| e.to_string())?;
    if image.is_some() && !aot {
        return Err("--image needs --engine aot".into());
    }
    let mut aot_load = None;
    if aot {
        let image = image.ok_or("--engine aot needs --image PROGRAM.vmimg")?;
        let load = load_image(&mut vm, &image, &elf, policy).map_err(|e| e.to_string())?;
        if let Some(e) = &load.rejected {
            eprintln!("vm: {e}; running under the JIT instead");
        }
        aot_load = Some(load);
    }
    let result = vm.run();
    if stats {
        let s = vm.stats();
        eprintln!("vm stats: engine={:?}", vm.config().engine);
        if let Some(l) = &aot_load {
            match &l.installed {
                Some(i) => eprintln!(
                    "  aot image             : {} blocks, {} code bytes, {} jumps prelinked, {} relocations; load {:?} (map {:?}, validate {:?}, install {:?})",
                    i.blocks, i.code_bytes, i.prelinked, i.relocations,
                    l.total_time(), l.map_time, l.validate_time, l.install_time
                ),
                None => eprintln!("  aot image             : rejected, ran under the JIT"),
            }
        }
        eprintln!("  instructions executed : {}", s.insns_executed);
        eprintln!("  blocks decoded        : {}", s.blocks_decoded);
        eprintln!(
            "  blocks compiled       : {} ({} guest insns)",
            s.blocks_compiled, s.insns_compiled
        );
        eprintln!("  blocks executed       : {}", s.blocks_executed);
        eprintln!(
            "  cache hits / misses   : {} / {} (dispatcher hit rate {:.4}, per-block-execution hit rate {:.6})",
            s.cache_hits,
            s.cache_misses,
            s.hit_rate(),
            s.block_hit_rate()
        );
        eprintln!("  chains patched        : {}", s.chains_patched);
        eprintln!("  invalidations         : {}", s.invalidations);
        eprintln!(
            "  interp blocks / jit entries : {} / {}",
            s.interp_blocks, s.jit_entries
        );
        eprintln!(
            "  translation time      : {:?} (of which W^X install {:?})",
            s.translate_time, s.install_time
        );
        eprintln!("  execution time        : {:?}", s.exec_time());
        if let Some(m) = vm.config().mmu {
            let t = s.mmu.tlb;
            eprintln!(
                "  mmu                   : Sv39, TLB {} entries x {} ways, prefetch {:?}",
                m.tlb.entries, m.tlb.ways, m.prefetch
            );
            eprintln!(
                "  tlb hits / misses     : load {}/{} store {}/{} fetch {}/{} (inline hits of generated code are not counted)",
                t.read.hits, t.read.misses, t.write.hits, t.write.misses, t.exec.hits, t.exec.misses
            );
            eprintln!(
                "  walks / prefetch      : {} walks, {} prefetch fills, {} evictions, {} replays",
                s.mmu.walks, t.prefetch_fills, t.evictions, s.mmu_replays
            );
        }
        if s.insns_compiled > 0 {
            let n = s.insns_compiled.max(1) as f64;
            eprintln!(
                "  translation per guest insn : {:.1} ns total, {:.1} ns without W^X install",
                s.translate_time.as_nanos() as f64 / n,
                s.translate_time.saturating_sub(s.install_time).as_nanos() as f64 / n
            );
        }
    }
    result.map_err(|e| e.to_string())
}

/// `vm aot PROGRAM.elf -o PROGRAM.vmimg [--stats]`.
fn aot_main(mut args: impl Iterator<Item = String>) -> Result<i32, String> {
    let mut program = None;
    let mut out: Option<PathBuf> = None;
    let mut stats = false;
    let max_block_insns = VmConfig::default().max_block_insns;
    while let Some(a) = args.next() {
        match a.as_str() {
            "-o" => out = Some(args.next().ok_or("-o needs a value")?.into()),
            "--stats" => stats = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            _ if program.is_none() => program = Some(a),
            _ => return Err(format!("unexpected argument {a}\n{USAGE}")),
        }
    }
    let program = program.ok_or(USAGE)?;
    let out = out.ok_or("vm aot needs -o PROGRAM.vmimg")?;
    let elf = std::fs::read(&program).map_err(|e| format!("{program}: {e}"))?;
    let (bytes, s) = build_image(&elf, max_block_insns).map_err(|e| format!("{program}: {e}"))?;
    write_image(&out, &bytes).map_err(|e| e.to_string())?;
    if stats {
        eprintln!(
            "vm aot: {} functions, {} blocks ({} guest insns, {} left to the JIT), {} code bytes, image {} bytes",
            s.functions, s.blocks, s.guest_insns, s.skipped_blocks, s.code_bytes, bytes.len()
        );
        eprintln!(
            "  discovery {:?}, compilation {:?} ({:.1} us per function)",
            s.discover_time,
            s.compile_time,
            s.compile_time.as_secs_f64() * 1e6 / s.functions.max(1) as f64
        );
    }
    Ok(0)
}
