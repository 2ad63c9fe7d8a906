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
        rs3,
        rm,
        ..
    } = *inst;
    let (rd, rs1, rs2) = (rd & 31, rs1 & 31, rs2 & 31);
    let (rs3, rm) = ((rs3 & 31) as u32, (rm & 7) as u32);
    // R4-type fused multiply-add: fmt 0 (S) or 1 (D).
    let r4 = |fmt: u32, opc: u32| (rs3 << 27) | r(fmt, rs2, rs1, rm, rd, opc);
    // OP-FP with a rounding mode, and with funct3 / rs2 as selectors.
    let fp_rm = |f7: u32, rs2: u8| r(f7, rs2, rs1, rm, rd, 0x53);
    let fp_f3 = |f7: u32, f3: u32, rs2: u8| r(f7, rs2, rs1, f3, rd, 0x53);
    let csr = |f3: u32| i(imm & 0xfff, rs1, f3, rd, 0x73);
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
            r((f5 << 2) | (rm & 3), rs2, rs1, f3, rd, 0x2f)
        }
        Flw => i(imm, rs1, 2, rd, 0x07),
        Fld => i(imm, rs1, 3, rd, 0x07),
        Fsw => s(imm, rs2, rs1, 2, 0x27),
        Fsd => s(imm, rs2, rs1, 3, 0x27),
        FmaddS => r4(0, 0x43),
        FmsubS => r4(0, 0x47),
        FnmsubS => r4(0, 0x4b),
        FnmaddS => r4(0, 0x4f),
        FmaddD => r4(1, 0x43),
        FmsubD => r4(1, 0x47),
        FnmsubD => r4(1, 0x4b),
        FnmaddD => r4(1, 0x4f),
        FaddS => fp_rm(0x00, rs2),
        FsubS => fp_rm(0x04, rs2),
        FmulS => fp_rm(0x08, rs2),
        FdivS => fp_rm(0x0c, rs2),
        FsqrtS => fp_rm(0x2c, 0),
        FsgnjS => fp_f3(0x10, 0, rs2),
        FsgnjnS => fp_f3(0x10, 1, rs2),
        FsgnjxS => fp_f3(0x10, 2, rs2),
        FminS => fp_f3(0x14, 0, rs2),
        FmaxS => fp_f3(0x14, 1, rs2),
        FcvtWS => fp_rm(0x60, 0),
        FcvtWuS => fp_rm(0x60, 1),
        FcvtLS => fp_rm(0x60, 2),
        FcvtLuS => fp_rm(0x60, 3),
        FmvXW => fp_f3(0x70, 0, 0),
        FclassS => fp_f3(0x70, 1, 0),
        FeqS => fp_f3(0x50, 2, rs2),
        FltS => fp_f3(0x50, 1, rs2),
        FleS => fp_f3(0x50, 0, rs2),
        FcvtSW => fp_rm(0x68, 0),
        FcvtSWu => fp_rm(0x68, 1),
        FcvtSL => fp_rm(0x68, 2),
        FcvtSLu => fp_rm(0x68, 3),
        FmvWX => fp_f3(0x78, 0, 0),
        FaddD => fp_rm(0x01, rs2),
        FsubD => fp_rm(0x05, rs2),
        FmulD => fp_rm(0x09, rs2),
        FdivD => fp_rm(0x0d, rs2),
        FsqrtD => fp_rm(0x2d, 0),
        FsgnjD => fp_f3(0x11, 0, rs2),
        FsgnjnD => fp_f3(0x11, 1, rs2),
        FsgnjxD => fp_f3(0x11, 2, rs2),
        FminD => fp_f3(0x15, 0, rs2),
        FmaxD => fp_f3(0x15, 1, rs2),
        FcvtSD => fp_rm(0x20, 1),
        FcvtDS => fp_rm(0x21, 0),
        FcvtWD => fp_rm(0x61, 0),
        FcvtWuD => fp_rm(0x61, 1),
        FcvtLD => fp_rm(0x61, 2),
        FcvtLuD => fp_rm(0x61, 3),
        FmvXD => fp_f3(0x71, 0, 0),
        FclassD => fp_f3(0x71, 1, 0),
        FeqD => fp_f3(0x51, 2, rs2),
        FltD => fp_f3(0x51, 1, rs2),
        FleD => fp_f3(0x51, 0, rs2),
        FcvtDW => fp_rm(0x69, 0),
        FcvtDWu => fp_rm(0x69, 1),
        FcvtDL => fp_rm(0x69, 2),
        FcvtDLu => fp_rm(0x69, 3),
        FmvDX => fp_f3(0x79, 0, 0),
        Csrrw => csr(1),
        Csrrs => csr(2),
        Csrrc => csr(3),
        Csrrwi => csr(5),
        Csrrsi => csr(6),
        Csrrci => csr(7),
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
                if op.is_fp_or_csr() {
                    let rs3 = ((v >> 15) & 31) as u8;
                    // A valid static rounding mode, or dynamic (7).
                    let rm = [0u8, 1, 2, 3, 4, 7][(v >> 40) as usize % 6];
                    let csrs = [0x001, 0x002, 0x003, 0xc00, 0xc01, 0xc02];
                    let mut imm = (raw << 20) >> 20;
                    let mut rs1 = rs1;
                    if op.is_csr() {
                        imm = csrs[(v >> 44) as usize % 6];
                        // Counters are read-only: no write operand.
                        if imm >= 0xc00 {
                            rs1 = 0;
                        }
                    }
                    let inst = Inst {
                        op,
                        rd,
                        rs1,
                        rs2,
                        imm,
                        rs3,
                        rm,
                        len: 4,
                    };
                    if (op == Op::Csrrw || op == Op::Csrrwi) && imm >= 0xc00 {
                        assert!(decode(encode(&inst)).is_err(), "{op:?} writes a counter");
                        continue;
                    }
                    let d = decode(encode(&inst)).unwrap();
                    assert_eq!(d.op, op, "{inst:?}");
                    let want_rd = if matches!(op, Op::Fsw | Op::Fsd) { 0 } else { rd };
                    assert_eq!((d.rd, d.rs1), (want_rd, rs1), "{op:?}");
                    let binary = !matches!(
                        op,
                        Op::FsqrtS
                            | Op::FsqrtD
                            | Op::FcvtWS
                            | Op::FcvtWuS
                            | Op::FcvtLS
                            | Op::FcvtLuS
                            | Op::FcvtWD
                            | Op::FcvtWuD
                            | Op::FcvtLD
                            | Op::FcvtLuD
                            | Op::FcvtSW
                            | Op::FcvtSWu
                            | Op::FcvtSL
                            | Op::FcvtSLu
                            | Op::FcvtDW
                            | Op::FcvtDWu
                            | Op::FcvtDL
                            | Op::FcvtDLu
                            | Op::FcvtSD
                            | Op::FcvtDS
                            | Op::FmvXW
                            | Op::FmvXD
                            | Op::FmvWX
                            | Op::FmvDX
                            | Op::FclassS
                            | Op::FclassD
                            | Op::Flw
                            | Op::Fld
                    ) && !op.is_csr();
                    assert_eq!(d.rs2, if binary { rs2 } else { 0 }, "{op:?}");
                    let fma = matches!(
                        op,
                        Op::FmaddS
                            | Op::FmsubS
                            | Op::FnmsubS
                            | Op::FnmaddS
                            | Op::FmaddD
                            | Op::FmsubD
                            | Op::FnmsubD
                            | Op::FnmaddD
                    );
                    assert_eq!(d.rs3, if fma { rs3 } else { 0 }, "{op:?}");
                    assert_eq!(d.rm, if op.has_rm() { rm } else { 0 }, "{op:?}");
                    let has_imm = matches!(op, Op::Flw | Op::Fld | Op::Fsw | Op::Fsd);
                    let want_imm = if has_imm || op.is_csr() { imm } else { 0 };
                    assert_eq!(d.imm, want_imm, "{op:?}");
                    assert_eq!(encode(&d), encode(&inst), "{op:?}");
                    continue;
                }
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
