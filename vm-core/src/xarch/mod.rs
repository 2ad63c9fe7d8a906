//! Cross-architecture translation (QEMU TCG style): guest frontends
//! (`frontend::x86_64`, `frontend::aarch64`) lift machine
//! code into the shared IR, host backends (`backend::aarch64`,
//! `backend::riscv64`, and the x86-64 JIT) emit it again.
//!
//! [`mod@unit`] translates whole functions for the ahead-of-time style
//! backends; [`mixed`] runs RV64 and AArch64 guest code in one process on
//! the x86-64 JIT, switching between the two architectures.

#[cfg(test)]
mod check;
pub mod inputs;
#[cfg(test)]
pub(crate) mod irexec;
pub mod mixed;
pub mod native;
pub mod unit;
