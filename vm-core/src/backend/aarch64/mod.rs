//! AArch64 host backend: IR -> A64 machine code for whole translation
//! units (see [`crate::backend::unitgen`] for the unit ABI).
//!
//! Registers: `x27` = CPU state, `x28` = guest memory base (both saved
//! by the entry prologue), `x0..x13` allocatable, `x14`/`x15` extra scratch
//! for multi-instruction sequences, `x16`/`x17` the generic scratch pair.

pub mod encode;

use self::encode as e;
use self::encode::Cc;
use super::unitgen::{
    compile_unit, put_word, Fixup, TableHash, UnitCode, UnitCodegenError, UnitIsa,
};
use crate::ir::TranslationUnit;
use crate::ir::{BinOp, Cond, UnOp, Width};

const CPU: u8 = 27;
const MEM: u8 = 28;
const X14: u8 = 14;
const X15: u8 = 15;
const SLOTS: usize = 64;
const FRAME: u32 = 8 * SLOTS as u32;

/// `rrr` base word of the [`BinOp`]s that are one A64 instruction, by
/// discriminant (add, sub, and, orr, eor, lslv, lsrv, asrv, mul, smulh,
/// umulh; checked against the named encoders by a test).
const BIN_RRR: [u32; 11] = [
    0x8b00_0000,
    0xcb00_0000,
    0x8a00_0000,
    0xaa00_0000,
    0xca00_0000,
    0x9ac0_2000,
    0x9ac0_2400,
    0x9ac0_2800,
    0x9b00_7c00,
    0x9b40_7c00,
    0x9bc0_7c00,
];

/// Bit `op` set: the `w`-register form of [`BIN_RRR`]'s op (its base with
/// `sf` clear) is `zext32` of the 64-bit op's result (add, sub, and, orr,
/// eor, mul: the low 32 bits depend only on the operands' low 32 bits).
/// The shifts are not: their `w` forms shift the low 32 bits by the count
/// modulo 32.
const W32_RRR: u32 = 0b1_0001_1111;

/// `sf`, the 64-bit bit of the data-processing encodings.
const SF: u32 = 1 << 31;

/// The AArch64 unit emitter.
#[derive(Debug)]
pub struct A64Emitter {
    words: Vec<u32>,
}

impl Default for A64Emitter {
    /// An emitter with room for the encoder tests' sequences (`compile`
    /// sizes its own).
    fn default() -> Self {
        Self {
            words: Vec::with_capacity(256),
        }
    }
}

/// Compiles a translation unit to AArch64 code.
pub fn compile(unit: &TranslationUnit) -> Result<UnitCode, UnitCodegenError> {
    // `compile_unit` sizes the buffer (an allocation here would be copied
    // when it grows).
    let mut em = A64Emitter { words: Vec::new() };
    compile_unit(&mut em, unit)
}

fn cc(c: Cond) -> Cc {
    match c {
        Cond::Eq => Cc::Eq,
        Cond::Ne => Cc::Ne,
        Cond::Lt => Cc::Lt,
        Cond::Ge => Cc::Ge,
        Cond::Ltu => Cc::Lo,
        Cond::Geu => Cc::Hs,
    }
}

impl A64Emitter {
    /// Appends a word (room reserved by the caller: see
    /// [`UnitIsa::words`]).
    #[inline(always)]
    fn emit(&mut self, w: u32) {
        put_word(&mut self.words, w);
    }
    #[inline(always)]
    /// Host address of guest `ra + off` into x16 (returns the index register).
    fn addr(&mut self, ra: u8, off: i32) -> u8 {
        if off == 0 {
            return ra;
        }
        if ra == 31 {
            // Register 31 is sp in `add #imm`: a constant address is materialized.
            self.mov_imm(16, off as i64 as u64);
            return 16;
        }
        if (0..4096).contains(&off) {
            self.emit(e::add_imm(16, ra, off as u32));
        } else if (-4095..0).contains(&off) {
            self.emit(e::sub_imm(16, ra, (-off) as u32));
        } else {
            self.mov_imm(X15, off as i64 as u64);
            self.emit(e::add(16, ra, X15));
        }
        16
    }
}

