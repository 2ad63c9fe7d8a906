//! The `vm` command line, and guest errors surfacing as typed, readable
//! errors (never panics): instruction budget, illegal instructions, unknown
//! system calls, fetch faults, malformed ELF files.

use std::path::PathBuf;
use std::process::Command;

use vm_core::riscv::{encode, Inst, Op};
use vm_core::ElfError;
use vm_core::{EngineKind, Vm, VmConfig, VmError};

fn elf(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("guest/bin/{name}.elf"))
}

fn vm(engine: EngineKind) -> Vm {
    let cfg = VmConfig {
        engine,
        mem_size: 32 << 20,
        code_cache_bytes: 1 << 20,
        ..VmConfig::default()
    };
    Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap()
}

/// Writes `words` at the test code address and points the pc there.
fn load_code(v: &mut Vm, words: &[u32]) {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    v.memory_mut().write_bytes(CODE, &bytes).unwrap();
    v.cpu_mut().pc = CODE;
}

const CODE: u64 = 0x10000;

/// `jal zero, 0`: an infinite loop.
const JAL_SELF: u32 = 0x0000_006f;

/// `addi rd, zero, imm`.
fn li(rd: u8, imm: i32) -> u32 {
    encode(&Inst {
        op: Op::Addi,
        rd,
        rs1: 0,
        rs2: 0,
        imm,
        rs3: 0,
        rm: 0,
        len: 4,
    })
}

const ENGINES: [EngineKind; 3] = [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered];

#[test]
fn cli_runs_a_guest_with_args_and_exit_code() {
    for engine in ["interp", "jit", "tiered"] {
        let out = Command::new(env!("CARGO_BIN_EXE_vm"))
            .args(["run", "--engine", engine, "--stats"])
            .arg(elf("fib"))
            .arg("20")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "fib(20)=6765\n",
            "{engine}"
        );
        assert_eq!(out.status.code(), Some(6765 % 200), "{engine}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("instructions executed"), "{err}");
        assert!(err.contains("blocks compiled"), "{err}");
    }
}

