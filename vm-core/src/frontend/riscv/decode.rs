//! Decoder for the RV64I base ISA, the M, A, F and D extensions, Zicsr (for
//! the floating-point CSRs and the counters) and FENCE.I.
//!
//! Decoding is total: every 32-bit word yields either an [`Inst`] or a
//! [`DecodeError`]; nothing panics. The compressed extension is not
//! supported, so any word whose low two bits are not `11` is illegal.

use thiserror::Error;

/// Operation of a decoded instruction.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    Lui,
    Auipc,
    Jal,
    Jalr,
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
    Lb,
    Lh,
    Lw,
    Ld,
    Lbu,
    Lhu,
    Lwu,
    Sb,
    Sh,
    Sw,
    Sd,
    Addi,
    Slti,
    Sltiu,
    Xori,
    Ori,
    Andi,
    Slli,
    Srli,
    Srai,
    Add,
    Sub,
    Sll,
    Slt,
    Sltu,
    Xor,
    Srl,
    Sra,
    Or,
    And,
    Fence,
    FenceI,
    Ecall,
    Ebreak,
    Addiw,
    Slliw,
    Srliw,
    Sraiw,
    Addw,
    Subw,
    Sllw,
    Srlw,
    Sraw,
    Mul,
    Mulh,
    Mulhsu,
    Mulhu,
    Div,
    Divu,
    Rem,
    Remu,
    Mulw,
    Divw,
    Divuw,
    Remw,
    Remuw,
    // ---- A extension (rvgc-a): `rm` holds the aq/rl bits (aq << 1 | rl),
    // `imm` is 0; the address is `rs1` alone.
    LrW,
    ScW,
    AmoswapW,
    AmoaddW,
    AmoxorW,
    AmoandW,
    AmoorW,
    AmominW,
    AmomaxW,
    AmominuW,
    AmomaxuW,
    LrD,
    ScD,
    AmoswapD,
    AmoaddD,
    AmoxorD,
    AmoandD,
    AmoorD,
    AmominD,
    AmomaxD,
    AmominuD,
    AmomaxuD,
    // ---- F/D/Zicsr (rvgc-fp) ----
    // Register numbers of floating-point operands index f0..f31 (IR globals
    // 32..63); `rm` holds the rounding-mode field where the instruction has
    // one (see `Op::has_rm`).
    Flw,
    Fsw,
    Fld,
    Fsd,
    FmaddS,
    FmsubS,
    FnmsubS,
    FnmaddS,
    FmaddD,
    FmsubD,
    FnmsubD,
    FnmaddD,
    FaddS,
    FsubS,
    FmulS,
    FdivS,
    FsqrtS,
    FsgnjS,
    FsgnjnS,
    FsgnjxS,
    FminS,
    FmaxS,
    FcvtWS,
    FcvtWuS,
    FcvtLS,
    FcvtLuS,
    FmvXW,
    FclassS,
    FeqS,
    FltS,
    FleS,
    FcvtSW,
    FcvtSWu,
    FcvtSL,
    FcvtSLu,
    FmvWX,
    FaddD,
    FsubD,
    FmulD,
    FdivD,
    FsqrtD,
    FsgnjD,
    FsgnjnD,
    FsgnjxD,
    FminD,
    FmaxD,
    FcvtSD,
    FcvtDS,
    FcvtWD,
    FcvtWuD,
    FcvtLD,
    FcvtLuD,
    FmvXD,
    FclassD,
    FeqD,
    FltD,
    FleD,
    FcvtDW,
    FcvtDWu,
    FcvtDL,
    FcvtDLu,
    FmvDX,
    /// Zicsr: `imm` is the CSR number (0..4095), `rs1` the source register.
    Csrrw,
    Csrrs,
    Csrrc,
    /// Zicsr immediate forms: `rs1` holds the 5-bit zero-extended immediate.
    Csrrwi,
    Csrrsi,
    Csrrci,
}

/// How the JIT tiers execute an operation. One classification that every
/// tier (optimizing, baseline, tiered, AOT images, the softmmu) consults:
/// an operation is [`Lowering::Native`] only when every tier emits host
/// code for it, and every operation not listed as native takes the
/// fallback, so adding an `Op` cannot silently miscompile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lowering {
    /// Every JIT tier emits host code for it.
    Native,
    /// Register-only operation (F/D arithmetic, compares, conversions,
    /// the floating-point CSRs) executed by a call from generated code into
    /// the runtime helper `interp::fp::jit_fp_helper` (the interpreter's
    /// exact semantics); the instruction ends its block and the block
    /// continues at the next instruction (chained) after the call.
    Helper,
    /// Generated code leaves the block before the instruction
    /// (exit code `INTERPRET`) and the dispatcher
    /// interprets exactly that instruction; the instruction ends its block.
    Interpret,
}

impl Op {
    /// Every operation, for exhaustive tests.
    pub const ALL: [Op; 66 + 22 + 68] = {
        use Op::*;
        [
            Lui, Auipc, Jal, Jalr, Beq, Bne, Blt, Bge, Bltu, Bgeu, Lb, Lh, Lw, Ld, Lbu, Lhu, Lwu,
            Sb, Sh, Sw, Sd, Addi, Slti, Sltiu, Xori, Ori, Andi, Slli, Srli, Srai, Add, Sub, Sll,
            Slt, Sltu, Xor, Srl, Sra, Or, And, Fence, FenceI, Ecall, Ebreak, Addiw, Slliw, Srliw,
            Sraiw, Addw, Subw, Sllw, Srlw, Sraw, Mul, Mulh, Mulhsu, Mulhu, Div, Divu, Rem, Remu,
            Mulw, Divw, Divuw, Remw, Remuw,
            // A (rvgc-a)
            LrW, ScW, AmoswapW, AmoaddW, AmoxorW, AmoandW, AmoorW, AmominW, AmomaxW, AmominuW,
            AmomaxuW, LrD, ScD, AmoswapD, AmoaddD, AmoxorD, AmoandD, AmoorD, AmominD, AmomaxD,
            AmominuD, AmomaxuD,
            // F/D/Zicsr
            Flw, Fsw, Fld, Fsd, FmaddS, FmsubS, FnmsubS, FnmaddS, FmaddD, FmsubD, FnmsubD,
            FnmaddD, FaddS, FsubS, FmulS, FdivS, FsqrtS, FsgnjS, FsgnjnS, FsgnjxS, FminS, FmaxS,
            FcvtWS, FcvtWuS, FcvtLS, FcvtLuS, FmvXW, FclassS, FeqS, FltS, FleS, FcvtSW, FcvtSWu,
            FcvtSL, FcvtSLu, FmvWX, FaddD, FsubD, FmulD, FdivD, FsqrtD, FsgnjD, FsgnjnD, FsgnjxD,
            FminD, FmaxD, FcvtSD, FcvtDS, FcvtWD, FcvtWuD, FcvtLD, FcvtLuD, FmvXD, FclassD, FeqD,
            FltD, FleD, FcvtDW, FcvtDWu, FcvtDL, FcvtDLu, FmvDX, Csrrw, Csrrs, Csrrc, Csrrwi,
            Csrrsi, Csrrci,
        ]
    };

    /// How the JIT tiers execute this operation (see [`Lowering`]). The
    /// native operations are listed; anything else, including every
    /// operation added later until a tier lowers it, is interpreted.
    pub const fn lowering(self) -> Lowering {
        use Op::*;
        match self {
            Lui | Auipc | Jal | Jalr | Beq | Bne | Blt | Bge | Bltu | Bgeu | Lb | Lh | Lw | Ld
            | Lbu | Lhu | Lwu | Sb | Sh | Sw | Sd | Addi | Slti | Sltiu | Xori | Ori | Andi
            | Slli | Srli | Srai | Add | Sub | Sll | Slt | Sltu | Xor | Srl | Sra | Or | And
            | Fence | FenceI | Ecall | Ebreak | Addiw | Slliw | Srliw | Sraiw | Addw | Subw
            | Sllw | Srlw | Sraw | Mul | Mulh | Mulhsu | Mulhu | Div | Divu | Rem | Remu | Mulw
            | Divw | Divuw | Remw | Remuw => Lowering::Native,
            // F/D operations that are integer operations on the FP
            // registers (IR globals 32..63): loads, stores, moves and the
            // double sign injections.
            Flw | Fsw | Fld | Fsd | FmvXW | FmvWX | FmvXD | FmvDX | FsgnjD | FsgnjnD
            | FsgnjxD => Lowering::Native,
            // Zicsr: the floating-point CSRs call the helper, the counters
            // are interpreted (see `Inst::lowering`, which looks at the CSR).
            Csrrw | Csrrs | Csrrc | Csrrwi | Csrrsi | Csrrci => Lowering::Helper,
            op if op.is_fp_or_csr() => Lowering::Helper,
            _ => Lowering::Interpret,
        }
    }

