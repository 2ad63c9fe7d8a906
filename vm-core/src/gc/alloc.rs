//! Allocation policy: bump allocation inside a *region* (a free run the
//! mutator carves from the front), refilled from the free memory the sweeps
//! found before the never-used tail of the arena is touched.
//!
//! Free memory is kept in exact-size lists for small chunks and a list of
//! large runs, both rebuilt by every sweep. Reusing freed runs first keeps
//! the heap's footprint (and the sweeper's walk, which covers `1..top`)
//! close to the live data plus one cycle's allocation, instead of letting
//! every cycle's allocation fault in fresh pages up to the heap limit.
//!
//! The heap stays walkable at every instant: a region is a chunk with a
//! free header, and every bump writes the header of the region's remainder
//! *before* the caller writes the new object's header, which is the write
//! order the background sweeper relies on (`sweep::FreeChunks::Keep`,
//! checked by `sweep_model.rs`).

use super::heap::Arena;
use super::object;

/// Chunks up to this many words have an exact-size free list.
pub const SMALL_MAX_WORDS: usize = 64;

/// Words a region taken from the never-used tail spans (256 KiB): large
/// enough that refills are rare, small enough that a heap which only needs
/// a few MB does not fault in more.
const TAIL_REGION_WORDS: usize = 1 << 15;

/// Free-chunk bookkeeping owned by the mutator (markers never touch it).
pub struct Allocator {
    /// Next free word of the current region.
    cursor: usize,
    /// End of the current region (`cursor == limit`: no region). The
    /// region is never a single word: a one-word remainder is left behind
    /// as a hole (see [`Allocator::release`]).
    limit: usize,
    /// Start of the never-used tail; everything below it is walkable.
    tail: usize,
    end: usize,
    small: Vec<Vec<u32>>,
    /// Bit `s - 1` is set when `small[s]` may be non-empty.
    small_nonempty: u64,
    large: Vec<(u32, u32)>,
    /// Words on the free lists (not counting the region or the tail).
    listed_words: usize,
}

impl Allocator {
    /// An allocator over arena words `1..end` (word 0 is the null sentinel).
    pub fn new(end: usize) -> Self {
        Self {
            cursor: 0,
            limit: 0,
            tail: 1,
            end,
            small: vec![Vec::new(); SMALL_MAX_WORDS + 1],
            small_nonempty: 0,
            large: Vec::new(),
            listed_words: 0,
        }
    }

    /// One past the highest word ever handed out: the sweeper walks `1..top`.
    pub fn top(&self) -> usize {
        self.tail
    }

    /// Words available: free lists, the current region and the untouched tail.
    pub fn available_words(&self) -> usize {
        self.listed_words + (self.limit - self.cursor) + (self.end - self.tail)
    }

    /// Finds `words` contiguous words, or `None` if no chunk fits. The
    /// caller must write the object's header at the returned index before
    /// the next call (the remainder's header is already written).
    #[inline(always)]
    pub fn alloc(&mut self, arena: &Arena, words: usize) -> Option<usize> {
        let avail = self.limit - self.cursor;
        if words <= avail {
            let at = self.cursor;
            let rem = avail - words;
            if rem > 0 {
                arena.set_header(at + words, object::free_header(rem));
            }
            // A one-word remainder fits no object and is left as a hole.
            self.cursor = if rem == 1 { self.limit } else { at + words };
            return Some(at);
        }
        self.alloc_slow(arena, words)
    }

    #[inline(never)]
    fn alloc_slow(&mut self, arena: &Arena, words: usize) -> Option<usize> {
        if words <= SMALL_MAX_WORDS {
            if let Some(at) = self.pop_small(words) {
                return Some(at);
            }
        }
        self.retire_region(arena);
        self.refill(arena, words)?;
        self.alloc(arena, words)
    }

    fn pop_small(&mut self, size: usize) -> Option<usize> {
        let at = self.small[size].pop();
        match at {
            Some(at) => {
                self.listed_words -= size;
                Some(at as usize)
            }
            None => {
                self.small_nonempty &= !(1u64 << (size - 1));
                None
            }
        }
    }

    /// Gives the rest of the current region back to the free lists.
    fn retire_region(&mut self, arena: &Arena) {
        let (at, words) = (self.cursor, self.limit - self.cursor);
        self.cursor = 0;
        self.limit = 0;
        if words > 0 {
            self.release(arena, at, words);
        }
    }