impl UnitIsa for A64Emitter {
    const POOL: &'static [u8] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
    const SCRATCH: [u8; 2] = [16, 17];
    const ZERO: u8 = 31;
    const SLOTS: usize = SLOTS;
    /// A record: two operands of at most 4 words each (`mov_imm`), a
    /// spill, at most 5 words of address and 4 of operation (13-14); a
    /// terminator: a system call's exit, 17 words.
    const MAX_OP_WORDS: usize = 24;
    const BIN32_ARM: bool = true;

    #[inline(always)]
    fn words(&mut self) -> &mut Vec<u32> {
        &mut self.words
    }

    #[inline(always)]
    fn mov_imm(&mut self, rd: u8, v: u64) {
        // Bit i of `nz` / `nf`: half i is not 0 / not 0xffff. One word
        // per half that is not the filler, the first a movz (movn if more
        // halves are all ones than zero), the rest movk; the halves are
        // found with bit scans instead of counting loops over all four
        // (~40 instructions and two mispredicted loop exits per constant).
        let half = |i: u32| (v >> (16 * i)) as u16;
        let (mut nz, mut nf) = (0u32, 0u32);
        for i in 0..4 {
            nz |= ((half(i) != 0) as u32) << i;
            nf |= ((half(i) != 0xffff) as u32) << i;
        }
        // Bits set in a 4-bit mask, from a nibble table (`count_ones` is
        // a dozen instructions without the popcnt extension).
        let ones = |m: u32| (0x4332_3221_3221_2110u64 >> (4 * m)) & 15;
        let (mut m, first) = if ones(nf) < ones(nz) {
            // All ones: movn of half 3 (!0xffff = 0).
            let m = if nf == 0 { 8 } else { nf };
            let i = m.trailing_zeros();
            (m, e::movn(rd, !half(i), i))
        } else if nz == 0 {
            (1, e::movz(rd, 0, 0))
        } else {
            let i = nz.trailing_zeros();
            (nz, e::movz(rd, half(i), i))
        };
        self.emit(first);
        m &= m - 1;
        while m != 0 {
            let i = m.trailing_zeros();
            self.emit(e::movk(rd, half(i), i));
            m &= m - 1;
        }
    }

    #[inline(always)]
    fn mov(&mut self, rd: u8, rs: u8) {
        self.emit(e::orr(rd, 31, rs));
    }

    #[inline(always)]
    fn ld_state(&mut self, rd: u8, off: i32) {
        self.emit(e::ldr_imm(rd, CPU, off as u32));
    }

    #[inline(always)]
    fn st_state(&mut self, rs: u8, off: i32) {
        self.emit(e::str_imm(rs, CPU, off as u32));
    }

    #[inline(always)]
    fn spill(&mut self, r: u8, slot: usize) {
        self.emit(e::str_imm(r, 31, 8 * slot as u32));
    }

    #[inline(always)]
    fn reload(&mut self, r: u8, slot: usize) {
        self.emit(e::ldr_imm(r, 31, 8 * slot as u32));
    }

    #[inline(always)]
    fn bin(&mut self, op: BinOp, rd: u8, ra: u8, rb: u8) {
        // The one-instruction ops (add .. umulh, the first eleven) are one
        // word from a table by op: a `match` over all of them was a
        // mispredicted jump table per op.
        if let Some(&base) = BIN_RRR.get(op as usize) {
            self.emit(e::rrr(base, rd, ra, rb));
            return;
        }
        let w = match op {
            BinOp::Add => e::add(rd, ra, rb),
            BinOp::Sub => e::sub(rd, ra, rb),
            BinOp::And => e::and(rd, ra, rb),
            BinOp::Or => e::orr(rd, ra, rb),
            BinOp::Xor => e::eor(rd, ra, rb),
            BinOp::Shl => e::lslv(rd, ra, rb),
            BinOp::Shr => e::lsrv(rd, ra, rb),
            BinOp::Sar => e::asrv(rd, ra, rb),
            BinOp::Mul => e::mul(rd, ra, rb),
            BinOp::MulH => e::smulh(rd, ra, rb),
            BinOp::MulHU => e::umulh(rd, ra, rb),
            BinOp::MulHSU => {
                // mulhsu(a, b) = mulhu(a, b) - (a < 0 ? b : 0)
                self.emit(e::umulh(X15, ra, rb));
                self.emit(e::asr_imm(X14, ra, 63));
                self.emit(e::and(X14, X14, rb));
                e::sub(rd, X15, X14)
            }
            BinOp::Div | BinOp::DivU => {
                // A64 gives 0 for x / 0, the IR all ones: csinv fixes it up.
                self.emit(if op == BinOp::Div {
                    e::sdiv(X15, ra, rb)
                } else {
                    e::udiv(X15, ra, rb)
                });
                self.emit(e::cmp(rb, 31));
                e::csinv(rd, X15, 31, Cc::Ne)
            }
            BinOp::Rem | BinOp::RemU => {
                // a - (a / b) * b; x / 0 = 0 on A64 gives a % 0 = a as required.
                self.emit(if op == BinOp::Rem {
                    e::sdiv(X15, ra, rb)
                } else {
                    e::udiv(X15, ra, rb)
                });
                e::msub(rd, X15, rb, ra)
            }
        };
        self.emit(w);
    }