    /// Whether this is an A-extension operation (LR, SC or an AMO).
    pub const fn is_atomic(self) -> bool {
        (self as u8) >= (Op::LrW as u8) && (self as u8) <= (Op::AmomaxuD as u8)
    }

    /// Whether this is an F, D or Zicsr operation (the block of the enum
    /// from [`Op::Flw`] on).
    pub const fn is_fp_or_csr(self) -> bool {
        self as u8 >= Op::Flw as u8 && self as u8 <= Op::Csrrci as u8
    }

    /// Whether this is a Zicsr operation.
    pub const fn is_csr(self) -> bool {
        self as u8 >= Op::Csrrw as u8 && self as u8 <= Op::Csrrci as u8
    }

    /// Whether the instruction has a rounding-mode field (kept in
    /// [`Inst::rm`]; 7 selects the dynamic mode of `frm`).
    pub const fn has_rm(self) -> bool {
        use Op::*;
        matches!(
            self,
            FmaddS
                | FmsubS
                | FnmsubS
                | FnmaddS
                | FmaddD
                | FmsubD
                | FnmsubD
                | FnmaddD
                | FaddS
                | FsubS
                | FmulS
                | FdivS
                | FsqrtS
                | FcvtWS
                | FcvtWuS
                | FcvtLS
                | FcvtLuS
                | FcvtSW
                | FcvtSWu
                | FcvtSL
                | FcvtSLu
                | FaddD
                | FsubD
                | FmulD
                | FdivD
                | FsqrtD
                | FcvtSD
                | FcvtDS
                | FcvtWD
                | FcvtWuD
                | FcvtLD
                | FcvtLuD
                | FcvtDW
                | FcvtDWu
                | FcvtDL
                | FcvtDLu
        )
    }

    /// Whether this instruction ends a basic block (control transfer, a
    /// trap into the runtime, or an operation the JIT tiers do not lower
    /// natively, helper call or interpreted: such an instruction is always
    /// the last of its block).
    pub const fn ends_block(self) -> bool {
        !matches!(self.lowering(), Lowering::Native)
            || matches!(
            self,
            Op::Jal
                | Op::Jalr
                | Op::Beq
                | Op::Bne
                | Op::Blt
                | Op::Bge
                | Op::Bltu
                | Op::Bgeu
                | Op::Ecall
                | Op::Ebreak
                | Op::FenceI
        )
    }
}

/// A decoded instruction: 12 bytes, cheap to copy and to interpret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inst {
    /// Operation.
    pub op: Op,
    /// Destination register (0 when unused).
    pub rd: u8,
    /// First source register (0 when unused).
    pub rs1: u8,
    /// Second source register (0 when unused).
    pub rs2: u8,
    /// Third source register (fused multiply-add; 0 when unused).
    pub rs3: u8,
    /// Operation modifier: the rounding-mode field of floating-point
    /// instructions, the `aq`/`rl` bits of atomics (0 when unused).
    pub rm: u8,
    /// Encoded length in bytes: 4, or 2 for a compressed instruction. The
    /// next sequential instruction is at `pc + len`.
    pub len: u8,
    /// Sign-extended immediate (already shifted for LUI/AUIPC; shift amount for shifts).
    pub imm: i32,
}

impl Inst {
    /// How the JIT tiers execute this instruction: [`Op::lowering`],
    /// except that a Zicsr instruction on a counter CSR (`cycle`, `time`,
    /// `instret`) is interpreted (only the floating-point CSRs call the
    /// helper). Both end the block, as [`Op::ends_block`] says.
    #[inline]
    pub const fn lowering(&self) -> Lowering {
        match self.op.lowering() {
            Lowering::Helper
                if self.op.is_csr()
                    && !matches!(self.imm as u16, csr::FFLAGS | csr::FRM | csr::FCSR) =>
            {
                Lowering::Interpret
            }
            l => l,
        }
    }

    /// The instruction packed into one word for the FP helper call
    /// (generated code passes it as an immediate): op, rd, rs1, rs2, rs3,
    /// rm in bytes 0..6, the low 16 bits of `imm` (the CSR number) in
    /// bytes 6..8. [`Inst::unpack`] inverts it for register-only F/D/Zicsr
    /// instructions (their other fields are unused).
    #[inline]
    pub const fn pack(&self) -> u64 {
        (self.op as u8 as u64)
            | (self.rd as u64) << 8
            | (self.rs1 as u64) << 16
            | (self.rs2 as u64) << 24
            | (self.rs3 as u64) << 32
            | (self.rm as u64) << 40
            | (self.imm as u16 as u64) << 48
    }

    /// Inverse of [`Inst::pack`] (`len` is 4; the immediate is the CSR
    /// number, zero-extended). None if the op byte names no operation.
    #[inline]
    pub fn unpack(w: u64) -> Option<Inst> {
        let op = *Op::ALL.get((w & 0xff) as usize)?;
        let b = |k: u32| (w >> (8 * k)) as u8;
        Some(Inst {
            op,
            rd: b(1),
            rs1: b(2),
            rs2: b(3),
            rs3: b(4),
            rm: b(5),
            len: 4,
            imm: (w >> 48) as u16 as i32,
        })
    }
}

/// A word that is not a supported instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Illegal or unsupported encoding.
    #[error("illegal instruction {0:#010x}")]
    Illegal(u32),
}

#[inline(always)]
fn bits(w: u32, hi: u32, lo: u32) -> u32 {
    (w >> lo) & ((1u32 << (hi - lo + 1)) - 1)
}

/// How a class of encodings (major opcode + funct3) is decoded: which
/// operand fields and which immediate it has, and which other bits must
/// be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Not an RV64IM encoding.
    Illegal,
    /// `rd, imm[31:12]` (LUI, AUIPC).
    U,
    /// `rd, jump offset` (JAL).
    J,
    /// `rd, rs1, imm[11:0]` (loads, ALU immediates, ADDIW, JALR).
    I,
    /// `rs1, rs2, branch offset`.
    B,
    /// `rs1, rs2, store offset`.
    S,
    /// `rd, rs1, rs2`; funct7 selects the operation (see [`R_OPS`]).
    R,
    /// 64-bit immediate shift: funct6 = 0, or 0x10 for SRAI (funct3 5).
    Shift64,
    /// 32-bit immediate shift: funct7 = 0, or 0x20 for SRAIW (funct3 5).
    Shift32,
    /// FENCE / FENCE.I: no operands are kept.
    Fence,
    /// ECALL / EBREAK: exact words.
    System,
    /// A extension (opcode 0x2f, funct3 2 = .W, 3 = .D): funct5 selects
    /// the operation (see [`AMO_OPS`]); LR needs rs2 = 0.
    Amo,
    /// R4-type fused multiply-add (`rd, rs1, rs2, rs3, rm`); the table's
    /// operation is the single-precision one, bits 26:25 pick S or D.
    Fma,
    /// OP-FP (opcode 0x53): funct7, and rs2 or funct3, pick the operation
    /// ([`decode_op_fp`]).
    OpFp,
    /// Zicsr: the CSR number must be one the VM implements and writes to
    /// read-only counters are illegal ([`csr_access_ok`]).
    Csr,
}

/// `(operation, format)` per major opcode (bits 6:2) and funct3, the
/// index being `opcode[6:2] << 3 | funct3`. For [`Format::R`] the
/// operation is a placeholder (funct7 picks it from [`R_OPS`]).
static CLASSES: [(Op, Format); 256] = classes();

