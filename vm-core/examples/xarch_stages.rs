//! A fixed workload for stage-by-stage profiling of the two
//! cross-architecture translators: translates the committed input object
//! `N` times (one reused `UnitTranslator`, as the CrossArch benchmarks do)
//! and compiles each unit for its host, then prints the best pass's
//! frontend/backend split. Under callgrind with collection switched on
//! only inside one stage's function (`Frontend::discover`/`Discovery::run`,
//! `lift_block_into`, `mark_dead_and_last_use`, `backend::*::compile`,
//! the whole `UnitTranslator::translate`), the collected count divided by
//! `N` is that stage's cost per unit (see docs/cross-arch.md):
//!
//! ```text
//! cargo build --profile test -p vm-core --example xarch_stages
//! valgrind --tool=callgrind --collect-atstart=no \
//!     '--toggle-collect=*mark_dead_and_last_use' \
//!     target/debug/examples/xarch_stages 100 x86
//! ```
//!
//! It also prints a fingerprint (size and FNV-1a hash) of each unit's
//! generated code, so two builds can be checked to emit the same code.
//!
//! Arguments: the number of translations (default 2000) and the direction
//! (`x86` = x86-64 -> AArch64, `a64` = AArch64 -> RV64, default both).

use std::hint::black_box;
use std::time::Instant;

use vm_core::backend::unitgen::UnitCode;
use vm_core::frontend::aarch64::A64Frontend;
use vm_core::frontend::x86_64::X86Frontend;
use vm_core::frontend::Frontend;
use vm_core::ir::TranslationUnit;
use vm_core::xarch::inputs::{load_input, AARCH64_ELF, X86_64_ELF};
use vm_core::xarch::unit::UnitTranslator;

fn run<F: Frontend + Default>(
    elf: &[u8],
    compile: fn(&TranslationUnit) -> Result<UnitCode, String>,
    n: usize,
    name: &str,
) -> Result<(), String> {
    let input = load_input(elf).map_err(|e| e.to_string())?;
    let mut tr = UnitTranslator::new(F::default());
    let (mut front, mut back, mut guest) = (f64::MAX, f64::MAX, 0);
    let mut code = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        let unit = tr
            .translate(&input.image, &input.symbols)
            .map_err(|e| e.to_string())?;
        let t1 = Instant::now();
        let c = black_box(compile(&unit)?);
        if code.is_empty() {
            code = c.bytes;
        }
        front = front.min((t1 - t0).as_nanos() as f64);
        back = back.min(t1.elapsed().as_nanos() as f64);
        guest = unit.guest_insns;
        tr.recycle(unit);
    }
    let g = guest.max(1) as f64;
    println!(
        "{name}: {n} translations of {guest} guest instructions; best: frontend {:.1} ns/insn, \
         backend {:.1} ns/insn; code {} bytes, FNV-1a {:016x}",
        front / g,
        back / g,
        code.len(),
        code.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        })
    );
    Ok(())
}

fn a64_compile(u: &TranslationUnit) -> Result<UnitCode, String> {
    vm_core::backend::aarch64::compile(u).map_err(|e| e.to_string())
}

fn rv_compile(u: &TranslationUnit) -> Result<UnitCode, String> {
    vm_core::backend::riscv64::compile(u).map_err(|e| e.to_string())
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let n = match args.next() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("translation count {s:?} is not a number"))?,
        None => 2000,
    };
    let which = args.next().unwrap_or_default();
    if !matches!(which.as_str(), "" | "x86" | "a64") {
        return Err(format!("direction {which:?} is neither x86 nor a64"));
    }
    if which != "a64" {
        run::<X86Frontend>(X86_64_ELF, a64_compile, n, "x86-64 -> AArch64")?;
    }
    if which != "x86" {
        run::<A64Frontend>(AARCH64_ELF, rv_compile, n, "AArch64 -> RV64")?;
    }
    Ok(())
}
