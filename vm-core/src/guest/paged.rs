//! Loading a program into an Sv39 address space: the loader plays the
//! kernel's part and builds the page tables.
//!
//! Guest virtual address `va` of the program maps to guest physical
//! address `va + phys_offset`; the page tables themselves live in
//! physical memory below `phys_offset`, outside every mapping. Image pages
//! get the permissions of their segments (the union where two segments
//! share a page); everything from the initial program break to the top of
//! the virtual space (heap and stack) is mapped read/write, with 2 MiB
//! superpages where alignment allows. The loader sets A on every leaf (as
//! Linux does when it installs a PTE) and leaves D clear, so the first
//! store to each writable page goes through the walker's D update.

use std::collections::BTreeMap;

use super::elf::{load_segments, ElfError, LoadedImage};
use crate::memory::{GuestMemory, PAGE_SIZE};
use crate::mmu::pte::{PTE_A, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X};
use crate::mmu::{PageSize, PageTableBuilder};

const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

/// Loads `data` into the address space of `builder`: maps its pages at
/// `va + phys_offset`, copies the segments, and maps heap and stack up to
/// `va_limit`.
pub fn load_elf_sv39(
    data: &[u8],
    mem: &mut GuestMemory,
    builder: &mut PageTableBuilder,
    phys_offset: u64,
    va_limit: u64,
) -> Result<LoadedImage, ElfError> {
    let mut segs: Vec<(u64, u64, Vec<u8>, u32)> = Vec::new();
    let img = load_segments(data, va_limit, |s| {
        segs.push((s.vaddr, s.memsz, s.bytes.to_vec(), s.flags));
        Ok(())
    })?;
    let mut pages: BTreeMap<u64, u64> = BTreeMap::new();
    for (vaddr, memsz, _, flags) in &segs {
        let mut pte = PTE_V | PTE_U | PTE_A;
        if flags & (PF_R | PF_W) != 0 {
            pte |= PTE_R; // W without R is reserved in Sv39
        }
        if flags & PF_W != 0 {
            pte |= PTE_W;
        }
        if flags & PF_X != 0 {
            pte |= PTE_X;
        }
        let first = vaddr & !(PAGE_SIZE - 1);
        for page in (first..vaddr + memsz).step_by(PAGE_SIZE as usize) {
            *pages.entry(page).or_insert(0) |= pte;
        }
    }
    for (&page, &flags) in &pages {
        builder.map(mem, page, page + phys_offset, PageSize::Size4K, flags)?;
    }
    for (vaddr, memsz, bytes, _) in &segs {
        // Physically contiguous: copy in one go (range checked by the mapping).
        mem.write_bytes(vaddr + phys_offset, bytes)
            .map_err(|_| ElfError::SegmentOutOfMemory {
                start: *vaddr,
                end: vaddr + memsz,
                mem: va_limit,
            })?;
    }
    if img.brk_start < va_limit {
        builder.map_range(
            mem,
            img.brk_start,
            img.brk_start + phys_offset,
            va_limit - img.brk_start,
            PTE_V | PTE_U | PTE_A | PTE_R | PTE_W,
        )?;
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::elf::tests::tiny_elf;
    use crate::mmu::{AccessType, FaultCause, PageWalker};

    #[test]
    fn builds_tables_with_segment_permissions_and_a_writable_heap() {
        let off = 1 << 20;
        let mut mem = GuestMemory::new(off + (8 << 20)).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, off).unwrap();
        let code = [0x13u8, 0, 0, 0];
        let elf = tiny_elf(&[(0x10000, &code, 0x1800)], 0x10000);
        let img = load_elf_sv39(&elf, &mut mem, &mut b, off, 8 << 20).unwrap();
        assert_eq!(img.brk_start, 0x12000);
        let w = PageWalker::default();
        let t = w
            .walk(&mut mem, b.root(), 0x10000, AccessType::Execute)
            .unwrap();
        assert_eq!(t.ppage, 0x10000 + off);
        assert_eq!(mem.load(0x10000 + off, 4).unwrap(), 0x13);
        // tiny_elf segments are R+X: stores fault.
        let e = w
            .walk(&mut mem, b.root(), 0x11000, AccessType::Write)
            .unwrap_err();
        assert_eq!(e.cause, FaultCause::Denied);
        // Heap and stack: read/write, not executable; below the image: unmapped.
        assert!(w
            .walk(&mut mem, b.root(), 0x12000, AccessType::Write)
            .is_ok());
        assert!(w
            .walk(&mut mem, b.root(), (8 << 20) - 8, AccessType::Write)
            .is_ok());
        assert!(w
            .walk(&mut mem, b.root(), 0x12000, AccessType::Execute)
            .is_err());
        assert!(matches!(
            w.walk(&mut mem, b.root(), 0, AccessType::Read)
                .unwrap_err()
                .cause,
            FaultCause::NotMapped { .. }
        ));
    }
}