const fn classes() -> [(Op, Format); 256] {
    use Format::{Illegal, Shift32, Shift64, System, B, I, J, R, S, U};
    use Op::*;
    let mut t = [(Lui, Illegal); 256];
    const fn at(opcode: u32, f3: u32) -> usize {
        (((opcode >> 2) << 3) | f3) as usize
    }
    let mut f3 = 0;
    while f3 < 8 {
        t[at(0x37, f3)] = (Lui, U);
        t[at(0x17, f3)] = (Auipc, U);
        t[at(0x6f, f3)] = (Jal, J);
        t[at(0x33, f3)] = (Add, R);
        t[at(0x3b, f3)] = (Addw, R);
        f3 += 1;
    }
    t[at(0x67, 0)] = (Jalr, I);
    let branches = [Beq, Bne, Lui, Lui, Blt, Bge, Bltu, Bgeu];
    let loads = [Lb, Lh, Lw, Ld, Lbu, Lhu, Lwu, Lui];
    let alu_imm = [Addi, Slli, Slti, Sltiu, Xori, Srli, Ori, Andi];
    let mut f3 = 0;
    while f3 < 8 {
        if f3 != 2 && f3 != 3 {
            t[at(0x63, f3 as u32)] = (branches[f3], B);
        }
        if f3 != 7 {
            t[at(0x03, f3 as u32)] = (loads[f3], I);
        }
        if f3 < 4 {
            t[at(0x23, f3 as u32)] = ([Sb, Sh, Sw, Sd][f3], S);
        }
        t[at(0x13, f3 as u32)] = (alu_imm[f3], if f3 == 1 || f3 == 5 { Shift64 } else { I });
        f3 += 1;
    }
    t[at(0x1b, 0)] = (Addiw, I);
    t[at(0x1b, 1)] = (Slliw, Shift32);
    t[at(0x1b, 5)] = (Srliw, Shift32);
    t[at(0x0f, 0)] = (Op::Fence, Format::Fence);
    t[at(0x0f, 1)] = (FenceI, Format::Fence);
    t[at(0x73, 0)] = (Ecall, System);
    // Placeholder operation (funct5 picks it); all A operations share one
    // block-ending behaviour, checked in `checks`.
    t[at(0x2f, 2)] = (LrW, Format::Amo);
    t[at(0x2f, 3)] = (LrD, Format::Amo);
    // F/D/Zicsr.
    t[at(0x07, 2)] = (Flw, I);
    t[at(0x07, 3)] = (Fld, I);
    t[at(0x27, 2)] = (Fsw, S);
    t[at(0x27, 3)] = (Fsd, S);
    let csrs = [Lui, Csrrw, Csrrs, Csrrc, Lui, Csrrwi, Csrrsi, Csrrci];
    let mut f3 = 0;
    while f3 < 8 {
        t[at(0x43, f3 as u32)] = (FmaddS, Format::Fma);
        t[at(0x47, f3 as u32)] = (FmsubS, Format::Fma);
        t[at(0x4b, f3 as u32)] = (FnmsubS, Format::Fma);
        t[at(0x4f, f3 as u32)] = (FnmaddS, Format::Fma);
        t[at(0x53, f3 as u32)] = (FaddS, Format::OpFp);
        if f3 != 0 && f3 != 4 {
            t[at(0x73, f3 as u32)] = (csrs[f3], Format::Csr);
        }
        f3 += 1;
    }
    t
}

/// A-extension operations: `[funct3 - 2][funct5]`; `None` is illegal.
static AMO_OPS: [[Option<Op>; 32]; 2] = amo_ops();

const fn amo_ops() -> [[Option<Op>; 32]; 2] {
    use Op::*;
    let mut t = [[None; 32]; 2];
    let w = [AmoaddW, AmoswapW, LrW, ScW, AmoxorW, AmoorW, AmoandW, AmominW, AmomaxW, AmominuW, AmomaxuW];
    let d = [AmoaddD, AmoswapD, LrD, ScD, AmoxorD, AmoorD, AmoandD, AmominD, AmomaxD, AmominuD, AmomaxuD];
    let f5 = [0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c];
    let mut k = 0;
    while k < f5.len() {
        t[0][f5[k]] = Some(w[k]);
        t[1][f5[k]] = Some(d[k]);
        k += 1;
    }
    t
}

/// CSR numbers the VM implements.
pub mod csr {
    /// Accrued floating-point exception flags (fcsr bits 4:0).
    pub const FFLAGS: u16 = 0x001;
    /// Dynamic rounding mode (fcsr bits 7:5).
    pub const FRM: u16 = 0x002;
    /// `frm << 5 | fflags`.
    pub const FCSR: u16 = 0x003;
    /// Cycle counter (read-only; the VM returns the retired-instruction count).
    pub const CYCLE: u16 = 0xc00;
    /// Wall-clock timer (read-only; host monotonic nanoseconds).
    pub const TIME: u16 = 0xc01;
    /// Retired-instruction counter (read-only).
    pub const INSTRET: u16 = 0xc02;
}

/// Whether a Zicsr instruction (`op`, CSR `num`, `rs1` field) accesses a
/// CSR the VM implements in a permitted way: the floating-point CSRs are
/// read-write, the counters read-only (CSRRS/CSRRC with `rs1` = x0 and
/// their immediate forms with 0 do not write). Anything else is an
/// illegal instruction, as a Linux user-mode process sees it (SIGILL).
#[inline]
const fn csr_access_ok(op: Op, num: u32, rs1: u8) -> bool {
    let writes = match op {
        Op::Csrrw | Op::Csrrwi => true,
        _ => rs1 != 0,
    };
    match num as u16 {
        csr::FFLAGS | csr::FRM | csr::FCSR => true,
        csr::CYCLE | csr::TIME | csr::INSTRET => !writes,
        _ => false,
    }
}

/// Decodes an OP-FP word (opcode 0x53).
#[inline]
fn decode_op_fp(w: u32) -> Result<Inst, DecodeError> {
    use Op::*;
    let rd = bits(w, 11, 7) as u8;
    let rs1 = bits(w, 19, 15) as u8;
    let rs2 = bits(w, 24, 20);
    let f3 = bits(w, 14, 12);
    let f7 = bits(w, 31, 25);
    let d = f7 & 1 == 1;
    let pick = |s: Op, dd: Op| if d { dd } else { s };
    // (operation, uses rs2 as an operand)
    let (op, binary) = match f7 >> 2 {
        0x00 if f7 & 2 == 0 => (pick(FaddS, FaddD), true),
        0x01 if f7 & 2 == 0 => (pick(FsubS, FsubD), true),
        0x02 if f7 & 2 == 0 => (pick(FmulS, FmulD), true),
        0x03 if f7 & 2 == 0 => (pick(FdivS, FdivD), true),
        0x0b if f7 & 2 == 0 && rs2 == 0 => (pick(FsqrtS, FsqrtD), false),
        0x04 if f7 & 2 == 0 => match f3 {
            0 => (pick(FsgnjS, FsgnjD), true),
            1 => (pick(FsgnjnS, FsgnjnD), true),
            2 => (pick(FsgnjxS, FsgnjxD), true),
            _ => return Err(DecodeError::Illegal(w)),
        },
        0x05 if f7 & 2 == 0 => match f3 {
            0 => (pick(FminS, FminD), true),
            1 => (pick(FmaxS, FmaxD), true),
            _ => return Err(DecodeError::Illegal(w)),
        },
        0x08 if f7 == 0x20 && rs2 == 1 => (FcvtSD, false),
        0x08 if f7 == 0x21 && rs2 == 0 => (FcvtDS, false),
        0x14 if f7 & 2 == 0 => match f3 {
            0 => (pick(FleS, FleD), true),
            1 => (pick(FltS, FltD), true),
            2 => (pick(FeqS, FeqD), true),
            _ => return Err(DecodeError::Illegal(w)),
        },
        0x18 if f7 & 2 == 0 => match rs2 {
            0 => (pick(FcvtWS, FcvtWD), false),
            1 => (pick(FcvtWuS, FcvtWuD), false),
            2 => (pick(FcvtLS, FcvtLD), false),
            3 => (pick(FcvtLuS, FcvtLuD), false),
            _ => return Err(DecodeError::Illegal(w)),
        },
        0x1a if f7 & 2 == 0 => match rs2 {
            0 => (pick(FcvtSW, FcvtDW), false),
            1 => (pick(FcvtSWu, FcvtDWu), false),
            2 => (pick(FcvtSL, FcvtDL), false),
            3 => (pick(FcvtSLu, FcvtDLu), false),
            _ => return Err(DecodeError::Illegal(w)),
        },
        0x1c if f7 & 2 == 0 && rs2 == 0 => match f3 {
            0 => (pick(FmvXW, FmvXD), false),
            1 => (pick(FclassS, FclassD), false),
            _ => return Err(DecodeError::Illegal(w)),
        },
        0x1e if f7 & 2 == 0 && rs2 == 0 && f3 == 0 => (pick(FmvWX, FmvDX), false),
        _ => return Err(DecodeError::Illegal(w)),
    };
    let rm = if op.has_rm() {
        if f3 == 5 || f3 == 6 {
            return Err(DecodeError::Illegal(w));
        }
        f3 as u8
    } else {
        0
    };
    Ok(Inst {
        op,
        rd,
        rs1,
        rs2: if binary { rs2 as u8 } else { 0 },
        rs3: 0,
        rm,
        len: 4,
        imm: 0,
    })
}

