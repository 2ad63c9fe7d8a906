//! Software TLB in the style of QEMU's softmmu: each entry caches one
//! 4 KiB virtual page with a separate tag per access type and the host
//! addend that turns a guest virtual address into a host pointer.
//!
//! Layout: `sets` entries of way 0 form one contiguous array that generated
//! code probes inline (index = virtual page number modulo `sets`); ways
//! 1.. of every set live in a second array that only the out-of-line path
//! searches. A hit there swaps the entry into way 0, so way 0 always holds
//! the set's most recently used translation and the arrays together behave
//! as an LRU set-associative TLB while the inline probe stays one compare.
//!
//! A tag is the page-aligned virtual address when the access type is
//! allowed, and [`INVALID_TAG`] otherwise. Stores to pages that hold
//! translated code and stores to clean (D = 0) pages never get a write
//! tag, so they always take the slow path (which invalidates translations
//! or sets D).

use super::pte::PageSize;
use super::AccessType;

/// Tag of an access type that is not allowed (never equal to a page address).
pub const INVALID_TAG: u64 = u64::MAX;
/// Mask keeping the page number of an address.
pub const PAGE_MASK: u64 = !0xfff;

/// One TLB entry; the layout is part of the JIT ABI (see [`entry_offsets`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlbEntry {
    /// Page address if loads are allowed.
    pub tag_read: u64,
    /// Page address if stores may go straight to memory.
    pub tag_write: u64,
    /// Page address if instruction fetch is allowed.
    pub tag_exec: u64,
    /// `host address - guest virtual address` for this page.
    pub addend: u64,
}

impl TlbEntry {
    /// An entry matching nothing.
    pub const EMPTY: TlbEntry = TlbEntry {
        tag_read: INVALID_TAG,
        tag_write: INVALID_TAG,
        tag_exec: INVALID_TAG,
        addend: 0,
    };

    #[inline(always)]
    fn tag(&self, access: AccessType) -> u64 {
        match access {
            AccessType::Read => self.tag_read,
            AccessType::Write => self.tag_write,
            AccessType::Execute => self.tag_exec,
        }
    }

    /// The page this entry caches, if any tag is valid.
    pub fn page(&self) -> Option<u64> {
        [self.tag_read, self.tag_write, self.tag_exec]
            .into_iter()
            .find(|&t| t != INVALID_TAG)
    }
}

/// Byte offsets inside [`TlbEntry`], for code generators.
pub mod entry_offsets {
    use super::TlbEntry;
    use std::mem::offset_of;
    /// log2 of the entry size.
    pub const SHIFT: u32 = 5;
    /// `tag_read`.
    pub const TAG_READ: i32 = offset_of!(TlbEntry, tag_read) as i32;
    /// `tag_write`.
    pub const TAG_WRITE: i32 = offset_of!(TlbEntry, tag_write) as i32;
    /// `tag_exec`.
    pub const TAG_EXEC: i32 = offset_of!(TlbEntry, tag_exec) as i32;
    /// `addend`.
    pub const ADDEND: i32 = offset_of!(TlbEntry, addend) as i32;
    const _: () = assert!(std::mem::size_of::<TlbEntry>() == 1 << SHIFT);
}

/// Size and associativity of a [`SoftTlb`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlbConfig {
    /// Total entries (power of two, at least 2 x `ways`).
    pub entries: usize,
    /// Ways per set (power of two; 1 = direct mapped).
    pub ways: usize,
}

impl Default for TlbConfig {
    fn default() -> Self {
        // 256 sets x 4 ways = 4 MiB of reach with 4 KiB pages.
        Self {
            entries: 1024,
            ways: 4,
        }
    }
}

/// Invalid TLB geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid TLB geometry: {entries} entries, {ways} ways (powers of two, at least two sets, at most 1 << 20 entries)")]
pub struct TlbConfigError {
    /// Requested entries.
    pub entries: usize,
    /// Requested ways.
    pub ways: usize,
}

impl TlbConfig {
    /// Checks the geometry.
    pub fn validate(&self) -> Result<(), TlbConfigError> {
        let ok = self.entries.is_power_of_two()
            && self.ways.is_power_of_two()
            && self.entries / self.ways >= 2
            && self.entries <= 1 << 20;
        if ok {
            Ok(())
        } else {
            Err(TlbConfigError {
                entries: self.entries,
                ways: self.ways,
            })
        }
    }

    /// Number of sets.
    pub fn sets(&self) -> usize {
        self.entries / self.ways
    }
}