    #[inline(always)]
    fn bin_imm(&mut self, op: BinOp, rd: u8, ra: u8, imm: u64) -> bool {
        let w = match op {
            BinOp::Add if imm < 4096 => e::add_imm(rd, ra, imm as u32),
            BinOp::Add if imm.wrapping_neg() < 4096 => {
                e::sub_imm(rd, ra, imm.wrapping_neg() as u32)
            }
            BinOp::Sub if imm < 4096 => e::sub_imm(rd, ra, imm as u32),
            BinOp::Sub if imm.wrapping_neg() < 4096 => {
                e::add_imm(rd, ra, imm.wrapping_neg() as u32)
            }
            BinOp::Shl => e::lsl_imm(rd, ra, (imm & 63) as u32),
            BinOp::Shr => e::lsr_imm(rd, ra, (imm & 63) as u32),
            BinOp::Sar => e::asr_imm(rd, ra, (imm & 63) as u32),
            BinOp::And if imm != 0 && imm != u64::MAX && (imm & (imm + 1)) == 0 => {
                e::and_low_mask(rd, ra, imm.trailing_ones())
            }
            _ => return false,
        };
        // `add/sub #imm` read register 31 as sp: never pass the zero register.
        if ra == 31 && matches!(op, BinOp::Add | BinOp::Sub) {
            return false;
        }
        self.emit(w);
        true
    }

    #[inline(always)]
    fn bin_w(&mut self, op: BinOp, w32: bool, rd: u8, ra: u8, rb: u8) {
        if let Some(&base) = BIN_RRR.get(op as usize) {
            // A 32-bit result of add .. eor and mul is the `w` form (which
            // zero-extends); the others take a `mov w` after.
            let narrow = w32 & (W32_RRR >> (op as u32) & 1 != 0);
            self.emit(e::rrr(base & !((narrow as u32) * SF), rd, ra, rb));
            if w32 & !narrow {
                self.emit(e::mov_w(rd, rd));
            }
            return;
        }
        self.bin(op, rd, ra, rb);
        if w32 {
            self.emit(e::mov_w(rd, rd));
        }
    }

    #[inline(always)]
    fn bin_imm_w(&mut self, op: BinOp, w32: bool, rd: u8, ra: u8, imm: u64) -> bool {
        if !w32 {
            return self.bin_imm(op, rd, ra, imm);
        }
        let w = match op {
            // `add/sub w` (register 31 would be wsp: never the zero register).
            BinOp::Add | BinOp::Sub if ra == 31 => return false,
            BinOp::Add if imm < 4096 => e::add_imm(rd, ra, imm as u32) & !SF,
            BinOp::Add if imm.wrapping_neg() < 4096 => {
                e::sub_imm(rd, ra, imm.wrapping_neg() as u32) & !SF
            }
            BinOp::Sub if imm < 4096 => e::sub_imm(rd, ra, imm as u32) & !SF,
            BinOp::Sub if imm.wrapping_neg() < 4096 => {
                e::add_imm(rd, ra, imm.wrapping_neg() as u32) & !SF
            }
            // A mask of at most 32 low bits already zero-extends; a wider
            // one leaves the low 32 bits as they are.
            BinOp::And if imm != 0 && imm != u64::MAX && (imm & (imm + 1)) == 0 => {
                match imm.trailing_ones() {
                    b @ ..=32 => e::and_low_mask(rd, ra, b),
                    _ => e::mov_w(rd, ra),
                }
            }
            _ => {
                if !self.bin_imm(op, rd, ra, imm) {
                    return false;
                }
                e::mov_w(rd, rd)
            }
        };
        self.emit(w);
        true
    }

