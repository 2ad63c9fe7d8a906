//! Block cache: translated blocks keyed by guest pc, with a page index for
//! invalidation when the guest writes to its own code, and bookkeeping of
//! chained jumps so invalidated blocks can be unlinked.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::backend::x86_64::CompiledBlock;
use crate::frontend::riscv::Inst;
use crate::memory::PAGE_SHIFT;

/// Multiplicative hasher for u64 keys (guest pcs): the std SipHash costs
/// more than the rest of a cache lookup.
#[derive(Default, Clone, Copy)]
pub struct PcHasher(u64);

impl Hasher for PcHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Hash map keyed by guest pcs or host code addresses, with [`PcHasher`].
pub type PcMap<K, V> = HashMap<K, V, BuildHasherDefault<PcHasher>>;

/// Index of a block in the cache.
pub type BlockId = u32;

/// An incoming chained jump: the patched rel32 field and its original stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingLink {
    /// Host address of the patched rel32 field.
    pub patch_addr: usize,
    /// Host address the jump pointed to before chaining.
    pub stub_addr: usize,
}

/// One guest basic block: its decoded instructions, its execution counter
/// and, once hot (or under the pure JIT), its machine code.
#[derive(Debug)]
pub struct TranslatedBlock {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// Guest address one past the last instruction byte.
    pub end: u64,
    /// Decoded instructions (what the interpreter runs).
    pub insns: Box<[Inst]>,
    /// Times the block was entered through the dispatcher.
    pub exec_count: u32,
    /// Machine code, once compiled.
    pub jit: Option<CompiledBlock>,
    /// Never compile this block: code generation failed for it, or its page
    /// is rewritten so often that compiling would be wasted work.
    pub interp_only: bool,
    /// Chained jumps from other blocks into this one.
    pub incoming: Vec<IncomingLink>,
    /// Recently seen successors `(pc, id)` of this block, so the
    /// interpreter's dispatcher skips the hash lookup on hot edges.
    /// Validated on use (ids are reused after invalidation).
    pub successors: [(u64, BlockId); 2],
}

impl TranslatedBlock {
    /// A decoded block `[pc, end)` that has not run yet.
    pub fn new(pc: u64, end: u64, insns: Box<[Inst]>) -> Self {
        Self {
            pc,
            end,
            insns,
            exec_count: 0,
            jit: None,
            interp_only: false,
            incoming: Vec::new(),
            successors: [(u64::MAX, 0); 2],
        }
    }

    /// Guest pages `[pc, end)` touches.
    pub fn pages(&self) -> std::ops::RangeInclusive<u64> {
        (self.pc >> PAGE_SHIFT)..=((self.end - 1) >> PAGE_SHIFT)
    }
}

/// Lookup statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a block.
    pub hits: u64,
    /// Lookups that found nothing (the block then gets translated).
    pub misses: u64,
    /// Blocks inserted.
    pub insertions: u64,
    /// Blocks removed by invalidation.
    pub invalidations: u64,
}

impl CacheStats {
    /// hits / (hits + misses), or 0 with no lookups.
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// Translated blocks keyed by guest pc.
#[derive(Default)]
pub struct BlockCache {
    map: PcMap<u64, BlockId>,
    blocks: Vec<Option<TranslatedBlock>>,
    free: Vec<BlockId>,
    pages: PcMap<u64, Vec<BlockId>>,
    /// Lookup statistics.
    pub stats: CacheStats,
}

impl BlockCache {
    /// Empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Finds the block starting at `pc`, counting a hit or miss.
    #[inline]
    pub fn lookup(&mut self, pc: u64) -> Option<BlockId> {
        let r = self.map.get(&pc).copied();
        if r.is_some() {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
        r
    }

    /// The block at `pc` if it is a remembered successor of `from`; counts
    /// a hit when found.
    #[inline]
    pub fn successor(&mut self, from: BlockId, pc: u64) -> Option<BlockId> {
        let b = self.blocks.get(from as usize)?.as_ref()?;
        let id = b.successors.iter().find(|s| s.0 == pc)?.1;
        match self.blocks.get(id as usize) {
            Some(Some(t)) if t.pc == pc => {
                self.stats.hits += 1;
                Some(id)
            }
            _ => None,
        }
    }

    /// Remembers `to` (at `pc`) as a successor of `from`.
    #[inline]
    pub fn link_successor(&mut self, from: BlockId, pc: u64, to: BlockId) {
        if let Some(Some(b)) = self.blocks.get_mut(from as usize) {
            // Keep the most recent two edges (taken and fall-through).
            b.successors[1] = b.successors[0];
            b.successors[0] = (pc, to);
        }
    }

    /// Finds the block starting at `pc` without touching statistics.
    #[inline]
    pub fn peek(&self, pc: u64) -> Option<BlockId> {
        self.map.get(&pc).copied()
    }

    /// Makes room for `additional` more blocks without rehashing or
    /// reallocating on the way (an AOT image enters all its blocks at once).
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
        self.blocks
            .reserve(additional.saturating_sub(self.free.len()));
    }

