//! Translated guest accesses for the interpreter, system calls and the
//! loader: every access goes through the [`Mmu`]'s TLB, exactly like the
//! inline path of generated code, and faults become
//! [`MemFault::Page`].

use super::{AccessType, Mmu};
use crate::memory::{GuestAccess, GuestMemory, MemFault, StoreEffect};

/// Guest virtual memory: physical memory seen through an MMU.
pub struct MmuBus<'a> {
    /// Guest physical memory.
    pub mem: &'a mut GuestMemory,
    /// The translating MMU.
    pub mmu: &'a mut Mmu,
}

impl MmuBus<'_> {
    /// Physical address of `va` for `access`.
    #[inline(always)]
    fn phys(&mut self, va: u64, access: AccessType) -> Result<u64, MemFault> {
        let addend = self.mmu.translate(self.mem, va, access)?;
        Ok(self.mmu.phys(va, addend))
    }

    /// Physical addresses of the two pages of an access crossing a page
    /// boundary, both checked before any byte moves (faults are precise).
    #[cold]
    fn split(
        &mut self,
        va: u64,
        size: u64,
        access: AccessType,
    ) -> Result<([u64; 8], usize), MemFault> {
        let first_page = va & !0xfff;
        let second = first_page.wrapping_add(0x1000);
        let pa0 = self.phys(va, access)?;
        let pa1 = self.phys(second, access)?;
        let mut out = [0u64; 8];
        for (i, slot) in out.iter_mut().enumerate().take(size as usize) {
            let v = va.wrapping_add(i as u64);
            *slot = if v & !0xfff == first_page {
                pa0 + i as u64
            } else {
                pa1 + (v & 0xfff)
            };
        }
        Ok((out, size as usize))
    }
}

impl MmuBus<'_> {
    /// [`GuestAccess::fetch_insn`] at the end of a page: the first halfword
    /// says whether the instruction continues on the next page, which is
    /// translated (and may fault, at its first byte) only then.
    #[cold]
    fn fetch_insn_split(&mut self, va: u64) -> Result<u32, MemFault> {
        let lo = self.fetch_byte(va)? | self.fetch_byte(va.wrapping_add(1))? << 8;
        if lo & 3 != 3 {
            return Ok(lo);
        }
        let hi = self.fetch_byte(va.wrapping_add(2))? | self.fetch_byte(va.wrapping_add(3))? << 8;
        Ok(lo | hi << 16)
    }

    /// The byte at `va`, with execute permission.
    fn fetch_byte(&mut self, va: u64) -> Result<u32, MemFault> {
        let pa = self.phys(va, AccessType::Execute)?;
        Ok(self.mem.load(pa, 1)? as u32)
    }
}

#[inline(always)]
fn crosses(va: u64, size: u64) -> bool {
    (va & 0xfff) + size > 0x1000
}

