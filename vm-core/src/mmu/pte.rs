//! RISC-V Sv39 page-table entry format and address-split constants.
//!
//! A virtual address has a 12-bit page offset and three 9-bit virtual page
//! number fields (`VPN[2..0]`); bits 63..39 must equal bit 38 (canonical).
//! A PTE holds a 44-bit physical page number at bit 10 and the flag bits
//! below.

/// Valid.
pub const PTE_V: u64 = 1 << 0;
/// Readable.
pub const PTE_R: u64 = 1 << 1;
/// Writable.
pub const PTE_W: u64 = 1 << 2;
/// Executable.
pub const PTE_X: u64 = 1 << 3;
/// Accessible in user mode.
pub const PTE_U: u64 = 1 << 4;
/// Global mapping.
pub const PTE_G: u64 = 1 << 5;
/// Accessed.
pub const PTE_A: u64 = 1 << 6;
/// Dirty.
pub const PTE_D: u64 = 1 << 7;
/// Bit position of the physical page number.
pub const PPN_SHIFT: u32 = 10;
/// Mask of the 44-bit physical page number (after shifting).
pub const PPN_MASK: u64 = (1 << 44) - 1;
/// Bits 63..54 are reserved (Svpbmt/Svnapot are not implemented) and must be zero.
pub const PTE_RESERVED: u64 = 0x3ff << 54;

/// Page-table levels of Sv39.
pub const LEVELS: usize = 3;
/// Entries per page-table page.
pub const PTES_PER_TABLE: u64 = 512;
/// Size of one page-table page in bytes.
pub const TABLE_BYTES: u64 = 4096;
/// Number of significant virtual-address bits.
pub const VA_BITS: u32 = 39;

/// Sizes of the pages a leaf PTE can map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageSize {
    /// 4 KiB page (leaf at level 0).
    Size4K,
    /// 2 MiB megapage (leaf at level 1).
    Size2M,
    /// 1 GiB gigapage (leaf at level 2).
    Size1G,
}

impl PageSize {
    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => 1 << 12,
            PageSize::Size2M => 1 << 21,
            PageSize::Size1G => 1 << 30,
        }
    }

    /// Page-table level of a leaf of this size (0 = last level).
    pub const fn level(self) -> usize {
        match self {
            PageSize::Size4K => 0,
            PageSize::Size2M => 1,
            PageSize::Size1G => 2,
        }
    }

    /// The page size of a leaf found at `level`.
    pub const fn from_level(level: usize) -> Self {
        match level {
            0 => PageSize::Size4K,
            1 => PageSize::Size2M,
            _ => PageSize::Size1G,
        }
    }
}

/// `VPN[level]` of a virtual address.
#[inline(always)]
pub const fn vpn(va: u64, level: usize) -> u64 {
    (va >> (12 + 9 * level as u32)) & (PTES_PER_TABLE - 1)
}

/// Whether bits 63..39 of `va` all equal bit 38.
#[inline(always)]
pub const fn is_canonical(va: u64) -> bool {
    let top = (va as i64) >> (VA_BITS - 1);
    top == 0 || top == -1
}

/// Physical address of the page (or table) a PTE points to.
#[inline(always)]
pub const fn pte_addr_of(pte: u64) -> u64 {
    ((pte >> PPN_SHIFT) & PPN_MASK) << 12
}

/// Builds a PTE pointing to physical address `pa` (page aligned) with `flags`.
#[inline(always)]
pub const fn make_pte(pa: u64, flags: u64) -> u64 {
    ((pa >> 12) << PPN_SHIFT) | flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_split_and_canonical_form() {
        let va = (3 << 30) | (5 << 21) | (7 << 12) | 0x123;
        assert_eq!((vpn(va, 2), vpn(va, 1), vpn(va, 0)), (3, 5, 7));
        assert!(is_canonical(0x3f_ffff_ffff));
        assert!(!is_canonical(0x40_0000_0000));
        assert!(is_canonical(0xffff_ffc0_0000_0000));
        assert!(!is_canonical(0xffff_ff80_0000_0000 - 1));
        assert_eq!(pte_addr_of(make_pte(0x8020_3000, PTE_V)), 0x8020_3000);
        for s in [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G] {
            assert_eq!(PageSize::from_level(s.level()), s);
        }
    }
}
