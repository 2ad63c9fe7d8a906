//! Register allocation, fused with lowering: where each temp lives
//! ([`Loc`]), the pool of host registers, eviction (free for values whose
//! guest register still holds them, else to a spill slot), and the
//! write-back of deferred loop globals at exits.
//!
//! Register roles: `rbp` = CPU state, `r15` = guest memory base (softmmu:
//! host addend of the last translated page), `r14` = code-page map
//! (softmmu: free, or the addend of a two-access loop's second site),
//! `r13` = blocks left in the quantum, `r12` = guest instructions retired
//! (both synced with the CPU state by the trampoline, so per-block
//! accounting is two register ops), `rax`/`rcx`/`rdx` = scratch
//! (addresses, shift counts), and `rbx rsi rdi r8..r11 rdx` hold IR temps
//! (`rdx` is vacated around wide multiplies and divisions).
//!
//! Guest registers are cached in host registers within a block: a global is
//! loaded from the CPU state at most once (the optimizer forwards later
//! reads), lazily at its first real use, and a value whose global still
//! holds it can be evicted for free. Writes go through to the CPU state
//! immediately, so state is exact at every early exit and exits need no
//! write-back code.

use dynasmrt::{dynasm, DynasmApi};

use super::lower::{fits_i32, Codegen};
use crate::backend::CodegenError;
use crate::ir::Temp;

