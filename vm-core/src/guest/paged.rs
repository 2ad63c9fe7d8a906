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
use super::syscall::{MapEffect, PROT_EXEC, PROT_READ, PROT_WRITE};
use crate::memory::{GuestMemory, MemFault, PAGE_SIZE};
use crate::mmu::pte::{
    make_pte, pte_addr_of, vpn, LEVELS, PTE_A, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X,
};
use crate::mmu::{MapError, PageSize, PageTableBuilder};

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

/// The leaf PTE flags of a user mapping with `PROT_*` bits `prot`, or
/// None for `PROT_NONE` (no valid PTE: every access faults). Write implies
/// read (W without R is reserved in Sv39). A is set and D clear, as the
/// loader does.
pub fn prot_pte_flags(prot: u32) -> Option<u64> {
    if prot & (PROT_READ | PROT_WRITE | PROT_EXEC) == 0 {
        return None;
    }
    let mut f = PTE_V | PTE_U | PTE_A;
    if prot & (PROT_READ | PROT_WRITE) != 0 {
        f |= PTE_R;
    }
    if prot & PROT_WRITE != 0 {
        f |= PTE_W;
    }
    if prot & PROT_EXEC != 0 {
        f |= PTE_X;
    }
    Some(f)
}

/// The permission bits a leaf's access depends on.
const PERM: u64 = PTE_V | PTE_R | PTE_W | PTE_X | PTE_U;

/// Sets the leaves of virtual `[start, end)` (page aligned) to `flags`
/// (None: removes them). Pages not mapped yet are mapped at
/// `va + phys_offset`; mapped ones keep their physical page. A superpage
/// the range covers only in part is split into pages of the next smaller
/// size first (a table page from the builder's area); a leaf that already
/// has the wanted permissions is left alone (no split). Returns whether
/// any PTE changed (cached translations of the range are then stale).
pub fn set_range_leaves(
    mem: &mut GuestMemory,
    builder: &mut PageTableBuilder,
    start: u64,
    end: u64,
    phys_offset: u64,
    flags: Option<u64>,
) -> Result<bool, MapError> {
    let load = |mem: &GuestMemory, slot: u64| mem.load(slot, 8).expect("table inside guest memory");
    let mut changed = false;
    let mut va = start;
    'pages: while va < end {
        let mut table = builder.root();
        for level in (0..LEVELS).rev() {
            let size = PageSize::from_level(level).bytes();
            let block = va & !(size - 1);
            let slot = table + 8 * vpn(va, level);
            let pte = load(mem, slot);
            let stop = end.min(block + size);
            if pte & PTE_V == 0 {
                // Nothing mapped in [block, block + size).
                if let Some(f) = flags {
                    builder.map_range(mem, va, va + phys_offset, stop - va, f)?;
                    changed = true;
                }
                va = stop;
                continue 'pages;
            }
            if pte & (PTE_R | PTE_X) == 0 {
                table = pte_addr_of(pte);
                continue;
            }
            let same = flags.is_some_and(|f| pte & PERM == f & PERM);
            if same {
                va = stop;
                continue 'pages;
            }
            if va == block && block + size <= end {
                let new = flags.map_or(0, |f| make_pte(pte_addr_of(pte), f));
                mem.store(slot, 8, new).expect("table inside guest memory");
                changed = true;
                va = block + size;
                continue 'pages;
            }
            // A superpage partly inside the range: split it, walk again.
            let small = PageSize::from_level(level - 1);
            let pa = pte_addr_of(pte);
            mem.store(slot, 8, 0).expect("table inside guest memory");
            for i in 0..512 {
                let off = i * small.bytes();
                builder.map(mem, block + off, pa + off, small, pte & 0x3ff)?;
            }
            changed = true;
            continue 'pages;
        }
        unreachable!("a level-0 PTE is invalid or a leaf");
    }
    Ok(changed)
}

