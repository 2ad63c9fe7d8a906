//! Dense unit IR: the cross-architecture pipeline's op records.
//!
//! An [`UnitOp`] is a fixed 16-byte record (kind, sub-operation, `dst`,
//! `a`, `b`, immediate) instead of a 40-byte [`IrOp`] enum. All blocks of
//! a translation unit are appended to one reusable buffer by
//! [`UnitBuilder`], which knows each op's kind statically, so nothing has
//! to decode an op to find its definitions and uses:
//!
//! - every op names its defined temp in `dst` and its read temps in `a`
//!   and `b`; an absent operand is temp 0, which no op defines (temps of a
//!   block count from 1), so a pass can treat every op alike;
//! - constants are not records but a per-block table ([`UnitConst`]): they
//!   emit no code, so neither the dead-code pass nor the backends' per-op
//!   dispatch needs to see them;
//! - [`mark_dead_and_last_use`] computes dead code (the semantics of
//!   `opt::eliminate_dead`) and each temp's last use in one forward pass
//!   (overwritten global stores, nearly all dead ops, are seen when the
//!   overwrite comes; last uses are plain stores), falling back to a
//!   backward pass without a branch on the op kind (a 16-entry property
//!   table) for the few blocks where that is not exact, and turns dead
//!   ops into [`kind::NOP`] in place instead of compacting;
//! - the backends dispatch once per op (allocation and emission fused).
//!
//! The JIT keeps [`IrOp`]/[`IrBlock`]; [`UnitOp::to_ir`] converts a record
//! (tests, the dynamic AArch64 engine, the reference evaluator).

use super::{BinOp, Cond, GuestLoc, IrBlock, IrOp, Temp, Terminator, UnOp, Width};

/// Op kinds of [`UnitOp::kind`].
pub mod kind {
    /// A dead op (removed by [`super::mark_dead_and_last_use`]).
    pub const NOP: u8 = 0;
    /// `dst = imm` (the builder puts constants in the block's constant
    /// table instead, see [`super::UnitConst`]; the backends accept both).
    pub const CONST: u8 = 1;
    /// `dst = globals[sub]`.
    pub const GET: u8 = 2;
    /// `globals[sub] = a`.
    pub const SET: u8 = 3;
    /// `dst = a op b`, `sub` = [`super::BinOp`] index.
    pub const BIN: u8 = 4;
    /// `dst = op a`, `sub` = [`super::UnOp`] index.
    pub const UN: u8 = 5;
    /// `dst = cond(a, b)`, `sub` = [`super::Cond`] index.
    pub const SETCOND: u8 = 6;
    /// `dst = mem[a + off]`, `sub` = width log2 | signed << 2.
    pub const LOAD: u8 = 7;
    /// `mem[a + off] = b`, `sub` = width log2.
    pub const STORE: u8 = 8;
    /// `dst = zext32(a op b)` (the operation on the 64-bit operands, its
    /// low 32 bits zero-extended), `sub` = [`super::BinOp`] index: what a
    /// 32-bit guest operation needs, one record instead of the operation
    /// and a `Zext32`; an AArch64 host emits the `w`-register form where
    /// it is exactly that. `BIN | 8`, so a builder picks either kind
    /// without a branch.
    pub const BIN32: u8 = 12;
}

/// One dense IR op. Temps are block-local and count from 1 (temp 0 is the
/// absent operand). For loads and stores, `imm` holds the displacement
/// (low 32 bits, signed) and the index of the guest instruction within
/// the block (bits 32..48).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct UnitOp {
    /// One of [`kind`].
    pub kind: u8,
    /// Sub-operation (binary op, condition, width) or global number.
    pub sub: u8,
    /// Defined temp (0: none).
    pub dst: u16,
    /// First read temp (0: none).
    pub a: u16,
    /// Second read temp (0: none).
    pub b: u16,
    /// Constant, or displacement and instruction index of a memory op.
    pub imm: u64,
}

/// [`BinOp`] by its `sub` index.
pub const BIN_OPS: [BinOp; 16] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::And,
    BinOp::Or,
    BinOp::Xor,
    BinOp::Shl,
    BinOp::Shr,
    BinOp::Sar,
    BinOp::Mul,
    BinOp::MulH,
    BinOp::MulHU,
    BinOp::MulHSU,
    BinOp::Div,
    BinOp::DivU,
    BinOp::Rem,
    BinOp::RemU,
];

/// [`Cond`] by its `sub` index.
pub const CONDS: [Cond; 6] = [Cond::Eq, Cond::Ne, Cond::Lt, Cond::Ge, Cond::Ltu, Cond::Geu];

/// [`UnOp`] by its `sub` index.
pub const UN_OPS: [UnOp; 2] = [UnOp::Sext32, UnOp::Zext32];

