//! Guest-independent block IR (TCG-like).
//!
//! A block is a straight-line list of [`IrOp`]s over 64-bit SSA temporaries
//! followed by one [`Terminator`]. Guest registers are "globals" (slots of
//! [`crate::state::GuestState::globals`]); a frontend decides which guest
//! register lives in which global. Every op has defined behaviour for every
//! input (division included), so backends need no guest knowledge.

use std::fmt;

pub mod dense;
mod unit;

pub use unit::{BlockIndex, PcMap, TranslationUnit, UnitBlock};

/// An SSA temporary (defined exactly once in a block).
pub type Temp = u32;

/// Two-operand integer operations on 64-bit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// Wrapping addition.
    Add,
    /// Wrapping subtraction.
    Sub,
    /// Bitwise and.
    And,
    /// Bitwise or.
    Or,
    /// Bitwise xor.
    Xor,
    /// Shift left by `b & 63`.
    Shl,
    /// Logical shift right by `b & 63`.
    Shr,
    /// Arithmetic shift right by `b & 63`.
    Sar,
    /// Low 64 bits of the product.
    Mul,
    /// High 64 bits of the signed x signed product.
    MulH,
    /// High 64 bits of the unsigned x unsigned product.
    MulHU,
    /// High 64 bits of the signed `a` x unsigned `b` product.
    MulHSU,
    /// Signed division; `x / 0 = -1`, `MIN / -1 = MIN`.
    Div,
    /// Unsigned division; `x / 0 = u64::MAX`.
    DivU,
    /// Signed remainder; `x % 0 = x`, `MIN % -1 = 0`.
    Rem,
    /// Unsigned remainder; `x % 0 = x`.
    RemU,
}

impl BinOp {
    /// Evaluates the operation (the reference semantics for every backend).
    pub fn eval(self, a: u64, b: u64) -> u64 {
        match self {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::And => a & b,
            BinOp::Or => a | b,
            BinOp::Xor => a ^ b,
            BinOp::Shl => a << (b & 63),
            BinOp::Shr => a >> (b & 63),
            BinOp::Sar => ((a as i64) >> (b & 63)) as u64,
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::MulH => (((a as i64 as i128) * (b as i64 as i128)) >> 64) as u64,
            BinOp::MulHU => (((a as u128) * (b as u128)) >> 64) as u64,
            BinOp::MulHSU => (((a as i64 as i128).wrapping_mul(b as i128)) >> 64) as u64,
            BinOp::Div => {
                if b == 0 {
                    u64::MAX
                } else {
                    (a as i64).wrapping_div(b as i64) as u64
                }
            }
            BinOp::DivU => a.checked_div(b).unwrap_or(u64::MAX),
            BinOp::Rem => {
                if b == 0 {
                    a
                } else {
                    (a as i64).wrapping_rem(b as i64) as u64
                }
            }
            BinOp::RemU => {
                if b == 0 {
                    a
                } else {
                    a % b
                }
            }
        }
    }
}

/// One-operand operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// Sign-extend the low 32 bits.
    Sext32,
    /// Zero-extend the low 32 bits.
    Zext32,
}

impl UnOp {
    /// Evaluates the operation.
    pub fn eval(self, a: u64) -> u64 {
        match self {
            UnOp::Sext32 => a as i32 as i64 as u64,
            UnOp::Zext32 => a as u32 as u64,
        }
    }
}

/// Integer comparisons (result 0 or 1, or a branch condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cond {
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
    /// Signed `a < b`.
    Lt,
    /// Signed `a >= b`.
    Ge,
    /// Unsigned `a < b`.
    Ltu,
    /// Unsigned `a >= b`.
    Geu,
}

impl Cond {
    /// Evaluates the comparison.
    pub fn eval(self, a: u64, b: u64) -> bool {
        match self {
            Cond::Eq => a == b,
            Cond::Ne => a != b,
            Cond::Lt => (a as i64) < (b as i64),
            Cond::Ge => (a as i64) >= (b as i64),
            Cond::Ltu => a < b,
            Cond::Geu => a >= b,
        }
    }
}

