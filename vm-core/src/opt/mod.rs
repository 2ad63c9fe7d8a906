//! IR optimizer: a forward pass doing constant folding/propagation,
//! algebraic simplification and global-to-temp forwarding (a guest register
//! is loaded from the CPU state at most once per block; later reads reuse
//! the temp), then dead global-store elimination and dead-code elimination.
//!
//! All passes keep guest state exact at every op that may leave the block
//! (loads and stores), so exits never need compensation code.

use std::cell::RefCell;

use crate::ir::{simplify, IrBlock, IrOp, Simplified, Temp, Terminator};
use crate::state::NUM_GLOBALS;

/// Per-thread scratch vectors reused across blocks: allocation would
/// otherwise dominate the optimizer's cost on small blocks.
#[derive(Default)]
struct Scratch {
    alias: Vec<Temp>,
    konst: Vec<Option<u64>>,
    flags: Vec<bool>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Keeps the ops whose flag is set, in order, without reallocating; ops
/// before the first dropped one stay where they are (not copied onto
/// themselves).
fn retain_flagged(ops: &mut Vec<IrOp>, keep: &[bool]) {
    let Some(first) = keep[..ops.len()].iter().position(|&k| !k) else {
        return;
    };
    let mut j = first;
    for i in first + 1..ops.len() {
        if keep[i] {
            ops[j] = ops[i];
            j += 1;
        }
    }
    ops.truncate(j);
}

/// Runs all passes on `block` in place.
pub fn optimize(block: &mut IrBlock) {
    fold_and_forward(block);
    eliminate_dead(block);
}

/// Optimizes a block finished by [`IrBuilder`](crate::ir::IrBuilder) (the
/// RV64 frontend's): the builder already folded constants and forwarded
/// globals while building, so only the backward dead-store and dead-code
/// pass is left. Same result as [`optimize`] on such a block.
pub fn optimize_built(block: &mut IrBlock) {
    eliminate_dead(block);
}

/// Dead global-store elimination and dead-code elimination in one backward
/// pass (same result as [`eliminate_dead_global_stores`] followed by
/// [`eliminate_dead_code`], in one walk over the ops).
pub fn eliminate_dead(block: &mut IrBlock) {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        let flags = &mut s.flags;
        flags.clear();
        flags.resize(block.num_temps as usize + block.ops.len(), false);
        let (used, keep) = flags.split_at_mut(block.num_temps as usize);
        keep.fill(true);
        block.term.for_each_use(|t| used[t as usize] = true);
        // Bit g set: global g is written later with no possible exit in between.
        let mut overwritten = 0u64;
        // One match per op (the op kind is an unpredictable branch; the
        // generic `dst` and `for_each_use` would take it up to three times).
        for (i, op) in block.ops.iter().enumerate().rev() {
            match *op {
                IrOp::SetGlobal { g, src } => {
                    if overwritten & (1 << g) != 0 {
                        keep[i] = false;
                    } else {
                        overwritten |= 1 << g;
                        used[src as usize] = true;
                    }
                }
                IrOp::Load { addr, .. } => {
                    overwritten = 0;
                    used[addr as usize] = true;
                }
                IrOp::Store { addr, src, .. } => {
                    overwritten = 0;
                    used[addr as usize] = true;
                    used[src as usize] = true;
                }
                IrOp::SideExit { a, b, .. } => {
                    overwritten = 0;
                    used[a as usize] = true;
                    used[b as usize] = true;
                }
                IrOp::Const { dst, .. } | IrOp::GetGlobal { dst, .. } => {
                    keep[i] = used[dst as usize];
                }
                IrOp::Bin { dst, a, b, .. } | IrOp::SetCond { dst, a, b, .. } => {
                    if used[dst as usize] {
                        used[a as usize] = true;
                        used[b as usize] = true;
                    } else {
                        keep[i] = false;
                    }
                }
                IrOp::Un { dst, a, .. } => {
                    if used[dst as usize] {
                        used[a as usize] = true;
                    } else {
                        keep[i] = false;
                    }
                }
            }
        }
        retain_flagged(&mut block.ops, keep);
    })
}

