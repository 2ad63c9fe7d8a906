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
        rs3: 0,
        rm: 0,
        len: 4,
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

/// crc32's inner loop shape: a byte load, `xor`, `andi`, `slli`, `add` of
/// a loop-invariant table base, and a load through the sum.
fn table_loop(k: i32, load: Op, swap: bool, mask: bool) -> Vec<u32> {
    let inst = |op, rd, rs1, rs2, imm| {
        encode(&crate::frontend::riscv::Inst {
            op,
            rd,
            rs1,
            rs2,
            imm, rs3: 0, rm: 0, len: 4,
        })
    };
    let mut code = vec![
        inst(Op::Lbu, 16, 14, 0, 0), // lbu a6,0(a4)
        inst(Op::Srli, 13, 15, 0, 8), // srli a3,a5,8
        inst(Op::Addi, 14, 14, 0, 1), // addi a4,a4,1
        inst(Op::Xor, 15, 15, 16, 0), // xor a5,a5,a6
    ];
    if mask {
        code.push(inst(Op::Andi, 15, 15, 0, 255));
    }
    code.push(inst(Op::Slli, 15, 15, 0, k));
    code.push(if swap {
        inst(Op::Add, 15, 15, 10, 0)
    } else {
        inst(Op::Add, 15, 10, 15, 0)
    });
    code.push(inst(load, 15, 15, 0, 0));
    code.push(inst(Op::Xor, 15, 15, 13, 0));
    let back = -4 * code.len() as i32;
    code.push(inst(Op::Bne, 0, 14, 11, back)); // bne a4,a1,loop
    code.push(0x0010_0073); // ebreak
    code
}

#[test]
fn invariant_table_base_is_kept_as_a_host_pointer() {
    // The table load addresses `[r15 + a0]`, computed once before the
    // loop, with the index: `lea h, [r15 + r]` (REX.WB 8D, ModRM mod=00
    // rm=100, SIB base=r15) and a load whose SIB scales by 4.
    let insns: Vec<_> = table_loop(2, Op::Lw, false, true)
        .into_iter()
        .map(|w| crate::frontend::riscv::decode(w).unwrap())
        .collect();
    let mut ir = translate_block(0x1000, &insns[..insns.len() - 1]);
    crate::opt::optimize(&mut ir);
    let mut be = X64Backend::new(1 << 16).unwrap();
    let c = be.compile(&ir).unwrap();
    // SAFETY: the block was just installed at `entry` with `size` bytes.
    let code = unsafe { std::slice::from_raw_parts(c.entry as *const u8, c.size) };
    let host_base = code.windows(4).any(|w| {
        w[0] & 0xf9 == 0x49 && w[1] == 0x8d && w[2] & 0xc7 == 0x04 && w[3] & 0xc7 == 0x07
    });
    assert!(host_base, "no lea of r15 + base in {code:02x?}");
    // movsxd r64, DWORD [base + index*4 (+ disp8)]: REX.W 63 ModRM(rm=100) SIB(scale=10).
    let scaled_load = code
        .windows(4)
        .any(|w| w[0] & 0xf8 == 0x48 && w[1] == 0x63 && w[2] & 0x07 == 0x04 && w[3] >> 6 == 2);
    assert!(scaled_load, "no scaled-index load in {code:02x?}");
}