/// [`Width`] by its log2.
pub const WIDTHS: [Width; 4] = [Width::W8, Width::W16, Width::W32, Width::W64];

impl UnitOp {
    /// The record of these fields, built as two 64-bit words: LLVM wrote
    /// the six fields with six stores (~13 % of the AArch64 lifter's
    /// time went to writing records).
    #[inline(always)]
    pub fn pack(kind: u8, sub: u8, dst: u16, a: u16, b: u16, imm: u64) -> UnitOp {
        #[cfg(target_endian = "little")]
        {
            let head =
                kind as u64 | (sub as u64) << 8 | (dst as u64) << 16 | (a as u64) << 32 | (b as u64) << 48;
            // SAFETY: `UnitOp` is `repr(C)` with fields at byte offsets 0,
            // 1, 2, 4, 6 and 8 (no padding, 16 bytes, the size and a
            // multiple of the alignment of `[u64; 2]`), all integers, so
            // every bit pattern is a valid value; on a little-endian host
            // the first word's bytes are exactly kind, sub, dst, a, b.
            unsafe { std::mem::transmute::<[u64; 2], UnitOp>([head, imm]) }
        }
        #[cfg(not(target_endian = "little"))]
        {
            UnitOp {
                kind,
                sub,
                dst,
                a,
                b,
                imm,
            }
        }
    }
    /// The binary op of a [`kind::BIN`] or [`kind::BIN32`] record.
    #[inline]
    pub fn bin_op(&self) -> BinOp {
        BIN_OPS[(self.sub & 15) as usize]
    }

    /// The condition of a [`kind::SETCOND`] record.
    #[inline]
    pub fn cond(&self) -> Cond {
        CONDS[(self.sub as usize) % CONDS.len()]
    }
    /// The operation of a [`kind::UN`] record.
    #[inline]
    pub fn un_op(&self) -> UnOp {
        UN_OPS[(self.sub & 1) as usize]
    }
    /// The access width of a memory record.
    #[inline]
    pub fn width(&self) -> Width {
        WIDTHS[(self.sub & 3) as usize]
    }
    /// Whether a load sign-extends.
    #[inline]
    pub fn signed(&self) -> bool {
        self.sub & 4 != 0
    }
    /// The displacement of a memory record.
    #[inline]
    pub fn off(&self) -> i32 {
        self.imm as u32 as i32
    }
    /// The index of the guest instruction of a memory record.
    #[inline]
    pub fn insn_index(&self) -> u32 {
        (self.imm >> 32) as u16 as u32
    }

    /// The equivalent [`IrOp`] (None for [`kind::NOP`]); `loc` gives the
    /// guest location of a memory op's instruction index. A
    /// [`kind::BIN32`] record gives its operation without the truncation
    /// (same operands; [`to_ir_ops`] adds the `Zext32`).
    pub fn to_ir(self, loc: impl Fn(u32) -> GuestLoc) -> Option<IrOp> {
        let (dst, a, b) = (self.dst as Temp, self.a as Temp, self.b as Temp);
        Some(match self.kind {
            kind::CONST => IrOp::Const { dst, val: self.imm },
            kind::GET => IrOp::GetGlobal { dst, g: self.sub },
            kind::SET => IrOp::SetGlobal { g: self.sub, src: a },
            kind::BIN | kind::BIN32 => IrOp::Bin {
                op: self.bin_op(),
                dst,
                a,
                b,
            },
            kind::UN => IrOp::Un {
                op: self.un_op(),
                dst,
                a,
            },
            kind::SETCOND => IrOp::SetCond {
                cond: self.cond(),
                dst,
                a,
                b,
            },
            kind::LOAD => IrOp::Load {
                dst,
                addr: a,
                off: self.off(),
                width: self.width(),
                signed: self.signed(),
                loc: loc(self.insn_index()),
            },
            kind::STORE => IrOp::Store {
                addr: a,
                off: self.off(),
                src: b,
                width: self.width(),
                loc: loc(self.insn_index()),
            },
            _ => return None,
        })
    }
}

/// A block constant: temp `dst` holds `val`. Constants are not records:
/// the backends note them before a block's first op and the dead-code pass
/// never sees them (a constant emits no code; 17-20 % of a unit's values
/// are constants). `at` keeps their place among the block's records for
/// the conversion to [`IrOp`]s (the constant precedes record `at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnitConst {
    /// Index of the block record the constant precedes.
    pub at: u32,
    /// Defined temp.
    pub dst: u16,
    /// Value.
    pub val: u64,
}

/// The op buffer of a unit: records and constants of all blocks (each
/// block a range of both).
#[derive(Debug, Clone, Default)]
pub struct UnitOps {
    /// Op records.
    pub ops: Vec<UnitOp>,
    /// Constants.
    pub consts: Vec<UnitConst>,
}

impl UnitOps {
    /// Empties both buffers, keeping their allocations.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.consts.clear();
    }
}

