//! Sv39 memory-management unit: page tables in guest physical memory, a
//! page walker, a software TLB on the guest's real memory path, and an
//! optional translation prefetcher.
//!
//! Layers, one module each:
//!
//! ```text
//! pte.rs       Sv39 PTE bits and address split
//! walker.rs    PageWalker: architectural translation, A/D updates, page faults
//! builder.rs   PageTableBuilder: the loader's page-table construction
//! tlb.rs       SoftTlb: set-associative, per-access-type tags, host addends
//! prefetch.rs  TranslationPrefetcher: next-page / stride prediction
//! bus.rs       MmuBus: guest accesses of the interpreter, syscalls and loader
//! runtime.rs   the miss handler generated code calls
//! ```
//!
//! [`Mmu`] ties them together: `translate` answers from the TLB or walks,
//! fills, and prefetches. See `docs/mmu.md` for the design and figures.

pub mod builder;
pub(crate) mod bus;
pub mod prefetch;
pub mod pte;
pub(crate) mod runtime;
pub mod tlb;
pub mod walker;

pub use builder::{MapError, PageTableBuilder};
pub(crate) use bus::MmuBus;
pub use prefetch::{PrefetchConfig, PrefetchPolicy, TranslationPrefetcher};
pub use pte::PageSize;
pub use tlb::{SoftTlb, TlbConfig, TlbConfigError, TlbEntry, TlbStats, INVALID_TAG};
pub use walker::{PageWalker, Translation};

use crate::memory::GuestMemory;
use pte::*;

/// Kind of guest access being translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessType {
    /// Load.
    Read,
    /// Store.
    Write,
    /// Instruction fetch.
    Execute,
}

impl AccessType {
    /// Encoding used by generated code in the miss-handler argument.
    pub const fn code(self) -> u64 {
        match self {
            AccessType::Read => 0,
            AccessType::Write => 1,
            AccessType::Execute => 2,
        }
    }

    /// Inverse of [`Self::code`].
    pub const fn from_code(c: u64) -> Self {
        match c & 3 {
            0 => AccessType::Read,
            1 => AccessType::Write,
            _ => AccessType::Execute,
        }
    }
}

impl std::fmt::Display for AccessType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccessType::Read => "load",
            AccessType::Write => "store",
            AccessType::Execute => "fetch",
        })
    }
}

/// Why a translation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCause {
    /// Bits 63..39 do not all equal bit 38.
    NonCanonical,
    /// A PTE on the path has V = 0 (or level 0 holds a pointer).
    NotMapped {
        /// Level of the PTE (2 = root).
        level: u8,
    },
    /// A PTE uses a reserved encoding (W without R, reserved bits, A/D/U on a pointer).
    ReservedEncoding {
        /// Level of the PTE.
        level: u8,
    },
    /// A superpage leaf whose physical page number is not aligned to its size.
    MisalignedSuperpage {
        /// Level of the leaf.
        level: u8,
    },
    /// A page table or the mapped page lies outside guest physical memory.
    PteOutOfRange {
        /// Level of the PTE.
        level: u8,
    },
    /// The page is not accessible in user mode (U = 0).
    NotUser,
    /// The leaf does not allow the access type.
    Denied,
    /// A or D would need setting but hardware updating is off (Svade).
    AccessedDirty,
}

/// A guest page fault: the access, its address and the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{access} page fault at {va:#x} ({cause:?})")]
pub struct PageFault {
    /// Faulting virtual address.
    pub va: u64,
    /// Access type (load, store or instruction page fault).
    pub access: AccessType,
    /// Why.
    pub cause: FaultCause,
}

/// MMU configuration (part of the VM configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MmuConfig {
    /// TLB geometry.
    pub tlb: TlbConfig,
    /// Translation prefetcher, or none.
    pub prefetch: Option<PrefetchConfig>,
    /// Svade instead of Svadu: fault instead of updating A/D bits.
    pub no_ad_update: bool,
}