/// Memory access width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    /// 1 byte.
    W8,
    /// 2 bytes.
    W16,
    /// 4 bytes.
    W32,
    /// 8 bytes.
    W64,
}

impl Width {
    /// Size in bytes.
    pub fn bytes(self) -> u64 {
        1 << self.log2()
    }
    /// log2 of the size.
    pub fn log2(self) -> u32 {
        match self {
            Width::W8 => 0,
            Width::W16 => 1,
            Width::W32 => 2,
            Width::W64 => 3,
        }
    }
}

/// Where a memory op sits in the guest program, for precise exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestLoc {
    /// Guest pc of the instruction.
    pub pc: u64,
    /// Guest pc of the following instruction.
    pub next_pc: u64,
    /// Index of the instruction within the block (instructions before it retired).
    pub index: u32,
}

/// A straight-line IR operation. Operand fields are described by each
/// variant's formula (`dst`, `a`, `b`, `src`, `addr` are temps).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrOp {
    /// `dst = val`.
    Const { dst: Temp, val: u64 },
    /// `dst = globals[g]`.
    GetGlobal { dst: Temp, g: u8 },
    /// `globals[g] = src`.
    SetGlobal { g: u8, src: Temp },
    /// `dst = a op b`.
    Bin {
        op: BinOp,
        dst: Temp,
        a: Temp,
        b: Temp,
    },
    /// `dst = op a`.
    Un { op: UnOp, dst: Temp, a: Temp },
    /// `dst = cond(a, b) as u64`.
    SetCond {
        cond: Cond,
        dst: Temp,
        a: Temp,
        b: Temp,
    },
    /// `dst = extend(mem[addr + off])`; leaves the block with a fault if out of range.
    Load {
        dst: Temp,
        addr: Temp,
        off: i32,
        width: Width,
        signed: bool,
        loc: GuestLoc,
    },
    /// `mem[addr + off] = src`; may fault, and leaves the block after the
    /// store if it wrote into a page holding translated code.
    Store {
        addr: Temp,
        off: i32,
        src: Temp,
        width: Width,
        loc: GuestLoc,
    },
    /// Side exit of a superblock: if `cond(a, b)`, leave the block for
    /// guest pc `target` (chainable) with guest state exact and the
    /// instructions `0..=index` retired (the conditional branch at
    /// instruction `index`); otherwise the basic block at guest pc
    /// `fallthrough` starts (it counts as a block of the quantum) and
    /// execution continues with the next op. Only the RV64 frontend emits
    /// it (see [`crate::frontend::riscv::translate_superblock`]).
    SideExit {
        cond: Cond,
        a: Temp,
        b: Temp,
        target: u64,
        fallthrough: u64,
        index: u32,
    },
}

impl IrOp {
    /// The temp this op defines.
    #[inline]
    pub fn dst(&self) -> Option<Temp> {
        match *self {
            IrOp::Const { dst, .. }
            | IrOp::GetGlobal { dst, .. }
            | IrOp::Bin { dst, .. }
            | IrOp::Un { dst, .. }
            | IrOp::SetCond { dst, .. }
            | IrOp::Load { dst, .. } => Some(dst),
            IrOp::SetGlobal { .. } | IrOp::Store { .. } | IrOp::SideExit { .. } => None,
        }
    }

    /// Calls `f` on every temp this op reads.
    #[inline]
    pub fn for_each_use(&self, mut f: impl FnMut(Temp)) {
        match *self {
            IrOp::Const { .. } | IrOp::GetGlobal { .. } => {}
            IrOp::SetGlobal { src, .. } => f(src),
            IrOp::Bin { a, b, .. } | IrOp::SetCond { a, b, .. } | IrOp::SideExit { a, b, .. } => {
                f(a);
                f(b)
            }
            IrOp::Un { a, .. } => f(a),
            IrOp::Load { addr, .. } => f(addr),
            IrOp::Store { addr, src, .. } => {
                f(addr);
                f(src)
            }
        }
    }

