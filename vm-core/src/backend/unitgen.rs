//! Host-independent code generation of a whole [`TranslationUnit`] for the
//! fixed-width-instruction hosts (AArch64, RV64): register allocation,
//! block layout, exits and the indirect-jump dispatcher. Each host supplies
//! an `UnitIsa` (the TCG split: `tcg/tcg.c` vs `tcg/<arch>/`).
//!
//! Unit ABI (both hosts): the code is called as a C function
//! `u64 entry(CpuState *cpu, u8 *guest_mem_base)`; guest registers live in
//! `cpu.globals` (written through, like the x86-64 JIT), guest address `a`
//! is host address `guest_mem_base + a` (no bounds check: like QEMU
//! user-mode's guest_base, host faults are guest faults). Control leaving
//! the unit stores the guest pc in `cpu.pc` and returns
//! [`exit_code::CHAIN`] (direct jump out of the unit),
//! [`exit_code::INDIRECT`] (computed jump to a pc that is not a block of
//! the unit), [`exit_code::SYSCALL`] or [`exit_code::BREAKPOINT`].

use crate::backend::exit_code;
use crate::ir::dense::{kind, UnitOp};
use crate::ir::{
    BinOp, Cond, Temp, Terminator, TranslationUnit, UnOp, UnitBlock, Width,
};
use crate::state::offsets;

/// A branch or jump whose target is patched once known.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixup {
    /// Word index of the instruction.
    pub at: usize,
    /// Conditional (true) or unconditional.
    pub cond: bool,
}

/// What a host must provide. Registers are host register numbers.
pub(crate) trait UnitIsa {
    /// Allocatable registers.
    const POOL: &'static [u8];
    /// Scratch registers for reloads and constants (never allocated).
    const SCRATCH: [u8; 2];
    /// The hard-wired zero register.
    const ZERO: u8;
    /// Spill slots in the frame.
    const SLOTS: usize;
    /// Most words one record or terminator emits (operand reloads and
    /// constants, a spill, the instruction sequence): `compile_unit`
    /// reserves this much room per record before a block, so the emitters
    /// write without a capacity check.
    const MAX_OP_WORDS: usize;
    /// Emitted words. Every emitting method writes through [`put_word`]
    /// without a capacity check: callers first make room with
    /// [`reserve_words`] (`MAX_OP_WORDS` per record).
    fn words(&mut self) -> &mut Vec<u32>;
    /// `rd = v`.
    fn mov_imm(&mut self, rd: u8, v: u64);
    /// `rd = rs`.
    fn mov(&mut self, rd: u8, rs: u8);
    /// `rd = cpu[off]` / `cpu[off] = rs` (64-bit).
    fn ld_state(&mut self, rd: u8, off: i32);
    /// Stores to the CPU state.
    fn st_state(&mut self, rs: u8, off: i32);
    /// Spill store / reload.
    fn spill(&mut self, r: u8, slot: usize);
    /// Reload a spilled value.
    fn reload(&mut self, r: u8, slot: usize);
    /// `rd = ra op rb` with IR semantics (rd may equal ra or rb).
    fn bin(&mut self, op: BinOp, rd: u8, ra: u8, rb: u8);
    /// `rd = ra op imm` if the host has a one-instruction form.
    fn bin_imm(&mut self, op: BinOp, rd: u8, ra: u8, imm: u64) -> bool;
    /// Whether `BIN32` records get their own arm in the record dispatch
    /// (hosts whose [`UnitIsa::bin_w`] has cheaper 32-bit forms).
    const BIN32_ARM: bool = false;
    /// [`UnitIsa::bin`], its result zero-extended from 32 bits if `w32`
    /// (a [`crate::ir::dense::kind::BIN32`] record); by default the operation and
    /// a `Zext32`.
    #[inline(always)]
    fn bin_w(&mut self, op: BinOp, w32: bool, rd: u8, ra: u8, rb: u8) {
        self.bin(op, rd, ra, rb);
        if w32 {
            self.un(UnOp::Zext32, rd, rd);
        }
    }
    /// [`UnitIsa::bin_imm`], its result zero-extended from 32 bits if
    /// `w32`; by default the operation and a `Zext32`.
    #[inline(always)]
    fn bin_imm_w(&mut self, op: BinOp, w32: bool, rd: u8, ra: u8, imm: u64) -> bool {
        if !self.bin_imm(op, rd, ra, imm) {
            return false;
        }
        if w32 {
            self.un(UnOp::Zext32, rd, rd);
        }
        true
    }
    /// `rd = op ra`.
    fn un(&mut self, op: UnOp, rd: u8, ra: u8);
    /// `rd = cond(ra, rb)`.
    fn setcond(&mut self, c: Cond, rd: u8, ra: u8, rb: u8);
    /// `rd = mem[base + ra + off]`.
    fn load(&mut self, rd: u8, ra: u8, off: i32, w: Width, signed: bool);
    /// `mem[base + ra + off] = rs`.
    fn store(&mut self, rs: u8, ra: u8, off: i32, w: Width);
    /// Branch if `cond(ra, rb)` to a patched target.
    fn branch(&mut self, c: Cond, ra: u8, rb: u8) -> Fixup;
    /// Branch if `cond(ra, imm)`, if the host compares with an immediate.
    fn branch_imm(&mut self, _c: Cond, _ra: u8, _imm: u64) -> Option<Fixup> {
        None
    }
    /// Unconditional jump to a patched target.
    fn jump(&mut self) -> Fixup;
    /// Points `f` at word index `target`.
    fn patch(&mut self, f: Fixup, target: usize);
    /// Function prologue (frame, pinned registers).
    fn prologue(&mut self);
    /// Returns `code` to the caller (epilogue included).
    fn ret_code(&mut self, code: u64);
    /// Jumps to the block whose guest pc is in scratch 0 via the table at
    /// word `table` (entries: guest pc, host byte offset from word 0)
    /// indexed by `hash`; on a miss jumps to the returned fixup.
    fn dispatch(&mut self, table: usize, hash: TableHash) -> Fixup;
}

