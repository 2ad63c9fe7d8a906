//! The guest process: ELF loading, initial stack per the Linux RISC-V ABI,
//! and the Linux system calls small static programs need.

pub mod elf;
pub mod paged;
pub mod stack;
pub mod syscall;

pub use elf::{check_riscv_flags, load_elf, ElfError, LoadedImage};
pub use paged::{apply_map_effect, load_elf_sv39, MapEffectError};
pub use stack::setup_stack;
pub use syscall::{FsRoot, MapEffect, SyscallHandler, SyscallOutcome, IOV_MAX};

/// The mappings a freshly loaded program has, as `mmap` bookkeeping sees
/// them: its segments (page-rounded, `PROT_*` from `p_flags`) and the
/// stack region `[stack_start, limit)`.
pub fn initial_mappings(img: &LoadedImage, stack_start: u64, limit: u64) -> Vec<(u64, u64, u32)> {
    let mut v: Vec<(u64, u64, u32)> = img
        .segments
        .iter()
        .map(|&(vaddr, memsz, flags)| {
            let mut prot = 0;
            if flags & 4 != 0 {
                prot |= syscall::PROT_READ;
            }
            if flags & 2 != 0 {
                prot |= syscall::PROT_WRITE;
            }
            if flags & 1 != 0 {
                prot |= syscall::PROT_EXEC;
            }
            (vaddr, vaddr + memsz, prot)
        })
        .collect();
    v.push((stack_start, limit, syscall::PROT_READ | syscall::PROT_WRITE));
    v
}