/// Constant folding/propagation, algebraic identities and forwarding of
/// global reads.
pub fn fold_and_forward(block: &mut IrBlock) {
    SCRATCH.with(|s| fold_and_forward_with(block, &mut s.borrow_mut()))
}

fn fold_and_forward_with(block: &mut IrBlock, s: &mut Scratch) {
    let n = block.num_temps as usize;
    let alias = &mut s.alias;
    alias.clear();
    alias.extend(0..block.num_temps);
    let konst = &mut s.konst;
    konst.clear();
    konst.resize(n, None);
    let mut global_val: [Option<Temp>; NUM_GLOBALS] = [None; NUM_GLOBALS];
    let mut j = 0;
    for i in 0..block.ops.len() {
        let mut op = block.ops[i];
        op.map_uses(|t| alias[t as usize]);
        match op {
            IrOp::Const { dst, val } => {
                konst[dst as usize] = Some(val);
            }
            IrOp::GetGlobal { dst, g } => {
                if let Some(t) = global_val[g as usize] {
                    alias[dst as usize] = t;
                    continue;
                }
                global_val[g as usize] = Some(dst);
            }
            IrOp::SetGlobal { g, src } => {
                global_val[g as usize] = Some(src);
            }
            IrOp::Bin { op: bop, dst, a, b } => {
                let (ka, kb) = (konst[a as usize], konst[b as usize]);
                if let (Some(x), Some(y)) = (ka, kb) {
                    let val = bop.eval(x, y);
                    konst[dst as usize] = Some(val);
                    op = IrOp::Const { dst, val };
                } else if let Some(same) = simplify(bop, a, b, ka, kb) {
                    match same {
                        Simplified::Alias(t) => {
                            alias[dst as usize] = t;
                            continue;
                        }
                        Simplified::Const(val) => {
                            konst[dst as usize] = Some(val);
                            op = IrOp::Const { dst, val };
                        }
                    }
                }
            }
            IrOp::Un { op: uop, dst, a } => {
                if let Some(x) = konst[a as usize] {
                    let val = uop.eval(x);
                    konst[dst as usize] = Some(val);
                    op = IrOp::Const { dst, val };
                }
            }
            IrOp::SetCond { cond, dst, a, b } => {
                if let (Some(x), Some(y)) = (konst[a as usize], konst[b as usize]) {
                    let val = cond.eval(x, y) as u64;
                    konst[dst as usize] = Some(val);
                    op = IrOp::Const { dst, val };
                }
            }
            IrOp::Load { .. } | IrOp::Store { .. } => {}
            // Kept even when never taken: it also starts a basic block
            // (a quantum unit).
            IrOp::SideExit { .. } => {}
        }
        block.ops[j] = op;
        j += 1;
    }
    block.ops.truncate(j);
    let map = |t: Temp| alias[t as usize];
    block.term = match block.term {
        Terminator::Branch {
            cond,
            a,
            b,
            taken,
            fallthrough,
        } => {
            let (a, b) = (map(a), map(b));
            match (konst[a as usize], konst[b as usize]) {
                (Some(x), Some(y)) => {
                    Terminator::Jump(if cond.eval(x, y) { taken } else { fallthrough })
                }
                _ => Terminator::Branch {
                    cond,
                    a,
                    b,
                    taken,
                    fallthrough,
                },
            }
        }
        Terminator::JumpIndirect(t) => match konst[map(t) as usize] {
            Some(pc) => Terminator::Jump(pc),
            None => Terminator::JumpIndirect(map(t)),
        },
        t => t,
    };
}

/// Removes `SetGlobal`s overwritten later in the block with no possible
/// early exit in between.
pub fn eliminate_dead_global_stores(block: &mut IrBlock) {
    SCRATCH.with(|s| {
        let keep = &mut s.borrow_mut().flags;
        keep.clear();
        keep.resize(block.ops.len(), true);
        dse(block, keep)
    })
}

