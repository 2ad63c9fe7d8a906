//! binary-trees (the Benchmarks Game): allocate and walk many perfect
//! binary trees, with one long-lived tree kept across the run.

use crate::gc::{Gc, GcError, Handle};

/// Builds a perfect tree of `depth` (a node: two reference fields); the
/// returned handle is the only new root left on the shadow stack.
pub fn bottom_up_tree(gc: &mut Gc, depth: u32) -> Result<Handle, GcError> {
    let node = gc.alloc(2, 0)?;
    if depth > 0 {
        let after_node = gc.root_mark();
        let left = bottom_up_tree(gc, depth - 1)?;
        gc.set_ref(node, 0, Some(left))?;
        gc.release_to(after_node);
        let right = bottom_up_tree(gc, depth - 1)?;
        gc.set_ref(node, 1, Some(right))?;
        gc.release_to(after_node);
    }
    Ok(node)
}

/// Counts the nodes of the tree at `h`.
pub fn item_check(gc: &mut Gc, h: Handle) -> Result<u64, GcError> {
    let m = gc.root_mark();
    let mut count = 1;
    for field in 0..2 {
        if let Some(child) = gc.get_ref(h, field)? {
            count += item_check(gc, child)?;
        }
        gc.release_to(m);
    }
    Ok(count)
}

/// One line of the program's output: `iterations` trees of `depth`, total check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthResult {
    /// Trees built at this depth.
    pub iterations: u64,
    /// Tree depth.
    pub depth: u32,
    /// Sum of node counts.
    pub check: u64,
}

/// The whole program's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryTreesResult {
    /// Node count of the stretch tree (depth `max_depth + 1`).
    pub stretch_check: u64,
    /// One entry per depth from 4 to `max_depth` in steps of 2.
    pub depths: Vec<DepthResult>,
    /// Node count of the long-lived tree.
    pub long_lived_check: u64,
}

/// Runs binary-trees with the program's usual `max_depth` argument (min 6).
pub fn run(gc: &mut Gc, max_depth: u32) -> Result<BinaryTreesResult, GcError> {
    let min_depth = 4;
    let max_depth = max_depth.max(min_depth + 2);
    let base = gc.root_mark();
    let stretch = bottom_up_tree(gc, max_depth + 1)?;
    let stretch_check = item_check(gc, stretch)?;
    gc.release_to(base);
    let long_lived = bottom_up_tree(gc, max_depth)?;
    let after_long = gc.root_mark();
    let mut depths = Vec::new();
    let mut depth = min_depth;
    while depth <= max_depth {
        let iterations = 1u64 << (max_depth - depth + min_depth);
        let mut check = 0;
        for _ in 0..iterations {
            let t = bottom_up_tree(gc, depth)?;
            check += item_check(gc, t)?;
            gc.release_to(after_long);
        }
        depths.push(DepthResult {
            iterations,
            depth,
            check,
        });
        depth += 2;
    }
    let long_lived_check = item_check(gc, long_lived)?;
    gc.release_to(base);
    Ok(BinaryTreesResult {
        stretch_check,
        depths,
        long_lived_check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::{GcConfig, GcPlan};

    #[test]
    fn checks_match_the_reference_output() {
        let mut cfg = GcConfig::new(4 << 20, GcPlan::StwMarkSweep);
        cfg.verify = true;
        let mut gc = Gc::new(cfg).unwrap();
        let r = run(&mut gc, 10).unwrap();
        // Reference output of binary-trees for n = 10.
        assert_eq!(r.stretch_check, 4095);
        assert_eq!(
            r.depths[0],
            DepthResult {
                iterations: 1024,
                depth: 4,
                check: 31744
            }
        );
        assert_eq!(r.depths.last().unwrap().check, 16 * 2047);
        assert_eq!(r.long_lived_check, 2047);
        assert!(!gc.telemetry().cycles.is_empty());
        assert_eq!(gc.root_count(), 0);
    }
}