/// Walks, prefetch walks and slow paths, beyond the TLB's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmuStats {
    /// TLB counters.
    pub tlb: TlbStats,
    /// Page walks on behalf of a miss.
    pub walks: u64,
    /// Walks (full or leaf-table neighbour reads) done by the prefetcher.
    pub prefetch_walks: u64,
    /// Misses of generated code that the miss handler could not resolve
    /// (faults, stores to code pages, page-crossing accesses to
    /// non-contiguous physical pages): those go through the interpreter.
    pub jit_slow_exits: u64,
}

/// The MMU of one hart: translation root, walker, TLB and prefetcher.
pub struct Mmu {
    root: u64,
    walker: PageWalker,
    tlb: SoftTlb,
    prefetcher: Option<TranslationPrefetcher>,
    host_base: u64,
    phys_len: u64,
    walks: u64,
    prefetch_walks: u64,
    pub(crate) jit_slow_exits: u64,
    /// Per physical page: the virtual page last given a direct write tag
    /// (+1; 0 = none, `u64::MAX` = several virtual aliases). Lets
    /// [`Self::revoke_write`] drop write tags without scanning the TLB.
    write_owner: Box<[u64]>,
    /// Bumped by every operation that may invalidate a cached translation
    /// or write permission (flushes, root switch, write revocation), so
    /// translation caches outside the TLB (generated code's per-site slots)
    /// know when to drop theirs.
    generation: u64,
}

/// `write_owner` value for a physical page written through several virtual pages.
const SEVERAL: u64 = u64::MAX;

impl Mmu {
    /// An MMU translating through the root table at physical `root` of `mem`.
    pub fn new(cfg: MmuConfig, root: u64, mem: &GuestMemory) -> Result<Self, TlbConfigError> {
        Ok(Self {
            root,
            walker: PageWalker {
                update_ad: !cfg.no_ad_update,
            },
            tlb: SoftTlb::new(cfg.tlb)?,
            prefetcher: cfg.prefetch.map(TranslationPrefetcher::new),
            host_base: mem.host_base() as u64,
            phys_len: mem.len(),
            walks: 0,
            prefetch_walks: 0,
            jit_slow_exits: 0,
            write_owner: vec![0u64; (mem.len() >> 12) as usize].into_boxed_slice(),
            generation: 1,
        })
    }

    /// Physical address of the root table.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Switches to another root table (a `satp` write) and flushes the TLB.
    pub fn set_root(&mut self, root: u64) {
        self.root = root;
        self.tlb.flush_all();
        self.generation += 1;
    }

    /// Changes whenever cached translations or write permissions may have
    /// been invalidated.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The TLB.
    pub fn tlb(&self) -> &SoftTlb {
        &self.tlb
    }

    /// The walker.
    pub fn walker(&self) -> PageWalker {
        self.walker
    }

    /// Turns the prefetcher on (with `cfg`) or off.
    pub fn set_prefetch(&mut self, cfg: Option<PrefetchConfig>) {
        self.prefetcher = cfg.map(TranslationPrefetcher::new);
    }

    /// Counters.
    pub fn stats(&self) -> MmuStats {
        MmuStats {
            tlb: self.tlb.stats(),
            walks: self.walks,
            prefetch_walks: self.prefetch_walks,
            jit_slow_exits: self.jit_slow_exits,
        }
    }

    /// Resets all counters.
    pub fn reset_stats(&mut self) {
        self.tlb.reset_stats();
        self.walks = 0;
        self.prefetch_walks = 0;
        self.jit_slow_exits = 0;
    }

    /// `sfence.vma`: flush the page containing `va`, or everything.
    pub fn sfence_vma(&mut self, va: Option<u64>) {
        self.generation += 1;
        match va {
            Some(va) => self.tlb.flush_page(va),
            None => self.tlb.flush_all(),
        }
    }

