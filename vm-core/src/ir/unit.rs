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
    /// Block index by guest pc.
    pub index: PcMap<usize>,
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
