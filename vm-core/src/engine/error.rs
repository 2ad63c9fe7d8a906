//! Errors that stop the VM.

use thiserror::Error;

use crate::backend::CodegenError;
use crate::guest::ElfError;
use crate::memory::{MemFault, MemoryError};

/// Guest or configuration errors that stop the VM.
#[derive(Debug, Error)]
pub enum VmError {
    /// The program could not be loaded.
    #[error("cannot load program: {0}")]
    Elf(#[from] ElfError),
    /// Guest memory could not be created.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The initial stack does not fit.
    #[error("arguments do not fit on the guest stack: {0}")]
    Stack(MemFault),
    /// A guest load or store outside guest memory.
    #[error("guest memory fault at pc {pc:#x} ({kind}): {fault}")]
    MemFault {
        /// Faulting instruction.
        pc: u64,
        /// The access.
        fault: MemFault,
        /// "load" or "store".
        kind: &'static str,
    },
    /// Instruction fetch outside guest memory.
    #[error("guest instruction fetch fault at pc {pc:#x}")]
    FetchFault {
        /// Target pc.
        pc: u64,
    },
    /// Illegal or unsupported instruction.
    #[error("illegal instruction {bits:#010x} at pc {pc:#x}")]
    IllegalInstruction {
        /// Pc of the instruction.
        pc: u64,
        /// Its encoding.
        bits: u32,
    },
    /// A system call this VM does not implement.
    #[error("unknown system call {nr} at pc {pc:#x}")]
    UnknownSyscall {
        /// Syscall number (a7).
        nr: u64,
        /// Pc of the ecall.
        pc: u64,
    },
    /// The guest executed ebreak.
    #[error("guest breakpoint (ebreak) at pc {pc:#x}")]
    Breakpoint {
        /// Pc of the ebreak.
        pc: u64,
    },
    /// The instruction budget ran out.
    #[error("instruction budget of {budget} exhausted at pc {pc:#x}")]
    BudgetExhausted {
        /// Configured budget.
        budget: u64,
        /// Where the guest was.
        pc: u64,
    },
    /// Invalid configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// JIT infrastructure failure (not a guest error).
    #[error("jit: {0}")]
    Codegen(#[from] CodegenError),
}
