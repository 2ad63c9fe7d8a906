//! Lowering: IR ops and terminators to x86-64 instructions (through
//! `dynasm`), the self-loop back edge, exits to the dispatcher, chain
//! sites, and the out-of-line stubs emitted after the block body.

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, VecAssembler};

use super::analysis::{access_runs, AccessPlan, MAX_CARRIED};
use super::backend::{ChainSite, Fixups};
use super::regalloc::{Loc, Opnd, WbSrc, R15, RAX, RDX};
use super::softmmu::{MissStub, ProbeAddr, SlotStub};
use crate::backend::{exit_code, CodegenError};
use crate::ir::{BinOp, Cond, IrBlock, IrOp, Temp, Terminator, UnOp, Width};
use crate::mmu::tlb::entry_offsets as tlb_off;
use crate::mmu::AccessType;
use crate::state::{offsets as off, JMP_CACHE_ENTRIES};

/// Out-of-line exit of a load or store that faulted, hit a code page, or
/// (softmmu) was declined by the TLB miss handler.
#[derive(Clone, Copy)]
pub(super) struct FaultStub {
    pub(super) label: dynasmrt::DynamicLabel,
    pub(super) pc: u64,
    pub(super) next_pc: u64,
    pub(super) uncount: u64,
    /// Quantum units to refund (see [`SideStub::refund`]).
    pub(super) refund: u32,
    pub(super) code: u64,
    /// Register holding the guest address at the exit.
    pub(super) addr_reg: u8,
    /// Deferred globals to write back: range in `Scratch::wb`.
    pub(super) wb: (u32, u32),
}

/// Out-of-line exact code-map check of a flat store whose page or the
/// next holds code (rcx = the store's page index on entry).
#[derive(Clone, Copy)]
pub(super) struct MapCheck {
    pub(super) check: dynasmrt::DynamicLabel,
    pub(super) back: dynasmrt::DynamicLabel,
    pub(super) smc: dynasmrt::DynamicLabel,
    /// Register holding the store's guest address.
    pub(super) addr_reg: u8,
    /// Offset of the store's last byte.
    pub(super) last: i32,
}

/// Out-of-line path of a superblock side exit taken: deferred globals
/// written back, the instructions after the branch uncounted and the
/// quantum units of the basic blocks after it refunded (the head charges
/// one per basic block: each is a block of its own for `Vm::run_blocks`
/// and the instruction budget), then a chainable jump to the branch
/// target.
#[derive(Clone, Copy)]
pub(super) struct SideStub {
    pub(super) label: dynasmrt::DynamicLabel,
    pub(super) target: u64,
    /// Quantum units charged at the head for basic blocks that did not run.
    pub(super) refund: u32,
    pub(super) uncount: u32,
    /// Deferred globals to write back: range in `Scratch::wb`.
    pub(super) wb: (u32, u32),
}

/// Out-of-line exit of a direct jump not chained yet.
#[derive(Clone, Copy)]
pub(super) struct ChainStub {
    pub(super) label: dynasmrt::DynamicLabel,
    pub(super) target: u64,
    /// Offset in the assembler of the end of the jump whose rel32 is patched.
    pub(super) jump_end: usize,
}

/// State of code generation for one block: the assembler, where every
/// temp lives (see `regalloc`), the analysis results (see `analysis`) and
/// the stubs to emit after the body.
pub(super) struct Codegen<'b> {
    pub(super) b: &'b IrBlock,
    /// The backend's assembler, taken out of [`Scratch`] for the block
    /// (by value: every emitted byte goes through it, and behind a
    /// reference its length and buffer would be reloaded after each byte
    /// store) and put back by `X64Backend::lower`.
    pub(super) asm: VecAssembler<X64Relocation>,
    // The rest of the reusable state, borrowed field by field from
    // [`Scratch`] (see its docs): starting a block moves nothing, and the
    // per-temp tables are slices a single load away.
    pub(super) loc: &'b mut [Loc],
    pub(super) last_use: &'b mut [u32],
    pub(super) home: &'b mut [Option<u8>],
    pub(super) range: &'b mut [u8],
    pub(super) holder: &'b mut [Option<Temp>],
    pub(super) cur_val: &'b mut [Option<Temp>],
    pub(super) faults: &'b mut Vec<FaultStub>,
    pub(super) chains: &'b mut Vec<ChainStub>,
    pub(super) wb: &'b mut Vec<(u8, WbSrc)>,
    pub(super) quantum_stubs: &'b mut Vec<(dynasmrt::DynamicLabel, (u32, u32))>,
    pub(super) carried: &'b mut Vec<(u8, Temp, Temp)>,
    pub(super) misses: &'b mut Vec<MissStub>,
    pub(super) plans: &'b mut Vec<AccessPlan>,
    pub(super) slot_stubs: &'b mut Vec<SlotStub>,
    pub(super) loop_slots: &'b mut Vec<(i32, u8)>,
    pub(super) fixups: &'b mut Option<Fixups>,
    pub(super) base: usize,
    pub(super) exit: usize,
    pub(super) region_base: usize,
    pub(super) reg_temp: [Option<Temp>; 16],
    pub(super) pinned: u16,
    pub(super) free_slots: u64,
    pub(super) sites: Vec<ChainSite>,
    pub(super) cur: u32,
    /// Start of the loop body, after the entry loads of carried globals.
    pub(super) body: Option<dynasmrt::DynamicLabel>,
    /// Head register of each carried global (same order as `Scratch::carried`).
    pub(super) head_regs: [u8; MAX_CARRIED],
    /// (end-of-body temp, head register) of each carried global the loop
    /// writes: the first `n_tails` entries. The allocator defines the temp
    /// in that register when it can (no move on the back edge).
    pub(super) tail_regs: [(Temp, u8); MAX_CARRIED],
    pub(super) n_tails: usize,
    /// A shift left by 1..=3 not emitted because its only use, an `Add`
    /// a few ops on, takes it as the scaled index of an `lea`:
    /// (shifted temp, source temp, shift).
    pub(super) fused: Option<(Temp, Temp, u8)>,
    /// Head registers (bit per register) kept for their end-of-body values:
    /// other temps take them only when no other register is free.
    pub(super) reserved: u16,
    /// Registers (bit per register) holding a loop-invariant host base
    /// (see [`Codegen::host_base`]): never allocated, pinned on every op.
    pub(super) held: u16,
    /// Flat self-loop: (head temp of a global the loop never changes,
    /// register holding `r15 +` its value), set up before the loop body.
    /// A load from `base + (index << k)` then addresses the host byte as
    /// `[host_base + index * 2^k]`: the load no longer waits for the
    /// guest address `lea`, which only feeds the bounds check.
    pub(super) host_base: Option<(Temp, u8)>,
    /// The load that uses [`Codegen::host_base`]: (op index, index temp,
    /// scale as a shift 1..=3).
    pub(super) indexed_load: Option<(u32, Temp, u8)>,
    /// Carried globals whose writes stay in registers until the block is
    /// left (bit per global); exits write them back.
    pub(super) deferred: u64,
    /// Softmmu mode: address of the shared TLB-miss routine.
    pub(super) softmmu: Option<usize>,
    /// The last `Xor`/`Or` computed as a byte operation (its register holds
    /// the low byte of its value only; see `byte_op`).
    pub(super) byte_masked: Option<Temp>,
    /// Out-of-line code-map checks of this block's stores.
    pub(super) map_checks: Vec<MapCheck>,
    /// Taken paths of this block's side exits.
    pub(super) side_exits: Vec<SideStub>,
    /// The last extension lowered as a copy (see `ext_only_masked`): its
    /// value is its operand's, not extended.
    pub(super) ext_copied: Option<Temp>,
    /// Basic blocks in the block (1 + its side exits): the head charges
    /// the quantum this many units.
    pub(super) segments: u32,
    /// Side exits lowered so far.
    pub(super) segs_done: u32,
    /// Superblock head with fewer quantum units left than `segments`:
    /// (label, quantum exit label, write-back range).
    pub(super) head_slow: Option<(dynasmrt::DynamicLabel, dynasmrt::DynamicLabel, (u32, u32))>,
    /// A superblock that is no self-loop: the head checks that the quantum
    /// has a unit for each basic block but charges (and counts the
    /// instructions of) the first only, each side exit's fall-through path
    /// the next, and a side exit is one `jcc` to its chain site (nothing to
    /// fix up when taken: a forward branch taken half the time, as in
    /// qsort's partition, costs no more than as a block end). A self-loop
    /// charges everything at its head instead (no instruction per side
    /// exit on its hot path) and fixes up taken exits out of line.
    pub(super) direct_exits: bool,
    /// End (instruction index, exclusive) of each basic block of the block.
    pub(super) seg_ends: [u32; 8],
}

