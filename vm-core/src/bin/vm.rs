//! `vm`: run a static RV64IM Linux ELF.
//!
//! `vm run [--engine interp|jit|tiered] [--stats] [--budget N] [--mem-mb N]
//! [--threshold N] [--no-chain] [--mmu] [--tlb-entries N] [--tlb-ways N]
//! [--prefetch none|next|stride] PROGRAM.elf [ARGS...]` exits with the guest's status.
//! `--mmu` runs the guest in an Sv39 address space behind the software TLB
//! (the default is the flat memory model), so the two can be compared.

use std::process::ExitCode;

use vm_core::engine::{EngineKind, Vm, VmConfig};
use vm_core::mmu::{MmuConfig, PrefetchConfig, PrefetchPolicy};

const USAGE: &str = "usage: vm run [--engine interp|jit|tiered] [--stats] [--budget N] [--mem-mb N] [--threshold N] [--no-chain] [--mmu] [--tlb-entries N] [--tlb-ways N] [--prefetch none|next|stride] PROGRAM.elf [ARGS...]";

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
        Some("--help") | Some("-h") => {
            println!("{USAGE}");
            return Ok(0);
        }
        _ => return Err(USAGE.into()),
    }
    let mut cfg = VmConfig::default();
    let mut stats = false;
    let mut program = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--engine" => {
                cfg.engine = args
                    .next()
                    .ok_or("--engine needs a value")?
                    .parse::<EngineKind>()
                    .map_err(|e| e.to_string())?
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
    let result = vm.run();
    if stats {
        let s = vm.stats();
        eprintln!("vm stats: engine={:?}", vm.config().engine);
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