    /// Rewrites every temp this op reads.
    #[inline]
    pub fn map_uses(&mut self, f: impl Fn(Temp) -> Temp) {
        match self {
            IrOp::Const { .. } | IrOp::GetGlobal { .. } => {}
            IrOp::SetGlobal { src, .. } => *src = f(*src),
            IrOp::Bin { a, b, .. } | IrOp::SetCond { a, b, .. } | IrOp::SideExit { a, b, .. } => {
                *a = f(*a);
                *b = f(*b)
            }
            IrOp::Un { a, .. } => *a = f(*a),
            IrOp::Load { addr, .. } => *addr = f(*addr),
            IrOp::Store { addr, src, .. } => {
                *addr = f(*addr);
                *src = f(*src)
            }
        }
    }

    /// Whether the op may leave the block early (fault, code-modified or
    /// side exit), so guest state must be exact before it.
    #[inline]
    pub fn may_exit(&self) -> bool {
        matches!(
            self,
            IrOp::Load { .. } | IrOp::Store { .. } | IrOp::SideExit { .. }
        )
    }
}

/// How a block ends. Fields are described by each variant's doc.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// Continue at a constant guest pc (chainable).
    Jump(u64),
    /// Continue at `taken` if `cond(a, b)`, else at `fallthrough` (both chainable).
    Branch {
        cond: Cond,
        a: Temp,
        b: Temp,
        taken: u64,
        fallthrough: u64,
    },
    /// Continue at a computed guest pc.
    JumpIndirect(Temp),
    /// A system call at `pc`; execution resumes at `next_pc` afterwards.
    Syscall { pc: u64, next_pc: u64 },
    /// A breakpoint trap at `pc`.
    Breakpoint { pc: u64 },
    /// The instruction at `pc` has no native lowering
    /// ([`crate::frontend::riscv::Lowering::Interpret`]): leave the block
    /// with it not retired; the dispatcher interprets exactly that one
    /// instruction ([`crate::backend::exit_code::INTERPRET`]).
    Interpret { pc: u64 },
    /// The register-only instruction at `pc`
    /// ([`crate::frontend::riscv::Lowering::Helper`]) runs in a call to the
    /// runtime helper (`CpuState::fp_helper_fn`) with the CPU state and
    /// `inst` ([`crate::frontend::riscv::Inst::pack`]), after the block's
    /// guest state is written back; then the block continues at `next_pc`
    /// (chainable). A trap in the helper (reserved rounding mode) leaves
    /// as [`Terminator::Interpret`] does. Only the RISC-V frontend emits
    /// it; the cross-architecture code generators reject it.
    Helper { pc: u64, next_pc: u64, inst: u64 },
}

impl Terminator {
    /// Calls `f` on every temp the terminator reads.
    #[inline]
    pub fn for_each_use(&self, mut f: impl FnMut(Temp)) {
        match *self {
            Terminator::Branch { a, b, .. } => {
                f(a);
                f(b)
            }
            Terminator::JumpIndirect(t) => f(t),
            _ => {}
        }
    }
}

/// A translated basic block in IR form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrBlock {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// Guest instructions covered.
    pub insn_count: u32,
    /// Number of temps allocated (temps are `0..num_temps`).
    pub num_temps: u32,
    /// Straight-line body.
    pub ops: Vec<IrOp>,
    /// Block exit.
    pub term: Terminator,
}

/// Marks a global whose value no temp holds yet (temps count up from 0
/// and a block never reaches `u32::MAX` of them).
const NO_TEMP: Temp = Temp::MAX;

/// Incremental builder used by frontends.
///
/// It folds as it builds, so a finished block needs no forward optimizer
/// pass (`opt::fold_and_forward` leaves it unchanged): repeated reads of a
/// global reuse the temp that holds it, operations on constants become
/// constants, algebraic identities (`x + 0`, `x & x`, `x ^ x`, ...) return
/// an existing temp without emitting an op, and a branch or indirect jump
/// on constants becomes a direct jump. Folding here instead of in a pass
/// over the finished ops saves copying every op out and back (most of that
/// pass's cost) and never emits the ops the pass would have rewritten.
#[derive(Debug)]
pub struct IrBuilder {
    ops: Vec<IrOp>,
    next: Temp,
    /// Temp currently known to hold each global (read or written earlier
    /// in the block): repeated reads reuse it instead of emitting ops that
    /// the optimizer would only delete again.
    /// (`NO_TEMP`: unknown; a plain temp array is half the size to clear
    /// per block than `Option<Temp>`.)
    known: [Temp; crate::state::NUM_GLOBALS],
    /// Constant value of each temp defined so far (`None`: not a constant).
    konst: Vec<Option<u64>>,
}

