//! Sv39 page-table walker: the architectural translation a TLB caches.
//!
//! The walk follows the RISC-V privileged specification (section "Virtual
//! Address Translation Process") for a user-mode hart with hardware
//! management of the A/D bits (Svadu): a leaf whose A bit is clear, or
//! whose D bit is clear on a store, is updated in guest physical memory
//! before the access is allowed. With `update_ad` off the walker instead
//! raises the page fault the Svade scheme requires, so software can manage
//! the bits itself.

use super::pte::*;
use super::{AccessType, FaultCause, PageFault};
use crate::memory::GuestMemory;

/// A successful translation of one virtual address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// 4 KiB-aligned virtual page containing the address.
    pub vpage: u64,
    /// 4 KiB-aligned physical page the virtual page maps to (inside a
    /// superpage, the corresponding 4 KiB piece).
    pub ppage: u64,
    /// Leaf PTE after any A/D update.
    pub pte: u64,
    /// Physical address of the leaf PTE.
    pub pte_addr: u64,
    /// Size of the page the leaf maps.
    pub size: PageSize,
}

impl Translation {
    /// Whether the leaf allows `access` (user mode, no MXR/SUM).
    pub fn allows(&self, access: AccessType) -> bool {
        leaf_allows(self.pte, access)
    }

    /// Whether the dirty bit is set (stores may skip the walker).
    pub fn dirty(&self) -> bool {
        self.pte & PTE_D != 0
    }
}

fn leaf_allows(pte: u64, access: AccessType) -> bool {
    let need = match access {
        AccessType::Read => PTE_R,
        AccessType::Write => PTE_W,
        AccessType::Execute => PTE_X,
    };
    pte & need != 0 && pte & PTE_U != 0
}

/// Walks Sv39 page tables held in guest physical memory.
#[derive(Debug, Clone, Copy)]
pub struct PageWalker {
    /// Set A/D bits in the PTE (true) or fault when they need setting (false).
    pub update_ad: bool,
}

impl Default for PageWalker {
    fn default() -> Self {
        Self { update_ad: true }
    }
}

impl PageWalker {
    /// Translates `va` for `access` starting at the root table at physical
    /// address `root`. Sets A (and D for stores) in the leaf when
    /// `update_ad` is on. Every failure is a [`PageFault`] naming `va`.
    pub fn walk(
        &self,
        mem: &mut GuestMemory,
        root: u64,
        va: u64,
        access: AccessType,
    ) -> Result<Translation, PageFault> {
        let mut t = self.find_leaf(mem, root, va, access)?;
        if !t.allows(access) {
            let cause = if t.pte & PTE_U == 0 {
                FaultCause::NotUser
            } else {
                FaultCause::Denied
            };
            return Err(PageFault { va, access, cause });
        }
        let mut want = PTE_A;
        if access == AccessType::Write {
            want |= PTE_D;
        }
        if t.pte & want != want {
            if !self.update_ad {
                return Err(PageFault {
                    va,
                    access,
                    cause: FaultCause::AccessedDirty,
                });
            }
            t.pte |= want;
            mem.store(t.pte_addr, 8, t.pte).map_err(|_| PageFault {
                va,
                access,
                cause: FaultCause::PteOutOfRange {
                    level: t.size.level() as u8,
                },
            })?;
        }
        Ok(t)
    }

