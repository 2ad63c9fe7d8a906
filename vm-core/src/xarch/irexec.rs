//! A small reference evaluator for IR blocks (tests only): globals, a
//! sparse byte memory, and the IR's own operation semantics. Lets frontend
//! tests run single guest instructions against reference implementations
//! written from the architecture manuals.

use std::collections::HashMap;

use crate::ir::{IrBlock, IrOp, Terminator, Width};

/// Guest state for [`run`].
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub globals: [u64; 64],
    pub mem: HashMap<u64, u8>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            globals: [0; 64],
            mem: HashMap::new(),
        }
    }
}

impl State {
    pub(crate) fn load(&self, a: u64, w: Width) -> u64 {
        (0..w.bytes()).fold(0u64, |v, i| {
            v | (*self.mem.get(&a.wrapping_add(i)).unwrap_or(&0) as u64) << (8 * i)
        })
    }
    pub(crate) fn store(&mut self, a: u64, w: Width, v: u64) {
        for i in 0..w.bytes() {
            self.mem.insert(a.wrapping_add(i), (v >> (8 * i)) as u8);
        }
    }
}

/// Runs the block; returns the next pc (None for breakpoints/syscalls).
pub(crate) fn run(b: &IrBlock, st: &mut State) -> Option<u64> {
    let mut t = vec![0u64; b.num_temps as usize];
    for op in &b.ops {
        match *op {
            IrOp::Const { dst, val } => t[dst as usize] = val,
            IrOp::GetGlobal { dst, g } => t[dst as usize] = st.globals[g as usize],
            IrOp::SetGlobal { g, src } => st.globals[g as usize] = t[src as usize],
            IrOp::Bin { op, dst, a, b } => t[dst as usize] = op.eval(t[a as usize], t[b as usize]),
            IrOp::Un { op, dst, a } => t[dst as usize] = op.eval(t[a as usize]),
            IrOp::SetCond { cond, dst, a, b } => {
                t[dst as usize] = cond.eval(t[a as usize], t[b as usize]) as u64
            }
            IrOp::Load {
                dst,
                addr,
                off,
                width,
                signed,
                ..
            } => {
                let a = t[addr as usize].wrapping_add(off as i64 as u64);
                let v = st.load(a, width);
                let bits = 8 * width.bytes() as u32;
                t[dst as usize] = if signed && bits < 64 {
                    (((v << (64 - bits)) as i64) >> (64 - bits)) as u64
                } else {
                    v
                };
            }
            IrOp::Store {
                addr,
                off,
                src,
                width,
                ..
            } => {
                let a = t[addr as usize].wrapping_add(off as i64 as u64);
                st.store(a, width, t[src as usize]);
            }
            IrOp::SideExit {
                cond, a, b, target, ..
            } => {
                if cond.eval(t[a as usize], t[b as usize]) {
                    return Some(target);
                }
            }
        }
    }
    match b.term {
        Terminator::Jump(pc) => Some(pc),
        Terminator::Branch {
            cond,
            a,
            b: y,
            taken,
            fallthrough,
        } => Some(if cond.eval(t[a as usize], t[y as usize]) {
            taken
        } else {
            fallthrough
        }),
        Terminator::JumpIndirect(x) => Some(t[x as usize]),
        Terminator::Syscall { .. }
        | Terminator::Breakpoint { .. }
        | Terminator::Interpret { .. }
        | Terminator::Helper { .. } => None,
    }
}