impl Default for IrBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Result of [`simplify`]: an identity that needs no op.
pub(crate) enum Simplified {
    /// The result is this existing temp.
    Alias(Temp),
    /// The result is this constant.
    Const(u64),
}

/// Algebraic identities of `a op b` given what is known of the operands'
/// constant values (the optimizer's forward pass and [`IrBuilder`] apply
/// the same rules).
#[inline]
pub(crate) fn simplify(
    op: BinOp,
    a: Temp,
    b: Temp,
    ka: Option<u64>,
    kb: Option<u64>,
) -> Option<Simplified> {
    use BinOp::*;
    use Simplified::*;
    match (op, ka, kb) {
        (Add | Sub | Or | Xor | Shl | Shr | Sar, _, Some(0)) => Some(Alias(a)),
        (Add | Or | Xor, Some(0), _) => Some(Alias(b)),
        (And | Mul, _, Some(0)) | (And | Mul | Shl | Shr | Sar, Some(0), _) => Some(Const(0)),
        (And, _, Some(u64::MAX)) | (Mul, _, Some(1)) => Some(Alias(a)),
        (And, Some(u64::MAX), _) | (Mul, Some(1), _) => Some(Alias(b)),
        (Sub | Xor, _, _) if a == b => Some(Const(0)),
        (And | Or, _, _) if a == b => Some(Alias(a)),
        _ => None,
    }
}

