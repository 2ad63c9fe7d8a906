//! Sweeping: one linear walk over the arena frees unmarked objects,
//! coalesces neighbouring free runs, clears the marks of survivors, and
//! rebuilds the allocator's free lists.

use super::alloc::Allocator;
use super::heap::Arena;
use super::object;

/// How far ahead of the walk the sweeper prefetches (in words: 1 KiB).
const PREFETCH_WORDS: usize = 128;

/// What a sweep found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepResult {
    /// Words held by marked (surviving) objects.
    pub live_words: usize,
    /// Words of objects freed by this sweep.
    pub freed_words: usize,
    /// Surviving objects.
    pub live_objects: usize,
}

/// Sweeps `1..top` into `alloc`'s (emptied) free lists. No marker may run;
/// the mutator may keep running only if it touches no chunk below `top`
/// except through reference and data fields of live objects (the concurrent
/// sweep: it allocates above `top` meanwhile).
pub fn sweep(arena: &Arena, alloc: &mut Allocator, top: usize) -> SweepResult {
    sweep_in_segments(
        arena,
        alloc,
        top,
        usize::MAX,
        FreeChunks::Coalesce,
        |_, _| {},
    )
}

/// What the sweeper does with chunks that are already free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeChunks {
    /// They belong to the sweep: coalesce them with dead neighbours and list
    /// them again (the mutator's free lists were dropped).
    Coalesce,
    /// They stay on the mutator's free lists and the mutator may be carving
    /// objects out of them while the sweep runs: skip them untouched, and
    /// list only runs of objects that died in this cycle. The mutator must
    /// allocate marked below `top` meanwhile, so a chunk carved from a free
    /// run the sweeper has not reached yet reads as live. One-word holes are
    /// the exception: no free list holds them (`Allocator::release`), so
    /// the sweeper may still merge them into a neighbouring dead run.
    Keep,
}

