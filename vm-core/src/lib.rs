//! vm-core: the virtual machine measured by the KPI suite: a RISC-V
//! (RV64IM) user-mode guest run by an interpreter, an x86-64 JIT with a
//! block cache and tiering, or from ahead-of-time images, with flat memory
//! or an Sv39 MMU behind a software TLB.
//!
//! # Public API
//!
//! Running a program needs only the items at the crate root:
//!
//! ```no_run
//! use vm_core::{EngineKind, Vm, VmConfig};
//!
//! let cfg = VmConfig { engine: EngineKind::Tiered, insn_budget: Some(1_000_000), ..VmConfig::default() };
//! let mut vm = Vm::new(cfg, Box::new(std::io::stdout()), Box::new(std::io::stderr()))?;
//! let elf = std::fs::read("program.elf")?;
//! vm.load_elf(&elf, &["program".to_string()])?;
//! let status = vm.run()?;
//! println!("exit {status}, {} instructions", vm.cpu().icount);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`Vm`], [`VmConfig`], [`EngineKind`], [`RunOutcome`], [`Stats`],
//!   [`VmError`]: create, configure and run a VM ([`Vm::run`] until exit,
//!   [`Vm::run_blocks`] a bounded quantum); [`VmConfig::insn_budget`] is
//!   exact on every engine.
//! - The loader: [`Vm::load_elf`] (and [`load_elf`] into a bare
//!   [`GuestMemory`]) validate static RV64 executables, including their
//!   `e_flags` ([`check_riscv_flags`]), and report an [`ElfError`].
//! - Guest state: [`Vm::cpu`] / [`Vm::cpu_mut`] give the [`GuestState`]
//!   (registers, pc, retired instructions). Guest memory: [`Vm::memory`],
//!   [`Vm::memory_mut`] (a [`GuestMemoryMut`] write handle),
//!   [`Vm::read_guest`] / [`Vm::write_guest`] (virtual, through the MMU).
//! - Paging: [`MmuConfig`], [`TlbConfig`], [`PrefetchConfig`], and the
//!   [`mmu`] module (page-table flags for [`Vm::map_guest`], statistics).
//! - Ahead-of-time images: [`build_image`], [`write_image`],
//!   [`load_image`], [`BadImagePolicy`], [`AotError`], and the [`aot`] module.
//! - Around the VM: [`exec`] and [`sched`] (vCPUs on a work-stealing
//!   scheduler), [`gc`] (a tracing collector for managed heaps), [`xarch`]
//!   (cross-architecture translation), [`riscv`] (instruction encoder and
//!   decoder for placing guest code by hand).
//!
//! System calls follow Linux for what the VM implements (`write`, `writev`,
//! `read`, `brk`, `exit`, ...); any other call returns `-ENOSYS` with a
//! one-line note on the VM's stderr stream, or stops the VM with
//! [`VmError::UnknownSyscall`] under [`VmConfig::strict_syscalls`].
//!
//! # Safety boundary
//!
//! Safe code cannot reach undefined behaviour through this crate. Generated
//! code trusts a host context (guest-memory base and bounds, code map,
//! jump-cache and TLB pointers) that lives in the crate-private part of the
//! CPU state; no public API hands it out, nor anything it points into
//! mutably (the guest memory and the MMU cannot be replaced or swapped).
//! `tests/ui` holds compile-fail tests of that boundary. Inside the crate,
//! every `unsafe` block carries a `// SAFETY:` comment (enforced by
//! `clippy::undocumented_unsafe_blocks`) and `unsafe_op_in_unsafe_fn` is
//! denied.
//!
//! # Internals
//!
//! The translation pipeline (see `ARCHITECTURE.md`) is private to the
//! crate: guest loading and syscalls, the RV64IM / x86-64 / AArch64
//! frontends, the IR and optimizer, the backends, the block cache, the
//! dispatcher and the interpreter. The `test-hooks` cargo feature exposes
//! those modules (hidden from the docs) to vm-core's own tests and to the
//! KPI benchmarks that measure the stages one by one; it is not a stable
//! API.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

/// The user API at the root: what running a guest program needs.
pub use aot::{build_image, load_image, write_image, AotError, AotLoad, BadImagePolicy};
pub use backend::CodegenError;
pub use engine::{EngineKind, RunOutcome, Stats, Vm, VmConfig, VmError, PAGE_TABLE_AREA};
pub use guest::{check_riscv_flags, load_elf, ElfError, LoadedImage, IOV_MAX};
pub use memory::{GuestMemory, GuestMemoryMut, MemFault, MemoryError, StoreEffect, PAGE_SIZE};
pub use mmu::{MmuConfig, MmuStats, PrefetchConfig, PrefetchPolicy, TlbConfig, TlbStats};
pub use state::{GuestState, NUM_GLOBALS};

/// Declares a module internal to the crate. The `test-hooks` feature
/// exposes it, hidden from the documentation, to vm-core's own tests and to
/// the KPI benchmarks, which measure pipeline stages one by one; it is not
/// part of the public API.
macro_rules! internal_mod {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "test-hooks")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "test-hooks"))]
        #[allow(dead_code, unused_imports)]
        pub(crate) mod $name;
    )*};
}

// Subsystems with a user-facing API of their own.
pub mod aot;
pub mod exec;
pub mod gc;
pub mod mmu;
pub mod riscv;
pub mod sched;
pub mod xarch;

// The translation pipeline and its state: internal.
internal_mod!(backend, cache, engine, frontend, guest, interp, ir, memory, opt, rng, state);
