//! Static glibc programs built with the distribution compiler's default
//! flags (`riscv64-linux-gnu-gcc -O2 -static`: rv64gc, lp64d; built by
//! `guest/build_glibc.sh` into `guest/bin/gc/`): the workloads on glibc and
//! the glibc test programs (printf of floats and doubles, malloc/realloc/
//! free churn with a 64 MB block, qsort and string functions, libm, a file
//! read under `--fs-root`, signals to itself and `abort()`).
//!
//! Each runs under qemu-riscv64 (when installed) and on every engine
//! (interp, jit, jit --no-baseline, tiered, aot, jit --mmu), and must give the
//! stdout, stderr and exit status recorded from qemu-riscv64
//! (`guest/expected/gc/`). Every binary also passes the loader (RVC and the
//! double-float ABI accepted) and gets the initial stack static glibc reads.

use std::path::PathBuf;
use std::process::{Command, Output};

use vm_core::{Vm, VmConfig};

/// The workloads of `guest/src` built on glibc.
const WORKLOADS: [&str; 7] = ["sieve", "matmul", "qsort", "crc32", "fib", "strings", "smc"];
/// The glibc test programs of `guest/src/glibc`.
const PROGRAMS: [&str; 6] = [
    "printf_float",
    "malloc_churn",
    "qsort_strings",
    "libm",
    "file_read",
    "signals",
];

fn guest(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("guest")
        .join(rel)
}

fn vm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vm"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The arguments a program is run with (after its name), relative to the
/// granted root `guest/fsroot` (qemu runs with that as its working directory).
fn args(name: &str) -> &'static [&'static str] {
    match name {
        "file_read" => &["lines.txt"],
        _ => &[],
    }
}

struct Golden {
    stdout: String,
    stderr: String,
    code: i32,
}

fn golden(name: &str) -> Golden {
    let read = |ext: &str| {
        std::fs::read_to_string(guest(&format!("expected/gc/{name}.{ext}")))
            .unwrap_or_else(|e| panic!("{name}.{ext}: {e}"))
    };
    Golden {
        stdout: read("stdout"),
        stderr: read("stderr"),
        code: read("exit").trim().parse().unwrap(),
    }
}

/// The exit status as a shell reports it: a process killed by a signal
/// (qemu-riscv64 kills itself with the guest's fatal signal) has `128 +
/// signal`, the status `vm run` exits with for a guest a signal ended.
fn shell_status(out: &Output) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    out.status
        .code()
        .or_else(|| out.status.signal().map(|s| 128 + s))
}

fn check(label: &str, out: &Output, want: &Golden) {
    assert_eq!(text(&out.stdout), want.stdout, "{label}: stdout");
    assert_eq!(text(&out.stderr), want.stderr, "{label}: stderr");
    assert_eq!(shell_status(out), Some(want.code), "{label}: exit status");
}

