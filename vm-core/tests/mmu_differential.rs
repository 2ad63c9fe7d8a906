//! Differential tests of the Sv39 MMU path: with paging on, the JIT's
//! inline TLB probe + miss handler + interpreter replay must agree with
//! the interpreter (which translates every access through the same TLB)
//! on random blocks of loads and stores around page boundaries: pages on
//! non-contiguous physical frames, read-only and unmapped pages, pages
//! without A/D set, and stores into the block's own (writable) code page.
//! Registers, pc, retired instructions, the error, guest memory and the
//! page tables themselves (A/D bits) must be identical.

use std::sync::atomic::{AtomicU64, Ordering};

use vm_core::mmu::pte::{PTE_A, PTE_D, PTE_R, PTE_W, PTE_X};
use vm_core::mmu::{MmuConfig, PrefetchConfig, TlbConfig};
use vm_core::riscv::{encode, Inst, Op};
use vm_core::{EngineKind, RunOutcome, Vm, VmConfig, PAGE_TABLE_AREA};

const MEM: u64 = 16 << 20;
const CODE: u64 = 0x10000;
/// (virtual page, physical page, PTE flags): B and C are contiguous
/// physically, A is not next to B; RO is read-only; 0x24000 is unmapped.
const PAGES: [(u64, u64, u64); 5] = [
    (CODE, 0x40_0000, PTE_R | PTE_W | PTE_X | PTE_A),
    (0x20000, 0x60_0000, PTE_R | PTE_W),
    (0x21000, 0x50_0000, PTE_R | PTE_W | PTE_A | PTE_D),
    (0x22000, 0x50_1000, PTE_R | PTE_W | PTE_A),
    (0x23000, 0x70_0000, PTE_R),
];
const EBREAK: u32 = 0x0010_0073;

/// Accesses the JIT's miss handler declined (replayed) and walks it did,
/// summed over the random cases: both paths must have been exercised.
static JIT_REPLAYS: AtomicU64 = AtomicU64::new(0);
static JIT_WALKS: AtomicU64 = AtomicU64::new(0);

use vm_core::rng::XorShift64 as Rng;

#[derive(Debug, PartialEq)]
struct Outcome {
    regs: Vec<u64>,
    pc: u64,
    icount: u64,
    result: String,
    pages: Vec<u8>,
    tables: Vec<u8>,
}

