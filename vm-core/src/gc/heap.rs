//! The heap arena: one fixed block of atomic words sized by the heap limit.
//!
//! Words are atomics because the concurrent marker reads headers and
//! reference fields while the mutator writes them; the arena never moves or
//! grows, so marker threads can share it through an `Arc` without locking.
//! An [`Arena`] is that `Arc`'s fat pointer itself, held by value: a word
//! access loads the base and length from the holder's own struct instead of
//! first following a pointer to them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::object::{self, ObjIndex, MARK_BIT};

/// The object memory shared by the mutator and the marker threads
/// (cloning shares it).
#[derive(Clone)]
pub struct Arena {
    words: Arc<[AtomicU64]>,
}

impl Arena {
    /// A zeroed arena of `len_words` words (word 0 is the null sentinel).
    pub fn new(len_words: usize) -> Self {
        let zeroed = Arc::<[AtomicU64]>::new_zeroed_slice(len_words.max(2));
        // SAFETY: the memory is zeroed, and all-zero bytes are a valid
        // `AtomicU64` (same bit validity as `u64`, documented in std).
        // Allocating zeroed memory lets the allocator hand out lazily zeroed
        // pages instead of touching a few hundred MB up front.
        let words = unsafe { zeroed.assume_init() };
        Self { words }
    }

    /// Number of words in the arena.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the arena is empty (never true: word 0 always exists).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Header word of the chunk at `obj`.
    #[inline]
    pub fn header(&self, obj: ObjIndex) -> u64 {
        self.words[obj as usize].load(Ordering::Acquire)
    }

    /// Overwrites the header at `at`.
    #[inline]
    pub fn set_header(&self, at: usize, header: u64) {
        self.words[at].store(header, Ordering::Release);
    }

    /// Hints the CPU to fetch word `at` into the cache (no effect on the
    /// program's meaning; an index past the end is ignored). The sweeper
    /// walks headers whose addresses depend on the previous header's size,
    /// a chain of dependent loads that hardware prefetching alone does not
    /// hide.
    #[inline]
    pub fn prefetch(&self, at: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(w) = self.words.get(at) {
            // SAFETY: `_mm_prefetch` only hints the cache about the address
            // of a live element of `words`; it reads nothing the program
            // observes and cannot fault.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    w.as_ptr() as *const i8
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = at;
    }

    /// Atomically sets the mark bit; true if this call marked the object.
    #[inline]
    pub fn try_mark(&self, obj: ObjIndex) -> bool {
        let w = &self.words[obj as usize];
        // Check first: most attempts in a dense graph hit marked objects and a
        // plain load avoids dirtying the cache line.
        if w.load(Ordering::Relaxed) & MARK_BIT != 0 {
            return false;
        }
        w.fetch_or(MARK_BIT, Ordering::AcqRel) & MARK_BIT == 0
    }

    /// Clears the mark bit (sweeper, under a pause).
    #[inline]
    pub fn clear_mark(&self, obj: usize) {
        self.words[obj].fetch_and(!MARK_BIT, Ordering::Relaxed);
    }

    /// Reference field `field` of `obj` (0 = null).
    #[inline]
    pub fn load_ref(&self, obj: ObjIndex, field: usize) -> ObjIndex {
        self.words[obj as usize + 1 + field].load(Ordering::Acquire) as ObjIndex
    }

    /// Stores `value` into reference field `field`, returning the old value.
    #[inline]
    pub fn swap_ref(&self, obj: ObjIndex, field: usize, value: ObjIndex) -> ObjIndex {
        self.words[obj as usize + 1 + field].swap(value as u64, Ordering::AcqRel) as ObjIndex
    }

    /// Stores `value` into reference field `field` (no barrier needed).
    #[inline]
    pub fn store_ref(&self, obj: ObjIndex, field: usize, value: ObjIndex) {
        self.words[obj as usize + 1 + field].store(value as u64, Ordering::Release);
    }

    /// Raw data word at absolute index `at`.
    #[inline]
    pub fn load_word(&self, at: usize) -> u64 {
        self.words[at].load(Ordering::Relaxed)
    }

    /// Writes raw data word at absolute index `at`.
    #[inline]
    pub fn store_word(&self, at: usize, v: u64) {
        self.words[at].store(v, Ordering::Relaxed);
    }

    /// Writes a new object at `at`: zeroes its `words - 1` fields, then
    /// stores `header` (header last, so a concurrent reader that sees the
    /// header sees zeroed fields). One bounds check for the whole object.
    #[inline]
    pub fn init_object(&self, at: usize, words: usize, header: u64) {
        let obj = &self.words[at..at + words];
        for w in &obj[1..] {
            w.store(0, Ordering::Relaxed);
        }
        obj[0].store(header, Ordering::Release);
    }

    /// Visits every non-null reference field of `obj`.
    #[inline]
    pub fn for_each_ref(&self, obj: ObjIndex, mut f: impl FnMut(ObjIndex)) {
        let n = object::nrefs(self.header(obj));
        let base = obj as usize + 1;
        for w in &self.words[base..base + n] {
            let r = w.load(Ordering::Acquire) as ObjIndex;
            if r != 0 {
                f(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_is_zeroed_and_marks_once() {
        let a = Arena::new(64);
        assert_eq!(a.len(), 64);
        assert!(a.words.iter().all(|w| w.load(Ordering::Relaxed) == 0));
        a.set_header(1, object::object_header(3, 2));
        assert!(a.try_mark(1));
        assert!(!a.try_mark(1));
        a.clear_mark(1);
        assert!(a.try_mark(1));
    }
}
