//! Single-threaded marking with an explicit gray stack.

use crate::gc::heap::Arena;
use crate::gc::object::ObjIndex;

/// Objects in flight between the edge stack and the marker: each is
/// prefetched when it enters, and its header is read when it leaves, this
/// many objects later.
const PREFETCH_DEPTH: usize = 8;

/// Marks everything reachable from `gray` (objects already marked by the
/// caller) and `roots` (not yet marked). Returns the number of objects this
/// call marked.
///
/// The stack holds *edges* (references not yet checked), not marked
/// objects, and a small FIFO sits between the stack and the marker: a
/// reference is prefetched when it moves from the stack into the FIFO and
/// its header is tested and marked when it leaves, so the cache misses of
/// several objects overlap instead of each mark waiting for its own (the
/// scheme of Boehm's and MMTk's prefetching markers). `gray` is used as the
/// edge stack and is empty on return.
pub fn mark_from(
    arena: &Arena,
    roots: impl IntoIterator<Item = ObjIndex>,
    gray: &mut Vec<ObjIndex>,
) -> usize {
    let mut marked = 0;
    let already_marked: Vec<ObjIndex> = std::mem::take(gray);
    for &obj in &already_marked {
        arena.for_each_ref(obj, |child| gray.push(child));
    }
    gray.extend(roots.into_iter().filter(|&r| r != 0));
    let mut fifo = [0 as ObjIndex; PREFETCH_DEPTH];
    let (mut head, mut len) = (0usize, 0usize);
    loop {
        while len < PREFETCH_DEPTH {
            let Some(edge) = gray.pop() else { break };
            arena.prefetch(edge as usize);
            fifo[(head + len) % PREFETCH_DEPTH] = edge;
            len += 1;
        }
        if len == 0 {
            break;
        }
        let obj = fifo[head];
        head = (head + 1) % PREFETCH_DEPTH;
        len -= 1;
        if arena.try_mark(obj) {
            marked += 1;
            arena.for_each_ref(obj, |child| gray.push(child));
        }
    }
    marked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::object::{is_marked, object_header};

    #[test]
    fn marks_a_cycle_and_skips_garbage() {
        let a = Arena::new(32);
        for at in [1usize, 4, 7] {
            a.set_header(at, object_header(3, 2));
        }
        a.store_ref(1, 0, 4);
        a.store_ref(4, 1, 1);
        let mut gray = Vec::new();
        assert_eq!(mark_from(&a, [1], &mut gray), 2);
        assert!(is_marked(a.header(1)) && is_marked(a.header(4)));
        assert!(!is_marked(a.header(7)));
    }
}
