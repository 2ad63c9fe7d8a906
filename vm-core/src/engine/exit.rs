//! How a block was left, as reported by the interpreter and decoded from JIT exits.

use crate::memory::MemFault;

/// How a block was left (shared by interpreter and JIT exits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Continue at this pc.
    Next(u64),
    /// System call at `pc`.
    Syscall {
        /// Pc of the ecall.
        pc: u64,
    },
    /// Memory fault at `pc`.
    Fault {
        /// Faulting instruction.
        pc: u64,
        /// The access.
        fault: MemFault,
        /// Whether it was a store.
        store: bool,
    },
    /// A store wrote into a page holding translated code.
    CodeModified {
        /// Pc to resume at.
        next_pc: u64,
        /// Modified guest page.
        page: u64,
    },
    /// Breakpoint at `pc`.
    Breakpoint {
        /// Pc of the ebreak.
        pc: u64,
    },
    /// Illegal instruction at `pc`.
    Illegal {
        /// Pc of the instruction.
        pc: u64,
        /// Its encoding.
        bits: u32,
    },
    /// The quantum ran out.
    Quantum,
}
