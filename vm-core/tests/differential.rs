//! Differential property tests: the JIT (frontend -> IR -> optimizer ->
//! x86-64 backend) must agree with the reference interpreter on random
//! register states for every RV64IM operation, including division by zero,
//! signed overflow in div/rem, shifts by 63, W-op sign extension, misaligned
//! and out-of-range accesses, and on random multi-instruction blocks (which
//! stress register allocation and spilling).

use vm_core::riscv::{encode, Inst, Op};
use vm_core::{EngineKind, RunOutcome, Vm, VmConfig};

const MEM: u64 = 16 << 20;
const CODE: u64 = 0x10000;
const DATA: u64 = 0x20000;
const DATA_LEN: u64 = 4096;

use vm_core::rng::XorShift64 as Rng;

/// A register value: an edge case, a small number or anything.
fn edge_value(rng: &mut Rng) -> u64 {
    const EDGES: [u64; 14] = [
        0,
        1,
        2,
        u64::MAX,
        i64::MIN as u64,
        i64::MAX as u64,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0xffff_ffff_8000_0000,
        63,
        64,
        31,
        32,
    ];
    match rng.below(4) {
        0 => EDGES[rng.below(EDGES.len() as u64) as usize],
        1 => rng.below(256),
        _ => rng.next_u64(),
    }
}

#[derive(Debug, PartialEq)]
struct Outcome {
    regs: Vec<u64>,
    pc: u64,
    icount: u64,
    result: String,
    data: Vec<u8>,
    top: Vec<u8>,
}

fn run(kind: EngineKind, code: &[u32], regs: &[u64; 32], data: &[u8]) -> Outcome {
    let cfg = VmConfig {
        engine: kind,
        mem_size: MEM,
        code_cache_bytes: 1 << 20,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    vm.memory_mut().write_bytes(CODE, &bytes).unwrap();
    vm.memory_mut().write_bytes(DATA, data).unwrap();
    vm.cpu_mut().globals[..32].copy_from_slice(regs);
    vm.cpu_mut().globals[0] = 0;
    vm.cpu_mut().pc = CODE;
    let result = match vm.run_blocks(1) {
        Ok(RunOutcome::QuantumExpired) => "quantum".to_string(),
        Ok(RunOutcome::Exited(c)) => format!("exit {c}"),
        Err(e) => e.to_string(),
    };
    let mut d = vec![0u8; DATA_LEN as usize];
    vm.memory().read_bytes(DATA, &mut d).unwrap();
    let mut code_after = vec![0u8; 512];
    vm.memory().read_bytes(CODE, &mut code_after).unwrap();
    d.extend_from_slice(&code_after);
    let mut top = vec![0u8; 64];
    vm.memory().read_bytes(MEM - 64, &mut top).unwrap();
    Outcome {
        regs: vm.cpu().globals[..32].to_vec(),
        pc: vm.cpu().pc,
        icount: vm.cpu().icount,
        result,
        data: d,
        top,
    }
}

fn is_mem(op: Op) -> bool {
    matches!(
        op,
        Op::Lb
            | Op::Lh
            | Op::Lw
            | Op::Ld
            | Op::Lbu
            | Op::Lhu
            | Op::Lwu
            | Op::Sb
            | Op::Sh
            | Op::Sw
            | Op::Sd
    )
}

fn random_inst(rng: &mut Rng, op: Op) -> Inst {
    let reg = |rng: &mut Rng| {
        // Favour a few registers so values flow between instructions.
        if rng.below(3) == 0 {
            rng.below(32) as u8
        } else {
            [0u8, 1, 5, 6, 7, 10, 11, 12][rng.below(8) as usize]
        }
    };
    let imm = match op {
        Op::Lui | Op::Auipc => (rng.next_u64() as i32) & !0xfff,
        Op::Slli | Op::Srli | Op::Srai => [0, 1, 31, 32, 63][rng.below(5) as usize]
            .max(rng.below(64) as i32 * (rng.below(2) as i32)),
        Op::Slliw | Op::Srliw | Op::Sraiw => rng.below(32) as i32,
        Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
            ((rng.below(64) as i32) - 32) * 4
        }
        Op::Jal => ((rng.below(1024) as i32) - 512) * 4,
        _ if is_mem(op) => (rng.below(64) as i32) - 32,
        _ => ((rng.next_u64() as i32) << 20) >> 20,
    };
    Inst {
        op,
        rd: reg(rng),
        rs1: reg(rng),
        rs2: reg(rng),
        imm,
        rs3: 0,
        rm: 0,
        len: 4,
    }
}

