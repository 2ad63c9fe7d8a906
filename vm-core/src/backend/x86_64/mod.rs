//! x86-64 backend: IR -> x86-64 with a per-block register allocator, one
//! module per stage.
//!
//! ```text
//! backend.rs   X64Backend: code region, trampoline, stage driver, public types
//! baseline.rs  baseline tier: decoded RV64 instructions -> fixed templates
//! analysis.rs  liveness, self-loop carried globals, softmmu access plans
//! regalloc.rs  where temps live, eviction, deferred loop write-backs
//! lower.rs     IR ops and terminators -> instructions, exits, chain sites, stubs
//! softmmu.rs   TLB slot checks, inline TLB probes, miss stubs
//! codebuf.rs   executable memory (memfd mapped twice: RX executed, RW written)
//! ```
//!
//! Encoding uses `dynasmrt`: instruction templates are checked and
//! pre-encoded at Rust compile time by the `dynasm!` macro, so emitting a
//! block at run time is byte pushes plus relocation fix-ups of the
//! block's own labels.

/// `dynasm!` for x86-64 (every stage module emits through it).
macro_rules! asm {
    ($ops:expr; $($t:tt)*) => {
        dynasm!($ops ; .arch x64 ; $($t)*)
    };
}

mod analysis;
mod backend;
mod baseline;
mod codebuf;
mod lower;
mod regalloc;
mod softmmu;
#[cfg(test)]
mod tests;

pub use backend::{
    ChainSite, CodegenStageTimes, CompiledBlock, RelocatableBlock, RelocatableSite, X64Backend,
};
pub use codebuf::ExecMemory;