    /// Finds the leaf for `va` without checking permissions or touching
    /// A/D (used by [`Self::walk`] and by the prefetcher, which must not
    /// change guest-visible state speculatively).
    pub fn find_leaf(
        &self,
        mem: &GuestMemory,
        root: u64,
        va: u64,
        access: AccessType,
    ) -> Result<Translation, PageFault> {
        let fault = |cause| PageFault { va, access, cause };
        if !is_canonical(va) {
            return Err(fault(FaultCause::NonCanonical));
        }
        let mut table = root;
        for level in (0..LEVELS).rev() {
            let pte_addr = table + 8 * vpn(va, level);
            let lv = level as u8;
            let pte = mem
                .load(pte_addr, 8)
                .map_err(|_| fault(FaultCause::PteOutOfRange { level: lv }))?;
            if pte & PTE_V == 0 {
                return Err(fault(FaultCause::NotMapped { level: lv }));
            }
            if pte & PTE_RESERVED != 0 || (pte & PTE_R == 0 && pte & PTE_W != 0) {
                return Err(fault(FaultCause::ReservedEncoding { level: lv }));
            }
            if pte & (PTE_R | PTE_X) == 0 {
                // Pointer to the next level; A/D/U must be zero in non-leaf PTEs.
                if pte & (PTE_A | PTE_D | PTE_U) != 0 {
                    return Err(fault(FaultCause::ReservedEncoding { level: lv }));
                }
                if level == 0 {
                    return Err(fault(FaultCause::NotMapped { level: 0 }));
                }
                table = pte_addr_of(pte);
                continue;
            }
            let size = PageSize::from_level(level);
            let base = pte_addr_of(pte);
            if base & (size.bytes() - 1) != 0 {
                return Err(fault(FaultCause::MisalignedSuperpage { level: lv }));
            }
            let ppage = base | (va & (size.bytes() - 1) & !0xfff);
            return Ok(Translation {
                vpage: va & !0xfff,
                ppage,
                pte,
                pte_addr,
                size,
            });
        }
        unreachable!("level 0 either returns a leaf or faults")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::builder::PageTableBuilder;

    const PT_AREA: u64 = 64 << 10;

    fn setup() -> (GuestMemory, PageTableBuilder) {
        // 1 GiB so a gigapage fits (the host commits only touched pages).
        let mut mem = GuestMemory::new(1 << 30).unwrap();
        let b = PageTableBuilder::new(&mut mem, 0, PT_AREA).unwrap();
        (mem, b)
    }

    fn user(flags: u64) -> u64 {
        flags | PTE_U | PTE_V
    }

    #[test]
    fn translates_4k_2m_and_1g_pages_at_every_level() {
        let (mut mem, mut b) = setup();
        let w = PageWalker::default();
        b.map(
            &mut mem,
            0x40_1000,
            0x30_0000,
            PageSize::Size4K,
            user(PTE_R),
        )
        .unwrap();
        b.map(
            &mut mem,
            0x60_0000,
            0x20_0000,
            PageSize::Size2M,
            user(PTE_R),
        )
        .unwrap();
        b.map(
            &mut mem,
            0x4000_0000,
            0,
            PageSize::Size1G,
            user(PTE_R | PTE_X),
        )
        .unwrap();
        let root = b.root();
        let t = w.walk(&mut mem, root, 0x40_1abc, AccessType::Read).unwrap();
        assert_eq!((t.ppage, t.size), (0x30_0000, PageSize::Size4K));
        let t = w.walk(&mut mem, root, 0x6f_3456, AccessType::Read).unwrap();
        assert_eq!((t.ppage, t.size), (0x2f_3000, PageSize::Size2M));
        let t = w
            .walk(&mut mem, root, 0x4012_3456, AccessType::Execute)
            .unwrap();
        assert_eq!((t.ppage, t.size), (0x12_3000, PageSize::Size1G));
        // Unmapped at each level: root slot empty, L1 slot empty, L0 slot empty.
        for (va, level) in [
            (0x80_0000_0000u64 >> 2, 2u8),
            (0x20_0000, 1),
            (0x40_2000, 0),
        ] {
            let e = w.walk(&mut mem, root, va, AccessType::Read).unwrap_err();
            assert_eq!(e.cause, FaultCause::NotMapped { level }, "{va:#x}");
            assert_eq!(e.va, va);
        }
    }

    #[test]
    fn every_permission_fault() {
        let (mut mem, mut b) = setup();
        let w = PageWalker::default();
        let cases = [
            (0x10_0000u64, PTE_R, AccessType::Write, FaultCause::Denied),
            (0x10_1000, PTE_R, AccessType::Execute, FaultCause::Denied),
            (0x10_2000, PTE_X, AccessType::Read, FaultCause::Denied),
            (0x10_3000, PTE_X, AccessType::Write, FaultCause::Denied),
            (
                0x10_4000,
                PTE_R | PTE_W,
                AccessType::Execute,
                FaultCause::Denied,
            ),
        ];
        for (va, flags, access, cause) in cases {
            b.map(&mut mem, va, 0x20_0000, PageSize::Size4K, user(flags))
                .unwrap();
            let e = w.walk(&mut mem, b.root(), va + 8, access).unwrap_err();
            assert_eq!((e.va, e.access, e.cause), (va + 8, access, cause));
        }
        // Supervisor-only page.
        b.map(
            &mut mem,
            0x10_5000,
            0x20_0000,
            PageSize::Size4K,
            PTE_V | PTE_R | PTE_W,
        )
        .unwrap();
        let e = w
            .walk(&mut mem, b.root(), 0x10_5000, AccessType::Read)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::NotUser);
        // W without R is a reserved encoding.
        b.map(
            &mut mem,
            0x10_6000,
            0x20_0000,
            PageSize::Size4K,
            user(PTE_W),
        )
        .unwrap();
        let e = w
            .walk(&mut mem, b.root(), 0x10_6000, AccessType::Write)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::ReservedEncoding { level: 0 });
        // Non-canonical address.
        let e = w
            .walk(&mut mem, b.root(), 1 << 40, AccessType::Read)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::NonCanonical);
    }

    #[test]
    fn misaligned_superpage_and_bad_pte_pointer_fault() {
        let (mut mem, b) = setup();
        let w = PageWalker::default();
        let root = b.root();
        // Hand-written root entry: a gigapage leaf whose PPN is not 1 GiB aligned.
        mem.store(root + 8, 8, make_pte(0x20_0000, user(PTE_R)))
            .unwrap();
        let e = w
            .walk(&mut mem, root, 0x4000_0000, AccessType::Read)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::MisalignedSuperpage { level: 2 });
        // Non-leaf pointing outside physical memory.
        mem.store(root + 16, 8, make_pte(1 << 40, PTE_V)).unwrap();
        let e = w
            .walk(&mut mem, root, 0x8000_0000, AccessType::Read)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::PteOutOfRange { level: 1 });
        // Non-leaf with the A bit set is reserved.
        mem.store(root + 24, 8, make_pte(0x1000, PTE_V | PTE_A))
            .unwrap();
        let e = w
            .walk(&mut mem, root, 0xc000_0000, AccessType::Read)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::ReservedEncoding { level: 2 });
        // Reserved high bits.
        mem.store(root + 32, 8, make_pte(0, user(PTE_R)) | (1 << 60))
            .unwrap();
        let e = w
            .walk(&mut mem, root, 0x1_0000_0000, AccessType::Read)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::ReservedEncoding { level: 2 });
    }

    #[test]
    fn accessed_and_dirty_bits_are_updated_in_guest_memory() {
        let (mut mem, mut b) = setup();
        b.map(
            &mut mem,
            0x40_0000,
            0x30_0000,
            PageSize::Size4K,
            user(PTE_R | PTE_W),
        )
        .unwrap();
        b.map(
            &mut mem,
            0x80_0000,
            0x40_0000,
            PageSize::Size2M,
            user(PTE_R | PTE_W),
        )
        .unwrap();
        let root = b.root();
        let w = PageWalker::default();
        for va in [0x40_0010u64, 0x80_1234] {
            let t = w.walk(&mut mem, root, va, AccessType::Read).unwrap();
            let pte = mem.load(t.pte_addr, 8).unwrap();
            assert_eq!(pte & (PTE_A | PTE_D), PTE_A, "read sets A only");
            assert!(!t.dirty());
            let t = w.walk(&mut mem, root, va, AccessType::Write).unwrap();
            let pte = mem.load(t.pte_addr, 8).unwrap();
            assert_eq!(pte & (PTE_A | PTE_D), PTE_A | PTE_D, "write sets D");
            assert!(t.dirty());
        }
        // Svade: the same accesses fault instead when updates are off.
        let (mut mem, mut b) = setup();
        b.map(
            &mut mem,
            0x40_0000,
            0x30_0000,
            PageSize::Size4K,
            user(PTE_R | PTE_W),
        )
        .unwrap();
        let w = PageWalker { update_ad: false };
        let e = w
            .walk(&mut mem, b.root(), 0x40_0000, AccessType::Read)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::AccessedDirty);
        b.map(
            &mut mem,
            0x40_1000,
            0x30_1000,
            PageSize::Size4K,
            user(PTE_R | PTE_W | PTE_A),
        )
        .unwrap();
        assert!(w
            .walk(&mut mem, b.root(), 0x40_1000, AccessType::Read)
            .is_ok());
        let e = w
            .walk(&mut mem, b.root(), 0x40_1000, AccessType::Write)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::AccessedDirty);
    }
}
