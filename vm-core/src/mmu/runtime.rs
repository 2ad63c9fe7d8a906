//! The TLB miss handler generated code calls.
//!
//! Generated code reaches it through `CpuState::tlb_miss_fn` (loaded via
//! the CPU-state pointer, never an address baked into code) and finds the
//! MMU and guest memory through `CpuState::mmu_ctx`, which the dispatcher
//! points at a [`JitMmuContext`] for the duration of each entry into
//! generated code.

use super::{AccessType, Mmu};
use crate::memory::GuestMemory;
use crate::state::CpuState;

/// What the miss handler returns (in `rax:rdx` under the SysV ABI).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissResult {
    /// Host addend of the page (valid when `status == 0`).
    pub addend: u64,
    /// 0: use `addend`; 1: leave the block and replay the access in the interpreter.
    pub status: u64,
}

/// Pointers the miss handler needs, valid while generated code runs.
pub struct JitMmuContext {
    /// Guest physical memory.
    pub mem: *mut GuestMemory,
    /// The hart's MMU.
    pub mmu: *mut Mmu,
}

/// Encodes the miss-handler argument: access type in bits 0..2, length in
/// bytes of the probed range (an access, or a run of accesses through one
/// base register; at most 4096) from bit 2 on.
pub const fn miss_info(access: AccessType, len: u32) -> u64 {
    access.code() | ((len as u64) << 2)
}

/// Miss handler called by generated code.
///
/// # Safety
/// `cpu.mmu_ctx` must point at a live [`JitMmuContext`] whose pointers are
/// valid and not otherwise borrowed during the call.
pub unsafe extern "sysv64" fn tlb_miss_handler(
    cpu: *mut CpuState,
    va: u64,
    info: u64,
) -> MissResult {
    // SAFETY: guaranteed by the caller (the dispatcher sets the context
    // right before entering generated code and keeps it alive).
    let ctx = unsafe { &*((*cpu).mmu_ctx as *const JitMmuContext) };
    // SAFETY: the context's memory and MMU pointers are live and not
    // otherwise borrowed while generated code runs (caller contract).
    let (mem, mmu) = unsafe { (&mut *ctx.mem, &mut *ctx.mmu) };
    let access = AccessType::from_code(info);
    let size = (info >> 2).clamp(1, 4096);
    match mmu.jit_miss(mem, va, size, access) {
        Some(addend) => MissResult { addend, status: 0 },
        None => {
            mmu.jit_slow_exits += 1;
            MissResult {
                addend: 0,
                status: 1,
            }
        }
    }
}
