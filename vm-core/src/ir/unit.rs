//! Translation units: the IR of whole guest functions (all blocks
//! reachable from a set of entry points), as the cross-architecture
//! backends compile them. The ops of all blocks are dense records
//! ([`super::dense::UnitOp`]) and constants ([`super::dense::UnitConst`])
//! in one buffer each.

use std::collections::HashMap;

use super::dense::{kind, to_ir_block, UnitConst, UnitOp};
use super::{GuestLoc, IrBlock, Terminator};

/// Map keyed by guest pc (FxHash: guest pcs are trusted integers, and
/// SipHash with per-map random keys cost more than the lookups themselves).
pub type PcMap<V> = HashMap<u64, V, rustc_hash::FxBuildHasher>;

/// Block index by guest pc within one code image: a dense array over the
/// image's bytes, so a lookup (discovery, flag liveness, the backends'
/// branch targets) is one load instead of a hash probe. Resetting clears only the entries set
/// since the last reset, so reusing it costs nothing per image byte.
#[derive(Debug, Default, Clone)]
pub struct BlockIndex {
    base: u64,
    slots: Vec<u32>,
    set: Vec<u64>,
}

impl BlockIndex {
    const NONE: u32 = u32::MAX;

    /// Empties the index and fits it to the `len` bytes of code at guest
    /// address `base`.
    pub fn reset(&mut self, base: u64, len: usize) {
        for pc in self.set.drain(..) {
            self.slots[(pc - self.base) as usize] = Self::NONE;
        }
        if self.base != base || self.slots.len() != len {
            self.base = base;
            self.slots.clear();
            self.slots.resize(len, Self::NONE);
        }
    }

    /// The block starting at `pc`, if any.
    #[inline]
    pub fn get(&self, pc: u64) -> Option<usize> {
        match self.slots.get(pc.wrapping_sub(self.base) as usize) {
            Some(&i) if i != Self::NONE => Some(i as usize),
            _ => None,
        }
    }

    /// Whether `pc` is inside the image and not yet a block.
    #[inline]
    pub fn is_new_in_image(&self, pc: u64) -> bool {
        self.slots.get(pc.wrapping_sub(self.base) as usize) == Some(&Self::NONE)
    }

    /// Whether a block starts at `pc`.
    #[inline]
    pub fn contains(&self, pc: u64) -> bool {
        self.get(pc).is_some()
    }

    /// Records block `i` at `pc` (inside the image; ignored otherwise).
    #[inline]
    pub fn insert(&mut self, pc: u64, i: usize) {
        if let Some(slot) = self.slots.get_mut(pc.wrapping_sub(self.base) as usize) {
            if *slot == Self::NONE {
                self.set.push(pc);
            }
            *slot = i as u32;
        }
    }
}

/// One block of a unit: its slice of the unit's op buffer and of its
/// last-use table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitBlock {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// Guest instructions covered.
    pub insn_count: u32,
    /// Temps of the block (`1..num_temps`; temp 0 is the absent operand).
    pub num_temps: u32,
    /// The block's ops are `ops[start..end]` of the unit.
    pub start: u32,
    /// End of the block's ops.
    pub end: u32,
    /// The block's constants are `consts[consts_start..consts_end]` of the unit.
    pub consts_start: u32,
    /// End of the block's constants.
    pub consts_end: u32,
    /// Block exit.
    pub term: Terminator,
}

/// The translated unit: blocks, their ops and the entry points.
#[derive(Debug, Clone, Default)]
pub struct TranslationUnit {
    /// Blocks, in discovery order.
    pub blocks: Vec<UnitBlock>,
    /// Ops of all blocks (dead ones are [`super::dense::kind::NOP`]).
    pub ops: Vec<UnitOp>,
    /// Constants of all blocks.
    pub consts: Vec<UnitConst>,
    /// Block index by guest pc (the translator's discovery index, moved
    /// into the unit and given back by `UnitTranslator::recycle`).
    pub index: BlockIndex,
    /// Entry points (function symbols) and their pcs.
    pub entries: Vec<(String, u64)>,
    /// Guest instructions translated.
    pub guest_insns: u64,
    /// Blocks that computed jumps may target: entries, call targets and
    /// return sites (the backends' dispatch tables hold only these; any
    /// other computed target leaves the unit, which stays correct).
    pub indirect_targets: Vec<usize>,
    /// Last use of each temp, for register allocation: block `b`'s temp
    /// `t` is at `last_use[last_use_base[b] + t]`, `1 +` the index of the
    /// last live op reading it within the block (the terminator is op
    /// `end - start`); 0 means never read.
    pub last_use: Vec<u32>,
    /// Start of each block's slice of `last_use`.
    pub last_use_base: Vec<usize>,
}

impl TranslationUnit {
    /// The ops of block `b` (dead ones included as [`super::dense::kind::NOP`]).
    #[inline]
    pub fn block_ops(&self, b: &UnitBlock) -> &[UnitOp] {
        &self.ops[b.start as usize..b.end as usize]
    }

    /// The constants of block `b`.
    #[inline]
    pub fn block_consts(&self, b: &UnitBlock) -> &[UnitConst] {
        &self.consts[b.consts_start as usize..b.consts_end as usize]
    }

    /// Live ops of the unit (records, and constants something reads) plus
    /// one terminator per block: the IR ops `opt::eliminate_dead` would keep.
    pub fn live_ops(&self) -> usize {
        let records = self.ops.iter().filter(|o| o.kind != kind::NOP).count();
        let consts: usize = self
            .blocks
            .iter()
            .zip(&self.last_use_base)
            .map(|(b, &base)| {
                self.block_consts(b)
                    .iter()
                    .filter(|k| self.last_use[base + k.dst as usize] != 0)
                    .count()
            })
            .sum();
        records + consts + self.blocks.len()
    }

    /// Block `i` as an [`IrBlock`] without its dead records; `loc` gives
    /// the guest location of an instruction index of the block.
    pub fn ir_block(&self, i: usize, loc: impl Fn(u32) -> GuestLoc) -> IrBlock {
        let b = &self.blocks[i];
        to_ir_block(
            b.pc,
            b.insn_count,
            b.num_temps,
            self.block_ops(b),
            self.block_consts(b),
            b.term,
            loc,
        )
    }
}