/// The [`IrOp`]s of a block's records and constants, constants at their
/// original places; dead records, and constants `keep_const` rejects, left
/// out. `loc` gives the guest location of an instruction index. A
/// [`kind::BIN32`] record becomes its operation into temp `num_temps + dst` and a `Zext32`
/// of that into `dst` (see [`ir_num_temps`]).
pub fn to_ir_ops(
    ops: &[UnitOp],
    consts: &[UnitConst],
    num_temps: u32,
    keep_const: impl Fn(&UnitConst) -> bool,
    loc: impl Fn(u32) -> GuestLoc,
) -> Vec<IrOp> {
    let mut out = Vec::with_capacity(ops.len() + consts.len());
    let mut c = consts.iter().peekable();
    for (i, op) in ops.iter().enumerate() {
        while let Some(k) = c.next_if(|k| k.at as usize <= i) {
            if keep_const(k) {
                out.push(IrOp::Const {
                    dst: k.dst as Temp,
                    val: k.val,
                });
            }
        }
        match op.to_ir(&loc) {
            Some(IrOp::Bin { op: bop, dst, a, b }) if op.kind == kind::BIN32 => {
                let t = num_temps + dst;
                out.push(IrOp::Bin { op: bop, dst: t, a, b });
                out.push(IrOp::Un {
                    op: UnOp::Zext32,
                    dst,
                    a: t,
                });
            }
            o => out.extend(o),
        }
    }
    for k in c.filter(|k| keep_const(k)) {
        out.push(IrOp::Const {
            dst: k.dst as Temp,
            val: k.val,
        });
    }
    out
}

/// The [`IrBlock`] of a block's dense ops and constants (dead records left
/// out), for the JIT and for tests; `loc` gives the guest location of an
/// instruction index.
pub fn to_ir_block(
    pc: u64,
    insn_count: u32,
    num_temps: u32,
    ops: &[UnitOp],
    consts: &[UnitConst],
    term: Terminator,
    loc: impl Fn(u32) -> GuestLoc,
) -> IrBlock {
    IrBlock {
        pc,
        insn_count,
        num_temps: ir_num_temps(ops, num_temps),
        ops: to_ir_ops(ops, consts, num_temps, |_| true, loc),
        term,
    }
}

/// Temps of the [`IrOp`]s of a block of `num_temps` temps: twice as many
/// if a [`kind::BIN32`] record needs its intermediate temp (see
/// [`to_ir_ops`]).
pub fn ir_num_temps(ops: &[UnitOp], num_temps: u32) -> u32 {
    if ops.iter().any(|o| o.kind == kind::BIN32) {
        2 * num_temps
    } else {
        num_temps
    }
}

/// Marks a global whose value no temp holds yet.
const NO_TEMP: Temp = Temp::MAX;

/// Temps a block may define (they are stored in 16 bits; temp 0 is the
/// absent operand).
pub const MAX_TEMPS: u32 = u16::MAX as u32;

/// Writes one block's dense ops into the unit's op buffer (the API of
/// [`super::IrBuilder`], so the lifters read the same). It forwards
/// globals: a global read or written earlier in the block is not read again.
#[derive(Debug)]
pub struct UnitBuilder {
    buf: UnitOps,
    /// First record of the current block.
    start: usize,
    /// First constant of the current block.
    const_start: usize,
    next: Temp,
    /// Temp currently known to hold each global (`NO_TEMP`: unknown).
    known: [Temp; crate::state::NUM_GLOBALS],
    /// Whether global stores are deferred to the next memory op or block
    /// end ([`UnitBuilder::defer_sets`]).
    defer: bool,
    /// Globals whose deferred store is not written yet (bit per global).
    pending: u64,
}