/// Applies one system call's memory change to guest memory: flat (no
/// `builder`: guest address = physical address) or through the page
/// tables of `builder` (every page the system calls manage sits at
/// `va + phys_offset`). Returns the guest virtual range whose cached
/// translations and translated code must be dropped, and whether page
/// table entries changed.
pub fn apply_map_effect(
    mem: &mut GuestMemory,
    builder: Option<&mut PageTableBuilder>,
    phys_offset: u64,
    effect: MapEffect,
) -> Result<((u64, u64), bool), MapEffectError> {
    let off = if builder.is_some() { phys_offset } else { 0 };
    let mut changed = false;
    let range = match effect {
        MapEffect::Map {
            start,
            end,
            prot,
            zero,
        } => {
            if let Some(b) = builder {
                changed = set_range_leaves(mem, b, start, end, phys_offset, prot_pte_flags(prot))?;
            }
            if zero {
                mem.zero(start + off, end - start)?;
            }
            (start, end)
        }
        MapEffect::Unmap { start, end } => {
            if let Some(b) = builder {
                changed = set_range_leaves(mem, b, start, end, phys_offset, None)?;
            }
            (start, end)
        }
        MapEffect::Zero { start, end } => {
            mem.zero(start + off, end - start)?;
            (start, end)
        }
        MapEffect::Copy { from, to, len } => {
            let mut buf = vec![0u8; len as usize];
            mem.read_bytes(from + off, &mut buf)?;
            mem.write_bytes(to + off, &buf)?;
            (to, to + len)
        }
    };
    Ok((range, changed))
}