#[test]
fn table_loops_through_a_host_base_agree_with_the_interpreter() {
    // Tables near the end of memory and unmasked indices make the table
    // load fault mid-loop (the guest address, not the host pointer, is
    // bounds-checked, and the exit state must be exact); wrapping sums
    // (a base near 2^64) must address what the interpreter does.
    use crate::EngineKind;
    const MEM: u64 = 16 << 20;
    const DATA: u64 = 0x8000;
    let mut rng = crate::rng::XorShift64(0x7ab1_e5ee);
    let loads = [Op::Lb, Op::Lbu, Op::Lh, Op::Lhu, Op::Lw, Op::Lwu, Op::Ld];
    for case in 0..300 {
        let k = 1 + rng.below(3) as i32;
        let load = loads[rng.below(loads.len() as u64) as usize];
        let code = table_loop(k, load, rng.below(2) == 0, rng.below(4) != 0);
        let mut regs = [0u64; 32];
        for r in regs.iter_mut() {
            *r = rng.next_u64();
        }
        regs[14] = DATA + rng.below(64); // a4: input pointer
        regs[11] = regs[14] + 1 + rng.below(400); // a1: end
        regs[15] = rng.below(1 << 12); // a5: crc
        regs[10] = match rng.below(6) {
            0 => MEM - rng.below(2048),             // faults mid-loop
            1 => 0u64.wrapping_sub(rng.below(512)), // wraps to low memory
            _ => DATA + 4096 + rng.below(4096),
        };
        let data: Vec<u8> = (0..16384).map(|_| rng.next_u64() as u8).collect();
        let want = run_flat(EngineKind::Interp, MEM, &code, &regs, &data);
        for kind in [EngineKind::Jit, EngineKind::Tiered] {
            let got = run_flat(kind, MEM, &code, &regs, &data);
            assert_eq!(got, want, "case {case} ({kind:?}, {load:?} << {k}): regs in {regs:x?}");
        }
    }
}

#[test]
fn hand_encoded_stub_instructions_match_dynasm() {
    use super::lower::{exit_bytes, store_imm_bytes};
    use dynasmrt::x64::X64Relocation;
    use dynasmrt::{dynasm, DynasmApi, VecAssembler};
    for disp in [0, 8, 0x7f, 0x80, 0x1234, -8, i32::MAX] {
        for v in [0u64, 1, 0x7fff_ffff, u64::MAX, 0x8000_0000, 0x1234_5678_9abc] {
            let mut a: VecAssembler<X64Relocation> = VecAssembler::new(0);
            if super::lower::fits_i32(v) {
                dynasm!(a; .arch x64; mov QWORD [rbp + disp], v as i32);
            } else {
                dynasm!(a; .arch x64; mov rcx, QWORD v as i64 ; mov [rbp + disp], rcx);
            }
            let want = a.finalize().unwrap();
            let (got, len) = store_imm_bytes(disp, v);
            assert_eq!(&got[..len], &want[..], "store {v:#x} to rbp{disp:+}");
        }
    }
    for (code, rel) in [(0u64, 0i32), (7, -100), (0x1_0203, i32::MIN)] {
        let mut a: VecAssembler<X64Relocation> = VecAssembler::new(0);
        dynasm!(a; .arch x64; mov eax, code as i32);
        a.push(0xe9);
        a.push_i32(rel);
        assert_eq!(&exit_bytes(code, rel)[..], &a.finalize().unwrap()[..]);
    }
}

/// Runs `code` at 0x1000 with `regs` (and `data` at 0x8000) under `kind`
/// with `mem` bytes of flat memory and a budget of 200,000 instructions;
/// see [`run_code`].
fn run_flat(
    kind: crate::EngineKind,
    mem: u64,
    code: &[u32],
    regs: &[u64; 32],
    data: &[u8],
) -> Outcome {
    let cfg = crate::VmConfig {
        engine: kind,
        mem_size: mem,
        insn_budget: Some(200_000),
        ..crate::VmConfig::default()
    };
    run_code(cfg, code, regs, data)
}

/// Final registers, pc, retired count, outcome and the first 64 KiB of
/// guest memory.
pub(super) type Outcome = (Vec<u64>, u64, u64, String, Vec<u8>);

