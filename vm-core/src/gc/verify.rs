//! Heap verifier: the heap walks cleanly from word 1 to the allocation top,
//! no mark bit survives a collection, and every object reachable from the
//! roots is an intact, unfreed object whose fields point at object starts.

use super::heap::Arena;
use super::object::{self, ObjIndex};

/// A heap inconsistency found by [`verify_heap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeapDefect {
    /// A header with size 0 or running past the allocation top.
    BadChunk { at: usize },
    /// A mark bit left set outside a marking cycle.
    StaleMark { at: usize },
    /// A root or field pointing at something that is not an object start.
    DanglingRef { from: usize, to: ObjIndex },
    /// A reachable object was freed.
    ReachableFreed { at: ObjIndex },
}

/// Checks the heap `1..top` against `roots`; returns the reachable object
/// count. `marked_ok` lists objects whose mark bit is legitimately set
/// (allocated during the last background sweep; the next marking clears it).
pub fn verify_heap(
    arena: &Arena,
    top: usize,
    roots: &[ObjIndex],
    marked_ok: &[ObjIndex],
) -> Result<usize, HeapDefect> {
    let mut may_be_marked = vec![false; top];
    for &o in marked_ok {
        if let Some(m) = may_be_marked.get_mut(o as usize) {
            *m = true;
        }
    }
    let mut starts = vec![false; top];
    let mut at = 1usize;
    while at < top {
        let h = arena.header(at as u32);
        let size = object::size_words(h);
        if size == 0 || at + size > top || (!object::is_free(h) && size < 1 + object::nrefs(h)) {
            return Err(HeapDefect::BadChunk { at });
        }
        if object::is_marked(h) && !may_be_marked[at] {
            return Err(HeapDefect::StaleMark { at });
        }
        starts[at] = true;
        at += size;
    }
    let mut seen = vec![false; top];
    let mut stack = Vec::new();
    for &r in roots {
        if r != 0 {
            stack.push((0usize, r));
        }
    }
    let mut reachable = 0;
    while let Some((from, obj)) = stack.pop() {
        let i = obj as usize;
        if i >= top || !starts[i] {
            return Err(HeapDefect::DanglingRef { from, to: obj });
        }
        if object::is_free(arena.header(obj)) {
            return Err(HeapDefect::ReachableFreed { at: obj });
        }
        if seen[i] {
            continue;
        }
        seen[i] = true;
        reachable += 1;
        arena.for_each_ref(obj, |c| stack.push((i, c)));
    }
    Ok(reachable)
}
