//! Cost of the JIT's fallback for instructions without a native lowering
//! (`exit_code::INTERPRET`): a loop of `amoadd.d` (interpreted by the
//! dispatcher) against the same loop with the native `ld; add; sd`, on the
//! JIT (optimizing and baseline tiers) and the interpreter.
//!
//! `cargo run --profile test -p vm-core --example fallback_cost`

use std::time::Instant;

use vm_core::riscv::{encode, Inst, Op};
use vm_core::{EngineKind, Vm, VmConfig};

const CODE: u64 = 0x10000;
const DATA: u64 = 0x20000;
const ITERS: u64 = 2_000_000;

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

/// Seconds to run `body` (then `addi x5, x5, -1 ; bne x5, x0, start`) ITERS times.
fn time(cfg: VmConfig, body: &[u32]) -> (f64, u64) {
    let mut code = body.to_vec();
    let back = -4 * (code.len() as i32 + 1);
    code.push(w(Op::Addi, 5, 5, 0, -1));
    code.push(w(Op::Bne, 0, 5, 0, back));
    code.push(w(Op::Addi, 17, 0, 0, 93));
    code.push(w(Op::Ecall, 0, 0, 0, 0));
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    vm.memory_mut().write_bytes(CODE, &bytes).unwrap();
    let g = vm.cpu_mut();
    g.pc = CODE;
    g.globals[5] = ITERS;
    g.globals[6] = 3;
    g.globals[10] = DATA;
    let t = Instant::now();
    vm.run().unwrap();
    let s = t.elapsed().as_secs_f64();
    let mut v = [0u8; 8];
    vm.memory().read_bytes(DATA, &mut v).unwrap();
    assert_eq!(u64::from_le_bytes(v), 3 * ITERS);
    (s, vm.stats().fallback_insns)
}

fn main() {
    let amo = [w(Op::AmoaddD, 0, 10, 6, 0)];
    let native = [
        w(Op::Ld, 7, 10, 0, 0),
        w(Op::Add, 7, 7, 6, 0),
        w(Op::Sd, 0, 10, 7, 0),
    ];
    let cfgs = [
        (
            "jit (optimizing)",
            VmConfig {
                engine: EngineKind::Jit,
                baseline: false,
                ..VmConfig::default()
            },
        ),
        (
            "jit (baseline)",
            VmConfig {
                engine: EngineKind::Jit,
                baseline: true,
                tier_up_threshold: 0,
                ..VmConfig::default()
            },
        ),
        (
            "interp",
            VmConfig {
                engine: EngineKind::Interp,
                ..VmConfig::default()
            },
        ),
    ];
    for (name, cfg) in cfgs {
        let mut best = [f64::MAX; 2];
        let mut fallbacks = 0;
        for _ in 0..5 {
            let (a, f) = time(cfg.clone(), &amo);
            let (n, _) = time(cfg.clone(), &native);
            best[0] = best[0].min(a);
            best[1] = best[1].min(n);
            fallbacks = f;
        }
        let per = |s: f64| s * 1e9 / ITERS as f64;
        println!(
            "{name:18} amoadd.d loop {:6.1} ns/iter ({fallbacks} fallbacks), ld/add/sd loop {:6.1} ns/iter, difference {:6.1} ns",
            per(best[0]),
            per(best[1]),
            per(best[0]) - per(best[1])
        );
    }
}