fn random_regs(rng: &mut Rng) -> [u64; 32] {
    let mut regs = [0u64; 32];
    for r in regs.iter_mut().skip(1) {
        *r = edge_value(rng);
    }
    // Base registers for memory ops: mostly inside the data page (any
    // alignment), sometimes at the very end of memory or far outside it.
    for r in [5usize, 6, 10, 11] {
        regs[r] = match rng.below(8) {
            0 => MEM - rng.below(48),
            // Stores into the block's own page exercise the code-modified exit.
            7 if rng.below(2) == 0 => CODE + rng.below(256),
            1 => edge_value(rng),
            _ => DATA + 32 + rng.below(DATA_LEN - 64),
        };
    }
    regs
}

fn check(code: &[u32], regs: &[u64; 32], data: &[u8], what: &str) {
    let a = run(EngineKind::Interp, code, regs, data);
    let b = run(EngineKind::Jit, code, regs, data);
    if a != b {
        let dis: Vec<String> = code
            .iter()
            .map(|w| format!("{:?}", vm_core::riscv::decode(*w)))
            .collect();
        let diff: Vec<String> = (0..32)
            .filter(|&i| a.regs[i] != b.regs[i])
            .map(|i| format!("x{i}: interp {:#x} jit {:#x}", a.regs[i], b.regs[i]))
            .collect();
        panic!(
            "{what}: interp and jit disagree\ncode: {dis:#?}\nregs in: {regs:x?}\nreg diffs: {diff:?}\npc {:#x} vs {:#x}, icount {} vs {}\nresult {:?} vs {:?}\ndata equal: {}, top equal: {}",
            a.pc, b.pc, a.icount, b.icount, a.result, b.result, a.data == b.data, a.top == b.top
        );
    }
}

const EBREAK: u32 = 0x0010_0073;

#[test]
fn every_op_agrees_on_random_states() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let data: Vec<u8> = (0..DATA_LEN).map(|i| (i * 37 + 11) as u8).collect();
    for op in Op::ALL {
        // F/D/Zicsr: interpreted by every engine until the JIT lowers them
        // (tests/fp_qemu.rs and the interpreter's unit tests cover them).
        if matches!(op, Op::Ecall | Op::Ebreak) || op.is_fp_or_csr() {
            continue;
        }
        for _ in 0..150 {
            let inst = random_inst(&mut rng, op);
            let regs = random_regs(&mut rng);
            check(&[encode(&inst), EBREAK], &regs, &data, &format!("{op:?}"));
        }
    }
}

