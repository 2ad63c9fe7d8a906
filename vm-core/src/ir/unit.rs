//! Translation units: the IR of whole guest functions (all blocks
//! reachable from a set of entry points), as the cross-architecture
//! backends compile them.

use std::collections::HashMap;

use super::IrBlock;

/// Map keyed by guest pc (FxHash: guest pcs are trusted integers, and
/// SipHash with per-map random keys cost more than the lookups themselves).
pub type PcMap<V> = HashMap<u64, V, rustc_hash::FxBuildHasher>;

/// The translated unit: optimized IR blocks and the entry points.
#[derive(Debug, Clone)]
pub struct TranslationUnit {
    /// Blocks, in discovery order.
    pub blocks: Vec<IrBlock>,
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
    /// Index of the last op reading each temp, for register allocation:
    /// block `b`'s temp `t` is at `last_use[last_use_base[b] + t]`; the
    /// terminator counts as op `ops.len()`, `u32::MAX` means never read.
    pub last_use: Vec<u32>,
    /// Start of each block's slice of `last_use`.
    pub last_use_base: Vec<usize>,
}
