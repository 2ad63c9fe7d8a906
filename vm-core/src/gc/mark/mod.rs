//! Marking: trace from the roots, setting the atomic mark bit in headers.
//! Three strategies share the arena and the mark bit: one thread under a
//! pause ([`stw`]), several work-stealing threads under a pause
//! ([`parallel`]), and a background marker racing the mutator
//! ([`concurrent`], kept correct by the SATB barrier in `barrier.rs`).

pub mod concurrent;
pub mod parallel;
pub mod stw;