/// [`Codegen::range`] bit: the value equals the sign extension of its low
/// 32 bits (a `Sext32` of it is a plain copy).
pub(super) const SEXT32: u8 = 1;
/// [`Codegen::range`] bit: the value is below 2^32 (a `Zext32` of it is a
/// plain copy). Both bits: the value is in `0..2^31`.
pub(super) const ZEXT32: u8 = 2;
/// [`Codegen::range`] bit: the value is below 2^8 (an `And` of it with a
/// mask whose low byte is all ones is a plain copy).
pub(super) const ZEXT8: u8 = 4;

/// `d = load(width, signed)` from a memory operand given as dynasm tokens.
macro_rules! load {
    ($cg:expr, $width:expr, $signed:expr, $d:expr, [$($mem:tt)*]) => {
        match ($width, $signed) {
            (Width::W8, true) => asm!($cg.asm; movsx Rq($d), BYTE [$($mem)*]),
            (Width::W8, false) => asm!($cg.asm; movzx Rd($d), BYTE [$($mem)*]),
            (Width::W16, true) => asm!($cg.asm; movsx Rq($d), WORD [$($mem)*]),
            (Width::W16, false) => asm!($cg.asm; movzx Rd($d), WORD [$($mem)*]),
            (Width::W32, true) => asm!($cg.asm; movsxd Rq($d), DWORD [$($mem)*]),
            (Width::W32, false) => asm!($cg.asm; mov Rd($d), DWORD [$($mem)*]),
            (Width::W64, _) => asm!($cg.asm; mov Rq($d), QWORD [$($mem)*]),
        }
    };
}

/// `mem[..] = val` (an [`Opnd`]) of `width`, the memory operand given as
/// dynasm tokens.
macro_rules! store {
    ($cg:expr, $width:expr, $val:expr, [$($mem:tt)*]) => {
        match ($width, $val) {
            (Width::W8, Opnd::Imm(v)) => asm!($cg.asm; mov BYTE [$($mem)*], v as i8),
            (Width::W16, Opnd::Imm(v)) => asm!($cg.asm; mov WORD [$($mem)*], v as i16),
            (Width::W32, Opnd::Imm(v)) => asm!($cg.asm; mov DWORD [$($mem)*], v),
            (Width::W64, Opnd::Imm(v)) => asm!($cg.asm; mov QWORD [$($mem)*], v),
            (Width::W8, Opnd::Reg(r)) => asm!($cg.asm; mov BYTE [$($mem)*], Rb(r)),
            (Width::W16, Opnd::Reg(r)) => asm!($cg.asm; mov WORD [$($mem)*], Rw(r)),
            (Width::W32, Opnd::Reg(r)) => asm!($cg.asm; mov DWORD [$($mem)*], Rd(r)),
            (Width::W64, Opnd::Reg(r)) => asm!($cg.asm; mov QWORD [$($mem)*], Rq(r)),
        }
    };
}

pub(super) fn fits_i32(v: u64) -> bool {
    (v as i64) >= i32::MIN as i64 && (v as i64) <= i32::MAX as i64
}

/// Encoding of `mov QWORD [rbp + disp32], imm32` when `v` fits a
/// sign-extended imm32, else `mov rcx, imm64 ; mov [rbp + disp32], rcx`:
/// the bytes dynasm emits for the same instructions (a runtime
/// displacement is always a disp32), built in one array so that stubs
/// append them in one copy instead of a capacity-checked push per byte.
pub(super) fn store_imm_bytes(disp: i32, v: u64) -> ([u8; 17], usize) {
    let mut b = [0u8; 17];
    let d = disp.to_le_bytes();
    if fits_i32(v) {
        b[..3].copy_from_slice(&[0x48, 0xc7, 0x85]);
        b[3..7].copy_from_slice(&d);
        b[7..11].copy_from_slice(&(v as i32).to_le_bytes());
        (b, 11)
    } else {
        b[..2].copy_from_slice(&[0x48, 0xb9]);
        b[2..10].copy_from_slice(&v.to_le_bytes());
        b[10..13].copy_from_slice(&[0x48, 0x89, 0x8d]);
        b[13..17].copy_from_slice(&d);
        (b, 17)
    }
}

/// Encoding of `mov eax, code ; jmp rel32` (see [`Codegen::exit_with`]).
pub(super) fn exit_bytes(code: u64, rel: i32) -> [u8; 10] {
    let mut b = [0u8; 10];
    b[0] = 0xb8;
    b[1..5].copy_from_slice(&(code as i32).to_le_bytes());
    b[5] = 0xe9;
    b[6..10].copy_from_slice(&rel.to_le_bytes());
    b
}

impl<'b> Codegen<'b> {
    pub(super) fn global_off(g: u8) -> i32 {
        off::GLOBALS + 8 * g as i32
    }

    /// Stores a 64-bit immediate to `[rbp + disp]` (clobbers rcx for wide values).
    pub(super) fn store_imm(&mut self, disp: i32, v: u64) {
        let (bytes, len) = store_imm_bytes(disp, v);
        self.asm.extend(&bytes[..len]);
    }

    pub(super) fn mov_imm(&mut self, r: u8, v: u64) {
        if v == 0 {
            asm!(self.asm; xor Rd(r), Rd(r));
        } else if v <= u32::MAX as u64 {
            asm!(self.asm; mov Rd(r), v as i32);
        } else if fits_i32(v) {
            asm!(self.asm; mov Rq(r), v as i32);
        } else {
            asm!(self.asm; mov Rq(r), QWORD v as i64);
        }
    }

    /// Carried-global index of an invariant loop value worth a host base
    /// register (see [`Codegen::host_base`]): the base operand of an `Add`
    /// whose other operand is a shift left and whose result is the address
    /// (no displacement) of a load a few ops on. Flat mode only (softmmu
    /// loads are relative to a per-page addend), and only with a register
    /// to spare.
    fn host_base_candidate(&self) -> Option<usize> {
        if self.softmmu.is_some() || self.carried.len() >= MAX_CARRIED {
            return None;
        }
        let ops = &self.b.ops;
        for (j, op) in ops.iter().enumerate() {
            let IrOp::Bin {
                op: BinOp::Add,
                dst,
                a,
                b,
            } = *op
            else {
                continue;
            };
            let loaded = ops[j + 1..].iter().take(4).any(
                |o| matches!(*o, IrOp::Load { addr, off: 0, .. } if addr == dst),
            );
            if !loaded {
                continue;
            }
            for (h, s) in [(a, b), (b, a)] {
                let invariant = self
                    .carried
                    .iter()
                    .position(|&(_, head, tail)| head == h && tail == h);
                let shifted = ops[..j]
                    .iter()
                    .any(|o| matches!(*o, IrOp::Bin { op: BinOp::Shl, dst, .. } if dst == s));
                if invariant.is_some() && shifted && h != s {
                    return invariant;
                }
            }
        }
        None
    }