/// Why a memory change could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MapEffectError {
    /// The page tables could not be edited (table area full).
    #[error("page tables: {0}")]
    Map(#[from] MapError),
    /// The range is outside guest memory.
    #[error(transparent)]
    Mem(#[from] MemFault),
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

    #[test]
    fn set_range_leaves_splits_superpages_and_skips_unchanged_leaves() {
        let off = 2 << 20;
        let mut mem = GuestMemory::new(off + (8 << 20)).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, off).unwrap();
        let code = [0x13u8, 0, 0, 0];
        let elf = tiny_elf(&[(0x10000, &code, 0x1000)], 0x10000);
        load_elf_sv39(&elf, &mut mem, &mut b, off, 8 << 20).unwrap();
        let w = PageWalker::default();
        let root = b.root();
        let leaf = |mem: &mut GuestMemory, va: u64| w.find_leaf(mem, root, va, AccessType::Read);
        // 2 MiB..4 MiB is one read/write superpage.
        assert_eq!(leaf(&mut mem, 0x20_0000).unwrap().size, PageSize::Size2M);
        let used = b.table_bytes_used();
        let rw = prot_pte_flags(PROT_READ | PROT_WRITE);
        // Same permissions: nothing changes, no split.
        assert!(!set_range_leaves(&mut mem, &mut b, 0x20_1000, 0x20_3000, off, rw).unwrap());
        assert_eq!(b.table_bytes_used(), used);
        // Unmapping one page inside it splits it (one more table).
        assert!(set_range_leaves(&mut mem, &mut b, 0x20_1000, 0x20_2000, off, None).unwrap());
        assert_eq!(b.table_bytes_used(), used + 4096);
        assert!(matches!(
            leaf(&mut mem, 0x20_1000).unwrap_err().cause,
            FaultCause::NotMapped { level: 0 }
        ));
        for va in [0x20_0000, 0x20_2000, 0x3f_f000] {
            let t = leaf(&mut mem, va).unwrap();
            assert_eq!((t.size, t.ppage), (PageSize::Size4K, va + off), "{va:#x}");
        }
        // Read-only: loads pass, stores are denied.
        let ro = prot_pte_flags(PROT_READ);
        assert!(set_range_leaves(&mut mem, &mut b, 0x20_2000, 0x20_3000, off, ro).unwrap());
        assert!(w.walk(&mut mem, b.root(), 0x20_2000, AccessType::Read).is_ok());
        let e = w.walk(&mut mem, b.root(), 0x20_2008, AccessType::Write).unwrap_err();
        assert_eq!(e.cause, FaultCause::Denied);
        // PROT_NONE removes the leaf; mapping again installs it at va + off.
        assert_eq!(prot_pte_flags(0), None);
        assert!(set_range_leaves(&mut mem, &mut b, 0x20_1000, 0x20_2000, off, rw).unwrap());
        assert_eq!(leaf(&mut mem, 0x20_1000).unwrap().ppage, 0x20_1000 + off);
        // Below the image nothing was mapped: a new mapping goes in, with
        // a superpage where alignment allows.
        assert!(leaf(&mut mem, 0x1000).is_err());
        let rx = prot_pte_flags(PROT_READ | PROT_EXEC);
        assert!(set_range_leaves(&mut mem, &mut b, 0x1000, 0x3000, off, rx).unwrap());
        assert!(w.walk(&mut mem, b.root(), 0x2000, AccessType::Execute).is_ok());
        assert!(w.walk(&mut mem, b.root(), 0x2000, AccessType::Write).is_err());
        // A whole superpage re-protected in place (no split).
        let used = b.table_bytes_used();
        assert!(set_range_leaves(&mut mem, &mut b, 0x60_0000, 0x80_0000, off, ro).unwrap());
        assert_eq!(b.table_bytes_used(), used);
        assert_eq!(leaf(&mut mem, 0x60_0000).unwrap().size, PageSize::Size2M);
        assert!(w.walk(&mut mem, b.root(), 0x60_0000, AccessType::Write).is_err());
    }

    #[test]
    fn map_effects_zero_copy_and_edit_tables() {
        // Flat: zeroing and copying at guest = physical addresses.
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        mem.write_bytes(0x3000, &[7u8; 0x2000]).unwrap();
        let e = MapEffect::Zero {
            start: 0x3000,
            end: 0x4000,
        };
        assert_eq!(apply_map_effect(&mut mem, None, 0, e).unwrap(), ((0x3000, 0x4000), false));
        assert_eq!(mem.load(0x3ff8, 8).unwrap(), 0);
        assert_eq!(mem.load(0x4000, 1).unwrap(), 7);
        let e = MapEffect::Copy {
            from: 0x4000,
            to: 0x8000,
            len: 0x1000,
        };
        assert_eq!(apply_map_effect(&mut mem, None, 0, e).unwrap().0, (0x8000, 0x9000));
        assert_eq!(mem.load(0x8ff8, 8).unwrap(), 0x0707_0707_0707_0707);
        // A partial page is zeroed too (GuestMemory::zero's edges).
        mem.zero(0x8010, 0x20).unwrap();
        assert_eq!(mem.load(0x8008, 8).unwrap(), 0x0707_0707_0707_0707);
        assert_eq!(mem.load(0x8010, 8).unwrap(), 0);
        assert_eq!(mem.load(0x8028, 8).unwrap(), 0);
        assert_eq!(mem.load(0x8030, 1).unwrap(), 7);
        assert!(mem.zero(0xff000, 0x2000).is_err());
        // Paged: a fresh mapping is zeroed at its physical pages.
        let off = 1 << 20;
        let mut mem = GuestMemory::new(off + (4 << 20)).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, off).unwrap();
        mem.write_bytes(off + 0x5000, &[9u8; 16]).unwrap();
        let e = MapEffect::Map {
            start: 0x5000,
            end: 0x6000,
            prot: PROT_READ | PROT_WRITE,
            zero: true,
        };
        let r = apply_map_effect(&mut mem, Some(&mut b), off, e).unwrap();
        assert_eq!(r, ((0x5000, 0x6000), true));
        assert_eq!(mem.load(off + 0x5000, 8).unwrap(), 0);
        let w = PageWalker::default();
        assert!(w.walk(&mut mem, b.root(), 0x5000, AccessType::Write).is_ok());
        let e = MapEffect::Unmap {
            start: 0x5000,
            end: 0x6000,
        };
        assert!(apply_map_effect(&mut mem, Some(&mut b), off, e).unwrap().1);
        assert!(w.walk(&mut mem, b.root(), 0x5000, AccessType::Read).is_err());
    }
}
