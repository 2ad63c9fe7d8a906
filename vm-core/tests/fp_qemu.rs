//! F, D and Zicsr against qemu: `guest/fp/fpedge.elf` sweeps every F/D
//! instruction over edge values in every rounding mode and prints, per
//! (instruction, mode), a hash of all result bits and fflags
//! (`guest/fp/gen.py`). Its output under the VM must equal
//! `guest/fp/fpedge.expected`, which `guest/fp/build.sh` records from
//! `qemu-riscv64`; where qemu-riscv64 is installed the test also re-runs it
//! and checks the recording is current. Without qemu a visible SKIP line
//! says that only the recorded reference was compared.
//!
//! The JIT tiers lower FP loads, stores, moves and double sign injections
//! natively and call the FP helper for the other register-only F/D/Zicsr
//! instructions (`Lowering`): the sweep runs under the optimizing tier,
//! the baseline tier, the tiered engine and the JIT under the MMU too.

use std::process::Command;
use std::sync::{Arc, Mutex};

use vm_core::mmu::MmuConfig;
use vm_core::{EngineKind, Vm, VmConfig};

const ELF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guest/fp/fpedge.elf");
const EXPECTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guest/fp/fpedge.expected");

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run_vm(engine: EngineKind, mmu: Option<MmuConfig>, verbose: bool) -> (String, i64) {
    run_cfg(
        VmConfig {
            engine,
            mmu,
            ..VmConfig::default()
        },
        verbose,
    )
}

fn run_cfg(cfg: VmConfig, verbose: bool) -> (String, i64) {
    let elf = std::fs::read(ELF).unwrap();
    let out = Buf::default();
    let mut vm = Vm::new(cfg, Box::new(out.clone()), Box::new(std::io::sink())).unwrap();
    let mut args = vec!["fpedge".to_string()];
    if verbose {
        args.push("v".into());
    }
    vm.load_elf(&elf, &args).unwrap();
    let code = vm.run().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    (text, code as i64)
}

/// The first differing line, with the verbose (per-result) output of that
/// instruction from both sides when qemu is there, for the failure message.
fn diff(got: &str, want: &str) -> Option<String> {
    if got == want {
        return None;
    }
    let (g, w): (Vec<_>, Vec<_>) = (got.lines().collect(), want.lines().collect());
    for i in 0..g.len().max(w.len()) {
        let (a, b) = (g.get(i).copied(), w.get(i).copied());
        if a != b {
            return Some(format!(
                "line {}: vm {:?}, qemu {:?} ({} vs {} lines); rerun fpedge.elf with an argument under both for per-result output",
                i + 1,
                a,
                b,
                g.len(),
                w.len()
            ));
        }
    }
    Some("outputs differ".into())
}

fn qemu_output() -> Option<String> {
    match Command::new("qemu-riscv64").arg(ELF).output() {
        Ok(o) => {
            assert!(o.status.success(), "qemu-riscv64 failed: {o:?}");
            Some(String::from_utf8(o.stdout).unwrap())
        }
        Err(e) => {
            eprintln!(
                "SKIP: qemu-riscv64 not runnable ({e}); compared with the recorded qemu output only"
            );
            None
        }
    }
}

#[test]
fn fp_sweep_matches_qemu_on_the_interpreter() {
    let expected = std::fs::read_to_string(EXPECTED).unwrap();
    // 58 instructions: 41 with six rounding-mode forms, dynamic under up to
    // five frm values; a truncated or empty reference would compare nothing.
    assert!(expected.lines().count() >= 300, "reference too short");
    if let Some(live) = qemu_output() {
        if let Some(d) = diff(&live, &expected) {
            panic!("guest/fp/fpedge.expected is stale against this qemu-riscv64 (rerun guest/fp/build.sh): {d}");
        }
    }
    let (got, code) = run_vm(EngineKind::Interp, None, false);
    assert_eq!(code, 0);
    if let Some(d) = diff(&got, &expected) {
        panic!("interpreter vs qemu: {d}");
    }
}

#[test]
fn fp_sweep_matches_qemu_under_every_engine() {
    let expected = std::fs::read_to_string(EXPECTED).unwrap();
    for (engine, mmu) in [
        (EngineKind::Jit, None),
        (EngineKind::Tiered, None),
        (EngineKind::Jit, Some(MmuConfig::default())),
    ] {
        let (got, code) = run_vm(engine, mmu, false);
        assert_eq!(code, 0, "{engine:?}");
        if let Some(d) = diff(&got, &expected) {
            panic!("{engine:?} mmu={}: {d}", mmu.is_some());
        }
    }
    // The baseline tier alone (no tier-up).
    let (got, code) = run_cfg(
        VmConfig {
            engine: EngineKind::Jit,
            baseline: true,
            tier_up_threshold: 0,
            ..VmConfig::default()
        },
        false,
    );
    assert_eq!(code, 0, "baseline");
    if let Some(d) = diff(&got, &expected) {
        panic!("baseline: {d}");
    }
}

/// Per-result agreement on the verbose run, where qemu is installed (the
/// hashes above already cover it; this names the first differing result).
#[test]
fn fp_sweep_verbose_matches_qemu() {
    let Ok(o) = Command::new("qemu-riscv64").args([ELF, "v"]).output() else {
        eprintln!("SKIP: qemu-riscv64 not runnable; per-result comparison not run");
        return;
    };
    let want = String::from_utf8(o.stdout).unwrap();
    let (got, _) = run_vm(EngineKind::Interp, None, true);
    if got != want {
        let mut op = "";
        for (g, w) in got.lines().zip(want.lines()) {
            if !g.starts_with(' ') {
                op = g;
            }
            assert_eq!(g, w, "after {op}");
        }
        assert_eq!(got.lines().count(), want.lines().count());
    }
}
