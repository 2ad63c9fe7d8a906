//! The user API at the crate root is enough to build, load, run and inspect
//! a VM on every engine, flat and paged (nothing here names an internal
//! module).

use vm_core::riscv::{decode, encode, Inst, Op};
use vm_core::{
    check_riscv_flags, EngineKind, GuestState, MmuConfig, RunOutcome, Vm, VmConfig, VmError,
    IOV_MAX, NUM_GLOBALS,
};

fn addi(rd: u8, rs1: u8, imm: i32) -> u32 {
    encode(&Inst {
        op: Op::Addi,
        rd,
        rs1,
        rs2: 0,
        imm,
        rs3: 0,
        rm: 0,
        len: 4,
    })
}

#[test]
fn root_api_runs_guest_code_on_every_engine() {
    const CODE: u64 = 0x10000;
    // a0 = 5; a0 += 37; a7 = 93 (exit); ecall
    let words = [
        addi(10, 0, 5),
        addi(10, 10, 37),
        addi(17, 0, 93),
        0x0000_0073,
    ];
    assert_eq!(decode(words[0]).unwrap().op, Op::Addi);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
        for paged in [false, true] {
            let cfg = VmConfig {
                engine,
                mem_size: 32 << 20,
                code_cache_bytes: 1 << 20,
                mmu: paged.then(MmuConfig::default),
                ..VmConfig::default()
            };
            let mut vm =
                Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
            if paged {
                use vm_core::mmu::pte::{PTE_R, PTE_W, PTE_X};
                vm.map_guest(CODE, CODE, 0x1000, PTE_R | PTE_W | PTE_X)
                    .unwrap();
                vm.write_guest(CODE, &bytes).unwrap();
            } else {
                vm.memory_mut().write_bytes(CODE, &bytes).unwrap();
                assert_eq!(vm.memory().load(CODE, 4).unwrap(), words[0] as u64);
            }
            let regs: &mut GuestState = vm.cpu_mut();
            regs.pc = CODE;
            assert_eq!(regs.globals.len(), NUM_GLOBALS);
            assert_eq!(vm.run_blocks(1_000).unwrap(), RunOutcome::Exited(42));
            assert_eq!(vm.cpu().icount, 4);
            assert_eq!(vm.stats().insns_executed, 4);
            vm.reset_mmu_stats();
            if let Some(m) = vm.mmu() {
                assert_eq!(m.stats().walks, 0);
            }
        }
    }
}

#[test]
fn root_api_exposes_the_loader_checks_and_limits() {
    assert!(check_riscv_flags(0).is_ok());
    // EF_RISCV_RVC (the C extension) is supported, RV64E is not.
    assert!(check_riscv_flags(0x1).is_ok());
    assert!(check_riscv_flags(0x8).is_err());
    assert!(check_riscv_flags(0x5).is_ok());
    assert!(check_riscv_flags(0x7).is_err());
    assert_eq!(IOV_MAX, 1024);
    let mut vm = Vm::new(
        VmConfig::default(),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    )
    .unwrap();
    let e = vm.load_elf(b"not an elf", &["x".into()]).unwrap_err();
    assert!(matches!(e, VmError::Elf(_)), "{e}");
}
