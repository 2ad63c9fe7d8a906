//! RV64IM instruction encoding and decoding, for embedders that place guest
//! code directly (with [`crate::Vm::memory_mut`] or
//! [`crate::Vm::write_guest`]) instead of loading an ELF file, and for tools
//! that disassemble guest code.

pub use crate::frontend::riscv::{decode, encode, DecodeError, Inst, Op};