    #[inline(always)]
    fn un(&mut self, op: UnOp, rd: u8, ra: u8) {
        self.emit(match op {
            UnOp::Sext32 => e::sxtw(rd, ra),
            UnOp::Zext32 => e::mov_w(rd, ra),
        });
    }

    #[inline(always)]
    fn setcond(&mut self, c: Cond, rd: u8, ra: u8, rb: u8) {
        self.emit(e::cmp(ra, rb));
        self.emit(e::cset(rd, cc(c)));
    }

    #[inline(always)]
    fn load(&mut self, rd: u8, ra: u8, off: i32, w: Width, signed: bool) {
        let idx = self.addr(ra, off);
        let size = w.log2();
        let opc = if signed && size < 3 { 2 } else { 1 };
        self.emit(e::ldst_reg(size, opc, rd, MEM, idx));
    }

    #[inline(always)]
    fn store(&mut self, rs: u8, ra: u8, off: i32, w: Width) {
        let idx = self.addr(ra, off);
        self.emit(e::ldst_reg(w.log2(), 0, rs, MEM, idx));
    }

    #[inline(always)]
    fn branch(&mut self, c: Cond, ra: u8, rb: u8) -> Fixup {
        self.emit(e::cmp(ra, rb));
        let at = self.words.len();
        self.emit(e::b_cond(cc(c), 0));
        Fixup { at, cond: true }
    }

    #[inline(always)]
    fn branch_imm(&mut self, c: Cond, ra: u8, imm: u64) -> Option<Fixup> {
        // Register 31 would be sp in the immediate forms.
        if ra == 31 {
            return None;
        }
        if imm < 4096 {
            self.emit(e::cmp_imm(ra, imm as u32));
        } else if imm.wrapping_neg() < 4096 {
            self.emit(e::cmn_imm(ra, imm.wrapping_neg() as u32));
        } else {
            return None;
        }
        let at = self.words.len();
        self.emit(e::b_cond(cc(c), 0));
        Some(Fixup { at, cond: true })
    }

    #[inline(always)]
    fn jump(&mut self) -> Fixup {
        let at = self.words.len();
        self.emit(e::b(0));
        Fixup { at, cond: false }
    }

    #[inline(always)]
    fn patch(&mut self, f: Fixup, target: usize) {
        let d = target as i64 - f.at as i64;
        let w = &mut self.words[f.at];
        if f.cond {
            *w = (*w & !(0x7_ffff << 5)) | ((d as u32) & 0x7_ffff) << 5;
        } else {
            *w = (*w & !0x03ff_ffff) | (d as u32 & 0x03ff_ffff);
        }
    }

    #[inline(always)]
    fn prologue(&mut self) {
        self.emit(e::stp_pre16(CPU, MEM));
        self.emit(e::sub_imm(31, 31, FRAME));
        self.emit(e::orr(CPU, 31, 0));
        self.emit(e::orr(MEM, 31, 1));
    }

    #[inline(always)]
    fn ret_code(&mut self, code: u64) {
        self.mov_imm(0, code);
        self.emit(e::add_imm(31, 31, FRAME));
        self.emit(e::ldp_post16(CPU, MEM));
        self.emit(e::ret());
    }