    /// Stores into physical page number `ppn` must reach the slow path
    /// from now on (translated code was decoded from it).
    pub fn revoke_write(&mut self, ppn: u64) {
        self.generation += 1;
        let host_page = self.host_base.wrapping_add(ppn << 12);
        let Some(owner) = self.write_owner.get_mut(ppn as usize) else {
            return;
        };
        match std::mem::take(owner) {
            0 => {}
            SEVERAL => self.tlb.revoke_write_to(host_page),
            vpage_plus_1 => self.tlb.revoke_write_at(vpage_plus_1 - 1, host_page),
        }
    }

    /// Installs `e` and records which virtual page may write its physical page directly.
    fn install(&mut self, e: TlbEntry, size: PageSize, prefetched: bool) {
        if e.tag_write != INVALID_TAG {
            let ppn = (e
                .tag_write
                .wrapping_add(e.addend)
                .wrapping_sub(self.host_base)
                >> 12) as usize;
            if let Some(owner) = self.write_owner.get_mut(ppn) {
                let v = e.tag_write + 1;
                *owner = if *owner == 0 || *owner == v {
                    v
                } else {
                    SEVERAL
                };
            }
        }
        self.tlb.fill(e, size, prefetched);
    }

    /// Guest physical address of `va` given the host addend of its page.
    #[inline(always)]
    pub fn phys(&self, va: u64, addend: u64) -> u64 {
        va.wrapping_add(addend).wrapping_sub(self.host_base)
    }

    /// Translates `va` for `access`: the TLB's host addend on a hit,
    /// otherwise walks (updating A/D), fills and prefetches.
    #[inline(always)]
    pub fn translate(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        access: AccessType,
    ) -> Result<u64, PageFault> {
        match self.tlb.lookup(va, access) {
            Some(a) => Ok(a),
            None => self.miss(mem, va, access),
        }
    }

    /// Translates a store to `va`: the host addend, and whether the store
    /// may go straight to memory (a TLB write-tag hit: the page is dirty
    /// and holds no translated code) or must take the checked path.
    #[inline(always)]
    pub fn translate_store(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
    ) -> Result<(u64, bool), PageFault> {
        match self.tlb.lookup(va, AccessType::Write) {
            Some(a) => Ok((a, true)),
            None => self.miss(mem, va, AccessType::Write).map(|a| (a, false)),
        }
    }

    /// Architectural translation without the TLB (walk every time).
    pub fn translate_uncached(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        access: AccessType,
    ) -> Result<u64, PageFault> {
        let t = self.walk(mem, va, access)?;
        Ok(self.host_base.wrapping_add(t.ppage).wrapping_sub(t.vpage))
    }

    fn walk(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        access: AccessType,
    ) -> Result<Translation, PageFault> {
        self.walks += 1;
        let t = self.walker.walk(mem, self.root, va, access)?;
        if t.ppage + 4096 > self.phys_len {
            return Err(PageFault {
                va,
                access,
                cause: FaultCause::PteOutOfRange { level: 0 },
            });
        }
        Ok(t)
    }

    #[inline(never)]
    fn miss(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        access: AccessType,
    ) -> Result<u64, PageFault> {
        let t = self.walk(mem, va, access)?;
        let e = self.entry_for(&t, mem);
        self.install(e, t.size, false);
        if self.prefetcher.is_some() {
            self.prefetch(mem, &t);
        }
        Ok(e.addend)
    }

    fn entry_for(&self, t: &Translation, mem: &GuestMemory) -> TlbEntry {
        let tag = |ok: bool| if ok { t.vpage } else { INVALID_TAG };
        // Leaves reach the TLB with A set (walked, or checked by the prefetcher).
        TlbEntry {
            tag_read: tag(t.allows(AccessType::Read)),
            tag_write: tag(t.allows(AccessType::Write)
                && t.dirty()
                && !mem.is_code_page(t.ppage >> 12)),
            tag_exec: tag(t.allows(AccessType::Execute)),
            addend: self.host_base.wrapping_add(t.ppage).wrapping_sub(t.vpage),
        }
    }

