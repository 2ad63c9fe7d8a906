//! The system calls static glibc needs, end to end: `guest/bin/syscalls.elf`
//! (rv64im, raw `ecall`s: mmap/munmap/mprotect/mremap/madvise/brk, process
//! and clock calls, files read under `--fs-root`) gives the stdout and exit
//! status recorded from qemu-riscv64 on every engine (interp, jit, tiered,
//! aot, jit and interp with the MMU), and equal to a live qemu-riscv64 run
//! where qemu is installed. Under the MMU a store to an unmapped or
//! read-only page faults; in flat memory protections are not enforced.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn guest(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("guest")
        .join(rel)
}

fn vm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vm"))
}

/// A scratch directory holding the granted root: `data.txt` and the
/// symbolic link `link -> data.txt`, as the golden output was recorded with.
struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("vm-guest-sys-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root")).unwrap();
        std::fs::write(d.join("root/data.txt"), "file contents: 42\n").unwrap();
        std::os::unix::fs::symlink("data.txt", d.join("root/link")).unwrap();
        Self(d)
    }
    fn root(&self) -> PathBuf {
        self.0.join("root")
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `elf` with `args` under every engine configuration; returns
/// (label, output) pairs. `root` is passed as `--fs-root`.
pub fn run_all_engines(
    elf: &Path,
    args: &[&str],
    root: &Path,
    scratch: &Path,
) -> Vec<(String, Output)> {
    let img = scratch.join(format!(
        "{}.vmimg",
        elf.file_stem().unwrap().to_string_lossy()
    ));
    let out = vm()
        .arg("aot")
        .arg(elf)
        .arg("-o")
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "vm aot: {}", text(&out.stderr));
    let configs: [(&str, &[&str]); 6] = [
        ("interp", &["--engine", "interp"]),
        ("jit", &["--engine", "jit"]),
        ("tiered", &["--engine", "tiered"]),
        ("aot", &["--engine", "aot", "--image"]),
        ("jit --mmu", &["--engine", "jit", "--mmu"]),
        ("interp --mmu", &["--engine", "interp", "--mmu"]),
    ];
    configs
        .iter()
        .map(|(label, flags)| {
            let mut c = vm();
            c.arg("run").args(*flags);
            if *label == "aot" {
                c.arg(&img);
            }
            c.arg("--fs-root").arg(root).arg(elf).args(args);
            (label.to_string(), c.output().unwrap())
        })
        .collect()
}

fn qemu_available() -> bool {
    let ok = Command::new("qemu-riscv64")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        println!(
            "SKIP live qemu comparison: qemu-riscv64 is not installed (apt-get install qemu-user)"
        );
        eprintln!(
            "SKIP live qemu comparison: qemu-riscv64 is not installed (apt-get install qemu-user)"
        );
    }
    ok
}

#[test]
fn syscalls_program_matches_qemu_on_every_engine() {
    let s = Scratch::new("all");
    let elf = guest("bin/syscalls.elf");
    let want_out = std::fs::read_to_string(guest("expected/syscalls.stdout")).unwrap();
    let want_code: i32 = std::fs::read_to_string(guest("expected/syscalls.exit"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(want_out.ends_with("all ok\n"), "golden output has failures");
    let live = qemu_available().then(|| {
        Command::new("qemu-riscv64")
            .arg(&elf)
            .args(["data.txt", "link"])
            .current_dir(s.root())
            .output()
            .unwrap()
    });
    if let Some(q) = &live {
        assert_eq!(text(&q.stdout), want_out, "live qemu vs golden");
        assert_eq!(q.status.code(), Some(want_code));
    }
    for (label, out) in run_all_engines(&elf, &["data.txt", "link"], &s.root(), &s.0) {
        let err = text(&out.stderr);
        assert_eq!(
            text(&out.stdout),
            want_out,
            "{label}: stdout; stderr: {err}"
        );
        assert_eq!(
            out.status.code(),
            Some(want_code),
            "{label}: exit; stderr: {err}"
        );
        if let Some(q) = &live {
            assert_eq!(out.stderr, q.stderr, "{label}: stderr vs qemu");
        }
    }
}

#[test]
fn mmu_faults_on_unmapped_and_read_only_pages_flat_memory_does_not() {
    let elf = guest("bin/syscalls.elf");
    for (mode, cause) in [("fault-munmap", "NotMapped"), ("fault-mprotect", "Denied")] {
        for engine in ["interp", "jit", "tiered"] {
            let out = vm()
                .args(["run", "--mmu", "--engine", engine])
                .arg(&elf)
                .arg(mode)
                .output()
                .unwrap();
            let err = text(&out.stderr);
            assert_eq!(text(&out.stdout), "storing\n", "{mode} {engine}: {err}");
            assert_eq!(out.status.code(), Some(125), "{mode} {engine}: {err}");
            assert!(
                err.contains("store page fault") && err.contains(cause),
                "{mode} {engine}: {err}"
            );
        }
        // Flat memory records protections but cannot enforce them (the
        // documented limit): the store goes through.
        let out = vm().arg("run").arg(&elf).arg(mode).output().unwrap();
        assert_eq!(
            text(&out.stdout),
            "storing\nstore went through\n",
            "{mode} flat"
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn without_fs_root_no_host_file_opens() {
    let s = Scratch::new("noroot");
    // An absolute host path and a relative one: both missing for the guest.
    let abs = s.root().join("data.txt");
    for path in [abs.to_str().unwrap(), "data.txt"] {
        let out = vm()
            .arg("run")
            .arg(guest("bin/syscalls.elf"))
            .arg(path)
            .current_dir(s.root())
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(stdout.contains("openat: 0  MISMATCH"), "{path}: {stdout}");
        assert!(!stdout.contains("file contents"), "{path}: {stdout}");
        assert_eq!(out.status.code(), Some(1));
    }
    // A root that is not a directory is a configuration error.
    let out = vm()
        .arg("run")
        .arg("--fs-root")
        .arg(&abs)
        .arg(guest("bin/syscalls.elf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("not a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unmapping_and_remapping_code_drops_its_translations() {
    let elf = guest("bin/syscalls.elf");
    let configs: [&[&str]; 6] = [
        &["--engine", "interp"],
        &["--engine", "jit"],
        &["--engine", "tiered"],
        &["--engine", "jit", "--mmu"],
        &["--engine", "interp", "--mmu"],
        &["--engine", "tiered", "--mmu"],
    ];
    for flags in configs {
        let out = vm()
            .arg("run")
            .args(flags)
            .arg(&elf)
            .arg("remap-code")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        // qemu-riscv64: the same output, then SIGILL.
        assert_eq!(
            text(&out.stdout),
            "code in mmapped page: 500\ncalling remapped page\n",
            "{flags:?}: {err}"
        );
        assert_eq!(out.status.code(), Some(125), "{flags:?}: {err}");
        assert!(
            err.contains("illegal instruction 0x00000000"),
            "{flags:?}: {err}"
        );
    }
}
