//! The C extension on every engine: random blocks mixing compressed and
//! 32-bit instructions (interpreter against the optimizing JIT tier, the
//! baseline tier, the tiered engine and the JIT under the MMU), 32-bit
//! instructions straddling a page boundary (flat and Sv39, the second
//! page mapped or not), self-modifying compressed code, and the committed
//! workloads built with `-march=rv64imc` (`guest/bin/rvc`) against the
//! outputs qemu-riscv64 and the rv64im builds give (`guest/expected`).

use std::path::PathBuf;
use std::process::Command;

use vm_core::mmu::pte::{PTE_A, PTE_D, PTE_R, PTE_W, PTE_X};
use vm_core::mmu::MmuConfig;
use vm_core::riscv::{decode_compressed, encode, Inst, Op};
use vm_core::rng::XorShift64 as Rng;
use vm_core::{EngineKind, RunOutcome, Vm, VmConfig};

const MEM: u64 = 16 << 20;
const CODE: u64 = 0x10000;
const DATA: u64 = 0x20000;
const EBREAK: u32 = 0x0010_0073;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Engine {
    Interp,
    Jit,
    Baseline,
    Tiered,
    InterpMmu,
    JitMmu,
}

/// Flat-memory engines, then the MMU pair (compared with each other:
/// unmapped addresses fault only under the MMU).
const ENGINES: [Engine; 6] = [
    Engine::Interp,
    Engine::Jit,
    Engine::Baseline,
    Engine::Tiered,
    Engine::InterpMmu,
    Engine::JitMmu,
];

fn is_mmu(e: Engine) -> bool {
    matches!(e, Engine::InterpMmu | Engine::JitMmu)
}

#[derive(Debug, PartialEq)]
struct Outcome {
    regs: Vec<u64>,
    pc: u64,
    icount: u64,
    result: String,
    data: Vec<u8>,
}

