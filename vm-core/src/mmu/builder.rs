//! Builds Sv39 page tables in guest physical memory (the loader's job, as
//! an OS kernel's would be): page-table pages come from a reserved
//! physical range, leaves may be 4 KiB pages or 2 MiB / 1 GiB superpages.

use thiserror::Error;

use super::pte::*;
use crate::memory::GuestMemory;

/// Why a mapping could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MapError {
    /// The reserved physical range for page tables is used up.
    #[error("page-table area [{start:#x}, {end:#x}) is full")]
    OutOfTableMemory {
        /// Start of the area.
        start: u64,
        /// End of the area.
        end: u64,
    },
    /// An address is not aligned to the page size, or the table area is not page aligned.
    #[error("{what} {addr:#x} is not aligned to {align:#x}")]
    Misaligned {
        /// Which address.
        what: &'static str,
        /// The address.
        addr: u64,
        /// Required alignment.
        align: u64,
    },
    /// The virtual address is outside the 39-bit Sv39 space.
    #[error("virtual address {0:#x} is not canonical for Sv39")]
    NonCanonical(u64),
    /// The virtual range is already (partly) mapped by a different leaf or table.
    #[error("virtual address {0:#x} is already mapped")]
    AlreadyMapped(u64),
    /// The physical page is outside guest physical memory.
    #[error("physical range [{pa:#x}, +{len:#x}) is outside guest memory")]
    PhysOutOfRange {
        /// Physical address.
        pa: u64,
        /// Length.
        len: u64,
    },
}

/// Allocates page-table pages from `[start, end)` and installs mappings.
#[derive(Debug, Clone)]
pub struct PageTableBuilder {
    root: u64,
    next: u64,
    start: u64,
    end: u64,
}

impl PageTableBuilder {
    /// Zeroes a root table at `start` and reserves `[start, end)` for tables.
    pub fn new(mem: &mut GuestMemory, start: u64, end: u64) -> Result<Self, MapError> {
        for (what, a) in [("table area start", start), ("table area end", end)] {
            if a % TABLE_BYTES != 0 {
                return Err(MapError::Misaligned {
                    what,
                    addr: a,
                    align: TABLE_BYTES,
                });
            }
        }
        if end > mem.len() {
            return Err(MapError::PhysOutOfRange {
                pa: start,
                len: end.saturating_sub(start),
            });
        }
        let mut b = Self {
            root: 0,
            next: start,
            start,
            end,
        };
        b.root = b.alloc_table(mem)?;
        Ok(b)
    }

    /// Physical address of the root table (the `satp.PPN` page).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Bytes of table memory used so far.
    pub fn table_bytes_used(&self) -> u64 {
        self.next - self.start
    }

    fn alloc_table(&mut self, mem: &mut GuestMemory) -> Result<u64, MapError> {
        if self.next + TABLE_BYTES > self.end {
            return Err(MapError::OutOfTableMemory {
                start: self.start,
                end: self.end,
            });
        }
        let t = self.next;
        self.next += TABLE_BYTES;
        mem.write_bytes(t, &[0u8; TABLE_BYTES as usize])
            .map_err(|_| MapError::PhysOutOfRange {
                pa: t,
                len: TABLE_BYTES,
            })?;
        Ok(t)
    }

    /// Maps one page of `size` at `va` to `pa` with leaf `flags` (which
    /// should include `PTE_V` and at least one of R/X).
    pub fn map(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        pa: u64,
        size: PageSize,
        flags: u64,
    ) -> Result<(), MapError> {
        let bytes = size.bytes();
        if !va.is_multiple_of(bytes) {
            return Err(MapError::Misaligned {
                what: "virtual address",
                addr: va,
                align: bytes,
            });
        }
        if !pa.is_multiple_of(bytes) {
            return Err(MapError::Misaligned {
                what: "physical address",
                addr: pa,
                align: bytes,
            });
        }
        if !is_canonical(va) || !is_canonical(va + bytes - 1) {
            return Err(MapError::NonCanonical(va));
        }
        if pa.checked_add(bytes).is_none_or(|e| e > mem.len()) {
            return Err(MapError::PhysOutOfRange { pa, len: bytes });
        }
        let mut table = self.root;
        for level in (size.level() + 1..LEVELS).rev() {
            let slot = table + 8 * vpn(va, level);
            let pte = mem.load(slot, 8).expect("table inside guest memory");
            if pte & PTE_V == 0 {
                let next = self.alloc_table(mem)?;
                mem.store(slot, 8, make_pte(next, PTE_V))
                    .expect("table inside guest memory");
                table = next;
            } else if pte & (PTE_R | PTE_X) != 0 {
                return Err(MapError::AlreadyMapped(va));
            } else {
                table = pte_addr_of(pte);
            }
        }
        let slot = table + 8 * vpn(va, size.level());
        if mem.load(slot, 8).expect("table inside guest memory") & PTE_V != 0 {
            return Err(MapError::AlreadyMapped(va));
        }
        mem.store(slot, 8, make_pte(pa, flags))
            .expect("table inside guest memory");
        Ok(())
    }

    /// Maps `[va, va + len)` to `[pa, pa + len)` (both 4 KiB aligned, `len`
    /// a multiple of 4 KiB) using the largest pages alignment allows.
    pub fn map_range(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        pa: u64,
        len: u64,
        flags: u64,
    ) -> Result<(), MapError> {
        let mut off = 0;
        while off < len {
            let (v, p, left) = (va + off, pa + off, len - off);
            let size = [PageSize::Size1G, PageSize::Size2M, PageSize::Size4K]
                .into_iter()
                .find(|s| v % s.bytes() == 0 && p % s.bytes() == 0 && left >= s.bytes())
                .ok_or(MapError::Misaligned {
                    what: "range",
                    addr: v,
                    align: 4096,
                })?;
            self.map(mem, v, p, size, flags)?;
            off += size.bytes();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_range_uses_superpages_when_aligned_and_rejects_overlap() {
        let mut mem = GuestMemory::new(16 << 20).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, 1 << 20).unwrap();
        let flags = PTE_V | PTE_R | PTE_W | PTE_U;
        // 4K head, two 2M pages, 4K tail.
        b.map_range(&mut mem, 0x1f_f000, 0x3f_f000, 0x40_2000, flags)
            .unwrap();
        // root + one L1 + L0 for the head + L0 for the tail.
        assert_eq!(b.table_bytes_used(), 4 * 4096);
        assert_eq!(
            b.map(&mut mem, 0x20_0000, 0, PageSize::Size4K, flags),
            Err(MapError::AlreadyMapped(0x20_0000))
        );
        assert!(matches!(
            b.map(&mut mem, 0x1000, 0x800, PageSize::Size4K, flags),
            Err(MapError::Misaligned { .. })
        ));
        assert_eq!(
            b.map(&mut mem, 1 << 39, 0, PageSize::Size4K, flags),
            Err(MapError::NonCanonical(1 << 39))
        );
        assert!(matches!(
            b.map(&mut mem, 0x1000, 64 << 20, PageSize::Size4K, flags),
            Err(MapError::PhysOutOfRange { .. })
        ));
        let mut small = PageTableBuilder::new(&mut mem, 2 << 20, (2 << 20) + 8192).unwrap();
        // Root plus one table fit; a 4 KiB leaf needs two more levels.
        assert!(matches!(
            small.map(&mut mem, 0x1000, 0, PageSize::Size4K, flags),
            Err(MapError::OutOfTableMemory { .. })
        ));
    }
}