/// R-type operations: `[opcode 0x33, opcode 0x3b][funct7 class][funct3]`,
/// funct7 class 0 for funct7 = 0, 1 for 0x20, 2 for 1 (M extension);
/// `None` is illegal.
static R_OPS: [[[Option<Op>; 8]; 3]; 2] = {
    use Op::*;
    [
        [
            [Some(Add), Some(Sll), Some(Slt), Some(Sltu), Some(Xor), Some(Srl), Some(Or), Some(And)],
            [Some(Sub), None, None, None, None, Some(Sra), None, None],
            [Some(Mul), Some(Mulh), Some(Mulhsu), Some(Mulhu), Some(Div), Some(Divu), Some(Rem), Some(Remu)],
        ],
        [
            [Some(Addw), Some(Sllw), None, None, None, Some(Srlw), None, None],
            [Some(Subw), None, None, None, None, Some(Sraw), None, None],
            [Some(Mulw), None, None, None, Some(Divw), Some(Divuw), Some(Remw), Some(Remuw)],
        ],
    ]
};

/// Decodes one 32-bit little-endian instruction word.
///
/// One table lookup on the major opcode and funct3 gives the operation and
/// the format; only R-type words and immediate shifts look at funct7. (The
/// decoder runs once per guest instruction the JIT translates and per
/// instruction of every AOT image block checked at load; inlined into
/// those loops, a call per word cost a third of the decoding time.)
#[inline(always)]
pub fn decode(w: u32) -> Result<Inst, DecodeError> {
    if w & 3 != 3 {
        return Err(DecodeError::Illegal(w));
    }
    let f3 = bits(w, 14, 12);
    let (op, format) = CLASSES[((bits(w, 6, 2) << 3) | f3) as usize];
    let rd = bits(w, 11, 7) as u8;
    let rs1 = bits(w, 19, 15) as u8;
    let rs2 = bits(w, 24, 20) as u8;
    let imm_i = (w as i32) >> 20;
    let inst = |op, rd, rs1, rs2, imm| {
        Ok(Inst {
            op,
            rd,
            rs1,
            rs2,
            imm, rs3: 0, rm: 0, len: 4,
        })
    };
    match format {
        Format::I => inst(op, rd, rs1, 0, imm_i),
        Format::U => inst(op, rd, 0, 0, (w & 0xffff_f000) as i32),
        Format::R => {
            let class = match bits(w, 31, 25) {
                0 => 0,
                0x20 => 1,
                1 => 2,
                _ => return Err(DecodeError::Illegal(w)),
            };
            let sel = (w >> 3) as usize & 1; // 0x33 vs 0x3b
            match R_OPS[sel][class][f3 as usize] {
                Some(op) => inst(op, rd, rs1, rs2, 0),
                None => Err(DecodeError::Illegal(w)),
            }
        }
        Format::B => {
            let imm = (((w as i32) >> 31) << 12)
                | ((bits(w, 7, 7) << 11) | (bits(w, 30, 25) << 5) | (bits(w, 11, 8) << 1)) as i32;
            inst(op, 0, rs1, rs2, imm)
        }
        Format::S => {
            let imm = (((w as i32) >> 25) << 5) | bits(w, 11, 7) as i32;
            inst(op, 0, rs1, rs2, imm)
        }
        Format::J => {
            let imm = (((w as i32) >> 31) << 20)
                | ((bits(w, 19, 12) << 12) | (bits(w, 20, 20) << 11) | (bits(w, 30, 21) << 1))
                    as i32;
            inst(op, rd, 0, 0, imm)
        }
        Format::Shift64 => match (op, bits(w, 31, 26)) {
            (_, 0) => inst(op, rd, rs1, 0, bits(w, 25, 20) as i32),
            (Op::Srli, 0x10) => inst(Op::Srai, rd, rs1, 0, bits(w, 25, 20) as i32),
            _ => Err(DecodeError::Illegal(w)),
        },
        Format::Shift32 => match (op, bits(w, 31, 25)) {
            (_, 0) => inst(op, rd, rs1, 0, rs2 as i32),
            (Op::Srliw, 0x20) => inst(Op::Sraiw, rd, rs1, 0, rs2 as i32),
            _ => Err(DecodeError::Illegal(w)),
        },
        Format::Fence => inst(op, 0, 0, 0, 0),
        Format::System => match w {
            0x0000_0073 => inst(Op::Ecall, 0, 0, 0, 0),
            0x0010_0073 => inst(Op::Ebreak, 0, 0, 0, 0),
            _ => Err(DecodeError::Illegal(w)),
        },
        Format::Amo => match AMO_OPS[(f3 & 1) as usize][(w >> 27) as usize] {
            Some(op) if rs2 == 0 || !matches!(op, Op::LrW | Op::LrD) => Ok(Inst {
                op,
                rd,
                rs1,
                rs2,
                imm: 0,
                rs3: 0,
                rm: bits(w, 26, 25) as u8,
                len: 4,
            }),
            _ => Err(DecodeError::Illegal(w)),
        },
        Format::Fma => {
            let op = match (bits(w, 26, 25), op) {
                (0, op) => op,
                (1, Op::FmaddS) => Op::FmaddD,
                (1, Op::FmsubS) => Op::FmsubD,
                (1, Op::FnmsubS) => Op::FnmsubD,
                (1, _) => Op::FnmaddD,
                _ => return Err(DecodeError::Illegal(w)),
            };
            if f3 == 5 || f3 == 6 {
                return Err(DecodeError::Illegal(w));
            }
            Ok(Inst {
                op,
                rd,
                rs1,
                rs2,
                rs3: bits(w, 31, 27) as u8,
                rm: f3 as u8,
                len: 4,
                imm: 0,
            })
        }
        Format::OpFp => decode_op_fp(w),
        Format::Csr => {
            let num = w >> 20;
            if csr_access_ok(op, num, rs1) {
                inst(op, rd, rs1, 0, num as i32)
            } else {
                Err(DecodeError::Illegal(w))
            }
        }
        Format::Illegal => Err(DecodeError::Illegal(w)),
    }
}

/// Per `opcode[6:2] << 3 | funct3` (the index of [`CLASSES`]): how to
/// tell whether a word decodes, and whether it ends a block, without
/// decoding it (see [`is_straight_line_block`]).
static CHECKS: [u8; 256] = checks();

/// Valid whatever the other bits are (formats I, U, J, B, S, fences).
const CHECK_ANY: u8 = 1;
/// Valid iff funct7 selects an R-type operation ([`R_VALID`]).
const CHECK_R: u8 = 2;
/// Valid iff funct6 is 0, or 0x10 with funct3 5 (SRLI/SRAI).
const CHECK_SHIFT64: u8 = 4;
/// Valid iff funct7 is 0, or 0x20 with funct3 5 (SRLIW/SRAIW).
const CHECK_SHIFT32: u8 = 8;
/// Valid iff the word is exactly ECALL or EBREAK.
const CHECK_SYSTEM: u8 = 16;
/// The operation ends a basic block.
const CHECK_ENDS: u8 = 32;
/// Valid iff funct5 selects an A operation and LR has rs2 = 0.
const CHECK_AMO: u8 = 64;
/// Valid iff [`decode`] accepts the word (F/D/Zicsr classes: not on the
/// branch-free path, rare in straight-line integer code).
const CHECK_DECODE: u8 = 128;

const fn checks() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let (op, format) = CLASSES[i];
        let mut c = match format {
            Format::Illegal => 0,
            Format::R => CHECK_R,
            Format::Shift64 => CHECK_SHIFT64,
            Format::Shift32 => CHECK_SHIFT32,
            Format::System => CHECK_SYSTEM,
            Format::Amo => CHECK_AMO,
            Format::Fma | Format::OpFp | Format::Csr => CHECK_DECODE,
            _ => CHECK_ANY,
        };
        if !matches!(format, Format::Illegal) && op.ends_block() {
            c |= CHECK_ENDS;
        }
        t[i] = c;
        i += 1;
    }
    // The A classes' end-of-block bit comes from their placeholder: every
    // A operation must agree with it.
    let mut k = 0;
    while k < 32 {
        let mut f = 0;
        while f < 2 {
            if let Some(op) = AMO_OPS[f][k] {
                assert!(op.ends_block() == Op::LrW.ends_block());
            }
            f += 1;
        }
        k += 1;
    }
    t
}

/// Per `[opcode 0x33, 0x3b][funct3]`: bit k set when funct7 class k (see
/// [`R_OPS`]) is an operation.
static R_VALID: [[u8; 8]; 2] = {
    let mut t = [[0u8; 8]; 2];
    let mut sel = 0;
    while sel < 2 {
        let mut f3 = 0;
        while f3 < 8 {
            let mut class = 0;
            while class < 3 {
                if R_OPS[sel][class][f3].is_some() {
                    t[sel][f3] |= 1 << class;
                }
                class += 1;
            }
            f3 += 1;
        }
        sel += 1;
    }
    t
};

