//! Architectural state of one virtual CPU, laid out for generated code.
//!
//! The layout is `#[repr(C)]` and its field offsets are part of the JIT ABI:
//! generated code addresses the guest registers ("globals" in IR terms) and
//! the runtime fields relative to a pointer to this struct.
//!
//! Two halves with different audiences:
//!
//! - [`GuestState`]: what the guest sees (registers, pc, retired-instruction
//!   count). Any value is harmless to the host, so users read and write it
//!   freely (`Vm::cpu`, `Vm::cpu_mut`).
//! - The host context of [`CpuState`] (guest-memory base and bounds, code
//!   map, jump cache, TLB pointers, ...): raw host addresses that generated
//!   code dereferences without checks. Those fields are private to the
//!   crate; a wrong value there would let the guest read or write host
//!   memory, so no safe API hands them out.

use std::mem::offset_of;
use std::ops::{Deref, DerefMut};

/// Number of IR globals (guest registers) a CPU state can hold. RV64 uses
/// 32; the headroom is for guests with more architectural registers.
pub const NUM_GLOBALS: usize = 64;

/// Size of the indirect-jump cache in entries (power of two).
pub const JMP_CACHE_ENTRIES: usize = 4096;

/// Access sites' last translations kept by generated code under the softmmu
/// (64 load slots, then 64 store slots).
pub const TLB_SLOTS: usize = 128;

/// One entry of the indirect-jump cache: guest pc -> host entry point.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct JmpCacheEntry {
    /// Guest pc; an empty entry holds `u64::MAX` (never a target: they are
    /// even), or 0 in any slot but pc 0's (see `engine::jmp_cache`).
    pub pc: u64,
    /// Host address of the translated block entry.
    pub host: u64,
}

/// The guest-visible part of a CPU: registers, pc and retired-instruction
/// count. Every value is valid: what the guest does with it stays inside
/// the guest.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestState {
    /// Guest registers; for RV64, `globals[i]` is `x{i}` and `globals[0]`
    /// stays 0; `globals[32 + i]` is `f{i}` as a raw 64-bit pattern (single
    /// precision values NaN-boxed: upper 32 bits all ones).
    pub globals: [u64; NUM_GLOBALS],
    /// Guest program counter of the next instruction to execute.
    pub pc: u64,
    /// Guest instructions retired so far.
    pub icount: u64,
    /// RISC-V `fcsr`: bits 4:0 the accrued exception flags (`fflags`: NV,
    /// DZ, OF, UF, NX from bit 4 down), bits 7:5 the dynamic rounding mode
    /// (`frm`); the other bits stay 0.
    pub fcsr: u64,
    /// LR/SC reservation (A extension): the address of the last LR, or
    /// `u64::MAX` when none is held.
    pub reservation: u64,
    /// The value that LR loaded (zero-extended). An SC succeeds iff its
    /// address is `reservation` and memory there still holds this value
    /// (compared at the SC's width): the rule of QEMU's user mode, which a
    /// multi-hart VM implements as one host compare-and-swap.
    pub reservation_value: u64,
}

/// [`GuestState::reservation`] when no LR reservation is held.
pub const NO_RESERVATION: u64 = u64::MAX;

impl Default for GuestState {
    fn default() -> Self {
        Self {
            globals: [0; NUM_GLOBALS],
            pc: 0,
            icount: 0,
            fcsr: 0,
            reservation: NO_RESERVATION,
            reservation_value: 0,
        }
    }
}

/// Guest-visible registers plus the host context generated code needs.
///
/// Dereferences to its [`GuestState`]; the host-context fields are private
/// to the crate (see the module docs).
#[repr(C)]
pub struct CpuState {
    /// Registers, pc and retired count (first, so their offsets are those
    /// of `GuestState`).
    guest: GuestState,
    /// Blocks the JIT may still enter before returning to the dispatcher.
    pub(crate) quantum: u64,
    /// Payload of the last JIT exit (chain site, fault address, syscall pc).
    pub(crate) exit_arg: u64,
    /// Host address of guest address 0.
    pub(crate) mem_base: u64,
    /// `len - size` for access sizes 1, 2, 4, 8: an access at `a` is in
    /// bounds iff `a <= mem_limit[log2(size)]` (unsigned).
    pub(crate) mem_limit: [u64; 4],
    /// Host address of the per-page code map of guest memory.
    pub(crate) code_map: u64,
    /// Host address of the indirect-jump cache (`JMP_CACHE_ENTRIES` entries).
    pub(crate) jmp_cache: u64,
    /// Host address of the software TLB's way-0 array (MMU mode).
    pub(crate) tlb_base: u64,
    /// Masks `vaddr >> 7` to a byte offset into the way-0 array.
    pub(crate) tlb_mask: u64,
    /// Address of the TLB miss handler ([`crate::mmu::runtime::tlb_miss_handler`]).
    pub(crate) tlb_miss_fn: u64,
    /// Context of the miss handler, set by the dispatcher per entry.
    pub(crate) mmu_ctx: u64,
    /// MMU generation the slots below were filled under; the dispatcher
    /// clears them when the MMU's generation moved on (flush, revoke).
    pub(crate) tlb_slot_gen: u64,
    /// Per-access-site translation cache of generated code: `[page, addend]`
    /// (page `u64::MAX` = empty). A second, tiny TLB level in front of the
    /// SoftTlb: valid until the next `sfence.vma` or write revocation.
    pub(crate) tlb_slots: [[u64; 2]; TLB_SLOTS],
    /// Host address of the engine's tier-up counters (one `u32` per
    /// baseline-compiled block; see `backend::exit_code::TIER_UP`).
    pub(crate) tier_counters: u64,
    /// Address of the floating-point helper generated code calls
    /// ([`crate::interp::fp::jit_fp_helper`]; through this field, never
    /// an address in code, so AOT images stay relocatable).
    pub(crate) fp_helper_fn: u64,
}

