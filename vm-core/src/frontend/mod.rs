//! Guest frontends: decode guest machine code and translate it into the
//! guest-independent IR ([`crate::ir`]). Each guest architecture lives in
//! its own submodule.

pub mod aarch64;
pub mod flags;
pub mod riscv;
pub mod x86_64;
