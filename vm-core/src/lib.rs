//! vm-core: the virtual machine measured by the KPI suite.
//!
//! The translation pipeline, one module per stage (see `ARCHITECTURE.md`):
//! [`guest`] (ELF loading, syscalls) -> [`frontend`] (RV64IM, x86-64 and
//! AArch64 decoders lifting into the [`ir`]) -> [`opt`] -> [`backend`]
//! (x86-64 JIT; AArch64 and RV64 emitters) -> [`cache`] (translated blocks,
//! chaining) -> [`engine`] (interpreter / JIT / tiered dispatch), with
//! [`interp`] as the reference. Memory goes through [`memory`] (flat) or
//! [`mmu`] (Sv39 + software TLB). Around the pipeline: [`aot`] (ahead-of-time
//! images), [`xarch`] (cross-architecture translation units and mixed
//! execution), [`exec`] and [`sched`] (async vCPUs on a work-stealing
//! scheduler), and [`gc`] (a tracing collector for managed heaps).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub use aot::{build_image, load_image, write_image, AotError, AotLoad, BadImagePolicy};
pub use engine::{EngineKind, RunOutcome, Stats, Vm, VmConfig, VmError};
pub use guest::{check_riscv_flags, load_elf, ElfError, LoadedImage};
pub use memory::{GuestMemory, GuestMemoryMut, MemFault, MemoryError, PAGE_SIZE};
pub use mmu::{MmuConfig, PrefetchConfig, PrefetchPolicy, TlbConfig};
pub use state::{GuestState, NUM_GLOBALS};

pub mod aot;
pub mod backend;
pub mod cache;
pub mod engine;
pub mod exec;
pub mod frontend;
pub mod gc;
pub mod guest;
pub mod interp;
pub mod ir;
pub mod memory;
pub mod mmu;
pub mod opt;
pub mod rng;
pub mod sched;
pub mod state;
pub mod xarch;
