//! RV64 host backend: IR -> RV64IM machine code for whole translation
//! units (see [`crate::backend::unitgen`] for the unit ABI), encoded with
//! the RV64 frontend's own encoder ([`crate::frontend::riscv::encode()`]).
//!
//! Registers: `t5` (x30) = CPU state, `t6` (x31) = guest memory base,
//! `t1, t2, a0..a7` allocatable, `t3`/`t4` the generic scratch pair, `t0`
//! extra scratch for address and constant sequences. Only caller-saved
//! registers are used, so the prologue just reserves the spill frame.

use super::unitgen::{
    compile_unit, put_word, Fixup, TableHash, UnitCode, UnitCodegenError, UnitIsa,
};
use crate::frontend::riscv::{encode, Inst, Op};
use crate::ir::TranslationUnit;
use crate::ir::{BinOp, Cond, UnOp, Width};

const CPU: u8 = 30;
const MEM: u8 = 31;
const T0: u8 = 5;
const SP: u8 = 2;
const RA: u8 = 1;
const SLOTS: usize = 64;
const FRAME: i32 = 8 * SLOTS as i32;

/// The RV64 unit emitter.
#[derive(Debug)]
pub struct Rv64Emitter {
    words: Vec<u32>,
}

impl Default for Rv64Emitter {
    /// An emitter with room for the encoder tests' sequences (`compile`
    /// sizes its own).
    fn default() -> Self {
        Self {
            words: Vec::with_capacity(256),
        }
    }
}

/// Compiles a translation unit to RV64 code.
pub fn compile(unit: &TranslationUnit) -> Result<UnitCode, UnitCodegenError> {
    // `compile_unit` sizes the buffer (an allocation here would be copied
    // when it grows).
    let mut em = Rv64Emitter { words: Vec::new() };
    compile_unit(&mut em, unit)
}

/// funct3 of the loads by width log2 and signedness (lbu lb lhu lh lwu lw
/// ld ld).
const LOAD_F3: [u32; 8] = [4, 0, 5, 1, 6, 2, 3, 3];

/// R-type base word (funct7, funct3, opcode) of each [`BinOp`], by its
/// discriminant (checked against [`fast_encode`] by a test).
const BIN_R: [u32; 16] = {
    const fn r(f7: u32, f3: u32) -> u32 {
        f7 << 25 | f3 << 12 | 0x33
    }
    [
        r(0, 0),    // add
        r(0x20, 0), // sub
        r(0, 7),    // and
        r(0, 6),    // or
        r(0, 4),    // xor
        r(0, 1),    // sll
        r(0, 5),    // srl
        r(0x20, 5), // sra
        r(1, 0),    // mul
        r(1, 1),    // mulh
        r(1, 3),    // mulhu
        r(1, 2),    // mulhsu
        r(1, 4),    // div
        r(1, 5),    // divu
        r(1, 6),    // rem
        r(1, 7),    // remu
    ]
};

/// I-type base word of the [`BinOp`]s with an immediate form (the first
/// eight: add, sub as addi, and, or, xor, sll, srl, sra), by discriminant.
const BIN_I: [u32; 8] = {
    const fn i(f3: u32) -> u32 {
        f3 << 12 | 0x13
    }
    [
        i(0),               // addi
        i(0),               // addi (negated immediate)
        i(7),               // andi
        i(6),               // ori
        i(4),               // xori
        i(1),               // slli
        i(5),               // srli
        i(5) | 0x4000_0000, // srai
    ]
};

/// The immediate bits of a J-type (`jal`) word for byte offset `imm`.
#[inline(always)]
fn j_imm(imm: i32) -> u32 {
    let x = imm as u32;
    ((x >> 20) & 1) << 31 | ((x >> 1) & 0x3ff) << 21 | ((x >> 11) & 1) << 20 | ((x >> 12) & 0xff) << 12
}

/// The immediate bits of a B-type (conditional branch) word for byte
/// offset `imm`.
#[inline(always)]
fn b_imm(imm: i32) -> u32 {
    let x = imm as u32;
    ((x >> 12) & 1) << 31 | ((x >> 5) & 0x3f) << 25 | ((x >> 1) & 0xf) << 8 | ((x >> 11) & 1) << 7
}

