//! Plans: which collection strategy runs, and the heap's configuration.

/// Collection strategy (the policy underneath is always the same
/// non-moving mark-sweep space and free-list allocator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcPlan {
    /// Mark and sweep on the mutator's thread while it is stopped.
    StwMarkSweep,
    /// Mark with `threads` work-stealing threads while the mutator is stopped.
    ParallelMarkSweep {
        /// Marker threads.
        threads: usize,
    },
    /// Mark on a background thread (itself using `threads` markers) while the
    /// mutator runs; pauses only to start the cycle and to finish it.
    ConcurrentMarkSweep {
        /// Marker threads used by the background cycle.
        threads: usize,
    },
}

impl GcPlan {
    /// Marker threads the plan uses.
    pub fn threads(self) -> usize {
        match self {
            GcPlan::StwMarkSweep => 1,
            GcPlan::ParallelMarkSweep { threads } | GcPlan::ConcurrentMarkSweep { threads } => {
                threads
            }
        }
    }
}

/// Heap configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GcConfig {
    /// Hard limit on heap memory (objects and free space), in bytes.
    pub heap_limit_bytes: usize,
    /// Collection strategy.
    pub plan: GcPlan,
    /// A collection is triggered once the mutator has allocated this
    /// multiple of the live bytes left by the previous cycle (at least
    /// 1/16 of the heap).
    pub growth_factor: f64,
    /// Run the heap verifier after every collection (tests).
    pub verify: bool,
}

impl GcConfig {
    /// A configuration with the given limit and plan, growth factor 1.0, no verification.
    pub fn new(heap_limit_bytes: usize, plan: GcPlan) -> Self {
        Self {
            heap_limit_bytes,
            plan,
            growth_factor: 1.0,
            verify: false,
        }
    }
}