/// Runs `code` at 0x1000 with `regs` (x0 forced to 0) and `data` at 0x8000
/// on a VM built from `cfg` with a 1 MiB code cache: the differential
/// tests of both JIT tiers compare its outcome with the interpreter's.
pub(super) fn run_code(
    cfg: crate::VmConfig,
    code: &[u32],
    regs: &[u64; 32],
    data: &[u8],
) -> Outcome {
    use crate::Vm;
    let cfg = crate::VmConfig {
        code_cache_bytes: 1 << 20,
        ..cfg
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    vm.memory_mut().write_bytes(0x1000, &bytes).unwrap();
    vm.memory_mut().write_bytes(0x8000, data).unwrap();
    vm.cpu_mut().globals[..32].copy_from_slice(regs);
    vm.cpu_mut().globals[0] = 0;
    vm.cpu_mut().pc = 0x1000;
    let result = match vm.run() {
        Ok(c) => format!("exit {c}"),
        Err(e) => e.to_string(),
    };
    let mut low = vec![0u8; 64 << 10];
    vm.memory().read_bytes(0, &mut low).unwrap();
    let cpu = vm.cpu();
    (cpu.globals[..32].to_vec(), cpu.pc, cpu.icount, result, low)
}

fn enc(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> u32 {
    encode(&Inst {
        op,
        rd,
        rs1,
        rs2,
        imm, rs3: 0, rm: 0, len: 4,
    })
}

#[test]
fn flat_access_runs_agree_with_the_interpreter() {
    // Runs of stores and loads through one base (a function's register
    // saves and restores) share one bounds and code-map check; a run that
    // leaves memory, or touches a page holding code (its own, or the one
    // it straddles into), must fault, invalidate and retire exactly as
    // the interpreter does.
    use crate::EngineKind;
    const MEM: u64 = 16 << 20;
    let mut rng = crate::rng::XorShift64(0x5eed_f1a7);
    let stores = [Op::Sb, Op::Sh, Op::Sw, Op::Sd];
    let loads = [Op::Lb, Op::Lbu, Op::Lh, Op::Lhu, Op::Lw, Op::Lwu, Op::Ld];
    for case in 0..300 {
        let mut code = vec![enc(Op::Addi, 2, 2, 0, -(rng.below(64) as i32) * 8)];
        for _ in 0..1 + rng.below(3) {
            // A run of stores, an unrelated op, a run of loads.
            for _ in 0..1 + rng.below(6) {
                let op = stores[rng.below(4) as usize];
                let off = rng.below(240) as i32 - 16;
                code.push(enc(op, 0, 2, 5 + rng.below(20) as u8, off));
            }
            code.push(enc(Op::Addi, 6, 6, 0, 1));
            for _ in 0..1 + rng.below(6) {
                let op = loads[rng.below(loads.len() as u64) as usize];
                let off = rng.below(240) as i32 - 16;
                code.push(enc(op, 5 + rng.below(20) as u8, 2, 0, off));
            }
        }
        code.push(0x0010_0073); // ebreak
        let mut regs = [0u64; 32];
        for r in regs.iter_mut() {
            *r = rng.next_u64();
        }
        regs[2] = match rng.below(6) {
            0 => MEM - rng.below(512),              // leaves memory mid-run
            1 => 0x1000 + 0x200 + rng.below(0x400), // its own code page
            2 => 0x1000 - rng.below(256),           // straddles into it
            3 => 0u64.wrapping_sub(rng.below(64)),  // wraps
            _ => 0x8000 + rng.below(0x4000),
        };
        let data: Vec<u8> = (0..0x4000).map(|_| rng.next_u64() as u8).collect();
        let want = run_flat(EngineKind::Interp, MEM, &code, &regs, &data);
        for kind in [EngineKind::Jit, EngineKind::Tiered] {
            let got = run_flat(kind, MEM, &code, &regs, &data);
            assert_eq!(
                (&got.0, got.1, got.2, &got.3),
                (&want.0, want.1, want.2, &want.3),
                "case {case} ({kind:?}): sp {:#x}",
                regs[2]
            );
            assert!(got.4 == want.4, "case {case} ({kind:?}): memory differs");
        }
    }
}

#[test]
fn byte_masked_xor_and_or_agree_with_the_interpreter() {
    // `(a ^ byte) & m` and `(a | byte) & m` in a loop and straight-line,
    // with masks below, at and above 0xff, and the byte still used after.
    use crate::EngineKind;
    let mut rng = crate::rng::XorShift64(0xb17e_0a5c);
    for case in 0..200 {
        let op = if rng.below(2) == 0 { Op::Xor } else { Op::Or };
        let mask = [255, 15, 127, 0x1ff, -1, 0xf0][rng.below(6) as usize];
        let mut code = vec![
            enc(Op::Lbu, 16, 14, 0, 0), // lbu a6,0(a4)
            enc(Op::Addi, 14, 14, 0, 1),
        ];
        code.push(if rng.below(2) == 0 {
            enc(op, 15, 15, 16, 0)
        } else {
            enc(op, 15, 16, 15, 0)
        });
        code.push(enc(Op::Andi, 15, 15, 0, mask));
        if rng.below(2) == 0 {
            code.push(enc(Op::Add, 17, 17, 16, 0)); // the byte lives on
        }
        code.push(enc(Op::Add, 12, 12, 15, 0));
        let back = -4 * code.len() as i32;
        code.push(enc(Op::Bne, 0, 14, 11, back));
        code.push(0x0010_0073); // ebreak
        let mut regs = [0u64; 32];
        for r in regs.iter_mut() {
            *r = rng.next_u64();
        }
        regs[14] = 0x8000 + rng.below(64);
        regs[11] = regs[14] + 1 + rng.below(300);
        let data: Vec<u8> = (0..0x1000).map(|_| rng.next_u64() as u8).collect();
        let want = run_flat(EngineKind::Interp, 16 << 20, &code, &regs, &data);
        let got = run_flat(EngineKind::Jit, 16 << 20, &code, &regs, &data);
        assert_eq!(
            (&got.0, got.1, got.2, &got.3),
            (&want.0, want.1, want.2, &want.3),
            "case {case}: {op:?} mask {mask:#x}"
        );
    }
}

/// A loop whose exit tests sit in its body, as in strings' search loop
/// (`addi a1,a1,1 ; add a5,t6,a1 ; bgeu a5,s10,exit ; lbu a5,0(a1) ; bne
/// a5,s8,head`): the optimizing tier compiles the block at the head with
/// its fall-through extension, one self-loop with side exits. Returns the
/// code (at 0x1000) and the word index of the `addi x7,x7,1` a store may
/// rewrite.
fn side_exit_loop(rng: &mut crate::rng::XorShift64) -> (Vec<u32>, usize) {
    let conds = [Op::Beq, Op::Bne, Op::Blt, Op::Bge, Op::Bltu, Op::Bgeu];
    let mut code = vec![
        enc(Op::Addi, 11, 11, 0, 1), // addi a1,a1,1 (the counter)
        enc(Op::Add, 15, 31, 11, 0), // add a5,t6,a1
    ];
    if rng.below(2) == 0 {
        // A store before the first exit: data, the loop's own code page, or
        // past memory.
        code.push(enc(Op::Sw, 0, 12, 16, 0)); // sw a6,0(a2)
    }
    let mut exits = Vec::new();
    let n_exits = 1 + rng.below(3);
    let mut slot = 0;
    for k in 0..n_exits {
        exits.push(code.len());
        // Forward exit test: patched below once the exit's place is known.
        code.push(0);
        if k == 0 {
            // Loads behind the first exit (the bounds test guards them).
            code.push(enc(Op::Lbu, 15, 13, 0, 0)); // lbu a5,0(a3)
            code.push(enc(Op::Lbu, 17, 13, 0, 1)); // lbu a7,1(a3)
            code.push(enc(Op::Addi, 13, 13, 0, 1)); // addi a3,a3,1
            slot = code.len();
            code.push(enc(Op::Addi, 7, 7, 0, 1)); // addi t2,t2,1 (may be rewritten)
            code.push(enc(Op::Add, 9, 9, 15, 0)); // add s1,s1,a5
        } else {
            code.push(enc(Op::Xor, 8, 8, 17, 0)); // xor s0,s0,a7
            code.push(enc(Op::Addiw, 28, 28, 0, 7)); // addiw t3,t3,7
            // zext.b t3, or another mask (the addiw's sign extension is
            // left out only below 2^32).
            let mask = [255, 255, 0x7ff, -1, -256, 0x3f][rng.below(6) as usize];
            code.push(enc(Op::Andi, 28, 28, 0, mask));
        }
    }
    let back = -4 * code.len() as i32;
    code.push(enc(Op::Bne, 0, 11, 14, back)); // bne a1,a4,head
    code.push(enc(Op::Addi, 20, 20, 0, 1)); // fell out of the loop
    code.push(0x0010_0073); // ebreak
    let exit_at = code.len();
    code.push(enc(Op::Addi, 21, 21, 0, 7)); // left through a side exit
    code.push(0x0010_0073); // ebreak
    for (k, &at) in exits.iter().enumerate() {
        let op = conds[rng.below(6) as usize];
        let off = 4 * (exit_at - at) as i32;
        // a5 (counter + t6) against s10, or s0 against s11.
        code[at] = if k == 0 {
            enc(op, 0, 15, 26, off)
        } else {
            enc(op, 0, 8, 27, off)
        };
    }
    (code, slot)
}

#[test]
fn superblock_side_exits_agree_with_the_interpreter() {
    // Side exits taken at the first, a middle or the last iteration, or
    // never; a load behind an exit that faults unless the exit is taken
    // first; a store into the loop's own code (rewriting an instruction
    // past the first exit) or past memory; on the optimizing tier, the
    // tiered engine, and the baseline tier tiering up. Every outcome
    // (registers, pc, retired count, error, memory) must be the
    // interpreter's.
    use crate::EngineKind;
    const MEM: u64 = 16 << 20;
    let mut rng = crate::rng::XorShift64(0x5b10_c4ed);
    for case in 0..300 {
        let (code, slot) = side_exit_loop(&mut rng);
        let mut regs = [0u64; 32];
        for r in regs.iter_mut() {
            *r = rng.next_u64() % 1000;
        }
        let iters = 1 + rng.below(40);
        regs[11] = rng.below(100); // a1
        regs[14] = regs[11] + iters; // a4: end
        regs[31] = rng.below(50); // t6
        // s10: the first exit's bound, met at some iteration (or never).
        regs[26] = regs[31] + regs[11] + rng.below(iters + 2);
        regs[27] = rng.below(256);
        regs[28] = rng.next_u64(); // t3: its upper half tells sext from none
        regs[13] = match rng.below(5) {
            0 => MEM - rng.below(48), // the loads leave memory
            _ => 0x8000 + rng.below(0x1000),
        };
        regs[12] = match rng.below(4) {
            0 => 0x1000 + 4 * slot as u64, // rewrites `addi t2,t2,1`
            1 => MEM - 2,                  // store past memory
            _ => 0x9000 + 4 * rng.below(64),
        };
        regs[16] = enc(Op::Addi, 7, 7, 0, 5) as u64;
        let data: Vec<u8> = (0..0x2000).map(|_| rng.next_u64() as u8).collect();
        let want = run_flat(EngineKind::Interp, MEM, &code, &regs, &data);
        let baseline = crate::VmConfig {
            engine: EngineKind::Jit,
            mem_size: MEM,
            insn_budget: Some(200_000),
            baseline: true,
            tier_up_threshold: 2,
            ..crate::VmConfig::default()
        };
        let runs = [
            ("jit", run_flat(EngineKind::Jit, MEM, &code, &regs, &data)),
            ("tiered", run_flat(EngineKind::Tiered, MEM, &code, &regs, &data)),
            ("baseline", run_code(baseline, &code, &regs, &data)),
        ];
        for (name, got) in runs {
            assert_eq!(
                (&got.0, got.1, got.2, &got.3),
                (&want.0, want.1, want.2, &want.3),
                "case {case} ({name}): code {code:08x?} regs {regs:x?}"
            );
            assert!(got.4 == want.4, "case {case} ({name}): memory differs");
        }
        // An instruction budget that runs out inside the loop, with short
        // blocks: each basic block of a superblock is one quantum unit of
        // at most `max_block_insns` instructions, so the guest stops with
        // exactly the budget retired.
        // `run_blocks(n)`: a basic block inside a superblock is a block.
        let n = 1 + rng.below(12);
        let stepped = |engine| {
            let cfg = crate::VmConfig {
                engine,
                mem_size: MEM,
                code_cache_bytes: 1 << 20,
                ..crate::VmConfig::default()
            };
            let mut vm = crate::Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink()))
                .unwrap();
            let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
            vm.memory_mut().write_bytes(0x1000, &bytes).unwrap();
            vm.memory_mut().write_bytes(0x8000, &data).unwrap();
            vm.cpu_mut().globals[..32].copy_from_slice(&regs);
            vm.cpu_mut().globals[0] = 0;
            vm.cpu_mut().pc = 0x1000;
            let r = format!("{:?}", vm.run_blocks(n));
            let cpu = vm.cpu();
            (cpu.globals[..32].to_vec(), cpu.pc, cpu.icount, r)
        };
        assert_eq!(
            stepped(EngineKind::Jit),
            stepped(EngineKind::Interp),
            "case {case} (run_blocks({n}))"
        );
        let (budget, max_block) = (1 + rng.below(120), 2 + rng.below(6) as usize);
        let short = |engine, baseline| crate::VmConfig {
            engine,
            mem_size: MEM,
            insn_budget: Some(budget),
            max_block_insns: max_block,
            baseline,
            tier_up_threshold: 1,
            ..crate::VmConfig::default()
        };
        let cfg = short(EngineKind::Interp, false);
        let want = run_code(cfg.clone(), &code, &regs, &data);
        for (name, c) in [
            ("jit", crate::VmConfig { engine: EngineKind::Jit, ..cfg.clone() }),
            ("baseline", crate::VmConfig { engine: EngineKind::Jit, baseline: true, ..cfg }),
        ] {
            let got = run_code(c, &code, &regs, &data);
            assert_eq!(
                (&got.0, got.1, got.2, &got.3),
                (&want.0, want.1, want.2, &want.3),
                "case {case} ({name}, budget): code {code:08x?} regs {regs:x?}"
            );
        }
    }
}

