//! Blocks of an installed AOT image that the block cache has not seen yet.
//!
//! An image's code is validated, relocated and copied into the code region
//! (its direct jumps between image blocks already linked, the indirect-jump
//! cache filled) before anything runs, but its blocks are entered into the
//! block cache only when the dispatcher first misses on their pc (or a
//! chain exit needs them): a run that executes half of an image's blocks
//! pays for half the cache entries. Until then a block lives here, in one
//! table per image (a few flat vectors instead of three allocations per
//! block), sorted by guest pc.
//!
//! A pending block is still executed (through prelinked jumps and the
//! indirect-jump cache), so it must be invalidated like a cached one: its
//! guest pages are marked as code at install, and invalidating a page
//! drops the pending blocks overlapping it too ([`ImageBlocks::drop_page`]),
//! returning the jumps into them to their exit stubs.

use crate::backend::x86_64::{ChainSite, CompiledBlock};
use crate::cache::{IncomingLink, TranslatedBlock};
use crate::frontend::riscv::decode_parcel;
use crate::memory::{GuestMemory, PAGE_SHIFT};

/// Where one image block stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Installed in the code region, not in the block cache yet.
    Pending,
    /// Handed to the block cache (which now owns its invalidation).
    Registered,
    /// Invalidated, or its code flushed: never to be registered.
    Dropped,
}

/// One image block's record.
#[derive(Debug, Clone, Copy)]
pub(super) struct ImageBlock {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// Guest address one past the last instruction.
    pub end: u64,
    /// Host entry address in the code region.
    pub entry: usize,
    /// Code size in bytes.
    pub size: u32,
    /// Range of its chain sites in [`ImageBlocks::sites`].
    pub sites: (u32, u32),
    /// The prelinked jumps into it: the index in [`ImageBlocks::sites`]
    /// of the first, and how many there are.
    pub links: (u32, u32),
    state: State,
}

/// The three vectors of an image table, kept per thread between images: a
/// short-lived VM started from an image (tests, start-up benchmarks, a
/// scheduler's guests) otherwise allocates them at install and frees them
/// at drop, 2-7 KB each for `fib`. Taken empty for one install, handed
/// back cleared when the table is dropped.
#[derive(Default)]
pub(super) struct TableBuffers {
    pub blocks: Vec<ImageBlock>,
    pub sites: Vec<ChainSite>,
    pub site_block: Vec<u32>,
}

thread_local! {
    static TABLE_BUFFERS: std::cell::Cell<TableBuffers> =
        std::cell::Cell::new(TableBuffers::default());
}

impl TableBuffers {
    /// Vectors larger than this (in elements) are freed rather than kept.
    const MAX_KEPT: usize = 1 << 16;

    /// The kept (empty) vectors, or new ones.
    pub fn take() -> Self {
        TABLE_BUFFERS
            .try_with(|c| c.take())
            .unwrap_or_default()
    }

    /// Clears the vectors (keeping their memory) and keeps them for the
    /// next install on this thread.
    fn give(mut self) {
        if self.sites.capacity() > Self::MAX_KEPT
            || self.blocks.capacity() > Self::MAX_KEPT
            || self.site_block.capacity() > Self::MAX_KEPT
        {
            return;
        }
        self.blocks.clear();
        self.sites.clear();
        self.site_block.clear();
        // During thread teardown the slot may be gone: the vectors are then freed.
        let _ = TABLE_BUFFERS.try_with(|c| c.set(self));
    }
}

/// The not-yet-registered blocks of one installed image.
#[derive(Debug, Default)]
pub(super) struct ImageBlocks {
    blocks: Vec<ImageBlock>,
    sites: Vec<ChainSite>,
    /// Per entry of `sites`: the index of the block the install linked
    /// its jump to, or `u32::MAX` (the prelinked jumps into a block are
    /// found from it when needed, see [`ImageBlocks::incoming`]).
    site_block: Vec<u32>,
    /// Longest guest range of a block, in bytes (bounds page searches).
    max_span: u64,
    pending: usize,
}

impl ImageBlocks {
    /// A table of `blocks` (sorted by pc, with ranges into the other
    /// vectors; `links` grouped by target block).
    pub fn new(
        blocks: Vec<ImageBlock>,
        sites: Vec<ChainSite>,
        site_block: Vec<u32>,
    ) -> Self {
        let max_span = blocks.iter().map(|b| b.end - b.pc).max().unwrap_or(0);
        let pending = blocks.len();
        Self {
            blocks,
            sites,
            site_block,
            max_span,
            pending,
        }
    }

    /// A block record in its initial (pending) state.
    pub fn block(
        pc: u64,
        end: u64,
        entry: usize,
        size: u32,
        sites: (u32, u32),
        links: (u32, u32),
    ) -> ImageBlock {
        ImageBlock {
            pc,
            end,
            entry,
            size,
            sites,
            links,
            state: State::Pending,
        }
    }

    /// Whether no block is pending any more.
    pub fn is_exhausted(&self) -> bool {
        self.pending == 0
    }

    /// The pending block starting at `pc`.
    #[inline]
    pub fn find(&self, pc: u64) -> Option<usize> {
        if self.pending == 0 {
            return None;
        }
        let i = self.blocks.binary_search_by_key(&pc, |b| b.pc).ok()?;
        (self.blocks[i].state == State::Pending).then_some(i)
    }