pub(super) const RAX: u8 = 0;
pub(super) const RDX: u8 = 2;
pub(super) const R14: u8 = 14;
pub(super) const R15: u8 = 15;
/// Allocatable registers; `rdx` last, as wide multiply and division take it.
pub(super) const POOL: [u8; 8] = [3, 6, 7, 8, 9, 10, 11, RDX];
pub(super) const SPILL_SLOTS: usize = 64;
pub(super) const FRAME: i32 = 8 + 8 * SPILL_SLOTS as i32;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Loc {
    /// Not yet defined or dead.
    None,
    /// Compile-time constant, never materialized unless needed.
    Const(u64),
    /// In a host register.
    Reg(u8),
    /// Only in its home global slot of the CPU state.
    Home,
    /// In a stack spill slot.
    Slot(u8),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Opnd {
    Imm(i32),
    Reg(u8),
}

/// Where a deferred global's current value is when an exit writes it back.
#[derive(Clone, Copy)]
pub(super) enum WbSrc {
    Reg(u8),
    Slot(u8),
    Const(u64),
    /// In another global's CPU-state slot (a written-through value).
    Global(u8),
}

impl<'b> Codegen<'b> {
    /// Copies the current value of `t` into host register `r` (loc unchanged).
    pub(super) fn copy_to(&mut self, r: u8, t: Temp) {
        match self.loc[t as usize] {
            Loc::Const(v) => self.mov_imm(r, v),
            Loc::Reg(s) => {
                if s != r {
                    asm!(self.asm; mov Rq(r), Rq(s));
                }
            }
            Loc::Home => {
                let g = self.home[t as usize].expect("home temp has a home");
                let d = Self::global_off(g);
                asm!(self.asm; mov Rq(r), [rbp + d]);
            }
            Loc::Slot(s) => {
                let d = 8 * s as i32;
                asm!(self.asm; mov Rq(r), [rsp + d]);
            }
            Loc::None => unreachable!("use of undefined temp {t}"),
        }
    }

    /// A free, unpinned pool register; registers reserved for the
    /// end-of-body value of a self-loop's carried global (see
    /// [`Codegen::reserved`]) only when no other is free.
    pub(super) fn free_reg(&self) -> Option<u8> {
        let free = |r: &u8| self.reg_temp[*r as usize].is_none() && self.pinned & (1 << *r) == 0;
        POOL.iter()
            .copied()
            .find(|r| free(r) && self.reserved & (1 << r) == 0)
            .or_else(|| POOL.iter().copied().find(free))
    }

    /// The loop-head register of the carried global whose end-of-body
    /// value `t` is, if that register is free now: defining `t` there
    /// saves the back edge a move (and a cycle on the loop's critical
    /// path where move elimination is off).
    pub(super) fn tail_hint(&self, t: Temp) -> Option<u8> {
        let (_, r) = *self.tail_regs[..self.n_tails]
            .iter()
            .find(|&&(tail, _)| tail == t)?;
        (self.reg_temp[r as usize].is_none() && self.pinned & (1 << r) == 0).then_some(r)
    }

    /// A register for the result `dst` of the current op: its loop-head
    /// register when it is a carried global's end-of-body value and that is
    /// free, else any (see [`Self::alloc`]).
    pub(super) fn dst_reg(&mut self, dst: Temp) -> Result<u8, CodegenError> {
        match self.tail_hint(dst) {
            Some(r) => Ok(r),
            None => self.alloc(),
        }
    }

    /// Whether `t` is in a register and the current op is its last use.
    pub(super) fn dies_in_reg(&self, t: Temp) -> bool {
        matches!(self.loc[t as usize], Loc::Reg(_)) && self.last_use[t as usize] <= self.cur
    }

    /// Returns a free pool register, evicting the least urgent unpinned value.
    pub(super) fn alloc(&mut self) -> Result<u8, CodegenError> {
        if let Some(r) = self.free_reg() {
            return Ok(r);
        }
        // Prefer values whose global still holds them (free to drop), then
        // the one used furthest in the future.
        let mut best: Option<(bool, u32, u8)> = None;
        for &r in &POOL {
            if self.pinned & (1 << r) != 0 {
                continue;
            }
            let t = self.reg_temp[r as usize].expect("pool reg occupied");
            let key = (
                self.home[t as usize].is_some(),
                self.last_use[t as usize],
                r,
            );
            if best.is_none_or(|b| (key.0, key.1) > (b.0, b.1)) {
                best = Some(key);
            }
        }
        let (has_home, _, r) = best.ok_or(CodegenError::TooManySpills(SPILL_SLOTS))?;
        let t = self.reg_temp[r as usize].take().expect("victim");
        if has_home {
            self.loc[t as usize] = Loc::Home;
        } else {
            if self.free_slots == 0 {
                return Err(CodegenError::TooManySpills(SPILL_SLOTS));
            }
            let s = self.free_slots.trailing_zeros() as u8;
            self.free_slots &= !(1 << s);
            let d = 8 * s as i32;
            asm!(self.asm; mov [rsp + d], Rq(r));
            self.loc[t as usize] = Loc::Slot(s);
        }
        Ok(r)
    }

    /// Moves whatever lives in rdx elsewhere and keeps rdx out of this op's
    /// allocation (x86 wide multiply and division write it).
    pub(super) fn vacate_rdx(&mut self) -> Result<(), CodegenError> {
        self.pinned |= 1 << RDX;
        if let Some(t) = self.reg_temp[RDX as usize].take() {
            let r = self.alloc()?;
            asm!(self.asm; mov Rq(r), rdx);
            self.bind(t, r);
        }
        Ok(())
    }

    pub(super) fn bind(&mut self, t: Temp, r: u8) {
        self.reg_temp[r as usize] = Some(t);
        self.loc[t as usize] = Loc::Reg(r);
        if self.reserved != 0 {
            // A carried global's end-of-body value is defined: its head
            // register needs no more keeping free.
            if let Some(&(_, h)) = self.tail_regs[..self.n_tails].iter().find(|e| e.0 == t) {
                self.reserved &= !(1 << h);
            }
        }
    }

    /// Ensures `t` is in a register and pins it for the current op.
    pub(super) fn use_reg(&mut self, t: Temp) -> Result<u8, CodegenError> {
        if let Loc::Reg(r) = self.loc[t as usize] {
            self.pinned |= 1 << r;
            return Ok(r);
        }
        let r = self.alloc()?;
        self.copy_to(r, t);
        if let Loc::Slot(s) = self.loc[t as usize] {
            self.free_slots |= 1 << s;
        }
        self.bind(t, r);
        self.pinned |= 1 << r;
        Ok(r)
    }

    /// An operand usable as a 32-bit sign-extended immediate or a register.
    pub(super) fn opnd(&mut self, t: Temp) -> Result<Opnd, CodegenError> {
        match self.loc[t as usize] {
            Loc::Const(v) if fits_i32(v) => Ok(Opnd::Imm(v as i32)),
            _ => self.use_reg(t).map(Opnd::Reg),
        }
    }

    /// Releases temps whose last use is the current op.
    pub(super) fn release(&mut self, t: Temp) {
        if self.last_use[t as usize] <= self.cur {
            self.kill(t);
        }
    }

    pub(super) fn kill(&mut self, t: Temp) {
        match self.loc[t as usize] {
            Loc::Reg(r) if self.reg_temp[r as usize] == Some(t) => {
                self.reg_temp[r as usize] = None;
            }
            Loc::Slot(s) => self.free_slots |= 1 << s,
            _ => {}
        }
        if let Some(g) = self.home[t as usize].take() {
            if self.holder[g as usize] == Some(t) {
                self.holder[g as usize] = None;
            }
        }
        self.loc[t as usize] = Loc::None;
    }

    /// Destination register for a two-address op `dst = a op ...`: reuses
    /// `a`'s register when `a` dies here, else copies `a` into a fresh one.
    pub(super) fn two_addr_dst(&mut self, dst: Temp, a: Temp) -> Result<u8, CodegenError> {
        if let Loc::Reg(ra) = self.loc[a as usize] {
            if self.last_use[a as usize] <= self.cur {
                self.kill(a);
                self.bind(dst, ra);
                self.pinned |= 1 << ra;
                return Ok(ra);
            }
        }
        let d = self.dst_reg(dst)?;
        self.copy_to(d, a);
        self.bind(dst, d);
        self.pinned |= 1 << d;
        Ok(d)
    }

    pub(super) fn new_dst(&mut self, dst: Temp) -> Result<u8, CodegenError> {
        let d = self.dst_reg(dst)?;
        self.bind(dst, d);
        self.pinned |= 1 << d;
        Ok(d)
    }

    pub(super) fn used_later(&self, t: Temp) -> bool {
        self.last_use[t as usize] > self.cur
    }

    /// Stops `g` being the home of the temp that currently lives there,
    /// first loading that temp if it is still needed and only in `g`.
    pub(super) fn detach_holder(&mut self, g: u8) -> Result<(), CodegenError> {
        if let Some(old) = self.holder[g as usize] {
            if self.loc[old as usize] == Loc::Home && self.used_later(old) {
                self.use_reg(old)?;
            }
            self.home[old as usize] = None;
            self.holder[g as usize] = None;
        }
        Ok(())
    }

    /// Records where every deferred global's current value is right now, for
    /// an exit taken at this point; returns the range in `self.wb`.
    #[inline]
    pub(super) fn snapshot_deferred(&mut self) -> (u32, u32) {
        let start = self.wb.len() as u32;
        if self.deferred == 0 {
            return (start, start);
        }
        let mut mask = self.deferred;
        while mask != 0 {
            let g = mask.trailing_zeros() as u8;
            mask &= mask - 1;
            let t = self.cur_val[g as usize].expect("deferred global has a value");
            let src = match self.loc[t as usize] {
                Loc::Reg(r) => WbSrc::Reg(r),
                Loc::Slot(sl) => WbSrc::Slot(sl),
                Loc::Const(v) => WbSrc::Const(v),
                Loc::Home => WbSrc::Global(self.home[t as usize].expect("home temp has a home")),
                Loc::None => unreachable!("deferred value {t} of global {g} is dead"),
            };
            self.wb.push((g, src));
        }
        (start, self.wb.len() as u32)
    }

    /// Writes back deferred globals recorded by [`Self::snapshot_deferred`]
    /// (clobbers rcx).
    #[inline]
    pub(super) fn emit_write_back(&mut self, range: (u32, u32)) {
        for i in range.0..range.1 {
            let (g, src) = self.wb[i as usize];
            let d = Self::global_off(g);
            match src {
                WbSrc::Reg(r) => asm!(self.asm; mov [rbp + d], Rq(r)),
                WbSrc::Slot(sl) => {
                    let so = 8 * sl as i32;
                    asm!(self.asm; mov rcx, [rsp + so] ; mov [rbp + d], rcx);
                }
                WbSrc::Const(v) => self.store_imm(d, v),
                WbSrc::Global(g2) => {
                    let so = Self::global_off(g2);
                    asm!(self.asm; mov rcx, [rbp + so] ; mov [rbp + d], rcx);
                }
            }
        }
    }
}