    pub(super) fn block(&mut self) -> Result<(), CodegenError> {
        let b = self.b;
        if self.softmmu.is_none() {
            // Flat mode checks runs of accesses through one base once.
            access_runs(b, self.plans, false);
        }
        let quantum = self.asm.new_dynamic_label();
        let n = b.insn_count as i32;
        // At most 1 + MAX_SIDE_EXITS (the frontend's bound): an imm8.
        debug_assert!(self.segments < 64, "{} basic blocks", self.segments);
        let k = self.segments as i32;
        if self.direct_exits {
            let slow = self.asm.new_dynamic_label();
            let n0 = self.seg_ends[0] as i32;
            asm!(self.asm;
                cmp r13, BYTE k
                ; jb =>slow
                ; sub r13, 1
                ; add r12, n0
            );
            // (r13 unchanged: the stub charges it.)
            self.head_slow = Some((slow, quantum, (0, 0)));
        } else if self.carried.is_empty() {
            let mut q = quantum;
            if k > 1 {
                q = self.asm.new_dynamic_label();
                let wb = self.snapshot_deferred();
                self.head_slow = Some((q, quantum, wb));
            }
            asm!(self.asm;
                sub r13, BYTE k as i8
                ; jb =>q
                ; add r12, n
            );
        } else {
            // Carried globals live in fixed registers at the loop head; the
            // back edge moves the new values there instead of going through
            // the CPU state (store-to-load forwarding on the critical path).
            for k in 0..self.carried.len() {
                let (g, head, _) = self.carried[k];
                let r = self.alloc()?;
                self.head_regs[k] = r;
                let d = Self::global_off(g);
                asm!(self.asm; mov Rq(r), [rbp + d]);
                self.bind(head, r);
                if self.deferred & (1 << g) != 0 {
                    // The CPU-state slot goes stale after the first iteration:
                    // no free eviction to it.
                    self.cur_val[g as usize] = Some(head);
                } else {
                    self.home[head as usize] = Some(g);
                    self.holder[g as usize] = Some(head);
                }
            }
            if let Some(k) = self.host_base_candidate() {
                // rdx is excluded: wide multiplies and divisions write it.
                if let Some(r) = self.free_reg().filter(|&r| r != RDX) {
                    let h = self.head_regs[k];
                    asm!(self.asm; lea Rq(r), [r15 + Rq(h)]);
                    self.held |= 1 << r;
                    self.host_base = Some((self.carried[k].1, r));
                }
            }
            for k in 0..self.carried.len() {
                let (_, head, tail) = self.carried[k];
                if head != tail
                    && self.loc[tail as usize] == Loc::None
                    && !self.tail_regs[..self.n_tails].iter().any(|e| e.0 == tail)
                {
                    let r = self.head_regs[k];
                    self.tail_regs[self.n_tails] = (tail, r);
                    self.n_tails += 1;
                    self.reserved |= 1 << r;
                }
            }
            if self.softmmu.is_some() {
                *self.loop_slots = self.loop_slot_sites();
                for i in 0..self.loop_slots.len() {
                    let (slot, reg) = self.loop_slots[i];
                    asm!(self.asm; mov Rq(reg), [rbp + slot + 8]);
                }
            }
            // Softmmu loop bodies start on a 64-byte boundary (an op-cache
            // line): their tight loops otherwise ran at the mercy of where
            // the block happened to land (matmul +19 % .. +46 % against flat
            // between builds differing only in unrelated code size). Flat
            // blocks stay unaligned: aligning them measured 5-7 % slower on
            // sieve and strings.
            if self.softmmu.is_some() {
                self.align_to(64);
            }
            // The loop is rotated: the quantum check and instruction count
            // head the body, so the back edge is one jump (for a
            // conditional loop, one conditional jump: see `terminator`)
            // and the first iteration shares the check.
            let body = self.asm.new_dynamic_label();
            asm!(self.asm; =>body);
            self.body = Some(body);
            let mut q = quantum;
            if self.deferred != 0 {
                // Leaving at the quantum must first write the deferred
                // globals back (at the head they are in their head registers).
                q = self.asm.new_dynamic_label();
                let wb = self.snapshot_deferred();
                self.quantum_stubs.push((q, wb));
            }
            if k > 1 {
                let slow = self.asm.new_dynamic_label();
                let wb = self.snapshot_deferred();
                self.head_slow = Some((slow, q, wb));
                q = slow;
            }
            asm!(self.asm;
                sub r13, BYTE k as i8
                ; jb =>q
                ; add r12, n
            );
        }
        for (i, op) in b.ops.iter().enumerate() {
            self.cur = i as u32;
            self.pinned = self.held;
            self.op(op)?;
            self.finish_op(op);
        }
        self.cur = b.ops.len() as u32;
        self.pinned = self.held;
        self.terminator()?;
        // Out-of-line stubs.
        if let Some((slow, q, wb)) = self.head_slow {
            // Fewer units left than basic blocks: none (the usual quantum
            // exit) or some, of which the dispatcher spends one
            // interpreting the first basic block.
            asm!(self.asm; =>slow);
            if !self.direct_exits {
                asm!(self.asm; add r13, BYTE k as i8);
            }
            asm!(self.asm; sub r13, 1 ; jb =>q);
            self.emit_write_back(wb);
            self.store_imm(off::PC, b.pc);
            self.exit_with(exit_code::INTERPRET_BLOCK);
        }
        for i in 0..self.quantum_stubs.len() {
            let (label, wb) = self.quantum_stubs[i];
            asm!(self.asm; =>label);
            self.emit_write_back(wb);
            asm!(self.asm; xor r13d, r13d);
            self.store_imm(off::PC, b.pc);
            self.exit_with(exit_code::QUANTUM);
        }
        asm!(self.asm; =>quantum ; xor r13d, r13d);
        self.store_imm(off::PC, b.pc);
        self.exit_with(exit_code::QUANTUM);
        for i in 0..self.slot_stubs.len() {
            let f = self.slot_stubs[i];
            let last = f.disp + f.len as i32 - 1;
            asm!(self.asm;
                =>f.full
                ; lea rcx, [Rq(f.base) + f.disp]
                ; shr rcx, (12 - tlb_off::SHIFT) as i8
                ; and rcx, [rbp + off::TLB_MASK]
                ; add rcx, [rbp + off::TLB_BASE]
                ; lea rax, [Rq(f.base) + last]
                ; and rax, -4096
                ; cmp rax, [rcx + f.tag]
                ; jne =>f.miss
                ; mov Rq(f.reg), [rcx + tlb_off::ADDEND]
                ; mov [rbp + f.slot], rax
                ; mov [rbp + f.slot + 8], Rq(f.reg)
                ; jmp =>f.back
            );
        }
        for i in 0..self.misses.len() {
            let m = self.misses[i];
            asm!(self.asm; =>m.label);
            match m.at {
                ProbeAddr::Reg { base, disp } => asm!(self.asm; lea r15, [Rq(base) + disp]),
                ProbeAddr::Imm(v) => asm!(self.asm; mov r15, QWORD v as i64),
            }
            asm!(self.asm; mov ecx, m.info as i32);
            let routine = self.softmmu.expect("miss stubs only in softmmu mode");
            // dynasm has no x64 extern relocations: encode `call rel32` by hand.
            let end = self.base + self.asm.offset().0 + 5;
            self.asm.push(0xe8);
            self.asm.push_i32((routine as i64 - end as i64) as i32);
            asm!(self.asm; test ecx, ecx ; jnz =>m.replay);
            if let (Some(slot), ProbeAddr::Reg { base, disp }) = (m.fill_slot, m.at) {
                // The handler served the access: r15 translates its first
                // page (for a split access, both pages: equal addends).
                asm!(self.asm;
                    lea rax, [Rq(base) + disp]
                    ; and rax, -4096
                    ; mov [rbp + slot], rax
                    ; mov [rbp + slot + 8], r15
                );
            }
            if m.reg != R15 {
                // The site keeps its addend in another register; r15 goes
                // back to the loop's r15 site (its slot agrees with it).
                asm!(self.asm; mov Rq(m.reg), r15);
                if let Some(r15_slot) = self.loop_slots.iter().find(|l| l.1 == R15).map(|l| l.0) {
                    asm!(self.asm; mov r15, [rbp + r15_slot + 8]);
                }
            }
            asm!(self.asm; jmp =>m.back);
            if let Some(reload) = m.reload {
                asm!(self.asm; =>reload ; mov r15, [rcx + tlb_off::ADDEND] ; jmp =>m.back);
            }
        }
        for i in 0..self.map_checks.len() {
            let m = self.map_checks[i];
            asm!(self.asm;
                =>m.check
                ; cmp BYTE [r14 + rcx], 0
                ; jne =>m.smc
                ; lea rcx, [Rq(m.addr_reg) + m.last]
                ; shr rcx, 12
                ; cmp BYTE [r14 + rcx], 0
                ; jne =>m.smc
                ; jmp =>m.back
            );
        }
        for i in 0..self.side_exits.len() {
            let x = self.side_exits[i];
            asm!(self.asm; =>x.label);
            self.emit_write_back(x.wb);
            let (u, r) = (x.uncount as i32, x.refund as i32);
            asm!(self.asm; sub r12, u ; add r13, BYTE r as i8);
            self.chain_jump(x.target, None);
        }
        for i in 0..self.faults.len() {
            let f = self.faults[i];
            asm!(self.asm; =>f.label ; mov [rbp + off::EXIT_ARG], Rq(f.addr_reg));
            self.emit_write_back(f.wb);
            let pc = if f.code == exit_code::CODE_MODIFIED {
                f.next_pc
            } else {
                f.pc
            };
            self.store_imm(off::PC, pc);
            if f.uncount > 0 {
                let u = f.uncount as i32;
                asm!(self.asm; sub r12, u);
            }
            if f.refund > 0 {
                let r = f.refund as i32;
                asm!(self.asm; add r13, BYTE r as i8);
            }
            self.exit_with(f.code);
        }
        for i in 0..self.chains.len() {
            let c = self.chains[i];
            let stub_addr = self.base + self.asm.offset().0;
            asm!(self.asm; =>c.label);
            self.store_imm(off::PC, c.target);
            let patch_addr = self.base + c.jump_end - 4;
            let site = (patch_addr - self.region_base) as i32;
            asm!(self.asm; mov QWORD [rbp + off::EXIT_ARG], site);
            if let Some(f) = self.fixups.as_mut() {
                f.site_imm32.push(self.asm.offset().0 as u32 - 4);
            }
            self.exit_with(exit_code::CHAIN);
            self.sites.push(ChainSite {
                patch_addr,
                stub_addr,
                target_pc: c.target,
            });
        }
        Ok(())
    }