/// Index function of a unit's dispatch table:
/// `((pc >> a) ^ (pc >> b)) & (2^bits - 1)`, chosen collision-free for the
/// unit's indirect-jump targets (so a probe is one compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableHash {
    /// First shift.
    pub a: u32,
    /// Second shift.
    pub b: u32,
    /// log2 of the table size.
    pub bits: u32,
}

impl TableHash {
    /// Table index of `pc`.
    pub fn index(self, pc: u64) -> usize {
        (((pc >> self.a) ^ (pc >> self.b)) & ((1u64 << self.bits) - 1)) as usize
    }
}

/// Makes room for `n` more words in `v` (the capacity check that
/// [`put_word`] does not do).
///
/// The buffer is moved out and back around the growth call, so no
/// out-of-line function receives the emitter's address: with every
/// emitting path inlined, LLVM keeps the buffer's pointer and length in
/// registers instead of reloading and storing the length per word.
#[inline(always)]
pub(crate) fn reserve_words(v: &mut Vec<u32>, n: usize) {
    if v.capacity() - v.len() < n {
        *v = grown(std::mem::take(v), n);
    }
}

/// `v` with room for `n` more words.
#[cold]
#[inline(never)]
fn grown(mut v: Vec<u32>, n: usize) -> Vec<u32> {
    v.reserve(n);
    v
}

/// Appends `w` to `v` without a capacity check (`Vec::push`'s check,
/// length update and growth path were ~15 % of the backends'
/// instructions).
///
/// The caller must have made room with [`reserve_words`]: `compile_unit`
/// reserves [`UnitIsa::MAX_OP_WORDS`] per record and terminator before
/// each block, and the same before each exit stub, entry stub and the
/// dispatcher, and no record or terminator emits more (each host's
/// `MAX_OP_WORDS` shows the count).
#[inline(always)]
pub(crate) fn put_word(v: &mut Vec<u32>, w: u32) {
    let len = v.len();
    debug_assert!(len < v.capacity(), "no room reserved");
    // SAFETY: the caller reserved room for this word (above), so `len` is
    // within the allocation; the word is written before `set_len` exposes
    // it, so every word below the new length is initialized.
    unsafe {
        v.as_mut_ptr().add(len).write(w);
        v.set_len(len + 1);
    }
}

/// Machine code of a translated unit.
#[derive(Debug, Clone)]
pub struct UnitCode {
    /// Code (and dispatch table) bytes; position independent.
    pub bytes: Vec<u8>,
    /// Byte offset of each unit entry (same order as the unit's entries).
    pub entries: Vec<usize>,
    /// Bytes of instructions; the dispatch table (data) follows them.
    pub code_len: usize,
    /// Host instructions emitted for the blocks (excluding the table,
    /// prologues, exit stubs and the dispatcher).
    pub block_insns: usize,
}

/// Where a temp's value is, in one `u32` (the allocator reads it for every
/// operand, so the common case is one compare): `0..32` = that host
/// register, `SLOT + s` = spill slot `s`, `CONST` = the constant in
/// `AllocState::consts`, `NONE` = not defined in this block.
mod loc {
    pub const SLOT: u32 = 0x100;
    pub const CONST: u32 = 0x1_0000;
    pub const NONE: u32 = 0x2_0000;
}

enum Target {
    Block(usize),
    Exit(u64),
}

