//! Softmmu access paths: per-site translation slots (`slot_check`),
//! inline probes of way 0 of the software TLB (`tlb_check`), and their
//! out-of-line full-probe and miss stubs (see [`crate::mmu`]).

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use super::analysis::AccessPlan;
use super::lower::Codegen;
use super::regalloc::{Loc, R14, R15, RAX};
use crate::backend::{exit_code, CodegenError};
use crate::ir::{IrOp, Temp, Width};
use crate::mmu::runtime::miss_info;
use crate::mmu::tlb::entry_offsets as tlb_off;
use crate::mmu::AccessType;
use crate::state::offsets as off;

/// Where a TLB probe's range starts.
#[derive(Clone, Copy)]
pub(super) enum ProbeAddr {
    /// `base + disp` (base is an allocatable register, never rax or rcx).
    Reg { base: u8, disp: i32 },
    /// A constant guest address.
    Imm(u64),
}

/// Out-of-line full TLB probe behind a per-site slot check.
#[derive(Clone, Copy)]
pub(super) struct SlotStub {
    pub(super) full: dynasmrt::DynamicLabel,
    pub(super) miss: dynasmrt::DynamicLabel,
    pub(super) back: dynasmrt::DynamicLabel,
    pub(super) base: u8,
    pub(super) disp: i32,
    pub(super) len: u32,
    pub(super) tag: i32,
    /// Offset of the slot in the CPU state.
    pub(super) slot: i32,
    /// Register receiving the addend (r15, or r14 for a loop's second site).
    pub(super) reg: u8,
}

/// Out-of-line TLB miss path of one access.
#[derive(Clone, Copy)]
pub(super) struct MissStub {
    pub(super) label: dynasmrt::DynamicLabel,
    /// Hit whose addend differs from the one in r15: reload it (inline
    /// probes only; slot-checked sites load the addend in their full probe).
    pub(super) reload: Option<dynasmrt::DynamicLabel>,
    pub(super) back: dynasmrt::DynamicLabel,
    pub(super) replay: dynasmrt::DynamicLabel,
    /// Start of the probed range.
    pub(super) at: ProbeAddr,
    pub(super) info: u64,
    /// Slot (CPU-state offset) to refill after a served miss, so r15 and
    /// the slot always agree after the site's probe.
    pub(super) fill_slot: Option<i32>,
    /// Register the access reads its addend from.
    pub(super) reg: u8,
}

impl<'b> Codegen<'b> {
    /// Softmmu fast path: probes way 0 of the TLB set of the range
    /// `[at, at + len)` and makes r15 hold the page's host addend, so the
    /// access is `[r15 + address]` as in flat mode. The way-0 array is
    /// reached through the CPU state (`add rcx, [rbp + TLB_BASE]`), rax and
    /// rcx are scratch. r15 keeps the last addend between accesses and is only
    /// *compared* with the entry's: the access then depends on its address
    /// and r15 alone, and the CPU issues it while the probe is still
    /// checking (branch prediction), so a hit adds no load latency to the
    /// guest's dependency chain. Ten instructions on a hit (eight for a
    /// constant address). A miss calls the shared routine out of line and,
    /// if the handler declines, exits to `replay`. A range whose last byte
    /// is on the next page never matches (its page differs from the tag)
    /// and is resolved by the handler.
    pub(super) fn tlb_check(
        &mut self,
        at: ProbeAddr,
        len: u32,
        access: AccessType,
        replay: dynasmrt::DynamicLabel,
    ) {
        let tag = match access {
            AccessType::Read => tlb_off::TAG_READ,
            AccessType::Write => tlb_off::TAG_WRITE,
            AccessType::Execute => tlb_off::TAG_EXEC,
        };
        let miss = self.asm.new_dynamic_label();
        let reload = self.asm.new_dynamic_label();
        let back = self.asm.new_dynamic_label();
        match at {
            ProbeAddr::Reg { base, disp } => {
                let last = disp + len as i32 - 1;
                if disp == 0 {
                    asm!(self.asm; mov rcx, Rq(base));
                } else {
                    asm!(self.asm; lea rcx, [Rq(base) + disp]);
                }
                asm!(self.asm;
                    shr rcx, (12 - tlb_off::SHIFT) as i8
                    ; and rcx, [rbp + off::TLB_MASK]
                    ; add rcx, [rbp + off::TLB_BASE]
                );
                if last == 0 {
                    asm!(self.asm; mov rax, Rq(base));
                } else {
                    asm!(self.asm; lea rax, [Rq(base) + last]);
                }
                asm!(self.asm; and rax, -4096);
            }
            ProbeAddr::Imm(v) => {
                let page = v.wrapping_add(len as u64 - 1) & !0xfff;
                self.mov_imm(1, v >> (12 - tlb_off::SHIFT));
                asm!(self.asm; and rcx, [rbp + off::TLB_MASK] ; add rcx, [rbp + off::TLB_BASE]);
                self.mov_imm(RAX, page);
            }
        }
        asm!(self.asm;
            cmp rax, [rcx + tag]
            ; jne =>miss
            ; cmp r15, [rcx + tlb_off::ADDEND]
            ; jne =>reload
            ; =>back
        );
        self.misses.push(MissStub {
            label: miss,
            reload: Some(reload),
            back,
            replay,
            at,
            info: miss_info(access, len),
            fill_slot: None,
            reg: R15,
        });
    }