impl Default for UnitBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl UnitBuilder {
    /// New builder with an empty buffer.
    pub fn new() -> Self {
        Self {
            buf: UnitOps::default(),
            start: 0,
            const_start: 0,
            next: 1,
            known: [NO_TEMP; crate::state::NUM_GLOBALS],
            defer: false,
            pending: 0,
        }
    }
    /// Defers global stores: [`UnitBuilder::set`] only notes the value,
    /// and the latest value of each global written since is stored right
    /// before the next load or store (memory ops need exact guest state)
    /// and at [`UnitBuilder::flush_sets`], which the lifter calls at the
    /// block end. A store overwritten before any memory op (what the
    /// dead-code pass would remove) is never written as a record.
    pub fn defer_sets(&mut self, on: bool) {
        self.defer = on;
    }
    /// Writes the deferred global stores (in global order).
    #[inline]
    pub fn flush_sets(&mut self) {
        if self.pending != 0 {
            self.flush_pending();
        }
    }
    #[inline(never)]
    fn flush_pending(&mut self) {
        let mut m = self.pending;
        self.pending = 0;
        while m != 0 {
            let g = m.trailing_zeros() as u8;
            m &= m - 1;
            let src = self.known[g as usize];
            self.push(kind::SET, g, 0, src, 0, 0);
        }
    }
    /// Starts a block appended to `buf` (which keeps its earlier blocks);
    /// [`UnitBuilder::take`] gives the buffer back.
    pub fn reset(&mut self, buf: UnitOps) {
        self.start = buf.ops.len();
        self.const_start = buf.consts.len();
        self.buf = buf;
        self.next = 1;
        self.known = [NO_TEMP; crate::state::NUM_GLOBALS];
        self.pending = 0;
    }
    /// Starts a block appended to the buffer the builder already holds
    /// ([`UnitBuilder::reset`] without moving the buffer in and out per
    /// block).
    #[inline]
    pub fn next_block(&mut self) {
        self.start = self.buf.ops.len();
        self.const_start = self.buf.consts.len();
        self.next = 1;
        self.known = [NO_TEMP; crate::state::NUM_GLOBALS];
        self.pending = 0;
    }
    /// Continues a block whose records start at `start` and constants at
    /// `const_start` of `buf` (the buffer's last ones), with `next` its
    /// next temp: nothing forwarded, no deferred store pending (for the
    /// stores a lifter appends to a block it lifted earlier).
    pub fn resume(&mut self, buf: UnitOps, start: usize, const_start: usize, next: Temp) {
        self.buf = buf;
        self.start = start;
        self.const_start = const_start;
        self.next = next;
        self.known = [NO_TEMP; crate::state::NUM_GLOBALS];
        self.pending = 0;
    }
    /// The buffer (this block's records and constants appended), leaving
    /// the builder empty.
    pub fn take(&mut self) -> UnitOps {
        std::mem::take(&mut self.buf)
    }
    /// The buffer written so far (all blocks).
    pub fn buf(&self) -> &UnitOps {
        &self.buf
    }
    /// The current block as [`IrOp`]s (tests; no memory ops expected
    /// unless `loc` is meaningful).
    pub fn block_ir_ops(&self, loc: impl Fn(u32) -> GuestLoc) -> Vec<IrOp> {
        to_ir_ops(
            &self.buf.ops[self.start..],
            &self.buf.consts[self.const_start..],
            self.next,
            |_| true,
            loc,
        )
    }
    /// Temps of the current block (`0..num_temps`, temp 0 unused).
    pub fn num_temps(&self) -> u32 {
        self.next
    }
    /// Whether the block defined more temps than a record can name (its
    /// ops are then meaningless and the block must be rejected).
    pub fn overflowed(&self) -> bool {
        self.next > MAX_TEMPS
    }
    #[inline]
    fn temp(&mut self) -> Temp {
        let t = self.next;
        self.next += 1;
        t
    }
    #[inline]
    fn push(&mut self, kind: u8, sub: u8, dst: Temp, a: Temp, b: Temp, imm: u64) {
        self.buf.ops.push(UnitOp::pack(kind, sub, dst as u16, a as u16, b as u16, imm));
    }
    /// Emits a constant.
    pub fn constant(&mut self, val: u64) -> Temp {
        let dst = self.temp();
        self.buf.consts.push(UnitConst {
            at: (self.buf.ops.len() - self.start) as u32,
            dst: dst as u16,
            val,
        });
        dst
    }
    /// Reads a global.
    pub fn get(&mut self, g: u8) -> Temp {
        let t = self.known[g as usize];
        if t != NO_TEMP {
            return t;
        }
        let dst = self.temp();
        self.push(kind::GET, g, dst, 0, 0, 0);
        self.known[g as usize] = dst;
        dst
    }
    /// The temp known to hold global `g` (read or written earlier in the
    /// block), if any: what [`UnitBuilder::get`] returns without a record.
    #[inline]
    pub fn forwarded(&self, g: u8) -> Option<Temp> {
        let t = self.known[g as usize];
        (t != NO_TEMP).then_some(t)
    }
    /// Writes a global.
    pub fn set(&mut self, g: u8, src: Temp) {
        self.known[g as usize] = src;
        if self.defer {
            self.pending |= 1 << (g & 63);
            return;
        }
        self.push(kind::SET, g, 0, src, 0, 0);
    }
    /// Binary op.
    pub fn bin(&mut self, op: BinOp, a: Temp, b: Temp) -> Temp {
        let dst = self.temp();
        self.push(kind::BIN, op as u8, dst, a, b, 0);
        dst
    }
    /// Binary op with its low 32 bits zero-extended ([`kind::BIN32`]).
    pub fn bin32(&mut self, op: BinOp, a: Temp, b: Temp) -> Temp {
        self.bin_sized(true, op, a, b)
    }
    /// [`UnitBuilder::bin32`] if `w32`, else [`UnitBuilder::bin`] (the
    /// kind chosen without a branch).
    pub fn bin_sized(&mut self, w32: bool, op: BinOp, a: Temp, b: Temp) -> Temp {
        let dst = self.temp();
        self.push(kind::BIN | (w32 as u8) << 3, op as u8, dst, a, b, 0);
        dst
    }
    /// Unary op.
    pub fn un(&mut self, op: UnOp, a: Temp) -> Temp {
        let dst = self.temp();
        self.push(kind::UN, op as u8, dst, a, 0, 0);
        dst
    }
    /// Comparison to 0/1.
    pub fn setcond(&mut self, cond: Cond, a: Temp, b: Temp) -> Temp {
        let dst = self.temp();
        self.push(kind::SETCOND, cond as u8, dst, a, b, 0);
        dst
    }
    /// Memory load (only `loc.index` is kept).
    pub fn load(
        &mut self,
        addr: Temp,
        off: i32,
        width: Width,
        signed: bool,
        loc: GuestLoc,
    ) -> Temp {
        self.flush_sets();
        let dst = self.temp();
        let sub = width.log2() as u8 | (signed as u8) << 2;
        self.push(kind::LOAD, sub, dst, addr, 0, mem_imm(off, loc));
        dst
    }
    /// Memory store (only `loc.index` is kept).
    pub fn store(&mut self, addr: Temp, off: i32, src: Temp, width: Width, loc: GuestLoc) {
        self.flush_sets();
        self.push(
            kind::STORE,
            width.log2() as u8,
            0,
            addr,
            src,
            mem_imm(off, loc),
        );
    }
}