/// Code generation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitCodegenError {
    /// A block needs more spill slots than the frame has.
    #[error("block at {0:#x} needs more spill slots than the frame has")]
    TooManySpills(u64),
    /// An entry point is not a block of the unit.
    #[error("entry {0:#x} is not a block of the unit")]
    EntryNotInUnit(u64),
    /// A block ends in a runtime helper call (RISC-V F/D), which unit
    /// code generation does not emit.
    #[error("helper call at {0:#x}: not supported in units")]
    HelperCall(u64),
    /// A branch displacement does not fit its encoding.
    #[error("branch out of range in the unit")]
    BranchRange,
}

/// The working buffers of [`compile_unit`], kept per thread between units:
/// allocating them per unit was ~10 of its ~12 heap allocations (~3 % of
/// its instructions, `malloc` and `free` of the code buffer and the small
/// vectors).
#[derive(Default)]
struct Scratch {
    /// The code buffer lent to the emitter (the unit's bytes are copied
    /// out of it).
    words: Vec<u32>,
    labels: Vec<usize>,
    fixups: Vec<(Fixup, Target)>,
    indirect_sites: Vec<Fixup>,
    st: AllocState,
    stubs: Vec<(u64, usize)>,
    resolved: Vec<(Fixup, usize)>,
    pcs: Vec<u64>,
    /// The dispatch table's entries.
    entries: Vec<(u64, u64)>,
    saved: Vec<u32>,
}

/// Code buffers larger than this (words) are not kept between units.
const KEEP_WORDS: usize = 1 << 18;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// Compiles a whole unit for host `I`.
#[inline(always)]
pub(crate) fn compile_unit<I: UnitIsa>(
    isa: &mut I,
    unit: &TranslationUnit,
) -> Result<UnitCode, UnitCodegenError> {
    // A nested or concurrent use on this thread finds an empty scratch
    // and allocates as before.
    let mut sc = SCRATCH.take();
    sc.words.clear();
    std::mem::swap(isa.words(), &mut sc.words);
    let r = compile_unit_with(isa, unit, &mut sc);
    std::mem::swap(isa.words(), &mut sc.words);
    if sc.words.capacity() > KEEP_WORDS {
        sc.words = Vec::new();
    }
    SCRATCH.set(sc);
    r
}