    /// Per-site fast path: each access site owns a slot in the CPU state
    /// holding the page and addend of its last translation; an aligned
    /// access to that page needs five instructions and no TLB lookup:
    ///
    /// ```text
    /// lea rax, [base + disp] ; and rax, -4096 | (len - 1)
    /// cmp rax, [rbp + slot] ; jne full ; mov r15, [rbp + slot + 8]
    /// ```
    ///
    /// (a misaligned access keeps low bits and always takes the full
    /// probe, which also catches page crossings). The out-of-line full
    /// probe looks the TLB up and refills the slot. Slots are valid until
    /// the MMU's next flush or write revocation: the dispatcher clears
    /// them when the MMU generation changed.
    pub(super) fn slot_check(
        &mut self,
        base: u8,
        disp: i32,
        len: u32,
        access: AccessType,
        replay: dynasmrt::DynamicLabel,
    ) -> u8 {
        let tag = match access {
            AccessType::Write => tlb_off::TAG_WRITE,
            AccessType::Read => tlb_off::TAG_READ,
            AccessType::Execute => tlb_off::TAG_EXEC,
        };
        let slot = self.slot_offset(self.cur as usize, access);
        let mask = (!0xfffu64 | (len as u64 - 1)) as i64 as i32;
        let full = self.asm.new_dynamic_label();
        let miss = self.asm.new_dynamic_label();
        let back = self.asm.new_dynamic_label();
        if disp == 0 {
            asm!(self.asm; mov rax, Rq(base));
        } else {
            asm!(self.asm; lea rax, [Rq(base) + disp]);
        }
        asm!(self.asm;
            and rax, mask
            ; cmp rax, [rbp + slot]
            ; jne =>full
        );
        let reg = self.addend_reg(slot);
        if !self.loop_slots.iter().any(|l| l.0 == slot) {
            asm!(self.asm; mov r15, [rbp + slot + 8]);
        }
        asm!(self.asm; =>back);
        self.slot_stubs.push(SlotStub {
            full,
            miss,
            back,
            base,
            disp,
            len,
            tag,
            slot,
            reg,
        });
        self.misses.push(MissStub {
            label: miss,
            reload: None,
            back,
            replay,
            at: ProbeAddr::Reg { base, disp },
            info: miss_info(access, len),
            fill_slot: Some(slot),
            reg,
        });
        reg
    }

    /// CPU-state offset of the translation slot of the access at op `index`.
    pub(super) fn slot_offset(&self, index: usize, access: AccessType) -> i32 {
        let bank = if access == AccessType::Write { 64 } else { 0 };
        let i = bank + ((self.b.pc as usize >> 2).wrapping_add(index) & 63);
        off::TLB_SLOTS + 16 * i as i32
    }

    /// For a self-loop whose only probes are one or two slot-checked
    /// accesses: their slots, with the register that holds each slot's
    /// addend throughout the loop (r15, then r14, which the softmmu does not
    /// otherwise need). Loaded before the loop body; every probe path (slot
    /// hit, full probe, served miss) leaves the register and the slot in
    /// agreement, so slot hits need not reload it.
    pub(super) fn loop_slot_sites(&self) -> Vec<(i32, u8)> {
        let mut sites: Vec<(i32, u8)> = Vec::new();
        for (i, op) in self.b.ops.iter().enumerate() {
            let (addr, access) = match *op {
                IrOp::Load { addr, .. } => (addr, AccessType::Read),
                IrOp::Store { addr, .. } => (addr, AccessType::Write),
                _ => continue,
            };
            match self.plans[i] {
                AccessPlan::Covered => continue,
                AccessPlan::Head { .. } => return Vec::new(),
                AccessPlan::Own => {}
            }
            let constant = self
                .b
                .ops
                .iter()
                .any(|o| matches!(*o, IrOp::Const { dst, .. } if dst == addr));
            let slot = self.slot_offset(i, access);
            if constant || sites.len() == 2 || sites.iter().any(|s| s.0 == slot) {
                return Vec::new();
            }
            let reg = if sites.is_empty() { R15 } else { R14 };
            sites.push((slot, reg));
        }
        sites
    }

    /// Register an access through `slot` takes its host addend from.
    pub(super) fn addend_reg(&self, slot: i32) -> u8 {
        self.loop_slots
            .iter()
            .find(|l| l.0 == slot)
            .map_or(R15, |l| l.1)
    }

    /// Emits the TLB probe the access plan asks for, before the access's
    /// address is materialized (the probe uses rax and rcx as scratch).
    pub(super) fn softmmu_probe(
        &mut self,
        addr: Temp,
        disp: i32,
        width: Width,
        loc: crate::ir::GuestLoc,
        access: AccessType,
    ) -> Result<u8, CodegenError> {
        let (lo, len) = match self.plans[self.cur as usize] {
            AccessPlan::Covered => return Ok(R15),
            AccessPlan::Own => (disp, width.bytes() as u32),
            AccessPlan::Head { lo, len } => (lo, len),
        };
        if self.plans[self.cur as usize] == AccessPlan::Own
            && !matches!(self.loc[addr as usize], Loc::Const(_))
        {
            let base = self.use_reg(addr)?;
            let replay = self.fault_label(loc, exit_code::MMU_SLOW, false, 1);
            return Ok(self.slot_check(base, disp, len, access, replay));
        }
        let at = match self.loc[addr as usize] {
            Loc::Const(v) => ProbeAddr::Imm(v.wrapping_add(lo as i64 as u64)),
            _ => ProbeAddr::Reg {
                base: self.use_reg(addr)?,
                disp: lo,
            },
        };
        // (The dispatcher replays the access; the exit argument is unused.)
        let replay = self.fault_label(loc, exit_code::MMU_SLOW, false, 1);
        self.tlb_check(at, len, access, replay);
        Ok(R15)
    }
}