    /// Fills predicted pages. Neighbours in the same leaf table cost one
    /// PTE read (the leaf table is known from the walk just done), pages of
    /// the same superpage none. Only leaves with A already set are used:
    /// a prediction must not change guest-visible PTEs.
    fn prefetch(&mut self, mem: &GuestMemory, t: &Translation) {
        let Some(p) = self.prefetcher.as_mut() else {
            return;
        };
        let vpns: [u64; prefetch::MAX_DEGREE as usize] = {
            let mut a = [u64::MAX; prefetch::MAX_DEGREE as usize];
            for (slot, v) in a.iter_mut().zip(p.on_miss(t.vpage >> 12)) {
                *slot = v;
            }
            a
        };
        for predicted in vpns.into_iter().take_while(|&v| v != u64::MAX) {
            let page = predicted << 12;
            if !is_canonical(page) || self.tlb.contains(page, AccessType::Read) {
                continue;
            }
            self.prefetch_walks += 1;
            let span = t.size.bytes();
            let leaf = if page & !(span - 1) == t.vpage & !(span - 1) {
                // Same page (superpage piece) as the walk: no memory access.
                Some(Translation {
                    vpage: page,
                    ppage: (t.ppage & !(span - 1)) | (page & (span - 1)),
                    ..*t
                })
            } else if t.size == PageSize::Size4K && page >> 21 == t.vpage >> 21 {
                let pte_addr = t.pte_addr - 8 * vpn(t.vpage, 0) + 8 * vpn(page, 0);
                mem.load(pte_addr, 8).ok().and_then(|pte| {
                    let leaf = pte & PTE_V != 0
                        && pte & (PTE_R | PTE_X) != 0
                        && pte & PTE_RESERVED == 0
                        && !(pte & PTE_R == 0 && pte & PTE_W != 0);
                    leaf.then(|| Translation {
                        vpage: page,
                        ppage: pte_addr_of(pte),
                        pte,
                        pte_addr,
                        size: PageSize::Size4K,
                    })
                })
            } else {
                self.walker
                    .find_leaf(mem, self.root, page, AccessType::Read)
                    .ok()
            };
            if let Some(l) = leaf {
                if l.pte & PTE_A != 0 && l.pte & PTE_U != 0 && l.ppage + 4096 <= self.phys_len {
                    let e = self.entry_for(&l, mem);
                    self.install(e, l.size, true);
                }
            }
        }
    }