    #[inline(always)]
    fn dispatch(&mut self, table: usize, h: TableHash) -> Fixup {
        // x16 = target pc (scratch 0); x17 = &table[hash(pc)]
        self.emit(e::lsr_imm(X15, 16, h.a));
        self.emit(e::lsr_imm(X14, 16, h.b));
        self.emit(e::eor(X15, X15, X14));
        self.emit(e::and_low_mask(X15, X15, h.bits));
        let adr_at = self.words.len();
        let disp = if table == usize::MAX {
            0
        } else {
            (table as i64 - adr_at as i64) * 4
        };
        self.emit(e::adr(17, disp as i32));
        self.emit(e::add_lsl(17, 17, X15, 4));
        self.emit(e::ldr_imm(X15, 17, 0));
        self.emit(e::cmp(X15, 16));
        let miss = self.words.len();
        self.emit(e::b_cond(Cc::Ne, 0));
        self.emit(e::ldr_imm(X15, 17, 8));
        let adr0 = self.words.len();
        self.emit(e::adr(17, -(adr0 as i32) * 4));
        self.emit(e::add(17, 17, X15));
        self.emit(e::br(17));
        Fixup {
            at: miss,
            cond: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;
    use crate::backend::unitgen::objdump::disassemble;

    /// The table of one-instruction binary ops equals the named encoders.
    #[test]
    fn binary_op_table_matches_the_encoders() {
        let named: [fn(u8, u8, u8) -> u32; 11] = [
            add, sub, and, orr, eor, lslv, lsrv, asrv, mul, smulh, umulh,
        ];
        for (k, f) in named.iter().enumerate() {
            for (rd, ra, rb) in [(0, 0, 0), (5, 17, 31), (31, 1, 12)] {
                let mut em = A64Emitter::default();
                em.bin(crate::ir::dense::BIN_OPS[k], rd, ra, rb);
                assert_eq!(em.words, [f(rd, ra, rb)], "op {k}");
            }
        }
    }

    /// Every encoder against binutils (`-M no-aliases` spelling).
    #[test]
    fn encodings_disassemble_as_intended() {
        let cases: Vec<(u32, &str)> = vec![
            (add(0, 1, 2), "add x0,x1,x2"),
            (add_lsl(17, 17, 15, 4), "add x17,x17,x15,lsl #4"),
            (sub(3, 4, 5), "sub x3,x4,x5"),
            (and(6, 7, 8), "and x6,x7,x8"),
            (orr(9, 31, 10), "orr x9,xzr,x10"),
            (eor(11, 12, 13), "eor x11,x12,x13"),
            (lslv(0, 1, 2), "lslv x0,x1,x2"),
            (lsrv(0, 1, 2), "lsrv x0,x1,x2"),
            (asrv(0, 1, 2), "asrv x0,x1,x2"),
            (mul(0, 1, 2), "madd x0,x1,x2,xzr"),
            (msub(0, 15, 2, 1), "msub x0,x15,x2,x1"),
            (smulh(0, 1, 2), "smulh x0,x1,x2"),
            (umulh(0, 1, 2), "umulh x0,x1,x2"),
            (sdiv(15, 1, 2), "sdiv x15,x1,x2"),
            (udiv(15, 1, 2), "udiv x15,x1,x2"),
            (cmp(1, 2), "subs xzr,x1,x2"),
            (cmp(2, 31), "subs xzr,x2,xzr"),
            (cmp_imm(3, 7), "subs xzr,x3,#0x7"),
            (cmn_imm(4, 0xfff), "adds xzr,x4,#0xfff"),
            (csinv(0, 15, 31, Cc::Ne), "csinv x0,x15,xzr,ne"),
            (cset(4, Cc::Lt), "csinc x4,xzr,xzr,ge"),
            (cset(4, Cc::Lo), "csinc x4,xzr,xzr,cs"),
            (sxtw(1, 2), "sbfm x1,x2,#0,#31"),
            (mov_w(1, 2), "orr w1,wzr,w2"),
            // The `w` forms of BIN32 records (`sf` clear).
            (add(0, 1, 2) & !SF, "add w0,w1,w2"),
            (sub(3, 4, 5) & !SF, "sub w3,w4,w5"),
            (and(6, 7, 8) & !SF, "and w6,w7,w8"),
            (orr(9, 31, 10) & !SF, "orr w9,wzr,w10"),
            (eor(11, 12, 13) & !SF, "eor w11,w12,w13"),
            (mul(0, 1, 2) & !SF, "madd w0,w1,w2,wzr"),
            (add_imm(1, 2, 4095) & !SF, "add w1,w2,#0xfff"),
            (sub_imm(1, 2, 512) & !SF, "sub w1,w2,#0x200"),
            (add_imm(1, 2, 4095), "add x1,x2,#0xfff"),
            (sub_imm(31, 31, 512), "sub sp,sp,#0x200"),
            (lsl_imm(1, 2, 3), "ubfm x1,x2,#61,#60"),
            (lsr_imm(1, 2, 3), "ubfm x1,x2,#3,#63"),
            (asr_imm(1, 2, 63), "sbfm x1,x2,#63,#63"),
            (and_low_mask(1, 2, 12), "and x1,x2,#0xfff"),
            (movz(5, 0x1234, 1), "movz x5,#0x1234,lsl #16"),
            (movn(5, 0, 0), "movn x5,#0x0"),
            (movk(5, 0xbeef, 3), "movk x5,#0xbeef,lsl #48"),
            (ldst_reg(3, 1, 0, 28, 16), "ldr x0,[x28,x16]"),
            (ldst_reg(0, 1, 0, 28, 16), "ldrb w0,[x28,x16]"),
            (ldst_reg(0, 2, 0, 28, 16), "ldrsb x0,[x28,x16]"),
            (ldst_reg(1, 2, 0, 28, 16), "ldrsh x0,[x28,x16]"),
            (ldst_reg(2, 2, 0, 28, 16), "ldrsw x0,[x28,x16]"),
            (ldst_reg(1, 1, 0, 28, 16), "ldrh w0,[x28,x16]"),
            (ldst_reg(2, 1, 0, 28, 16), "ldr w0,[x28,x16]"),
            (ldst_reg(2, 0, 3, 28, 4), "str w3,[x28,x4]"),
            (ldst_reg(0, 0, 31, 28, 4), "strb wzr,[x28,x4]"),
            (ldst_reg(1, 0, 3, 28, 4), "strh w3,[x28,x4]"),
            (ldst_reg(3, 0, 3, 28, 4), "str x3,[x28,x4]"),
            (ldr_imm(1, 27, 504), "ldr x1,[x27,#504]"),
            (str_imm(1, 27, 512), "str x1,[x27,#512]"),
            (stp_pre16(27, 28), "stp x27,x28,[sp,#-16]!"),
            (ldp_post16(27, 28), "ldp x27,x28,[sp],#16"),
            (br(17), "br x17"),
            (ret(), "ret"),
        ];
        let words: Vec<u32> = cases.iter().map(|c| c.0).collect();
        let Some(got) = disassemble("aarch64-linux-gnu-objdump", "aarch64", &words) else {
            return;
        };
        assert_eq!(got.len(), cases.len());
        for ((w, want), got) in cases.iter().zip(&got) {
            assert_eq!(got, want, "word {w:#010x}");
        }
        // Branches: displacement decoded relative to their own address.
        let words = [b(2), b_cond(Cc::Gt, -1), adr(17, 8)];
        let got = disassemble("aarch64-linux-gnu-objdump", "aarch64", &words).unwrap();
        assert_eq!(got, ["b 0x8", "b.gt 0x0", "adr x17,0x10"]);
    }

    #[test]
    fn constants_materialize_exactly() {
        // Decode the movz/movn/movk sequence back (Arm ARM semantics).
        for v in [
            0u64,
            1,
            0xffff,
            0x1_0000,
            u64::MAX,
            u64::MAX - 0x1234,
            0x8000_0000_0000_0000,
            0x1234_5678_9abc_def0,
            0xffff_0000_ffff_0000,
            0x5e17e1,
        ] {
            let mut em = A64Emitter::default();
            em.mov_imm(3, v);
            let mut x = 0u64;
            for w in &em.words {
                let hw = (w >> 21) & 3;
                let imm = ((w >> 5) & 0xffff) as u64;
                match w >> 23 {
                    0x1a5 => x = imm << (16 * hw),
                    0x125 => x = !(imm << (16 * hw)),
                    0x1e5 => x = (x & !(0xffff << (16 * hw))) | imm << (16 * hw),
                    _ => panic!("unexpected word {w:#x}"),
                }
            }
            assert_eq!(x, v, "{v:#x}");
        }
    }
}
