//! Self-modifying code against chained blocks: a hot loop chained to
//! itself is rewritten by a store from another block on the same page; the
//! store must unlink the chained jump and the loop must run the new code.
//! Also with the Sv39 MMU on, including a store through a second virtual
//! mapping (alias) of the code's physical page.

use vm_core::mmu::pte::{PTE_A, PTE_R, PTE_W, PTE_X};
use vm_core::mmu::MmuConfig;
use vm_core::{EngineKind, Vm, VmConfig, VmError, PAGE_TABLE_AREA};

/// Virtual alias of the code page (MMU runs): same physical page, RW only.
const ALIAS: u64 = 0x50000;
use vm_core::riscv::{encode, Inst, Op};

fn i(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> u32 {
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

const A0: u8 = 10;
const S0: u8 = 8;
const S1: u8 = 9;
const T0: u8 = 5;
const T1: u8 = 6;
const T2: u8 = 7;

/// Two rounds of a 100-iteration loop whose first instruction is rewritten
/// from `addi a0, a0, 1` to `addi a0, a0, 2` between the rounds. With
/// `split`, the loop body is two blocks joined by chained jumps; without,
/// it is one block that jumps back to itself (registers carried across
/// iterations by the JIT).
fn program(split: bool, store_base: u64) -> Vec<u32> {
    let new_body = i(Op::Addi, A0, A0, 0, 2);
    let mut p = vec![
        i(Op::Lui, S0, 0, 0, store_base as i32), // 0x00 s0 = page the store goes through
        i(Op::Addi, S1, 0, 0, 2),                // 0x04 two rounds
        i(Op::Addi, T0, 0, 0, 0),                // 0x08
        i(Op::Addi, T1, 0, 0, 100),              // 0x0c
        i(Op::Addi, A0, A0, 0, 1),               // 0x10 loop head (rewritten)
    ];
    if split {
        p.push(i(Op::Beq, 0, 0, 0, 4)); // ends the block: jump to the next insn
    }
    let back = -4 * (p.len() as i32 - 4 + 1);
    p.extend([
        i(Op::Addi, T0, T0, 0, 1),
        i(Op::Bne, 0, T0, T1, back), // -> 0x10
        i(Op::Lui, T2, 0, 0, (new_body & 0xffff_f000) as i32),
        i(Op::Addi, T2, T2, 0, (new_body & 0xfff) as i32),
        i(Op::Sw, 0, S0, T2, 0x10), // rewrite 0x10
        i(Op::Addi, S1, S1, 0, -1),
    ]);
    let back = 8 - 4 * p.len() as i32;
    p.push(i(Op::Bne, 0, S1, 0, back)); // -> 0x08
    p.push(0x0010_0073); // ebreak
    p
}

#[test]
fn rewriting_a_hot_loop_takes_effect_under_every_engine() {
    // (MMU on, store through the alias mapping)
    let modes = [(false, false), (true, false), (true, true)];
    for (split, (mmu, alias)) in [false, true]
        .into_iter()
        .flat_map(|s| modes.into_iter().map(move |m| (s, m)))
    {
        let prog = program(split, if alias { ALIAS } else { 0x10000 });
        let ebreak_pc = 0x10000 + 4 * (prog.len() as u64 - 1);
        let per_iter = if split { 4 } else { 3 };
        for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
            let cfg = VmConfig {
                engine,
                mem_size: 32 << 20,
                tier_threshold: 10,
                mmu: mmu.then(MmuConfig::default),
                ..VmConfig::default()
            };
            let mut vm =
                Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
            let bytes: Vec<u8> = prog.iter().flat_map(|w| w.to_le_bytes()).collect();
            if mmu {
                let pa = 0x10000 + PAGE_TABLE_AREA;
                vm.map_guest(0x10000, pa, 4096, PTE_R | PTE_W | PTE_X | PTE_A)
                    .unwrap();
                vm.map_guest(ALIAS, pa, 4096, PTE_R | PTE_W | PTE_A)
                    .unwrap();
            }
            vm.write_guest(0x10000, &bytes).unwrap();
            vm.cpu_mut().pc = 0x10000;
            let err = vm.run().unwrap_err();
            assert!(
                matches!(err, VmError::Breakpoint { pc } if pc == ebreak_pc),
                "{engine:?} split={split}: {err}"
            );
            // First round adds 1 a hundred times, second round 2.
            assert_eq!(
                vm.cpu().globals[A0 as usize],
                300,
                "{engine:?} split={split}"
            );
            let s = vm.stats();
            assert!(s.invalidations >= 1, "{engine:?}: {s:?}");
            if engine != EngineKind::Interp && split {
                assert!(
                    s.chains_patched >= 1,
                    "{engine:?}: the loop must have been chained: {s:?}"
                );
            }
            assert_eq!(
                s.insns_executed,
                2 + 2 * (2 + 100 * per_iter + 5),
                "{engine:?} split={split}"
            );
        }
    }
}

/// A code region far too small for the program forces repeated full
/// flushes (dropping every compiled block and chain) in the middle of runs.
#[test]
fn tiny_code_region_flushes_and_stays_correct() {
    let elf = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/guest/bin/strings.elf"
    ))
    .unwrap();
    let expected = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/guest/expected/strings.stdout"
    ))
    .unwrap();
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    for (engine, mmu) in [
        (EngineKind::Jit, None),
        (EngineKind::Tiered, None),
        (EngineKind::Jit, Some(MmuConfig::default())),
    ] {
        let out = Buf::default();
        let cfg = VmConfig {
            engine,
            code_cache_bytes: 8192,
            tier_threshold: 2,
            mmu,
            ..VmConfig::default()
        };
        let mut vm = Vm::new(cfg, Box::new(out.clone()), Box::new(std::io::sink())).unwrap();
        vm.load_elf(&elf, &["strings".into()]).unwrap();
        assert_eq!(vm.run().unwrap(), 44);
        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
            expected
        );
        let s = vm.stats();
        assert!(
            engine == EngineKind::Tiered || s.blocks_compiled > s.blocks_decoded,
            "{engine:?}: flushes must force recompiles: {s:?}"
        );
    }
}

/// A host-side write (`Vm::write_guest`, as the loader or a system call
/// would do) through a virtual alias of a code page drops the stale
/// translations decoded through the other mapping.
#[test]
fn host_writes_through_an_alias_invalidate_code_under_the_mmu() {
    for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
        let cfg = VmConfig {
            engine,
            mem_size: 32 << 20,
            tier_threshold: 1,
            mmu: Some(MmuConfig::default()),
            ..VmConfig::default()
        };
        let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        let pa = 0x10000 + PAGE_TABLE_AREA;
        vm.map_guest(0x10000, pa, 4096, PTE_R | PTE_X | PTE_A)
            .unwrap();
        vm.map_guest(ALIAS, pa, 4096, PTE_R | PTE_W | PTE_A)
            .unwrap();
        let prog = |imm| -> Vec<u8> {
            [i(Op::Addi, A0, A0, 0, imm), 0x0010_0073]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect()
        };
        vm.write_guest(ALIAS, &prog(1)).unwrap();
        for (round, imm, want) in [(0, 1, 1u64), (1, 1, 2), (2, 5, 7)] {
            if round == 2 {
                vm.write_guest(ALIAS, &prog(imm)).unwrap();
            }
            vm.cpu_mut().pc = 0x10000;
            let e = vm.run().unwrap_err();
            assert!(matches!(e, VmError::Breakpoint { .. }), "{engine:?}: {e}");
            assert_eq!(
                vm.cpu().globals[A0 as usize],
                want,
                "{engine:?} round {round}"
            );
        }
    }
}