    /// Pads with the recommended multi-byte NOPs up to an `n`-byte aligned
    /// host address (executed once, on entry to the loop).
    pub(super) fn align_to(&mut self, n: usize) {
        const NOPS: [&[u8]; 9] = [
            &[0x90],
            &[0x66, 0x90],
            &[0x0f, 0x1f, 0x00],
            &[0x0f, 0x1f, 0x40, 0x00],
            &[0x0f, 0x1f, 0x44, 0x00, 0x00],
            &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
            &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
            &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
            &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
        ];
        let addr = self.base + self.asm.offset().0;
        let mut pad = (n - addr % n) % n;
        while pad > 0 {
            let k = pad.min(NOPS.len());
            for &byte in NOPS[k - 1] {
                self.asm.push(byte);
            }
            pad -= k;
        }
    }

    /// `mov eax, code ; jmp exit` (the shared exit routine). dynasm has
    /// no x64 extern relocations, so the `jmp rel32` is encoded by hand,
    /// and with it the `mov`: one copy of ten bytes.
    pub(super) fn exit_with(&mut self, code: u64) {
        let start = self.asm.offset().0;
        let rel = self.exit as i64 - (self.base + start + 10) as i64;
        if let Some(f) = self.fixups.as_mut() {
            f.exit_rel32.push(start as u32 + 6);
        }
        self.asm.extend(&exit_bytes(code, rel as i32));
    }

    /// Instructions counted in r12 so far: the whole block's at its head,
    /// or with direct exits, up to the end of the current basic block.
    fn counted(&self) -> u32 {
        if self.direct_exits {
            self.seg_ends[self.segs_done as usize]
        } else {
            self.b.insn_count
        }
    }

    /// Quantum units charged for basic blocks after the current one.
    fn refund(&self) -> u32 {
        if self.direct_exits {
            0
        } else {
            self.segments - 1 - self.segs_done
        }
    }

    pub(super) fn fault_label(
        &mut self,
        loc: crate::ir::GuestLoc,
        code: u64,
        modified: bool,
        addr_reg: u8,
    ) -> dynasmrt::DynamicLabel {
        let label = self.asm.new_dynamic_label();
        let retired = if modified { loc.index + 1 } else { loc.index };
        let wb = self.snapshot_deferred();
        self.faults.push(FaultStub {
            label,
            pc: loc.pc,
            next_pc: loc.next_pc,
            uncount: (self.counted() - retired) as u64,
            refund: self.refund(),
            code,
            addr_reg,
            wb,
        });
        label
    }

    /// Returns a register holding `addr + disp`: the address temp's own
    /// (pinned) register when there is no displacement, else rax.
    pub(super) fn guest_addr(&mut self, addr: Temp, disp: i32) -> Result<u8, CodegenError> {
        match self.loc[addr as usize] {
            Loc::Const(v) => {
                self.mov_imm(RAX, v.wrapping_add(disp as i64 as u64));
                Ok(RAX)
            }
            _ => {
                let r = self.use_reg(addr)?;
                if disp == 0 {
                    return Ok(r);
                }
                asm!(self.asm; lea rax, [Rq(r) + disp]);
                Ok(RAX)
            }
        }
    }

    /// Flat-mode checks of a load or store (see [`access_runs`]); returns
    /// the register and displacement of its guest address (the access is
    /// `[r15 + reg + disp]`) and whether it is checked on its own (a store
    /// then checks the code map after writing). A run head checks its
    /// run's whole byte range, in bounds and (stores) free of code pages,
    /// before the first access, and if not, exits for the dispatcher to
    /// replay the head in the interpreter (which faults or invalidates
    /// precisely); the rest of the block then runs as a new block. Covered
    /// accesses check nothing: one `mov` each instead of four (loads) or
    /// eight to twelve (stores) instructions, as in a function's register
    /// saves and restores through `sp`.
    fn flat_check(
        &mut self,
        addr: Temp,
        disp: i32,
        width: Width,
        loc: crate::ir::GuestLoc,
        store: bool,
    ) -> Result<(u8, i32, bool), CodegenError> {
        let plan = self.plans[self.cur as usize];
        if plan == AccessPlan::Own || matches!(self.loc[addr as usize], Loc::Const(_)) {
            let a = self.guest_addr(addr, disp)?;
            let kind = if store {
                exit_code::FAULT_STORE
            } else {
                exit_code::FAULT_LOAD
            };
            let code = kind | ((width.log2() as u64) << 8);
            let label = self.fault_label(loc, code, false, a);
            self.bounds_check(a, width, label);
            return Ok((a, 0, true));
        }
        let base = self.use_reg(addr)?;
        if let AccessPlan::Head { lo, len } = plan {
            let replay = self.fault_label(loc, exit_code::MMU_SLOW, false, base);
            let last = lo + len as i32 - 1;
            let lim = off::MEM_LIMIT;
            // First and last byte in bounds: with the first below the
            // memory size, `first + len - 1` cannot wrap, so the whole
            // range is.
            if lo == 0 {
                asm!(self.asm; cmp Rq(base), [rbp + lim]);
            } else {
                asm!(self.asm; lea rax, [Rq(base) + lo] ; cmp rax, [rbp + lim]);
            }
            asm!(self.asm;
                ja =>replay
                ; lea rcx, [Rq(base) + last]
                ; cmp rcx, [rbp + lim]
                ; ja =>replay
            );
            if store {
                // At most 256 bytes: the pages of the first and last byte.
                asm!(self.asm; shr rcx, 12 ; cmp BYTE [r14 + rcx], 0 ; jne =>replay);
                if lo == 0 {
                    asm!(self.asm; mov rcx, Rq(base));
                } else {
                    asm!(self.asm; mov rcx, rax);
                }
                asm!(self.asm; shr rcx, 12 ; cmp BYTE [r14 + rcx], 0 ; jne =>replay);
            }
        }
        Ok((base, disp, false))
    }

    pub(super) fn bounds_check(&mut self, a: u8, width: Width, label: dynasmrt::DynamicLabel) {
        let lim = off::MEM_LIMIT + 8 * width.log2() as i32;
        asm!(self.asm; cmp Rq(a), [rbp + lim] ; ja =>label);
    }