#[inline(always)]
fn compile_unit_with<I: UnitIsa>(
    isa: &mut I,
    unit: &TranslationUnit,
    sc: &mut Scratch,
) -> Result<UnitCode, UnitCodegenError> {
    let Scratch {
        labels,
        fixups,
        indirect_sites,
        st,
        stubs,
        resolved,
        pcs,
        entries: tab,
        saved,
        ..
    } = sc;
    labels.clear();
    labels.resize(unit.blocks.len(), 0);
    fixups.clear();
    indirect_sites.clear();
    stubs.clear();
    resolved.clear();
    // Sized for the common case (at most two fixups per block) so the
    // vectors do not grow while the blocks are emitted.
    fixups.reserve(2 * unit.blocks.len());
    indirect_sites.reserve(unit.blocks.len());
    st.pool_free = 0;
    // The pool is the same for every block: its free mask and positions
    // are computed once per unit.
    for (k, &r) in I::POOL.iter().enumerate() {
        st.pool_free |= 1 << r;
        st.pool_pos[r as usize] = k as u8;
    }
    // Room for the whole unit up front (the blocks' reservations below then
    // rarely grow the buffer, which copies it).
    let most = unit.blocks.iter().map(|b| b.end - b.start).max().unwrap_or(0) as usize;
    reserve_words(
        isa.words(),
        unit.guest_insns as usize * 5 + (most + 1) * I::MAX_OP_WORDS,
    );
    let mut block_insns = 0;
    for (bi, blk) in unit.blocks.iter().enumerate() {
        labels[bi] = isa.words().len();
        let before = isa.words().len();
        let next = unit.blocks.get(bi + 1).map(|b| b.pc);
        let lu = &unit.last_use[unit.last_use_base[bi]..];
        // Room for every record and the terminator: the emitters write
        // without a capacity check (see `put_word`).
        let records = (blk.end - blk.start) as usize;
        reserve_words(isa.words(), (records + 1) * I::MAX_OP_WORDS);
        block(
            isa,
            blk,
            lu,
            unit,
            next,
            st,
            fixups,
            indirect_sites,
        )?;
        block_insns += isa.words().len() - before;
    }
    // Exit stubs, one per distinct (pc, code).
    // Few distinct exit pcs per unit: a linear scan beats hashing.
    resolved.reserve(fixups.len() + unit.entries.len() + indirect_sites.len() + 2);
    for (f, t) in fixups.drain(..) {
        let target = match t {
            Target::Block(i) => labels[i],
            Target::Exit(pc) => match stubs.iter().find(|s| s.0 == pc) {
                Some(s) => s.1,
                None => {
                    reserve_words(isa.words(), I::MAX_OP_WORDS);
                    let at = isa.words().len();
                    let [s0, _] = I::SCRATCH;
                    isa.mov_imm(s0, pc);
                    isa.st_state(s0, offsets::PC);
                    isa.ret_code(exit_code::CHAIN);
                    stubs.push((pc, at));
                    at
                }
            },
        };
        resolved.push((f, target));
    }
    // Entry stubs: prologue, then jump to the entry block.
    let mut entries = Vec::with_capacity(unit.entries.len());
    for (_, pc) in &unit.entries {
        reserve_words(isa.words(), I::MAX_OP_WORDS);
        entries.push(isa.words().len() * 4);
        isa.prologue();
        let f = isa.jump();
        let Some(b) = unit.index.get(*pc) else {
            return Err(UnitCodegenError::EntryNotInUnit(*pc));
        };
        resolved.push((f, labels[b]));
    }
    // Indirect jumps: shared dispatcher over the unit's indirect targets.
    let mut code_words = isa.words().len();
    if !indirect_sites.is_empty() {
        let disp = isa.words().len();
        pcs.clear();
        pcs.extend(unit.indirect_targets.iter().map(|&i| unit.blocks[i].pc));
        let hash = table_shape(pcs);
        let bits = hash.bits;
        // The table follows the dispatcher; its word index is patched below.
        let table_at_placeholder = usize::MAX;
        reserve_words(isa.words(), 4 * I::MAX_OP_WORDS);
        let miss = isa.dispatch(table_at_placeholder, hash);
        let miss_at = isa.words().len();
        let [s0, _] = I::SCRATCH;
        isa.st_state(s0, offsets::PC);
        isa.ret_code(exit_code::INDIRECT);
        resolved.push((miss, miss_at));
        for f in indirect_sites.iter() {
            resolved.push((*f, disp));
        }
        // 8-byte align, then the table.
        code_words = isa.words().len();
        reserve_words(isa.words(), 1 + (4usize << bits));
        if isa.words().len() % 2 == 1 {
            put_word(isa.words(), 0);
        }
        let table = isa.words().len();
        tab.clear();
        tab.resize(1 << bits, (u64::MAX, 0u64));
        for &i in &unit.indirect_targets {
            let pc = unit.blocks[i].pc;
            tab[hash.index(pc)] = (pc, labels[i] as u64 * 4);
        }
        for &(pc, off) in tab.iter() {
            for v in [pc, off] {
                // Room reserved above (four words per entry).
                put_word(isa.words(), v as u32);
                put_word(isa.words(), (v >> 32) as u32);
            }
        }
        // Re-emit the dispatcher now that the table position is known
        // (same length: only pc-relative displacements change).
        let end = isa.words().len();
        saved.clear();
        saved.extend_from_slice(&isa.words()[miss_at..end]);
        isa.words().truncate(disp);
        reserve_words(isa.words(), 4 * I::MAX_OP_WORDS);
        let miss2 = isa.dispatch(table, hash);
        debug_assert_eq!(isa.words().len(), miss_at);
        reserve_words(isa.words(), saved.len());
        for &w in saved.iter() {
            put_word(isa.words(), w);
        }
        resolved.retain(|(f, _)| f.at != miss.at);
        resolved.push((miss2, miss_at));
    }
    for (f, target) in resolved.drain(..) {
        isa.patch(f, target);
    }
    let words = isa.words();
    let bytes = words_to_le_bytes(words);
    Ok(UnitCode {
        bytes,
        entries,
        code_len: code_words * 4,
        block_insns,
    })
}

