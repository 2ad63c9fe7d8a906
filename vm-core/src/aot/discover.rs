//! Ahead-of-time discovery of a guest program's functions and blocks:
//! function entries come from the ELF symbol table (`STT_FUNC` symbols in
//! executable segments), the entry point and every call target; blocks are
//! found by following control flow (branches, direct jumps, call return
//! sites, and `auipc`/`lui` + `jalr` pairs whose target is a constant).
//!
//! Blocks are formed exactly as the engine's dispatcher forms them (same
//! decoder, same end-of-block rule, same length limit), so an image block
//! is interchangeable with the block the JIT would have compiled. Code only
//! reachable through computed pointers is not found; the engine translates
//! it on demand when it runs.

use std::collections::{BTreeMap, HashSet, VecDeque};

use object::elf::{FileHeader64, PF_X, PT_LOAD, SHT_SYMTAB, STT_FUNC};
use object::read::elf::{FileHeader, ProgramHeader, Sym};
use object::Endianness;

use crate::frontend::riscv::{decode_parcel, DecodeError, Inst, Op};
use crate::guest::{load_elf, ElfError};
use crate::memory::{GuestMemory, MemoryError, PAGE_SIZE};

/// Upper bound on discovered blocks, so a hostile ELF cannot make
/// discovery run away (the largest workload has a few hundred).
pub const MAX_BLOCKS: usize = 1 << 20;

/// Largest scratch memory discovery maps (the guest memory maximum);
/// larger programs fail to load with a typed error.
const MAX_SCRATCH_MEMORY: u64 = 16 << 30;

/// A discovered guest block: `[pc, end)` and its decoded instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestBlock {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// One past the last instruction byte.
    pub end: u64,
    /// Decoded instructions.
    pub insns: Vec<Inst>,
    /// The instructions they were decoded from, one element each (a
    /// 32-bit word, or a compressed instruction's halfword zero-extended;
    /// an image records their bytes, the loader compares them with guest
    /// memory).
    pub words: Vec<u32>,
}

/// A discovered function: its entry and the blocks first reached from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFunction {
    /// Entry pc.
    pub entry: u64,
    /// Symbol name, when the ELF has one.
    pub name: Option<String>,
    /// Indices into [`Program::blocks`].
    pub blocks: Vec<usize>,
}

/// Everything discovery found.
#[derive(Debug, Clone)]
pub struct Program {
    /// Guest entry point.
    pub entry: u64,
    /// Blocks in discovery order.
    pub blocks: Vec<GuestBlock>,
    /// Functions in discovery order (each block belongs to exactly one).
    pub functions: Vec<GuestFunction>,
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The ELF is not a loadable program.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// Scratch guest memory could not be created.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// More blocks than [`MAX_BLOCKS`].
    #[error("more than {MAX_BLOCKS} blocks")]
    TooManyBlocks,
}

/// `[start, end)` of guest addresses.
type AddrRange = (u64, u64);
/// A function symbol: address and name.
type FuncSymbol = (u64, String);

/// Executable address ranges and function symbols of an ELF that
/// [`load_elf`] already accepted.
fn exec_ranges_and_symbols(elf: &[u8]) -> (Vec<AddrRange>, Vec<FuncSymbol>) {
    let mut ranges = Vec::new();
    let mut syms = Vec::new();
    let Ok(hdr) = FileHeader64::<Endianness>::parse(elf) else {
        return (ranges, syms);
    };
    let Ok(e) = hdr.endian() else {
        return (ranges, syms);
    };
    if let Ok(phdrs) = hdr.program_headers(e, elf) {
        for ph in phdrs {
            if ph.p_type(e) == PT_LOAD && ph.p_flags(e) & PF_X != 0 {
                let start = ph.p_vaddr(e);
                ranges.push((start, start.saturating_add(ph.p_memsz(e))));
            }
        }
    }
    // A missing or malformed symbol table only means fewer roots.
    if let Ok(sections) = hdr.sections(e, elf) {
        if let Ok(table) = sections.symbols(e, elf, SHT_SYMTAB) {
            for s in table.iter() {
                if s.st_type() == STT_FUNC {
                    let name = table
                        .symbol_name(e, s)
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                        .unwrap_or_default();
                    syms.push((s.st_value(e), name));
                }
            }
        }
    }
    (ranges, syms)
}