    /// Makes a region of at least `words` words current: a large run first,
    /// then the tail, then the biggest small chunk that fits.
    fn refill(&mut self, arena: &Arena, words: usize) -> Option<()> {
        let run = if words <= SMALL_MAX_WORDS {
            // Every large run fits a small request: take the last one.
            self.large.pop()
        } else {
            let pos = self.large.iter().position(|&(_, s)| s as usize >= words);
            pos.map(|p| self.large.swap_remove(p))
        };
        if let Some((at, size)) = run {
            self.listed_words -= size as usize;
            self.set_region(at as usize, size as usize);
            return Some(());
        }
        let tail_left = self.end - self.tail;
        if tail_left >= words {
            let mut size = tail_left.min(TAIL_REGION_WORDS.max(words));
            if size - words == 1 {
                // Never leave a one-word region behind (it would be a hole
                // above a chunk boundary the tail must not have).
                size = words;
            }
            let at = self.tail;
            self.tail += size;
            arena.set_header(at, object::free_header(size));
            self.set_region(at, size);
            return Some(());
        }
        if words < SMALL_MAX_WORDS {
            let fits = self.small_nonempty & (!0u64 << words);
            let mut bits = fits;
            while bits != 0 {
                let size = 64 - bits.leading_zeros() as usize;
                if let Some(at) = self.pop_small(size) {
                    self.set_region(at, size);
                    return Some(());
                }
                bits &= !(1u64 << (size - 1));
            }
        }
        None
    }

    fn set_region(&mut self, at: usize, size: usize) {
        self.cursor = at;
        self.limit = at + size;
    }

    /// Adds the free lists a concurrent sweep built for one heap segment.
    pub fn merge_free_lists(&mut self, swept: Allocator) {
        for (mine, theirs) in self.small.iter_mut().zip(swept.small) {
            if mine.is_empty() {
                *mine = theirs;
            } else {
                mine.extend(theirs);
            }
        }
        self.small_nonempty |= swept.small_nonempty;
        if self.large.is_empty() {
            self.large = swept.large;
        } else {
            self.large.extend(swept.large);
        }
        self.listed_words += swept.listed_words;
    }

    /// Drops every free list and the current region (the sweeper rebuilds
    /// them from the chunks' headers).
    pub fn reset_free_lists(&mut self) {
        for l in &mut self.small {
            l.clear();
        }
        self.small_nonempty = 0;
        self.large.clear();
        self.listed_words = 0;
        self.cursor = 0;
        self.limit = 0;
    }

    /// Hands the free run `at..at+words` back, writing its free header so the
    /// heap stays walkable.
    pub fn release(&mut self, arena: &Arena, at: usize, words: usize) {
        if words == 0 {
            return;
        }
        arena.set_header(at, object::free_header(words));
        if words < 2 {
            // A one-word run fits no object (the smallest has a header and a
            // field); it stays a walkable hole until a sweep coalesces it.
            return;
        }
        self.listed_words += words;
        if words <= SMALL_MAX_WORDS {
            self.small[words].push(at as u32);
            self.small_nonempty |= 1u64 << (words - 1);
        } else {
            self.large.push((at as u32, words as u32));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_then_free_list_then_split() {
        let arena = Arena::new(100);
        let mut a = Allocator::new(100);
        assert_eq!(a.alloc(&arena, 4), Some(1));
        assert_eq!(a.alloc(&arena, 4), Some(5));
        // The region's remainder is a walkable free chunk at every step.
        assert_eq!(arena.header(9), object::free_header(91));
        a.release(&arena, 1, 4);
        // Exact-size lists are used before the region... once it runs dry.
        assert_eq!(a.alloc(&arena, 90), Some(9));
        assert_eq!(a.alloc(&arena, 4), Some(1));
        assert_eq!(a.alloc(&arena, 2), None);
        a.release(&arena, 9, 90);
        assert_eq!(a.alloc(&arena, 80), Some(9));
        // 10 words left: an 8-word request leaves a 2-word free chunk.
        assert_eq!(a.alloc(&arena, 8), Some(89));
        assert_eq!(a.alloc(&arena, 2), Some(97));
        assert_eq!(a.alloc(&arena, 2), None);
        assert_eq!(a.available_words(), 0);
    }

    #[test]
    fn freed_runs_are_reused_before_the_tail_and_one_word_rests_become_holes() {
        let arena = Arena::new(1 << 20);
        let mut a = Allocator::new(1 << 20);
        let first = a.alloc(&arena, 3).unwrap();
        arena.set_header(first, object::object_header(3, 2));
        let top = a.top();
        assert_eq!(top, 1 + TAIL_REGION_WORDS);
        // A freed 100-word run is used before any new tail region.
        a.reset_free_lists();
        a.release(&arena, 1000, 100);
        for i in 0..33 {
            assert_eq!(a.alloc(&arena, 3), Some(1000 + 3 * i));
        }
        // One word is left: it becomes a hole, not a region.
        assert_eq!(arena.header(1099), object::free_header(1));
        let next = a.alloc(&arena, 3).unwrap();
        assert!(next >= top, "{next}");
    }

    #[test]
    fn small_chunks_are_split_when_nothing_else_fits() {
        let arena = Arena::new(40);
        let mut a = Allocator::new(40);
        assert_eq!(a.alloc(&arena, 39), Some(1));
        a.release(&arena, 1, 10);
        a.release(&arena, 20, 6);
        assert_eq!(a.alloc(&arena, 5), Some(1));
        assert_eq!(a.alloc(&arena, 5), Some(6));
        assert_eq!(a.alloc(&arena, 6), Some(20));
        assert_eq!(a.alloc(&arena, 2), None);
    }
}
