//! x86-64 frontend: decodes into its own instruction record ([`X86Insn`],
//! `insn.rs`: the common forms with its own table-driven decoder,
//! `decode.rs`; everything else with iced-x86, converted) and lifts the
//! integer subset gcc emits at -O2 for ordinary C into the IR.
//!
//! Globals: `rax..r15` are globals 0..15 (iced register numbering), the
//! flags Z, N(SF), C(CF), V(OF) are globals 16..19 (see [`FLAG_GLOBALS`]).
//! Flags are lazy ([`crate::frontend::flags`]). Everything else (SIMD, x87,
//! string ops, segment overrides, parity flag, high-byte registers, ...) is
//! a [`TranslateError::Unsupported`] naming the instruction.

mod decode;
mod insn;
mod lift;

pub use insn::{Class, X86Insn};
pub use lift::{X86Frontend, FLAG_GLOBALS, NUM_X86_GLOBALS};

use crate::frontend::TranslateError;

#[cfg(test)]
mod native_check;