#[inline]
fn mem_imm(off: i32, loc: GuestLoc) -> u64 {
    off as u32 as u64 | ((loc.index as u16 as u64) << 32)
}

/// Per-kind properties for the branch-free liveness pass.
mod prop {
    /// The op defines `dst`.
    pub const DEF: u8 = 1;
    /// Always kept (may fault).
    pub const EFFECT: u8 = 2;
    /// A global store (dead if overwritten later in the block).
    pub const SET: u8 = 4;
    /// Guest state must be exact before it (earlier global stores live).
    pub const BARRIER: u8 = 8;
    /// Defines `dst` and has no other effect (dead if `dst` is never read).
    pub const PURE: u8 = 16;
}

/// Properties by kind (16 entries: indexing with `kind & 15` needs no
/// bounds check).
const PROPS: [u8; 16] = {
    let mut p = [0u8; 16];
    p[kind::CONST as usize] = prop::DEF | prop::PURE;
    p[kind::GET as usize] = prop::DEF | prop::PURE;
    p[kind::SET as usize] = prop::SET;
    p[kind::BIN as usize] = prop::DEF | prop::PURE;
    p[kind::BIN32 as usize] = prop::DEF | prop::PURE;
    p[kind::UN as usize] = prop::DEF | prop::PURE;
    p[kind::SETCOND as usize] = prop::DEF | prop::PURE;
    p[kind::LOAD as usize] = prop::DEF | prop::EFFECT | prop::BARRIER;
    p[kind::STORE as usize] = prop::EFFECT | prop::BARRIER;
    p
};

/// Dead global-store and dead-code elimination of one block (the
/// semantics of `opt::eliminate_dead`: a global store overwritten later
/// with no load or store between is dead, and so is an op whose result no
/// live op or the terminator reads) fused with each temp's last use.
///
/// Dead ops become [`kind::NOP`] in place. `lu` (one entry per temp,
/// zeroed) receives `1 + index` of the last live op reading each temp
/// (`ops.len() + 1` for the terminator; 0: never read).
///
/// Nearly every dead op is a global store overwritten later, which a
/// forward pass sees when the overwrite comes; the forward pass also
/// records each op as the last reader of its operands, so it finds the
/// exact last uses whenever no op that only defines a value ends up
/// unread. Only then (a few blocks per unit, and blocks that arrive with
/// dead records) does the backward pass run: its liveness chain through
/// `lu` (a load that waits on the previous op's store) made it ~10 cycles
/// per op, while the forward pass only stores.
pub fn mark_dead_and_last_use(ops: &mut [UnitOp], term: &Terminator, lu: &mut [u32]) {
    if !forward_dead_and_last_use(ops, term, lu) {
        lu.fill(0);
        backward_dead_and_last_use(ops, term, lu);
    }
}

/// [`mark_dead_and_last_use`] for a block built with deferred global
/// stores ([`UnitBuilder::defer_sets`]) and no dead records: such a block
/// has no global store overwritten before a memory op, so the forward pass
/// only records last uses (no per-kind work and no branch on the kind);
/// unread pure definitions are then removed by [`remove_unread_defs`].
pub fn mark_last_use_deferred(ops: &mut [UnitOp], term: &Terminator, lu: &mut [u32]) {
    for (i, op) in ops.iter().enumerate() {
        debug_assert!(op.kind != kind::NOP, "deferred blocks have no dead records");
        let u = i as u32 + 1;
        lu[op.a as usize] = u;
        lu[op.b as usize] = u;
    }
    let n = ops.len() as u32;
    term.for_each_use(|t| lu[t as usize] = n + 1);
    if any_unread_pure(ops, lu) {
        remove_unread_defs(ops, lu);
    }
}