fn vm_for(engine: Engine) -> Vm {
    let cfg = VmConfig {
        engine: match engine {
            Engine::Interp | Engine::InterpMmu => EngineKind::Interp,
            Engine::Tiered => EngineKind::Tiered,
            _ => EngineKind::Jit,
        },
        mem_size: MEM,
        code_cache_bytes: 1 << 20,
        baseline: engine == Engine::Baseline,
        // Baseline code stays baseline code (no tier-up mid-test).
        tier_up_threshold: if engine == Engine::Baseline { 0 } else { 64 },
        tier_threshold: 2,
        insn_budget: Some(200_000),
        mmu: is_mmu(engine).then(MmuConfig::default),
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    if is_mmu(engine) {
        // Map the code and data pages.
        let rwx = PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;
        vm.map_guest(CODE, CODE + 0x10_0000, 0x2000, rwx).unwrap();
        vm.map_guest(
            DATA,
            DATA + 0x10_0000,
            0x1000,
            PTE_R | PTE_W | PTE_A | PTE_D,
        )
        .unwrap();
    }
    vm
}

/// Guest address of `va` in physical memory (the MMU maps CODE and DATA
/// 1 MiB up).
fn phys(engine: Engine, va: u64) -> u64 {
    if is_mmu(engine) {
        va + 0x10_0000
    } else {
        va
    }
}

fn run(engine: Engine, code: &[u8], regs: &[u64; 32], blocks: u64) -> Outcome {
    let mut vm = vm_for(engine);
    vm.write_guest(CODE, code).unwrap();
    let fill: Vec<u8> = (0..4096u64).map(|i| (i * 37 + 11) as u8).collect();
    vm.memory_mut()
        .write_bytes(phys(engine, DATA), &fill)
        .unwrap();
    vm.cpu_mut().globals[..32].copy_from_slice(regs);
    vm.cpu_mut().globals[0] = 0;
    vm.cpu_mut().pc = CODE;
    let result = match vm.run_blocks(blocks) {
        Ok(RunOutcome::QuantumExpired) => "quantum".to_string(),
        Ok(RunOutcome::Exited(c)) => format!("exit {c}"),
        Err(e) => e.to_string(),
    };
    let mut data = vec![0u8; 4096];
    vm.memory()
        .read_bytes(phys(engine, DATA), &mut data)
        .unwrap();
    let mut c = vec![0u8; 1024];
    vm.memory().read_bytes(phys(engine, CODE), &mut c).unwrap();
    data.extend_from_slice(&c);
    Outcome {
        regs: vm.cpu().globals[..32].to_vec(),
        pc: vm.cpu().pc,
        icount: vm.cpu().icount,
        result,
        data,
    }
}

/// Registers x8..x15 (the compressed forms' registers) and sp point into
/// the data page now and then, so compressed loads and stores hit memory.
fn random_regs(rng: &mut Rng) -> [u64; 32] {
    let mut r = [0u64; 32];
    for (i, v) in r.iter_mut().enumerate() {
        *v = match rng.below(4) {
            0 if i == 2 || (8..16).contains(&i) => DATA + rng.below(512) * 4,
            1 => rng.below(64),
            _ => rng.next_u64(),
        };
    }
    r
}

/// A random legal compressed instruction that does not end a block.
fn random_compressed(rng: &mut Rng) -> u16 {
    loop {
        let h = rng.next_u64() as u16;
        if h & 3 == 3 {
            continue;
        }
        if let Ok(i) = decode_compressed(h) {
            if !i.op.ends_block() {
                return h;
            }
        }
    }
}

/// A random 32-bit ALU or memory instruction.
fn random_wide(rng: &mut Rng) -> u32 {
    let ops = [
        Op::Addi,
        Op::Add,
        Op::Sub,
        Op::Xori,
        Op::Slli,
        Op::Srai,
        Op::Addiw,
        Op::Mul,
        Op::Ld,
        Op::Lw,
        Op::Sd,
        Op::Sb,
        Op::Lui,
        Op::Auipc,
        Op::Sltu,
    ];
    let op = ops[rng.below(ops.len() as u64) as usize];
    let r = |rng: &mut Rng| [0u8, 1, 2, 8, 9, 10, 11, 12, 15, 20][rng.below(10) as usize];
    let imm = match op {
        Op::Lui | Op::Auipc => (rng.next_u64() as i32) & !0xfff,
        Op::Slli | Op::Srai => rng.below(64) as i32,
        Op::Ld | Op::Lw | Op::Sd | Op::Sb => rng.below(64) as i32 * 8 - 256,
        _ => rng.next_u64() as i32 >> 20,
    };
    encode(&Inst {
        op,
        rd: r(rng),
        rs1: r(rng),
        rs2: r(rng),
        rs3: 0,
        rm: 0,
        len: 4,
        imm,
    })
}

/// A block of `n` instructions, compressed or not, then `end`.
fn random_block(rng: &mut Rng, n: usize, end: &[u8]) -> Vec<u8> {
    let mut code = Vec::new();
    for _ in 0..n {
        if rng.below(2) == 0 {
            code.extend_from_slice(&random_compressed(rng).to_le_bytes());
        } else {
            code.extend_from_slice(&random_wide(rng).to_le_bytes());
        }
    }
    code.extend_from_slice(end);
    code
}

fn check(code: &[u8], regs: &[u64; 32], blocks: u64, what: &str) {
    let flat = run(Engine::Interp, code, regs, blocks);
    let mmu = run(Engine::InterpMmu, code, regs, blocks);
    for e in ENGINES {
        let want = if is_mmu(e) { &mmu } else { &flat };
        let got = run(e, code, regs, blocks);
        if got != *want {
            panic!(
                "{what}: {e:?} vs the interpreter, code {code:02x?}: \
                 pc {:#x} / {:#x}, icount {} / {}, {} / {}, regs {:x?} / {:x?}, data equal: {}",
                got.pc,
                want.pc,
                got.icount,
                want.icount,
                got.result,
                want.result,
                got.regs,
                want.regs,
                got.data == want.data
            );
        }
    }
}

#[test]
fn random_mixed_blocks_agree_on_every_engine() {
    let mut rng = Rng(0xc0de_c0de);
    // Ending in c.ebreak, ebreak, c.jr / c.jalr, c.j, c.beqz.
    let ends: [&[u8]; 5] = [
        &[0x02, 0x90],
        &EBREAK.to_le_bytes(),
        &[0x82, 0x80], // c.jr ra
        &[0x01, 0xa0], // c.j 0 (a self-loop: the budget ends it)
        &[0x01, 0xc0], // c.beqz s0, 0
    ];
    for case in 0..300 {
        let n = 1 + rng.below(24) as usize;
        let end = ends[case % ends.len()];
        let code = random_block(&mut rng, n, end);
        let mut regs = random_regs(&mut rng);
        // c.jr ra returns to a c.ebreak placed after the block.
        regs[1] = CODE + code.len() as u64;
        let mut full = code.clone();
        full.extend_from_slice(&[0x02, 0x90]);
        check(&full, &regs, 3, &format!("case {case}"));
    }
}

/// Loops of mixed instructions run many times: chaining into 2-byte
/// aligned block starts, the tiered engine's promotion and the baseline
/// tier's exits all agree with the interpreter.
#[test]
fn random_mixed_loops_agree_on_every_engine() {
    let mut rng = Rng(0x100f_c0de);
    for case in 0..60 {
        let n = 1 + rng.below(10) as usize;
        // addi x20, x20, -1 ; body ; bnez x20 (32-bit), back to the start.
        let mut code = Vec::new();
        code.extend_from_slice(&[0x7d, 0x1a]); // c.addi s4, -1
        let body = random_block(&mut rng, n, &[]);
        code.extend_from_slice(&body);
        let back = -(code.len() as i32);
        let bnez = encode(&Inst {
            op: Op::Bne,
            rd: 0,
            rs1: 20,
            rs2: 0,
            rs3: 0,
            rm: 0,
            len: 4,
            imm: back,
        });
        code.extend_from_slice(&bnez.to_le_bytes());
        code.extend_from_slice(&[0x02, 0x90]); // c.ebreak
        let mut regs = random_regs(&mut rng);
        regs[20] = 40 + rng.below(40);
        check(&code, &regs, 10_000, &format!("loop case {case}"));
    }
}

/// A 32-bit instruction whose second half is on the next page; under the
/// MMU the next page may be unmapped: the fetch faults at that instruction
/// (after the instructions before it retired), and a compressed
/// instruction in the last halfword of the page runs.
#[test]
fn page_straddling_instructions() {
    // c.li a0, 1 ; addi a0, a0, 2 (straddling) ; c.ebreak
    let addi = 0x0025_0513u32.to_le_bytes();
    for engine in ENGINES {
        for start in [CODE + 0xffc, CODE + 0xffa] {
            let mut vm = vm_for(engine);
            let mut code = vec![0x05, 0x45]; // c.li a0, 1
            if start == CODE + 0xffa {
                code.extend_from_slice(&[0x01, 0x00]); // c.nop
            }
            code.extend_from_slice(&addi);
            code.extend_from_slice(&[0x02, 0x90]);
            vm.write_guest(start, &code).unwrap();
            vm.cpu_mut().pc = start;
            let r = vm.run_blocks(4);
            assert!(r.is_err(), "{engine:?}: ebreak stops the run");
            assert_eq!(vm.cpu().globals[10], 3, "{engine:?} at {start:#x}");
            assert_eq!(vm.cpu().pc, CODE + 0x1002, "{engine:?}");
        }
    }
    // Under the MMU with the next page unmapped.
    let cfg = VmConfig {
        mem_size: MEM,
        mmu: Some(MmuConfig::default()),
        ..VmConfig::default()
    };
    for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
        let mut vm = Vm::new(
            VmConfig {
                engine,
                ..cfg.clone()
            },
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        )
        .unwrap();
        let rwx = PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;
        vm.map_guest(0x40000, 0x30_0000, 0x1000, rwx).unwrap();
        // c.li a0, 1 ; c.li a1, 2 ; then the first half of addi at 0x40ffe.
        vm.write_guest(0x40ffa, &[0x05, 0x45, 0x89, 0x45, addi[0], addi[1]])
            .unwrap();
        vm.cpu_mut().pc = 0x40ffa;
        let e = vm.run_blocks(4).unwrap_err().to_string();
        assert!(e.contains("0x40ffe"), "{engine:?}: {e}");
        assert_eq!(vm.cpu().pc, 0x40ffe, "{engine:?}");
        assert_eq!(vm.cpu().icount, 2, "{engine:?}");
        assert_eq!(
            (vm.cpu().globals[10], vm.cpu().globals[11]),
            (1, 2),
            "{engine:?}"
        );
        // A compressed instruction in the last halfword runs.
        let mut vm = Vm::new(
            VmConfig {
                engine,
                ..cfg.clone()
            },
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        )
        .unwrap();
        vm.map_guest(0x40000, 0x30_0000, 0x1000, rwx).unwrap();
        vm.write_guest(0x40ffc, &[0x05, 0x45, 0x02, 0x90]).unwrap(); // c.li ; c.ebreak
        vm.cpu_mut().pc = 0x40ffc;
        let e = vm.run_blocks(4).unwrap_err().to_string();
        assert!(
            e.contains("breakpoint") || e.contains("ebreak"),
            "{engine:?}: {e}"
        );
        assert_eq!(vm.cpu().globals[10], 1, "{engine:?}");
        assert_eq!(vm.cpu().pc, 0x40ffe, "{engine:?}");
    }
}