fn run(kind: EngineKind, tlb: TlbConfig, code: &[u32], regs: &[u64; 32]) -> Outcome {
    let cfg = VmConfig {
        engine: kind,
        mem_size: MEM,
        code_cache_bytes: 1 << 20,
        mmu: Some(MmuConfig {
            tlb,
            prefetch: Some(PrefetchConfig::default()),
            no_ad_update: false,
        }),
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    for (va, pa, flags) in PAGES {
        vm.map_guest(va, pa, 4096, flags).unwrap();
        let fill: Vec<u8> = (0..4096u64).map(|i| (i * 37 + va / 4096) as u8).collect();
        // Physical write: also fills the read-only page.
        vm.memory_mut().write_bytes(pa, &fill).unwrap();
    }
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    vm.write_guest(CODE, &bytes).unwrap();
    vm.cpu_mut().globals[..32].copy_from_slice(regs);
    vm.cpu_mut().globals[0] = 0;
    vm.cpu_mut().pc = CODE;
    // A replayed access ends the JIT's block early (the rest runs as a new
    // block), so allow a few blocks: every random block ends in ebreak.
    let result = match vm.run_blocks(8) {
        Ok(RunOutcome::QuantumExpired) => "quantum".to_string(),
        Ok(RunOutcome::Exited(c)) => format!("exit {c}"),
        Err(e) => e.to_string(),
    };
    let mut pages = Vec::new();
    for (_, pa, _) in PAGES {
        let mut p = vec![0u8; 4096];
        vm.memory().read_bytes(pa, &mut p).unwrap();
        pages.extend_from_slice(&p);
    }
    if kind == EngineKind::Jit {
        let st = vm.stats();
        JIT_REPLAYS.fetch_add(st.mmu_replays, Ordering::Relaxed);
        JIT_WALKS.fetch_add(st.mmu.walks, Ordering::Relaxed);
    }
    let mut tables = vec![0u8; 64 << 10];
    vm.memory().read_bytes(0, &mut tables).unwrap();
    Outcome {
        regs: vm.cpu().globals[..32].to_vec(),
        pc: vm.cpu().pc,
        icount: vm.cpu().icount,
        result,
        pages,
        tables,
    }
}

const MEM_OPS: [Op; 11] = [
    Op::Lb,
    Op::Lh,
    Op::Lw,
    Op::Ld,
    Op::Lbu,
    Op::Lhu,
    Op::Lwu,
    Op::Sb,
    Op::Sh,
    Op::Sw,
    Op::Sd,
];

fn random_regs(rng: &mut Rng) -> [u64; 32] {
    let mut regs = [0u64; 32];
    for r in regs.iter_mut().skip(1) {
        *r = rng.next_u64() >> rng.below(64);
    }
    for r in [5usize, 6, 10, 11] {
        regs[r] = match rng.below(9) {
            0 => 0x21000 - rng.below(12),    // A|B: non-contiguous crossing
            1 => 0x22000 - rng.below(12),    // B|C: contiguous crossing
            2 => 0x23000 - rng.below(12),    // C|RO
            3 => 0x24000 - rng.below(12),    // RO|unmapped
            4 => CODE + 64 + rng.below(256), // own code page (SMC)
            5 => rng.next_u64(),             // anywhere, often non-canonical
            _ => 0x20000 + rng.below(4 * 4096),
        };
    }
    regs
}

fn random_block(rng: &mut Rng) -> Vec<u32> {
    let n = 1 + rng.below(12) as usize;
    let mut code = Vec::with_capacity(n + 1);
    for _ in 0..n {
        let reg = |rng: &mut Rng| [5u8, 6, 10, 11, 12, 13][rng.below(6) as usize];
        let inst = if rng.below(4) == 0 {
            Inst {
                op: [Op::Addi, Op::Add, Op::Xor][rng.below(3) as usize],
                rd: [12u8, 13, 5][rng.below(3) as usize],
                rs1: reg(rng),
                rs2: reg(rng),
                imm: rng.below(64) as i32 - 32,
                rs3: 0,
                rm: 0,
                len: 4,
            }
        } else {
            Inst {
                op: MEM_OPS[rng.below(MEM_OPS.len() as u64) as usize],
                rd: [12u8, 13, 14][rng.below(3) as usize],
                rs1: reg(rng),
                rs2: reg(rng),
                imm: rng.below(64) as i32 - 32,
                rs3: 0,
                rm: 0,
                len: 4,
            }
        };
        code.push(encode(&inst));
    }
    code.push(EBREAK);
    code
}

fn check(tlb: TlbConfig, code: &[u32], regs: &[u64; 32], what: &str) {
    let a = run(EngineKind::Interp, tlb, code, regs);
    let b = run(EngineKind::Jit, tlb, code, regs);
    if a != b {
        let dis: Vec<String> = code
            .iter()
            .map(|w| format!("{:?}", vm_core::riscv::decode(*w)))
            .collect();
        panic!(
            "{what}: interp and jit disagree under the MMU\ncode: {dis:#?}\nregs in: {regs:x?}\nregs: {:x?}\n  vs  {:x?}\npc {:#x} vs {:#x}, icount {} vs {}\nresult {:?} vs {:?}\npages equal: {}, tables equal: {}",
            a.regs, b.regs, a.pc, b.pc, a.icount, b.icount, a.result, b.result, a.pages == b.pages, a.tables == b.tables
        );
    }
}

#[test]
fn random_memory_blocks_agree_with_the_interpreter_under_the_mmu() {
    let mut rng = Rng(0x005e_ed0f_71b5_u64);
    for (i, tlb) in [
        TlbConfig::default(),
        TlbConfig {
            entries: 4,
            ways: 1,
        },
    ]
    .into_iter()
    .enumerate()
    {
        for k in 0..400 {
            let code = random_block(&mut rng);
            let regs = random_regs(&mut rng);
            check(tlb, &code, &regs, &format!("tlb #{i} case {k}"));
        }
    }
    let (replays, walks) = (
        JIT_REPLAYS.load(Ordering::Relaxed),
        JIT_WALKS.load(Ordering::Relaxed),
    );
    assert!(
        replays > 100 && walks > 400,
        "replays {replays}, walks {walks}"
    );
}

#[test]
fn page_faults_name_address_and_access() {
    let store_ro = encode(&Inst {
        op: Op::Sd,
        rd: 0,
        rs1: 10,
        rs2: 11,
        imm: 8,
        rs3: 0,
        rm: 0,
        len: 4,
    });
    let load_unmapped = encode(&Inst {
        op: Op::Lw,
        rd: 12,
        rs1: 10,
        rs2: 0,
        imm: 0x10,
        rs3: 0,
        rm: 0,
        len: 4,
    });
    for engine in [EngineKind::Interp, EngineKind::Jit] {
        let mut regs = [0u64; 32];
        regs[10] = 0x23000;
        let o = run(engine, TlbConfig::default(), &[store_ro, EBREAK], &regs);
        assert!(
            o.result.contains("store page fault at 0x23008") && o.result.contains("Denied"),
            "{engine:?}: {}",
            o.result
        );
        assert_eq!(o.pc, CODE);
        regs[10] = 0x23ff8;
        let o = run(
            engine,
            TlbConfig::default(),
            &[load_unmapped, EBREAK],
            &regs,
        );
        assert!(
            o.result.contains("load page fault at 0x24008") && o.result.contains("NotMapped"),
            "{engine:?}: {}",
            o.result
        );
    }
}

#[test]
fn physical_layout_keeps_page_tables_below_the_program() {
    // The address space puts page tables below PAGE_TABLE_AREA; the test
    // pages above must not collide with them.
    for (_, pa, _) in PAGES {
        assert!(pa >= PAGE_TABLE_AREA);
    }
}

/// Runs of accesses through one base register share one TLB probe in the
/// JIT; a run whose range reaches into a faulting page must still execute
/// its leading accesses and fault exactly at the first bad one.
#[test]
fn access_runs_crossing_into_a_faulting_page_stay_precise() {
    let run = |op: Op, dst_or_src: [u8; 3]| -> Vec<u32> {
        let mut v: Vec<u32> = dst_or_src
            .iter()
            .enumerate()
            .map(|(k, &r)| {
                let (rd, rs2) = if matches!(op, Op::Sd) { (0, r) } else { (r, 0) };
                encode(&Inst {
                    op,
                    rd,
                    rs1: 10,
                    rs2,
                    imm: 8 * k as i32,
                    rs3: 0,
                    rm: 0,
                    len: 4,
                })
            })
            .collect();
        v.push(EBREAK);
        v
    };
    let mut regs = [0u64; 32];
    regs[12] = 0x1111;
    regs[13] = 0x2222;
    regs[14] = 0x3333;
    for (base, op) in [
        (0x23ff0u64, Op::Ld), // RO page, then unmapped
        (0x22ff0, Op::Sd),    // writable page, then read-only
        (0x20ff0, Op::Ld),    // A|B: non-contiguous but both mapped
        (0x20ff0, Op::Sd),
        (0x21ff8, Op::Sd), // contiguous B|C
    ] {
        regs[10] = base;
        let code = run(op, [12, 13, 14]);
        check(
            TlbConfig::default(),
            &code,
            &regs,
            &format!("{op:?} run at {base:#x}"),
        );
        let o = run_vm_once(&code, &regs);
        if base == 0x23ff0 || (base == 0x22ff0 && op == Op::Sd) {
            assert_eq!(o.icount, 2, "{op:?} at {base:#x}: {}", o.result);
            assert!(
                o.result.contains("page fault at 0x24000")
                    || o.result.contains("page fault at 0x23000"),
                "{}",
                o.result
            );
        } else {
            assert_eq!(o.icount, 3, "{op:?} at {base:#x}: {}", o.result);
        }
    }
}

fn run_vm_once(code: &[u32], regs: &[u64; 32]) -> Outcome {
    run(EngineKind::Jit, TlbConfig::default(), code, regs)
}

/// Svade (`MmuConfig::no_ad_update`): a store to a clean page is a page
/// fault instead of a hardware D update, under every engine; a dirty page
/// is written normally.
#[test]
fn svade_mode_faults_on_clean_pages() {
    let store = encode(&Inst {
        op: Op::Sd,
        rd: 0,
        rs1: 10,
        rs2: 11,
        imm: 0,
        rs3: 0,
        rm: 0,
        len: 4,
    });
    for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
        for (flags, ok) in [
            (PTE_R | PTE_W | PTE_A, false),
            (PTE_R | PTE_W | PTE_A | PTE_D, true),
        ] {
            let cfg = VmConfig {
                engine,
                mem_size: MEM,
                mmu: Some(MmuConfig {
                    no_ad_update: true,
                    ..MmuConfig::default()
                }),
                ..VmConfig::default()
            };
            let mut vm =
                Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
            vm.map_guest(CODE, 0x40_0000, 4096, PTE_R | PTE_X | PTE_A)
                .unwrap();
            vm.map_guest(0x20000, 0x60_0000, 4096, flags).unwrap();
            let code: Vec<u8> = [store, EBREAK]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect();
            vm.memory_mut().write_bytes(0x40_0000, &code).unwrap();
            vm.cpu_mut().globals[10] = 0x20010;
            vm.cpu_mut().globals[11] = 0xdead_beef;
            vm.cpu_mut().pc = CODE;
            let e = vm.run().unwrap_err().to_string();
            if ok {
                assert!(e.contains("breakpoint"), "{engine:?}: {e}");
                assert_eq!(vm.memory().load(0x60_0010, 8).unwrap(), 0xdead_beef);
            } else {
                assert!(
                    e.contains("store page fault at 0x20010 (AccessedDirty)"),
                    "{engine:?}: {e}"
                );
                assert_eq!(vm.memory().load(0x60_0010, 8).unwrap(), 0);
            }
        }
    }
}

