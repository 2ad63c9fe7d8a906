//! Allocation policy: bump pointer into the never-used tail of the arena,
//! then exact-size free lists for small chunks and a first-fit list of large
//! free runs, both rebuilt by every sweep.

use super::heap::Arena;
use super::object;

/// Chunks up to this many words have an exact-size free list.
pub const SMALL_MAX_WORDS: usize = 64;

/// Free-chunk bookkeeping owned by the mutator (markers never touch it).
pub struct Allocator {
    bump: usize,
    end: usize,
    small: Vec<Vec<u32>>,
    large: Vec<(u32, u32)>,
    free_words: usize,
}

impl Allocator {
    /// An allocator over arena words `1..end` (word 0 is the null sentinel).
    pub fn new(end: usize) -> Self {
        Self {
            bump: 1,
            end,
            small: vec![Vec::new(); SMALL_MAX_WORDS + 1],
            large: Vec::new(),
            free_words: 0,
        }
    }

    /// One past the highest word ever handed out: the sweeper walks `1..top`.
    pub fn top(&self) -> usize {
        self.bump
    }

    /// Words available: free lists plus the untouched tail.
    pub fn available_words(&self) -> usize {
        self.free_words + (self.end - self.bump)
    }

    /// Finds `words` contiguous words, or `None` if no chunk fits.
    #[inline]
    pub fn alloc(&mut self, arena: &Arena, words: usize) -> Option<usize> {
        if words <= SMALL_MAX_WORDS {
            if let Some(at) = self.small[words].pop() {
                self.free_words -= words;
                return Some(at as usize);
            }
        }
        if self.end - self.bump >= words {
            let at = self.bump;
            self.bump += words;
            return Some(at);
        }
        self.alloc_slow(arena, words)
    }

    fn alloc_slow(&mut self, arena: &Arena, words: usize) -> Option<usize> {
        if words < SMALL_MAX_WORDS {
            for size in words + 1..=SMALL_MAX_WORDS {
                if let Some(at) = self.small[size].pop() {
                    self.free_words -= size;
                    self.release(arena, at as usize + words, size - words);
                    return Some(at as usize);
                }
            }
        }
        let pos = self.large.iter().position(|&(_, s)| s as usize >= words)?;
        let (at, size) = self.large.swap_remove(pos);
        self.free_words -= size as usize;
        self.release(arena, at as usize + words, size as usize - words);
        Some(at as usize)
    }

    /// Adds the free lists a concurrent sweep built for one heap segment.
    pub fn merge_free_lists(&mut self, swept: Allocator) {
        for (mine, theirs) in self.small.iter_mut().zip(swept.small) {
            mine.extend(theirs);
        }
        self.large.extend(swept.large);
        self.free_words += swept.free_words;
    }

    /// Drops every free list (the sweeper rebuilds them).
    pub fn reset_free_lists(&mut self) {
        for l in &mut self.small {
            l.clear();
        }
        self.large.clear();
        self.free_words = 0;
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
        self.free_words += words;
        if words <= SMALL_MAX_WORDS {
            self.small[words].push(at as u32);
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
        a.release(&arena, 1, 4);
        assert_eq!(a.alloc(&arena, 4), Some(1));
        assert_eq!(a.alloc(&arena, 91), Some(9));
        assert_eq!(a.alloc(&arena, 2), None);
        a.release(&arena, 9, 91);
        assert_eq!(a.alloc(&arena, 80), Some(9));
        assert_eq!(a.alloc(&arena, 10), Some(89));
        assert_eq!(a.alloc(&arena, 2), None);
        assert_eq!(a.available_words(), 0);
    }
}