/// Stores that rewrite compressed instructions of a running loop: every
/// engine sees each new instruction (and a 32-bit store over two
/// compressed instructions replaces both).
#[test]
fn self_modifying_compressed_code() {
    // loop: c.addi a0, 1 (patched) ; c.addi a1, 1 ; sw t0, 0(t1) ; addi s4, s4, -1 ; bnez s4, loop ; c.ebreak
    // t0 alternates the first word between `c.addi a0, 1 ; c.addi a1, 1`
    // and `c.addi a0, 2 ; c.addi a1, 3` via xor with t2.
    let c1: u32 = 0x0585_0505; // c.addi a0,1 ; c.addi a1,1
    let c2: u32 = 0x058d_0509; // c.addi a0,2 ; c.addi a1,3
    let mut code = Vec::new();
    code.extend_from_slice(&c1.to_le_bytes());
    let sw = encode(&Inst {
        op: Op::Sw,
        rd: 0,
        rs1: 6,
        rs2: 5,
        rs3: 0,
        rm: 0,
        len: 4,
        imm: 0,
    });
    code.extend_from_slice(&sw.to_le_bytes());
    code.extend_from_slice(&0x0072_c2b3u32.to_le_bytes()); // xor t0, t0, t2
    code.extend_from_slice(&[0x7d, 0x1a]); // c.addi s4, -1
    let back = -(code.len() as i32);
    let bnez = encode(&Inst {
        op: Op::Bne,
        rd: 0,
        rs1: 20,
        rs2: 0,
        rs3: 0,
        rm: 0,
        len: 4,
        imm: back,
    });
    code.extend_from_slice(&bnez.to_le_bytes());
    code.extend_from_slice(&[0x02, 0x90]);
    let mut regs = [0u64; 32];
    regs[5] = c2 as u64; // t0: the next first word
    regs[6] = CODE; // t1
    regs[7] = (c1 ^ c2) as u64; // t2
    regs[20] = 100;
    // 100 iterations: the first runs c1, then c2, c1, ... alternately.
    for e in ENGINES {
        let got = run(e, &code, &regs, 100_000);
        assert_eq!(
            (got.regs[10], got.regs[11], got.icount),
            (50 + 2 * 50, 50 + 3 * 50, 100 * 6),
            "{e:?}: {}",
            got.result
        );
        assert!(got.result.contains("breakpoint"), "{e:?}: {}", got.result);
        assert_eq!(got.pc, CODE + code.len() as u64 - 2, "{e:?}");
    }
}