    /// The pending block owning the chain site whose rel32 field is at `patch_addr`.
    pub fn site_owner(&self, patch_addr: usize) -> Option<usize> {
        if self.pending == 0 {
            return None;
        }
        let s = self.sites.iter().position(|s| s.patch_addr == patch_addr)? as u32;
        let i = self.blocks.partition_point(|b| b.sites.1 <= s);
        let b = self.blocks.get(i)?;
        (b.sites.0 <= s && s < b.sites.1 && b.state == State::Pending).then_some(i)
    }

    /// Hands pending block `i` over as a cache entry with its machine code
    /// and the prelinked jumps into it.
    /// Its instructions are decoded from `mem`: install checked that the
    /// block's guest words there are the ones the image was compiled from
    /// and decode to a straight-line run (`is_straight_line_block` accepts
    /// exactly the words `decode` accepts), and they cannot have changed
    /// since: the block's pages are code pages, and a write to one drops
    /// the pending blocks on it ([`ImageBlocks::drop_page`]).
    pub fn take(&mut self, i: usize, mem: &GuestMemory) -> TranslatedBlock {
        let b = &mut self.blocks[i];
        debug_assert_eq!(b.state, State::Pending);
        b.state = State::Registered;
        self.pending -= 1;
        let b = *b;
        let r = |(s, e): (u32, u32)| s as usize..e as usize;
        // Install checked these bytes with `is_straight_line_block`, which
        // accepts exactly the code `decode_parcel` accepts.
        let code = mem
            .slice(b.pc, b.end - b.pc)
            .expect("image block range checked at install");
        let mut insns = Vec::with_capacity(code.len() / 2);
        let mut k = 0;
        while k < code.len() {
            let half = |at: usize| code.get(at..at + 2).map_or(0, |h| u16::from_le_bytes([h[0], h[1]]) as u32);
            let inst = decode_parcel(half(k) | half(k + 2) << 16)
                .expect("image words checked at install");
            k += inst.len as usize;
            insns.push(inst);
        }
        let insns = insns.into_boxed_slice();
        let mut tb = TranslatedBlock::new(b.pc, b.end, insns);
        tb.jit = Some(CompiledBlock {
            entry: b.entry,
            size: b.size as usize,
            sites: self.sites[r(b.sites)].to_vec(),
        });
        tb.incoming = self.incoming(i);
        tb
    }

    /// The prelinked jumps into block `i`, in record order: the sites
    /// from its first one on whose jump the install linked to `i`, until
    /// all are found. Collected when a block is entered into the cache or
    /// dropped (a few per run), instead of grouped by target block at
    /// install for every block.
    fn incoming(&self, i: usize) -> Vec<IncomingLink> {
        let (first, count) = self.blocks[i].links;
        let mut links = Vec::with_capacity(count as usize);
        if count == 0 {
            return links;
        }
        for (s, &t) in self.sites[first as usize..]
            .iter()
            .zip(&self.site_block[first as usize..])
        {
            if t == i as u32 {
                links.push(IncomingLink {
                    patch_addr: s.patch_addr,
                    stub_addr: s.stub_addr,
                });
                if links.len() == count as usize {
                    break;
                }
            }
        }
        links
    }

    /// Indices of the blocks (any state) whose guest range overlaps `page`.
    fn in_page(&self, page: u64) -> std::ops::Range<usize> {
        let start = page << PAGE_SHIFT;
        let end = (page + 1) << PAGE_SHIFT;
        let lo = self
            .blocks
            .partition_point(|b| b.pc < start.saturating_sub(self.max_span));
        let hi = self.blocks.partition_point(|b| b.pc < end);
        lo..hi.max(lo)
    }

    /// Drops every block overlapping `page` (guest code there changed) and
    /// calls `dropped` for each one that was still pending, with its record
    /// and the prelinked jumps into it (to be returned to their stubs).
    pub fn drop_page(&mut self, page: u64, mut dropped: impl FnMut(&ImageBlock, &[IncomingLink])) {
        let start = page << PAGE_SHIFT;
        let end = (page + 1) << PAGE_SHIFT;
        for i in self.in_page(page) {
            let b = &mut self.blocks[i];
            if b.end <= start || b.pc >= end || b.state == State::Dropped {
                continue;
            }
            let was_pending = b.state == State::Pending;
            b.state = State::Dropped;
            if was_pending {
                self.pending -= 1;
                let b = self.blocks[i];
                dropped(&b, &self.incoming(i));
            }
        }
    }

    /// Whether a pending block overlaps `page` (which must stay marked as code).
    pub fn pending_in_page(&self, page: u64) -> bool {
        let start = page << PAGE_SHIFT;
        let end = (page + 1) << PAGE_SHIFT;
        self.in_page(page).any(|i| {
            let b = &self.blocks[i];
            b.state == State::Pending && b.end > start && b.pc < end
        })
    }

    /// Guest pages of the blocks still pending (their code is being flushed).
    pub fn pending_pages(&self) -> Vec<u64> {
        let mut pages: Vec<u64> = self
            .blocks
            .iter()
            .filter(|b| b.state == State::Pending)
            .flat_map(|b| (b.pc >> PAGE_SHIFT)..=((b.end - 1) >> PAGE_SHIFT))
            .collect();
        pages.dedup();
        pages
    }
}

impl Drop for ImageBlocks {
    fn drop(&mut self) {
        TableBuffers {
            blocks: std::mem::take(&mut self.blocks),
            sites: std::mem::take(&mut self.sites),
            site_block: std::mem::take(&mut self.site_block),
        }
        .give();
    }
}
