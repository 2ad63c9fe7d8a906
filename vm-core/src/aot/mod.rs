//! Ahead-of-time compilation of a guest program into a validated code
//! image that the VM maps with `memmap2` and installs into its block cache
//! before the first instruction runs.
//!
//! Pipeline: [`discover`] finds functions and blocks, [`compile`] turns
//! each block into relocatable x86-64 code, [`mod@format`] writes the image
//! (format in `docs/aot-image.md`), and [`load`] maps a file, validates
//! every byte of it, relocates the code into the VM's W^X code region and
//! installs the blocks. Blocks missing from an image are compiled by the
//! JIT on demand; an image that fails any check is rejected with an error
//! naming the file and the check, and the run either continues under the
//! JIT or stops ([`BadImagePolicy`]).

pub mod compile;
pub mod discover;
pub mod format;
pub mod hash;
pub mod load;

use std::path::PathBuf;
use std::sync::OnceLock;

pub use crate::engine::AotInstall;
pub use compile::{AotCompiler, CompileStats};
pub use format::{BuildInfo, ImageCheck, ImageView, Rejection};
pub use load::{
    build_image, load_image, write_image, AotLoad, BadImagePolicy, ImageSnapshot, InstallError,
    MappedImage,
};

use crate::backend::x86_64::X64Backend;
use crate::backend::CodegenError;
use crate::engine::VmError;
use crate::ir::{BinOp, GuestLoc, IrBuilder, Terminator, Width};