impl GuestAccess for MmuBus<'_> {
    #[inline(always)]
    fn load(&mut self, va: u64, size: u64) -> Result<u64, MemFault> {
        if !crosses(va, size) {
            let addend = self.mmu.translate(self.mem, va, AccessType::Read)?;
            // SAFETY: the addend maps the page of `va` to a physical page
            // inside the guest memory mapping (checked when the entry was
            // made), and the access stays inside that page.
            unsafe {
                let p = va.wrapping_add(addend) as *const u8;
                return Ok(match size {
                    1 => *p as u64,
                    2 => u16::from_le(std::ptr::read_unaligned(p as *const u16)) as u64,
                    4 => u32::from_le(std::ptr::read_unaligned(p as *const u32)) as u64,
                    _ => u64::from_le(std::ptr::read_unaligned(p as *const u64)),
                });
            }
        }
        let (pas, n) = self.split(va, size, AccessType::Read)?;
        let mut v = 0u64;
        for (i, &pa) in pas[..n].iter().enumerate() {
            v |= self.mem.load(pa, 1)? << (8 * i);
        }
        Ok(v)
    }

    #[inline(always)]
    fn store(&mut self, va: u64, size: u64, val: u64) -> Result<StoreEffect, MemFault> {
        if !crosses(va, size) {
            let (addend, direct) = self.mmu.translate_store(self.mem, va)?;
            if direct {
                // SAFETY: as for loads; a write tag also guarantees the page
                // holds no translated code, so there is no effect to report.
                unsafe {
                    let p = va.wrapping_add(addend) as *mut u8;
                    match size {
                        1 => *p = val as u8,
                        2 => std::ptr::write_unaligned(p as *mut u16, (val as u16).to_le()),
                        4 => std::ptr::write_unaligned(p as *mut u32, (val as u32).to_le()),
                        _ => std::ptr::write_unaligned(p as *mut u64, val.to_le()),
                    }
                }
                return Ok(StoreEffect::Data);
            }
            return self.mem.store(self.mmu.phys(va, addend), size, val);
        }
        let (pas, n) = self.split(va, size, AccessType::Write)?;
        let mut effect = StoreEffect::Data;
        for (i, &pa) in pas[..n].iter().enumerate() {
            let e = self.mem.store(pa, 1, val >> (8 * i))?;
            if effect == StoreEffect::Data {
                effect = e;
            }
        }
        Ok(effect)
    }

    #[inline(always)]
    fn fetch_insn(&mut self, va: u64) -> Result<u32, MemFault> {
        if crosses(va, 4) {
            return self.fetch_insn_split(va);
        }
        let pa = self.phys(va, AccessType::Execute)?;
        self.mem.fetch_insn(pa)
    }

    fn read_bytes(&mut self, va: u64, out: &mut [u8]) -> Result<(), MemFault> {
        let mut done = 0usize;
        while done < out.len() {
            let v = va.wrapping_add(done as u64);
            let chunk = ((0x1000 - (v & 0xfff)) as usize).min(out.len() - done);
            let pa = self.phys(v, AccessType::Read)?;
            self.mem.read_bytes(pa, &mut out[done..done + chunk])?;
            done += chunk;
        }
        Ok(())
    }

    fn write_bytes(&mut self, va: u64, data: &[u8]) -> Result<Option<u64>, MemFault> {
        // Translate every page first so a fault leaves memory untouched.
        let mut pages = Vec::with_capacity(data.len() / 4096 + 2);
        let mut done = 0usize;
        while done < data.len() {
            let v = va.wrapping_add(done as u64);
            let chunk = ((0x1000 - (v & 0xfff)) as usize).min(data.len() - done);
            pages.push((self.phys(v, AccessType::Write)?, done, chunk));
            done += chunk;
        }
        let mut first_code = None;
        for (pa, at, chunk) in pages {
            let code = self.mem.write_bytes(pa, &data[at..at + chunk])?;
            first_code = first_code.or(code);
        }
        Ok(first_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::pte::*;
    use crate::mmu::{FaultCause, MmuConfig, PageTableBuilder};

    #[test]
    fn accesses_translate_split_and_fault_precisely() {
        let mut mem = GuestMemory::new(8 << 20).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, 1 << 20).unwrap();
        let rw = PTE_V | PTE_U | PTE_R | PTE_W | PTE_A;
        // Two virtual neighbours on non-adjacent physical pages, then a read-only page.
        b.map(&mut mem, 0x1000, 0x30_0000, PageSize::Size4K, rw)
            .unwrap();
        b.map(&mut mem, 0x2000, 0x20_0000, PageSize::Size4K, rw)
            .unwrap();
        b.map(&mut mem, 0x3000, 0x40_0000, PageSize::Size4K, rw & !PTE_W)
            .unwrap();
        let mut mmu = Mmu::new(MmuConfig::default(), b.root(), &mem).unwrap();
        let mut bus = MmuBus {
            mem: &mut mem,
            mmu: &mut mmu,
        };
        bus.store(0x1ffc, 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(bus.load(0x1ffc, 8).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(bus.mem.load(0x30_0ffc, 4).unwrap(), 0x5566_7788);
        assert_eq!(bus.mem.load(0x20_0000, 4).unwrap(), 0x1122_3344);
        // A store crossing into the read-only page faults and writes nothing.
        let e = bus.store(0x2ffe, 4, 0xffff_ffff).unwrap_err();
        assert!(matches!(
            e,
            MemFault::Page(crate::mmu::PageFault {
                va: 0x3000,
                access: AccessType::Write,
                cause: FaultCause::Denied
            })
        ));
        assert_eq!(bus.mem.load(0x20_0ffe, 2).unwrap(), 0);
        let mut buf = [0u8; 6];
        bus.read_bytes(0x1ffd, &mut buf).unwrap();
        assert_eq!(buf, [0x77, 0x66, 0x55, 0x44, 0x33, 0x22]);
        assert!(bus.write_bytes(0x2ff0, &[1u8; 32]).is_err());
        assert_eq!(bus.mem.load(0x20_0ff0, 8).unwrap(), 0);
        assert!(matches!(bus.fetch_insn(0x1000), Err(MemFault::Page(_))));
    }

    #[test]
    fn instruction_fetch_across_a_page_boundary() {
        let mut mem = GuestMemory::new(8 << 20).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, 1 << 20).unwrap();
        let rx = PTE_V | PTE_U | PTE_R | PTE_X | PTE_A;
        // 0x5000 and 0x6000 on non-adjacent physical pages; 0x8000 unmapped.
        b.map(&mut mem, 0x5000, 0x30_0000, PageSize::Size4K, rx)
            .unwrap();
        b.map(&mut mem, 0x6000, 0x20_0000, PageSize::Size4K, rx)
            .unwrap();
        b.map(&mut mem, 0x7000, 0x40_0000, PageSize::Size4K, rx)
            .unwrap();
        let mut mmu = Mmu::new(MmuConfig::default(), b.root(), &mem).unwrap();
        // addi a0, a0, 1 (0x00150513) split over 0x5ffe / 0x6000.
        mem.store(0x30_0ffe, 2, 0x0513).unwrap();
        mem.store(0x20_0000, 2, 0x0015).unwrap();
        // c.li a0, -1 (0x557d) in the last halfword of 0x7000; a 32-bit
        // first half right before it would need the unmapped 0x8000.
        mem.store(0x40_0ffe, 2, 0x557d).unwrap();
        mem.store(0x40_0ffc, 2, 0x0513).unwrap();
        let mut bus = MmuBus {
            mem: &mut mem,
            mmu: &mut mmu,
        };
        assert_eq!(bus.fetch_insn(0x5ffe).unwrap(), 0x0015_0513);
        assert_eq!(bus.fetch_insn(0x7ffe).unwrap(), 0x557d);
        assert_eq!(bus.fetch_insn(0x7ffc).unwrap(), 0x557d_0513);
        bus.mem.store(0x40_0ffe, 2, 0x0513).unwrap();
        let e = bus.fetch_insn(0x7ffe).unwrap_err();
        assert!(
            matches!(
                e,
                MemFault::Page(crate::mmu::PageFault {
                    va: 0x8000,
                    access: AccessType::Execute,
                    ..
                })
            ),
            "{e:?}"
        );
    }
}