#[test]
fn edge_cases_agree() {
    let data = vec![0x5au8; DATA_LEN as usize];
    let cases: &[(Op, u64, u64)] = &[
        (Op::Div, 5, 0),
        (Op::Divu, 5, 0),
        (Op::Rem, 5, 0),
        (Op::Remu, 5, 0),
        (Op::Div, i64::MIN as u64, u64::MAX),
        (Op::Rem, i64::MIN as u64, u64::MAX),
        (Op::Divw, 0xffff_ffff_8000_0000, u64::MAX),
        (Op::Remw, 0x8000_0000, u64::MAX),
        (Op::Divw, 7, 0x1_0000_0000),
        (Op::Divuw, 7, 0x1_0000_0000),
        (Op::Remuw, 0xffff_ffff_ffff_fff7, 0x1_0000_0000),
        (Op::Sll, 1, 63),
        (Op::Srl, u64::MAX, 63),
        (Op::Sra, 1 << 63, 63),
        (Op::Sll, 1, 64 + 63),
        (Op::Sllw, 1, 31),
        (Op::Sraw, 0x8000_0000, 31),
        (Op::Srlw, 0xffff_ffff_0000_0000, 4),
        (Op::Addw, 0x7fff_ffff, 1),
        (Op::Subw, 0x8000_0000, 1),
        (Op::Mulw, 0x1_0000, 0x1_0000),
        (Op::Mulh, i64::MIN as u64, i64::MIN as u64),
        (Op::Mulhsu, u64::MAX, u64::MAX),
        (Op::Mulhu, u64::MAX, u64::MAX),
    ];
    for &(op, a, b) in cases {
        let mut regs = [0u64; 32];
        regs[11] = a;
        regs[12] = b;
        let inst = Inst {
            op,
            rd: 10,
            rs1: 11,
            rs2: 12,
            imm: 0,
            rs3: 0,
            rm: 0,
            len: 4,
        };
        check(
            &[encode(&inst), EBREAK],
            &regs,
            &data,
            &format!("{op:?}({a:#x}, {b:#x})"),
        );
        // Same operation with rd aliasing a source.
        let inst = Inst {
            op,
            rd: 11,
            rs1: 11,
            rs2: 12,
            imm: 0,
            rs3: 0,
            rm: 0,
            len: 4,
        };
        check(
            &[encode(&inst), EBREAK],
            &regs,
            &data,
            &format!("{op:?} rd=rs1"),
        );
    }
    // Shift immediates of 63 and W immediates of 31.
    for (op, imm) in [
        (Op::Slli, 63),
        (Op::Srli, 63),
        (Op::Srai, 63),
        (Op::Slliw, 31),
        (Op::Srliw, 31),
        (Op::Sraiw, 31),
    ] {
        let mut regs = [0u64; 32];
        regs[11] = 0x8000_0000_8000_0001;
        check(
            &[
                encode(&Inst {
                    op,
                    rd: 10,
                    rs1: 11,
                    rs2: 0,
                    imm,
                    rs3: 0,
                    rm: 0,
                    len: 4,
                }),
                EBREAK,
            ],
            &regs,
            &data,
            &format!("{op:?} {imm}"),
        );
    }
    // Misaligned, boundary-straddling and out-of-range accesses.
    for (op, base, off) in [
        (Op::Ld, DATA + 1, 0),
        (Op::Lw, DATA + 3, 0),
        (Op::Sd, DATA + 5, 2),
        (Op::Sh, DATA + 1, -1),
        (Op::Ld, MEM - 8, 0),
        (Op::Ld, MEM - 7, 0),
        (Op::Sw, MEM - 3, 0),
        (Op::Lb, MEM, 0),
        (Op::Lb, 0, -1),
        (Op::Sd, u64::MAX, 1),
        (Op::Lhu, u64::MAX - 1, 0),
    ] {
        let mut regs = [0u64; 32];
        regs[11] = base;
        regs[12] = 0x0102_0304_0506_0708;
        check(
            &[
                encode(&Inst {
                    op,
                    rd: 10,
                    rs1: 11,
                    rs2: 12,
                    imm: off,
                    rs3: 0,
                    rm: 0,
                    len: 4,
                }),
                EBREAK,
            ],
            &regs,
            &data,
            &format!("{op:?} at {base:#x}{off:+}"),
        );
    }
}

#[test]
fn random_blocks_agree() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let body_ops: Vec<Op> = Op::ALL
        .into_iter()
        .filter(|o| !o.ends_block() && !matches!(o, Op::Fence) && !o.is_fp_or_csr())
        .collect();
    let enders = [
        Op::Beq,
        Op::Bne,
        Op::Blt,
        Op::Bge,
        Op::Bltu,
        Op::Bgeu,
        Op::Jal,
        Op::Jalr,
        Op::Ebreak,
    ];
    for case in 0..3000 {
        let len = 1 + rng.below(if case % 10 == 0 { 60 } else { 12 }) as usize;
        let mut code: Vec<u32> = (0..len)
            .map(|_| {
                let op = body_ops[rng.below(body_ops.len() as u64) as usize];
                encode(&random_inst(&mut rng, op))
            })
            .collect();
        let end = enders[rng.below(enders.len() as u64) as usize];
        code.push(encode(&random_inst(&mut rng, end)));
        let regs = random_regs(&mut rng);
        let data: Vec<u8> = (0..DATA_LEN).map(|_| rng.next_u64() as u8).collect();
        check(&code, &regs, &data, &format!("random block {case}"));
    }
}

#[test]
fn high_register_pressure_blocks_agree() {
    // Reads of all 31 registers kept live across the block force eviction
    // and spilling in the register allocator.
    let mut rng = Rng(42);
    for case in 0..200 {
        let mut code = Vec::new();
        for rd in 1..32u8 {
            let rs1 = 1 + rng.below(31) as u8;
            let rs2 = 1 + rng.below(31) as u8;
            let op =
                [Op::Add, Op::Mul, Op::Xor, Op::Sub, Op::Sltu, Op::Divu][rng.below(6) as usize];
            code.push(encode(&Inst {
                op,
                rd,
                rs1,
                rs2,
                imm: 0,
                rs3: 0,
                rm: 0,
                len: 4,
            }));
        }
        for rd in 1..32u8 {
            code.push(encode(&Inst {
                op: Op::Add,
                rd,
                rs1: rd,
                rs2: 32 - rd,
                imm: 0,
                rs3: 0,
                rm: 0,
                len: 4,
            }));
        }
        code.push(EBREAK);
        let regs = random_regs(&mut rng);
        check(&code, &regs, &[0; 64], &format!("pressure {case}"));
    }
}

