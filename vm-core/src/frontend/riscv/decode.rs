//! Decoder for the RV64I base ISA and the M and A extensions (plus FENCE.I).
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
    /// Register-only operation executed by a call from generated code into
    /// a runtime helper (reserved: no operation uses it yet).
    Helper,
    /// Generated code leaves the block before the instruction
    /// (exit code `INTERPRET`) and the dispatcher
    /// interprets exactly that instruction; the instruction ends its block.
    Interpret,
}

impl Op {
    /// Every operation, for exhaustive tests.
    pub const ALL: [Op; 88] = {
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
            _ => Lowering::Interpret,
        }
    }

    /// Whether this is an A-extension operation (LR, SC or an AMO).
    pub const fn is_atomic(self) -> bool {
        (self as u8) >= (Op::LrW as u8) && (self as u8) <= (Op::AmomaxuD as u8)
    }

    /// Whether this instruction ends a basic block (control transfer, a
    /// trap into the runtime, or an operation the JIT tiers interpret:
    /// such an instruction is always the last of its block).
    pub const fn ends_block(self) -> bool {
        matches!(self.lowering(), Lowering::Interpret)
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

/// A word that is not a supported RV64IM instruction.
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

/// Per funct3 - 2 (A extension): bit funct5 set when it is an operation.
static AMO_VALID: [u32; 2] = {
    let mut t = [0u32; 2];
    let mut f = 0;
    while f < 2 {
        let mut k = 0;
        while k < 32 {
            if AMO_OPS[f][k].is_some() {
                t[f] |= 1 << k;
            }
            k += 1;
        }
        f += 1;
    }
    t
};

/// Whether the little-endian code `block` decodes (exactly when
/// [`super::decode_parcel`] succeeds on each instruction, compressed ones
/// included) to a straight-line run that fills it: no instruction but the
/// last ends a block. Branch-free per word for a block of 32-bit
/// instructions only: the AOT loader checks every instruction of an image
/// this way, and a decoder's per-format branch mispredicts on such a run
/// of unrelated instructions. A block the word check refuses is walked
/// again instruction by instruction (blocks with compressed instructions).
pub fn is_straight_line_block(block: &[u8]) -> bool {
    is_straight_line_rv64i(block) || is_straight_line_parcels(block)
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

/// [`is_straight_line_block`] for a block of 32-bit instructions only.
#[inline]
fn is_straight_line_rv64i(block: &[u8]) -> bool {
    let n = block.len() / 4;
    let mut bad = !block.len().is_multiple_of(4) || n == 0;
    for (i, w) in block.chunks_exact(4).enumerate() {
        let w = u32::from_le_bytes(w.try_into().expect("4 bytes"));
        let f3 = bits(w, 14, 12);
        let c = CHECKS[((bits(w, 6, 2) << 3) | f3) as usize];
        let f7 = w >> 25;
        let f7_class =
            (f7 == 0) as u8 | (((f7 == 0x20) as u8) << 1) | (((f7 == 1) as u8) << 2);
        let r_ok = R_VALID[(w >> 3) as usize & 1][f3 as usize] & f7_class != 0;
        let shift64_ok = w >> 26 == 0 || (f3 == 5 && w >> 26 == 0x10);
        let shift32_ok = f7 == 0 || (f3 == 5 && f7 == 0x20);
        let system_ok = w == 0x0000_0073 || w == 0x0010_0073;
        let amo_ok = ((AMO_VALID[(f3 & 1) as usize] >> (w >> 27)) & 1) != 0
            && (w >> 27 != 2 || bits(w, 24, 20) == 0);
        let valid = w & 3 == 3
            && (c & CHECK_ANY != 0
                || c & CHECK_R != 0 && r_ok
                || c & CHECK_SHIFT64 != 0 && shift64_ok
                || c & CHECK_SHIFT32 != 0 && shift32_ok
                || c & CHECK_SYSTEM != 0 && system_ok
                || c & CHECK_AMO != 0 && amo_ok);
        let ends_early = c & CHECK_ENDS != 0 && i + 1 != n;
        bad |= !valid | ends_early;
    }
    !bad
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

    fn d(w: u32) -> Inst {
        decode(w).unwrap()
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
            0xc000_2573,             // csrr (Zicsr not supported)
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
