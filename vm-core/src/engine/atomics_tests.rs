//! The A extension, the F/D lowerings (native and helper calls) and the
//! JIT's fallback for operations without a native lowering, on every engine: interpreter, optimizing tier, baseline tier
//! (alone and tiering up), tiered engine, AOT image, and the interpreter,
//! JIT and tiered engine under the Sv39 MMU. Each program is a small ELF
//! (code segment RWX, data segment RW) run to its `ebreak`; registers, pc,
//! retired count, the LR/SC reservation, the error and guest memory must
//! equal the interpreter's (flat engines against the flat interpreter,
//! MMU engines against the interpreter under the MMU).

use super::*;
use crate::frontend::riscv::{encode, Inst, Lowering, Op};
use crate::mmu::MmuConfig;
use crate::rng::XorShift64 as Rng;

const CODE: u64 = 0x10000;
const DATA: u64 = 0x40000;
const DATA_LEN: usize = 4096;
const EBREAK: u32 = 0x0010_0073;

fn w(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> u32 {
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
}

fn amo(op: Op, rd: u8, rs1: u8, rs2: u8, rm: u8) -> u32 {
    encode(&Inst {
        op,
        rd,
        rs1,
        rs2,
        imm: 0,
        rs3: 0,
        rm,
        len: 4,
    })
}

/// A static ELF with the code at `CODE` (RWX) and `data` at `DATA` (RW).
fn elf(code: &[u32], data: &[u8]) -> Vec<u8> {
    let code: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    let segs: [(u64, &[u8], u32); 2] = [(CODE, &code, 7), (DATA, data, 6)];
    let phoff = 64u64;
    let mut data_off = phoff + 56 * segs.len() as u64;
    let mut out = vec![0u8; 64];
    out[0..4].copy_from_slice(b"\x7fELF");
    out[4] = 2;
    out[5] = 1;
    out[6] = 1;
    out[16..18].copy_from_slice(&2u16.to_le_bytes());
    out[18..20].copy_from_slice(&243u16.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[24..32].copy_from_slice(&CODE.to_le_bytes());
    out[32..40].copy_from_slice(&phoff.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
    let mut payload = Vec::new();
    for (vaddr, bytes, flags) in segs {
        let mut ph = vec![0u8; 56];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes());
        ph[4..8].copy_from_slice(&flags.to_le_bytes());
        ph[8..16].copy_from_slice(&data_off.to_le_bytes());
        ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
        ph[24..32].copy_from_slice(&vaddr.to_le_bytes());
        ph[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        ph[40..48].copy_from_slice(&(bytes.len().max(DATA_LEN) as u64).to_le_bytes());
        ph[48..56].copy_from_slice(&0x1000u64.to_le_bytes());
        out.extend_from_slice(&ph);
        payload.extend_from_slice(bytes);
        data_off += bytes.len() as u64;
    }
    out.extend_from_slice(&payload);
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Plain,
    Aot,
}

/// (name, configuration, AOT image?): the first of each group (flat, MMU)
/// is the interpreter the others are compared with.
fn engines() -> Vec<(&'static str, VmConfig, Kind)> {
    let base = VmConfig {
        mem_size: 32 << 20,
        code_cache_bytes: 1 << 20,
        insn_budget: Some(200_000),
        ..VmConfig::default()
    };
    let jit = |baseline, tier_up_threshold| VmConfig {
        engine: EngineKind::Jit,
        baseline,
        tier_up_threshold,
        ..base.clone()
    };
    let tiered = || VmConfig {
        engine: EngineKind::Tiered,
        tier_threshold: 2,
        ..base.clone()
    };
    let interp = || VmConfig {
        engine: EngineKind::Interp,
        ..base.clone()
    };
    let mmu = |c: VmConfig| VmConfig {
        mmu: Some(MmuConfig::default()),
        ..c
    };
    vec![
        ("interp", interp(), Kind::Plain),
        ("optimizing", jit(false, 0), Kind::Plain),
        ("baseline", jit(true, 0), Kind::Plain),
        ("baseline, tier-up after 2", jit(true, 2), Kind::Plain),
        ("tiered", tiered(), Kind::Plain),
        ("aot", jit(false, 0), Kind::Aot),
        ("interp --mmu", mmu(interp()), Kind::Plain),
        ("jit --mmu", mmu(jit(false, 0)), Kind::Plain),
        ("tiered --mmu", mmu(tiered()), Kind::Plain),
    ]
}

#[derive(Debug, PartialEq)]
struct Outcome {
    cpu: GuestState,
    result: String,
    data: Vec<u8>,
    code: Vec<u8>,
}

fn run(cfg: VmConfig, kind: Kind, elf: &[u8], regs: &[(u8, u64)]) -> (Outcome, Stats) {
    let max_block_insns = cfg.max_block_insns;
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    vm.load_elf(elf, &["a".into()]).unwrap();
    if kind == Kind::Aot {
        let (img, _) = crate::aot::build_image(elf, max_block_insns).unwrap();
        let expect = crate::aot::format::Expectation::for_elf(
            crate::aot::build_info(max_block_insns),
            elf,
        );
        let view = crate::aot::format::validate(&img, &expect).unwrap();
        let inst = vm.install_aot_image(&view).unwrap();
        assert!(inst.blocks > 0);
    }
    for &(r, v) in regs {
        vm.cpu_mut().globals[r as usize] = v;
    }
    let result = match vm.run() {
        Ok(c) => format!("exit {c}"),
        Err(e) => e.to_string(),
    };
    let mut data = vec![0u8; DATA_LEN];
    vm.read_guest(DATA, &mut data).unwrap();
    let mut code = vec![0u8; 1024];
    vm.read_guest(CODE, &mut code).unwrap();
    let s = vm.stats();
    let out = Outcome {
        cpu: *vm.cpu(),
        result,
        data,
        code,
    };
    (out, s)
}

/// Runs `code` on every engine; returns the interpreter's outcome and the
/// fallback instructions the JIT engines interpreted.
fn check(code: &[u32], data: &[u8], regs: &[(u8, u64)], what: &str) -> (Outcome, u64) {
    let elf = elf(code, data);
    // [flat interpreter, interpreter under the MMU]
    let mut refs: Vec<Outcome> = Vec::new();
    let mut fallbacks = 0;
    for (name, cfg, kind) in engines() {
        let is_interp = cfg.engine == EngineKind::Interp;
        let (got, stats) = run(cfg, kind, &elf, regs);
        if is_interp {
            assert_eq!(stats.fallback_insns, 0);
            refs.push(got);
            continue;
        }
        fallbacks += stats.fallback_insns;
        let want = refs.last().expect("an interpreter runs first");
        assert_eq!(&got, want, "{what} ({name}): code {code:08x?} regs {regs:x?}");
    }
    (refs.swap_remove(0), fallbacks)
}

fn data_pattern(rng: &mut Rng) -> Vec<u8> {
    (0..DATA_LEN)
        .map(|i| match i % 16 {
            3 | 7 => 0x80,
            11 => 0xff,
            _ => rng.next_u64() as u8,
        })
        .collect()
}

const A_OPS: [Op; 22] = {
    use Op::*;
    [
        LrW, ScW, AmoswapW, AmoaddW, AmoxorW, AmoandW, AmoorW, AmominW, AmomaxW, AmominuW,
        AmomaxuW, LrD, ScD, AmoswapD, AmoaddD, AmoxorD, AmoandD, AmoorD, AmominD, AmomaxD,
        AmominuD, AmomaxuD,
    ]
};

/// A random instruction: RV64IM ALU ops, loads and stores through x10,
/// A operations through x10 (8-aligned), x11 (4-aligned) or x12 (edge
/// addresses: misaligned, code page, out of range), and LR/SC pairs.
/// Never writes x5 (loop counter) or x10..x12.
fn random_insts(rng: &mut Rng, out: &mut Vec<u32>) {
    let rd = loop {
        let r = rng.below(32) as u8;
        if !matches!(r, 5 | 10..=12) {
            break r;
        }
    };
    let rs = |rng: &mut Rng| [0u8, 6, 7, 8, 9, 13, 14, rng.below(32) as u8][rng.below(8) as usize];
    let base = [10u8, 10, 11, 12][rng.below(4) as usize];
    match rng.below(8) {
        0 | 1 => {
            let ops = [Op::Add, Op::Addi, Op::Xor, Op::Sub, Op::Addw, Op::Slli, Op::Mul];
            let op = ops[rng.below(ops.len() as u64) as usize];
            let imm = if op == Op::Slli { rng.below(64) as i32 } else { rng.below(4096) as i32 - 2048 };
            out.push(w(op, rd, rs(rng), rs(rng), imm));
        }
        2 => {
            let ops = [Op::Lw, Op::Ld, Op::Sw, Op::Sd, Op::Lbu];
            let op = ops[rng.below(ops.len() as u64) as usize];
            let imm = 8 * rng.below(64) as i32;
            match op {
                Op::Sw | Op::Sd => out.push(w(op, 0, 10, rs(rng), imm)),
                _ => out.push(w(op, rd, 10, 0, imm)),
            }
        }
        3 => {
            // An LR/SC pair on one address, maybe with a store between.
            let d = rng.below(2) == 0;
            let (lr, sc) = if d { (Op::LrD, Op::ScD) } else { (Op::LrW, Op::ScW) };
            let rm = rng.below(4) as u8;
            out.push(amo(lr, rd, base, 0, rm));
            match rng.below(4) {
                0 => out.push(w(if d { Op::Sd } else { Op::Sw }, 0, base, rs(rng), 0)),
                1 => out.push(w(Op::Addi, rd, rd, 0, 1)),
                _ => {}
            }
            let sc = if rng.below(4) == 0 { [Op::ScW, Op::ScD][rng.below(2) as usize] } else { sc };
            out.push(amo(sc, [rd, 13, 0][rng.below(3) as usize], base, rs(rng), rm));
        }
        _ => {
            let op = A_OPS[rng.below(A_OPS.len() as u64) as usize];
            out.push(amo(op, rd, base, rs(rng), rng.below(4) as u8));
        }
    }
}

#[test]
fn random_atomic_blocks_agree_on_every_engine() {
    let mut rng = Rng(0x0a70_31c5);
    let mut fallbacks = 0;
    for case in 0..60 {
        let mut code = Vec::new();
        let n = 1 + rng.below(12);
        for _ in 0..n {
            random_insts(&mut rng, &mut code);
        }
        // Loop over the body a few times (tier-up, chaining), then stop.
        let back = -4 * (code.len() as i32 + 1);
        code.push(w(Op::Addi, 5, 5, 0, -1));
        code.push(w(Op::Bne, 0, 5, 0, back));
        code.push(EBREAK);
        let data = data_pattern(&mut rng);
        let mut regs: Vec<(u8, u64)> = (1..32u8)
            .map(|r| (r, [0, 1, u64::MAX, 0x7fff_ffff, 0x8000_0000, rng.next_u64()][rng.below(6) as usize]))
            .collect();
        regs.push((5, 1 + rng.below(5)));
        regs.push((10, DATA + 8 * rng.below(64)));
        regs.push((11, DATA + 4 * rng.below(1000)));
        let edge = match rng.below(6) {
            0 => DATA + 1 + 2 * rng.below(100),
            1 => CODE + 0x200,
            2 => u64::MAX - 3,
            3 => DATA + DATA_LEN as u64 + 0x10_0000,
            _ => DATA + 8 * rng.below(8),
        };
        regs.push((12, edge));
        let (_, f) = check(&code, &data, &regs, &format!("case {case}"));
        fallbacks += f;
    }
    assert!(fallbacks > 100, "the JIT engines took the fallback {fallbacks} times");
}

/// Expected values written out, not just agreement.
#[test]
fn atomic_edge_cases_on_every_engine() {
    let d = DATA;
    let mut data = vec![0u8; DATA_LEN];
    data[0..4].copy_from_slice(&0xffff_ffffu32.to_le_bytes()); // -1 as .W
    data[8..16].copy_from_slice(&(i64::MIN as u64).to_le_bytes());
    data[16..20].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    data[24..28].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    let x = |v: &Outcome, r: usize| v.cpu.globals[r];
    let mem32 = |v: &Outcome, a: u64| {
        let o = (a - d) as usize;
        u32::from_le_bytes(v.data[o..o + 4].try_into().unwrap())
    };
    let mem64 = |v: &Outcome, a: u64| {
        let o = (a - d) as usize;
        u64::from_le_bytes(v.data[o..o + 8].try_into().unwrap())
    };
    let regs = [(10u8, d), (11, d + 8), (12, d + 16), (13, d + 24), (14, d + 32), (6, 1), (7, u64::MAX)];
    // min/max signedness on .W and .D.
    for (op, addr_reg, want_mem, want_rd) in [
        (Op::AmominW, 10, 0xffff_ffffu64, u64::MAX), // min(-1, 1) = -1
        (Op::AmominuW, 10, 1, u64::MAX),             // minu(0xffffffff, 1) = 1
        (Op::AmomaxW, 10, 1, u64::MAX),
        (Op::AmomaxuW, 10, 0xffff_ffff, u64::MAX),
        (Op::AmominD, 11, i64::MIN as u64, i64::MIN as u64),
        (Op::AmominuD, 11, 1, i64::MIN as u64),
        (Op::AmomaxD, 11, 1, i64::MIN as u64),
        (Op::AmomaxuD, 11, i64::MIN as u64, i64::MIN as u64),
    ] {
        let (v, f) = check(&[amo(op, 8, addr_reg, 6, 0), EBREAK], &data, &regs, &format!("{op:?}"));
        assert!(f > 0, "{op:?}: no fallback taken");
        let a = if addr_reg == 10 { d } else { d + 8 };
        let m = if op.is_atomic() && (op as u8) < (Op::LrD as u8) { mem32(&v, a) as u64 } else { mem64(&v, a) };
        assert_eq!((m, x(&v, 8)), (want_mem, want_rd), "{op:?}");
    }
    // .W results are sign-extended: amoadd.w on 0x7fffffff, amoswap.w of 0x80000000.
    let (v, _) = check(&[amo(Op::AmoaddW, 8, 12, 6, 0), amo(Op::AmoswapW, 9, 13, 0, 1), EBREAK], &data, &regs, "w sext");
    assert_eq!((mem32(&v, d + 16), x(&v, 8)), (0x8000_0000, 0x7fff_ffff));
    assert_eq!((mem32(&v, d + 24), x(&v, 9)), (0, 0xffff_ffff_8000_0000));
    // LR.W sign-extends too.
    let (v, _) = check(&[amo(Op::LrW, 8, 10, 0, 2), EBREAK], &data, &regs, "lr.w");
    assert_eq!((x(&v, 8), v.cpu.reservation), (u64::MAX, d));
    // SC without a reservation fails: rd = 1, memory unchanged.
    let (v, _) = check(&[amo(Op::ScD, 8, 14, 7, 0), EBREAK], &data, &regs, "sc alone");
    assert_eq!((x(&v, 8), mem64(&v, d + 32)), (1, 0));
    // LR/SC pair succeeds (rd = 0, stored) and clears the reservation; a
    // second SC fails.
    let (v, _) = check(
        &[amo(Op::LrD, 8, 14, 0, 2), amo(Op::ScD, 9, 14, 7, 1), amo(Op::ScD, 15, 14, 6, 1), EBREAK],
        &data,
        &regs,
        "lr/sc",
    );
    assert_eq!((x(&v, 9), x(&v, 15), mem64(&v, d + 32)), (0, 1, u64::MAX));
    assert_eq!(v.cpu.reservation, crate::state::NO_RESERVATION);
    // SC to another address than the LR's fails.
    let (v, _) = check(&[amo(Op::LrD, 8, 14, 0, 0), amo(Op::ScD, 9, 11, 7, 0), EBREAK], &data, &regs, "sc elsewhere");
    assert_eq!((x(&v, 9), mem64(&v, d + 8)), (1, i64::MIN as u64));
    // A store of another value between LR and SC breaks the reservation;
    // a store of the same value does not (the documented rule).
    let (v, _) = check(
        &[amo(Op::LrD, 8, 14, 0, 0), w(Op::Sd, 0, 14, 6, 0), amo(Op::ScD, 9, 14, 7, 0), EBREAK],
        &data,
        &regs,
        "sc after store",
    );
    assert_eq!((x(&v, 9), mem64(&v, d + 32)), (1, 1));
    let (v, _) = check(
        &[amo(Op::LrD, 8, 14, 0, 0), w(Op::Sd, 0, 14, 0, 0), amo(Op::ScD, 9, 14, 7, 0), EBREAK],
        &data,
        &regs,
        "sc after same-value store",
    );
    assert_eq!((x(&v, 9), mem64(&v, d + 32)), (0, u64::MAX));
    // Misaligned addresses fault at the instruction, nothing retired or written.
    for op in A_OPS {
        let regs = [(10u8, d + 4 * ((op as u8 >= Op::LrD as u8) as u64) + 2), (6, 5)];
        let (v, _) = check(&[w(Op::Addi, 9, 0, 0, 7), amo(op, 8, 10, 6, 0), EBREAK], &data, &regs, &format!("misaligned {op:?}"));
        assert!(v.result.contains("misaligned"), "{op:?}: {}", v.result);
        assert_eq!((v.cpu.pc, v.cpu.icount, x(&v, 9), x(&v, 8)), (CODE + 4, 1, 7, 0), "{op:?}");
        assert_eq!(v.data, data, "{op:?}");
    }
    // An AMO into the code page ends the block as a store into code does.
    let regs = [(10u8, CODE + 8), (6, 0x13)];
    let (v, _) = check(&[amo(Op::AmoswapW, 8, 10, 6, 0), w(Op::Addi, 9, 0, 0, 3), EBREAK, EBREAK], &data, &regs, "amo into code");
    // The ebreak at +8 became a nop (0x13): the one at +12 stops.
    assert_eq!((x(&v, 8), x(&v, 9), v.cpu.pc), (EBREAK as u64, 3, CODE + 12));
}

/// Every operation, as the only instruction of a block on a few register
/// states: the same result on every engine, and the classification holds
/// (native operations never take the fallback, the others always do).
#[test]
fn every_op_runs_identically_on_every_engine() {
    let mut rng = Rng(0x00a1_10b5);
    let data = data_pattern(&mut rng);
    for op in Op::ALL {
        for k in 0..3u64 {
            let imm = match op {
                Op::Lui | Op::Auipc => 0x12345 << 12,
                Op::Slli | Op::Srli | Op::Srai => 13 + k as i32,
                Op::Slliw | Op::Srliw | Op::Sraiw => 7,
                Op::Jal | Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => 8,
                Op::Jalr => 8,
                // Zicsr: the CSR number (fcsr; any other is illegal).
                Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci => 3,
                _ => 16,
            };
            let decoded = Inst {
                op,
                rd: 8,
                rs1: 10,
                rs2: 6,
                imm,
                rs3: 0,
                rm: k as u8,
                len: 4,
            };
            let inst = encode(&decoded);
            // Jalr through x10 = CODE lands on the second ebreak.
            let code = [inst, EBREAK, EBREAK, EBREAK];
            let base = if op == Op::Jalr { CODE } else { DATA + 8 * k };
            let regs = [(10u8, base), (6, [3, u64::MAX, 0x8000_0000][k as usize]), (17, 93)];
            let (_, fallbacks) = check(&code, &data, &regs, &format!("{op:?} #{k}"));
            match decoded.lowering() {
                // A helper call traps only on a reserved rounding mode.
                Lowering::Native | Lowering::Helper => assert_eq!(fallbacks, 0, "{op:?}"),
                // One fallback on each of the five engines that compile
                // a block on its first run (the tiered ones interpret it).
                _ => assert_eq!(fallbacks, 5, "{op:?}"),
            }
        }
    }
}

/// FP register values: NaN-boxed singles (normal, subnormal, zeros,
/// infinities, quiet and signalling NaNs), improperly boxed singles (read
/// as the canonical NaN), and doubles of every class.
const FP_EDGES: [u64; 24] = [
    0xffff_ffff_3f80_0000, // 1.0f
    0xffff_ffff_bf80_0000, // -1.0f
    0xffff_ffff_0000_0001, // min subnormal f
    0xffff_ffff_8000_0000, // -0.0f
    0xffff_ffff_7f80_0000, // inf f
    0xffff_ffff_7fc0_0000, // qNaN f
    0xffff_ffff_7f80_0001, // sNaN f
    0xffff_ffff_ffc1_2345, // negative qNaN f with payload
    0x0000_0000_3f80_0000, // unboxed 1.0f
    0xffff_fffe_4000_0000, // badly boxed 2.0f
    0x3ff0_0000_0000_0000, // 1.0
    0xbff8_0000_0000_0000, // -1.5
    0x0000_0000_0000_0001, // min subnormal
    0x800f_ffff_ffff_ffff, // -max subnormal
    0x0000_0000_0000_0000, // 0.0
    0x8000_0000_0000_0000, // -0.0
    0x7ff0_0000_0000_0000, // inf
    0xfff0_0000_0000_0000, // -inf
    0x7ff8_0000_0000_0000, // qNaN
    0x7ff0_0000_0000_0001, // sNaN
    0xfff8_dead_beef_0001, // negative qNaN with payload
    0x7fef_ffff_ffff_ffff, // max
    0x4330_0000_0000_0001, // 2^52 + 1
    0x41df_ffff_ffc0_0000, // 2^31 - 1
];

/// A random F/D/Zicsr instruction, or an integer one that reads an FP
/// result or feeds an FP conversion (the helper reads and writes guest
/// registers in the CPU state: write-back and stale-copy checks). FP
/// loads and stores go through x10 (8-aligned), x11 (4-aligned) or x12
/// (edge addresses). Never writes x5 or x10..x12.
fn random_fp_insts(rng: &mut Rng, out: &mut Vec<u32>) {
    use Op::*;
    let xrd = loop {
        let r = rng.below(32) as u8;
        if !matches!(r, 5 | 10..=12) {
            break r;
        }
    };
    let fr = |rng: &mut Rng| [0u8, 1, 2, 3, 31, rng.below(32) as u8][rng.below(6) as usize];
    let xr = |rng: &mut Rng| [0u8, 6, 7, 8, 9, 13, rng.below(32) as u8][rng.below(7) as usize];
    // Rounding modes: static ones, and the dynamic one (frm, which a
    // CSR write may have made reserved: the instruction traps).
    let rm = |rng: &mut Rng| [0u8, 1, 2, 3, 4, 7, 7][rng.below(7) as usize];
    let inst = |op: Op, rd: u8, rs1: u8, rs2: u8, rs3: u8, rm: u8, imm: i32| {
        encode(&Inst {
            op,
            rd,
            rs1,
            rs2,
            rs3,
            rm,
            imm,
            len: 4,
        })
    };
    match rng.below(10) {
        0 | 1 => {
            // Loads and stores.
            let op = [Fld, Flw, Fsd, Fsw, Fld, Fsd][rng.below(6) as usize];
            let base = [10u8, 10, 11, 12][rng.below(4) as usize];
            let imm = if base == 10 { 8 * rng.below(64) as i32 } else { 4 * rng.below(64) as i32 };
            out.push(inst(op, fr(rng), base, fr(rng), 0, 0, imm));
        }
        2 => {
            // Moves and sign injections (native).
            let ops = [FmvXD, FmvXW, FmvDX, FmvWX, FsgnjD, FsgnjnD, FsgnjxD, FsgnjS, FsgnjnS, FsgnjxS];
            let op = ops[rng.below(ops.len() as u64) as usize];
            let (rd, rs1) = match op {
                FmvXD | FmvXW => (xrd, fr(rng)),
                FmvDX | FmvWX => (fr(rng), xr(rng)),
                _ => (fr(rng), fr(rng)),
            };
            out.push(inst(op, rd, rs1, fr(rng), 0, 0, 0));
        }
        3 => {
            // An integer op on a register an FP op wrote, or that a
            // conversion is about to read.
            let op = [Add, Addi, Xor, Slli][rng.below(4) as usize];
            out.push(w(op, xrd, xr(rng), xr(rng), rng.below(64) as i32));
        }
        4 => {
            // fflags / frm / fcsr (frm writes may make it reserved).
            let ops = [Csrrw, Csrrs, Csrrc, Csrrwi, Csrrsi, Csrrci];
            let op = ops[rng.below(6) as usize];
            let csr = 1 + rng.below(3) as i32;
            let rs1 = if op as u8 >= Csrrwi as u8 { rng.below(32) as u8 } else { xr(rng) };
            out.push(inst(op, [xrd, 0][rng.below(2) as usize], rs1, 0, 0, 0, csr));
        }
        _ => {
            // Register-only F/D operations (helper).
            let ops: Vec<Op> = Op::ALL
                .iter()
                .copied()
                .filter(|o| o.is_fp_or_csr() && !o.is_csr() && !matches!(o, Flw | Fsw | Fld | Fsd))
                .collect();
            let op = ops[rng.below(ops.len() as u64) as usize];
            let int_rd = matches!(
                op,
                FcvtWS | FcvtWuS | FcvtLS | FcvtLuS | FcvtWD | FcvtWuD | FcvtLD | FcvtLuD | FmvXW
                    | FmvXD | FclassS | FclassD | FeqS | FltS | FleS | FeqD | FltD | FleD
            );
            let int_rs1 = matches!(
                op,
                FcvtSW | FcvtSWu | FcvtSL | FcvtSLu | FcvtDW | FcvtDWu | FcvtDL | FcvtDLu | FmvWX
                    | FmvDX
            );
            let rd = if int_rd { xrd } else { fr(rng) };
            let rs1 = if int_rs1 { xr(rng) } else { fr(rng) };
            let r = if op.has_rm() { rm(rng) } else { 0 };
            out.push(inst(op, rd, rs1, fr(rng), fr(rng), r, 0));
        }
    }
}

/// Random F/D/Zicsr blocks, looped (chaining, tier-up): interpreter,
/// optimizing, baseline, tiered, AOT and MMU engines agree on registers
/// (FP ones included), fcsr, memory, pc, retired count and traps.
#[test]
fn random_fp_blocks_agree_on_every_engine() {
    let mut rng = Rng(0x0f9_7e57);
    let mut fallbacks = 0;
    let mut traps = 0;
    for case in 0..80 {
        let mut code = Vec::new();
        let n = 1 + rng.below(14);
        for _ in 0..n {
            random_fp_insts(&mut rng, &mut code);
        }
        let back = -4 * (code.len() as i32 + 1);
        code.push(w(Op::Addi, 5, 5, 0, -1));
        code.push(w(Op::Bne, 0, 5, 0, back));
        code.push(EBREAK);
        let mut data = data_pattern(&mut rng);
        for k in 0..64 {
            if rng.below(2) == 0 {
                let v = FP_EDGES[rng.below(FP_EDGES.len() as u64) as usize];
                data[8 * k..8 * k + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        let mut regs: Vec<(u8, u64)> = (1..32u8)
            .map(|r| (r, [0, 1, u64::MAX, 0x7fff_ffff, 0x8000_0000, rng.next_u64()][rng.below(6) as usize]))
            .collect();
        for r in 32..64u8 {
            let v = match rng.below(8) {
                0 => rng.next_u64(),
                _ => FP_EDGES[rng.below(FP_EDGES.len() as u64) as usize],
            };
            regs.push((r, v));
        }
        regs.push((5, 1 + rng.below(5)));
        regs.push((10, DATA + 8 * rng.below(64)));
        regs.push((11, DATA + 4 * rng.below(1000)));
        let edge = match rng.below(6) {
            0 => DATA + 1 + 2 * rng.below(100),
            1 => CODE + 0x200,
            2 => u64::MAX - 3,
            3 => DATA + DATA_LEN as u64 + 0x10_0000,
            _ => DATA + 8 * rng.below(8),
        };
        regs.push((12, edge));
        let (v, f) = check(&code, &data, &regs, &format!("fp case {case}"));
        traps += v.result.contains("illegal") as u32;
        fallbacks += f;
    }
    // Register-only F/D ops call the helper: fallbacks come from the
    // counter-free CSR-less traps only (reserved dynamic rounding modes).
    assert!(traps > 0, "no case trapped on a reserved rounding mode");
    assert!(fallbacks < 200, "{fallbacks} fallbacks: F/D ops not lowered");
}

/// Edge cases written out: the NaN-box of FLW / FMV.W.X, the sign
/// extension of FMV.X.W, sign injections on NaNs, f0 as a destination,
/// and a helper result read by the next integer instruction in the block.
#[test]
fn fp_lowering_edge_cases_on_every_engine() {
    use Op::*;
    let d = DATA;
    let mut data = vec![0u8; DATA_LEN];
    data[0..8].copy_from_slice(&0x8123_4567_89ab_cdefu64.to_le_bytes());
    data[8..12].copy_from_slice(&0x8000_0001u32.to_le_bytes());
    let fi = |op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32| {
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
    let regs = [
        (10u8, d),
        (6, 0x1234_5678_c000_0000),
        (33, 0x7ff8_0000_0000_0001), // f1: qNaN
        (34, 0x8000_0000_0000_0000), // f2: -0.0
        (35, 0x3ff0_0000_0000_0000), // f3: 1.0
    ];
    let code = [
        fi(Fld, 0, 10, 0, 0),          // f0 = mem[0]
        fi(Flw, 4, 10, 0, 8),          // f4 = box(0x80000001)
        fi(FmvXW, 7, 4, 0, 0),         // x7 = sext(0x80000001)
        fi(FmvWX, 5, 6, 0, 0),         // f5 = box(0xc0000000)
        fi(FsgnjnD, 6, 1, 1, 0),       // f6 = -qNaN
        fi(FsgnjxD, 7, 3, 2, 0),       // f7 = -1.0
        fi(FsgnjD, 8, 2, 3, 0),        // f8 = +0.0
        fi(FeqD, 8, 3, 3, 0),          // x8 = 1 (helper)
        w(Addi, 9, 8, 0, 41),          // x9 = x8 + 41 (next block)
        fi(Fsd, 0, 10, 6, 16),         // mem[16] = f6
        fi(Fsw, 0, 10, 4, 24),         // mem[24] = 0x80000001
        fi(FmvXD, 13, 0, 0, 0),        // x13 = f0
        EBREAK,
    ];
    let (v, f) = check(&code, &data, &regs, "fp edges");
    assert_eq!(f, 0, "native and helper F/D ops take no fallback");
    let g = &v.cpu.globals;
    let m64 = |o: usize| u64::from_le_bytes(v.data[o..o + 8].try_into().unwrap());
    assert_eq!(g[32], 0x8123_4567_89ab_cdef);
    assert_eq!(g[36], 0xffff_ffff_8000_0001);
    assert_eq!(g[7], 0xffff_ffff_8000_0001);
    assert_eq!(g[37], 0xffff_ffff_c000_0000);
    assert_eq!(g[38], 0xfff8_0000_0000_0001);
    assert_eq!(g[39], 0xbff0_0000_0000_0000);
    assert_eq!(g[40], 0);
    assert_eq!((g[8], g[9]), (1, 42));
    assert_eq!(m64(16), 0xfff8_0000_0000_0001);
    assert_eq!(m64(24), 0x8000_0001);
    assert_eq!(g[13], 0x8123_4567_89ab_cdef);
    // The compare fast path (ordered operands) and its NaN exit to the
    // helper (NV for flt/fle on any NaN, for feq on a signalling one).
    let one = 0x3ff0_0000_0000_0000u64;
    let two = 0x4000_0000_0000_0000u64;
    let qnan = 0x7ff8_0000_0000_0000u64;
    let snan = 0x7ff0_0000_0000_0001u64;
    let neg_inf = 0xfff0_0000_0000_0000u64;
    let max = 0x7fef_ffff_ffff_ffffu64;
    // (a, b, [feq, flt, fle], fflags of flt)
    let cases = [
        (one, one, [1, 0, 1], 0),
        (one, two, [0, 1, 1], 0),
        (two, one, [0, 0, 0], 0),
        (1 << 63, 0, [1, 0, 1], 0),
        (qnan, one, [0, 0, 0], 0x10),
        (one, snan, [0, 0, 0], 0x10),
        (neg_inf, max, [0, 1, 1], 0),
    ];
    for (a, b, want, nv) in cases {
        for (k, op) in [FeqD, FltD, FleD].into_iter().enumerate() {
            let regs = [(33u8, a), (34, b), (8, 7)];
            let (v, f) = check(&[fi(op, 8, 1, 2, 0), EBREAK], &data, &regs, &format!("{op:?} {a:#x} {b:#x}"));
            assert_eq!(f, 0);
            assert_eq!(v.cpu.globals[8], want[k], "{op:?} {a:#x} {b:#x}");
            if op == FltD {
                assert_eq!(v.cpu.fcsr, nv, "{op:?} {a:#x} {b:#x}");
            }
        }
    }
}