/// A self-loop whose two loads keep their page translations in two
/// registers across iterations (slot sites of a two-probe loop): strides
/// over many pages, with a tiny TLB so full probes and served misses
/// happen on both sites, must give the interpreter's results.
#[test]
fn two_site_loop_over_many_pages_matches_the_interpreter() {
    let enc = |op, rd, rs1, rs2, imm| {
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
    let code = [
        enc(Op::Ld, 5, 10, 0, 0),
        enc(Op::Ld, 6, 11, 0, 0),
        enc(Op::Add, 12, 12, 5, 0),
        enc(Op::Xor, 12, 12, 6, 0),
        enc(Op::Addi, 10, 10, 0, 2040),
        enc(Op::Addi, 11, 11, 0, 1000),
        enc(Op::Addi, 13, 13, 0, -1),
        enc(Op::Bne, 0, 13, 0, -28),
        EBREAK,
    ];
    let mut results = Vec::new();
    for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
        for tlb in [
            TlbConfig::default(),
            TlbConfig {
                entries: 4,
                ways: 1,
            },
        ] {
            let cfg = VmConfig {
                engine,
                mem_size: MEM,
                tier_threshold: 2,
                mmu: Some(MmuConfig {
                    tlb,
                    ..MmuConfig::default()
                }),
                ..VmConfig::default()
            };
            let mut vm =
                Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
            vm.map_guest(CODE, 0x40_0000, 4096, PTE_R | PTE_X | PTE_A)
                .unwrap();
            // 96 pages, deliberately not physically contiguous with the code.
            vm.map_guest(0x10_0000, 0x48_1000, 96 * 4096, PTE_R | PTE_A)
                .unwrap();
            let fill: Vec<u8> = (0..96 * 4096u64).map(|i| (i * 131 % 251) as u8).collect();
            vm.memory_mut().write_bytes(0x48_1000, &fill).unwrap();
            let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
            vm.memory_mut().write_bytes(0x40_0000, &bytes).unwrap();
            let c = vm.cpu_mut();
            c.globals[10] = 0x10_0000;
            c.globals[11] = 0x10_0008;
            c.globals[12] = 0;
            c.globals[13] = 180;
            c.pc = CODE;
            let e = vm.run().unwrap_err();
            assert!(e.to_string().contains("breakpoint"), "{engine:?}: {e}");
            results.push((vm.cpu().globals[12], vm.cpu().icount));
            if engine == EngineKind::Jit && tlb.entries == 4 {
                assert!(vm.stats().mmu.walks > 50, "{:?}", vm.stats().mmu);
            }
        }
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
}