/// Byte offsets of [`CpuState`] fields, for the backends.
pub mod offsets {
    use super::*;
    const GUEST: usize = offset_of!(CpuState, guest);
    /// Offset of `globals[0]`.
    pub const GLOBALS: i32 = (GUEST + offset_of!(GuestState, globals)) as i32;
    /// Offset of `pc`.
    pub const PC: i32 = (GUEST + offset_of!(GuestState, pc)) as i32;
    /// Offset of `icount`.
    pub const ICOUNT: i32 = (GUEST + offset_of!(GuestState, icount)) as i32;
    /// Offset of `fcsr`.
    pub const FCSR: i32 = (GUEST + offset_of!(GuestState, fcsr)) as i32;
    /// Offset of `quantum`.
    pub const QUANTUM: i32 = offset_of!(CpuState, quantum) as i32;
    /// Offset of `exit_arg`.
    pub const EXIT_ARG: i32 = offset_of!(CpuState, exit_arg) as i32;
    /// Offset of `mem_base`.
    pub const MEM_BASE: i32 = offset_of!(CpuState, mem_base) as i32;
    /// Offset of `mem_limit[0]`.
    pub const MEM_LIMIT: i32 = offset_of!(CpuState, mem_limit) as i32;
    /// Offset of `code_map`.
    pub const CODE_MAP: i32 = offset_of!(CpuState, code_map) as i32;
    /// Offset of `jmp_cache`.
    pub const JMP_CACHE: i32 = offset_of!(CpuState, jmp_cache) as i32;
    /// Offset of `tlb_base`.
    pub const TLB_BASE: i32 = offset_of!(CpuState, tlb_base) as i32;
    /// Offset of `tlb_mask`.
    pub const TLB_MASK: i32 = offset_of!(CpuState, tlb_mask) as i32;
    /// Offset of `tlb_miss_fn`.
    pub const TLB_MISS_FN: i32 = offset_of!(CpuState, tlb_miss_fn) as i32;
    /// Offset of `mmu_ctx`.
    pub const MMU_CTX: i32 = offset_of!(CpuState, mmu_ctx) as i32;
    /// Offset of `tlb_slots[0]`.
    pub const TLB_SLOTS: i32 = offset_of!(CpuState, tlb_slots) as i32;
    /// Offset of `tier_counters`.
    pub const TIER_COUNTERS: i32 = offset_of!(CpuState, tier_counters) as i32;
    /// Offset of `fp_helper_fn`.
    pub const FP_HELPER_FN: i32 = offset_of!(CpuState, fp_helper_fn) as i32;
}

impl Default for CpuState {
    fn default() -> Self {
        Self {
            guest: GuestState::default(),
            quantum: 0,
            exit_arg: 0,
            mem_base: 0,
            mem_limit: [0; 4],
            code_map: 0,
            jmp_cache: 0,
            tlb_base: 0,
            tlb_mask: 0,
            tlb_miss_fn: 0,
            mmu_ctx: 0,
            tlb_slot_gen: 0,
            tlb_slots: [[u64::MAX, 0]; TLB_SLOTS],
            tier_counters: 0,
            fp_helper_fn: crate::interp::fp::jit_fp_helper as *const () as usize as u64,
        }
    }
}

impl Deref for CpuState {
    type Target = GuestState;
    fn deref(&self) -> &GuestState {
        &self.guest
    }
}

impl DerefMut for CpuState {
    fn deref_mut(&mut self) -> &mut GuestState {
        &mut self.guest
    }
}

impl CpuState {
    /// The guest-visible state.
    pub fn guest(&self) -> &GuestState {
        &self.guest
    }

    /// The guest-visible state, mutably (host context stays untouched).
    pub fn guest_mut(&mut self) -> &mut GuestState {
        &mut self.guest
    }

    /// Empties the per-site translation slots of generated code.
    pub(crate) fn clear_tlb_slots(&mut self) {
        self.tlb_slots = [[u64::MAX, 0]; TLB_SLOTS];
    }

    /// Points the runtime fields at a guest memory of `len` bytes.
    pub(crate) fn attach_memory(&mut self, base: *mut u8, len: u64, code_map: *const u8) {
        self.mem_base = base as u64;
        self.mem_limit = [len - 1, len - 2, len - 4, len - 8];
        self.code_map = code_map as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_state_sits_at_the_start_with_the_old_offsets() {
        // The JIT ABI (and AOT images' fingerprint) depend on these.
        assert_eq!(offsets::GLOBALS, 0);
        assert_eq!(offsets::PC, 8 * NUM_GLOBALS as i32);
        assert_eq!(offsets::ICOUNT, offsets::PC + 8);
        assert_eq!(offsets::FCSR, offsets::ICOUNT + 8);
                assert_eq!(
            offsets::QUANTUM as usize,
            std::mem::size_of::<GuestState>()
        );
    }
}
