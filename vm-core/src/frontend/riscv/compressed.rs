//! Decoder for the RV64C compressed extension: every 16-bit encoding
//! expands into the [`Inst`] of the 32-bit instruction it stands for, with
//! `len: 2` (no new [`Op`]).
//!
//! Decoding is total: every halfword yields an [`Inst`] or a
//! [`DecodeError`]; nothing panics. Reserved encodings (the all-zero
//! halfword, C.ADDI4SPN/C.ADDI16SP/C.LUI with a zero immediate,
//! C.ADDIW/C.LWSP/C.LDSP with `rd = x0`, C.JR with `rs1 = x0`, the
//! reserved quadrant-1 ALU and quadrant-0 slots) are illegal. HINT
//! encodings (writes to `x0`, zero shift amounts, ...) decode as the
//! instruction they expand to, which has no architectural effect.
//!
//! C.FLD, C.FSD, C.FLDSP and C.FSDSP expand to the D extension's FLD and
//! FSD (register numbers name f0..f31; C.FLDSP may load f0).

use super::decode::{DecodeError, Inst, Op};

#[inline(always)]
fn bit(h: u32, i: u32) -> u32 {
    (h >> i) & 1
}

#[inline(always)]
fn field(h: u32, hi: u32, lo: u32) -> u32 {
    (h >> lo) & ((1 << (hi - lo + 1)) - 1)
}

/// Sign-extends the low `n` bits of `v`.
#[inline(always)]
fn sext(v: u32, n: u32) -> i32 {
    ((v << (32 - n)) as i32) >> (32 - n)
}

#[inline(always)]
fn mk(op: Op, rd: u32, rs1: u32, rs2: u32, imm: i32) -> Result<Inst, DecodeError> {
    Ok(Inst {
        op,
        rd: rd as u8,
        rs1: rs1 as u8,
        rs2: rs2 as u8,
        rs3: 0,
        rm: 0,
        len: 2,
        imm,
    })
}

