//! Mixed-architecture execution: RV64 and AArch64 guest code in one
//! process and one guest address space, both translated through the
//! shared IR into x86-64 by the JIT backend, switching architecture when
//! control crosses from code of one into code of the other.
//!
//! Each architecture has its own `CpuState` (register file and
//! indirect-jump cache); memory and the code region are shared. A block
//! only chains to blocks of its own architecture, so crossing always
//! returns to the dispatcher, which *switches*: it copies the argument
//! registers (`a0..a7` <-> `x0..x7`), the stack pointer and the link
//! register (`ra` <-> `x30`) into the other register file and continues
//! there. A call into the other architecture and the return from it are
//! both such switches, so functions with up to eight integer arguments
//! and an integer result can call each other in either direction; each
//! side's callee-saved registers stay in its own register file.
//!
//! Limits: no self-modifying code (code pages are not tracked), only the
//! `exit` system call, AArch64 code regions are copied at construction.

use std::collections::HashMap;

use crate::backend::x86_64::X64Backend;
use crate::backend::{exit_code, CodegenError};
use crate::frontend::aarch64::{lift_dynamic_block, A64Frontend};
use crate::frontend::riscv::{decode, translate_block};
use crate::frontend::{CodeImage, Frontend, TranslateError};
use crate::memory::{GuestMemory, MemoryError};
use crate::opt;
use crate::state::{CpuState, JmpCacheEntry, JMP_CACHE_ENTRIES};

/// A guest architecture of the mixed VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestIsa {
    /// RV64IM.
    Rv64,
    /// AArch64 (A64 integer subset).
    Aarch64,
}