/// Runs `name` under qemu-riscv64 (when installed) and under every engine:
/// interp, jit (both tiers), tiered, aot, jit with the MMU; each must give the golden
/// stdout, stderr and exit status (recorded from qemu-riscv64).
fn run_everywhere(name: &str) {
    let elf = guest(&format!("bin/gc/{name}.elf"));
    let root = guest("fsroot");
    let want = golden(name);
    match Command::new("qemu-riscv64")
        .arg(&elf)
        .args(args(name))
        .current_dir(&root)
        .output()
    {
        Ok(q) => check(&format!("{name}: live qemu-riscv64"), &q, &want),
        Err(_) => {
            println!("SKIP live qemu for {name}: qemu-riscv64 is not installed");
            eprintln!("SKIP live qemu for {name}: qemu-riscv64 is not installed");
        }
    }
    let scratch = std::env::temp_dir().join(format!("vm-glibc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let img = scratch.join(format!("{name}.vmimg"));
    let out = vm()
        .arg("aot")
        .arg(&elf)
        .arg("-o")
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: vm aot: {}",
        text(&out.stderr)
    );
    let configs: [(&str, &[&str]); 6] = [
        ("interp", &["--engine", "interp"]),
        ("jit", &["--engine", "jit"]),
        ("jit --no-baseline", &["--engine", "jit", "--no-baseline"]),
        ("tiered", &["--engine", "tiered"]),
        ("aot", &["--engine", "aot", "--image"]),
        ("jit --mmu", &["--engine", "jit", "--mmu"]),
    ];
    for (label, flags) in configs {
        let mut c = vm();
        c.arg("run").args(flags);
        if label == "aot" {
            c.arg(&img);
        }
        let out = c
            .arg("--fs-root")
            .arg(&root)
            .arg(&elf)
            .args(args(name))
            .output()
            .unwrap();
        check(&format!("{name}: {label}"), &out, &want);
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn glibc_workloads_match_qemu_on_every_engine() {
    for name in WORKLOADS {
        run_everywhere(name);
    }
}

#[test]
fn glibc_printf_float_matches_qemu_on_every_engine() {
    run_everywhere("printf_float");
}

#[test]
fn glibc_malloc_churn_matches_qemu_on_every_engine() {
    run_everywhere("malloc_churn");
}

#[test]
fn glibc_qsort_strings_matches_qemu_on_every_engine() {
    run_everywhere("qsort_strings");
}

#[test]
fn glibc_libm_matches_qemu_on_every_engine() {
    run_everywhere("libm");
}

#[test]
fn glibc_file_read_under_fs_root_matches_qemu_on_every_engine() {
    run_everywhere("file_read");
}

/// getpid/gettid, kill/tgkill to itself with the signals' default actions,
/// blocked and pending signals, and `abort()`: SIGABRT ends the guest with
/// status 134 as under qemu-riscv64 (which dies of the signal).
#[test]
fn glibc_signals_and_abort_match_qemu_on_every_engine() {
    run_everywhere("signals");
}

/// Reads one little-endian word of guest memory.
fn word(vm: &mut Vm, at: u64) -> u64 {
    let mut b = [0u8; 8];
    vm.read_guest(at, &mut b).unwrap();
    u64::from_le_bytes(b)
}

/// Runs today: every glibc binary passes the loader, flat and under the
/// MMU, and its auxv points at its program headers (glibc finds PT_TLS
/// through AT_PHDR) and at 16 random bytes.
#[test]
fn glibc_binaries_load_with_the_auxv_static_glibc_reads() {
    for name in WORKLOADS.iter().chain(PROGRAMS.iter()) {
        let path = guest(&format!("bin/gc/{name}.elf"));
        let elf = std::fs::read(&path).unwrap();
        // e_flags: RVC | double-float ABI, as the distribution compiler emits.
        assert_eq!(
            u32::from_le_bytes(elf[48..52].try_into().unwrap()),
            0x5,
            "{name}"
        );
        let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
        let phnum = u16::from_le_bytes(elf[56..58].try_into().unwrap()) as usize;
        for mmu in [None, Some(vm_core::MmuConfig::default())] {
            let cfg = VmConfig {
                mmu,
                ..VmConfig::default()
            };
            let mut vm =
                Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
            vm.load_elf(&elf, &[name.to_string()]).unwrap();
            let sp = vm.cpu().globals[2];
            let argc = word(&mut vm, sp);
            assert_eq!(argc, 1);
            // argv[0], NULL, envp NULL, then the auxv pairs.
            let mut at = sp + 8 * (argc + 2);
            while word(&mut vm, at) != 0 {
                at += 8;
            }
            at += 8;
            let mut aux = std::collections::HashMap::new();
            loop {
                let (k, v) = (word(&mut vm, at), word(&mut vm, at + 8));
                if k == 0 {
                    break;
                }
                aux.insert(k, v);
                at += 16;
            }
            assert_eq!(aux[&5], phnum as u64, "{name}: AT_PHNUM");
            assert_eq!(aux[&4], 56, "{name}: AT_PHENT");
            let mut ph = vec![0u8; 56 * phnum];
            vm.read_guest(aux[&3], &mut ph).unwrap();
            assert_eq!(ph, elf[phoff..phoff + 56 * phnum], "{name}: AT_PHDR");
            assert_eq!(aux[&16], 0x112d, "{name}: AT_HWCAP rv64gc");
            let mut rnd = [0u8; 16];
            vm.read_guest(aux[&25], &mut rnd).unwrap();
            assert_ne!(rnd, [0u8; 16], "{name}: AT_RANDOM");
        }
    }
}

/// Dynamically linked and position-independent executables are refused
/// with a clear message (checked on the ELF header the compiler emits).
#[test]
fn dynamic_and_pie_executables_are_refused_by_name() {
    let elf = std::fs::read(guest("bin/gc/fib.elf")).unwrap();
    let mut pie = elf.clone();
    pie[16] = 3; // ET_DYN
    let mut vm = Vm::new(
        VmConfig::default(),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    )
    .unwrap();
    let e = vm.load_elf(&pie, &["fib".into()]).unwrap_err().to_string();
    assert!(
        e.contains("position-independent") && e.contains("-static"),
        "{e}"
    );
}