    pub(super) fn op(&mut self, op: &IrOp) -> Result<(), CodegenError> {
        match *op {
            IrOp::Const { dst, val } => {
                self.loc[dst as usize] = Loc::Const(val);
            }
            IrOp::GetGlobal { dst, .. } if self.loc[dst as usize] != Loc::None => {
                // Already bound at the loop head.
            }
            IrOp::GetGlobal { dst, g } => {
                self.detach_holder(g)?;
                self.loc[dst as usize] = Loc::Home;
                self.home[dst as usize] = Some(g);
                self.holder[g as usize] = Some(dst);
            }
            IrOp::SetGlobal { g, src } if self.deferred & (1 << g) != 0 => {
                // Written back by whichever exit leaves the loop.
                self.cur_val[g as usize] = Some(src);
            }
            IrOp::SetGlobal { g, src } => {
                // A live value still only in this global must be fetched
                // before the global is overwritten.
                if self.holder[g as usize] != Some(src) {
                    self.detach_holder(g)?;
                }
                let d = Self::global_off(g);
                match self.loc[src as usize] {
                    Loc::Const(v) => self.store_imm(d, v),
                    _ => {
                        let r = self.use_reg(src)?;
                        asm!(self.asm; mov [rbp + d], Rq(r));
                        if let Some(g2) = self.home[src as usize] {
                            self.holder[g2 as usize] = None;
                        }
                        self.home[src as usize] = Some(g);
                        self.holder[g as usize] = Some(src);
                    }
                }
            }
            IrOp::Bin { op, dst, a, b } => self.bin(op, dst, a, b)?,
            IrOp::Un { op, dst, a }
                if self.range[a as usize]
                    & match op {
                        UnOp::Sext32 => SEXT32,
                        UnOp::Zext32 => ZEXT32,
                    }
                    != 0 =>
            {
                // Already extended (a W-op result, a narrow load, a masked
                // or shifted value): a copy, often none at all.
                self.copy_value(dst, a)?;
            }
            IrOp::Un { dst, a, .. } if self.ext_only_masked(dst) => {
                // Only an `And` with a mask below 2^32 reads the
                // extension: it sees the same low 32 bits without it.
                self.ext_copied = Some(dst);
                self.copy_value(dst, a)?;
            }
            IrOp::Un { op, dst, a } => {
                let ra = self.use_reg(a)?;
                let d = self.new_dst(dst)?;
                match op {
                    UnOp::Sext32 => asm!(self.asm; movsxd Rq(d), Rd(ra)),
                    UnOp::Zext32 => asm!(self.asm; mov Rd(d), Rd(ra)),
                }
            }
            IrOp::SetCond { cond, dst, a, b } => {
                let ra = self.use_reg(a)?;
                let ob = self.opnd(b)?;
                self.cmp(ra, ob);
                let d = self.new_dst(dst)?;
                match cond {
                    Cond::Eq => asm!(self.asm; sete al),
                    Cond::Ne => asm!(self.asm; setne al),
                    Cond::Lt => asm!(self.asm; setl al),
                    Cond::Ge => asm!(self.asm; setge al),
                    Cond::Ltu => asm!(self.asm; setb al),
                    Cond::Geu => asm!(self.asm; setae al),
                }
                asm!(self.asm; movzx Rd(d), al);
            }
            IrOp::Load {
                dst,
                addr,
                off: disp,
                width,
                signed,
                loc,
            } => {
                let mut ar = R15;
                let (a, ad) = if self.softmmu.is_some() {
                    ar = self.softmmu_probe(addr, disp, width, loc, AccessType::Read)?;
                    (self.guest_addr(addr, disp)?, 0)
                } else {
                    let (a, ad, _) = self.flat_check(addr, disp, width, loc, false)?;
                    (a, ad)
                };
                if let Some((m, x, k)) = self.indexed_load.filter(|e| e.0 == self.cur) {
                    self.indexed_load = None;
                    let (_, hb) = self.host_base.expect("indexed load has a host base");
                    let rx = self.use_reg(x)?;
                    let d = self.new_dst(dst)?;
                    match k {
                        1 => load!(self, width, signed, d, [Rq(hb) + Rq(rx) * 2]),
                        2 => load!(self, width, signed, d, [Rq(hb) + Rq(rx) * 4]),
                        _ => load!(self, width, signed, d, [Rq(hb) + Rq(rx) * 8]),
                    }
                    if self.last_use[x as usize] <= m {
                        // Not an operand of this op: released here by hand.
                        self.kill(x);
                    }
                    return Ok(());
                }
                let d = self.new_dst(dst)?;
                if ad == 0 {
                    load!(self, width, signed, d, [Rq(ar) + Rq(a)]);
                } else {
                    load!(self, width, signed, d, [Rq(ar) + Rq(a) + ad]);
                }
            }
            IrOp::Store {
                addr,
                off: disp,
                src,
                width,
                loc,
            } => {
                let val = match self.loc[src as usize] {
                    Loc::Const(v) if fits_i32(v) || width != Width::W64 => Opnd::Imm(v as i32),
                    _ => Opnd::Reg(self.use_reg(src)?),
                };
                let mut ar = R15;
                let (a, ad, own) = if self.softmmu.is_some() {
                    ar = self.softmmu_probe(addr, disp, width, loc, AccessType::Write)?;
                    (self.guest_addr(addr, disp)?, 0, false)
                } else {
                    self.flat_check(addr, disp, width, loc, true)?
                };
                if ad == 0 {
                    store!(self, width, val, [Rq(ar) + Rq(a)]);
                } else {
                    store!(self, width, val, [Rq(ar) + Rq(a) + ad]);
                }
                if !own {
                    // Softmmu: pages holding code never get a TLB write
                    // tag, so stores to them took the miss path and were
                    // replayed. Flat run: its head checked the code map for
                    // the whole range before the run's first store.
                    return Ok(());
                }
                let smc = self.fault_label(loc, exit_code::CODE_MODIFIED, true, a);
                if width == Width::W8 {
                    asm!(self.asm; mov rcx, Rq(a) ; shr rcx, 12 ; cmp BYTE [r14 + rcx], 0 ; jne =>smc);
                } else {
                    // The access may end in the next page: one word of the
                    // map covers its page and the next (the map has a
                    // spare entry past the last page), and only if either
                    // holds code does the out-of-line check tell exactly.
                    let check = self.asm.new_dynamic_label();
                    let back = self.asm.new_dynamic_label();
                    asm!(self.asm;
                        mov rcx, Rq(a) ; shr rcx, 12 ; cmp WORD [r14 + rcx], 0 ; jne =>check
                        ; =>back
                    );
                    self.map_checks.push(MapCheck {
                        check,
                        back,
                        smc,
                        addr_reg: a,
                        last: width.bytes() as i32 - 1,
                    });
                }
            }
            IrOp::SideExit {
                cond,
                a,
                b,
                target,
                index,
                ..
            } => {
                let ra = self.use_reg(a)?;
                let ob = self.opnd(b)?;
                self.cmp(ra, ob);
                if self.direct_exits {
                    self.chain_jump(target, Some(cond));
                    self.segs_done += 1;
                    let n = (self.counted() - index - 1) as i32;
                    asm!(self.asm; sub r13, 1 ; add r12, n);
                    return Ok(());
                }
                let label = self.asm.new_dynamic_label();
                self.jcc(cond, label);
                // Where deferred globals are at the branch.
                let wb = self.snapshot_deferred();
                self.side_exits.push(SideStub {
                    label,
                    target,
                    refund: self.refund(),
                    uncount: self.b.insn_count - index - 1,
                    wb,
                });
                self.segs_done += 1;
            }
        }
        Ok(())
    }

    pub(super) fn cmp(&mut self, ra: u8, b: Opnd) {
        match b {
            Opnd::Imm(v) => asm!(self.asm; cmp Rq(ra), v),
            Opnd::Reg(rb) => asm!(self.asm; cmp Rq(ra), Rq(rb)),
        }
    }