/// Errors of mixed-architecture execution.
#[derive(Debug, thiserror::Error)]
pub enum MixedError {
    /// Guest memory could not be created.
    #[error("guest memory: {0}")]
    Memory(#[from] MemoryError),
    /// Code generation failed.
    #[error("code generation: {0}")]
    Codegen(#[from] CodegenError),
    /// A block could not be translated.
    #[error("translation: {0}")]
    Translate(#[from] TranslateError),
    /// An RV64 word is not a supported instruction.
    #[error("illegal RV64 instruction at {pc:#x}")]
    Illegal {
        /// Guest pc.
        pc: u64,
    },
    /// Code does not fit in guest memory at the requested address.
    #[error("cannot load {len} bytes of code at {addr:#x}")]
    Load {
        /// Guest address.
        addr: u64,
        /// Length in bytes.
        len: usize,
    },
    /// A guest memory access failed.
    #[error("guest fault at {pc:#x}: exit {code}")]
    Fault {
        /// Guest pc.
        pc: u64,
        /// Exit code.
        code: u64,
    },
    /// A system call other than `exit`.
    #[error("unsupported system call {nr} at {pc:#x}")]
    Syscall {
        /// Syscall number.
        nr: u64,
        /// Guest pc.
        pc: u64,
    },
}

/// Counters of a mixed run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MixedStats {
    /// Architecture switches (each call or return across architectures).
    pub switches: u64,
    /// Blocks compiled, per architecture (RV64, AArch64).
    pub blocks_compiled: [u64; 2],
    /// Dispatcher entries into generated code.
    pub entries: u64,
}

struct Side {
    cpu: Box<CpuState>,
    jmp_cache: Box<[JmpCacheEntry]>,
}

/// Sentinel return address that ends [`MixedVm::call`].
pub const RETURN_SENTINEL: u64 = 0xffff_ffff_ffff_f000;

/// The mixed-architecture VM.
pub struct MixedVm {
    mem: GuestMemory,
    backend: X64Backend,
    sides: [Side; 2],
    a64_code: Vec<CodeImage>,
    blocks: HashMap<u64, (GuestIsa, usize)>,
    /// Chain-site patch address -> target pc, for same-ISA chaining.
    stats: MixedStats,
}

const A64_SP: usize = 31;
const A64_LR: usize = 30;
const RV_SP: usize = 2;
const RV_RA: usize = 1;
const RV_A0: usize = 10;

fn idx(isa: GuestIsa) -> usize {
    match isa {
        GuestIsa::Rv64 => 0,
        GuestIsa::Aarch64 => 1,
    }
}

impl MixedVm {
    /// Creates a VM with `mem_size` bytes of guest memory.
    pub fn new(mem_size: u64) -> Result<Self, MixedError> {
        let mem = GuestMemory::new(mem_size)?;
        let mk = |mem: &GuestMemory| {
            let mut cpu = Box::<CpuState>::default();
            let mut jmp_cache = vec![
                JmpCacheEntry {
                    pc: u64::MAX,
                    host: 0
                };
                JMP_CACHE_ENTRIES
            ]
            .into_boxed_slice();
            cpu.attach_memory(mem.host_base(), mem.len(), mem.code_page_map());
            cpu.jmp_cache = jmp_cache.as_mut_ptr() as u64;
            Side { cpu, jmp_cache }
        };
        let sides = [mk(&mem), mk(&mem)];
        Ok(Self {
            backend: X64Backend::new(16 << 20)?,
            mem,
            sides,
            a64_code: Vec::new(),
            blocks: HashMap::new(),
            stats: MixedStats::default(),
        })
    }

    /// Guest memory, for writes (a handle: the CPU states point into it,
    /// so it cannot be replaced).
    pub fn memory_mut(&mut self) -> crate::memory::GuestMemoryMut<'_> {
        crate::memory::GuestMemoryMut::new(&mut self.mem)
    }

    /// Copies `bytes` to guest address `base` as code of `isa`.
    pub fn load_code(&mut self, isa: GuestIsa, base: u64, bytes: &[u8]) -> Result<(), MixedError> {
        self.mem
            .write_bytes(base, bytes)
            .map_err(|_| MixedError::Load {
                addr: base,
                len: bytes.len(),
            })?;
        if isa == GuestIsa::Aarch64 {
            self.a64_code.push(CodeImage {
                base,
                bytes: bytes.to_vec(),
            });
        }
        Ok(())
    }

    /// Statistics so far.
    pub fn stats(&self) -> MixedStats {
        self.stats
    }

    /// Which architecture the code at `pc` is.
    fn isa_of(&self, pc: u64) -> GuestIsa {
        if self
            .a64_code
            .iter()
            .any(|c| pc >= c.base && pc < c.base + c.bytes.len() as u64)
        {
            GuestIsa::Aarch64
        } else {
            GuestIsa::Rv64
        }
    }

    /// Calls the `isa` function at `pc` with integer `args` (at most 8),
    /// stack pointer `sp`; returns the integer result.
    pub fn call(
        &mut self,
        isa: GuestIsa,
        pc: u64,
        args: &[u64],
        sp: u64,
    ) -> Result<u64, MixedError> {
        let s = &mut self.sides[idx(isa)].cpu;
        let (a0, spr, lr) = match isa {
            GuestIsa::Rv64 => (RV_A0, RV_SP, RV_RA),
            GuestIsa::Aarch64 => (0, A64_SP, A64_LR),
        };
        for (i, a) in args.iter().take(8).enumerate() {
            s.globals[a0 + i] = *a;
        }
        s.globals[spr] = sp;
        s.globals[lr] = RETURN_SENTINEL;
        s.pc = pc;
        let done = self.run(isa)?;
        Ok(match done {
            GuestIsa::Rv64 => self.sides[0].cpu.globals[RV_A0],
            GuestIsa::Aarch64 => self.sides[1].cpu.globals[0],
        })
    }

    /// Switches from `from` to the other architecture at `pc`.
    fn switch(&mut self, from: GuestIsa, pc: u64) -> GuestIsa {
        self.stats.switches += 1;
        let [rv, a64] = &mut self.sides;
        let (rv, a64) = (&mut rv.cpu, &mut a64.cpu);
        match from {
            GuestIsa::Rv64 => {
                a64.globals[..8].copy_from_slice(&rv.globals[RV_A0..RV_A0 + 8]);
                a64.globals[A64_SP] = rv.globals[RV_SP];
                a64.globals[A64_LR] = rv.globals[RV_RA];
                a64.pc = pc;
                GuestIsa::Aarch64
            }
            GuestIsa::Aarch64 => {
                rv.globals[RV_A0..RV_A0 + 8].copy_from_slice(&a64.globals[..8]);
                rv.globals[RV_SP] = a64.globals[A64_SP];
                rv.globals[RV_RA] = a64.globals[A64_LR];
                rv.pc = pc;
                GuestIsa::Rv64
            }
        }
    }

    fn run(&mut self, mut isa: GuestIsa) -> Result<GuestIsa, MixedError> {
        loop {
            let pc = self.sides[idx(isa)].cpu.pc;
            if pc == RETURN_SENTINEL {
                return Ok(isa);
            }
            let here = self.isa_of(pc);
            if here != isa {
                isa = self.switch(isa, pc);
                continue;
            }
            let entry = match self.blocks.get(&pc) {
                Some(&(_, e)) => e,
                None => self.compile(isa, pc)?,
            };
            let side = &mut self.sides[idx(isa)];
            side.cpu.quantum = u64::MAX / 2;
            self.stats.entries += 1;
            // SAFETY: `entry` is a live block of this backend; the CPU state
            // is attached to `self.mem`, which outlives the call.
            let word = unsafe { self.backend.enter(&mut side.cpu, entry) };
            match word & 0xff {
                exit_code::CHAIN => {
                    let target = side.cpu.pc;
                    let site = side.cpu.exit_arg as usize;
                    if self.isa_of(target) == isa {
                        let t = match self.blocks.get(&target) {
                            Some(&(_, e)) => e,
                            None => self.compile(isa, target)?,
                        };
                        let patch = self.backend.region_base() + site;
                        self.backend.patch_jump(patch, t)?;
                    }
                }
                exit_code::INDIRECT | exit_code::QUANTUM => {}
                exit_code::SYSCALL => {
                    let cpu = &self.sides[idx(isa)].cpu;
                    let nr = cpu.globals[17];
                    if isa == GuestIsa::Rv64 && (nr == 93 || nr == 94) {
                        return Ok(isa);
                    }
                    return Err(MixedError::Syscall {
                        nr,
                        pc: cpu.exit_arg,
                    });
                }
                code => {
                    return Err(MixedError::Fault {
                        pc: self.sides[idx(isa)].cpu.pc,
                        code,
                    })
                }
            }
        }
    }

    fn compile(&mut self, isa: GuestIsa, pc: u64) -> Result<usize, MixedError> {
        let mut ir = match isa {
            GuestIsa::Rv64 => {
                let mut insns = Vec::new();
                let mut cur = pc;
                while insns.len() < 64 {
                    let w = self
                        .mem
                        .fetch32(cur)
                        .map_err(|_| MixedError::Illegal { pc: cur })?;
                    let i = decode(w)
                        .ok()
                        .filter(|i| !i.op.is_fp_or_csr())
                        .ok_or(MixedError::Illegal { pc: cur })?;
                    insns.push(i);
                    cur += 4;
                    if i.op.ends_block() {
                        break;
                    }
                }
                translate_block(pc, &insns)
            }
            GuestIsa::Aarch64 => {
                let img = self
                    .a64_code
                    .iter()
                    .find(|c| pc >= c.base && pc < c.base + c.bytes.len() as u64)
                    .ok_or(TranslateError::OutOfImage { pc })?;
                let mut insns = Vec::new();
                A64Frontend::default().scan_block(img, pc, &mut insns)?;
                lift_dynamic_block(pc, &insns)?
            }
        };
        opt::optimize(&mut ir);
        let c = self.backend.compile(&ir)?;
        self.blocks.insert(pc, (isa, c.entry));
        self.stats.blocks_compiled[idx(isa)] += 1;
        let side = &mut self.sides[idx(isa)];
        side.jmp_cache[(pc as usize >> 2) & (JMP_CACHE_ENTRIES - 1)] = JmpCacheEntry {
            pc,
            host: c.entry as u64,
        };
        Ok(c.entry)
    }
}

/// The committed mixed workload (`vm-core/guest/xarch/mixed.c`).
pub mod workload {
    /// `mixed.c` for AArch64.
    pub const AARCH64_ELF: &[u8] = include_bytes!("../../guest/xarch/mixed.aarch64.elf");
    /// `mixed.c` for RV64IM.
    pub const RISCV64_ELF: &[u8] = include_bytes!("../../guest/xarch/mixed.riscv64.elf");
    /// `mixed.c` for x86-64 (native baseline).
    pub const X86_64_ELF: &[u8] = include_bytes!("../../guest/xarch/mixed.x86_64.elf");
}

/// Function symbols of an image: (name, address).
pub type Symbols = Vec<(String, u64)>;

/// Loads `mixed.c` for RV64 and AArch64 into a fresh VM; returns the VM and
/// the symbol tables `(rv64, aarch64)`.
pub fn load_mixed_workload(mem_size: u64) -> Result<(MixedVm, Symbols, Symbols), MixedError> {
    let (a_img, a_syms) = crate::xarch::unit::load_elf_image(workload::AARCH64_ELF)?;
    let (r_img, r_syms) = crate::xarch::unit::load_elf_image(workload::RISCV64_ELF)?;
    let mut vm = MixedVm::new(mem_size)?;
    vm.load_code(GuestIsa::Aarch64, a_img.base, &a_img.bytes)?;
    vm.load_code(GuestIsa::Rv64, r_img.base, &r_img.bytes)?;
    Ok((vm, r_syms, a_syms))
}

/// Address of symbol `name`.
pub fn symbol(syms: &[(String, u64)], name: &str) -> Result<u64, MixedError> {
    syms.iter()
        .find(|s| s.0 == name)
        .map(|s| s.1)
        .ok_or_else(|| MixedError::Translate(TranslateError::Image(format!("no symbol {name}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_work(n: u64, seed: u64) -> u64 {
        let (mut s, mut acc) = (seed | 1, 0u64);
        for i in 0..n {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            acc ^= s >> 29;
            acc = acc.wrapping_add((acc << 3) ^ i);
            if (acc as i64) < 0 {
                acc = !acc;
            }
        }
        acc
    }

    fn reference_driver(calls: u64, n: u64) -> u64 {
        let mut acc = 0u64;
        for i in 0..calls {
            acc = acc.wrapping_add(reference_work(n, acc.wrapping_add(i)));
        }
        acc
    }

    #[test]
    fn rv64_driver_calls_aarch64_work_and_back() {
        let (mut vm, rs, as_) = load_mixed_workload(16 << 20).unwrap();
        let drv = symbol(&rs, "mix_driver").unwrap();
        let work = symbol(&as_, "mix_work").unwrap();
        let r = vm
            .call(GuestIsa::Rv64, drv, &[work, 20, 50], 0x80_0000)
            .unwrap();
        assert_eq!(r, reference_driver(20, 50));
        // every call and every return switches
        assert_eq!(vm.stats().switches, 40);
    }

    #[test]
    fn aarch64_driver_calls_rv64_work_and_single_arch_runs_agree() {
        let (mut vm, rs, as_) = load_mixed_workload(16 << 20).unwrap();
        let want = reference_driver(7, 33);
        let a_drv = symbol(&as_, "mix_driver").unwrap();
        let r_work = symbol(&rs, "mix_work").unwrap();
        let a_work = symbol(&as_, "mix_work").unwrap();
        let r_drv = symbol(&rs, "mix_driver").unwrap();
        let got = vm
            .call(GuestIsa::Aarch64, a_drv, &[r_work, 7, 33], 0x80_0000)
            .unwrap();
        assert_eq!(got, want);
        let before = vm.stats().switches;
        let got = vm
            .call(GuestIsa::Aarch64, a_drv, &[a_work, 7, 33], 0x80_0000)
            .unwrap();
        assert_eq!(got, want);
        let got = vm
            .call(GuestIsa::Rv64, r_drv, &[r_work, 7, 33], 0x80_0000)
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(
            vm.stats().switches,
            before,
            "single-architecture runs do not switch"
        );
    }
}