/// Removes the unread pure definitions of a block whose last uses `lu`
/// are complete and which has no dead global store (a deferred block),
/// latest first, so that a definition only its removed readers read is
/// seen unread in turn; a removed op that was an operand's last reader
/// hands that last use back to the operand's previous live reader (found
/// by scanning back). The result equals the backward pass's: every pure
/// op is kept exactly when a kept op reads it. Cheaper than the backward
/// pass for the few ops it removes.
fn remove_unread_defs(ops: &mut [UnitOp], lu: &mut [u32]) {
    for k in (0..ops.len()).rev() {
        let op = ops[k];
        if PROPS[(op.kind & 15) as usize] & prop::PURE == 0 || lu[op.dst as usize] != 0 {
            continue;
        }
        ops[k].kind = kind::NOP;
        let u = k as u32 + 1;
        for t in [op.a, op.b] {
            if lu[t as usize] == u {
                lu[t as usize] = ops[..k]
                    .iter()
                    .rposition(|o| o.kind != kind::NOP && (o.a == t || o.b == t))
                    .map_or(0, |j| j as u32 + 1);
            }
        }
    }
}

/// Whether a pure definition of `ops` is never read (`lu` complete).
#[inline]
fn any_unread_pure(ops: &[UnitOp], lu: &[u32]) -> bool {
    // Unread temps are rare (a vectorized test for zero says whether there
    // are any; an unsigned minimum needs SSE4.1, which the baseline target
    // lacks, and took three times the instructions); only then does it
    // matter what defines them.
    let any_unread = lu
        .get(1..)
        .is_some_and(|l| l.iter().fold(false, |z, &x| z | (x == 0)));
    any_unread
        && ops
            .iter()
            .any(|op| PROPS[(op.kind & 15) as usize] & prop::PURE != 0 && lu[op.dst as usize] == 0)
}

/// The forward pass of [`mark_dead_and_last_use`]: removes overwritten
/// global stores and records last uses; false if its result is not exact
/// (an unread pure definition, a removed store that was its value's last
/// reader, or a dead record in the input), in which case `lu` must be
/// recomputed backward (the removed stores are dead either way).
fn forward_dead_and_last_use(ops: &mut [UnitOp], term: &Terminator, lu: &mut [u32]) -> bool {
    // `1 +` the index of the latest store to each global and of the latest
    // load or store: a global store after the latter is dead when the
    // global is stored again.
    let mut last_set = [0u32; 64];
    let mut barrier = 0u32;
    let mut exact = true;
    for i in 0..ops.len() {
        let op = ops[i];
        let u = i as u32 + 1;
        lu[op.a as usize] = u;
        lu[op.b as usize] = u;
        let p = PROPS[(op.kind & 15) as usize];
        exact &= op.kind != kind::NOP;
        if p & prop::SET != 0 {
            let prev = std::mem::replace(&mut last_set[(op.sub & 63) as usize], u);
            if prev > barrier {
                let dead = &mut ops[prev as usize - 1];
                dead.kind = kind::NOP;
                // The dead store was its value's last reader so far: that
                // value's last use (and whether it is dead) needs the
                // backward pass.
                exact &= lu[dead.a as usize] != prev;
            }
        }
        if p & prop::BARRIER != 0 {
            barrier = u;
        }
    }
    let n = ops.len() as u32;
    term.for_each_use(|t| lu[t as usize] = n + 1);
    exact && !any_unread_pure(ops, lu)
}

