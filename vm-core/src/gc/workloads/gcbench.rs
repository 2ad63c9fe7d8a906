//! Boehm's GCBench (after John Ellis and Pete Kovac): builds trees top-down
//! and bottom-up at several depths while a long-lived tree and a large
//! array of doubles stay live.

use crate::gc::{Gc, GcError, Handle};

/// Sizes of the run; [`GcBenchParams::CLASSIC`] is the original program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcBenchParams {
    /// Depth of the stretch tree.
    pub stretch_tree_depth: u32,
    /// Depth of the long-lived tree.
    pub long_lived_tree_depth: u32,
    /// Elements of the long-lived array of doubles.
    pub array_size: usize,
    /// Smallest temporary tree depth.
    pub min_tree_depth: u32,
    /// Largest temporary tree depth.
    pub max_tree_depth: u32,
}

impl GcBenchParams {
    /// The original GCBench constants.
    pub const CLASSIC: Self = Self {
        stretch_tree_depth: 18,
        long_lived_tree_depth: 16,
        array_size: 500_000,
        min_tree_depth: 4,
        max_tree_depth: 16,
    };
}

// A node has two references (left, right) and two data words (i, j).
fn new_node(gc: &mut Gc) -> Result<Handle, GcError> {
    gc.alloc(2, 2)
}

fn tree_size(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

fn num_iters(p: &GcBenchParams, depth: u32) -> u64 {
    2 * tree_size(p.stretch_tree_depth) / tree_size(depth)
}

/// Fills `node` with children down to `depth` (top-down construction).
pub fn populate(gc: &mut Gc, depth: u32, node: Handle) -> Result<(), GcError> {
    if depth == 0 {
        return Ok(());
    }
    let m = gc.root_mark();
    let left = new_node(gc)?;
    gc.set_ref(node, 0, Some(left))?;
    let right = new_node(gc)?;
    gc.set_ref(node, 1, Some(right))?;
    populate(gc, depth - 1, left)?;
    populate(gc, depth - 1, right)?;
    gc.release_to(m);
    Ok(())
}

/// Builds a tree of `depth` bottom-up.
pub fn make_tree(gc: &mut Gc, depth: u32) -> Result<Handle, GcError> {
    if depth == 0 {
        return new_node(gc);
    }
    let m = gc.root_mark();
    let left = make_tree(gc, depth - 1)?;
    let right = make_tree(gc, depth - 1)?;
    let node = new_node(gc)?;
    gc.set_ref(node, 0, Some(left))?;
    gc.set_ref(node, 1, Some(right))?;
    gc.release_to_keeping(m, node)
}

fn count(gc: &mut Gc, h: Handle) -> Result<u64, GcError> {
    let m = gc.root_mark();
    let mut n = 1;
    for f in 0..2 {
        if let Some(c) = gc.get_ref(h, f)? {
            n += count(gc, c)?;
        }
        gc.release_to(m);
    }
    Ok(n)
}

/// What a run produced (checked by tests so the work cannot be skipped).
#[derive(Debug, Clone, PartialEq)]
pub struct GcBenchResult {
    /// Trees built per depth, top-down and bottom-up each.
    pub iterations: Vec<(u32, u64)>,
    /// Node count of the long-lived tree at the end.
    pub long_lived_nodes: u64,
    /// Element 1000 (or the last) of the array, which must still hold 1/i.
    pub array_probe: f64,
}

/// Runs GCBench.
pub fn run(gc: &mut Gc, p: &GcBenchParams) -> Result<GcBenchResult, GcError> {
    let base = gc.root_mark();
    let stretch = make_tree(gc, p.stretch_tree_depth)?;
    let _ = stretch;
    gc.release_to(base);
    let long_lived = new_node(gc)?;
    populate(gc, p.long_lived_tree_depth, long_lived)?;
    let array = gc.alloc(0, p.array_size)?;
    for i in 0..p.array_size / 2 {
        gc.set_data(array, i, (1.0 / i as f64).to_bits())?;
    }
    let after = gc.root_mark();
    let mut iterations = Vec::new();
    let mut d = p.min_tree_depth;
    while d <= p.max_tree_depth {
        let n = num_iters(p, d);
        for _ in 0..n {
            let temp = new_node(gc)?;
            populate(gc, d, temp)?;
            gc.release_to(after);
        }
        for _ in 0..n {
            make_tree(gc, d)?;
            gc.release_to(after);
        }
        iterations.push((d, n));
        d += 2;
    }
    let long_lived_nodes = count(gc, long_lived)?;
    let probe = 1000.min(p.array_size / 2 - 1);
    let array_probe = f64::from_bits(gc.get_data(array, probe)?);
    gc.release_to(base);
    Ok(GcBenchResult {
        iterations,
        long_lived_nodes,
        array_probe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::{GcConfig, GcPlan};

    #[test]
    fn small_gcbench_keeps_long_lived_data_intact() {
        let p = GcBenchParams {
            stretch_tree_depth: 12,
            long_lived_tree_depth: 10,
            array_size: 5000,
            min_tree_depth: 4,
            max_tree_depth: 10,
        };
        for plan in [
            GcPlan::StwMarkSweep,
            GcPlan::ParallelMarkSweep { threads: 2 },
            GcPlan::ConcurrentMarkSweep { threads: 1 },
        ] {
            let mut cfg = GcConfig::new(2 << 20, plan);
            cfg.verify = true;
            let mut gc = Gc::new(cfg).unwrap();
            let r = run(&mut gc, &p).unwrap();
            assert_eq!(r.long_lived_nodes, tree_size(10));
            assert_eq!(r.array_probe, 1.0 / 1000.0);
            assert_eq!(r.iterations[0], (4, 2 * tree_size(12) / tree_size(4)));
            assert!(gc.telemetry().cycles.len() > 1, "{plan:?}");
        }
    }
}