#[test]
fn store_into_the_running_block_exits_right_after_the_store() {
    // sw x12, 4(x11) with x11 = CODE overwrites the ebreak that follows;
    // both engines must stop right after the store with the new word in
    // memory instead of executing the stale ebreak.
    let mut regs = [0u64; 32];
    regs[11] = CODE;
    regs[12] = encode(&Inst {
        op: Op::Addi,
        rd: 10,
        rs1: 0,
        rs2: 0,
        imm: 7,
        rs3: 0,
        rm: 0,
        len: 4,
    }) as u64;
    let code = [
        encode(&Inst {
            op: Op::Sw,
            rd: 0,
            rs1: 11,
            rs2: 12,
            imm: 4,
            rs3: 0,
            rm: 0,
            len: 4,
        }),
        EBREAK,
    ];
    check(&code, &regs, &[0; 64], "self-overwriting store");
    let o = run(EngineKind::Jit, &code, &regs, &[0; 64]);
    assert_eq!(
        (o.result.as_str(), o.pc, o.icount),
        ("quantum", CODE + 4, 1)
    );
}

fn run_to_end(kind: EngineKind, code: &[u32], regs: &[u64; 32], data: &[u8]) -> Outcome {
    let cfg = VmConfig {
        engine: kind,
        mem_size: MEM,
        code_cache_bytes: 1 << 20,
        insn_budget: Some(1_000_000),
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    vm.memory_mut().write_bytes(CODE, &bytes).unwrap();
    vm.memory_mut().write_bytes(DATA, data).unwrap();
    vm.cpu_mut().globals[..32].copy_from_slice(regs);
    vm.cpu_mut().globals[0] = 0;
    vm.cpu_mut().pc = CODE;
    let result = match vm.run() {
        Ok(c) => format!("exit {c}"),
        Err(e) => e.to_string(),
    };
    let mut d = vec![0u8; DATA_LEN as usize];
    vm.memory().read_bytes(DATA, &mut d).unwrap();
    Outcome {
        regs: vm.cpu().globals[..32].to_vec(),
        pc: vm.cpu().pc,
        icount: vm.cpu().icount,
        result,
        data: d,
        top: Vec::new(),
    }
}

/// Self-loops keep guest registers in host registers across iterations in
/// the JIT; random loop bodies must still agree with the interpreter after
/// many iterations (and the tiered engine must agree after promotion).
#[test]
fn random_self_loops_agree_over_many_iterations() {
    let mut rng = Rng(0x5eed_1007);
    let body_ops: Vec<Op> = Op::ALL
        .into_iter()
        .filter(|o| !o.ends_block() && !matches!(o, Op::Fence | Op::Auipc) && !o.is_fp_or_csr())
        .collect();
    for case in 0..600 {
        let iters = 1 + rng.below(200) as i32;
        let mut code = vec![encode(&Inst {
            op: Op::Addi,
            rd: 5,
            rs1: 0,
            rs2: 0,
            imm: iters,
            rs3: 0,
            rm: 0,
            len: 4,
        })];
        let len = 1 + rng.below(10) as usize;
        for _ in 0..len {
            let op = body_ops[rng.below(body_ops.len() as u64) as usize];
            let mut inst = random_inst(&mut rng, op);
            if inst.rd == 5 {
                inst.rd = 6 + rng.below(4) as u8; // keep the counter intact
            }
            code.push(encode(&inst));
        }
        code.push(encode(&Inst {
            op: Op::Addi,
            rd: 5,
            rs1: 5,
            rs2: 0,
            imm: -1,
            rs3: 0,
            rm: 0,
            len: 4,
        }));
        let back = -4 * (len as i32 + 1);
        code.push(encode(&Inst {
            op: Op::Bne,
            rd: 0,
            rs1: 5,
            rs2: 0,
            imm: back,
            rs3: 0,
            rm: 0,
            len: 4,
        }));
        code.push(EBREAK);
        let regs = random_regs(&mut rng);
        let data: Vec<u8> = (0..DATA_LEN).map(|_| rng.next_u64() as u8).collect();
        let a = run_to_end(EngineKind::Interp, &code, &regs, &data);
        for kind in [EngineKind::Jit, EngineKind::Tiered] {
            let b = run_to_end(kind, &code, &regs, &data);
            if a != b {
                let dis: Vec<String> = code
                    .iter()
                    .map(|w| format!("{:?}", vm_core::riscv::decode(*w)))
                    .collect();
                let diff: Vec<String> = (0..32)
                    .filter(|&i| a.regs[i] != b.regs[i])
                    .map(|i| format!("x{i}: interp {:#x} {kind:?} {:#x}", a.regs[i], b.regs[i]))
                    .collect();
                panic!(
                    "loop case {case}: {kind:?} disagrees\ncode: {dis:#?}\nregs in: {regs:x?}\ndiffs: {diff:?}\npc {:#x} vs {:#x} icount {} vs {} result {:?} vs {:?} data equal {}",
                    a.pc, b.pc, a.icount, b.icount, a.result, b.result, a.data == b.data
                );
            }
        }
    }
}

/// Array-walking loops, the shape the JIT compiles most tightly: a scaled
/// index (`slli` + `add`, fused into one `lea`), a load or store through
/// it, an accumulator and the index carried in host registers across
/// iterations, the new value of a carried register taking over the
/// register of the old one. Bases near the end of memory make the access
/// fault mid-loop (deferred registers are written back at that exit) and
/// bases in the code page make stores exit as code-modifying.
#[test]
fn indexed_access_loops_agree() {
    let mut rng = Rng(0x5eed_1ea0);
    let inst = |op, rd, rs1, rs2, imm| {
        encode(&Inst {
            op,
            rd,
            rs1,
            rs2,
            imm,
            rs3: 0,
            rm: 0,
            len: 4,
        })
    };
    let loads = [Op::Lb, Op::Lbu, Op::Lh, Op::Lhu, Op::Lw, Op::Lwu, Op::Ld];
    let stores = [Op::Sb, Op::Sh, Op::Sw, Op::Sd];
    let accs = [Op::Add, Op::Xor, Op::Sub, Op::Addw, Op::Or];
    for case in 0..500 {
        let iters = 1 + rng.below(300) as i32;
        let k = 1 + rng.below(3) as i32;
        let mut code = vec![inst(Op::Addi, 5, 0, 0, iters)];
        // The shifted index lives only until the add overwrites it.
        code.push(inst(Op::Slli, 13, 12, 0, k));
        code.push(if rng.below(2) == 0 {
            inst(Op::Add, 13, 10, 13, 0)
        } else {
            inst(Op::Add, 13, 13, 10, 0)
        });
        let off = rng.below(16) as i32 - 8;
        if rng.below(3) == 0 {
            let op = stores[rng.below(stores.len() as u64) as usize];
            code.push(inst(op, 0, 13, 15, off));
        } else {
            let op = loads[rng.below(loads.len() as u64) as usize];
            code.push(inst(op, 14, 13, 0, off));
            let acc = accs[rng.below(accs.len() as u64) as usize];
            code.push(inst(acc, 15, 15, 14, 0));
        }
        if rng.below(2) == 0 {
            // The old index is dead before the new one is written.
            code.push(inst(Op::Srliw, 6, 15, 0, 8));
        }
        code.push(inst(Op::Addi, 12, 12, 0, 1 + rng.below(8) as i32));
        code.push(inst(Op::Addi, 5, 5, 0, -1));
        let back = -4 * (code.len() as i32 - 1);
        code.push(inst(Op::Bne, 0, 5, 0, back));
        code.push(EBREAK);
        let mut regs = random_regs(&mut rng);
        regs[12] = rng.below(64);
        regs[10] = match rng.below(6) {
            0 => MEM - rng.below(4096),
            1 => CODE + rng.below(64),
            _ => DATA + rng.below(256),
        };
        let data: Vec<u8> = (0..DATA_LEN).map(|_| rng.next_u64() as u8).collect();
        let a = run_to_end(EngineKind::Interp, &code, &regs, &data);
        for kind in [EngineKind::Jit, EngineKind::Tiered] {
            let b = run_to_end(kind, &code, &regs, &data);
            assert!(
                a == b,
                "indexed loop case {case}: {kind:?} disagrees with the interpreter\ncode: {:#?}\nregs in: {regs:x?}\npc {:#x} vs {:#x} icount {} vs {} result {:?} vs {:?}",
                code.iter().map(|w| vm_core::riscv::decode(*w)).collect::<Vec<_>>(),
                a.pc,
                b.pc,
                a.icount,
                b.icount,
                a.result,
                b.result
            );
        }
    }
}