/// The encodings the emitter uses, inlined so a constant `op` folds to a
/// few shifts; `fast_encode_matches_the_frontend_encoder` checks it against
/// [`encode`] (the reference shared with the VM's decoder) for every op.
#[inline(always)]
fn fast_encode(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> u32 {
    let (rd, rs1, rs2) = (rd as u32 & 31, rs1 as u32 & 31, rs2 as u32 & 31);
    let r =
        |f7: u32, f3: u32, opc: u32| f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
    let i = |imm: i32, f3: u32, opc: u32| {
        ((imm as u32) & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc
    };
    let st = |f3: u32| {
        let imm = imm as u32;
        ((imm >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (imm & 0x1f) << 7 | 0x23
    };
    match op {
        Op::Add => r(0, 0, 0x33),
        Op::Sub => r(0x20, 0, 0x33),
        Op::Sll => r(0, 1, 0x33),
        Op::Slt => r(0, 2, 0x33),
        Op::Sltu => r(0, 3, 0x33),
        Op::Xor => r(0, 4, 0x33),
        Op::Srl => r(0, 5, 0x33),
        Op::Sra => r(0x20, 5, 0x33),
        Op::Or => r(0, 6, 0x33),
        Op::And => r(0, 7, 0x33),
        Op::Mul => r(1, 0, 0x33),
        Op::Mulh => r(1, 1, 0x33),
        Op::Mulhsu => r(1, 2, 0x33),
        Op::Mulhu => r(1, 3, 0x33),
        Op::Div => r(1, 4, 0x33),
        Op::Divu => r(1, 5, 0x33),
        Op::Rem => r(1, 6, 0x33),
        Op::Remu => r(1, 7, 0x33),
        Op::Addi => i(imm, 0, 0x13),
        Op::Sltiu => i(imm, 3, 0x13),
        Op::Xori => i(imm, 4, 0x13),
        Op::Ori => i(imm, 6, 0x13),
        Op::Andi => i(imm, 7, 0x13),
        Op::Slli => i(imm & 63, 1, 0x13),
        Op::Srli => i(imm & 63, 5, 0x13),
        Op::Srai => i((imm & 63) | 0x400, 5, 0x13),
        Op::Addiw => i(imm, 0, 0x1b),
        Op::Lb => i(imm, 0, 3),
        Op::Lh => i(imm, 1, 3),
        Op::Lw => i(imm, 2, 3),
        Op::Ld => i(imm, 3, 3),
        Op::Lbu => i(imm, 4, 3),
        Op::Lhu => i(imm, 5, 3),
        Op::Lwu => i(imm, 6, 3),
        Op::Sb => st(0),
        Op::Sh => st(1),
        Op::Sw => st(2),
        Op::Sd => st(3),
        Op::Lui => (imm as u32 & 0xffff_f000) | rd << 7 | 0x37,
        Op::Jalr => i(imm, 0, 0x67),
        Op::Jal => j_imm(imm) | rd << 7 | 0x6f,
        Op::Beq => b_imm(imm) | rs2 << 20 | rs1 << 15 | 0x63,
        Op::Bne => b_imm(imm) | rs2 << 20 | rs1 << 15 | 1 << 12 | 0x63,
        Op::Blt => b_imm(imm) | rs2 << 20 | rs1 << 15 | 4 << 12 | 0x63,
        Op::Bge => b_imm(imm) | rs2 << 20 | rs1 << 15 | 5 << 12 | 0x63,
        Op::Bltu => b_imm(imm) | rs2 << 20 | rs1 << 15 | 6 << 12 | 0x63,
        Op::Bgeu => b_imm(imm) | rs2 << 20 | rs1 << 15 | 7 << 12 | 0x63,
        // The rest: the reference encoder.
        _ => encode(&Inst {
            op,
            rd: rd as u8,
            rs1: rs1 as u8,
            rs2: rs2 as u8,
            imm, rs3: 0, rm: 0, len: 4,
        }),
    }
}

/// The words of `rd = v` appended to `out` (at most 8: `lui` and `addiw`
/// for the upper 32-bit-range part, then `slli` and `addi` per 12 more
/// bits, three times at most).
///
/// Iterative: the low 12-bit parts and shifts are peeled off first, then
/// the words are emitted from the 32-bit base up (the recursive form, kept
/// as the tests' reference, spent ~150 instructions per constant on the
/// calls; 41 constants per unit of the AArch64 object take this path).
#[inline(never)]
fn mov_imm_words(rd: u8, v: u64, out: &mut ([u32; 8], usize)) {
    // (shift, low part) per peeled step, outermost first.
    let mut steps = [(0i32, 0i32); 4];
    let mut n = 0;
    let mut x = v as i64;
    while x != x as i32 as i64 {
        let lo = ((x << 52) >> 52) as i32;
        let hi = x.wrapping_sub(lo as i64) >> 12;
        let tz = hi.trailing_zeros().min(63 - 12);
        steps[n] = (12 + tz as i32, lo);
        n += 1;
        x = hi >> tz;
    }
    let mut k = out.1;
    let hi = ((x + 0x800) >> 12) as i32;
    let lo = (x - ((hi as i64) << 12)) as i32;
    if hi != 0 {
        out.0[k] = fast_encode(Op::Lui, rd, 0, 0, hi << 12);
        k += 1;
        if lo != 0 {
            out.0[k] = fast_encode(Op::Addiw, rd, rd, 0, lo);
            k += 1;
        }
    } else {
        out.0[k] = fast_encode(Op::Addi, rd, 0, 0, lo);
        k += 1;
    }
    for &(sh, lo) in steps[..n].iter().rev() {
        out.0[k] = fast_encode(Op::Slli, rd, rd, 0, sh);
        k += 1;
        if lo != 0 {
            out.0[k] = fast_encode(Op::Addi, rd, rd, 0, lo);
            k += 1;
        }
    }
    out.1 = k;
}

fn fits12(v: i64) -> bool {
    (-2048..2048).contains(&v)
}

impl Rv64Emitter {
    /// Appends a word (room reserved by the caller: see
    /// [`UnitIsa::words`]).
    #[inline(always)]
    fn emit(&mut self, w: u32) {
        put_word(&mut self.words, w);
    }
    #[inline(always)]
    fn i(&mut self, op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) {
        self.emit(fast_encode(op, rd, rs1, rs2, imm));
    }
    #[inline(always)]
    fn r(&mut self, op: Op, rd: u8, rs1: u8, rs2: u8) {
        self.i(op, rd, rs1, rs2, 0)
    }
    #[inline(always)]
    /// Host address of guest `ra + off`: (register, remaining 12-bit offset).
    fn addr(&mut self, ra: u8, off: i32) -> (u8, i32) {
        if fits12(off as i64) {
            self.r(Op::Add, T0, MEM, ra);
            (T0, off)
        } else {
            self.mov_imm(T0, off as i64 as u64);
            self.r(Op::Add, T0, T0, ra);
            self.r(Op::Add, T0, T0, MEM);
            (T0, 0)
        }
    }
}

impl UnitIsa for Rv64Emitter {
    const POOL: &'static [u8] = &[6, 7, 10, 11, 12, 13, 14, 15, 16, 17];
    const SCRATCH: [u8; 2] = [28, 29];
    const ZERO: u8 = 0;
    const SLOTS: usize = SLOTS;
    /// A record: two operands of at most 8 words each (`mov_imm` of a
    /// 64-bit constant), a spill, at most 10 words of address and 2 of
    /// operation (27); a terminator: a system call's exit, 28 words.
    const MAX_OP_WORDS: usize = 32;

    #[inline(always)]
    fn words(&mut self) -> &mut Vec<u32> {
        &mut self.words
    }

    #[inline(always)]
    fn mov_imm(&mut self, rd: u8, v: u64) {
        let x = v as i64;
        if x == x as i32 as i64 {
            // The common case inline: `mov_imm_words`' first branch.
            let hi = ((x + 0x800) >> 12) as i32;
            let lo = (x - ((hi as i64) << 12)) as i32;
            if hi != 0 {
                self.i(Op::Lui, rd, 0, 0, hi << 12);
                if lo != 0 {
                    self.i(Op::Addiw, rd, rd, 0, lo);
                }
            } else {
                self.i(Op::Addi, rd, 0, 0, lo);
            }
            return;
        }
        // Out of line and without the emitter (its address would escape:
        // see `reserve_words`): the words land in a local buffer.
        let mut out = ([0u32; 8], 0usize);
        mov_imm_words(rd, v, &mut out);
        for &w in &out.0[..out.1] {
            self.emit(w);
        }
    }

    #[inline(always)]
    fn mov(&mut self, rd: u8, rs: u8) {
        self.i(Op::Addi, rd, rs, 0, 0);
    }

    #[inline(always)]
    fn ld_state(&mut self, rd: u8, off: i32) {
        self.i(Op::Ld, rd, CPU, 0, off);
    }

    #[inline(always)]
    fn st_state(&mut self, rs: u8, off: i32) {
        self.i(Op::Sd, 0, CPU, rs, off);
    }

    #[inline(always)]
    fn spill(&mut self, r: u8, slot: usize) {
        self.i(Op::Sd, 0, SP, r, 8 * slot as i32);
    }

    #[inline(always)]
    fn reload(&mut self, r: u8, slot: usize) {
        self.i(Op::Ld, r, SP, 0, 8 * slot as i32);
    }

    #[inline(always)]
    fn bin(&mut self, op: BinOp, rd: u8, ra: u8, rb: u8) {
        // The IR's operations are RV64IM's, division by zero included: one
        // R-type word from a table by op (a `match` here and in the
        // encoder were two mispredicted jump tables per op).
        let (rd, rs1, rs2) = (rd as u32 & 31, ra as u32 & 31, rb as u32 & 31);
        self.emit(BIN_R[op as usize] | rs2 << 20 | rs1 << 15 | rd << 7);
    }

    #[inline(always)]
    fn bin_imm(&mut self, op: BinOp, rd: u8, ra: u8, imm: u64) -> bool {
        // I-type forms by table: addi (also sub with the negated
        // immediate), andi, ori, xori with a 12-bit immediate; shifts by
        // any amount; nothing else.
        let k = op as usize;
        if k >= BIN_I.len() {
            return false;
        }
        let field = if k >= 5 {
            (imm & 63) as u32
        } else {
            let x = if op == BinOp::Sub {
                (imm as i64).wrapping_neg()
            } else {
                imm as i64
            };
            if !fits12(x) {
                return false;
            }
            x as u32 & 0xfff
        };
        let (rd, rs1) = (rd as u32 & 31, ra as u32 & 31);
        self.emit(BIN_I[k] | field << 20 | rs1 << 15 | rd << 7);
        true
    }

    #[inline(always)]
    fn un(&mut self, op: UnOp, rd: u8, ra: u8) {
        match op {
            UnOp::Sext32 => self.i(Op::Addiw, rd, ra, 0, 0),
            UnOp::Zext32 => {
                self.i(Op::Slli, rd, ra, 0, 32);
                self.i(Op::Srli, rd, rd, 0, 32);
            }
        }
    }

    #[inline(always)]
    fn setcond(&mut self, c: Cond, rd: u8, ra: u8, rb: u8) {
        match c {
            Cond::Eq => {
                self.r(Op::Xor, rd, ra, rb);
                self.i(Op::Sltiu, rd, rd, 0, 1);
            }
            Cond::Ne => {
                self.r(Op::Xor, rd, ra, rb);
                self.r(Op::Sltu, rd, 0, rd);
            }
            Cond::Lt => self.r(Op::Slt, rd, ra, rb),
            Cond::Ltu => self.r(Op::Sltu, rd, ra, rb),
            Cond::Ge => {
                self.r(Op::Slt, rd, ra, rb);
                self.i(Op::Xori, rd, rd, 0, 1);
            }
            Cond::Geu => {
                self.r(Op::Sltu, rd, ra, rb);
                self.i(Op::Xori, rd, rd, 0, 1);
            }
        }
    }

    #[inline(always)]
    fn load(&mut self, rd: u8, ra: u8, off: i32, w: Width, signed: bool) {
        let (base, off) = self.addr(ra, off);
        // funct3 by width and signedness (lbu lb lhu lh lwu lw ld ld): a
        // table, not a `match` into the encoder's jump table.
        let f3 = LOAD_F3[(w.log2() as usize) << 1 | signed as usize];
        let (rd, rs1) = (rd as u32 & 31, base as u32 & 31);
        self.emit(((off as u32) & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 3);
    }

    #[inline(always)]
    fn store(&mut self, rs: u8, ra: u8, off: i32, w: Width) {
        let (base, off) = self.addr(ra, off);
        // sb sh sw sd: funct3 is the width's log2.
        let (rs1, rs2, imm) = (base as u32 & 31, rs as u32 & 31, off as u32);
        self.emit(
            ((imm >> 5) & 0x7f) << 25
                | rs2 << 20
                | rs1 << 15
                | w.log2() << 12
                | (imm & 0x1f) << 7
                | 0x23,
        );
    }

    #[inline(always)]
    fn branch(&mut self, c: Cond, ra: u8, rb: u8) -> Fixup {
        // Inverted short branch over a jal: +-1 MiB reach for the taken
        // edge. funct3 of the inverted condition (bne beq bge blt bgeu
        // bltu) by the condition's discriminant.
        const INV_F3: [u32; 6] = [1, 0, 5, 4, 7, 6];
        let (rs1, rs2) = (ra as u32 & 31, rb as u32 & 31);
        self.emit(b_imm(8) | rs2 << 20 | rs1 << 15 | INV_F3[c as usize] << 12 | 0x63);
        self.jump()
    }

    #[inline(always)]
    fn jump(&mut self) -> Fixup {
        let at = self.words.len();
        self.i(Op::Jal, 0, 0, 0, 0);
        Fixup { at, cond: false }
    }

    #[inline(always)]
    fn patch(&mut self, f: Fixup, target: usize) {
        // Only the offset changes: the other fields of the word stay
        // (B-type: registers, funct3, opcode; J-type: rd, opcode).
        let d = ((target as i64 - f.at as i64) * 4) as i32;
        let w = &mut self.words[f.at];
        *w = if f.cond {
            (*w & 0x01ff_f07f) | b_imm(d)
        } else {
            (*w & 0xfff) | j_imm(d)
        };
    }

    #[inline(always)]
    fn prologue(&mut self) {
        self.i(Op::Addi, SP, SP, 0, -FRAME);
        self.mov(CPU, 10);
        self.mov(MEM, 11);
    }

    #[inline(always)]
    fn ret_code(&mut self, code: u64) {
        self.mov_imm(10, code);
        self.i(Op::Addi, SP, SP, 0, FRAME);
        self.i(Op::Jalr, 0, RA, 0, 0);
    }

    #[inline(always)]
    fn dispatch(&mut self, table: usize, h: TableHash) -> Fixup {
        // t3 = target pc; t4 = &table[hash(pc)]
        let bits = h.bits as i32;
        self.i(Op::Srli, T0, 28, 0, h.a as i32);
        self.i(Op::Srli, 29, 28, 0, h.b as i32);
        self.r(Op::Xor, T0, T0, 29);
        self.i(Op::Slli, T0, T0, 0, 64 - bits);
        self.i(Op::Srli, T0, T0, 0, 64 - bits - 4);
        let here = self.words.len();
        let disp = if table == usize::MAX {
            0
        } else {
            (table as i64 - here as i64) * 4
        };
        let hi = ((disp + 0x800) >> 12) as i32;
        let lo = (disp - ((hi as i64) << 12)) as i32;
        self.i(Op::Auipc, 29, 0, 0, hi << 12);
        self.i(Op::Addi, 29, 29, 0, lo);
        self.r(Op::Add, 29, 29, T0);
        self.i(Op::Ld, T0, 29, 0, 0);
        let miss = self.words.len();
        self.i(Op::Bne, 0, T0, 28, 0);
        self.i(Op::Ld, T0, 29, 0, 8);
        let a0 = self.words.len();
        let back = -(a0 as i64) * 4;
        let hi = ((back + 0x800) >> 12) as i32;
        let lo = (back - ((hi as i64) << 12)) as i32;
        self.i(Op::Auipc, 29, 0, 0, hi << 12);
        self.i(Op::Addi, 29, 29, 0, lo);
        self.r(Op::Add, 29, 29, T0);
        self.i(Op::Jalr, 0, 29, 0, 0);
        Fixup {
            at: miss,
            cond: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::unitgen::objdump::disassemble;
    use crate::backend::unitgen::UnitIsa;

    /// Every instruction pattern the emitter produces, against binutils.
    #[test]
    fn emitted_sequences_disassemble_as_intended() {
        let mut e = Rv64Emitter::default();
        let mut want: Vec<&str> = Vec::new();
        e.bin(BinOp::Add, 10, 11, 12);
        want.push("add a0,a1,a2");
        e.bin(BinOp::MulHSU, 6, 7, 13);
        want.push("mulhsu t1,t2,a3");
        e.bin(BinOp::RemU, 6, 7, 13);
        want.push("remu t1,t2,a3");
        e.bin(BinOp::Sar, 6, 7, 13);
        want.push("sra t1,t2,a3");
        assert!(e.bin_imm(BinOp::Sub, 10, 11, 5));
        want.push("addi a0,a1,-5");
        assert!(e.bin_imm(BinOp::Shr, 10, 11, 63));
        want.push("srli a0,a1,0x3f");
        assert!(!e.bin_imm(BinOp::Mul, 10, 11, 3));
        e.un(UnOp::Sext32, 10, 11);
        want.push("addiw a0,a1,0");
        e.un(UnOp::Zext32, 10, 11);
        want.extend(["slli a0,a1,0x20", "srli a0,a0,0x20"]);
        e.setcond(Cond::Eq, 10, 11, 12);
        want.extend(["xor a0,a1,a2", "sltiu a0,a0,1"]);
        e.setcond(Cond::Geu, 10, 11, 12);
        want.extend(["sltu a0,a1,a2", "xori a0,a0,1"]);
        e.load(10, 11, -8, Width::W32, true);
        want.extend(["add t0,t6,a1", "lw a0,-8(t0)"]);
        e.store(12, 11, 16, Width::W16);
        want.extend(["add t0,t6,a1", "sh a2,16(t0)"]);
        e.ld_state(10, 8 * 63);
        want.push("ld a0,504(t5)");
        e.st_state(0, 512);
        want.push("sd zero,512(t5)");
        e.mov_imm(28, 0x1234_5678);
        want.extend(["lui t3,0x12345", "addiw t3,t3,1656"]);
        e.mov_imm(28, u64::MAX);
        want.push("addi t3,zero,-1");
        e.prologue();
        want.extend(["addi sp,sp,-512", "addi t5,a0,0", "addi t6,a1,0"]);
        e.ret_code(2);
        want.extend(["addi a0,zero,2", "addi sp,sp,512", "jalr zero,0(ra)"]);
        let got =
            disassemble("riscv64-linux-gnu-objdump", "riscv:rv64", &e.words).unwrap_or_default();
        if got.is_empty() {
            return;
        }
        assert_eq!(got, want);
    }

    #[test]
    fn binary_op_tables_match_the_encoder() {
        use crate::ir::dense::BIN_OPS;
        let r_ops = [
            Op::Add,
            Op::Sub,
            Op::And,
            Op::Or,
            Op::Xor,
            Op::Sll,
            Op::Srl,
            Op::Sra,
            Op::Mul,
            Op::Mulh,
            Op::Mulhu,
            Op::Mulhsu,
            Op::Div,
            Op::Divu,
            Op::Rem,
            Op::Remu,
        ];
        let i_ops = [
            Op::Addi,
            Op::Addi,
            Op::Andi,
            Op::Ori,
            Op::Xori,
            Op::Slli,
            Op::Srli,
            Op::Srai,
        ];
        for (k, op) in BIN_OPS.into_iter().enumerate() {
            for (rd, ra, rb) in [(0, 0, 0), (5, 17, 31), (31, 1, 12)] {
                let mut em = Rv64Emitter::default();
                em.bin(op, rd, ra, rb);
                assert_eq!(em.words, [fast_encode(r_ops[k], rd, ra, rb, 0)], "{op:?}");
                for imm in [0u64, 1, 63, 64, 2047, 2048, u64::MAX, (-2048i64) as u64] {
                    let mut em = Rv64Emitter::default();
                    let ok = em.bin_imm(op, rd, ra, imm);
                    let x = if op == BinOp::Sub {
                        (imm as i64).wrapping_neg()
                    } else {
                        imm as i64
                    };
                    let want_ok = k < 8 && (k >= 5 || fits12(x));
                    assert_eq!(ok, want_ok, "{op:?} {imm:#x}");
                    if ok {
                        let v = if k >= 5 { (imm & 63) as i32 } else { x as i32 };
                        assert_eq!(em.words, [fast_encode(i_ops[k], rd, ra, 0, v)], "{op:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn fast_encode_matches_the_frontend_encoder() {
        use Op::*;
        let ops = [
            Add, Sub, Sll, Slt, Sltu, Xor, Srl, Sra, Or, And, Mul, Mulh, Mulhsu, Mulhu, Div, Divu,
            Rem, Remu, Addi, Sltiu, Xori, Ori, Andi, Slli, Srli, Srai, Addiw, Lb, Lh, Lw, Ld, Lbu,
            Lhu, Lwu, Sb, Sh, Sw, Sd, Lui, Jalr, Jal, Beq, Bne, Blt, Bge, Bltu, Bgeu, Auipc,
        ];
        let imms = [
            0,
            1,
            -1,
            2047,
            -2048,
            63,
            0x7ff0_0000u32 as i32,
            -4096,
            8,
            -8,
            4094,
            1_048_574,
            -1_048_576,
        ];
        for op in ops {
            for (rd, rs1, rs2) in [(0, 0, 0), (5, 30, 31), (31, 1, 17), (10, 11, 12)] {
                for imm in imms {
                    let want = encode(&Inst {
                        op,
                        rd,
                        rs1,
                        rs2,
                        imm, rs3: 0, rm: 0, len: 4,
                    });
                    assert_eq!(
                        fast_encode(op, rd, rs1, rs2, imm),
                        want,
                        "{op:?} {rd} {rs1} {rs2} {imm}"
                    );
                }
            }
        }
    }

    /// The table-driven loads, stores and inverted branches equal the
    /// encoder's words.
    #[test]
    fn memory_and_branch_tables_match_the_encoder() {
        use crate::ir::dense::{CONDS, WIDTHS};
        let loads = [
            [Op::Lbu, Op::Lb],
            [Op::Lhu, Op::Lh],
            [Op::Lwu, Op::Lw],
            [Op::Ld, Op::Ld],
        ];
        let stores = [Op::Sb, Op::Sh, Op::Sw, Op::Sd];
        for (k, w) in WIDTHS.into_iter().enumerate() {
            for off in [0, 1, -1, 2047, -2048] {
                for signed in [false, true] {
                    let mut em = Rv64Emitter::default();
                    em.load(7, 12, off, w, signed);
                    let last = *em.words.last().unwrap();
                    assert_eq!(last, fast_encode(loads[k][signed as usize], 7, T0, 0, off));
                }
                let mut em = Rv64Emitter::default();
                em.store(9, 12, off, w);
                let last = *em.words.last().unwrap();
                assert_eq!(last, fast_encode(stores[k], 0, T0, 9, off));
            }
        }
        let inv = [Op::Bne, Op::Beq, Op::Bge, Op::Blt, Op::Bgeu, Op::Bltu];
        for (k, c) in CONDS.into_iter().enumerate() {
            let mut em = Rv64Emitter::default();
            em.branch(c, 5, 31);
            assert_eq!(em.words[0], fast_encode(inv[k], 0, 5, 31, 8), "{c:?}");
        }
    }

    /// Patching a branch or jump equals encoding it with the final offset.
    #[test]
    fn patched_branches_equal_direct_encodings() {
        let conds = [Cond::Eq, Cond::Ne, Cond::Lt, Cond::Ge, Cond::Ltu, Cond::Geu];
        for target in [0usize, 1, 7, 1000, 262_143] {
            for &c in &conds {
                let mut em = Rv64Emitter::default();
                em.words.resize(3, 0);
                let f = em.branch(c, 5, 31);
                let at = f.at;
                em.patch(f, target);
                let d = ((target as i64 - at as i64) * 4) as i32;
                assert_eq!(em.words[at], fast_encode(Op::Jal, 0, 0, 0, d), "{c:?}");
                // The inverted short branch before it is untouched.
                assert_eq!(em.words[at - 1] & 0x7f, 0x63);
            }
            for f3 in [0u32, 1, 4, 5, 6, 7] {
                let mut em = Rv64Emitter::default();
                em.words.resize(5, 0);
                let ops = [Op::Beq, Op::Bne, Op::Blt, Op::Bge, Op::Bltu, Op::Bgeu];
                let op = ops[[0, 1, 4, 5, 6, 7].iter().position(|&x| x == f3).unwrap()];
                let target = target.min(1000);
                em.words.push(fast_encode(op, 0, 9, 17, 0));
                em.patch(Fixup { at: 5, cond: true }, target);
                let d = ((target as i64 - 5) * 4) as i32;
                assert_eq!(em.words[5], fast_encode(op, 0, 9, 17, d), "{op:?}");
            }
        }
    }

    #[test]
    fn constants_materialize_exactly() {
        // Evaluate the lui/addi(w)/slli sequence.
        for v in [
            0u64,
            1,
            2047,
            2048,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            u64::MAX,
            i64::MIN as u64,
            0x1234_5678_9abc_def0,
            0x5e17e1,
            0xffff_ffff_8000_0000,
        ] {
            let mut e = Rv64Emitter::default();
            e.mov_imm(28, v);
            let mut x = 0i64;
            for &w in &e.words {
                let inst = crate::frontend::riscv::decode(w).unwrap();
                x = match inst.op {
                    Op::Lui => inst.imm as i64,
                    Op::Addi if inst.rs1 == 0 => inst.imm as i64,
                    Op::Addi => x.wrapping_add(inst.imm as i64),
                    Op::Addiw => (x as i32).wrapping_add(inst.imm) as i64,
                    Op::Slli => x << inst.imm,
                    op => panic!("unexpected {op:?}"),
                };
            }
            assert_eq!(x as u64, v, "{v:#x}");
        }
    }


    /// The recursive form of `mov_imm_words` (the reference).
    fn mov_imm_words_reference(rd: u8, v: u64, out: &mut ([u32; 8], usize)) {
        let mut put = |w: u32| {
            out.0[out.1] = w;
            out.1 += 1;
        };
        let x = v as i64;
        if x == x as i32 as i64 {
            let hi = ((x + 0x800) >> 12) as i32;
            let lo = (x - ((hi as i64) << 12)) as i32;
            if hi != 0 {
                put(fast_encode(Op::Lui, rd, 0, 0, hi << 12));
                if lo != 0 {
                    put(fast_encode(Op::Addiw, rd, rd, 0, lo));
                }
            } else {
                put(fast_encode(Op::Addi, rd, 0, 0, lo));
            }
            return;
        }
        // Upper part first, then shift in the low 12 bits.
        let lo = ((x << 52) >> 52) as i32;
        let hi = x.wrapping_sub(lo as i64) >> 12;
        let tz = hi.trailing_zeros().min(63 - 12);
        mov_imm_words_reference(rd, (hi >> tz) as u64, out);
        out.0[out.1] = fast_encode(Op::Slli, rd, rd, 0, 12 + tz as i32);
        out.1 += 1;
        if lo != 0 {
            out.0[out.1] = fast_encode(Op::Addi, rd, rd, 0, lo);
            out.1 += 1;
        }
    }

    /// The iterative constant builder emits the reference's words for
    /// every shape of constant (random, sparse, masks, both signs).
    #[test]
    fn constant_words_match_the_recursive_reference() {
        let mut vals: Vec<u64> = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            vals.push(x);
            vals.push(x >> (x % 64));
            vals.push(x & 0xfff0_0000_0000_0fff);
        }
        for i in 0..64 {
            for j in 0..64 {
                vals.push((1u64 << i) | (1u64 << j));
                vals.push(!((1u64 << i) | (1u64 << j)));
            }
            vals.push((1u64 << i) - 1);
            vals.push(((1u64 << i) - 1).wrapping_neg());
        }
        for v in vals {
            let (mut got, mut want) = (([0u32; 8], 0usize), ([0u32; 8], 0usize));
            mov_imm_words(28, v, &mut got);
            mov_imm_words_reference(28, v, &mut want);
            assert_eq!(got.0[..got.1], want.0[..want.1], "{v:#x}");
        }
    }
}
