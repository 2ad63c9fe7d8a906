//! AArch64 frontend: decodes the A64 integer subset gcc emits at -O2 for
//! ordinary C (own decoder: the subset is small and regular) and lifts it
//! into the IR.
//!
//! Globals: `x0..x30` are globals 0..30, `sp` is global 31, the flags Z, N,
//! C, V are globals 32..35 ([`FLAG_GLOBALS`]). Register number 31 means
//! `sp` or `xzr` depending on the instruction, exactly as in the Arm ARM.
//! Anything outside the subset (SIMD/FP, system registers, exclusives,
//! atomics, ...) is a [`TranslateError::Unsupported`] with its mnemonic.

mod decode;
mod lift;

pub use decode::{decode_bit_masks, mnemonic};
pub use lift::{lift_dynamic_block, A64Frontend, A64Insn, FLAG_GLOBALS, NUM_A64_GLOBALS, SP};

use crate::frontend::TranslateError;