/// Decodes one compressed instruction (a halfword whose low two bits are
/// not `11`; a halfword with low bits `11` is the first half of a 32-bit
/// instruction and is illegal here).
pub fn decode_compressed(h: u16) -> Result<Inst, DecodeError> {
    let h = h as u32;
    let ill = Err(DecodeError::Illegal(h));
    let f3 = field(h, 15, 13);
    // Full register fields and the 3-bit "prime" ones (x8..x15).
    let rd = field(h, 11, 7);
    let rs2 = field(h, 6, 2);
    let rdp = field(h, 4, 2) + 8;
    let rs1p = field(h, 9, 7) + 8;
    // The 6-bit immediate of C.ADDI/C.LI/C.ANDI/... : imm[5] = h[12], imm[4:0] = h[6:2].
    let imm6 = (bit(h, 12) << 5) | field(h, 6, 2);
    use Op::*;
    match (h & 3, f3) {
        (0, 0) => {
            // C.ADDI4SPN: nzuimm[5:4|9:6|2|3] = h[12:5].
            let imm = (field(h, 12, 11) << 4)
                | (field(h, 10, 7) << 6)
                | (bit(h, 6) << 2)
                | (bit(h, 5) << 3);
            if imm == 0 {
                return ill;
            }
            mk(Addi, rdp, 2, 0, imm as i32)
        }
        (0, 2) | (0, 6) => {
            // C.LW / C.SW: uimm[5:3] = h[12:10], uimm[2] = h[6], uimm[6] = h[5].
            let imm = (field(h, 12, 10) << 3) | (bit(h, 6) << 2) | (bit(h, 5) << 6);
            if f3 == 2 {
                mk(Lw, rdp, rs1p, 0, imm as i32)
            } else {
                mk(Sw, 0, rs1p, rdp, imm as i32)
            }
        }
        (0, 1) | (0, 3) | (0, 5) | (0, 7) => {
            // C.FLD / C.LD / C.FSD / C.SD: uimm[5:3] = h[12:10], uimm[7:6] = h[6:5].
            let imm = (field(h, 12, 10) << 3) | (field(h, 6, 5) << 6);
            match f3 {
                1 => mk(Fld, rdp, rs1p, 0, imm as i32),
                3 => mk(Ld, rdp, rs1p, 0, imm as i32),
                5 => mk(Fsd, 0, rs1p, rdp, imm as i32),
                _ => mk(Sd, 0, rs1p, rdp, imm as i32),
            }
        }
        // Reserved.
        (0, _) => ill,
        // C.NOP / C.ADDI (HINTs included).
        (1, 0) => mk(Addi, rd, rd, 0, sext(imm6, 6)),
        (1, 1) => {
            // C.ADDIW; rd = x0 is reserved.
            if rd == 0 {
                return ill;
            }
            mk(Addiw, rd, rd, 0, sext(imm6, 6))
        }
        // C.LI.
        (1, 2) => mk(Addi, rd, 0, 0, sext(imm6, 6)),
        (1, 3) if rd == 2 => {
            // C.ADDI16SP: nzimm[9] = h[12], nzimm[4|6|8:7|5] = h[6:2].
            let imm = (bit(h, 12) << 9)
                | (bit(h, 6) << 4)
                | (bit(h, 5) << 6)
                | (field(h, 4, 3) << 7)
                | (bit(h, 2) << 5);
            if imm == 0 {
                return ill;
            }
            mk(Addi, 2, 2, 0, sext(imm, 10))
        }
        (1, 3) => {
            // C.LUI: nzimm[17] = h[12], nzimm[16:12] = h[6:2].
            if imm6 == 0 {
                return ill;
            }
            mk(Lui, rd, 0, 0, sext(imm6, 6) << 12)
        }
        (1, 4) => match field(h, 11, 10) {
            0 => mk(Srli, rs1p, rs1p, 0, imm6 as i32),
            1 => mk(Srai, rs1p, rs1p, 0, imm6 as i32),
            2 => mk(Andi, rs1p, rs1p, 0, sext(imm6, 6)),
            _ => {
                let op = match (bit(h, 12), field(h, 6, 5)) {
                    (0, 0) => Sub,
                    (0, 1) => Xor,
                    (0, 2) => Or,
                    (0, 3) => And,
                    (1, 0) => Subw,
                    (1, 1) => Addw,
                    _ => return ill,
                };
                mk(op, rs1p, rs1p, rdp, 0)
            }
        },
        (1, 5) => {
            // C.J: offset[11|4|9:8|10|6|7|3:1|5] = h[12:2].
            let imm = (bit(h, 12) << 11)
                | (bit(h, 11) << 4)
                | (field(h, 10, 9) << 8)
                | (bit(h, 8) << 10)
                | (bit(h, 7) << 6)
                | (bit(h, 6) << 7)
                | (field(h, 5, 3) << 1)
                | (bit(h, 2) << 5);
            mk(Jal, 0, 0, 0, sext(imm, 12))
        }
        (1, _) => {
            // C.BEQZ / C.BNEZ: offset[8|4:3] = h[12:10], offset[7:6|2:1|5] = h[6:2].
            let imm = (bit(h, 12) << 8)
                | (field(h, 11, 10) << 3)
                | (field(h, 6, 5) << 6)
                | (field(h, 4, 3) << 1)
                | (bit(h, 2) << 5);
            let op = if f3 == 6 { Beq } else { Bne };
            mk(op, 0, rs1p, 0, sext(imm, 9))
        }
        // C.SLLI (HINTs included).
        (2, 0) => mk(Slli, rd, rd, 0, imm6 as i32),
        (2, 2) => {
            // C.LWSP: uimm[5] = h[12], uimm[4:2|7:6] = h[6:2]; rd = x0 reserved.
            if rd == 0 {
                return ill;
            }
            let imm = (bit(h, 12) << 5) | (field(h, 6, 4) << 2) | (field(h, 3, 2) << 6);
            mk(Lw, rd, 2, 0, imm as i32)
        }
        (2, 1) | (2, 3) => {
            // C.FLDSP / C.LDSP: uimm[5] = h[12], uimm[4:3|8:6] = h[6:2];
            // C.LDSP's rd = x0 is reserved (C.FLDSP may load f0).
            if f3 == 3 && rd == 0 {
                return ill;
            }
            let imm = (bit(h, 12) << 5) | (field(h, 6, 5) << 3) | (field(h, 4, 2) << 6);
            mk(if f3 == 1 { Fld } else { Ld }, rd, 2, 0, imm as i32)
        }
        (2, 4) => match (bit(h, 12), rd, rs2) {
            // C.JR with rs1 = x0 is reserved.
            (0, 0, 0) => ill,
            (0, _, 0) => mk(Jalr, 0, rd, 0, 0),
            (0, _, _) => mk(Add, rd, 0, rs2, 0),
            (1, 0, 0) => mk(Ebreak, 0, 0, 0, 0),
            (1, _, 0) => mk(Jalr, 1, rd, 0, 0),
            _ => mk(Add, rd, rd, rs2, 0),
        },
        (2, 6) => {
            // C.SWSP: uimm[5:2|7:6] = h[12:7].
            let imm = (field(h, 12, 9) << 2) | (field(h, 8, 7) << 6);
            mk(Sw, 0, 2, rs2, imm as i32)
        }
        (2, 5) | (2, 7) => {
            // C.FSDSP / C.SDSP: uimm[5:3|8:6] = h[12:7].
            let imm = (field(h, 12, 10) << 3) | (field(h, 9, 7) << 6);
            mk(if f3 == 5 { Fsd } else { Sd }, 0, 2, rs2, imm as i32)
        }
        // Quadrant 3 is not compressed.
        _ => ill,
    }
}

