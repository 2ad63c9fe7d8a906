//! Encoder for [`Inst`], the inverse of [`super::decode()`]. Used by tests,
//! fuzzing and benchmarks to build guest code without an assembler.

use super::decode::{Inst, Op};

fn r(f7: u32, rs2: u8, rs1: u8, f3: u32, rd: u8, opc: u32) -> u32 {
    (f7 << 25) | ((rs2 as u32) << 20) | ((rs1 as u32) << 15) | (f3 << 12) | ((rd as u32) << 7) | opc
}
fn i(imm: i32, rs1: u8, f3: u32, rd: u8, opc: u32) -> u32 {
    (((imm as u32) & 0xfff) << 20) | ((rs1 as u32) << 15) | (f3 << 12) | ((rd as u32) << 7) | opc
}
fn s(imm: i32, rs2: u8, rs1: u8, f3: u32, opc: u32) -> u32 {
    let imm = imm as u32;
    (((imm >> 5) & 0x7f) << 25)
        | ((rs2 as u32) << 20)
        | ((rs1 as u32) << 15)
        | (f3 << 12)
        | ((imm & 0x1f) << 7)
        | opc
}
fn b(imm: i32, rs2: u8, rs1: u8, f3: u32) -> u32 {
    let imm = imm as u32;
    (((imm >> 12) & 1) << 31)
        | (((imm >> 5) & 0x3f) << 25)
        | ((rs2 as u32) << 20)
        | ((rs1 as u32) << 15)
        | (f3 << 12)
        | (((imm >> 1) & 0xf) << 8)
        | (((imm >> 11) & 1) << 7)
        | 0x63
}
fn j(imm: i32, rd: u8) -> u32 {
    let imm = imm as u32;
    (((imm >> 20) & 1) << 31)
        | (((imm >> 1) & 0x3ff) << 21)
        | (((imm >> 11) & 1) << 20)
        | (((imm >> 12) & 0xff) << 12)
        | ((rd as u32) << 7)
        | 0x6f
}

