//! Backend-wide tests: softmmu probe sharing and position independence.

use super::analysis::{access_plans, AccessPlan};
use super::X64Backend;
use crate::frontend::riscv::{encode, translate_block, Inst, Op};
use crate::ir::IrOp;

fn ins(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> crate::frontend::riscv::Inst {
    crate::frontend::riscv::decode(encode(&Inst {
        op,
        rd,
        rs1,
        rs2,
        imm,
    }))
    .unwrap()
}

#[test]
fn access_runs_share_one_probe_per_base_and_kind() {
    // sd ra,24(sp); addi t0,t0,1; sd s0,16(sp); ld a0,0(a1); ld a3,8(a1);
    // sd a0,0(a2); ld a4,300(a1) (beyond the run window); ebreak
    let insns = [
        ins(Op::Sd, 0, 2, 1, 24),
        ins(Op::Addi, 5, 5, 0, 1),
        ins(Op::Sd, 0, 2, 8, 16),
        ins(Op::Ld, 10, 11, 0, 0),
        ins(Op::Ld, 13, 11, 0, 8),
        ins(Op::Sd, 0, 12, 10, 0),
        ins(Op::Ld, 14, 11, 0, 300),
        ins(Op::Ebreak, 0, 0, 0, 0),
    ];
    let b = translate_block(0x1000, &insns);
    let mut plans = Vec::new();
    access_plans(&b, &mut plans);
    let plans: Vec<AccessPlan> = plans
        .into_iter()
        .zip(&b.ops)
        .filter(|(_, op)| matches!(op, IrOp::Load { .. } | IrOp::Store { .. }))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        plans,
        vec![
            AccessPlan::Head { lo: 16, len: 16 },
            AccessPlan::Covered,
            AccessPlan::Head { lo: 0, len: 16 },
            AccessPlan::Covered,
            AccessPlan::Own,
            AccessPlan::Own,
        ]
    );
}

#[test]
fn softmmu_blocks_reach_runtime_state_only_through_rbp() {
    // Two backends at different addresses produce identical code for
    // the same block apart from rel32 fields: no absolute addresses.
    let insns = [
        ins(Op::Ld, 10, 11, 0, 8),
        ins(Op::Sd, 0, 12, 10, 0),
        ins(Op::Ebreak, 0, 0, 0, 0),
    ];
    let mut ir = translate_block(0x1000, &insns);
    crate::opt::optimize(&mut ir);
    let code = |be: &mut X64Backend| {
        let c = be.compile(&ir).unwrap();
        // SAFETY: the block was just installed at `entry` with `size` bytes.
        unsafe { std::slice::from_raw_parts(c.entry as *const u8, c.size) }.to_vec()
    };
    let mut a = X64Backend::with_softmmu(1 << 16, true).unwrap();
    let mut b = X64Backend::with_softmmu(1 << 16, true).unwrap();
    let (ca, cb) = (code(&mut a), code(&mut b));
    assert_eq!(ca.len(), cb.len());
    // Region offsets are equal, so even rel32 fields must match.
    assert_eq!(
        a.miss_routine() - a.region_base(),
        b.miss_routine() - b.region_base()
    );
    assert_eq!(ca, cb, "softmmu code must be position independent");
    assert!(a.is_softmmu());
}

#[test]
fn scaled_index_add_becomes_one_lea_without_displacement() {
    // slli a5,a5,2; add a5,a0,a5; lw a5,0(a5); ebreak: the shift is left
    // to the add, emitted as `lea r, [base + index*4]` (REX.W 8D, ModRM
    // mod=00 rm=100, SIB scale=10), and no `shl` by 2 remains.
    let insns = [
        ins(Op::Slli, 15, 15, 0, 2),
        ins(Op::Add, 15, 10, 15, 0),
        ins(Op::Lw, 15, 15, 0, 0),
        ins(Op::Ebreak, 0, 0, 0, 0),
    ];
    let mut ir = translate_block(0x1000, &insns);
    crate::opt::optimize(&mut ir);
    let mut be = X64Backend::new(1 << 16).unwrap();
    let c = be.compile(&ir).unwrap();
    // SAFETY: the block was just installed at `entry` with `size` bytes.
    let code = unsafe { std::slice::from_raw_parts(c.entry as *const u8, c.size) };
    let lea = code
        .windows(4)
        .any(|w| w[0] & 0xf8 == 0x48 && w[1] == 0x8d && w[2] & 0xc7 == 0x04 && w[3] >> 6 == 2);
    assert!(lea, "no scaled-index lea in {code:02x?}");
    // shl r64, 2 is REX.W C1 /4 ib.
    let shl = code
        .windows(4)
        .any(|w| w[0] & 0xf8 == 0x48 && w[1] == 0xc1 && w[2] & 0xf8 == 0xe0 && w[3] == 2);
    assert!(!shl, "shift left in {code:02x?}");
}