/// Length in bytes (2 or 4) of the instruction whose first halfword is `lo`.
#[inline(always)]
pub const fn insn_len(lo: u16) -> u8 {
    if lo & 3 == 3 {
        4
    } else {
        2
    }
}

/// Decodes the instruction at the start of `parcel`: the halfword at the
/// instruction address in bits 15:0 and the next one in bits 31:16. A
/// compressed instruction (low bits not `11`) uses only the low halfword
/// (the high one may be anything, e.g. 0 when it was not fetched); the
/// result's `len` says which it was.
#[inline(always)]
pub fn decode_parcel(parcel: u32) -> Result<Inst, DecodeError> {
    if parcel & 3 == 3 {
        super::decode::decode(parcel)
    } else {
        decode_compressed(parcel as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::riscv::decode::decode;

    /// Scatters the bits of `h` from bit `top` downward into an immediate
    /// laid out as the specification writes it, e.g. `"5:4|9:6|2|3"`.
    fn scatter(h: u32, top: u32, layout: &str) -> u32 {
        let mut pos = top as i32;
        let mut v = 0u32;
        for part in layout.split('|') {
            let (hi, lo) = match part.split_once(':') {
                Some((a, b)) => (a.parse::<i32>().unwrap(), b.parse::<i32>().unwrap()),
                None => {
                    let a = part.parse::<i32>().unwrap();
                    (a, a)
                }
            };
            let mut b = hi;
            while b >= lo {
                v |= ((h >> pos) & 1) << b;
                pos -= 1;
                b -= 1;
            }
        }
        v
    }

    fn sx(v: u32, n: u32) -> u32 {
        (((v << (32 - n)) as i32) >> (32 - n)) as u32
    }

    // 32-bit encoders.
    fn r(f7: u32, rs2: u32, rs1: u32, f3: u32, rd: u32, op: u32) -> u32 {
        (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
    }
    fn i(imm: u32, rs1: u32, f3: u32, rd: u32, op: u32) -> u32 {
        ((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
    }
    fn s(imm: u32, rs2: u32, rs1: u32, f3: u32) -> u32 {
        (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | 0x23
    }
    fn b(imm: u32, rs2: u32, rs1: u32, f3: u32) -> u32 {
        (((imm >> 12) & 1) << 31)
            | (((imm >> 5) & 0x3f) << 25)
            | (rs2 << 20)
            | (rs1 << 15)
            | (f3 << 12)
            | (((imm >> 1) & 0xf) << 8)
            | (((imm >> 11) & 1) << 7)
            | 0x63
    }
    fn j(imm: u32, rd: u32) -> u32 {
        (((imm >> 20) & 1) << 31)
            | (((imm >> 1) & 0x3ff) << 21)
            | (((imm >> 11) & 1) << 20)
            | (((imm >> 12) & 0xff) << 12)
            | (rd << 7)
            | 0x6f
    }

    /// An independent expansion of a compressed halfword into the 32-bit
    /// instruction word it stands for (`None`: reserved), written from the
    /// specification's tables.
    fn expand_reference(h: u32) -> Option<u32> {
        let q = h & 3;
        let f3 = h >> 13;
        let r5 = (h >> 7) & 31; // rd / rs1
        let r2 = (h >> 2) & 31; // rs2
        let p1 = 8 + ((h >> 7) & 7); // rs1' / rd'
        let p2 = 8 + ((h >> 2) & 7); // rs2' / rd'
        let ci = sx(scatter(h, 12, "5") | scatter(h, 6, "4:0"), 6);
        Some(match (q, f3) {
            (0, 0) => {
                let imm = scatter(h, 12, "5:4|9:6|2|3");
                if imm == 0 {
                    return None;
                }
                i(imm, 2, 0, p2, 0x13)
            }
            (0, 2) => i(scatter(h, 12, "5:3") | scatter(h, 6, "2|6"), p1, 2, p2, 0x03),
            (0, 3) => i(scatter(h, 12, "5:3") | scatter(h, 6, "7:6"), p1, 3, p2, 0x03),
            (0, 6) => s(scatter(h, 12, "5:3") | scatter(h, 6, "2|6"), p2, p1, 2),
            (0, 7) => s(scatter(h, 12, "5:3") | scatter(h, 6, "7:6"), p2, p1, 3),
            // C.FLD / C.FSD: FLD (opcode 0x07) / FSD (0x27 = STORE | 0x04).
            (0, 1) => i(scatter(h, 12, "5:3") | scatter(h, 6, "7:6"), p1, 3, p2, 0x07),
            (0, 5) => s(scatter(h, 12, "5:3") | scatter(h, 6, "7:6"), p2, p1, 3) | 0x04,
            (1, 0) => i(ci, r5, 0, r5, 0x13),
            (1, 1) if r5 != 0 => i(ci, r5, 0, r5, 0x1b),
            (1, 2) => i(ci, 0, 0, r5, 0x13),
            (1, 3) if r5 == 2 => {
                let imm = scatter(h, 12, "9") | scatter(h, 6, "4|6|8:7|5");
                if imm == 0 {
                    return None;
                }
                i(sx(imm, 10), 2, 0, 2, 0x13)
            }
            (1, 3) => {
                if ci == 0 {
                    return None;
                }
                (ci << 12) | (r5 << 7) | 0x37
            }
            (1, 4) => {
                let shamt = scatter(h, 12, "5") | scatter(h, 6, "4:0");
                match (h >> 10) & 3 {
                    0 => i(shamt, p1, 5, p1, 0x13),
                    1 => i(shamt | 0x400, p1, 5, p1, 0x13),
                    2 => i(ci, p1, 7, p1, 0x13),
                    _ => match ((h >> 12) & 1, (h >> 5) & 3) {
                        (0, 0) => r(0x20, p2, p1, 0, p1, 0x33),
                        (0, 1) => r(0, p2, p1, 4, p1, 0x33),
                        (0, 2) => r(0, p2, p1, 6, p1, 0x33),
                        (0, 3) => r(0, p2, p1, 7, p1, 0x33),
                        (1, 0) => r(0x20, p2, p1, 0, p1, 0x3b),
                        (1, 1) => r(0, p2, p1, 0, p1, 0x3b),
                        _ => return None,
                    },
                }
            }
            (1, 5) => j(sx(scatter(h, 12, "11|4|9:8|10|6|7|3:1|5"), 12), 0),
            (1, 6) | (1, 7) => {
                let imm = sx(scatter(h, 12, "8|4:3") | scatter(h, 6, "7:6|2:1|5"), 9);
                b(imm, 0, p1, f3 - 6)
            }
            (2, 0) => i(scatter(h, 12, "5") | scatter(h, 6, "4:0"), r5, 1, r5, 0x13),
            (2, 2) if r5 != 0 => i(scatter(h, 12, "5") | scatter(h, 6, "4:2|7:6"), 2, 2, r5, 0x03),
            (2, 3) if r5 != 0 => i(scatter(h, 12, "5") | scatter(h, 6, "4:3|8:6"), 2, 3, r5, 0x03),
            (2, 4) => match ((h >> 12) & 1, r5, r2) {
                (0, 0, 0) => return None,
                (0, _, 0) => i(0, r5, 0, 0, 0x67),
                (0, _, _) => r(0, r2, 0, 0, r5, 0x33),
                (1, 0, 0) => 0x0010_0073,
                (1, _, 0) => i(0, r5, 0, 1, 0x67),
                _ => r(0, r2, r5, 0, r5, 0x33),
            },
            (2, 6) => s(scatter(h, 12, "5:2|7:6"), r2, 2, 2),
            (2, 7) => s(scatter(h, 12, "5:3|8:6"), r2, 2, 3),
            // C.FLDSP (f0 allowed) / C.FSDSP.
            (2, 1) => i(scatter(h, 12, "5") | scatter(h, 6, "4:3|8:6"), 2, 3, r5, 0x07),
            (2, 5) => s(scatter(h, 12, "5:3|8:6"), r2, 2, 3) | 0x04,
            _ => return None,
        })
    }

    /// Every one of the 65,536 halfwords: compressed ones decode exactly as
    /// the 32-bit instruction the reference expands them to (with
    /// `len: 2`), reserved ones are illegal, and 32-bit first halves are
    /// rejected.
    #[test]
    fn every_halfword_matches_the_reference_expansion() {
        let mut legal = 0;
        for h in 0..=u16::MAX {
            let got = decode_compressed(h);
            let want = if h & 3 == 3 {
                None
            } else {
                expand_reference(h as u32)
            };
            match want {
                Some(w) => {
                    let mut inst = decode(w).unwrap_or_else(|e| panic!("{h:#06x} -> {w:#010x}: {e}"));
                    inst.len = 2;
                    assert_eq!(got, Ok(inst), "{h:#06x} (expands to {w:#010x})");
                    legal += 1;
                }
                None => assert_eq!(got, Err(DecodeError::Illegal(h as u32)), "{h:#06x}"),
            }
            // Through the parcel entry, with any upper half.
            if h & 3 != 3 {
                assert_eq!(decode_parcel(h as u32 | 0xdead_0000), got);
            }
        }
        // 3 quadrants x 8 slots x 2048 = 49152, minus the reserved
        // quadrant-0 slot (2048) and 361 reserved encodings: 8 C.ADDI4SPN,
        // 64 C.ADDIW, 1 C.ADDI16SP, 31 C.LUI, 128 quadrant-1 ALU, 64 C.LWSP,
        // 64 C.LDSP, 1 C.JR.
        assert_eq!(legal, 46_743);
    }

    #[test]
    fn representative_encodings() {
        let d = |h: u16| decode_compressed(h).unwrap();
        // c.addi4spn s0, sp, 16 = 0x0800
        assert_eq!((d(0x0800).op, d(0x0800).rd, d(0x0800).rs1, d(0x0800).imm), (Op::Addi, 8, 2, 16));
        // c.li a0, -1 = 0x557d
        assert_eq!((d(0x557d).op, d(0x557d).rd, d(0x557d).imm), (Op::Addi, 10, -1));
        // c.ret = c.jr ra = 0x8082
        assert_eq!((d(0x8082).op, d(0x8082).rd, d(0x8082).rs1), (Op::Jalr, 0, 1));
        // c.sdsp ra, 8(sp) = 0xe406
        assert_eq!((d(0xe406).op, d(0xe406).rs1, d(0xe406).rs2, d(0xe406).imm), (Op::Sd, 2, 1, 8));
        // c.ebreak = 0x9002
        assert_eq!(d(0x9002).op, Op::Ebreak);
        // c.addi16sp sp, -64 = 0x7139
        assert_eq!((d(0x7139).op, d(0x7139).imm), (Op::Addi, -64));
        // c.lui a5, 0xfffff (-4096) = 0x77fd
        assert_eq!((d(0x77fd).op, d(0x77fd).rd, d(0x77fd).imm), (Op::Lui, 15, -4096));
        // c.fld fa0, 8(a1) = 0x2588; c.fsdsp fs0, 24(sp) = 0xac22; c.fldsp f0, 0(sp) = 0x2002
        assert_eq!((d(0x2588).op, d(0x2588).rd, d(0x2588).rs1, d(0x2588).imm), (Op::Fld, 10, 11, 8));
        assert_eq!((d(0xac22).op, d(0xac22).rs1, d(0xac22).rs2, d(0xac22).imm), (Op::Fsd, 2, 8, 24));
        assert_eq!((d(0x2002).op, d(0x2002).rd, d(0x2002).imm), (Op::Fld, 0, 0));
        for ill in [0x0000u16, 0x6081 & !0x7c, 0x8002, 0x4002, 0x6002, 0x2001, 0x8000] {
            assert!(decode_compressed(ill).is_err(), "{ill:#06x}");
        }
        assert_eq!(insn_len(0x0013), 4);
        assert_eq!(insn_len(0x4501), 2);
    }
}
