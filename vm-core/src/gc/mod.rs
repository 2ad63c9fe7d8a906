//! A tracing, non-moving mark-sweep garbage collector.
//!
//! Structure (MMTk-style): the *plan* ([`GcPlan`]) picks the strategy —
//! stop-the-world, parallel, or concurrent marking — over one *policy*: a
//! mark-sweep space ([`heap::Arena`]) with a bump/free-list allocator
//! ([`alloc::Allocator`]). The mutator works through [`Gc`], which hands
//! out only rooted [`Handle`]s (a shadow stack, [`roots`]), so safe code
//! cannot hold an unrooted reference across a safepoint. Allocation is the
//! only safepoint; it may trigger, start, or finish a collection.
//! Allocation failure after a full collection is [`GcError::OutOfMemory`].
//! Design, protocols, benchmarks and limits: `docs/gc.md`.
//!
//! ```
//! use vm_core::gc::{Gc, GcConfig, GcError, GcPlan};
//!
//! let mut gc = Gc::new(GcConfig::new(1 << 20, GcPlan::ConcurrentMarkSweep { threads: 1 }))?;
//! // Every reference safe code holds is a rooted handle.
//! let head = gc.alloc(1, 1)?; // one reference field, one data word
//! gc.set_data(head, 0, 42)?;
//! let scope = gc.root_mark();
//! let next = gc.alloc(1, 1)?;
//! gc.set_ref(head, 0, Some(next))?; // through the SATB write barrier
//! gc.release_to(scope); // pops `next`; its object stays reachable from `head`
//! gc.collect()?; // a whole cycle: start pause, marking, finish pause, sweep
//! let again = gc.get_ref(head, 0)?.expect("still linked");
//! assert_eq!(gc.ref_count(again)?, 1);
//! assert_eq!(gc.get_data(head, 0)?, 42);
//! // A popped handle is a typed error, never a dangling reference.
//! assert_eq!(gc.get_ref(next, 0), Err(GcError::StaleHandle));
//! assert!(gc.telemetry().pauses.len() >= 2);
//! # Ok::<(), GcError>(())
//! ```

pub mod alloc;
pub mod background;
pub mod barrier;
pub mod heap;
pub mod mark;
pub mod mutator;
pub mod object;
pub mod plan;
pub mod roots;
pub mod sweep;
pub mod telemetry;
pub mod verify;
pub mod workloads;

pub use mutator::Gc;
pub use plan::{GcConfig, GcPlan};
pub use roots::{Handle, RootMark};
pub use telemetry::{Pause, PauseKind, Telemetry};
pub use verify::HeapDefect;

/// Errors of the GC API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcError {
    /// No chunk fits the request even after a full collection.
    OutOfMemory {
        /// Size of the failed request.
        requested_bytes: usize,
        /// The configured heap limit.
        heap_limit_bytes: usize,
    },
    /// The handle's shadow-stack slot was popped.
    StaleHandle,
    /// A reference or data field index beyond the object's fields.
    FieldOutOfRange {
        /// Requested index.
        index: usize,
        /// Number of fields of that kind.
        len: usize,
    },
    /// The object has more fields than a header can describe.
    ObjectTooLarge {
        /// Reference fields requested.
        nrefs: usize,
        /// Data words requested.
        data_words: usize,
    },
    /// The configuration cannot describe a heap.
    InvalidConfig(&'static str),
    /// The verifier found a broken heap (a collector bug).
    HeapCorrupt(HeapDefect),
}

impl std::fmt::Display for GcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcError::OutOfMemory { requested_bytes, heap_limit_bytes } => write!(
                f,
                "out of memory: {requested_bytes} bytes requested, heap limit {heap_limit_bytes} bytes"
            ),
            GcError::StaleHandle => write!(f, "handle used after its root slot was popped"),
            GcError::FieldOutOfRange { index, len } => {
                write!(f, "field {index} out of range (object has {len})")
            }
            GcError::ObjectTooLarge { nrefs, data_words } => {
                write!(f, "object too large: {nrefs} references, {data_words} data words")
            }
            GcError::InvalidConfig(why) => write!(f, "invalid GC configuration: {why}"),
            GcError::HeapCorrupt(d) => write!(f, "heap verification failed: {d:?}"),
        }
    }
}

impl std::error::Error for GcError {}
#[cfg(test)]
mod satb_model;
#[cfg(test)]
mod stress;
#[cfg(test)]
mod sweep_model;
