//! Background marking for the concurrent plan.
//!
//! The start pause marks the roots and hands them to [`ConcurrentMarker`];
//! its thread traces (with the parallel marker when more than one thread is
//! configured) and then drains the SATB queue until it is empty. The
//! mutator keeps running meanwhile, allocating black, and finishes the cycle
//! in a short pause once the marker reports done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::gc::background::Job;
use crate::gc::barrier::SatbQueue;
use crate::gc::heap::Arena;
use crate::gc::mark::{parallel, stw};
use crate::gc::object::ObjIndex;

/// A running background marking cycle.
pub struct ConcurrentMarker {
    done: Arc<AtomicBool>,
    /// (objects marked, background marking time), sent before `done` is set.
    result: Receiver<(usize, Duration)>,
}

impl ConcurrentMarker {
    /// A marking cycle tracing from `roots` (unmarked; the marker marks
    /// them), and the job that does it on the heap's background thread:
    /// first clearing the marks of `stale` (objects the mutator allocated
    /// marked while the previous sweep ran, see `Gc::alloc`), then tracing,
    /// then draining the SATB queue until it is empty.
    pub fn new(
        arena: Arena,
        satb: Arc<SatbQueue>,
        roots: Vec<ObjIndex>,
        stale: Vec<ObjIndex>,
        threads: usize,
    ) -> (Self, Job) {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let (report, result) = mpsc::channel();
        let job: Job = Box::new(move || {
            let t0 = Instant::now();
            // Before any tracing: a stale mark would read as "already
            // traced". Nothing else reads these marks meanwhile (no
            // sweep runs, and the mutator only allocates black).
            for &o in &stale {
                arena.clear_mark(o as usize);
            }
            drop(stale);
            let mut marked = if threads > 1 {
                parallel::mark_parallel(&arena, &roots, threads)
            } else {
                stw::mark_from(&arena, roots, &mut Vec::new())
            };
            let mut gray = Vec::new();
            loop {
                let logged = satb.take();
                if logged.is_empty() {
                    break;
                }
                marked += stw::mark_from(&arena, logged, &mut gray);
            }
            let _ = report.send((marked, t0.elapsed()));
            flag.store(true, Ordering::Release);
        });
        (Self { done, result }, job)
    }

    /// Whether the background thread has drained its work.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits until the marking is done; returns (objects marked,
    /// background marking time), or `None` if the marking job died (a
    /// collector bug: the marks are then incomplete).
    pub fn join(self) -> Option<(usize, Duration)> {
        self.result.recv().ok()
    }
}