/// Errors of AOT compilation and loading.
#[derive(Debug, thiserror::Error)]
pub enum AotError {
    /// An image failed validation.
    #[error("{}: AOT image rejected: {rejection}", path.display())]
    Rejected {
        /// The image file.
        path: PathBuf,
        /// The failed check.
        rejection: Rejection,
    },
    /// Reading, mapping or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The guest program could not be analysed.
    #[error("cannot discover the program: {0}")]
    Discover(#[from] discover::DiscoverError),
    /// Code generation failed.
    #[error("code generation: {0}")]
    Codegen(#[from] CodegenError),
    /// The image does not fit the format's 32-bit offsets.
    #[error(transparent)]
    TooLarge(#[from] format::TooLarge),
    /// The image just built would fail the loader's checks; it is not
    /// written.
    #[error("the program cannot be compiled into a loadable image: {rejection}")]
    Unloadable {
        /// The check the image would fail.
        rejection: Rejection,
    },
    /// The VM refused the image (wrong engine, already running, ...).
    #[error(transparent)]
    Vm(#[from] VmError),
}

impl AotError {
    /// The failed check, when this is a rejection.
    pub fn check(&self) -> Option<ImageCheck> {
        match self {
            AotError::Rejected { rejection, .. } | AotError::Unloadable { rejection } => {
                Some(rejection.check)
            }
            _ => None,
        }
    }
}

/// Fingerprint of the code `backend` generates: the relocatable code it
/// emits for probe blocks exercising every kind of exit and every
/// load/store width, plus the CPU-state layout and code-map granularity
/// that code depends on. Computed through the same generation path as JIT
/// code, so it reflects the backend's memory model: a change to how loads
/// and stores are emitted (for instance a software TLB), whether by a build
/// or by a VM configuration, or to the backend ABI, changes it, and images
/// built by another code generator are rejected rather than run.
pub(crate) fn codegen_fingerprint_of(backend: &mut X64Backend) -> u64 {
    let mut bytes = Vec::new();
    for probe in probe_blocks() {
        match backend.compile_relocatable(&probe) {
            Ok(rb) => {
                bytes.extend_from_slice(&rb.code);
                for o in &rb.exit_rel32 {
                    bytes.extend_from_slice(&o.to_le_bytes());
                }
                for s in &rb.sites {
                    bytes.extend_from_slice(&s.jump_rel32.to_le_bytes());
                    bytes.extend_from_slice(&s.site_imm32.to_le_bytes());
                }
            }
            // A generator that cannot compile the probes gets a distinct
            // fingerprint (no image matches it).
            Err(e) => bytes.extend_from_slice(e.to_string().as_bytes()),
        }
    }
    use crate::state::offsets as o;
    for v in [
        o::GLOBALS,
        o::PC,
        o::ICOUNT,
        o::FCSR,
        o::QUANTUM,
        o::EXIT_ARG,
        o::MEM_BASE,
        o::MEM_LIMIT,
        o::CODE_MAP,
        o::JMP_CACHE,
        std::mem::size_of::<crate::state::CpuState>() as i32,
        crate::state::JMP_CACHE_ENTRIES as i32,
        crate::memory::PAGE_SHIFT as i32,
    ] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let d = hash::sha256(&bytes);
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// The code-generator fingerprint (`codegen_fingerprint_of`) of the default backend (the one
/// [`AotCompiler`] compiles with), computed once per process.
pub fn codegen_fingerprint() -> u64 {
    static FP: OnceLock<u64> = OnceLock::new();
    *FP.get_or_init(|| match X64Backend::new(4096) {
        Ok(mut be) => codegen_fingerprint_of(&mut be),
        // No executable memory: nothing can be compiled or loaded.
        Err(_) => 0,
    })
}

/// Probe blocks for [`codegen_fingerprint`].
fn probe_blocks() -> Vec<crate::ir::IrBlock> {
    let loc = |i: u32| GuestLoc {
        pc: 0x1000 + 4 * i as u64,
        next_pc: 0x1004 + 4 * i as u64,
        index: i,
    };
    let mut out = Vec::new();
    // Every load and store width, then a conditional branch.
    let mut b = IrBuilder::new();
    let base = b.get(10);
    let mut acc = b.get(11);
    for (i, w) in [Width::W8, Width::W16, Width::W32, Width::W64]
        .into_iter()
        .enumerate()
    {
        let v = b.load(base, 8 * i as i32, w, i % 2 == 0, loc(i as u32));
        acc = b.bin(BinOp::Add, acc, v);
        b.store(base, 64 + 8 * i as i32, acc, w, loc(4 + i as u32));
    }
    b.set(12, acc);
    let zero = b.constant(0);
    out.push(b.finish(
        0x1000,
        9,
        Terminator::Branch {
            cond: crate::ir::Cond::Ne,
            a: acc,
            b: zero,
            taken: 0x1000,
            fallthrough: 0x1024,
        },
    ));
    // Indirect jump, system call and breakpoint exits.
    let mut b = IrBuilder::new();
    let t = b.get(1);
    out.push(b.finish(0x2000, 1, Terminator::JumpIndirect(t)));
    let b = IrBuilder::new();
    out.push(b.finish(
        0x3000,
        1,
        Terminator::Syscall {
            pc: 0x3000,
            next_pc: 0x3004,
        },
    ));
    let b = IrBuilder::new();
    out.push(b.finish(0x4000, 1, Terminator::Breakpoint { pc: 0x4000 }));
    out
}

/// The build facts of the default code generator for blocks of at most
/// `max_block_insns` (what [`AotCompiler`] records in an image).
pub fn build_info(max_block_insns: usize) -> BuildInfo {
    build_info_with(max_block_insns, codegen_fingerprint())
}

fn build_info_with(max_block_insns: usize, codegen_fingerprint: u64) -> BuildInfo {
    BuildInfo {
        vm_version: env!("CARGO_PKG_VERSION").to_string(),
        host_arch: std::env::consts::ARCH.to_string(),
        host_os: std::env::consts::OS.to_string(),
        codegen_fingerprint,
        max_block_insns: max_block_insns.min(u32::MAX as usize) as u32,
    }
}

/// The build facts a VM requires of an image: its own configuration and
/// the fingerprint of its own backend (which embodies its memory model).
pub fn build_info_for(vm: &mut crate::engine::Vm) -> BuildInfo {
    let max = vm.config().max_block_insns;
    build_info_with(max, vm.aot_codegen_fingerprint())
}

#[cfg(test)]
mod tests;
