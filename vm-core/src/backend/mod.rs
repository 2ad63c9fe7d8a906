//! Host code generators: IR -> machine code. One submodule per host ISA
//! (Cranelift `isa/<arch>/` style); everything above this module is
//! host-independent.
//!
//! Generated blocks share one ABI: a pointer to [`crate::state::CpuState`]
//! in a fixed register, guest state written through to the CPU state before
//! any exit, and an exit code (below) returned to the dispatcher. Blocks
//! only reference the shared exit routine and other blocks, both by
//! rel32 displacement inside one code region, never absolute host
//! addresses of runtime helpers, so code stays relocatable as a whole.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;

/// Why generated code returned to the dispatcher (low byte of the exit word).
pub mod exit_code {
    /// Direct jump to a pc whose block is not chained yet; `exit_arg` is the
    /// code-region offset of the patchable rel32 field.
    pub const CHAIN: u64 = 1;
    /// Indirect jump missed the jump cache; `pc` holds the target.
    pub const INDIRECT: u64 = 2;
    /// System call; `pc` is the resume pc, `exit_arg` the ecall pc.
    pub const SYSCALL: u64 = 3;
    /// Breakpoint at `pc`.
    pub const BREAKPOINT: u64 = 4;
    /// Out-of-range load at `pc`, address in `exit_arg`; bits 8.. = log2 size.
    pub const FAULT_LOAD: u64 = 5;
    /// Out-of-range store at `pc`, address in `exit_arg`; bits 8.. = log2 size.
    pub const FAULT_STORE: u64 = 6;
    /// Store into a code page; `pc` is the next pc, `exit_arg` the address.
    pub const CODE_MODIFIED: u64 = 7;
    /// The block quantum ran out before entering the block at `pc`.
    pub const QUANTUM: u64 = 8;
    /// Softmmu: the TLB miss handler declined the access of the instruction
    /// at `pc` (page fault, store to a code page, split access); the
    /// dispatcher replays that instruction in the interpreter.
    pub const MMU_SLOW: u64 = 9;
    /// A baseline-tier block's tier-up counter reached zero at its entry
    /// (before it ran); `pc` is the block's pc: recompile it with the
    /// optimizing tier.
    pub const TIER_UP: u64 = 10;
    /// The instruction at `pc` has no native lowering (an operation whose
    /// [`crate::frontend::riscv::Op::lowering`] is `Interpret`): it did not
    /// retire; the dispatcher interprets exactly that instruction and
    /// continues after it.
    pub const INTERPRET: u64 = 11;
    /// A superblock at `pc` (basic blocks joined past forward branches)
    /// found fewer blocks left in the quantum than it holds, but at least
    /// one, already charged: the dispatcher interprets the basic block at
    /// `pc` and continues after it.
    pub const INTERPRET_BLOCK: u64 = 12;
}

/// Why code generation failed (the engine then interprets the block).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    /// The executable code region is full; flush and retry.
    #[error("code region full")]
    CodeRegionFull,
    /// More simultaneously live values than spill slots.
    #[error("block needs more than {0} spill slots")]
    TooManySpills(usize),
    /// The assembler rejected the generated instructions.
    #[error("assembler error: {0}")]
    Assembler(String),
    /// Mapping or protecting executable memory failed.
    #[error("executable memory: {0}")]
    ExecMemory(String),
}

pub mod aarch64;
pub mod riscv64;
pub mod unitgen;