/// The little-endian bytes of `words`: one memcpy on a little-endian host
/// (a per-word loop cost 3 % of unit compilation).
fn words_to_le_bytes(words: &[u32]) -> Vec<u8> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: `u32` has no padding and every byte pattern is a valid
        // `u8`; the slice covers exactly the `words.len() * 4` initialized
        // bytes of `words`, which it borrows; on a little-endian host their
        // in-memory order is the little-endian encoding.
        unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 4) }.to_vec()
    }
    #[cfg(not(target_endian = "little"))]
    {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// Smallest collision-free direct-mapped table shape for `pcs`: sizes
/// from twice the target count upward, shift pairs tried per size.
fn table_shape(pcs: &[u64]) -> TableHash {
    let mut bits = (pcs.len().max(1) * 2).next_power_of_two().trailing_zeros();
    // Most shapes are rejected after a few targets, so each try must be
    // cheap: the occupancy bitmap of a table of up to 64 entries is one
    // register, up to 4096 entries a stack array (a `Vec` resized per try
    // was ~2 % of unit compilation).
    let mut small = [0u64; 64];
    let mut big: Vec<u64> = Vec::new();
    loop {
        let words = (1usize << bits).div_ceil(64);
        for a in 0..4 {
            for b in (a + 1)..24 {
                let h = TableHash { a, b, bits };
                let ok = if words == 1 {
                    let mut seen = 0u64;
                    pcs.iter().all(|&pc| {
                        let bit = 1u64 << h.index(pc);
                        let fresh = seen & bit == 0;
                        seen |= bit;
                        fresh
                    })
                } else {
                    let seen = if words <= small.len() {
                        &mut small[..words]
                    } else {
                        big.resize(words, 0);
                        &mut big[..]
                    };
                    seen.fill(0);
                    pcs.iter().all(|&pc| {
                        let i = h.index(pc);
                        let fresh = seen[i / 64] & (1 << (i % 64)) == 0;
                        seen[i / 64] |= 1 << (i % 64);
                        fresh
                    })
                };
                if ok {
                    return h;
                }
            }
        }
        bits += 1;
    }
}

/// Temps a block can have: the records name them in 16 bits.
const TEMPS: usize = 1 << 16;

#[derive(Default)]
struct AllocState {
    /// Location of each temp (see [`loc`]); entries from the block's temp
    /// count up are stale. `TEMPS` long once the first block is compiled
    /// (empty before, so that a default `Scratch` costs nothing): `block`
    /// views it as a fixed-size array, which a record's 16-bit temp
    /// indexes without a bounds check.
    loc: Vec<u32>,
    /// Value of each temp whose location is `loc::CONST` (as long as `loc`).
    consts: Vec<u64>,
    /// Position of each host register in the pool (spill tie-break).
    pool_pos: [u8; 32],
    /// `free` at the start of a block: every pool register.
    pool_free: u32,
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<I: UnitIsa>(
    isa: &mut I,
    blk: &UnitBlock,
    lu: &[u32],
    unit: &TranslationUnit,
    next_pc: Option<u64>,
    st: &mut AllocState,
    fixups: &mut Vec<(Fixup, Target)>,
    indirect: &mut Vec<Fixup>,
) -> Result<(), UnitCodegenError> {
    let n = blk.num_temps as usize;
    // Every location starts undefined: spilling scans the block's temps
    // for the register holders, so stale entries must not look live.
    // (At least temp 0, the absent operand.)
    let n = n.max(1);
    assert!(n <= TEMPS, "a block's temps are named in 16 bits");
    if st.loc.len() < TEMPS {
        // Zeroed allocations (calloc: fresh pages the kernel zeroes on
        // first touch, no fill of the 768 KiB); every block initializes
        // the `n` locations it uses (below), constants are written before
        // they are read.
        st.loc = vec![0; TEMPS];
        st.consts = vec![0; TEMPS];
    }
    st.loc[..n].fill(loc::NONE);
    let [s0, s1] = I::SCRATCH;
    let target = |pc: u64| match unit.index.get(pc) {
        Some(i) => Target::Block(i),
        None => Target::Exit(pc),
    };
    // The block's last uses, as long as its locations: one bounds check
    // here lets LLVM drop the per-operand checks of `lu[t]` (dominated by
    // the check of `loc[t]` against the same length).
    let lu = &lu[..n];
    // The allocator's state as locals (see `Ra`).
    let mut al = Ra {
        loc: (&mut st.loc[..TEMPS]).try_into().expect("TEMPS long"),
        consts: (&mut st.consts[..TEMPS]).try_into().expect("TEMPS long"),
        free: st.pool_free,
        slots: 0,
        pool_free: st.pool_free,
        pool_pos: &st.pool_pos,
    };
    // Constants emit no code: their temps are noted before the first op.
    for k in unit.block_consts(blk) {
        al.loc[k.dst as usize] = loc::CONST;
        al.consts[k.dst as usize] = k.val;
    }
    // Temp 0, the absent operand, reads as the zero register (no code;
    // `free_dead` never frees it: it is not in the pool).
    al.loc[0] = I::ZERO as u32;
    // Allocation and emission fused. `u` is the op's index + 1, the
    // encoding of last uses (0: never read).
    for (i, op) in unit.block_ops(blk).iter().enumerate() {
        let u = i as u32 + 1;
        let (dst, a, b) = (op.dst as Temp, op.a as Temp, op.b as Temp);
        match op.kind {
            kind::CONST => {
                al.loc[dst as usize] = loc::CONST;
                al.consts[dst as usize] = op.imm;
            }
            kind::GET => {
                let r = alloc(isa, &mut al, lu, dst, u, blk.pc)?;
                isa.ld_state(r, offsets::GLOBALS + 8 * op.sub as i32);
            }
            kind::SET => {
                let r = use_reg(isa, &al, a, s0);
                isa.st_state(r, offsets::GLOBALS + 8 * op.sub as i32);
                free_dead(&mut al, lu, a, u);
            }
            // `BIN`'s arm as it was; a host without cheaper 32-bit forms
            // (RV64) takes `BIN32` in it too, with a `Zext32` after (a second
            // arm made its loop ~4 % more instructions), one with them
            // (AArch64) gives `BIN32` its own arm, so `BIN` pays nothing.
            kind::BIN | kind::BIN32 if !I::BIN32_ARM || op.kind == kind::BIN => {
                let bop = op.bin_op();
                let ra = use_reg(isa, &al, a, s0);
                let rd = if al.loc[b as usize] == loc::CONST {
                    let v = al.consts[b as usize];
                    free_dead(&mut al, lu, a, u);
                    free_dead(&mut al, lu, b, u);
                    let rd = alloc(isa, &mut al, lu, dst, u, blk.pc)?;
                    if !isa.bin_imm(bop, rd, ra, v) {
                        // rd may alias ra: the constant goes to scratch 1.
                        isa.mov_imm(s1, v);
                        isa.bin(bop, rd, ra, s1);
                    }
                    rd
                } else {
                    let rb = use_reg(isa, &al, b, s1);
                    free_dead(&mut al, lu, a, u);
                    free_dead(&mut al, lu, b, u);
                    let rd = alloc(isa, &mut al, lu, dst, u, blk.pc)?;
                    isa.bin(bop, rd, ra, rb);
                    rd
                };
                if !I::BIN32_ARM && op.kind == kind::BIN32 {
                    isa.un(UnOp::Zext32, rd, rd);
                }
            }
            kind::BIN32 => bin_record(isa, &mut al, lu, op, u, blk.pc, true)?,
            kind::UN => {
                let ra = use_reg(isa, &al, a, s0);
                free_dead(&mut al, lu, a, u);
                let rd = alloc(isa, &mut al, lu, dst, u, blk.pc)?;
                isa.un(op.un_op(), rd, ra);
            }
            kind::SETCOND => {
                let ra = use_reg(isa, &al, a, s0);
                let rb = use_reg(isa, &al, b, s1);
                free_dead(&mut al, lu, a, u);
                free_dead(&mut al, lu, b, u);
                let rd = alloc(isa, &mut al, lu, dst, u, blk.pc)?;
                isa.setcond(op.cond(), rd, ra, rb);
            }
            kind::LOAD => {
                let ra = use_reg(isa, &al, a, s0);
                free_dead(&mut al, lu, a, u);
                let rd = alloc(isa, &mut al, lu, dst, u, blk.pc)?;
                isa.load(rd, ra, op.off(), op.width(), op.signed());
            }
            kind::STORE => {
                let ra = use_reg(isa, &al, a, s0);
                let rs = use_reg(isa, &al, b, s1);
                isa.store(rs, ra, op.off(), op.width());
                free_dead(&mut al, lu, a, u);
                free_dead(&mut al, lu, b, u);
            }
            // Dead ops (kind::NOP) emit nothing.
            _ => {}
        }
    }
    match blk.term {
        Terminator::Jump(pc) => {
            if Some(pc) != next_pc || !unit.index.contains(pc) {
                let f = isa.jump();
                fixups.push((f, target(pc)));
            }
        }
        Terminator::Branch {
            cond,
            a,
            b,
            taken,
            fallthrough,
        } => {
            let ra = use_reg(isa, &al, a, s0);
            let imm = if al.loc[b as usize] == loc::CONST {
                isa.branch_imm(cond, ra, al.consts[b as usize])
            } else {
                None
            };
            let f = match imm {
                Some(f) => f,
                None => {
                    let rb = use_reg(isa, &al, b, s1);
                    isa.branch(cond, ra, rb)
                }
            };
            fixups.push((f, target(taken)));
            if Some(fallthrough) != next_pc || !unit.index.contains(fallthrough) {
                let f = isa.jump();
                fixups.push((f, target(fallthrough)));
            }
        }
        Terminator::JumpIndirect(t) => {
            let r = use_reg(isa, &al, t, s0);
            if r != s0 {
                isa.mov(s0, r);
            }
            let f = isa.jump();
            indirect.push(f);
        }
        Terminator::Syscall { pc, next_pc } => {
            isa.mov_imm(s0, next_pc);
            isa.st_state(s0, offsets::PC);
            isa.mov_imm(s0, pc);
            isa.st_state(s0, offsets::EXIT_ARG);
            isa.ret_code(exit_code::SYSCALL);
        }
        Terminator::Breakpoint { pc } => {
            isa.mov_imm(s0, pc);
            isa.st_state(s0, offsets::PC);
            isa.ret_code(exit_code::BREAKPOINT);
        }
        Terminator::Interpret { pc } => {
            isa.mov_imm(s0, pc);
            isa.st_state(s0, offsets::PC);
            isa.ret_code(exit_code::INTERPRET);
        }
        Terminator::Helper { pc, .. } => return Err(UnitCodegenError::HelperCall(pc)),
    }
    Ok(())
}

/// A `BIN` (`w32` false) or `BIN32` record (`w32` true: the result's low
/// 32 bits zero-extended).
#[inline(always)]
fn bin_record<I: UnitIsa>(
    isa: &mut I,
    al: &mut Ra,
    lu: &[u32],
    op: &UnitOp,
    u: u32,
    pc: u64,
    w32: bool,
) -> Result<(), UnitCodegenError> {
    let [s0, s1] = I::SCRATCH;
    let (dst, a, b) = (op.dst as Temp, op.a as Temp, op.b as Temp);
    let bop = op.bin_op();
    let ra = use_reg(isa, al, a, s0);
    if al.loc[b as usize] == loc::CONST {
        let v = al.consts[b as usize];
        free_dead(al, lu, a, u);
        free_dead(al, lu, b, u);
        let rd = alloc(isa, al, lu, dst, u, pc)?;
        if !isa.bin_imm_w(bop, w32, rd, ra, v) {
            // rd may alias ra: the constant goes to scratch 1.
            isa.mov_imm(s1, v);
            isa.bin_w(bop, w32, rd, ra, s1);
        }
    } else {
        let rb = use_reg(isa, al, b, s1);
        free_dead(al, lu, a, u);
        free_dead(al, lu, b, u);
        let rd = alloc(isa, al, lu, dst, u, pc)?;
        isa.bin_w(bop, w32, rd, ra, rb);
    }
    Ok(())
}

/// The allocator's per-block state, held in `block`'s locals: with the
/// free mask in a struct that the out-of-line paths received by
/// reference, every update of it was a store and a reload (three store-
/// to-load chains per record).
struct Ra<'a> {
    /// Location of each temp of the block (see [`loc`]).
    loc: &'a mut [u32; TEMPS],
    /// Value of each temp whose location is `loc::CONST`.
    consts: &'a mut [u64; TEMPS],
    /// Bit r set: pool register r is free.
    free: u32,
    /// Spill slots in use.
    slots: usize,
    /// Every pool register.
    pool_free: u32,
    /// Position of each host register in the pool (spill tie-break).
    pool_pos: &'a [u8; 32],
}

#[inline(always)]
fn use_reg<I: UnitIsa>(isa: &mut I, al: &Ra, t: Temp, scratch: u8) -> u8 {
    let l = al.loc[t as usize];
    if l < 32 {
        return l as u8;
    }
    use_non_reg(isa, al.consts, t, l, scratch)
}

/// [`use_reg`] for a constant, spilled or (never, in SSA) undefined temp.
#[inline(always)]
fn use_non_reg<I: UnitIsa>(isa: &mut I, consts: &[u64], t: Temp, l: u32, scratch: u8) -> u8 {
    match l {
        loc::CONST => match consts[t as usize] {
            0 => I::ZERO,
            v => {
                isa.mov_imm(scratch, v);
                scratch
            }
        },
        // An SSA temp is always defined before use; a zero keeps this total.
        loc::NONE => I::ZERO,
        _ => {
            isa.reload(scratch, (l - loc::SLOT) as usize);
            scratch
        }
    }
}

/// Frees `t`'s register if the op with last-use number `u` (index + 1)
/// is its last use. Its location is left
/// as is: a dead temp is never read again, and spilling only considers
/// temps used after the current op.
#[inline(always)]
fn free_dead(al: &mut Ra, lu: &[u32], t: Temp, u: u32) {
    let l = al.loc[t as usize];
    // Branch-free: whether an operand dies here is unpredictable (this
    // trades ~4 instructions per operand for ~0.25 mispredicted branches
    // per op in callgrind's branch simulation).
    let dead = (lu[t as usize] == u) & (l < 32);
    // Masked with the pool: temp 0's zero register is never freed.
    al.free |= ((dead as u32) << (l & 31)) & al.pool_free;
}

/// A register for the new temp `t` at the op with last-use number `u`: the lowest free one, or one
/// freed by spilling (the rare case, kept out of line so the common path
/// inlines).
#[inline(always)]
fn alloc<I: UnitIsa>(
    isa: &mut I,
    al: &mut Ra,
    lu: &[u32],
    t: Temp,
    u: u32,
    pc: u64,
) -> Result<u8, UnitCodegenError> {
    let r = match al.free {
        0 => {
            let r;
            (r, al.slots) = spill_furthest::<I>(al.loc, lu, al.pool_pos, al.slots, u, pc)?;
            // The victim's old register goes to slot `slots - 1`.
            isa.spill(r, al.slots - 1);
            r
        }
        free => free.trailing_zeros() as u8,
    };
    al.free &= !(1 << r);
    al.loc[t as usize] = r as u32;
    Ok(r)
}

/// Picks the register-held value used furthest in the future (ties: the
/// register latest in the pool), moves its location to slot `slots` and
/// returns its register and the slots now in use; the caller emits the
/// spill store. By value, without the emitter: no address of the
/// allocator's state or of the emitter escapes, so both stay in registers.
#[cold]
#[inline(never)]
fn spill_furthest<I: UnitIsa>(
    loc: &mut [u32],
    lu: &[u32],
    pool_pos: &[u8; 32],
    slots: usize,
    u: u32,
    pc: u64,
) -> Result<(u8, usize), UnitCodegenError> {
    // Live register holders: in a register and read after the current op
    // (a temp whose last use is this op already gave its register back).
    let victim = loc
        .iter()
        .zip(lu)
        .enumerate()
        // Temp 0 is the zero register, not a holder.
        .skip(1)
        .filter(|(_, (&l, &v))| l < 32 && v > u)
        .max_by_key(|(_, (&l, &v))| (v, pool_pos[l as usize]))
        .map(|(t, _)| t)
        .expect("no free register means every pool register has a live holder");
    if slots >= I::SLOTS {
        return Err(UnitCodegenError::TooManySpills(pc));
    }
    let r = loc[victim] as u8;
    loc[victim] = loc::SLOT + slots as u32;
    Ok((r, slots + 1))
}

#[cfg(test)]
mod table_shape_tests {
    use super::{table_shape, TableHash};

    /// The reference search (one bitmap `Vec` per try).
    fn reference(pcs: &[u64]) -> TableHash {
        let mut bits = (pcs.len().max(1) * 2).next_power_of_two().trailing_zeros();
        loop {
            for a in 0..4 {
                for b in (a + 1)..24 {
                    let h = TableHash { a, b, bits };
                    let mut seen = vec![false; 1 << bits];
                    if pcs.iter().all(|&pc| !std::mem::replace(&mut seen[h.index(pc)], true)) {
                        return h;
                    }
                }
            }
            bits += 1;
        }
    }

    /// Same shape as the reference for tables of one word, a few words
    /// and more than the stack array holds, and collision-free.
    #[test]
    fn table_shape_matches_the_reference_search() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in [0usize, 1, 2, 5, 17, 31, 32, 33, 100, 700, 3000] {
            for align in [1u64, 4, 16] {
                let pcs: Vec<u64> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        0x40_0000 + (x % 0x10_0000) / align * align
                    })
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let h = table_shape(&pcs);
                assert_eq!(h, reference(&pcs), "{n} pcs aligned {align}");
                let mut idx: Vec<usize> = pcs.iter().map(|&pc| h.index(pc)).collect();
                idx.sort_unstable();
                idx.dedup();
                assert_eq!(idx.len(), pcs.len());
            }
        }
    }
}

