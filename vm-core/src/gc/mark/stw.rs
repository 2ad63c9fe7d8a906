//! Single-threaded marking with an explicit gray stack.

use crate::gc::heap::Arena;
use crate::gc::object::ObjIndex;

/// Marks everything reachable from `gray` (objects already marked by the
/// caller) and `roots` (not yet marked). Returns the number of objects this
/// call marked.
pub fn mark_from(
    arena: &Arena,
    roots: impl IntoIterator<Item = ObjIndex>,
    gray: &mut Vec<ObjIndex>,
) -> usize {
    let mut marked = 0;
    for r in roots {
        if r != 0 && arena.try_mark(r) {
            marked += 1;
            gray.push(r);
        }
    }
    while let Some(obj) = gray.pop() {
        arena.for_each_ref(obj, |child| {
            if arena.try_mark(child) {
                marked += 1;
                gray.push(child);
            }
        });
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