/// Counters of one access type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessStats {
    /// Lookups answered by the TLB.
    pub hits: u64,
    /// Lookups that needed the page walker.
    pub misses: u64,
}

/// TLB statistics. Hits of generated code's inline checks (per-site slots
/// and way-0 probes) are not counted (as in QEMU, counting would cost a
/// memory increment per access); every lookup that reaches Rust code is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlbStats {
    /// Loads.
    pub read: AccessStats,
    /// Stores.
    pub write: AccessStats,
    /// Instruction fetches.
    pub exec: AccessStats,
    /// Hits found in ways 1.. (swapped into way 0).
    pub victim_hits: u64,
    /// Entries installed after a walk.
    pub fills: u64,
    /// Entries installed by the prefetcher.
    pub prefetch_fills: u64,
    /// Valid entries evicted by a fill.
    pub evictions: u64,
    /// `flush_all` calls.
    pub flushes_all: u64,
    /// `flush_page` calls.
    pub flushes_page: u64,
}

impl TlbStats {
    /// Counters of `access`.
    pub fn of(&self, access: AccessType) -> AccessStats {
        match access {
            AccessType::Read => self.read,
            AccessType::Write => self.write,
            AccessType::Execute => self.exec,
        }
    }

    fn of_mut(&mut self, access: AccessType) -> &mut AccessStats {
        match access {
            AccessType::Read => &mut self.read,
            AccessType::Write => &mut self.write,
            AccessType::Execute => &mut self.exec,
        }
    }

    /// Hits over lookups, all access types.
    pub fn hit_rate(&self) -> f64 {
        let h = self.read.hits + self.write.hits + self.exec.hits;
        let m = self.read.misses + self.write.misses + self.exec.misses;
        if h + m == 0 {
            0.0
        } else {
            h as f64 / (h + m) as f64
        }
    }
}

/// Set-associative software TLB.
pub struct SoftTlb {
    primary: Box<[TlbEntry]>,
    victims: Box<[TlbEntry]>,
    sets: usize,
    ways: usize,
    /// Virtual range covered by superpage fills (flush by address inside
    /// it must drop every 4 KiB piece, so it flushes all, as QEMU does).
    large: Option<(u64, u64)>,
    stats: TlbStats,
}

impl SoftTlb {
    /// An empty TLB of the given geometry.
    pub fn new(cfg: TlbConfig) -> Result<Self, TlbConfigError> {
        cfg.validate()?;
        let sets = cfg.sets();
        Ok(Self {
            primary: vec![TlbEntry::EMPTY; sets].into_boxed_slice(),
            victims: vec![TlbEntry::EMPTY; sets * (cfg.ways - 1)].into_boxed_slice(),
            sets,
            ways: cfg.ways,
            large: None,
            stats: TlbStats::default(),
        })
    }

    /// Geometry.
    pub fn config(&self) -> TlbConfig {
        TlbConfig {
            entries: self.sets * self.ways,
            ways: self.ways,
        }
    }

    /// Host address of the way-0 array (for generated code).
    pub fn primary_ptr(&self) -> *const TlbEntry {
        self.primary.as_ptr()
    }

    /// `(sets - 1) << entry_offsets::SHIFT`: masks `va >> 7` to a way-0 byte offset.
    pub fn index_mask(&self) -> u64 {
        ((self.sets - 1) as u64) << entry_offsets::SHIFT
    }

    /// Statistics so far.
    pub fn stats(&self) -> TlbStats {
        self.stats
    }

    /// Resets the statistics.
    pub fn reset_stats(&mut self) {
        self.stats = TlbStats::default();
    }

    #[inline(always)]
    fn set_of(&self, va: u64) -> usize {
        ((va >> 12) as usize) & (self.sets - 1)
    }

    /// Looks the page of `va` up for `access`; returns the host addend on a
    /// hit (way 0, or another way, which then moves to way 0) and counts the
    /// outcome. Callers split page-crossing accesses.
    #[inline(always)]
    pub fn lookup(&mut self, va: u64, access: AccessType) -> Option<u64> {
        let set = self.set_of(va);
        let page = va & PAGE_MASK;
        let e = &self.primary[set];
        if e.tag(access) == page {
            self.stats.of_mut(access).hits += 1;
            return Some(e.addend);
        }
        self.lookup_victims(set, page, access)
    }