fn guest(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("guest")
        .join(rel)
}

/// The committed workloads built for rv64imc (`guest/build.sh`) give the
/// rv64im builds' (and qemu-riscv64's) output and exit status on every
/// engine, AOT included.
#[test]
fn rvc_workloads_match_qemu_on_every_engine() {
    let dir = std::env::temp_dir().join(format!("vm-rvc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vm = env!("CARGO_BIN_EXE_vm");
    for p in ["sieve", "matmul", "qsort", "crc32", "fib", "strings", "smc"] {
        let elf = guest(&format!("bin/rvc/{p}.elf"));
        let stdout = std::fs::read_to_string(guest(&format!("expected/{p}.stdout"))).unwrap();
        let exit: i32 = std::fs::read_to_string(guest(&format!("expected/{p}.exit")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let img = dir.join(format!("{p}.vmimg"));
        let out = Command::new(vm)
            .arg("aot")
            .arg(&elf)
            .arg("-o")
            .arg(&img)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let img = img.to_str().unwrap().to_string();
        for flags in [
            vec!["--engine", "interp"],
            vec!["--engine", "jit"],
            vec!["--engine", "jit", "--no-baseline"],
            vec!["--engine", "tiered", "--threshold", "2"],
            vec!["--engine", "jit", "--mmu"],
            vec!["--engine", "interp", "--mmu"],
            vec!["--engine", "aot", "--on-bad-image", "stop", "--image", &img],
        ] {
            let out = Command::new(vm)
                .arg("run")
                .args(&flags)
                .arg(&elf)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                stdout,
                "{p} {flags:?}: {err}"
            );
            assert_eq!(out.status.code(), Some(exit), "{p} {flags:?}: {err}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A block with compressed instructions above 2 GiB: the baseline tier's
/// fault tail then adds the instruction offset to a 64-bit pc (the other
/// form of the tail); the faulting pc, retired count and registers match
/// the interpreter's.
#[test]
fn faults_in_compressed_blocks_above_2_gib() {
    let high = 0x8000_0000u64;
    // c.li a0, 1 ; c.li a1, 2 ; ld a2, 0(a3) (a3 out of memory) ; c.ebreak
    let ld = encode(&Inst {
        op: Op::Ld,
        rd: 12,
        rs1: 13,
        rs2: 0,
        rs3: 0,
        rm: 0,
        len: 4,
        imm: 0,
    });
    let mut code = vec![0x05, 0x45, 0x89, 0x45];
    code.extend_from_slice(&ld.to_le_bytes());
    code.extend_from_slice(&[0x02, 0x90]);
    let mut seen = Vec::new();
    for (engine, baseline) in [
        (EngineKind::Interp, false),
        (EngineKind::Jit, false),
        (EngineKind::Jit, true),
    ] {
        let cfg = VmConfig {
            engine,
            mem_size: high + (1 << 20),
            code_cache_bytes: 1 << 20,
            baseline,
            tier_up_threshold: 0,
            ..VmConfig::default()
        };
        let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        vm.write_guest(high + 0x10, &code).unwrap();
        vm.cpu_mut().globals[13] = u64::MAX - 7;
        vm.cpu_mut().pc = high + 0x10;
        let e = vm.run_blocks(4).unwrap_err().to_string();
        assert!(e.contains("0x80000014"), "{engine:?} {baseline}: {e}");
        seen.push((
            vm.cpu().pc,
            vm.cpu().icount,
            vm.cpu().globals[10],
            vm.cpu().globals[11],
            e,
        ));
    }
    assert_eq!(seen[0].0, high + 0x14);
    assert_eq!(seen[0].1, 2);
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
}