    /// Miss handling for generated code: the host addend for an access (or
    /// run of accesses) of `size` bytes at `va`, or `None` when the access must be replayed by
    /// the interpreter (page fault, store to a code page or to a clean
    /// page's slow path, page-crossing access to non-contiguous physical pages).
    pub(crate) fn jit_miss(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        size: u64,
        access: AccessType,
    ) -> Option<u64> {
        let last = va.wrapping_add(size - 1);
        let first = self.translate(mem, va, access).ok()?;
        if access == AccessType::Write && !self.tlb.contains(va, AccessType::Write) {
            return None;
        }
        if (va ^ last) & tlb::PAGE_MASK != 0 {
            if size > 8 {
                // A run of several accesses crossing a page: replaying its
                // first access keeps A/D updates exact (the second page may
                // never be touched if a later access faults).
                return None;
            }
            let second = self.translate(mem, last, access).ok()?;
            // Equal addends: consecutive virtual pages on consecutive physical pages.
            if second != first
                || (access == AccessType::Write && !self.tlb.contains(last, AccessType::Write))
            {
                return None;
            }
        }
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random address streams: every TLB answer equals a fresh walk.
    #[test]
    fn tlb_agrees_with_the_walker_on_random_streams() {
        let mut mem = GuestMemory::new(64 << 20).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, 1 << 20).unwrap();
        let ur = PTE_V | PTE_U | PTE_R | PTE_A;
        // A scattered mix: 4K pages with varied permissions, a 2M superpage.
        let mut rng = crate::rng::XorShift64(0x9e37_79b9_7f4a_7c15u64);
        let mut next = || rng.next_u64();
        for i in 0..512u64 {
            let flags = match i % 4 {
                0 => ur,
                1 => ur | PTE_W,
                2 => ur | PTE_W | PTE_D,
                _ => PTE_V | PTE_U | PTE_X | PTE_A,
            };
            let pa = (2 << 20) + (next() % 4096) * 4096;
            b.map(
                &mut mem,
                0x100_0000 + i * 0x3000,
                pa,
                PageSize::Size4K,
                flags,
            )
            .unwrap();
        }
        b.map(
            &mut mem,
            0x4000_0000,
            32 << 20,
            PageSize::Size2M,
            ur | PTE_W,
        )
        .unwrap();
        for (entries, ways, prefetch) in [(64, 1, None), (256, 4, Some(PrefetchConfig::default()))]
        {
            let cfg = MmuConfig {
                tlb: TlbConfig { entries, ways },
                prefetch,
                no_ad_update: false,
            };
            let mut m = Mmu::new(cfg, b.root(), &mem).unwrap();
            let reference = PageWalker::default();
            for _ in 0..50_000 {
                let r = next();
                let va = if r % 5 == 0 {
                    0x4000_0000 + (r >> 8) % (2 << 20)
                } else {
                    0x100_0000 + ((r >> 8) % 96) * 4096 + (r >> 40) % 4096
                };
                let access = AccessType::from_code(r >> 60);
                let got = m.translate(&mut mem, va, access).map(|a| m.phys(va, a));
                let want = reference
                    .walk(&mut mem, b.root(), va, access)
                    .map(|t| t.ppage | (va & 0xfff));
                assert_eq!(got, want, "{va:#x} {access:?}");
            }
            let s = m.stats();
            // Most of the stream faults (wrong access type or unmapped gap);
            // the TLB must still have answered a good share of it.
            assert!(
                s.tlb.read.hits + s.tlb.write.hits + s.tlb.exec.hits > 2000,
                "{s:?}"
            );
        }
    }