    #[inline(never)]
    fn lookup_victims(&mut self, set: usize, page: u64, access: AccessType) -> Option<u64> {
        let w = self.ways - 1;
        for i in set * w..set * w + w {
            if self.victims[i].tag(access) == page {
                // Move to way 0 and shift the more recent victims down: LRU order.
                let hit = self.victims[i];
                self.victims.copy_within(set * w..i, set * w + 1);
                self.victims[set * w] = self.primary[set];
                self.primary[set] = hit;
                self.stats.of_mut(access).hits += 1;
                self.stats.victim_hits += 1;
                return Some(self.primary[set].addend);
            }
        }
        self.stats.of_mut(access).misses += 1;
        None
    }

    /// Whether some entry caches `page` for `access`, without counting or reordering.
    pub fn contains(&self, va: u64, access: AccessType) -> bool {
        let set = self.set_of(va);
        let page = va & PAGE_MASK;
        let w = self.ways - 1;
        self.primary[set].tag(access) == page
            || self.victims[set * w..set * w + w]
                .iter()
                .any(|e| e.tag(access) == page)
    }

    /// Installs `entry` for its page (replacing an existing entry for the
    /// same page); the set's least recently used entry is evicted.
    pub fn fill(&mut self, entry: TlbEntry, size: PageSize, prefetched: bool) {
        let Some(page) = entry.page() else { return };
        if prefetched {
            self.stats.prefetch_fills += 1;
        } else {
            self.stats.fills += 1;
        }
        if size != PageSize::Size4K {
            let base = page & !(size.bytes() - 1);
            let end = base + size.bytes();
            self.large = Some(match self.large {
                Some((lo, hi)) => (lo.min(base), hi.max(end)),
                None => (base, end),
            });
        }
        let set = self.set_of(page);
        let primary = self.primary[set];
        if primary.page().is_none() || primary.page() == Some(page) {
            self.primary[set] = entry;
            return;
        }
        let w = self.ways - 1;
        let victims = &mut self.victims[set * w..set * w + w];
        if victims.is_empty() {
            self.stats.evictions += 1;
            self.primary[set] = entry;
            return;
        }
        // A stale copy of the page in a victim way is reused as the hole so
        // the page is cached once; otherwise the LRU (last) way falls out.
        let hole = match victims.iter().position(|v| v.page() == Some(page)) {
            Some(i) => i,
            None => {
                if victims[w - 1].page().is_some() {
                    self.stats.evictions += 1;
                }
                w - 1
            }
        };
        victims.copy_within(0..hole, 1);
        victims[0] = primary;
        self.primary[set] = entry;
    }

    /// Drops every entry (`sfence.vma` with rs1 = x0).
    pub fn flush_all(&mut self) {
        self.primary.fill(TlbEntry::EMPTY);
        self.victims.fill(TlbEntry::EMPTY);
        self.large = None;
        self.stats.flushes_all += 1;
    }

    /// Drops the translation of the page containing `va` (`sfence.vma rs1`);
    /// inside a superpage that was cached, drops everything.
    pub fn flush_page(&mut self, va: u64) {
        if let Some((lo, hi)) = self.large {
            if va >= lo && va < hi {
                self.flush_all();
                return;
            }
        }
        self.stats.flushes_page += 1;
        let set = self.set_of(va);
        let page = va & PAGE_MASK;
        if self.primary[set].page() == Some(page) {
            self.primary[set] = TlbEntry::EMPTY;
        }
        let w = self.ways - 1;
        for v in &mut self.victims[set * w..set * w + w] {
            if v.page() == Some(page) {
                *v = TlbEntry::EMPTY;
            }
        }
    }

    /// Removes write permission from every entry whose page maps to
    /// physical page `ppage` (host address `host_page`): translated code
    /// now lives there, so stores must take the slow path.
    pub fn revoke_write_to(&mut self, host_page: u64) {
        for e in self.primary.iter_mut().chain(self.victims.iter_mut()) {
            if e.tag_write != INVALID_TAG && e.tag_write.wrapping_add(e.addend) == host_page {
                e.tag_write = INVALID_TAG;
            }
        }
    }

    /// Removes write permission from the entry caching virtual page
    /// `vpage` if it maps to host page `host_page` (the O(1) form of
    /// [`Self::revoke_write_to`] when the virtual page is known).
    pub fn revoke_write_at(&mut self, vpage: u64, host_page: u64) {
        let set = self.set_of(vpage);
        let w = self.ways - 1;
        let (p, v) = (
            &mut self.primary[set..=set],
            &mut self.victims[set * w..set * w + w],
        );
        for e in p.iter_mut().chain(v.iter_mut()) {
            if e.tag_write == vpage && e.tag_write.wrapping_add(e.addend) == host_page {
                e.tag_write = INVALID_TAG;
            }
        }
    }