#[test]
fn cli_reports_errors_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_vm"))
        .args(["run", "--budget", "1000"])
        .arg(elf("fib"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("instruction budget of 1000 exhausted"));
    let out = Command::new(env!("CARGO_BIN_EXE_vm"))
        .args(["run", "--engine", "turbo", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'turbo' for '--engine"));
    let out = Command::new(env!("CARGO_BIN_EXE_vm"))
        .args(["run", "/nonexistent.elf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let out = Command::new(env!("CARGO_BIN_EXE_vm"))
        .arg("bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}

fn vm_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vm"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Numbers out of range or overflowing their type are refused with an
/// error naming the flag, never wrapped or truncated.
#[test]
fn cli_refuses_out_of_range_numbers_naming_the_flag() {
    let fib = elf("fib");
    let fib = fib.to_str().unwrap();
    for (flag, value) in [
        ("--mem-mb", "17592186044432"),
        ("--mem-mb", "4"),
        ("--mem-mb", "-1"),
        ("--threshold", "4294967297"),
        ("--threshold", "0"),
        ("--budget", "18446744073709551616"),
        ("--budget", "0"),
        ("--budget", "ten"),
        ("--tlb-entries", "4294967296"),
        ("--tlb-ways", "0"),
    ] {
        // `--flag=value`, so "-1" reaches the flag's parser too.
        let (code, _, err) = vm_cli(&["run", &format!("{flag}={value}"), fib]);
        assert_eq!(code, Some(125), "{flag} {value}: {err}");
        assert!(
            err.contains(&format!("invalid value '{value}' for '{flag}")),
            "{flag} {value}: {err}"
        );
    }
    // In-range values still run.
    let (code, out, err) = vm_cli(&[
        "run",
        "--mem-mb",
        "64",
        "--threshold",
        "4294967295",
        fib,
        "10",
    ]);
    assert_eq!((code, out.as_str()), (Some(55), "fib(10)=55\n"), "{err}");
}

/// Everything after the program goes to the guest, flags included; an
/// unknown flag before it is an error naming it.
#[test]
fn cli_passes_everything_after_the_program_to_the_guest() {
    let fib = elf("fib");
    let fib = fib.to_str().unwrap();
    // `--stats` after the program is the guest's: no statistics.
    let (code, out, err) = vm_cli(&["run", fib, "10", "--stats"]);
    assert_eq!((code, out.as_str()), (Some(55), "fib(10)=55\n"), "{err}");
    assert!(!err.contains("vm stats"), "{err}");
    let (code, _, err) = vm_cli(&["run", "--stats", fib, "10"]);
    assert_eq!(code, Some(55));
    assert!(err.contains("vm stats"), "{err}");
    let (code, out, _) = vm_cli(&["run", "--", fib, "10"]);
    assert_eq!((code, out.as_str()), (Some(55), "fib(10)=55\n"));
    let (code, _, err) = vm_cli(&["run", "--bogus", fib]);
    assert_eq!(code, Some(125));
    assert!(err.contains("unknown option --bogus"), "{err}");
}

#[test]
fn cli_help_version_and_engine_list() {
    for args in [&["run", "--help"][..], &["aot", "--help"], &["--help"]] {
        let (code, out, _) = vm_cli(args);
        assert_eq!(code, Some(0), "{args:?}");
        assert!(out.contains("Usage: vm"), "{args:?}: {out}");
    }
    let (code, out, _) = vm_cli(&["run", "--help"]);
    assert_eq!(code, Some(0));
    // Every flag of `vm run` has a help text.
    for flag in [
        "--engine",
        "--image",
        "--on-bad-image",
        "--stats",
        "--budget",
        "--mem-mb",
        "--threshold",
        "--no-chain",
        "--baseline",
        "--no-baseline",
        "--mmu",
        "--tlb-entries",
        "--tlb-ways",
        "--prefetch",
        "--strict-syscalls",
    ] {
        let line = out.lines().position(|l| l.trim_start().starts_with(flag));
        let help = line.and_then(|i| out.lines().nth(i + 1)).unwrap_or("");
        assert!(!help.trim().is_empty(), "{flag} has no help text:\n{out}");
    }
    let (code, out, _) = vm_cli(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(out, format!("vm {}\n", env!("CARGO_PKG_VERSION")));
    let (code, _, err) = vm_cli(&["run", "--engine", "bogus", "x.elf"]);
    assert_eq!(code, Some(125));
    assert!(
        err.contains("[possible values: interp, jit, tiered, aot]"),
        "{err}"
    );
}

#[test]
fn cli_refuses_bad_inputs_clearly() {
    let dir = std::env::temp_dir().join(format!("vm-cli-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let fib = elf("fib");
    let fib = fib.to_str().unwrap();
    // A device is not read (it could be endless).
    let (code, _, err) = vm_cli(&["run", "/dev/zero"]);
    assert_eq!(code, Some(125));
    assert!(err.contains("/dev/zero: not a regular file"), "{err}");
    // A file above the input cap is refused before it is read.
    let big = dir.join("big.elf");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((256 << 20) + 1)
        .unwrap();
    let (code, _, err) = vm_cli(&["run", big.to_str().unwrap()]);
    assert_eq!(code, Some(125));
    assert!(err.contains("larger than the 256 MiB input limit"), "{err}");
    let (code, _, err) = vm_cli(&["aot", big.to_str().unwrap(), "-o", &format!("{d}/x.vmimg")]);
    assert_eq!(code, Some(125));
    assert!(err.contains("larger than the 256 MiB input limit"), "{err}");
    // A directory as program or image.
    let (code, _, err) = vm_cli(&["run", d]);
    assert_eq!(code, Some(125));
    assert!(err.contains("is a directory"), "{err}");
    let (code, _, err) = vm_cli(&["run", "--engine", "aot", "--image", d, fib]);
    assert_eq!(code, Some(125));
    assert!(
        err.contains(&format!("--image {d}: is a directory")),
        "{err}"
    );
    // `-o` naming the input (directly or through a link) is refused and
    // the program is left as it was.
    let prog = dir.join("fib.elf");
    std::fs::copy(fib, &prog).unwrap();
    let before = std::fs::read(&prog).unwrap();
    let link = dir.join("link.elf");
    let _ = std::fs::remove_file(&link);
    std::fs::hard_link(&prog, &link).unwrap();
    for out in [&prog, &link] {
        let (code, _, err) = vm_cli(&["aot", prog.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(code, Some(125), "{err}");
        assert!(err.contains("is the input program"), "{err}");
        assert_eq!(std::fs::read(&prog).unwrap(), before);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cli_stats_name_the_engine_used() {
    let dir = std::env::temp_dir().join(format!("vm-cli-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("fib.vmimg");
    let fib = elf("fib");
    let fib = fib.to_str().unwrap();
    let (code, _, err) = vm_cli(&["aot", fib, "-o", img.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = vm_cli(&[
        "run",
        "--engine",
        "aot",
        "--image",
        img.to_str().unwrap(),
        "--stats",
        fib,
        "10",
    ]);
    assert_eq!(code, Some(55), "{err}");
    assert!(err.contains("vm stats: engine=aot\n"), "{err}");
    // The budget is exact from an image too.
    let (code, _, err) = vm_cli(&[
        "run",
        "--engine",
        "aot",
        "--image",
        img.to_str().unwrap(),
        "--stats",
        "--budget",
        "12345",
        fib,
        "25",
    ]);
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("instruction budget of 12345 exhausted"),
        "{err}"
    );
    assert!(err.contains("instructions executed : 12345\n"), "{err}");
    assert!(err.contains("prelinked"), "the image was used: {err}");
    // Baseline tier (the default, `--baseline`): blocks start in the
    // baseline tier, hot ones move up; `--no-baseline`: none does.
    let (code, out, err) = vm_cli(&["run", "--stats", fib, "20"]);
    let (flag_code, flag_out, flag_err) = vm_cli(&["run", "--baseline", "--stats", fib, "20"]);
    let (plain_code, plain_out, plain_err) =
        vm_cli(&["run", "--no-baseline", "--stats", fib, "20"]);
    assert_eq!((code, &out), (plain_code, &plain_out), "{err}");
    assert_eq!((code, &out), (flag_code, &flag_out), "{flag_err}");
    assert!(flag_err.contains("baseline / tiered up"), "{flag_err}");
    assert!(code.is_some(), "{err}");
    let tiers = |err: &str| {
        let line = err.lines().find(|l| l.contains("baseline / tiered up"));
        let line = line.unwrap_or_else(|| panic!("no tier line: {err}"));
        let nums: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        (nums[0], nums[1])
    };
    let (baseline, tiered_up) = tiers(&err);
    assert!(baseline > 0 && tiered_up > 0, "{err}");
    assert_eq!(tiers(&plain_err), (0, 0), "{plain_err}");
    for engine in ["interp", "jit", "tiered"] {
        let (_, _, err) = vm_cli(&["run", "--engine", engine, "--stats", fib, "10"]);
        assert!(
            err.contains(&format!("vm stats: engine={engine}\n")),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Unknown system calls: -ENOSYS and a note by default, a stop with
/// `--strict-syscalls`; the budget flag is exact.
#[test]
fn cli_syscalls_budget_and_elf_flags() {
    let dir = std::env::temp_dir().join(format!("vm-cli-sys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A program calling syscall 1000 (not a Linux call), then exit(a0).
    let code: Vec<u8> = [li(17, 1000), 0x0000_0073, li(17, 93), 0x0000_0073]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let prog = dir.join("enosys.elf");
    std::fs::write(&prog, tiny_elf(0x10000, &code, 0)).unwrap();
    let p = prog.to_str().unwrap();
    let (status, _, err) = vm_cli(&["run", p]);
    assert_eq!(status, Some((-38i32) as u8 as i32), "exit(-ENOSYS): {err}");
    assert_eq!(
        err,
        "vm: unknown system call 1000 at pc 0x10004: returning -ENOSYS\n"
    );
    let (status, _, err) = vm_cli(&["run", "--strict-syscalls", p]);
    assert_eq!(status, Some(125));
    assert!(
        err.contains("unknown system call 1000 at pc 0x10004"),
        "{err}"
    );
    let (status, _, err) = vm_cli(&["run", "--budget", "3", "--stats", p]);
    assert_eq!(status, Some(125));
    assert!(
        err.contains("instruction budget of 3 exhausted at pc 0x1000c"),
        "{err}"
    );
    assert!(err.contains("instructions executed : 3\n"), "{err}");
    // e_flags asking for the C extension (EF_RISCV_RVC), and RVC with the
    // double-float ABI (RV64GC), load and run.
    for (name, flags) in [("rvc.elf", 0x1), ("gc.elf", 0x5)] {
        let elf = dir.join(name);
        std::fs::write(&elf, tiny_elf(0x10000, &code, flags)).unwrap();
        let (status, _, err) = vm_cli(&["run", elf.to_str().unwrap()]);
        assert_eq!(status, Some((-38i32) as u8 as i32), "{name}: {err}");
    }
    // e_flags asking for an unimplemented base (RV64E) or the quad-float
    // ABI are refused at load, by name, by `run` and by `aot`.
    for (name, flags, what) in [
        ("rve", 0x8, "need the RV64E base"),
        ("quad", 0x7, "need the quad-precision float ABI"),
    ] {
        let elf = dir.join(format!("{name}.elf"));
        std::fs::write(&elf, tiny_elf(0x10000, &code, flags)).unwrap();
        let (status, _, err) = vm_cli(&["run", elf.to_str().unwrap()]);
        assert_eq!(status, Some(125));
        assert!(err.contains(what), "{err}");
        let (status, _, err) = vm_cli(&[
            "aot",
            elf.to_str().unwrap(),
            "-o",
            &format!("{}/{name}.vmimg", dir.display()),
        ]);
        assert_eq!(status, Some(125));
        assert!(err.contains(what), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A minimal static RV64 ELF: one RWX segment holding `code` at `at`.
fn tiny_elf(at: u64, code: &[u8], e_flags: u32) -> Vec<u8> {
    let mut out = vec![0u8; 64 + 56];
    out[0..4].copy_from_slice(b"\x7fELF");
    out[4] = 2; // ELFCLASS64
    out[5] = 1; // little-endian
    out[6] = 1;
    out[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    out[18..20].copy_from_slice(&243u16.to_le_bytes()); // EM_RISCV
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[24..32].copy_from_slice(&at.to_le_bytes());
    out[32..40].copy_from_slice(&64u64.to_le_bytes());
    out[48..52].copy_from_slice(&e_flags.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&1u16.to_le_bytes());
    let ph = &mut out[64..];
    ph[0..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    ph[4..8].copy_from_slice(&7u32.to_le_bytes()); // RWX
    ph[8..16].copy_from_slice(&120u64.to_le_bytes());
    ph[16..24].copy_from_slice(&at.to_le_bytes());
    ph[24..32].copy_from_slice(&at.to_le_bytes());
    ph[32..40].copy_from_slice(&(code.len() as u64).to_le_bytes());
    ph[40..48].copy_from_slice(&(code.len() as u64).to_le_bytes());
    out.extend_from_slice(code);
    out
}

#[test]
fn budget_stops_a_runaway_guest() {
    for engine in ENGINES {
        let mut v = vm(engine);
        let cfg_budget = 100_000;
        load_code(&mut v, &[JAL_SELF]);
        let mut r = Ok(vm_core::RunOutcome::QuantumExpired);
        // run() has no budget here; emulate it with bounded quanta.
        for _ in 0..4 {
            r = v.run_blocks(cfg_budget);
        }
        assert!(
            matches!(r, Ok(vm_core::RunOutcome::QuantumExpired)),
            "{engine:?}"
        );
        assert_eq!(
            v.cpu().icount,
            4 * cfg_budget,
            "{engine:?}: one instruction per block"
        );
        let cfg = VmConfig {
            engine,
            mem_size: 32 << 20,
            insn_budget: Some(5000),
            ..VmConfig::default()
        };
        let mut v = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        load_code(&mut v, &[JAL_SELF]);
        let e = v.run().unwrap_err();
        assert!(
            matches!(
                e,
                VmError::BudgetExhausted {
                    budget: 5000,
                    pc: 0x10000
                }
            ),
            "{engine:?}: {e}"
        );
        assert_eq!(v.cpu().icount, 5000, "{engine:?}: the budget is exact");
    }
}

/// `--budget N` retires exactly N instructions on every engine, whatever
/// the block length, chaining, paging, and whether N falls inside a block.
#[test]
fn budget_is_exact_on_every_engine() {
    // Loop of 4 x addi a0, a0, 1 then jal zero, -16: 5 instructions a turn.
    let body = [li(0, 0), li(0, 0), li(0, 0), li(0, 0)].map(|_| {
        encode(&Inst {
            op: Op::Addi,
            rd: 10,
            rs1: 10,
            rs2: 0,
            imm: 1,
            rs3: 0,
            rm: 0,
            len: 4,
        })
    });
    let jal_back = encode(&Inst {
        op: Op::Jal,
        rd: 0,
        rs1: 0,
        rs2: 0,
        imm: -16,
        rs3: 0,
        rm: 0,
        len: 4,
    });
    let code = [body[0], body[1], body[2], body[3], jal_back];
    for mmu in [false, true] {
        for chaining in [true, false] {
            for engine in ENGINES {
                for budget in [1u64, 3, 5, 64, 65, 1003, 200_017, 3 * 65_536 + 2] {
                    let cfg = VmConfig {
                        engine,
                        mem_size: 32 << 20,
                        code_cache_bytes: 1 << 20,
                        insn_budget: Some(budget),
                        tier_threshold: 3,
                        chaining,
                        mmu: mmu.then(vm_core::mmu::MmuConfig::default),
                        ..VmConfig::default()
                    };
                    let mut v =
                        Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
                    if mmu {
                        v.map_guest(
                            CODE,
                            CODE,
                            0x1000,
                            vm_core::mmu::pte::PTE_R
                                | vm_core::mmu::pte::PTE_W
                                | vm_core::mmu::pte::PTE_X,
                        )
                        .unwrap();
                        let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
                        v.write_guest(CODE, &bytes).unwrap();
                        v.cpu_mut().pc = CODE;
                    } else {
                        load_code(&mut v, &code);
                    }
                    let what = format!("{engine:?} mmu={mmu} chaining={chaining} budget={budget}");
                    let e = v.run().unwrap_err();
                    let pc = CODE + 4 * (budget % 5);
                    assert!(
                        matches!(e, VmError::BudgetExhausted { budget: b, pc: p } if b == budget && p == pc),
                        "{what}: {e}"
                    );
                    assert_eq!(v.cpu().icount, budget, "{what}");
                    assert_eq!(v.stats().insns_executed, budget, "{what}");
                    let addis = 4 * (budget / 5) + (budget % 5).min(4);
                    assert_eq!(v.cpu().globals[10], addis, "{what}");
                }
            }
        }
    }
}

/// A real program stopped by the budget has retired exactly that many
/// instructions on every engine, and one with enough budget is unaffected.
#[test]
fn budget_is_exact_for_a_real_program() {
    let fib = std::fs::read(elf("fib")).unwrap();
    for engine in ENGINES {
        for budget in [1u64, 777, 12_345] {
            let cfg = VmConfig {
                engine,
                mem_size: 32 << 20,
                insn_budget: Some(budget),
                ..VmConfig::default()
            };
            let mut v = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
            v.load_elf(&fib, &["fib".into(), "25".into()]).unwrap();
            let e = v.run().unwrap_err();
            assert!(
                matches!(e, VmError::BudgetExhausted { .. }),
                "{engine:?}: {e}"
            );
            assert_eq!(v.cpu().icount, budget, "{engine:?}");
        }
        let cfg = VmConfig {
            engine,
            mem_size: 32 << 20,
            insn_budget: Some(100_000_000),
            ..VmConfig::default()
        };
        let mut v = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        v.load_elf(&fib, &["fib".into(), "10".into()]).unwrap();
        assert_eq!(v.run().unwrap(), 55, "{engine:?}: fib(10)");
    }
}

#[test]
fn illegal_instruction_names_address_and_bits() {
    for engine in ENGINES {
        let mut v = vm(engine);
        load_code(&mut v, &[li(10, 1), 0xffff_ffff]);
        let e = v.run().unwrap_err();
        assert!(
            matches!(
                e,
                VmError::IllegalInstruction {
                    pc: 0x10004,
                    bits: 0xffff_ffff
                }
            ),
            "{engine:?}: {e}"
        );
        assert_eq!(
            e.to_string(),
            "illegal instruction 0xffffffff at pc 0x10004"
        );
        assert_eq!(v.cpu().globals[10], 1, "the instruction before it retired");
    }
}

#[test]
fn unknown_syscall_returns_enosys_and_the_guest_goes_on() {
    for engine in ENGINES {
        let mut v = vm(engine);
        // li a7, 999; ecall; li a7, 93; ecall: exit with the ecall result in a0.
        load_code(&mut v, &[li(17, 999), 0x0000_0073, li(17, 93), 0x0000_0073]);
        let status = v.run().unwrap();
        assert_eq!(status, -38, "{engine:?}: exit status is -ENOSYS");
    }
}

#[test]
fn strict_syscalls_stop_on_an_unknown_number() {
    for engine in ENGINES {
        let cfg = VmConfig {
            engine,
            mem_size: 32 << 20,
            code_cache_bytes: 1 << 20,
            strict_syscalls: true,
            ..VmConfig::default()
        };
        let mut v = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        // li a7, 999; ecall
        load_code(&mut v, &[li(17, 999), 0x0000_0073]);
        let e = v.run().unwrap_err();
        assert!(
            matches!(
                e,
                VmError::UnknownSyscall {
                    nr: 999,
                    pc: 0x10004
                }
            ),
            "{engine:?}: {e}"
        );
        assert!(e.to_string().contains("unknown system call 999"));
    }
}

#[test]
fn jumping_outside_memory_is_a_fetch_fault() {
    for engine in ENGINES {
        let mut v = vm(engine);
        v.cpu_mut().pc = 1 << 40;
        assert!(matches!(v.run().unwrap_err(), VmError::FetchFault { pc } if pc == 1 << 40));
        // With the C extension instructions are 2-byte aligned: only an
        // odd pc is misaligned.
        let mut v = vm(engine);
        v.cpu_mut().pc = 0x10001;
        assert!(matches!(
            v.run().unwrap_err(),
            VmError::FetchFault { pc: 0x10001 }
        ));
    }
}

#[test]
fn malformed_elf_files_give_clear_errors() {
    let good = std::fs::read(elf("sieve")).unwrap();
    let load = |bytes: &[u8]| {
        vm(EngineKind::Interp)
            .load_elf(bytes, &["x".into()])
            .unwrap_err()
    };
    for cut in [0, 10, 63, 100, 300, good.len() / 2] {
        let e = load(&good[..cut]);
        assert!(
            matches!(e, VmError::Elf(ElfError::Truncated(_))),
            "cut {cut}: {e}"
        );
        assert!(e.to_string().contains("truncated"), "{e}");
    }
    let mut bad = good.clone();
    bad[18] = 0x3e; // EM_X86_64
    assert!(matches!(
        load(&bad),
        VmError::Elf(ElfError::WrongMachine(0x3e))
    ));
    assert!(load(&bad).to_string().contains("wrong ELF machine 62"));
    let mut bad = good.clone();
    bad[4] = 1; // ELFCLASS32
    assert!(matches!(load(&bad), VmError::Elf(ElfError::WrongClass(1))));
    let mut bad = good.clone();
    bad[5] = 2; // big-endian
    assert!(matches!(load(&bad), VmError::Elf(ElfError::WrongEndian(2))));
    assert!(matches!(
        load(b"#!/bin/sh\necho hi\n"),
        VmError::Elf(ElfError::BadMagic)
    ));
}

/// The ELF fuzz target's property, run on deterministic mutations of real
/// workloads so it holds on stable Rust too: loading never panics, and a
/// loaded image runs into a guest error or a quantum, never a host crash.
#[test]
fn mutated_elf_files_never_panic() {
    let mut x = vm_core::rng::XorShift64(0x0123_4567_89ab_cdef);
    let mut rnd = move || x.next_u64();
    for name in ["fib", "smc"] {
        let good = std::fs::read(elf(name)).unwrap();
        for _ in 0..300 {
            let mut m = good.clone();
            // Mutate mostly the headers, where the loader's decisions are.
            for _ in 0..1 + rnd() % 8 {
                let i = if rnd() % 4 == 0 {
                    rnd() as usize % m.len()
                } else {
                    rnd() as usize % 256
                };
                m[i] = rnd() as u8;
            }
            if rnd() % 5 == 0 {
                m.truncate(rnd() as usize % m.len());
            }
            for engine in [EngineKind::Interp, EngineKind::Jit] {
                let mut v = vm(engine);
                if v.load_elf(&m, &["m".into()]).is_ok() {
                    let _ = v.run_blocks(2000);
                }
            }
        }
    }
}

#[test]
fn cli_runs_a_guest_under_the_mmu() {
    for engine in ["interp", "jit", "tiered"] {
        let out = Command::new(env!("CARGO_BIN_EXE_vm"))
            .args(["run", "--engine", engine, "--mmu", "--stats"])
            .args([
                "--tlb-entries",
                "64",
                "--tlb-ways",
                "2",
                "--prefetch",
                "stride",
            ])
            .arg(elf("fib"))
            .arg("20")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "fib(20)=6765\n",
            "{engine}"
        );
        assert_eq!(out.status.code(), Some(6765 % 200), "{engine}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("TLB 64 entries x 2 ways"), "{err}");
        assert!(err.contains("tlb hits / misses"), "{err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vm"))
        .args(["run", "--tlb-entries", "48"])
        .arg(elf("fib"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid TLB geometry: 48 entries"), "{err}");
}

/// With paging on, a null-pointer load, a store to a read-only page and a
/// jump into unmapped memory are guest page faults naming the address.
#[test]
fn mmu_page_faults_are_typed_errors() {
    use vm_core::mmu::pte::{PTE_A, PTE_R, PTE_X};
    use vm_core::mmu::MmuConfig;
    use vm_core::PAGE_TABLE_AREA;
    let load_null = encode(&Inst {
        op: Op::Ld,
        rd: 10,
        rs1: 0,
        rs2: 0,
        imm: 0,
        rs3: 0,
        rm: 0,
        len: 4,
    });
    let store_code = encode(&Inst {
        op: Op::Sw,
        rd: 0,
        rs1: 11,
        rs2: 0,
        imm: 0,
        rs3: 0,
        rm: 0,
        len: 4,
    });
    for engine in ENGINES {
        for (word, want) in [
            (load_null, "load page fault at 0x0 (NotMapped { level: 0 })"),
            (store_code, "store page fault at 0x10000 (Denied)"),
        ] {
            let cfg = VmConfig {
                engine,
                mem_size: 32 << 20,
                mmu: Some(MmuConfig::default()),
                ..VmConfig::default()
            };
            let mut v = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
            v.map_guest(
                0x10000,
                0x10000 + PAGE_TABLE_AREA,
                4096,
                PTE_R | PTE_X | PTE_A,
            )
            .unwrap();
            v.write_guest(0x10000, &word.to_le_bytes()).unwrap_err();
            // Read-only for the guest: the test writes the code physically.
            v.memory_mut()
                .write_bytes(0x10000 + PAGE_TABLE_AREA, &word.to_le_bytes())
                .unwrap();
            v.cpu_mut().globals[11] = 0x10000;
            v.cpu_mut().pc = 0x10000;
            let e = v.run().unwrap_err();
            assert!(
                matches!(e, VmError::MemFault { pc: 0x10000, .. }),
                "{engine:?}: {e}"
            );
            assert!(e.to_string().contains(want), "{engine:?}: {e}");
            let mut v2 = vm_with_mmu(engine);
            v2.cpu_mut().pc = 0x20000;
            assert!(matches!(
                v2.run().unwrap_err(),
                VmError::FetchFault { pc: 0x20000 }
            ));
        }
    }
}

fn vm_with_mmu(engine: EngineKind) -> Vm {
    let cfg = VmConfig {
        engine,
        mem_size: 32 << 20,
        mmu: Some(vm_core::mmu::MmuConfig::default()),
        ..VmConfig::default()
    };
    Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap()
}