    /// The TLB caches translations like hardware: a PTE rewritten in
    /// memory is not seen until `sfence.vma` for that page (or all).
    #[test]
    fn sfence_vma_makes_page_table_changes_visible() {
        let mut mem = GuestMemory::new(16 << 20).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, 1 << 20).unwrap();
        let rw = PTE_V | PTE_U | PTE_R | PTE_W | PTE_A | PTE_D;
        b.map(&mut mem, 0x40_0000, 0x20_0000, PageSize::Size4K, rw)
            .unwrap();
        b.map(&mut mem, 0x40_1000, 0x20_1000, PageSize::Size4K, rw)
            .unwrap();
        let mut m = Mmu::new(MmuConfig::default(), b.root(), &mem).unwrap();
        let pa = |m: &mut Mmu, mem: &mut GuestMemory, va| {
            m.translate(mem, va, AccessType::Read)
                .map(|a| m.phys(va, a))
        };
        assert_eq!(pa(&mut m, &mut mem, 0x40_0008), Ok(0x20_0008));
        assert_eq!(pa(&mut m, &mut mem, 0x40_1008), Ok(0x20_1008));
        let leaf = |mem: &GuestMemory, va| {
            PageWalker::default()
                .find_leaf(mem, b.root(), va, AccessType::Read)
                .unwrap()
                .pte_addr
        };
        // Remap both pages to other frames behind the TLB's back.
        for (va, new) in [(0x40_0000u64, 0x30_0000u64), (0x40_1000, 0x30_1000)] {
            let at = leaf(&mem, va);
            mem.store(at, 8, make_pte(new, rw)).unwrap();
        }
        assert_eq!(
            pa(&mut m, &mut mem, 0x40_0008),
            Ok(0x20_0008),
            "stale until fenced"
        );
        m.sfence_vma(Some(0x40_0fff));
        assert_eq!(pa(&mut m, &mut mem, 0x40_0008), Ok(0x30_0008));
        assert_eq!(
            pa(&mut m, &mut mem, 0x40_1008),
            Ok(0x20_1008),
            "other page untouched"
        );
        // Unmap: after a full fence the access faults.
        let at = leaf(&mem, 0x40_1000);
        mem.store(at, 8, 0).unwrap();
        m.sfence_vma(None);
        assert!(pa(&mut m, &mut mem, 0x40_1008).is_err());
        assert_eq!(m.stats().tlb.flushes_page, 1);
        assert_eq!(m.stats().tlb.flushes_all, 1);
    }

    #[test]
    fn jit_miss_refuses_code_pages_and_split_non_contiguous_accesses() {
        let mut mem = GuestMemory::new(16 << 20).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, 1 << 20).unwrap();
        let rw = PTE_V | PTE_U | PTE_R | PTE_W | PTE_A;
        b.map(&mut mem, 0x10_0000, 0x20_0000, PageSize::Size4K, rw)
            .unwrap();
        b.map(&mut mem, 0x10_1000, 0x20_1000, PageSize::Size4K, rw)
            .unwrap();
        b.map(&mut mem, 0x10_2000, 0x30_0000, PageSize::Size4K, rw)
            .unwrap();
        let mut m = Mmu::new(MmuConfig::default(), b.root(), &mem).unwrap();
        // Contiguous crossing: fine. Non-contiguous crossing: replay.
        assert!(m
            .jit_miss(&mut mem, 0x10_0ffc, 8, AccessType::Read)
            .is_some());
        assert!(m
            .jit_miss(&mut mem, 0x10_1ffc, 8, AccessType::Read)
            .is_none());
        // A store sets D and then gets a direct write tag...
        assert!(m
            .jit_miss(&mut mem, 0x10_0010, 8, AccessType::Write)
            .is_some());
        assert!(m.tlb().contains(0x10_0010, AccessType::Write));
        // ...until code is found in the physical page.
        mem.mark_code_page(0x200);
        m.revoke_write(0x200);
        assert!(!m.tlb().contains(0x10_0010, AccessType::Write));
        assert!(m
            .jit_miss(&mut mem, 0x10_0010, 8, AccessType::Write)
            .is_none());
        // Unmapped: replay (the interpreter reports the page fault).
        assert!(m
            .jit_miss(&mut mem, 0x50_0000, 1, AccessType::Read)
            .is_none());
    }

    #[test]
    fn prefetch_fills_ahead_along_the_stream_without_touching_ptes() {
        let mut mem = GuestMemory::new(16 << 20).unwrap();
        let mut b = PageTableBuilder::new(&mut mem, 0, 1 << 20).unwrap();
        let rw = PTE_V | PTE_U | PTE_R | PTE_W | PTE_A;
        b.map_range(&mut mem, 0x40_0000, 0x40_0000, 64 << 12, rw)
            .unwrap();
        // One page without A: the prefetcher must skip it.
        b.map(
            &mut mem,
            0x50_0000,
            0x50_0000,
            PageSize::Size4K,
            rw & !PTE_A,
        )
        .unwrap();
        let cfg = MmuConfig {
            prefetch: Some(PrefetchConfig {
                policy: PrefetchPolicy::NextPage,
                degree: 4,
            }),
            ..MmuConfig::default()
        };
        let mut m = Mmu::new(cfg, b.root(), &mem).unwrap();
        for p in 0..64u64 {
            m.translate(&mut mem, 0x40_0000 + p * 4096, AccessType::Read)
                .unwrap();
        }
        let s = m.stats();
        assert_eq!(s.tlb.read.misses, 13, "{s:?}"); // one miss per 5 pages
        assert!(s.tlb.prefetch_fills >= 48, "{s:?}");
        b.map(&mut mem, 0x4f_f000, 0x4f_f000, PageSize::Size4K, rw)
            .unwrap();
        m.translate(&mut mem, 0x4f_f000, AccessType::Read).unwrap();
        let leaf = PageWalker::default()
            .find_leaf(&mem, b.root(), 0x50_0000, AccessType::Read)
            .unwrap();
        assert_eq!(leaf.pte & PTE_A, 0, "prefetch must not set A");
        assert!(!m.tlb().contains(0x50_0000, AccessType::Read));
    }
}
