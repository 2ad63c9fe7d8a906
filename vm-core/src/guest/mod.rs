//! The guest process: ELF loading, initial stack per the Linux RISC-V ABI,
//! and the Linux system calls small static programs need.

pub mod elf;
pub mod paged;
pub mod stack;
pub mod syscall;

pub use elf::{check_riscv_flags, load_elf, ElfError, LoadedImage};
pub use paged::load_elf_sv39;
pub use stack::setup_stack;
pub use syscall::{SyscallHandler, SyscallOutcome, IOV_MAX};