/// Per `(opcode[6:2] << 3 | funct3) << 1 | bit 31` (bit 31 is funct7's
/// top bit): bit `funct7 & 63` set when a word of that class with that
/// funct7 decodes whatever its other bits are (given `w & 3 == 3`), i.e.
/// the [`CHECKS`] verdict for every class but the [`CHECK_SPECIAL`] ones,
/// folded into one lookup per word (see [`is_straight_line_rv64i`]).
static F7_VALID: [u64; 512] = {
    let mut t = [0u64; 512];
    let mut i = 0;
    while i < 256 {
        let c = CHECKS[i];
        let f3 = (i & 7) as u32;
        let sel = (i >> 4) & 1; // opcode bit 3: 0x33 vs 0x3b
        let mut f7 = 0u32;
        while f7 < 128 {
            let f7_class =
                (f7 == 0) as u8 | (((f7 == 0x20) as u8) << 1) | (((f7 == 1) as u8) << 2);
            let ok = c & CHECK_ANY != 0
                || c & CHECK_R != 0 && R_VALID[sel][f3 as usize] & f7_class != 0
                || c & CHECK_SHIFT64 != 0 && (f7 >> 1 == 0 || (f3 == 5 && f7 >> 1 == 0x10))
                || c & CHECK_SHIFT32 != 0 && (f7 == 0 || (f3 == 5 && f7 == 0x20));
            if ok {
                t[i * 2 + (f7 >> 6) as usize] |= 1 << (f7 & 63);
            }
            f7 += 1;
        }
        i += 1;
    }
    t
};

/// Classes whose validity depends on more than funct7 (SYSTEM, A, F/D,
/// Zicsr): [`F7_VALID`] holds no bit for them, the check decodes them.
const CHECK_SPECIAL: u8 = CHECK_SYSTEM | CHECK_AMO | CHECK_DECODE;

/// Per `w & 0x7f | (w >> 5) & 0x380` (opcode and funct3) and bit 31 of a
/// word `w`: bit `(w >> 25) & 63` set when the word decodes whatever its
/// other bits are. [`F7_VALID`] with the `w & 3 == 3` check folded into
/// the index, and no bit at all for the [`CHECK_SPECIAL`] classes (the
/// fast check leaves those words to the slower ones).
static WORD_VALID: [[u64; 2]; 1024] = {
    let mut t = [[0u64; 2]; 1024];
    let mut k = 0;
    while k < 1024 {
        let class = ((k & 0x7f) >> 2) << 3 | k >> 7;
        if k & 3 == 3 && CHECKS[class] & CHECK_SPECIAL == 0 {
            t[k] = [F7_VALID[class * 2], F7_VALID[class * 2 + 1]];
        }
        k += 1;
    }
    t
};

/// Per index of [`WORD_VALID`]: 1 when the operation ends a block.
static WORD_ENDS: [u8; 1024] = {
    let mut t = [0u8; 1024];
    let mut k = 0;
    while k < 1024 {
        let class = ((k & 0x7f) >> 2) << 3 | k >> 7;
        t[k] = (CHECKS[class] & CHECK_ENDS != 0) as u8;
        k += 1;
    }
    t
};

/// Whether the little-endian code `block` decodes (exactly when
/// [`super::decode_parcel`] succeeds on each instruction, compressed ones
/// included) to a straight-line run that fills it: no instruction but the
/// last ends a block. The AOT loader checks every instruction of an image
/// this way. Three checks, each exact when it accepts: one table lookup
/// per word for a block of 32-bit integer instructions; the same with
/// words of SYSTEM, A, F/D and Zicsr classes decoded; instruction by
/// instruction (blocks with compressed instructions).
pub fn is_straight_line_block(block: &[u8]) -> bool {
    is_straight_line_fast(block) || is_straight_line_rv64i(block) || is_straight_line_parcels(block)
}

/// [`is_straight_line_block`] for a block of 32-bit instructions of the
/// classes [`WORD_VALID`] covers: per word its bit there, and for all but
/// the last word no [`WORD_ENDS`]. False for anything else.
#[inline]
fn is_straight_line_fast(block: &[u8]) -> bool {
    if !block.len().is_multiple_of(4) || block.is_empty() {
        return false;
    }
    let (body, last) = block.split_at(block.len() - 4);
    let index = |w: u32| (w & 0x7f | (w >> 5) & 0x380) as usize;
    let invalid = |w: u32| !WORD_VALID[index(w)][(w >> 31) as usize] >> ((w >> 25) & 63) & 1;
    let mut bad = 0u64;
    let mut ends = 0u8;
    for w in body.chunks_exact(4) {
        let w = u32::from_le_bytes(w.try_into().expect("4 bytes"));
        bad |= invalid(w);
        ends |= WORD_ENDS[index(w)];
    }
    let w = u32::from_le_bytes(last.try_into().expect("4 bytes"));
    bad | invalid(w) == 0 && ends == 0
}

/// [`is_straight_line_block`] decoding instruction by instruction, each
/// 2 or 4 bytes long.
#[cold]
#[inline(never)]
fn is_straight_line_parcels(block: &[u8]) -> bool {
    if block.is_empty() || !block.len().is_multiple_of(2) {
        return false;
    }
    let mut at = 0;
    while at < block.len() {
        let lo = u16::from_le_bytes([block[at], block[at + 1]]) as u32;
        let hi = match block.get(at + 2..at + 4) {
            Some(h) => u16::from_le_bytes([h[0], h[1]]) as u32,
            None if lo & 3 == 3 => return false,
            None => 0,
        };
        let Ok(inst) = super::decode_parcel(lo | hi << 16) else {
            return false;
        };
        at += inst.len as usize;
        if inst.op.ends_block() && at != block.len() {
            return false;
        }
    }
    true
}