    /// Number of entries holding a valid translation.
    pub fn occupancy(&self) -> usize {
        self.primary
            .iter()
            .chain(self.victims.iter())
            .filter(|e| e.page().is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(page: u64) -> TlbEntry {
        TlbEntry {
            tag_read: page,
            tag_write: INVALID_TAG,
            tag_exec: page,
            addend: 0x1000_0000,
        }
    }

    #[test]
    fn geometry_is_validated() {
        assert!(SoftTlb::new(TlbConfig {
            entries: 64,
            ways: 4
        })
        .is_ok());
        for (entries, ways) in [(0, 1), (48, 4), (8, 8), (64, 3), (1 << 21, 1)] {
            assert!(
                SoftTlb::new(TlbConfig { entries, ways }).is_err(),
                "{entries}/{ways}"
            );
        }
    }

    #[test]
    fn separate_permissions_per_access_type() {
        let mut t = SoftTlb::new(TlbConfig {
            entries: 16,
            ways: 1,
        })
        .unwrap();
        t.fill(entry(0x5000), PageSize::Size4K, false);
        assert_eq!(t.lookup(0x5123, AccessType::Read), Some(0x1000_0000));
        assert_eq!(t.lookup(0x5123, AccessType::Execute), Some(0x1000_0000));
        assert_eq!(t.lookup(0x5123, AccessType::Write), None);
        let s = t.stats();
        assert_eq!((s.read.hits, s.exec.hits, s.write.misses), (1, 1, 1));
    }

    #[test]
    fn set_associativity_is_lru_with_mru_in_way_zero() {
        // 2 sets x 4 ways: pages 0, 2, 4, 6, 8 all map to set 0.
        let mut t = SoftTlb::new(TlbConfig {
            entries: 8,
            ways: 4,
        })
        .unwrap();
        for p in [0u64, 2, 4, 6] {
            t.fill(entry(p << 12), PageSize::Size4K, false);
        }
        for p in [0u64, 2, 4, 6] {
            assert!(t.contains(p << 12, AccessType::Read), "page {p}");
        }
        // Touch page 0 (victim hit, becomes MRU), then fill page 8: page 2 is LRU.
        assert!(t.lookup(0, AccessType::Read).is_some());
        assert_eq!(t.stats().victim_hits, 1);
        t.fill(entry(8 << 12), PageSize::Size4K, false);
        assert!(!t.contains(2 << 12, AccessType::Read));
        for p in [0u64, 4, 6, 8] {
            assert!(t.contains(p << 12, AccessType::Read), "page {p}");
        }
        assert_eq!(t.stats().evictions, 1);
        assert_eq!(t.occupancy(), 4);
        // Refilling a cached page does not duplicate it.
        t.fill(entry(4 << 12), PageSize::Size4K, false);
        assert_eq!(t.occupancy(), 4);
    }

    #[test]
    fn flush_semantics() {
        let mut t = SoftTlb::new(TlbConfig {
            entries: 16,
            ways: 2,
        })
        .unwrap();
        for p in 0..8u64 {
            t.fill(entry(p << 12), PageSize::Size4K, false);
        }
        t.flush_page(0x3fff);
        assert!(!t.contains(0x3000, AccessType::Read));
        assert!(t.contains(0x4000, AccessType::Read));
        assert_eq!(t.occupancy(), 7);
        // A 4 KiB piece of a cached superpage: flushing any address in the
        // superpage drops everything.
        t.fill(entry(0x20_3000), PageSize::Size2M, false);
        t.flush_page(0x3f_0000);
        assert_eq!(t.occupancy(), 0);
        assert_eq!(t.stats().flushes_all, 1);
        t.fill(entry(0x1000), PageSize::Size4K, false);
        t.flush_all();
        assert_eq!(t.occupancy(), 0);
        assert_eq!(t.lookup(0x1000, AccessType::Read), None);
    }

    #[test]
    fn revoking_write_access_by_host_page() {
        let mut t = SoftTlb::new(TlbConfig {
            entries: 16,
            ways: 2,
        })
        .unwrap();
        let mut e = entry(0x7000);
        e.tag_write = 0x7000;
        t.fill(e, PageSize::Size4K, false);
        t.revoke_write_to(0x1000_7000);
        assert_eq!(t.lookup(0x7008, AccessType::Write), None);
        assert!(t.lookup(0x7008, AccessType::Read).is_some());
    }
}