/// Encodes `inst`. Fields an operation does not use are ignored; immediates
/// are truncated to the encodable range (shift amounts to 6 or 5 bits,
/// branch/jump offsets to even values).
pub fn encode(inst: &Inst) -> u32 {
    let Inst {
        op,
        rd,
        rs1,
        rs2,
        imm,
        rm,
        ..
    } = *inst;
    let (rd, rs1, rs2) = (rd & 31, rs1 & 31, rs2 & 31);
    use Op::*;
    match op {
        Lui => (imm as u32 & 0xffff_f000) | ((rd as u32) << 7) | 0x37,
        Auipc => (imm as u32 & 0xffff_f000) | ((rd as u32) << 7) | 0x17,
        Jal => j(imm, rd),
        Jalr => i(imm, rs1, 0, rd, 0x67),
        Beq => b(imm, rs2, rs1, 0),
        Bne => b(imm, rs2, rs1, 1),
        Blt => b(imm, rs2, rs1, 4),
        Bge => b(imm, rs2, rs1, 5),
        Bltu => b(imm, rs2, rs1, 6),
        Bgeu => b(imm, rs2, rs1, 7),
        Lb => i(imm, rs1, 0, rd, 3),
        Lh => i(imm, rs1, 1, rd, 3),
        Lw => i(imm, rs1, 2, rd, 3),
        Ld => i(imm, rs1, 3, rd, 3),
        Lbu => i(imm, rs1, 4, rd, 3),
        Lhu => i(imm, rs1, 5, rd, 3),
        Lwu => i(imm, rs1, 6, rd, 3),
        Sb => s(imm, rs2, rs1, 0, 0x23),
        Sh => s(imm, rs2, rs1, 1, 0x23),
        Sw => s(imm, rs2, rs1, 2, 0x23),
        Sd => s(imm, rs2, rs1, 3, 0x23),
        Addi => i(imm, rs1, 0, rd, 0x13),
        Slti => i(imm, rs1, 2, rd, 0x13),
        Sltiu => i(imm, rs1, 3, rd, 0x13),
        Xori => i(imm, rs1, 4, rd, 0x13),
        Ori => i(imm, rs1, 6, rd, 0x13),
        Andi => i(imm, rs1, 7, rd, 0x13),
        Slli => i(imm & 63, rs1, 1, rd, 0x13),
        Srli => i(imm & 63, rs1, 5, rd, 0x13),
        Srai => i((imm & 63) | 0x400, rs1, 5, rd, 0x13),
        Add => r(0, rs2, rs1, 0, rd, 0x33),
        Sub => r(0x20, rs2, rs1, 0, rd, 0x33),
        Sll => r(0, rs2, rs1, 1, rd, 0x33),
        Slt => r(0, rs2, rs1, 2, rd, 0x33),
        Sltu => r(0, rs2, rs1, 3, rd, 0x33),
        Xor => r(0, rs2, rs1, 4, rd, 0x33),
        Srl => r(0, rs2, rs1, 5, rd, 0x33),
        Sra => r(0x20, rs2, rs1, 5, rd, 0x33),
        Or => r(0, rs2, rs1, 6, rd, 0x33),
        And => r(0, rs2, rs1, 7, rd, 0x33),
        Fence => 0x0ff0_000f,
        FenceI => 0x0000_100f,
        Ecall => 0x0000_0073,
        Ebreak => 0x0010_0073,
        Addiw => i(imm, rs1, 0, rd, 0x1b),
        Slliw => i(imm & 31, rs1, 1, rd, 0x1b),
        Srliw => i(imm & 31, rs1, 5, rd, 0x1b),
        Sraiw => i((imm & 31) | 0x400, rs1, 5, rd, 0x1b),
        Addw => r(0, rs2, rs1, 0, rd, 0x3b),
        Subw => r(0x20, rs2, rs1, 0, rd, 0x3b),
        Sllw => r(0, rs2, rs1, 1, rd, 0x3b),
        Srlw => r(0, rs2, rs1, 5, rd, 0x3b),
        Sraw => r(0x20, rs2, rs1, 5, rd, 0x3b),
        Mul => r(1, rs2, rs1, 0, rd, 0x33),
        Mulh => r(1, rs2, rs1, 1, rd, 0x33),
        Mulhsu => r(1, rs2, rs1, 2, rd, 0x33),
        Mulhu => r(1, rs2, rs1, 3, rd, 0x33),
        Div => r(1, rs2, rs1, 4, rd, 0x33),
        Divu => r(1, rs2, rs1, 5, rd, 0x33),
        Rem => r(1, rs2, rs1, 6, rd, 0x33),
        Remu => r(1, rs2, rs1, 7, rd, 0x33),
        Mulw => r(1, rs2, rs1, 0, rd, 0x3b),
        Divw => r(1, rs2, rs1, 4, rd, 0x3b),
        Divuw => r(1, rs2, rs1, 5, rd, 0x3b),
        Remw => r(1, rs2, rs1, 6, rd, 0x3b),
        Remuw => r(1, rs2, rs1, 7, rd, 0x3b),
        LrW | ScW | AmoswapW | AmoaddW | AmoxorW | AmoandW | AmoorW | AmominW | AmomaxW
        | AmominuW | AmomaxuW | LrD | ScD | AmoswapD | AmoaddD | AmoxorD | AmoandD | AmoorD
        | AmominD | AmomaxD | AmominuD | AmomaxuD => {
            let f5 = match op {
                LrW | LrD => 0x02,
                ScW | ScD => 0x03,
                AmoswapW | AmoswapD => 0x01,
                AmoaddW | AmoaddD => 0x00,
                AmoxorW | AmoxorD => 0x04,
                AmoandW | AmoandD => 0x0c,
                AmoorW | AmoorD => 0x08,
                AmominW | AmominD => 0x10,
                AmomaxW | AmomaxD => 0x14,
                AmominuW | AmominuD => 0x18,
                _ => 0x1c,
            };
            let f3 = if (op as u8) >= (LrD as u8) { 3 } else { 2 };
            let rs2 = if matches!(op, LrW | LrD) { 0 } else { rs2 };
            r((f5 << 2) | (rm as u32 & 3), rs2, rs1, f3, rd, 0x2f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::riscv::decode;

    #[test]
    fn encode_decode_round_trip_for_every_op() {
        let mut x = crate::rng::XorShift64(0x9e37_79b9_7f4a_7c15);
        let mut next = || x.next_u64();
        for op in Op::ALL {
            for _ in 0..500 {
                let v = next();
                let (rd, rs1, rs2) = (
                    (v & 31) as u8,
                    ((v >> 5) & 31) as u8,
                    ((v >> 10) & 31) as u8,
                );
                let raw = (v >> 20) as i32;
                let imm = match op {
                    Op::Lui | Op::Auipc => raw & !0xfff,
                    Op::Jal => ((raw << 11) >> 11) & !1,
                    Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
                        ((raw << 19) >> 19) & !1
                    }
                    Op::Slli | Op::Srli | Op::Srai => raw & 63,
                    Op::Slliw | Op::Srliw | Op::Sraiw => raw & 31,
                    _ => (raw << 20) >> 20,
                };
                let inst = Inst {
                    op,
                    rd,
                    rs1,
                    rs2,
                    imm, rs3: 0, rm: 0, len: 4,
                };
                let inst = Inst {
                    rm: if op.is_atomic() { (v >> 60) as u8 & 3 } else { 0 },
                    ..inst
                };
                let d = decode(encode(&inst)).unwrap();
                assert_eq!(d.op, op);
                if op.is_atomic() {
                    let rs2 = if matches!(op, Op::LrW | Op::LrD) { 0 } else { rs2 };
                    assert_eq!((d.rd, d.rs1, d.rs2, d.rm, d.imm), (rd, rs1, rs2, inst.rm, 0));
                    continue;
                }
                match op {
                    Op::Fence | Op::FenceI | Op::Ecall | Op::Ebreak => {}
                    _ => assert_eq!(
                        d.imm,
                        if matches!(
                            op,
                            Op::Add
                                | Op::Sub
                                | Op::Sll
                                | Op::Slt
                                | Op::Sltu
                                | Op::Xor
                                | Op::Srl
                                | Op::Sra
                                | Op::Or
                                | Op::And
                                | Op::Addw
                                | Op::Subw
                                | Op::Sllw
                                | Op::Srlw
                                | Op::Sraw
                                | Op::Mul
                                | Op::Mulh
                                | Op::Mulhsu
                                | Op::Mulhu
                                | Op::Div
                                | Op::Divu
                                | Op::Rem
                                | Op::Remu
                                | Op::Mulw
                                | Op::Divw
                                | Op::Divuw
                                | Op::Remw
                                | Op::Remuw
                        ) {
                            0
                        } else {
                            imm
                        },
                        "{op:?}"
                    ),
                }
            }
        }
    }
}