/// [`is_straight_line_block`] for a block of 32-bit instructions only:
/// per word, `w & 3 == 3` and the word's [`F7_VALID`] bit, and for all
/// but the last word no [`CHECK_ENDS`]; words of a [`CHECK_SPECIAL`]
/// class (rare in integer code) are decoded.
#[cold]
#[inline(never)]
fn is_straight_line_rv64i(block: &[u8]) -> bool {
    if !block.len().is_multiple_of(4) || block.is_empty() {
        return false;
    }
    let last = block.len() / 4 - 1;
    let mut bad = 0u64;
    for (i, w) in block.chunks_exact(4).enumerate() {
        let w = u32::from_le_bytes(w.try_into().expect("4 bytes"));
        let class = ((w >> 2) & 31) << 3 | ((w >> 12) & 7);
        let c = CHECKS[class as usize];
        let valid_bits = F7_VALID[(class << 1 | w >> 31) as usize];
        // Bit 0 of `bad`: the word is invalid (not 32-bit, or its funct7
        // bit is clear); bit 1: it ends the block before the last word.
        let mut word_bad = (!valid_bits >> ((w >> 25) & 63)) & 1 | (!w & 3 != 0) as u64;
        let mut ends = c & CHECK_ENDS != 0;
        if c & CHECK_SPECIAL != 0 {
            match decode(w) {
                Ok(inst) => {
                    // 16-bit parcels decode differently: not this path's.
                    word_bad = (!w & 3 != 0) as u64;
                    ends = inst.op.ends_block();
                }
                Err(_) => word_bad = 1,
            }
        }
        bad |= word_bad | ((ends && i != last) as u64) << 1;
    }
    bad == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoder before the table-driven one: a plain match per opcode,
    /// kept as the reference the fast one is checked against.
    fn decode_reference(w: u32) -> Result<Inst, DecodeError> {
        let ill = Err(DecodeError::Illegal(w));
        if w & 3 != 3 {
            return ill;
        }
        let opcode = w & 0x7f;
        let rd = bits(w, 11, 7) as u8;
        let rs1 = bits(w, 19, 15) as u8;
        let rs2 = bits(w, 24, 20) as u8;
        let f3 = bits(w, 14, 12);
        let f7 = bits(w, 31, 25);
        let imm_i = (w as i32) >> 20;
        let imm_s = (((w as i32) >> 25) << 5) | bits(w, 11, 7) as i32;
        let imm_b = (((w as i32) >> 31) << 12)
            | ((bits(w, 7, 7) << 11) | (bits(w, 30, 25) << 5) | (bits(w, 11, 8) << 1)) as i32;
        let imm_u = (w & 0xffff_f000) as i32;
        let imm_j = (((w as i32) >> 31) << 20)
            | ((bits(w, 19, 12) << 12) | (bits(w, 20, 20) << 11) | (bits(w, 30, 21) << 1)) as i32;
        let mk = |op, rd, rs1, rs2, imm| {
            Ok(Inst {
                op,
                rd,
                rs1,
                rs2,
                imm, rs3: 0, rm: 0, len: 4,
            })
        };
        use Op::*;
        match opcode {
            0x37 => mk(Lui, rd, 0, 0, imm_u),
            0x17 => mk(Auipc, rd, 0, 0, imm_u),
            0x6f => mk(Jal, rd, 0, 0, imm_j),
            0x67 if f3 == 0 => mk(Jalr, rd, rs1, 0, imm_i),
            0x63 => {
                let op = match f3 {
                    0 => Beq,
                    1 => Bne,
                    4 => Blt,
                    5 => Bge,
                    6 => Bltu,
                    7 => Bgeu,
                    _ => return ill,
                };
                mk(op, 0, rs1, rs2, imm_b)
            }
            0x03 => {
                let op = match f3 {
                    0 => Lb,
                    1 => Lh,
                    2 => Lw,
                    3 => Ld,
                    4 => Lbu,
                    5 => Lhu,
                    6 => Lwu,
                    _ => return ill,
                };
                mk(op, rd, rs1, 0, imm_i)
            }
            0x23 => {
                let op = match f3 {
                    0 => Sb,
                    1 => Sh,
                    2 => Sw,
                    3 => Sd,
                    _ => return ill,
                };
                mk(op, 0, rs1, rs2, imm_s)
            }
            0x13 => {
                let shamt = bits(w, 25, 20) as i32;
                let f6 = bits(w, 31, 26);
                match f3 {
                    0 => mk(Addi, rd, rs1, 0, imm_i),
                    2 => mk(Slti, rd, rs1, 0, imm_i),
                    3 => mk(Sltiu, rd, rs1, 0, imm_i),
                    4 => mk(Xori, rd, rs1, 0, imm_i),
                    6 => mk(Ori, rd, rs1, 0, imm_i),
                    7 => mk(Andi, rd, rs1, 0, imm_i),
                    1 if f6 == 0 => mk(Slli, rd, rs1, 0, shamt),
                    5 if f6 == 0 => mk(Srli, rd, rs1, 0, shamt),
                    5 if f6 == 0x10 => mk(Srai, rd, rs1, 0, shamt),
                    _ => ill,
                }
            }
            0x33 => {
                let op = match (f7, f3) {
                    (0, 0) => Add,
                    (0x20, 0) => Sub,
                    (0, 1) => Sll,
                    (0, 2) => Slt,
                    (0, 3) => Sltu,
                    (0, 4) => Xor,
                    (0, 5) => Srl,
                    (0x20, 5) => Sra,
                    (0, 6) => Or,
                    (0, 7) => And,
                    (1, 0) => Mul,
                    (1, 1) => Mulh,
                    (1, 2) => Mulhsu,
                    (1, 3) => Mulhu,
                    (1, 4) => Div,
                    (1, 5) => Divu,
                    (1, 6) => Rem,
                    (1, 7) => Remu,
                    _ => return ill,
                };
                mk(op, rd, rs1, rs2, 0)
            }
            0x1b => {
                let shamt = bits(w, 24, 20) as i32;
                match (f3, f7) {
                    (0, _) => mk(Addiw, rd, rs1, 0, imm_i),
                    (1, 0) => mk(Slliw, rd, rs1, 0, shamt),
                    (5, 0) => mk(Srliw, rd, rs1, 0, shamt),
                    (5, 0x20) => mk(Sraiw, rd, rs1, 0, shamt),
                    _ => ill,
                }
            }
            0x3b => {
                let op = match (f7, f3) {
                    (0, 0) => Addw,
                    (0x20, 0) => Subw,
                    (0, 1) => Sllw,
                    (0, 5) => Srlw,
                    (0x20, 5) => Sraw,
                    (1, 0) => Mulw,
                    (1, 4) => Divw,
                    (1, 5) => Divuw,
                    (1, 6) => Remw,
                    (1, 7) => Remuw,
                    _ => return ill,
                };
                mk(op, rd, rs1, rs2, 0)
            }
            0x0f => match f3 {
                0 => mk(Fence, 0, 0, 0, 0),
                1 => mk(FenceI, 0, 0, 0, 0),
                _ => ill,
            },
            0x07 | 0x27 | 0x43 | 0x47 | 0x4b | 0x4f | 0x53 => decode_fp_reference(w),
            0x73 if f3 != 0 => decode_fp_reference(w),
            0x73 => match w {
                0x0000_0073 => mk(Ecall, 0, 0, 0, 0),
                0x0010_0073 => mk(Ebreak, 0, 0, 0, 0),
                _ => ill,
            },
            0x2f if f3 == 2 || f3 == 3 => {
                let d = f3 == 3;
                let op = match bits(w, 31, 27) {
                    0x02 if rs2 == 0 => if d { LrD } else { LrW },
                    0x03 => if d { ScD } else { ScW },
                    0x01 => if d { AmoswapD } else { AmoswapW },
                    0x00 => if d { AmoaddD } else { AmoaddW },
                    0x04 => if d { AmoxorD } else { AmoxorW },
                    0x0c => if d { AmoandD } else { AmoandW },
                    0x08 => if d { AmoorD } else { AmoorW },
                    0x10 => if d { AmominD } else { AmominW },
                    0x14 => if d { AmomaxD } else { AmomaxW },
                    0x18 => if d { AmominuD } else { AmominuW },
                    0x1c => if d { AmomaxuD } else { AmomaxuW },
                    _ => return ill,
                };
                Ok(Inst {
                    op,
                    rd,
                    rs1,
                    rs2,
                    imm: 0,
                    rs3: 0,
                    rm: bits(w, 26, 25) as u8,
                    len: 4,
                })
            }
            _ => ill,
        }
    }

    /// F/D/Zicsr reference: the (mask, match) pairs of the ISA manual's
    /// opcode map (as riscv-opcodes lists them), then the operand fields
    /// each operation uses.
    fn decode_fp_reference(w: u32) -> Result<Inst, DecodeError> {
        use Op::*;
        const R4: u32 = 0x0600_007f;
        const RR: u32 = 0xfe00_007f;
        const R1: u32 = 0xfff0_007f;
        const F3: u32 = 0xfe00_707f;
        const F3R1: u32 = 0xfff0_707f;
        const LS: u32 = 0x0000_707f;
        #[rustfmt::skip]
        let table: [(u32, u32, Op); 68] = [
            (LS, 0x2007, Flw), (LS, 0x3007, Fld), (LS, 0x2027, Fsw), (LS, 0x3027, Fsd),
            (R4, 0x43, FmaddS), (R4, 0x47, FmsubS), (R4, 0x4b, FnmsubS), (R4, 0x4f, FnmaddS),
            (R4, 0x0200_0043, FmaddD), (R4, 0x0200_0047, FmsubD), (R4, 0x0200_004b, FnmsubD),
            (R4, 0x0200_004f, FnmaddD),
            (RR, 0x0000_0053, FaddS), (RR, 0x0800_0053, FsubS), (RR, 0x1000_0053, FmulS),
            (RR, 0x1800_0053, FdivS), (R1, 0x5800_0053, FsqrtS),
            (F3, 0x2000_0053, FsgnjS), (F3, 0x2000_1053, FsgnjnS), (F3, 0x2000_2053, FsgnjxS),
            (F3, 0x2800_0053, FminS), (F3, 0x2800_1053, FmaxS),
            (R1, 0xc000_0053, FcvtWS), (R1, 0xc010_0053, FcvtWuS), (R1, 0xc020_0053, FcvtLS),
            (R1, 0xc030_0053, FcvtLuS), (F3R1, 0xe000_0053, FmvXW), (F3R1, 0xe000_1053, FclassS),
            (F3, 0xa000_2053, FeqS), (F3, 0xa000_1053, FltS), (F3, 0xa000_0053, FleS),
            (R1, 0xd000_0053, FcvtSW), (R1, 0xd010_0053, FcvtSWu), (R1, 0xd020_0053, FcvtSL),
            (R1, 0xd030_0053, FcvtSLu), (F3R1, 0xf000_0053, FmvWX),
            (RR, 0x0200_0053, FaddD), (RR, 0x0a00_0053, FsubD), (RR, 0x1200_0053, FmulD),
            (RR, 0x1a00_0053, FdivD), (R1, 0x5a00_0053, FsqrtD),
            (F3, 0x2200_0053, FsgnjD), (F3, 0x2200_1053, FsgnjnD), (F3, 0x2200_2053, FsgnjxD),
            (F3, 0x2a00_0053, FminD), (F3, 0x2a00_1053, FmaxD),
            (R1, 0x4010_0053, FcvtSD), (R1, 0x4200_0053, FcvtDS),
            (R1, 0xc200_0053, FcvtWD), (R1, 0xc210_0053, FcvtWuD), (R1, 0xc220_0053, FcvtLD),
            (R1, 0xc230_0053, FcvtLuD), (F3R1, 0xe200_0053, FmvXD), (F3R1, 0xe200_1053, FclassD),
            (F3, 0xa200_2053, FeqD), (F3, 0xa200_1053, FltD), (F3, 0xa200_0053, FleD),
            (R1, 0xd200_0053, FcvtDW), (R1, 0xd210_0053, FcvtDWu), (R1, 0xd220_0053, FcvtDL),
            (R1, 0xd230_0053, FcvtDLu), (F3R1, 0xf200_0053, FmvDX),
            (LS, 0x1073, Csrrw), (LS, 0x2073, Csrrs), (LS, 0x3073, Csrrc),
            (LS, 0x5073, Csrrwi), (LS, 0x6073, Csrrsi), (LS, 0x7073, Csrrci),
        ];
        let ill = Err(DecodeError::Illegal(w));
        let Some(&(mask, _, op)) = table.iter().find(|&&(m, v, _)| w & m == v) else {
            return ill;
        };
        let rd = bits(w, 11, 7) as u8;
        let rs1 = bits(w, 19, 15) as u8;
        let rs2 = bits(w, 24, 20) as u8;
        let rm = bits(w, 14, 12) as u8;
        let mut inst = Inst { op, rd, rs1, rs2: 0, rs3: 0, rm: 0, len: 4, imm: 0 };
        if op.has_rm() {
            if rm == 5 || rm == 6 {
                return ill;
            }
            inst.rm = rm;
        }
        match mask {
            R4 => {
                inst.rs2 = rs2;
                inst.rs3 = bits(w, 31, 27) as u8;
            }
            RR | F3 => inst.rs2 = rs2,
            _ => {}
        }
        match op {
            Flw | Fld => inst.imm = (w as i32) >> 20,
            Fsw | Fsd => {
                inst.rd = 0;
                inst.rs2 = rs2;
                inst.imm = (((w as i32) >> 25) << 5) | bits(w, 11, 7) as i32;
            }
            _ if op.is_csr() => {
                let num = w >> 20;
                inst.imm = num as i32;
                let write = matches!(op, Csrrw | Csrrwi) || rs1 != 0;
                let ok = match num {
                    1..=3 => true,
                    0xc00..=0xc02 => !write,
                    _ => false,
                };
                if !ok {
                    return ill;
                }
            }
            _ => {}
        }
        Ok(inst)
    }

    fn d(w: u32) -> Inst {
        decode(w).unwrap()
    }

    /// Every F/D/Zicsr selector (opcode, funct3, funct7 and the rs2 field,
    /// which selects conversions and holds CSR numbers' low bits), with
    /// several fillings of rd and rs1, against the reference.
    #[test]
    fn fp_and_csr_space_matches_the_reference() {
        let mut x: u32 = 0x6a09_e667;
        let mut valid = 0u32;
        for opcode in [0x07u32, 0x27, 0x43, 0x47, 0x4b, 0x4f, 0x53, 0x73] {
            for sel in 0u32..1 << 15 {
                let (f3, rs2, f7) = (sel & 7, (sel >> 3) & 31, sel >> 8);
                let fixed = opcode | (f3 << 12) | (rs2 << 20) | (f7 << 25);
                for fill in [0u32, u32::MAX] {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    for operands in [fill, x] {
                        // rd (11:7), rs1 (19:15).
                        let w = fixed | (operands & 0x000f_8f80);
                        let got = decode(w);
                        assert_eq!(got, decode_reference(w), "{w:#010x}");
                        valid += got.is_ok() as u32;
                    }
                }
            }
        }
        // The reference accepts something in each table row: a non-vacuous check.
        assert!(valid > 100_000, "{valid}");
        // Representative words (from the GNU assembler).
        assert_eq!(d(0xf20007d3).op, Op::FmvDX); // fmv.d.x fa5, zero
        let i = d(0x02b574c3); // fmadd.d fs1, fa0, fa1, ft0, dyn? (rs3 = 0)
        assert_eq!((i.op, i.rd, i.rs1, i.rs2, i.rs3, i.rm), (Op::FmaddD, 9, 10, 11, 0, 7));
        assert_eq!(d(0x00367553).op, Op::FaddS); // fadd.s fa0, fa2, ft3, dyn
        assert_eq!(d(0x003027f3).op, Op::Csrrs); // frcsr a5
        assert_eq!(d(0x003027f3).imm, 3);
        assert_eq!(d(0xc0102573).imm, 0xc01); // rdtime a0
        assert!(decode(0xc0101073).is_err()); // csrw time, zero: read-only
        assert!(decode(0x30002573).is_err()); // csrr a0, mstatus
        assert!(decode(0x0030d553).is_err()); // fadd.s with rm 5
    }

    #[test]
    fn decodes_representative_encodings() {
        // addi a0, zero, -1
        assert_eq!(
            d(0xfff00513),
            Inst {
                op: Op::Addi,
                rd: 10,
                rs1: 0,
                rs2: 0,
                imm: -1, rs3: 0, rm: 0, len: 4,
            }
        );
        // lui a5, 0x12345
        assert_eq!(
            d(0x123457b7),
            Inst {
                op: Op::Lui,
                rd: 15,
                rs1: 0,
                rs2: 0,
                imm: 0x12345000, rs3: 0, rm: 0, len: 4,
            }
        );
        // jal ra, -8 (0xff9ff0ef)
        assert_eq!(
            d(0xff9ff0ef),
            Inst {
                op: Op::Jal,
                rd: 1,
                rs1: 0,
                rs2: 0,
                imm: -8, rs3: 0, rm: 0, len: 4,
            }
        );
        // beq a0, a1, +16 (0x00b50863)
        assert_eq!(
            d(0x00b50863),
            Inst {
                op: Op::Beq,
                rd: 0,
                rs1: 10,
                rs2: 11,
                imm: 16, rs3: 0, rm: 0, len: 4,
            }
        );
        // bne a0, zero, -4 (0xfe051ee3)
        assert_eq!(d(0xfe051ee3).imm, -4);
        // sd ra, 8(sp) (0x00113423)
        assert_eq!(
            d(0x00113423),
            Inst {
                op: Op::Sd,
                rd: 0,
                rs1: 2,
                rs2: 1,
                imm: 8, rs3: 0, rm: 0, len: 4,
            }
        );
        // sw a0, -20(s0) (0xfea42623)
        assert_eq!(d(0xfea42623).imm, -20);
        // srai a0, a0, 63 (0x43f55513)
        assert_eq!(
            d(0x43f55513),
            Inst {
                op: Op::Srai,
                rd: 10,
                rs1: 10,
                rs2: 0,
                imm: 63, rs3: 0, rm: 0, len: 4,
            }
        );
        // sraiw a0, a0, 31 (0x41f5551b)
        assert_eq!(
            d(0x41f5551b),
            Inst {
                op: Op::Sraiw,
                rd: 10,
                rs1: 10,
                rs2: 0,
                imm: 31, rs3: 0, rm: 0, len: 4,
            }
        );
        // mulhsu a0, a1, a2 (0x02c5a533)
        assert_eq!(d(0x02c5a533).op, Op::Mulhsu);
        // remuw a0, a1, a2 (0x02c5f53b)
        assert_eq!(d(0x02c5f53b).op, Op::Remuw);
        assert_eq!(d(0x00000073).op, Op::Ecall);
        assert_eq!(d(0x00100073).op, Op::Ebreak);
        assert_eq!(d(0x0000100f).op, Op::FenceI);
        assert_eq!(d(0x0ff0000f).op, Op::Fence);
        // amoadd.d.aq zero, a5, (a4): the issue's `illegal instruction 0x04f7302f`
        let a = d(0x04f7302f);
        assert_eq!((a.op, a.rd, a.rs1, a.rs2, a.rm), (Op::AmoaddD, 0, 14, 15, 2));
        // lr.w.aqrl a0, (a1) = 0x1605a52f ; sc.d a2, a3, (a4) = 0x18d7362f
        let a = d(0x1605a52f);
        assert_eq!((a.op, a.rd, a.rs1, a.rs2, a.rm), (Op::LrW, 10, 11, 0, 3));
        let a = d(0x18d7362f);
        assert_eq!((a.op, a.rd, a.rs1, a.rs2, a.rm), (Op::ScD, 12, 14, 13, 0));
        assert_eq!(d(0xe0c5a52f).op, Op::AmomaxuW);
        assert_eq!(d(0x80c5b52f).op, Op::AmominD);
    }

    #[test]
    fn rejects_illegal_encodings() {
        for w in [
            0u32,
            0xffff_ffff,
            0x0000_4501,             // compressed
            0x0400_5013,             // srli with bad funct6
            0x4000_0533 | (1 << 25), // bad funct7
            0x0000_7003,             // load funct3 7
            0x3020_0073,             // mret
            0x3000_2573,             // csrr a0, mstatus (not a user CSR)
            0x0200_101b,             // slliw with shamt bit 5 set
            0x1015_a52f,             // lr.w with rs2 != 0
            0x2805_a52f,             // A funct5 0x05
            0x0005_c52f,             // A funct3 4
        ] {
            assert_eq!(decode(w), Err(DecodeError::Illegal(w)), "{w:#x}");
        }
    }

    /// Every combination of the bits that select an operation (opcode,
    /// funct3, funct7: 2^17), each with several fillings of the operand
    /// fields, decodes exactly as the reference decoder does.
    #[test]
    fn table_decoder_matches_the_reference_on_every_selector() {
        let mut x: u32 = 0x9e37_79b9;
        for sel in 0u32..1 << 17 {
            let (opcode, f3, f7) = (sel & 0x7f, (sel >> 7) & 7, sel >> 10);
            let fixed = opcode | (f3 << 12) | (f7 << 25);
            for fill in [0u32, u32::MAX, 0x0010_0000, 0x0000_0080] {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                for operands in [fill, x] {
                    // rd (11:7), rs1 (19:15), rs2 (24:20).
                    let w = fixed | (operands & 0x01ff_8f80);
                    assert_eq!(decode(w), decode_reference(w), "{w:#010x}");
                }
            }
        }
        for w in [0x0000_0073u32, 0x0010_0073, 0x0020_0073, 0x0000_0173, 0x0010_00f3] {
            assert_eq!(decode(w), decode_reference(w), "{w:#010x}");
        }
    }

    /// The block check agrees with decoding instruction by instruction
    /// (compressed ones included: 2 or 4 bytes each).
    fn straight_line_by_decoding(words: &[u32]) -> bool {
        let halves: Vec<u32> = words
            .iter()
            .flat_map(|&w| [w & 0xffff, w >> 16])
            .collect();
        let mut k = 0;
        while k < halves.len() {
            let inst = if halves[k] & 3 == 3 {
                match halves.get(k + 1) {
                    Some(&hi) => decode(halves[k] | hi << 16),
                    None => return false,
                }
            } else {
                crate::frontend::riscv::decode_compressed(halves[k] as u16)
            };
            let Ok(inst) = inst else {
                return false;
            };
            k += inst.len as usize / 2;
            if inst.op.ends_block() && k != halves.len() {
                return false;
            }
        }
        !words.is_empty()
    }

    fn block_bytes(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn straight_line_check_matches_decoding_on_every_selector() {
        let mut x: u32 = 0x2545_f491;
        let addi = 0x0010_0093u32; // addi ra, zero, 1
        for sel in 0u32..1 << 17 {
            let (opcode, f3, f7) = (sel & 0x7f, (sel >> 7) & 7, sel >> 10);
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let w = opcode | (f3 << 12) | (f7 << 25) | (x & 0x01ff_8f80);
            // The word last, first, and alone.
            for block in [vec![addi, w], vec![w, addi], vec![w]] {
                assert_eq!(
                    is_straight_line_block(&block_bytes(&block)),
                    straight_line_by_decoding(&block),
                    "{block:08x?}"
                );
            }
        }
        for w in [0x0000_0073u32, 0x0010_0073, 0x0020_0073, 0x0000_100f, 0x0000_0013] {
            for block in [vec![addi, w], vec![w, addi]] {
                assert_eq!(
                    is_straight_line_block(&block_bytes(&block)),
                    straight_line_by_decoding(&block),
                    "{block:08x?}"
                );
            }
        }
        assert!(!is_straight_line_block(&[]));
        assert!(!is_straight_line_block(&[0x13, 0, 0]));
        // Compressed: c.li a0, 1 ; c.ebreak, the other way round, a lone
        // c.li, a c.li then the first half of a 32-bit instruction, and a
        // 32-bit addi between two compressed instructions.
        assert!(is_straight_line_block(&[0x05, 0x45, 0x02, 0x90]));
        assert!(!is_straight_line_block(&[0x02, 0x90, 0x05, 0x45]));
        assert!(is_straight_line_block(&[0x05, 0x45]));
        assert!(!is_straight_line_block(&[0x05, 0x45, 0x13, 0x05]));
        assert!(is_straight_line_block(&[
            0x05, 0x45, 0x13, 0x05, 0x25, 0x00, 0x02, 0x90
        ]));
    }

    /// Compressed instructions and 2-byte alignment: blocks the word
    /// check refuses are decided instruction by instruction.
    #[test]
    fn straight_line_check_compressed_and_alignment() {
        let li = [0x05u8, 0x45]; // c.li a0, 1
        let j = [0x01u8, 0xa0]; // c.j 0
        let ebreak = [0x02u8, 0x90]; // c.ebreak
        let addi = [0x13u8, 0x05, 0x25, 0x00]; // addi a0, a0, 2
        let beq = [0x63u8, 0x00, 0x00, 0x00]; // beq zero, zero, 0
        let cat = |parts: &[&[u8]]| parts.concat();
        // A 32-bit instruction at a 2-byte offset, then one that ends the block.
        assert!(is_straight_line_block(&cat(&[&li, &addi, &j])));
        assert!(is_straight_line_block(&cat(&[&li, &li, &addi, &beq])));
        assert!(is_straight_line_block(&cat(&[&li, &addi, &li, &beq])));
        // A block end before the last instruction, compressed or not, at
        // either alignment.
        assert!(!is_straight_line_block(&cat(&[&li, &j, &addi])));
        assert!(!is_straight_line_block(&cat(&[&j, &li, &li])));
        assert!(!is_straight_line_block(&cat(&[&li, &beq, &li])));
        assert!(!is_straight_line_block(&cat(&[&li, &beq, &addi, &li])));
        assert!(!is_straight_line_block(&cat(&[&beq, &li, &li])));
        assert!(!is_straight_line_block(&cat(&[&ebreak, &addi])));
        // The all-zero parcel is illegal, alone or after a valid one.
        assert!(!is_straight_line_block(&[0, 0]));
        assert!(!is_straight_line_block(&cat(&[&li, &[0, 0]])));
        assert!(!is_straight_line_block(&cat(&[&addi, &[0, 0], &li])));
        // Odd lengths, and a 32-bit instruction cut by the block's end.
        assert!(!is_straight_line_block(&cat(&[&li, &[0x13]])));
        assert!(!is_straight_line_block(&cat(&[&li, &addi[..2]])));
        assert!(!is_straight_line_block(&cat(&[&addi, &li, &addi[..2]])));
        // `c.li; c.li` is one word with low bits 01: valid only as parcels.
        assert!(is_straight_line_block(&cat(&[&li, &li])));
    }

    /// Every word, alone and followed by a valid one, against decoding
    /// (`cargo test -p vm-core --release --lib decode -- --ignored`).
    #[test]
    #[ignore = "exhaustive over 2^32 words; the selector test above covers every path"]
    fn straight_line_check_matches_decoding_on_every_word() {
        let addi = 0x0010_0093u32;
        for w in 0..=u32::MAX {
            let alone = straight_line_by_decoding(&[w]);
            let first = straight_line_by_decoding(&[w, addi]);
            let b = w.to_le_bytes();
            let mut pair = [0u8; 8];
            pair[..4].copy_from_slice(&b);
            pair[4..].copy_from_slice(&addi.to_le_bytes());
            if is_straight_line_block(&b) != alone || is_straight_line_block(&pair) != first {
                panic!("{w:#010x}");
            }
        }
    }

    /// All 2^32 words against the reference (about a minute in release:
    /// `cargo test -p vm-core --release --lib decode -- --ignored`).
    #[test]
    #[ignore = "exhaustive over 2^32 words; the selector test above covers every decoding path"]
    fn table_decoder_matches_the_reference_on_every_word() {
        for w in 0..=u32::MAX {
            if decode(w) != decode_reference(w) {
                panic!("{w:#010x}: {:?} vs {:?}", decode(w), decode_reference(w));
            }
        }
    }

    #[test]
    fn decoding_every_word_never_panics_on_a_sample() {
        let mut x: u32 = 0x1234_5678;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let _ = decode(x);
        }
    }
}