/// Like [`sweep`], but every `segment_words` words of heap walked it ends
/// the current free run and calls `on_segment` with the lists built so far
/// and the walk's position: the walk never revisits chunks below that
/// position, so the lists can be handed to a running mutator while the rest
/// is swept.
pub fn sweep_in_segments(
    arena: &Arena,
    alloc: &mut Allocator,
    top: usize,
    segment_words: usize,
    free_chunks: FreeChunks,
    mut on_segment: impl FnMut(&mut Allocator, usize),
) -> SweepResult {
    alloc.reset_free_lists();
    let mut boundary = segment_words.saturating_add(1);
    let mut res = SweepResult::default();
    let mut run_start = 0usize;
    let mut run_len = 0usize;
    let mut at = 1usize;
    let mut prefetched = 1usize;
    while at < top {
        if at + PREFETCH_WORDS > prefetched {
            // One cache line at a time, a fixed distance ahead of the walk.
            prefetched = at + PREFETCH_WORDS;
            arena.prefetch(prefetched);
        }
        let h = arena.header(at as u32);
        let size = object::size_words(h).max(1);
        if free_chunks == FreeChunks::Keep && object::is_free(h) && size >= 2 {
            // The mutator's chunk: it ends a run of dead objects, nothing more.
            if run_len > 0 {
                alloc.release(arena, run_start, run_len);
                run_len = 0;
            }
        } else if !object::is_free(h) && object::is_marked(h) {
            if run_len > 0 {
                alloc.release(arena, run_start, run_len);
                run_len = 0;
            }
            arena.clear_mark(at);
            res.live_words += size;
            res.live_objects += 1;
        } else {
            if !object::is_free(h) {
                res.freed_words += size;
            }
            if run_len == 0 {
                run_start = at;
            }
            run_len += size;
        }
        at += size;
        if at >= boundary {
            if run_len > 0 {
                alloc.release(arena, run_start, run_len);
                run_len = 0;
            }
            on_segment(alloc, at);
            boundary = at.saturating_add(segment_words);
        }
    }
    if run_len > 0 {
        alloc.release(arena, run_start, run_len);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::object::{object_header, MARK_BIT};

    #[test]
    fn frees_unmarked_and_coalesces() {
        let arena = Arena::new(40);
        let mut a = Allocator::new(40);
        for _ in 0..4 {
            let at = a.alloc(&arena, 5).unwrap();
            arena.set_header(at, object_header(5, 1));
        }
        arena.set_header(1, object_header(5, 1) | MARK_BIT);
        let top = a.top();
        let r = sweep(&arena, &mut a, top);
        assert_eq!(
            r,
            SweepResult {
                live_words: 5,
                freed_words: 15,
                live_objects: 1
            }
        );
        assert!(!object::is_marked(arena.header(1)));
        // The 15 dead words coalesce with the rest of the allocator's
        // region (19 free words up to the top).
        assert!(object::is_free(arena.header(6)));
        assert_eq!(object::size_words(arena.header(6)), 34);
        assert_eq!(a.alloc(&arena, 15), Some(6));
    }
}

#[cfg(test)]
mod segment_tests {
    use super::*;
    use crate::gc::object::{object_header, MARK_BIT};

    #[test]
    fn segments_partition_the_free_space_and_match_a_whole_sweep() {
        let n = 300usize;
        let words = 1 + n * 4;
        let build = || {
            let arena = Arena::new(words);
            let mut a = Allocator::new(words);
            for i in 0..n {
                let at = a.alloc(&arena, 4).unwrap();
                let mark = if i % 3 == 0 { MARK_BIT } else { 0 };
                arena.set_header(at, object_header(4, 1) | mark);
            }
            (arena, a)
        };
        let (arena, mut whole) = build();
        let top = whole.top();
        let expect = sweep(&arena, &mut whole, top);
        let (arena, a) = build();
        let mut parts = Allocator::new(words);
        let mut merged = Allocator::new(words);
        let mut segments = 0;
        let r = sweep_in_segments(
            &arena,
            &mut parts,
            a.top(),
            50,
            FreeChunks::Coalesce,
            |l, _| {
                segments += 1;
                merged.merge_free_lists(std::mem::replace(l, Allocator::new(words)));
            },
        );
        merged.merge_free_lists(parts);
        assert_eq!(r, expect);
        assert!(segments >= 20, "{segments}");
        // Same free space, only split at segment boundaries.
        assert_eq!(
            merged.available_words() - (words - merged.top()),
            expect.freed_words
        );
        for _ in 0..expect.freed_words / 8 {
            assert!(merged.alloc(&arena, 8).is_some() || merged.alloc(&arena, 4).is_some());
        }
    }
}

#[cfg(test)]
mod keep_tests {
    use super::*;
    use crate::gc::object::{free_header, object_header, MARK_BIT};

    /// Chunks (start, header) from word 1 to `top`.
    fn walk(arena: &Arena, top: usize) -> Vec<(usize, u64)> {
        let mut v = Vec::new();
        let mut at = 1;
        while at < top {
            let h = arena.header(at as u32);
            v.push((at, h));
            at += object::size_words(h);
        }
        v
    }

    #[test]
    fn keep_mode_lists_only_the_newly_dead_and_leaves_free_chunks_alone() {
        // live | free(6) | dead | dead | carved: new marked object + free remainder | live
        let arena = Arena::new(40);
        arena.set_header(1, object_header(4, 1) | MARK_BIT);
        arena.set_header(5, free_header(6));
        arena.set_header(11, object_header(4, 1));
        arena.set_header(15, object_header(5, 0));
        // The mutator took a 10-word free run at 20 and carved a 3-word
        // object out of it while the sweep ran: remainder header first.
        arena.set_header(23, free_header(7));
        arena.set_header(20, object_header(3, 1) | MARK_BIT);
        arena.set_header(30, object_header(10, 2) | MARK_BIT);
        let mut lists = Allocator::new(40);
        let r = sweep_in_segments(
            &arena,
            &mut lists,
            40,
            usize::MAX,
            FreeChunks::Keep,
            |_, _| {},
        );
        assert_eq!(r.freed_words, 9);
        assert_eq!(r.live_objects, 3);
        // The two dead objects coalesced into one run; the free chunks the
        // mutator owns are not listed again.
        assert_eq!(lists.available_words() - (40 - lists.top()), 9);
        assert_eq!(
            walk(&arena, 40),
            vec![
                (1, object_header(4, 1)),
                (5, free_header(6)),
                (11, free_header(9)),
                (20, object_header(3, 1)),
                (23, free_header(7)),
                (30, object_header(10, 2)),
            ]
        );
    }
}

#[cfg(test)]
mod hole_tests {
    use super::*;
    use crate::gc::object::{free_header, object_header, MARK_BIT};

    #[test]
    fn keep_mode_merges_unlisted_one_word_holes_into_dead_runs() {
        // dead(3) | hole(1) | free(4, the mutator's) | live(4)
        let arena = Arena::new(13);
        arena.set_header(1, object_header(3, 1));
        arena.set_header(4, free_header(1));
        arena.set_header(5, free_header(4));
        arena.set_header(9, object_header(4, 0) | MARK_BIT);
        let mut lists = Allocator::new(13);
        let r = sweep_in_segments(
            &arena,
            &mut lists,
            13,
            usize::MAX,
            FreeChunks::Keep,
            |_, _| {},
        );
        assert_eq!(r.freed_words, 3);
        assert_eq!(object::size_words(arena.header(1)), 4);
        assert!(object::is_free(arena.header(1)));
        assert_eq!(arena.header(5), free_header(4));
        assert_eq!(lists.available_words() - (13 - lists.top()), 4);
    }
}