#[test]
fn superblock_of_a_test_first_loop_is_a_self_loop() {
    // strings' search loop: the block at the head ends in a forward
    // branch; its superblock runs on to the backward branch to the head.
    // A short length limit or the end of the page stops the extension.
    let code = [
        enc(Op::Addi, 11, 11, 0, 1),   // 0x1000 addi a1,a1,1
        enc(Op::Add, 15, 31, 11, 0),   // 0x1004 add a5,t6,a1
        enc(Op::Bgeu, 0, 15, 26, 16),  // 0x1008 bgeu a5,s10,0x1018
        enc(Op::Lbu, 15, 11, 0, 0),    // 0x100c lbu a5,0(a1)
        enc(Op::Bne, 0, 15, 24, -16),  // 0x1010 bne a5,s8,0x1000
        0x0010_0073,                   // 0x1014 ebreak
    ];
    let insns: Vec<Inst> = code
        .iter()
        .map(|&w| crate::frontend::riscv::decode(w).unwrap())
        .collect();
    let fetch = |base: u64| {
        move |a: u64| {
            let i = a.checked_sub(base)? / 4;
            code.get(i as usize).copied()
        }
    };
    let sb = crate::frontend::riscv::translate_superblock(0x1000, &insns[..3], 64, fetch(0x1000));
    assert_eq!(sb.insn_count, 5);
    assert!(super::analysis::is_self_loop(&sb), "{sb}");
    let exits: Vec<_> = sb
        .ops
        .iter()
        .filter(|o| matches!(o, IrOp::SideExit { target: 0x1018, fallthrough: 0x100c, index: 2, .. }))
        .collect();
    assert_eq!(exits.len(), 1, "{sb}");
    // Limited to four instructions: no self-loop, it falls through.
    let short = crate::frontend::riscv::translate_superblock(0x1000, &insns[..3], 4, fetch(0x1000));
    assert_eq!(short.insn_count, 4);
    assert_eq!(short.term, crate::ir::Terminator::Jump(0x1010));
    // The same code placed so that the extension would start a new page.
    let at = 0x2000 - 12;
    let split = crate::frontend::riscv::translate_superblock(at, &insns[..3], 64, fetch(at));
    assert_eq!(split.insn_count, 3);
    assert!(split.ops.iter().all(|o| !matches!(o, IrOp::SideExit { .. })));
    // The loop compiles and its code reaches the side exit's chain site.
    let mut ir = sb.clone();
    crate::opt::optimize(&mut ir);
    let mut be = X64Backend::new(1 << 16).unwrap();
    let c = be.compile(&ir).unwrap();
    let targets: Vec<u64> = c.sites.iter().map(|s| s.target_pc).collect();
    assert!(targets.contains(&0x1018) && targets.contains(&0x1014), "{targets:x?}");
}