fn dse(block: &mut IrBlock, keep: &mut [bool]) {
    // Bit g set: global g is written later with no possible exit in between.
    let mut overwritten = 0u64;
    for (i, op) in block.ops.iter().enumerate().rev() {
        match *op {
            IrOp::SetGlobal { g, .. } => {
                if overwritten & (1 << g) != 0 {
                    keep[i] = false;
                } else {
                    overwritten |= 1 << g;
                }
            }
            ref o if o.may_exit() => overwritten = 0,
            _ => {}
        }
    }
    retain_flagged(&mut block.ops, keep);
}

/// Removes pure ops whose result is never used.
pub fn eliminate_dead_code(block: &mut IrBlock) {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        let used = &mut s.flags;
        used.clear();
        used.resize(block.num_temps as usize + block.ops.len(), false);
        let (used, keep) = used.split_at_mut(block.num_temps as usize);
        dce(block, used, keep)
    })
}

fn dce(block: &mut IrBlock, used: &mut [bool], keep: &mut [bool]) {
    keep.fill(true);
    block.term.for_each_use(|t| used[t as usize] = true);
    for (i, op) in block.ops.iter().enumerate().rev() {
        let pure = !matches!(
            op,
            IrOp::SetGlobal { .. } | IrOp::Store { .. } | IrOp::Load { .. }
        );
        if pure && op.dst().is_some_and(|d| !used[d as usize]) {
            keep[i] = false;
            continue;
        }
        op.for_each_use(|t| used[t as usize] = true);
    }
    retain_flagged(&mut block.ops, keep);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::riscv::{decode, translate_block};

    fn block(words: &[u32]) -> IrBlock {
        let insns: Vec<_> = words.iter().map(|w| decode(*w).unwrap()).collect();
        translate_block(0x1000, &insns)
    }

    #[test]
    fn folds_constants_and_forwards_globals() {
        // li a0, 5 ; addi a0, a0, 3 ; add a1, a0, a0 ; ret
        let mut b = block(&[0x00500513, 0x00350513, 0x00a505b3, 0x00008067]);
        optimize(&mut b);
        let sets: Vec<_> = b
            .ops
            .iter()
            .filter(|o| matches!(o, IrOp::SetGlobal { .. }))
            .collect();
        assert_eq!(sets.len(), 2, "{b}");
        let consts: Vec<u64> = b
            .ops
            .iter()
            .filter_map(|o| match o {
                IrOp::Const { val, .. } => Some(*val),
                _ => None,
            })
            .collect();
        assert!(consts.contains(&8) && consts.contains(&16), "{b}");
        // ra read once
        assert_eq!(
            b.ops
                .iter()
                .filter(|o| matches!(o, IrOp::GetGlobal { .. }))
                .count(),
            1,
            "{b}"
        );
    }

    #[test]
    fn keeps_global_stores_before_possible_exits() {
        // li a0, 1 ; lw a1, 0(a2) ; li a0, 2 ; ecall
        let mut b = block(&[0x00100513, 0x00062583, 0x00200513, 0x00000073]);
        optimize(&mut b);
        let sets = b
            .ops
            .iter()
            .filter(|o| matches!(o, IrOp::SetGlobal { g: 10, .. }))
            .count();
        assert_eq!(sets, 2, "{b}");
        // li a0, 1 ; li a0, 2 ; ecall: the first store is dead
        let mut b = block(&[0x00100513, 0x00200513, 0x00000073]);
        optimize(&mut b);
        assert_eq!(
            b.ops
                .iter()
                .filter(|o| matches!(o, IrOp::SetGlobal { .. }))
                .count(),
            1,
            "{b}"
        );
    }

    #[test]
    fn combined_pass_matches_separate_passes_on_workload_like_blocks() {
        let mut x: u64 = 99;
        for _ in 0..2000 {
            let mut words = Vec::new();
            for _ in 0..1 + (x % 12) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mix of ALU, loads and stores on a few registers.
                let w = match x % 5 {
                    0 => 0x00a50533 | (((x >> 8) as u32 & 3) << 7), // add rd, a0, a0
                    1 => 0x00052503 | (((x >> 8) as u32 & 3) << 7), // lw rd, 0(a0)
                    2 => 0x00a52023,                                // sw a0, 0(a0)
                    3 => 0x00150513 | (((x >> 8) as u32 & 3) << 7), // addi rd, a0, 1
                    _ => 0x00b50533,                                // add a0, a0, a1
                };
                words.push(w);
            }
            words.push(0x00008067);
            let mut a = block(&words);
            let mut b = a.clone();
            fold_and_forward(&mut a);
            fold_and_forward(&mut b);
            eliminate_dead_global_stores(&mut a);
            eliminate_dead_code(&mut a);
            eliminate_dead(&mut b);
            assert_eq!(a, b);
        }
    }

    /// Random blocks over a few registers, with constants from `x0`,
    /// `lui`, immediates and identities the builder must fold.
    fn random_blocks(seed: u64, n: usize) -> Vec<IrBlock> {
        let mut x = seed;
        let mut out = Vec::new();
        for _ in 0..n {
            let mut words = Vec::new();
            for _ in 0..1 + (x % 14) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let rd = ((x >> 8) as u32 & 3) + 10;
                let rs = ((x >> 12) as u32 & 3) + 9; // x9..x12, x9 never written
                let rt = ((x >> 16) as u32 & 7) * ((x >> 20) as u32 & 1); // x0 half the time
                let w = match x % 12 {
                    0 => 0x33 | (rd << 7) | (rs << 15) | (rt << 20), // add
                    1 => 0x40000033 | (rd << 7) | (rt << 15) | (rs << 20), // sub
                    2 => 0x4033 | (rd << 7) | (rs << 15) | (rs << 20), // xor rd, rs, rs
                    3 => 0x13 | (rd << 7) | (rt << 15) | (((x >> 24) as u32 & 7) << 20), // addi
                    4 => 0x37 | (rd << 7) | ((x >> 28) as u32 & 0xfffff) << 12, // lui
                    5 => 0x1013 | (rd << 7) | (rs << 15) | (((x >> 24) as u32 & 3) << 20), // slli
                    6 => 0x2033 | (rd << 7) | (rt << 15) | (rt << 20), // slt
                    7 => 0x3013 | (rd << 7) | (rt << 15) | (5 << 20), // sltiu
                    8 => 0x2003 | (rd << 7) | (rs << 15),           // lw
                    9 => 0x2023 | (rs << 15) | (rd << 20),          // sw
                    10 => 0x1b | (rd << 7) | (rt << 15) | (3 << 20), // addiw
                    _ => 0x7033 | (rd << 7) | (rs << 15) | (rt << 20), // and
                };
                words.push(w);
            }
            words.push(match x % 4 {
                0 => 0x00008067,             // ret
                1 => 0x00000463,             // beq x0, x0
                2 => 0x00a50463,             // beq a0, a0 (not folded: same temp, no const)
                _ => 0x000000e7,             // jalr ra, 0(x0): constant target
            });
            out.push(block(&words));
        }
        out
    }

    #[test]
    fn built_blocks_are_fixed_points_of_the_forward_pass() {
        for b in random_blocks(7, 3000) {
            let mut folded = b.clone();
            fold_and_forward(&mut folded);
            assert_eq!(folded, b, "builder left work for the forward pass");
            let (mut x, mut y) = (b.clone(), b);
            optimize(&mut x);
            optimize_built(&mut y);
            assert_eq!(x, y);
        }
    }

    #[test]
    fn builder_folds_constants_identities_and_terminators() {
        // li a0, 5 ; addi a1, a0, 0 ; xor a2, a1, a1 ; jalr x0, 0(a2)
        let b = block(&[0x00500513, 0x00050593, 0x00b5c633, 0x00060067]);
        assert_eq!(b.term, Terminator::Jump(0), "{b}");
        assert!(
            b.ops
                .iter()
                .all(|o| matches!(o, IrOp::Const { .. } | IrOp::SetGlobal { .. })),
            "{b}"
        );
    }

    #[test]
    fn constant_branches_become_jumps() {
        // beq zero, zero, +8
        let mut b = block(&[0x00000463]);
        optimize(&mut b);
        assert_eq!(b.term, Terminator::Jump(0x1008));
        assert!(b.ops.is_empty());
    }
}
