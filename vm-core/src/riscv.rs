//! RV64IMC instruction encoding and decoding, for embedders that place guest
//! code directly (with [`crate::Vm::memory_mut`] or
//! [`crate::Vm::write_guest`]) instead of loading an ELF file, and for tools
//! that disassemble guest code. [`decode()`] takes a 32-bit word;
//! [`decode_parcel`] also accepts compressed (16-bit) instructions.

pub use crate::frontend::riscv::{
    decode, decode_compressed, decode_parcel, encode, insn_len, DecodeError, Inst, Op,
};