    pub(super) fn bin(
        &mut self,
        op: BinOp,
        dst: Temp,
        a: Temp,
        b: Temp,
    ) -> Result<(), CodegenError> {
        match op {
            BinOp::And if self.low_byte_copy(a, b) => self.copy_value(dst, a)?,
            BinOp::And if self.low_byte_copy(b, a) => self.copy_value(dst, b)?,
            BinOp::Xor | BinOp::Or if self.byte_op(dst, a, b) => {
                self.emit_byte_op(op, dst, a, b)?;
            }
            BinOp::Xor | BinOp::Or if self.byte_op(dst, b, a) => {
                self.emit_byte_op(op, dst, b, a)?;
            }
            BinOp::Add if self.fused.is_some_and(|(s, _, _)| s == a || s == b) => {
                let (s, x, k) = self.fused.take().expect("checked");
                let y = if a == s { b } else { a };
                let rx = self.use_reg(x)?;
                let oy = self.opnd(y)?;
                let d = if let Some(h) = self.tail_hint(dst) {
                    h
                } else if self.dies_in_reg(x) {
                    self.kill(x);
                    rx
                } else {
                    match oy {
                        Opnd::Reg(ry) if y != x && self.dies_in_reg(y) => {
                            self.kill(y);
                            ry
                        }
                        _ => self.alloc()?,
                    }
                };
                self.bind(dst, d);
                self.pinned |= 1 << d;
                match (k, oy) {
                    (_, Opnd::Reg(ry)) => self.lea_base_index(d, ry, rx, k),
                    (1, Opnd::Imm(v)) => asm!(self.asm; lea Rq(d), [Rq(rx) * 2 + v]),
                    (2, Opnd::Imm(v)) => asm!(self.asm; lea Rq(d), [Rq(rx) * 4 + v]),
                    (_, Opnd::Imm(v)) => asm!(self.asm; lea Rq(d), [Rq(rx) * 8 + v]),
                }
                if self.last_use[x as usize] <= self.cur {
                    // Not an operand of this op: released here by hand.
                    self.kill(x);
                }
            }
            BinOp::Add if matches!(self.loc[a as usize], Loc::Reg(_)) && !self.dies_in_reg(a) => {
                // `a` stays live: `lea` computes the sum into a fresh
                // register without copying `a` first (one instruction, and
                // no move on the dependency chain).
                if self.dies_in_reg(b) {
                    // Reuse b's register: the plain two-address form.
                    return self.bin(op, dst, b, a);
                }
                let ra = self.use_reg(a)?;
                let ob = self.opnd(b)?;
                let d = self.dst_reg(dst)?;
                self.bind(dst, d);
                self.pinned |= 1 << d;
                match ob {
                    Opnd::Imm(v) => asm!(self.asm; lea Rq(d), [Rq(ra) + v]),
                    Opnd::Reg(rb) => self.lea_base_index(d, ra, rb, 0),
                }
            }
            BinOp::Add | BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Mul
                if a != b && !self.dies_in_reg(a) && self.dies_in_reg(b) =>
            {
                // Commutative: compute into the operand that dies here.
                self.bin(op, dst, b, a)?;
            }
            BinOp::Add | BinOp::Sub | BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Mul => {
                let ob = self.opnd(b)?;
                let d = self.two_addr_dst(dst, a)?;
                match (op, ob) {
                    (BinOp::Add, Opnd::Imm(v)) => asm!(self.asm; add Rq(d), v),
                    (BinOp::Add, Opnd::Reg(r)) => asm!(self.asm; add Rq(d), Rq(r)),
                    (BinOp::Sub, Opnd::Imm(v)) => asm!(self.asm; sub Rq(d), v),
                    (BinOp::Sub, Opnd::Reg(r)) => asm!(self.asm; sub Rq(d), Rq(r)),
                    (BinOp::And, Opnd::Imm(v)) => asm!(self.asm; and Rq(d), v),
                    (BinOp::And, Opnd::Reg(r)) => asm!(self.asm; and Rq(d), Rq(r)),
                    (BinOp::Or, Opnd::Imm(v)) => asm!(self.asm; or Rq(d), v),
                    (BinOp::Or, Opnd::Reg(r)) => asm!(self.asm; or Rq(d), Rq(r)),
                    (BinOp::Xor, Opnd::Imm(v)) => asm!(self.asm; xor Rq(d), v),
                    (BinOp::Xor, Opnd::Reg(r)) => asm!(self.asm; xor Rq(d), Rq(r)),
                    (BinOp::Mul, Opnd::Imm(v)) => asm!(self.asm; imul Rq(d), Rq(d), v),
                    (BinOp::Mul, Opnd::Reg(r)) => asm!(self.asm; imul Rq(d), Rq(r)),
                    _ => unreachable!(),
                }
            }
            BinOp::Shl | BinOp::Shr | BinOp::Sar => {
                let amount = match self.loc[b as usize] {
                    Loc::Const(v) => Some((v & 63) as i8),
                    _ => None,
                };
                if let (BinOp::Shl, Some(k @ 1..=3)) = (op, amount) {
                    if let Some(j) = self.fusable_shl(dst, a) {
                        // Emitted by the Add as an `lea` index: `a` must
                        // live until then (or until the load that indexes
                        // the host base with it).
                        let j = match self.host_base_load(j, dst) {
                            Some(m) => {
                                self.indexed_load = Some((m, a, k as u8));
                                m
                            }
                            None => j,
                        };
                        let lu = &mut self.last_use[a as usize];
                        *lu = (*lu).max(j);
                        self.fused = Some((dst, a, k as u8));
                        return Ok(());
                    }
                }
                if amount.is_none() {
                    let rb = self.use_reg(b)?;
                    asm!(self.asm; mov rcx, Rq(rb));
                }
                let d = self.two_addr_dst(dst, a)?;
                match (op, amount) {
                    (BinOp::Shl, Some(s)) => asm!(self.asm; shl Rq(d), s),
                    (BinOp::Shr, Some(s)) => asm!(self.asm; shr Rq(d), s),
                    (BinOp::Sar, Some(s)) => asm!(self.asm; sar Rq(d), s),
                    (BinOp::Shl, None) => asm!(self.asm; shl Rq(d), cl),
                    (BinOp::Shr, None) => asm!(self.asm; shr Rq(d), cl),
                    (BinOp::Sar, None) => asm!(self.asm; sar Rq(d), cl),
                    _ => unreachable!(),
                }
            }
            BinOp::MulH | BinOp::MulHU | BinOp::MulHSU => {
                self.vacate_rdx()?;
                let ra = self.use_reg(a)?;
                let rb = self.use_reg(b)?;
                asm!(self.asm; mov rax, Rq(ra));
                match op {
                    BinOp::MulH => asm!(self.asm; imul Rq(rb)),
                    _ => asm!(self.asm; mul Rq(rb)),
                }
                if op == BinOp::MulHSU {
                    asm!(self.asm; mov rcx, Rq(ra) ; sar rcx, 63 ; and rcx, Rq(rb) ; sub rdx, rcx);
                }
                let d = self.new_dst(dst)?;
                asm!(self.asm; mov Rq(d), rdx);
            }
            BinOp::Div | BinOp::DivU | BinOp::Rem | BinOp::RemU => {
                self.vacate_rdx()?;
                let ra = self.use_reg(a)?;
                let rb = self.use_reg(b)?;
                let d = self.new_dst(dst)?;
                let zero = self.asm.new_dynamic_label();
                let norm = self.asm.new_dynamic_label();
                let done = self.asm.new_dynamic_label();
                asm!(self.asm; test Rq(rb), Rq(rb) ; jz =>zero);
                let signed = matches!(op, BinOp::Div | BinOp::Rem);
                if signed {
                    asm!(self.asm;
                        cmp Rq(rb), -1 ; jne =>norm
                        ; mov rax, QWORD i64::MIN ; cmp Rq(ra), rax ; jne =>norm
                    );
                    if op == BinOp::Div {
                        asm!(self.asm; mov Rq(d), Rq(ra));
                    } else {
                        asm!(self.asm; xor Rd(d), Rd(d));
                    }
                    asm!(self.asm; jmp =>done);
                }
                asm!(self.asm; =>norm ; mov rax, Rq(ra));
                if signed {
                    asm!(self.asm; cqo ; idiv Rq(rb));
                } else {
                    asm!(self.asm; xor edx, edx ; div Rq(rb));
                }
                match op {
                    BinOp::Div | BinOp::DivU => asm!(self.asm; mov Rq(d), rax),
                    _ => asm!(self.asm; mov Rq(d), rdx),
                }
                asm!(self.asm; jmp =>done ; =>zero);
                match op {
                    BinOp::Div | BinOp::DivU => asm!(self.asm; mov Rq(d), -1),
                    _ => asm!(self.asm; mov Rq(d), Rq(ra)),
                }
                asm!(self.asm; =>done);
            }
        }
        Ok(())
    }

    /// Whether `x & m` is `x`: `x` is below 2^8 and `m` a constant whose
    /// low byte is all ones.
    fn low_byte_copy(&self, x: Temp, m: Temp) -> bool {
        self.range[x as usize] & ZEXT8 != 0
            && matches!(self.loc[m as usize], Loc::Const(v) if v & 0xff == 0xff)
    }

    /// Whether `dst = p op q` (`Xor`, `Or`) may be computed as a byte
    /// operation on `q`, a value below 2^8: the only use of `dst` is an
    /// `And` with a constant below 2^8 (which only sees the low byte), so
    /// the register of `dst` may hold `(p op q) & 0xff`. For crc32's
    /// `table[(crc ^ byte) & 0xff]` this takes the `and` off the loop's
    /// critical path.
    fn byte_op(&self, dst: Temp, p: Temp, q: Temp) -> bool {
        if self.range[q as usize] & ZEXT8 == 0
            || p == q
            || !matches!(self.loc[p as usize], Loc::Reg(_))
            || !matches!(self.loc[q as usize], Loc::Reg(_))
        {
            return false;
        }
        let end = self.last_use[dst as usize] as usize;
        let start = self.cur as usize + 1;
        if end <= self.cur as usize || end >= self.b.ops.len() {
            return false;
        }
        let konst = |t: Temp| {
            self.b.ops[start..end]
                .iter()
                .find_map(|o| match *o {
                    IrOp::Const { dst: c, val } if c == t => Some(val),
                    _ => None,
                })
                .or(match self.loc[t as usize] {
                    Loc::Const(v) => Some(v),
                    _ => None,
                })
        };
        let masked = match self.b.ops[end] {
            IrOp::Bin {
                op: BinOp::And,
                a,
                b,
                ..
            } => (a == dst && konst(b).is_some_and(|m| m <= 0xff))
                || (b == dst && konst(a).is_some_and(|m| m <= 0xff)),
            _ => false,
        };
        if !masked {
            return false;
        }
        // No other use of `dst` before the `And`.
        let mut used = false;
        for o in &self.b.ops[start..end] {
            o.for_each_use(|t| used |= t == dst);
        }
        !used
    }

    /// `dst = (p op q) & 0xff` as a byte operation on a copy of `q` (or
    /// `q`'s own register when it dies here); see [`Self::byte_op`].
    fn emit_byte_op(&mut self, op: BinOp, dst: Temp, p: Temp, q: Temp) -> Result<(), CodegenError> {
        let rp = self.use_reg(p)?;
        let rq = self.use_reg(q)?;
        let d = if self.dies_in_reg(q) && self.tail_hint(dst).is_none() {
            self.kill(q);
            self.bind(dst, rq);
            self.pinned |= 1 << rq;
            rq
        } else {
            let d = self.new_dst(dst)?;
            asm!(self.asm; mov Rd(d), Rd(rq));
            d
        };
        match op {
            BinOp::Xor => asm!(self.asm; xor Rb(d), Rb(rp)),
            _ => asm!(self.asm; or Rb(d), Rb(rp)),
        }
        self.byte_masked = Some(dst);
        Ok(())
    }

    /// Whether the only use of the extension `dst` (defined by the current
    /// op) is an `And` a few ops on with a constant mask below 2^32: the
    /// mask keeps only bits the extension leaves alone, so the extension
    /// may be a copy (`addw` + `zext.b`: `and(sext32(x + 7), 255)`).
    fn ext_only_masked(&self, dst: Temp) -> bool {
        let ops = &self.b.ops;
        let cur = self.cur as usize;
        let j = self.last_use[dst as usize] as usize;
        if j <= cur || j > cur + 6 {
            return false;
        }
        let Some(&IrOp::Bin {
            op: BinOp::And,
            a,
            b,
            ..
        }) = ops.get(j)
        else {
            return false;
        };
        let m = match (a == dst, b == dst) {
            (true, false) => b,
            (false, true) => a,
            _ => return false,
        };
        let mut mask = match self.loc[m as usize] {
            Loc::Const(v) => Some(v),
            _ => None,
        };
        for o in &ops[cur + 1..j] {
            match *o {
                IrOp::Const { dst: d, val } if d == m => mask = Some(val),
                _ => {
                    let mut used = false;
                    o.for_each_use(|t| used |= t == dst);
                    if used {
                        return false;
                    }
                }
            }
        }
        mask.is_some_and(|v| v <= u32::MAX as u64)
    }