    /// Inserts a block (replacing any block at the same pc) and indexes its pages.
    pub fn insert(&mut self, block: TranslatedBlock) -> BlockId {
        if let Some(old) = self.map.get(&block.pc).copied() {
            self.remove(old);
        }
        let pc = block.pc;
        let pages = block.pages();
        let id = match self.free.pop() {
            Some(id) => {
                self.blocks[id as usize] = Some(block);
                id
            }
            None => {
                self.blocks.push(Some(block));
                (self.blocks.len() - 1) as BlockId
            }
        };
        for p in pages {
            self.pages.entry(p).or_default().push(id);
        }
        self.map.insert(pc, id);
        self.stats.insertions += 1;
        id
    }

    /// The block with this id.
    #[inline]
    pub fn get(&self, id: BlockId) -> &TranslatedBlock {
        self.blocks[id as usize].as_ref().expect("live block id")
    }

    /// The block with this id, mutably.
    #[inline]
    pub fn get_mut(&mut self, id: BlockId) -> &mut TranslatedBlock {
        self.blocks[id as usize].as_mut().expect("live block id")
    }

    /// Removes a block and returns it (the caller unlinks chained jumps).
    pub fn remove(&mut self, id: BlockId) -> TranslatedBlock {
        let b = self.blocks[id as usize].take().expect("live block id");
        self.map.remove(&b.pc);
        for p in b.pages() {
            if let Some(v) = self.pages.get_mut(&p) {
                v.retain(|&x| x != id);
                if v.is_empty() {
                    self.pages.remove(&p);
                }
            }
        }
        self.free.push(id);
        self.stats.invalidations += 1;
        b
    }

    /// Ids of the blocks overlapping guest page `page`.
    pub fn blocks_in_page(&self, page: u64) -> Vec<BlockId> {
        self.pages.get(&page).cloned().unwrap_or_default()
    }

    /// Number of live blocks.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds no block.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Ids of all live blocks.
    pub fn ids(&self) -> Vec<BlockId> {
        self.map.values().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blk(pc: u64, len: u64) -> TranslatedBlock {
        TranslatedBlock::new(pc, pc + len, Box::new([]))
    }

    #[test]
    fn lookup_insert_and_page_invalidation() {
        let mut c = BlockCache::new();
        assert_eq!(c.lookup(0x1000), None);
        let a = c.insert(blk(0x1000, 16));
        let b = c.insert(blk(0x1ff8, 16)); // spans pages 1 and 2
        assert_eq!(c.lookup(0x1000), Some(a));
        assert_eq!(c.stats.hits, 1);
        assert_eq!(c.stats.misses, 1);
        let mut in_page2 = c.blocks_in_page(2);
        in_page2.sort();
        assert_eq!(in_page2, vec![b]);
        let mut in_page1 = c.blocks_in_page(1);
        in_page1.sort();
        assert_eq!(in_page1, vec![a, b]);
        c.remove(b);
        assert_eq!(c.peek(0x1ff8), None);
        assert!(c.blocks_in_page(2).is_empty());
        assert_eq!(c.blocks_in_page(1), vec![a]);
        // slot reuse
        let d = c.insert(blk(0x3000, 4));
        assert_eq!(d, b);
        assert!((c.stats.hit_rate() - 0.5).abs() < 1e-9);
    }
}
