//! The A-extension workload (`vm-core/guest/src/atomics.c`, built with
//! `-march=rv64ima` by `vm-core/guest/build.sh`): every AMO at both widths,
//! LR/SC loops, a spinlock and SC without a reservation give the stdout and
//! exit status recorded from qemu-riscv64 on every engine (interpreter,
//! optimizing JIT, baseline JIT, tiered, AOT image, JIT and interpreter
//! under the Sv39 MMU), and (where qemu-riscv64 is installed) those of a
//! live qemu-riscv64 run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use vm_core::aot::{build_image, load_image, write_image, BadImagePolicy};
use vm_core::mmu::MmuConfig;
use vm_core::{EngineKind, Vm, VmConfig};

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);
impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn guest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vm-core/guest")
}

fn elf_path() -> PathBuf {
    guest_dir().join("bin/atomics.elf")
}

/// (name, configuration, run from an AOT image).
fn engines() -> Vec<(&'static str, VmConfig, bool)> {
    let cfg = |engine, baseline, mmu: bool| VmConfig {
        engine,
        baseline,
        insn_budget: Some(100_000_000),
        mmu: mmu.then(MmuConfig::default),
        ..VmConfig::default()
    };
    vec![
        ("interp", cfg(EngineKind::Interp, false, false), false),
        ("jit", cfg(EngineKind::Jit, false, false), false),
        ("jit --baseline", cfg(EngineKind::Jit, true, false), false),
        ("tiered", cfg(EngineKind::Tiered, false, false), false),
        ("aot", cfg(EngineKind::Jit, false, false), true),
        ("interp --mmu", cfg(EngineKind::Interp, false, true), false),
        ("jit --mmu", cfg(EngineKind::Jit, false, true), false),
    ]
}

/// Stdout, exit status and the instructions the JIT left to the
/// dispatcher's fallback.
fn run(cfg: VmConfig, aot: bool) -> (String, i32, u64) {
    let elf = std::fs::read(elf_path()).unwrap();
    let out = SharedBuf::default();
    let mut vm = Vm::new(cfg, Box::new(out.clone()), Box::new(std::io::stderr())).unwrap();
    vm.load_elf(&elf, &["atomics.elf".to_string()]).unwrap();
    if aot {
        let dir = std::env::temp_dir().join(format!("vm-atomics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("atomics.vmimg");
        write_image(
            &path,
            &build_image(&elf, vm.config().max_block_insns).unwrap().0,
        )
        .unwrap();
        // SAFETY: the image was just written by this test from build_image output.
        let load = unsafe { load_image(&mut vm, &path, &elf, BadImagePolicy::Stop) }.unwrap();
        assert!(load.installed.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let code = vm.run().unwrap_or_else(|e| panic!("atomics: {e}"));
    let stdout = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    (stdout, code, vm.stats().fallback_insns)
}

#[test]
fn atomics_workload_matches_qemu_on_every_engine() {
    let d = guest_dir().join("expected");
    let want_out = std::fs::read_to_string(d.join("atomics.stdout")).unwrap();
    let want_code: i32 = std::fs::read_to_string(d.join("atomics.exit"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let live = match Command::new("qemu-riscv64").arg(elf_path()).output() {
        Ok(q) => Some((
            String::from_utf8(q.stdout).unwrap(),
            q.status.code().unwrap(),
        )),
        Err(_) => {
            eprintln!("qemu-riscv64 is not installed: compared with the recorded output only");
            None
        }
    };
    if let Some((out, code)) = &live {
        assert_eq!(
            (out, *code),
            (&want_out, want_code),
            "recorded vs live qemu-riscv64"
        );
    }
    for (name, cfg, aot) in engines() {
        let jit = cfg.engine != EngineKind::Interp;
        let (out, code, fallbacks) = run(cfg, aot);
        assert_eq!(out, want_out, "stdout: {name} vs qemu-riscv64");
        assert_eq!(code, want_code, "exit status: {name} vs qemu-riscv64");
        // The generated code met the A instructions and left them to the fallback.
        assert_eq!(fallbacks > 0, jit, "{name}: {fallbacks} fallbacks");
    }
}