    /// `dst = a` without computing anything: `dst` takes over `a`'s
    /// register when `a` dies here (no instruction), else gets a copy.
    fn copy_value(&mut self, dst: Temp, a: Temp) -> Result<(), CodegenError> {
        match self.loc[a as usize] {
            Loc::Const(v) => self.loc[dst as usize] = Loc::Const(v),
            Loc::Reg(r) if self.tail_hint(dst).is_none() && self.dies_in_reg(a) => {
                self.kill(a);
                self.bind(dst, r);
                self.pinned |= 1 << r;
            }
            _ => {
                let ra = self.use_reg(a)?;
                let d = self.new_dst(dst)?;
                asm!(self.asm; mov Rq(d), Rq(ra));
            }
        }
        Ok(())
    }

    /// After lowering `op`: records what is known of the value it defines
    /// (see [`SEXT32`], [`ZEXT32`]; operands' constant values are read from
    /// `loc`, before the op's dead operands are released), then releases
    /// the operands and the result whose last use it was. One match on the
    /// op kind for both (an unpredictable branch per op).
    fn finish_op(&mut self, op: &IrOp) {
        const BOTH: u8 = SEXT32 | ZEXT32;
        let r = |t: Temp| self.range[t as usize];
        let konst = |t: Temp| match self.loc[t as usize] {
            Loc::Const(v) => Some(v),
            _ => None,
        };
        match *op {
            IrOp::Const { dst, val } => {
                let s = if fits_i32(val) { SEXT32 } else { 0 };
                let z = if val <= u32::MAX as u64 { ZEXT32 } else { 0 };
                let b = if val <= 0xff { ZEXT8 } else { 0 };
                self.range[dst as usize] = s | z | b;
                self.release(dst);
            }
            IrOp::Load {
                dst,
                addr,
                width,
                signed,
                ..
            } => {
                self.range[dst as usize] = match (width, signed) {
                    (Width::W8, false) => BOTH | ZEXT8,
                    (Width::W16, false) => BOTH,
                    (Width::W8 | Width::W16 | Width::W32, true) => SEXT32,
                    (Width::W32, false) => ZEXT32,
                    (Width::W64, _) => 0,
                };
                self.release(addr);
                self.release(dst);
            }
            IrOp::Un { dst, a, .. } if self.ext_copied == Some(dst) => {
                // A copy (see `ext_only_masked`): the value is `a`'s.
                self.range[dst as usize] = r(a);
                self.release(a);
                self.release(dst);
            }
            IrOp::Un { op, dst, a } => {
                // (A value below 2^8 is its own extension.)
                self.range[dst as usize] = match op {
                    UnOp::Sext32 => SEXT32 | (r(a) & ZEXT32 & (r(a) << 1)),
                    UnOp::Zext32 => ZEXT32 | (r(a) & SEXT32 & (r(a) >> 1)),
                } | if r(a) & ZEXT8 != 0 { BOTH | ZEXT8 } else { 0 };
                self.release(a);
                self.release(dst);
            }
            IrOp::SetCond { dst, a, b, .. } => {
                self.range[dst as usize] = BOTH | ZEXT8;
                self.release(a);
                self.release(b);
                self.release(dst);
            }
            IrOp::Bin { op, dst, a, b } => {
                let (ra, rb) = (r(a), r(b));
                self.range[dst as usize] = match op {
                    // Computed as a byte operation (see `byte_op`).
                    _ if self.byte_masked == Some(dst) => BOTH | ZEXT8,
                    // A mask below 2^8 bounds the result to it.
                    BinOp::And if (ra | rb) & ZEXT8 != 0 => BOTH | ZEXT8,
                    // A mask in 0..2^31 bounds the result to it.
                    BinOp::And if ra & BOTH == BOTH || rb & BOTH == BOTH => BOTH,
                    BinOp::And => (ra & rb & SEXT32) | ((ra | rb) & ZEXT32),
                    BinOp::Or | BinOp::Xor => ra & rb,
                    BinOp::Shr => match konst(b).map(|v| v & 63) {
                        Some(33..) => BOTH,
                        Some(32) => ZEXT32,
                        Some(1..) if ra & ZEXT32 != 0 => BOTH,
                        _ => 0,
                    },
                    BinOp::Sar => match konst(b).map(|v| v & 63) {
                        Some(32..) => SEXT32,
                        Some(_) => ra & SEXT32,
                        None => 0,
                    },
                    _ => 0,
                };
                self.release(a);
                self.release(b);
                self.release(dst);
            }
            // A global's value is unknown; clearing it (rather than leaving
            // the reset value) keeps the bits right even if a temp were
            // ever defined twice.
            IrOp::GetGlobal { dst, .. } => {
                self.range[dst as usize] = 0;
                self.release(dst);
            }
            IrOp::SetGlobal { src, .. } => self.release(src),
            IrOp::Store { addr, src, .. } => {
                self.release(addr);
                self.release(src);
            }
            IrOp::SideExit { a, b, .. } => {
                self.release(a);
                self.release(b);
            }
        }
    }

    /// `lea d, [base + index << scale]` without a displacement. dynasm
    /// encodes a register base with a zero disp8 (the base might be rbp or
    /// r13, which need one), and a three-component `lea` takes 3 cycles
    /// instead of 1 on Skylake-class cores; pool registers are never rbp,
    /// r13 or rsp, so the short form is always valid here.
    fn lea_base_index(&mut self, d: u8, base: u8, index: u8, scale: u8) {
        debug_assert!(base & 7 != 5 && index != 4 && scale <= 3);
        let rex = 0x48 | ((d >> 3) << 2) | ((index >> 3) << 1) | (base >> 3);
        self.asm.push(rex);
        self.asm.push(0x8d);
        self.asm.push(((d & 7) << 3) | 4);
        self.asm
            .push((scale << 6) | ((index & 7) << 3) | (base & 7));
    }

    /// Index of the op that can absorb `dst = a << k` as the scaled index
    /// of an `lea`: an `Add` using `dst` as exactly one operand, the last
    /// use of `dst`, reached past nothing but `GetGlobal` and `Const` ops
    /// (which emit no arithmetic; a register they need is taken by the
    /// allocator's ordinary eviction, which keeps `a` intact).
    fn fusable_shl(&self, dst: Temp, a: Temp) -> Option<u32> {
        if matches!(self.loc[a as usize], Loc::Const(_)) {
            return None;
        }
        let start = self.cur as usize + 1;
        for (j, op) in self.b.ops.iter().enumerate().skip(start).take(4) {
            match *op {
                IrOp::GetGlobal { .. } | IrOp::Const { .. } => {}
                IrOp::Bin {
                    op: BinOp::Add,
                    a: x,
                    b: y,
                    ..
                } if (x == dst) != (y == dst) && self.last_use[dst as usize] == j as u32 => {
                    return Some(j as u32);
                }
                _ => return None,
            }
        }
        None
    }

    /// Index of the load that can address the host base (see
    /// [`Codegen::host_base`]) with the index of the shift `s` fused into
    /// the `Add` at op `j`: that `Add` adds `s` to the host base's guest
    /// value, and a load of its result with no displacement follows within
    /// four ops.
    fn host_base_load(&self, j: u32, s: Temp) -> Option<u32> {
        let (h, _) = self.host_base?;
        let IrOp::Bin { dst, a, b, .. } = self.b.ops[j as usize] else {
            return None;
        };
        if (a, b) != (h, s) && (a, b) != (s, h) {
            return None;
        }
        let start = j as usize + 1;
        self.b
            .ops
            .iter()
            .enumerate()
            .skip(start)
            .take(4)
            .find(|(_, o)| matches!(**o, IrOp::Load { addr, off: 0, .. } if addr == dst))
            .map(|(m, _)| m as u32)
    }

    pub(super) fn chain_jump(&mut self, target: u64, cond: Option<Cond>) {
        let label = self.asm.new_dynamic_label();
        match cond {
            None => asm!(self.asm; jmp =>label),
            Some(Cond::Eq) => asm!(self.asm; je =>label),
            Some(Cond::Ne) => asm!(self.asm; jne =>label),
            Some(Cond::Lt) => asm!(self.asm; jl =>label),
            Some(Cond::Ge) => asm!(self.asm; jge =>label),
            Some(Cond::Ltu) => asm!(self.asm; jb =>label),
            Some(Cond::Geu) => asm!(self.asm; jae =>label),
        }
        let jump_end = self.asm.offset().0;
        self.chains.push(ChainStub {
            label,
            target,
            jump_end,
        });
    }

