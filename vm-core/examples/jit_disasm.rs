//! Prints the x86-64 code the JIT generated for a committed guest workload,
//! block by block, next to the block's guest instructions and optimized IR:
//! the tool for comparing our loops with QEMU's
//! (`qemu-riscv64 -d in_asm,out_asm`).
//!
//! ```text
//! cargo run --profile test -p vm-core --example jit_disasm -- crc32 110b4
//! ```
//!
//! Arguments: the workload name (`vm-core/guest/bin/<name>.elf`) and
//! optionally guest pcs in hex (default: every compiled block). Runs the
//! workload under the JIT engine to completion, then disassembles each
//! block's installed code (chained jumps as patched) with binutils'
//! `objdump`.

use std::path::Path;
use std::process::Command;

use vm_core::engine::{EngineKind, Vm, VmConfig};
use vm_core::frontend::riscv::translate_superblock;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "crc32".to_string());
    let pcs: Vec<u64> = args
        .map(|a| {
            u64::from_str_radix(a.trim_start_matches("0x"), 16)
                .unwrap_or_else(|e| panic!("pc {a}: {e}"))
        })
        .collect();
    let elf_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("guest/bin/{name}.elf"));
    let elf = std::fs::read(&elf_path).unwrap_or_else(|e| panic!("{}: {e}", elf_path.display()));
    let cfg = VmConfig {
        engine: EngineKind::Jit,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    vm.load_elf(&elf, std::slice::from_ref(&name)).unwrap();
    vm.run().unwrap();
    let cache = vm.cache();
    let mut ids = cache.ids();
    ids.sort_by_key(|&id| cache.get(id).pc);
    // Addresses are printed as offsets into the executable view of the code
    // region, as `perf report` shows samples in the `memfd:vm-core-jit` map.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let region = maps
        .lines()
        .find(|l| l.contains("vm-core-jit") && l.contains("r-x"))
        .and_then(|l| usize::from_str_radix(l.split('-').next()?, 16).ok())
        .unwrap_or(0);
    let tmp = std::env::temp_dir().join(format!("jit_disasm-{}.bin", std::process::id()));
    for id in ids {
        let b = cache.get(id);
        if !pcs.is_empty() && !pcs.contains(&b.pc) {
            continue;
        }
        let Some(jit) = &b.jit else { continue };
        println!(
            "==== block {:#x}..{:#x} ({} insns), code at region offset {:#x}",
            b.pc,
            b.end,
            b.insns.len(),
            jit.entry - region
        );
        // The optimizing tier's IR: the superblock the engine compiled.
        let mut ir = translate_superblock(b.pc, &b.insns, vm.config().max_block_insns, |a| {
            vm.memory().fetch_insn(a).ok()
        });
        vm_core::opt::optimize(&mut ir);
        println!("{ir}");
        // SAFETY: `entry..entry + size` is the block's installed code in the
        // backend's code region, mapped readable (RX) for the VM's lifetime;
        // nothing writes it while we copy (the VM is not running).
        let code = unsafe { std::slice::from_raw_parts(jit.entry as *const u8, jit.size) };
        std::fs::write(&tmp, code).unwrap();
        let out = Command::new("objdump")
            .args(["-D", "-b", "binary", "-mi386:x86-64", "-M", "intel"])
            .arg(format!("--adjust-vma={:#x}", jit.entry - region))
            .arg(&tmp)
            .output()
            .expect("objdump runs");
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines().skip_while(|l| !l.contains("<.data>:")).skip(1) {
            println!("{line}");
        }
    }
    let _ = std::fs::remove_file(&tmp);
}
