//! Counters and timings of a run.

use std::time::Duration;

/// Counters and timings of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Blocks decoded into the cache.
    pub blocks_decoded: u64,
    /// Blocks compiled to machine code.
    pub blocks_compiled: u64,
    /// Blocks compiled by the baseline tier (part of `blocks_compiled`).
    pub blocks_baseline: u64,
    /// Baseline-tier blocks recompiled by the optimizing tier once hot
    /// (part of `blocks_compiled`).
    pub blocks_tiered_up: u64,
    /// Guest instructions covered by compiled blocks.
    pub insns_compiled: u64,
    /// Guest instructions retired.
    pub insns_executed: u64,
    /// Dispatcher block-cache hits.
    pub cache_hits: u64,
    /// Dispatcher block-cache misses.
    pub cache_misses: u64,
    /// Blocks invalidated by guest stores into code.
    pub invalidations: u64,
    /// Blocks of an installed AOT image entered into the block cache (on
    /// first dispatch or first chain exit that needs them).
    pub aot_blocks_registered: u64,
    /// Chained jumps patched.
    pub chains_patched: u64,
    /// Blocks executed by the interpreter.
    pub interp_blocks: u64,
    /// Entries into generated code from the dispatcher.
    pub jit_entries: u64,
    /// Blocks executed (interpreted, entered from the dispatcher, or reached
    /// through chained jumps and the indirect-jump cache).
    pub blocks_executed: u64,
    /// Time decoding, translating, optimizing and compiling (includes `install_time`).
    pub translate_time: Duration,
    /// Part of `translate_time` spent installing code into the executable region (a copy into its writable view; two mprotect calls per write where no memfd is available).
    pub install_time: Duration,
    /// Total time inside `run`/`run_blocks`.
    pub total_time: Duration,
    /// MMU counters (zero under the flat memory model).
    pub mmu: crate::mmu::MmuStats,
    /// Accesses of generated code replayed in the interpreter after the
    /// miss handler declined them (page faults, stores to code pages).
    pub mmu_replays: u64,
    /// Instructions without a native lowering that generated code left to
    /// the dispatcher to interpret (exit code `INTERPRET`).
    pub fallback_insns: u64,
}

impl Stats {
    /// Dispatcher cache hit rate.
    pub fn hit_rate(&self) -> f64 {
        let t = self.cache_hits + self.cache_misses;
        if t == 0 {
            0.0
        } else {
            self.cache_hits as f64 / t as f64
        }
    }

    /// Share of block executions whose translation was already cached:
    /// `1 - misses / blocks_executed` (a miss is a block decoded anew).
    pub fn block_hit_rate(&self) -> f64 {
        if self.blocks_executed == 0 {
            0.0
        } else {
            1.0 - (self.cache_misses.min(self.blocks_executed) as f64 / self.blocks_executed as f64)
        }
    }

    /// Time not spent translating.
    pub fn exec_time(&self) -> Duration {
        self.total_time.saturating_sub(self.translate_time)
    }
}