impl IrBuilder {
    /// New empty builder.
    pub fn new() -> Self {
        Self::with_capacity(64)
    }
    /// New empty builder with room for `ops` operations (a block of `n`
    /// guest instructions needs about `3 * n + 2`): a right-sized buffer of
    /// a small block stays within the allocator's per-thread cache, where
    /// the fixed 64-op buffer of [`IrBuilder::new`] (2.5 KB) did not.
    pub fn with_capacity(ops: usize) -> Self {
        Self {
            ops: Vec::with_capacity(ops),
            next: 0,
            known: [NO_TEMP; crate::state::NUM_GLOBALS],
            konst: Vec::with_capacity(ops),
        }
    }
    /// Starts a new block in a long-lived builder, reusing the allocation of
    /// `ops` (cleared); pairs with [`IrBuilder::take_block`]. Keeping one
    /// builder per translation context avoids re-initializing and moving it
    /// for every block.
    pub fn reset(&mut self, mut ops: Vec<IrOp>) {
        ops.clear();
        self.ops = ops;
        self.next = 0;
        self.known = [NO_TEMP; crate::state::NUM_GLOBALS];
        self.konst.clear();
    }
    /// Finishes the current block, leaving the builder empty until the next
    /// [`IrBuilder::reset`].
    pub fn take_block(&mut self, pc: u64, insn_count: u32, term: Terminator) -> IrBlock {
        let term = self.fold_terminator(term);
        IrBlock {
            pc,
            insn_count,
            num_temps: self.next,
            ops: std::mem::take(&mut self.ops),
            term,
        }
    }
    /// The constant value of `t`, if the builder knows it.
    #[inline]
    pub fn const_value(&self, t: Temp) -> Option<u64> {
        self.konst[t as usize]
    }
    /// A branch on two constants is a jump; an indirect jump to a constant
    /// is a direct one.
    fn fold_terminator(&self, term: Terminator) -> Terminator {
        match term {
            Terminator::Branch {
                cond,
                a,
                b,
                taken,
                fallthrough,
            } => match (self.const_value(a), self.const_value(b)) {
                (Some(x), Some(y)) => {
                    Terminator::Jump(if cond.eval(x, y) { taken } else { fallthrough })
                }
                _ => term,
            },
            Terminator::JumpIndirect(t) => match self.const_value(t) {
                Some(pc) => Terminator::Jump(pc),
                None => term,
            },
            t => t,
        }
    }
    #[inline]
    fn temp(&mut self, konst: Option<u64>) -> Temp {
        let t = self.next;
        self.next += 1;
        self.konst.push(konst);
        t
    }
    /// Emits a constant.
    #[inline]
    pub fn constant(&mut self, val: u64) -> Temp {
        let dst = self.temp(Some(val));
        self.ops.push(IrOp::Const { dst, val });
        dst
    }
    /// Reads a global.
    #[inline]
    pub fn get(&mut self, g: u8) -> Temp {
        let t = self.known[g as usize];
        if t != NO_TEMP {
            return t;
        }
        let dst = self.temp(None);
        self.ops.push(IrOp::GetGlobal { dst, g });
        self.known[g as usize] = dst;
        dst
    }
    /// Writes a global.
    #[inline]
    pub fn set(&mut self, g: u8, src: Temp) {
        self.ops.push(IrOp::SetGlobal { g, src });
        self.known[g as usize] = src;
    }
    /// Binary op (folded when both operands are constants or an identity
    /// applies).
    #[inline]
    pub fn bin(&mut self, op: BinOp, a: Temp, b: Temp) -> Temp {
        let (ka, kb) = (self.const_value(a), self.const_value(b));
        if let (Some(x), Some(y)) = (ka, kb) {
            return self.constant(op.eval(x, y));
        }
        match simplify(op, a, b, ka, kb) {
            Some(Simplified::Alias(t)) => t,
            Some(Simplified::Const(v)) => self.constant(v),
            None => {
                let dst = self.temp(None);
                self.ops.push(IrOp::Bin { op, dst, a, b });
                dst
            }
        }
    }
    /// Unary op (folded on a constant).
    #[inline]
    pub fn un(&mut self, op: UnOp, a: Temp) -> Temp {
        if let Some(x) = self.const_value(a) {
            return self.constant(op.eval(x));
        }
        let dst = self.temp(None);
        self.ops.push(IrOp::Un { op, dst, a });
        dst
    }
    /// Comparison to 0/1 (folded on constants).
    #[inline]
    pub fn setcond(&mut self, cond: Cond, a: Temp, b: Temp) -> Temp {
        if let (Some(x), Some(y)) = (self.const_value(a), self.const_value(b)) {
            return self.constant(cond.eval(x, y) as u64);
        }
        let dst = self.temp(None);
        self.ops.push(IrOp::SetCond { cond, dst, a, b });
        dst
    }
    /// Memory load.
    #[inline]
    pub fn load(
        &mut self,
        addr: Temp,
        off: i32,
        width: Width,
        signed: bool,
        loc: GuestLoc,
    ) -> Temp {
        let dst = self.temp(None);
        self.ops.push(IrOp::Load {
            dst,
            addr,
            off,
            width,
            signed,
            loc,
        });
        dst
    }
    /// Memory store.
    #[inline]
    pub fn store(&mut self, addr: Temp, off: i32, src: Temp, width: Width, loc: GuestLoc) {
        self.ops.push(IrOp::Store {
            addr,
            off,
            src,
            width,
            loc,
        });
    }
    /// Superblock side exit (see [`IrOp::SideExit`]); the caller folds
    /// one on constants.
    #[inline]
    pub fn side_exit(&mut self, cond: Cond, a: Temp, b: Temp, target: u64, fallthrough: u64, index: u32) {
        self.ops.push(IrOp::SideExit {
            cond,
            a,
            b,
            target,
            fallthrough,
            index,
        });
    }
    /// Finishes the block.
    pub fn finish(mut self, pc: u64, insn_count: u32, term: Terminator) -> IrBlock {
        self.take_block(pc, insn_count, term)
    }
}

impl fmt::Display for IrBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "block {:#x} ({} insns):", self.pc, self.insn_count)?;
        for op in &self.ops {
            writeln!(f, "  {op:?}")?;
        }
        writeln!(f, "  {:?}", self.term)
    }
}