/// The backward pass of [`mark_dead_and_last_use`], exact on any block:
/// one loop without a branch on the op kind (liveness from a property
/// table and the `dst`/`a`/`b` fields, last uses a `max`: whether an op is
/// live is as unpredictable as the op stream).
fn backward_dead_and_last_use(ops: &mut [UnitOp], term: &Terminator, lu: &mut [u32]) {
    let n = ops.len() as u32;
    term.for_each_use(|t| lu[t as usize] = n + 1);
    let mut overwritten = 0u64;
    for (i, op) in ops.iter_mut().enumerate().rev() {
        let p = PROPS[(op.kind & 15) as usize];
        let used = lu[op.dst as usize] != 0;
        let is_set = p & prop::SET != 0;
        let gbit = (1u64 << (op.sub & 63)) & (is_set as u64).wrapping_neg();
        let set_live = is_set & (overwritten & gbit == 0);
        let live = (p & prop::EFFECT != 0) | ((p & prop::DEF != 0) & used) | set_live;
        overwritten =
            (overwritten | gbit) & ((p & prop::BARRIER == 0) as u64).wrapping_neg();
        let v = (i as u32 + 1) * live as u32;
        let a = &mut lu[op.a as usize];
        *a = (*a).max(v);
        let b = &mut lu[op.b as usize];
        *b = (*b).max(v);
        op.kind &= (live as u8).wrapping_neg();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(index: u32) -> GuestLoc {
        GuestLoc {
            pc: 0x1000 + 4 * index as u64,
            next_pc: 0x1004 + 4 * index as u64,
            index,
        }
    }

    /// `pack` puts every field where a field-by-field record has it.
    #[test]
    fn pack_equals_field_construction() {
        for (kind, sub, dst, a, b, imm) in [
            (0u8, 0u8, 0u16, 0u16, 0u16, 0u64),
            (8, 0xff, 0xffff, 0x1234, 0xfedc, u64::MAX),
            (3, 63, 1, 0x8000, 7, 0x0123_4567_89ab_cdef),
        ] {
            let want = UnitOp {
                kind,
                sub,
                dst,
                a,
                b,
                imm,
            };
            assert_eq!(UnitOp::pack(kind, sub, dst, a, b, imm), want);
        }
        assert_eq!(std::mem::size_of::<UnitOp>(), 16);
    }

    /// Every sub-operation round-trips through a record.
    #[test]
    fn records_round_trip_to_ir_ops() {
        let mut b = UnitBuilder::new();
        let x = b.get(3);
        let c = b.constant(0xdead_beef_0123_4567);
        let mut want = vec![
            IrOp::GetGlobal { dst: x, g: 3 },
            IrOp::Const {
                dst: c,
                val: 0xdead_beef_0123_4567,
            },
        ];
        for op in BIN_OPS {
            let d = b.bin(op, x, c);
            want.push(IrOp::Bin { op, dst: d, a: x, b: c });
        }
        for cond in CONDS {
            let d = b.setcond(cond, c, x);
            want.push(IrOp::SetCond {
                cond,
                dst: d,
                a: c,
                b: x,
            });
        }
        for op in UN_OPS {
            let d = b.un(op, x);
            want.push(IrOp::Un { op, dst: d, a: x });
        }
        for (k, width) in WIDTHS.into_iter().enumerate() {
            for signed in [false, true] {
                let off = if signed { -0x1234 } else { i32::MAX };
                let d = b.load(x, off, width, signed, loc(k as u32));
                want.push(IrOp::Load {
                    dst: d,
                    addr: x,
                    off,
                    width,
                    signed,
                    loc: loc(k as u32),
                });
            }
            b.store(c, i32::MIN, x, width, loc(7));
            want.push(IrOp::Store {
                addr: c,
                off: i32::MIN,
                src: x,
                width,
                loc: loc(7),
            });
        }
        b.set(9, c);
        want.push(IrOp::SetGlobal { g: 9, src: c });
        // A BIN32 record is its operation into a temp of its own and the
        // zero extension of that (temps `num_temps + dst`).
        let w32: Vec<(BinOp, Temp)> = BIN_OPS.iter().map(|&op| (op, b.bin32(op, c, x))).collect();
        let n = b.num_temps();
        for (op, d) in w32 {
            want.push(IrOp::Bin {
                op,
                dst: n + d,
                a: c,
                b: x,
            });
            want.push(IrOp::Un {
                op: UnOp::Zext32,
                dst: d,
                a: n + d,
            });
        }
        let got = b.block_ir_ops(loc);
        assert_eq!(got, want);
        assert!(!b.overflowed());
        assert_eq!(ir_num_temps(&b.buf().ops, n), 2 * n);
        assert_eq!(ir_num_temps(&b.buf().ops[..2], n), n);
    }

    /// Deferred global stores: only the latest value of each global is
    /// stored, right before the next memory op and at the flush, in
    /// global order; the stores between two memory ops are the ones the
    /// dead-code pass keeps of the same block built without deferring.
    #[test]
    fn deferred_sets_are_the_live_sets() {
        let build = |defer: bool| {
            let mut b = UnitBuilder::new();
            b.defer_sets(defer);
            let x = b.get(0);
            let y = b.get(1);
            b.set(3, x);
            b.set(1, x);
            b.set(3, y);
            let v = b.load(x, 0, Width::W64, false, loc(0));
            b.set(2, v);
            b.set(2, y);
            b.store(y, 8, v, Width::W32, loc(1));
            b.set(5, v);
            b.flush_sets();
            b.flush_sets();
            let mut ops = b.take().ops;
            let mut lu = vec![0u32; 8];
            mark_dead_and_last_use(&mut ops, &Terminator::Jump(0), &mut lu);
            ops.retain(|o| o.kind != kind::NOP);
            ops
        };
        let (deferred, eager) = (build(true), build(false));
        let set = |g: u8, src: u16| UnitOp::pack(kind::SET, g, 0, src, 0, 0);
        let want = [
            UnitOp::pack(kind::GET, 0, 1, 0, 0, 0),
            UnitOp::pack(kind::GET, 1, 2, 0, 0, 0),
            set(1, 1),
            set(3, 2),
            UnitOp::pack(kind::LOAD, 3, 3, 1, 0, mem_imm(0, loc(0))),
            set(2, 2),
            UnitOp::pack(kind::STORE, 2, 0, 2, 3, mem_imm(8, loc(1))),
            set(5, 3),
        ];
        assert_eq!(deferred, want);
        // The same records as the eager block after the dead-code pass,
        // up to the order of the stores between two memory ops.
        let key = |o: &UnitOp| (o.kind, o.sub, o.a);
        let mut e: Vec<_> = eager.iter().map(key).collect();
        let mut d: Vec<_> = deferred.iter().map(key).collect();
        e[2..4].sort_unstable();
        d[2..4].sort_unstable();
        assert_eq!(d, e);
    }

    /// The forward pass with its fallback and the backward pass alone give
    /// the same records and last uses, on blocks that take each path.
    #[test]
    fn forward_and_backward_passes_agree() {
        let mut exact_seen = [false; 2];
        for case in 0..4 {
            let mut b = UnitBuilder::new();
            let x = b.get(0);
            let y = b.get(1);
            let s = b.bin(BinOp::Add, x, y);
            b.set(2, s);
            if case == 1 {
                let _unread = b.bin(BinOp::Mul, x, x);
            }
            if case == 2 {
                // The overwritten store is the last reader of `s`.
                b.set(2, y);
            }
            if case == 3 {
                let _ = b.load(y, 8, Width::W64, false, loc(0));
                b.set(2, x);
            }
            // Overwritten, but `x` is read again after the store.
            b.set(3, x);
            let z = b.bin(BinOp::Add, x, s);
            b.set(3, z);
            let nt = b.num_temps() as usize;
            let ops = b.take().ops;
            let term = Terminator::JumpIndirect(x);
            let mut fwd_ops = ops.clone();
            let mut fwd_lu = vec![0u32; nt];
            let exact = forward_dead_and_last_use(&mut fwd_ops, &term, &mut fwd_lu);
            exact_seen[exact as usize] = true;
            let mut got_ops = ops.clone();
            let mut got_lu = vec![0u32; nt];
            mark_dead_and_last_use(&mut got_ops, &term, &mut got_lu);
            let mut want_ops = ops;
            let mut want_lu = vec![0u32; nt];
            backward_dead_and_last_use(&mut want_ops, &term, &mut want_lu);
            assert_eq!(got_ops, want_ops, "case {case}");
            assert_eq!(got_lu[1..], want_lu[1..], "case {case}");
            if exact {
                assert_eq!(fwd_lu[1..], want_lu[1..], "case {case}");
            }
        }
        assert_eq!(exact_seen, [true, true]);
    }

    /// Overwritten global stores die unless a memory op sits between;
    /// results nobody reads die; last uses point at the last live reader.
    #[test]
    fn liveness_marks_dead_ops_and_last_uses() {
        let mut b = UnitBuilder::new();
        let x = b.get(0); // 1
        let y = b.get(1); // 2
        let s = b.bin(BinOp::Add, x, y); // 3
        b.set(2, s); // live: a load follows before the overwrite
        let unused = b.bin(BinOp::Mul, x, x); // dead
        let _ = unused;
        b.set(3, x); // live: a store follows before the overwrite
        let _ = b.load(y, 8, Width::W64, false, loc(0)); // live (may fault), dst unused
        b.set(3, y);
        b.set(2, y);
        b.set(5, x); // dead: overwritten with no memory op between
        b.set(5, y);
        let nt = b.num_temps() as usize; // temps 1..=5 (x*x is 4, the load 5)
        let mut ops = b.take().ops;
        let term = Terminator::Branch {
            cond: Cond::Eq,
            a: s,
            b: x,
            taken: 0,
            fallthrough: 0,
        };
        let mut lu = vec![0u32; nt];
        mark_dead_and_last_use(&mut ops, &term, &mut lu);
        let kinds: Vec<u8> = ops.iter().map(|o| o.kind).collect();
        use kind::*;
        assert_eq!(
            kinds,
            [GET, GET, BIN, SET, NOP, SET, LOAD, SET, SET, NOP, SET],
            "{ops:?}"
        );
        let n = ops.len() as u32;
        assert_eq!(lu[x as usize], n + 1); // the terminator
        assert_eq!(lu[s as usize], n + 1);
        assert_eq!(lu[y as usize], 11); // the last set
        assert_eq!(lu[unused as usize], 0);
    }
}
