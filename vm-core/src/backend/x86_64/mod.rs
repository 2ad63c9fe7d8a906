//! x86-64 backend.
//!
//! Encoding uses `dynasmrt`: instruction templates are checked and
//! pre-encoded at Rust compile time by the `dynasm!` macro, so emitting a
//! block at run time is a handful of byte pushes plus relocation fix-ups,
//! which keeps translation in the tens of nanoseconds per guest instruction.

mod codebuf;
mod emit;

pub use codebuf::ExecMemory;
pub use emit::{
    ChainSite, CodegenStageTimes, CompiledBlock, RelocatableBlock, RelocatableSite, X64Backend,
};