/// Highest address any `PT_LOAD` segment of `elf` reaches (0 if unknown).
fn load_extent(elf: &[u8]) -> u64 {
    let Ok(hdr) = FileHeader64::<Endianness>::parse(elf) else {
        return 0;
    };
    let Ok(e) = hdr.endian() else {
        return 0;
    };
    hdr.program_headers(e, elf)
        .map(|phdrs| {
            phdrs
                .iter()
                .filter(|ph| ph.p_type(e) == PT_LOAD)
                .map(|ph| ph.p_vaddr(e).saturating_add(ph.p_memsz(e)))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Decodes the block at `pc` exactly like the engine's dispatcher does;
/// None where the dispatcher would fault.
fn decode_block(mem: &GuestMemory, pc: u64, max_insns: usize) -> Option<GuestBlock> {
    let mut insns = Vec::new();
    let mut words = Vec::new();
    let mut cur = pc;
    while insns.len() < max_insns {
        let word = match mem.fetch_insn(cur) {
            Ok(w) => w,
            Err(_) if insns.is_empty() => return None,
            Err(_) => break,
        };
        let inst = match decode_parcel(word) {
            Ok(i) => i,
            Err(DecodeError::Illegal(_)) if insns.is_empty() => return None,
            Err(_) => break,
        };
        insns.push(inst);
        words.push(word);
        cur = cur.wrapping_add(inst.len as u64);
        if inst.op.ends_block() {
            break;
        }
    }
    Some(GuestBlock {
        pc,
        end: cur,
        insns,
        words,
    })
}

/// Constant target of a `jalr` that ends `b`, when the block computed its
/// base register from `lui`/`auipc`/`addi` only.
fn constant_jalr_target(b: &GuestBlock) -> Option<u64> {
    let last = b.insns.last()?;
    let mut known: [Option<u64>; 32] = [None; 32];
    known[0] = Some(0);
    let mut pc = b.pc;
    for inst in &b.insns[..b.insns.len() - 1] {
        let v = match inst.op {
            Op::Lui => Some(inst.imm as i64 as u64),
            Op::Auipc => Some(pc.wrapping_add(inst.imm as i64 as u64)),
            Op::Addi => known[inst.rs1 as usize].map(|x| x.wrapping_add(inst.imm as i64 as u64)),
            _ => None,
        };
        if inst.rd != 0 {
            known[inst.rd as usize] = v;
        }
        pc = pc.wrapping_add(inst.len as u64);
    }
    known[last.rs1 as usize].map(|x| x.wrapping_add(last.imm as i64 as u64) & !1)
}

/// Successors of `b`: (pc, is a call target).
fn successors(b: &GuestBlock, out: &mut Vec<(u64, bool)>) {
    out.clear();
    let Some(last) = b.insns.last() else {
        return;
    };
    let last_pc = b.end - last.len as u64;
    let imm = last.imm as i64 as u64;
    match last.op {
        Op::Jal => {
            out.push((last_pc.wrapping_add(imm), last.rd != 0));
            if last.rd != 0 {
                out.push((b.end, false));
            }
        }
        Op::Jalr => {
            if let Some(t) = constant_jalr_target(b) {
                out.push((t, last.rd != 0));
            }
            if last.rd != 0 {
                out.push((b.end, false));
            }
        }
        Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
            out.push((last_pc.wrapping_add(imm), false));
            out.push((b.end, false));
        }
        Op::Ebreak => {}
        // ecall, fence.i, and blocks cut by the length limit continue at `end`.
        _ => out.push((b.end, false)),
    }
}

/// Discovers the functions and blocks of `elf`, forming blocks of at most
/// `max_block_insns` instructions.
pub fn discover(elf: &[u8], max_block_insns: usize) -> Result<Program, DiscoverError> {
    let (ranges, syms) = exec_ranges_and_symbols(elf);
    // Scratch memory holding the program's segments, so blocks are decoded
    // from exactly the bytes the dispatcher will see: the VM's default size,
    // or larger for a program that needs more (run with a larger --mem-mb).
    let extent = load_extent(elf).min(MAX_SCRATCH_MEMORY);
    let size = crate::engine::VmConfig::default()
        .mem_size
        .max(extent.next_multiple_of(PAGE_SIZE));
    let mut mem = GuestMemory::new(size)?;
    let img = load_elf(elf, &mut mem)?;
    let executable = |pc: u64| {
        pc.is_multiple_of(2)
            && (ranges.is_empty() && pc < mem.len()
                || ranges.iter().any(|&(s, e)| pc >= s && pc < e))
    };
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    let mut roots: VecDeque<u64> = VecDeque::new();
    roots.push_back(img.entry);
    for (addr, name) in syms {
        if executable(addr) {
            names.entry(addr).or_insert(name);
            roots.push_back(addr);
        }
    }
    let mut seen: HashSet<u64> = HashSet::new();
    let mut is_func: HashSet<u64> = HashSet::new();
    let mut prog = Program {
        entry: img.entry,
        blocks: Vec::new(),
        functions: Vec::new(),
    };
    let mut succ = Vec::new();
    let mut work: Vec<u64> = Vec::new();
    while let Some(root) = roots.pop_front() {
        if !executable(root) || !is_func.insert(root) {
            continue;
        }
        let mut func = GuestFunction {
            entry: root,
            name: names.get(&root).cloned(),
            blocks: Vec::new(),
        };
        work.clear();
        work.push(root);
        while let Some(pc) = work.pop() {
            if !executable(pc) || !seen.insert(pc) {
                continue;
            }
            let Some(block) = decode_block(&mem, pc, max_block_insns) else {
                continue;
            };
            successors(&block, &mut succ);
            for &(t, call) in &succ {
                if call {
                    roots.push_back(t);
                } else {
                    work.push(t);
                }
            }
            if prog.blocks.len() >= MAX_BLOCKS {
                return Err(DiscoverError::TooManyBlocks);
            }
            func.blocks.push(prog.blocks.len());
            prog.blocks.push(block);
        }
        // A root already reached as a plain block of another function
        // (a tail call) has no blocks of its own: drop it.
        if !func.blocks.is_empty() {
            prog.functions.push(func);
        }
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(name: &str) -> Vec<u8> {
        let p =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("guest/bin/{name}.elf"));
        std::fs::read(p).unwrap()
    }

    #[test]
    fn finds_entry_symbols_and_blocks_like_the_dispatcher() {
        let elf = workload("qsort");
        let p = discover(&elf, 64).unwrap();
        assert!(p.functions.iter().any(|f| f.entry == p.entry));
        assert!(p
            .functions
            .iter()
            .any(|f| f.name.as_deref() == Some("main")));
        assert!(p.blocks.len() > 20, "{} blocks", p.blocks.len());
        let mut pcs = HashSet::new();
        for b in &p.blocks {
            assert!(pcs.insert(b.pc), "duplicate block {:#x}", b.pc);
            assert_eq!(b.end - b.pc, 4 * b.insns.len() as u64);
            assert!(b.insns[..b.insns.len() - 1]
                .iter()
                .all(|i| !i.op.ends_block()));
        }
        let owned: usize = p.functions.iter().map(|f| f.blocks.len()).sum();
        assert_eq!(owned, p.blocks.len());
    }

    #[test]
    fn programs_above_the_default_memory_size_are_discovered() {
        // One code page at 512 MiB: beyond the default 256 MiB guest memory.
        let code = crate::frontend::riscv::encode(&Inst {
            op: Op::Ecall,
            rd: 0,
            rs1: 0,
            rs2: 0,
            imm: 0,
            rs3: 0,
            rm: 0,
            len: 4,
        })
        .to_le_bytes();
        let base = 512 << 20;
        let elf = crate::guest::elf::tests::tiny_elf(&[(base, &code, 4096)], base);
        let p = discover(&elf, 64).unwrap();
        assert_eq!(p.entry, base);
        // The fall-through after the ecall is a zero word (illegal): the
        // dispatcher would fault there, so there is no block to compile.
        assert_eq!(p.blocks.len(), 1, "{:?}", p.blocks);
    }

    #[test]
    fn block_length_limit_is_respected() {
        let elf = workload("matmul");
        let p = discover(&elf, 3).unwrap();
        assert!(p.blocks.iter().all(|b| b.insns.len() <= 3));
    }

    #[test]
    fn constant_jalr_targets_are_followed() {
        // auipc t0, 0 ; jalr ra, 16(t0): a call to pc + 16.
        let b = GuestBlock {
            pc: 0x1000,
            end: 0x1008,
            insns: vec![
                Inst {
                    op: Op::Auipc,
                    rd: 5,
                    rs1: 0,
                    rs2: 0,
                    imm: 0,
                    rs3: 0,
                    rm: 0,
                    len: 4,
                },
                Inst {
                    op: Op::Jalr,
                    rd: 1,
                    rs1: 5,
                    rs2: 0,
                    imm: 16,
                    rs3: 0,
                    rm: 0,
                    len: 4,
                },
            ],
            words: vec![0x0000_0297, 0x0102_80e7],
        };
        let mut s = Vec::new();
        successors(&b, &mut s);
        assert_eq!(s, vec![(0x1010, true), (0x1008, false)]);
    }
}