    pub(super) fn jcc(&mut self, cond: Cond, label: dynasmrt::DynamicLabel) {
        match cond {
            Cond::Eq => asm!(self.asm; je =>label),
            Cond::Ne => asm!(self.asm; jne =>label),
            Cond::Lt => asm!(self.asm; jl =>label),
            Cond::Ge => asm!(self.asm; jge =>label),
            Cond::Ltu => asm!(self.asm; jb =>label),
            Cond::Geu => asm!(self.asm; jae =>label),
        }
    }

    /// Whether every carried global's end-of-body value is in its head
    /// register already (the back edge needs no moves).
    fn tails_in_place(&self) -> bool {
        self.carried
            .iter()
            .zip(&self.head_regs)
            .all(|(&(_, _, tail), &r)| self.loc[tail as usize] == Loc::Reg(r))
    }

    /// Loop back edge of a self-loop: move each carried global's new value
    /// into its head register and jump to the body (whose head counts the
    /// iteration).
    pub(super) fn back_edge(&mut self) -> Result<(), CodegenError> {
        let body = self.body.expect("self-loop has a body label");
        let mut reg_moves: Vec<(u8, u8)> = Vec::new();
        let mut other: Vec<(u8, Temp)> = Vec::new();
        for (k, &(_, _, tail)) in self.carried.iter().enumerate() {
            let dst = self.head_regs[k];
            match self.loc[tail as usize] {
                Loc::Reg(r) if r == dst => {}
                Loc::Reg(r) => reg_moves.push((r, dst)),
                _ => other.push((dst, tail)),
            }
        }
        // Parallel register moves; rax breaks cycles.
        while !reg_moves.is_empty() {
            let ready = (0..reg_moves.len())
                .find(|&i| !reg_moves.iter().any(|&(src, _)| src == reg_moves[i].1));
            match ready {
                Some(i) => {
                    let (src, dst) = reg_moves.remove(i);
                    asm!(self.asm; mov Rq(dst), Rq(src));
                }
                None => {
                    let (src, _) = reg_moves[0];
                    asm!(self.asm; mov rax, Rq(src));
                    for m in reg_moves.iter_mut() {
                        if m.0 == src {
                            m.0 = RAX;
                        }
                    }
                }
            }
        }
        // Values not in registers read memory or are constants: no conflicts.
        for (dst, tail) in other {
            self.copy_to(dst, tail);
        }
        asm!(self.asm; jmp =>body);
        Ok(())
    }

    pub(super) fn terminator(&mut self) -> Result<(), CodegenError> {
        match self.b.term {
            Terminator::Jump(_) if self.body.is_some() => self.back_edge()?,
            Terminator::Jump(t) => self.chain_jump(t, None),
            Terminator::Branch {
                cond,
                a,
                b,
                fallthrough,
                ..
            } if self.body.is_some() => {
                // The loop continues on the fall-through path of the
                // branch: one taken jump per iteration (the back edge's).
                let ra = self.use_reg(a)?;
                let ob = self.opnd(b)?;
                self.cmp(ra, ob);
                // Where deferred globals are at the branch: the exit path
                // is entered from it, before the back edge's moves.
                let wb = self.snapshot_deferred();
                if self.tails_in_place() {
                    // Nothing to move: the branch itself is the back edge,
                    // and the exit path follows it.
                    let body = self.body.expect("self-loop has a body label");
                    self.jcc(cond, body);
                    self.emit_write_back(wb);
                    self.chain_jump(fallthrough, None);
                } else if wb.0 == wb.1 {
                    self.chain_jump(fallthrough, Some(negate(cond)));
                    self.back_edge()?;
                } else {
                    let exit = self.asm.new_dynamic_label();
                    self.jcc(negate(cond), exit);
                    self.back_edge()?;
                    asm!(self.asm; =>exit);
                    self.emit_write_back(wb);
                    self.chain_jump(fallthrough, None);
                }
            }
            Terminator::Branch {
                cond,
                a,
                b,
                taken,
                fallthrough,
            } => {
                let ra = self.use_reg(a)?;
                let ob = self.opnd(b)?;
                self.cmp(ra, ob);
                self.chain_jump(taken, Some(cond));
                self.chain_jump(fallthrough, None);
            }
            Terminator::JumpIndirect(t) => {
                self.copy_to(RAX, t);
                let mask = (JMP_CACHE_ENTRIES - 1) as i32;
                let miss = self.asm.new_dynamic_label();
                asm!(self.asm;
                    mov [rbp + off::PC], rax
                    ; mov rcx, rax
                    ; shr rcx, 2
                    ; and ecx, mask
                    ; shl rcx, 4
                    ; add rcx, [rbp + off::JMP_CACHE]
                    ; cmp [rcx], rax
                    ; jne =>miss
                    ; jmp QWORD [rcx + 8]
                    ; =>miss
                );
                self.exit_with(exit_code::INDIRECT);
            }
            Terminator::Syscall { pc, next_pc } => {
                self.store_imm(off::EXIT_ARG, pc);
                self.store_imm(off::PC, next_pc);
                self.exit_with(exit_code::SYSCALL);
            }
            Terminator::Breakpoint { pc } => {
                // The trapping instruction does not retire.
                asm!(self.asm; sub r12, 1);
                self.store_imm(off::PC, pc);
                self.exit_with(exit_code::BREAKPOINT);
            }
            Terminator::Interpret { pc } => {
                // The instruction is interpreted by the dispatcher: it
                // does not retire here.
                asm!(self.asm; sub r12, 1);
                self.store_imm(off::PC, pc);
                self.exit_with(exit_code::INTERPRET);
            }
            Terminator::Helper { pc, next_pc, inst } => {
                // The guest state is in the CPU state (a block ending in a
                // helper call is no self-loop, so no global is deferred)
                // and nothing lives in a caller-saved register past the
                // call; block code runs with rsp 16-byte aligned.
                if let Some((rd, a, b, cc)) = fp_compare(inst) {
                    // Double compare fast path: ordered operands need no
                    // helper (no flag, the host's IEEE compare); a NaN
                    // (parity set) takes the call.
                    let slow = self.asm.new_dynamic_label();
                    let (a, b) = (Self::global_off(a), Self::global_off(b));
                    asm!(self.asm;
                        movq xmm0, QWORD [rbp + a]
                        ; ucomisd xmm0, QWORD [rbp + b]
                        ; jp =>slow
                    );
                    match cc {
                        FpCc::Eq => asm!(self.asm; sete al),
                        FpCc::Lt => asm!(self.asm; setb al),
                        FpCc::Le => asm!(self.asm; setbe al),
                    }
                    if rd != 0 {
                        let d = Self::global_off(rd);
                        asm!(self.asm; movzx eax, al ; mov [rbp + d], rax);
                    }
                    self.chain_jump(next_pc, None);
                    asm!(self.asm; =>slow);
                }
                let trap = self.asm.new_dynamic_label();
                asm!(self.asm;
                    mov rdi, rbp
                    ; mov rsi, QWORD inst as i64
                    ; call QWORD [rbp + off::FP_HELPER_FN]
                    ; test eax, eax
                    ; jnz =>trap
                );
                self.chain_jump(next_pc, None);
                // The helper trapped (reserved rounding mode): the
                // dispatcher interprets the instruction, which raises it.
                asm!(self.asm; =>trap ; sub r12, 1);
                self.store_imm(off::PC, pc);
                self.exit_with(exit_code::INTERPRET);
            }
        }
        Ok(())
    }
}

/// The host condition of an FP compare fast path (`ucomisd a, b` with
/// ordered operands).
#[derive(Clone, Copy)]
pub(super) enum FpCc {
    /// `a == b` (ZF).
    Eq,
    /// `a < b` (CF).
    Lt,
    /// `a <= b` (CF or ZF).
    Le,
}

/// For a packed `feq.d` / `flt.d` / `fle.d` helper instruction: (integer
/// rd, global of rs1, global of rs2, condition). Both tiers emit the
/// `ucomisd` fast path for these and call the helper only on a NaN.
pub(super) fn fp_compare(packed: u64) -> Option<(u8, u8, u8, FpCc)> {
    let i = crate::frontend::riscv::Inst::unpack(packed)?;
    let cc = match i.op {
        crate::frontend::riscv::Op::FeqD => FpCc::Eq,
        crate::frontend::riscv::Op::FltD => FpCc::Lt,
        crate::frontend::riscv::Op::FleD => FpCc::Le,
        _ => return None,
    };
    Some((i.rd, 32 + i.rs1, 32 + i.rs2, cc))
}

/// The condition that holds exactly when `c` does not.
fn negate(c: Cond) -> Cond {
    match c {
        Cond::Eq => Cond::Ne,
        Cond::Ne => Cond::Eq,
        Cond::Lt => Cond::Ge,
        Cond::Ge => Cond::Lt,
        Cond::Ltu => Cond::Geu,
        Cond::Geu => Cond::Ltu,
    }
}