/// Disassembly through binutils' objdump: the independent oracle for the
/// encoders. Absent tools make the tests print a visible SKIP line.
#[cfg(test)]
pub(crate) mod objdump {
    use std::process::Command;

    /// Disassembles `words` with `tool -m machine`; None if the tool is missing.
    pub fn disassemble(tool: &str, machine: &str, words: &[u32]) -> Option<Vec<String>> {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!("SKIP: {tool} not installed; encoding oracle not run");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "vm-objdump-{}-{}",
            std::process::id(),
            words.len() ^ (words.first().copied().unwrap_or(0) as usize)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("code-{machine}.bin"));
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let out = Command::new(tool)
            .args(["-D", "-b", "binary", "-m", machine, "-M", "no-aliases"])
            .arg(&path)
            .output()
            .expect("objdump runs");
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8_lossy(&out.stdout);
        let lines = text
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '\t');
                let addr = parts.next()?;
                if !addr.trim_end().ends_with(':') {
                    return None;
                }
                let _hex = parts.next()?;
                let asm = parts.next()?;
                let asm = asm.split("//").next().unwrap_or(asm);
                let asm = asm.split(" # ").next().unwrap_or(asm);
                let asm = asm.split('<').next().map(str::trim).unwrap_or(asm);
                let asm = asm.split_whitespace().collect::<Vec<_>>().join(" ");
                Some(asm.replace(", ", ","))
            })
            .collect();
        Some(lines)
    }
}
