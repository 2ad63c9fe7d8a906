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

use crate::gc::background::BackgroundThread;
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
    /// Starts tracing from `roots` (unmarked; the marker marks them) on the
    /// heap's background thread, after clearing the marks of `stale`
    /// (objects the mutator allocated marked while the previous sweep ran,
    /// see `Gc::alloc`). Fails only if that thread is gone; the caller then
    /// collects stop-the-world instead.
    pub fn start(
        worker: &BackgroundThread,
        arena: Arc<Arena>,
        satb: Arc<SatbQueue>,
        roots: Vec<ObjIndex>,
        stale: Vec<ObjIndex>,
        threads: usize,
    ) -> Result<Self, Vec<ObjIndex>> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let (report, result) = mpsc::channel();
        let stale = Arc::new(stale);
        let stale_for_job = stale.clone();
        let queued = worker.run(move || {
            let t0 = Instant::now();
            // Before any tracing: a stale mark would read as "already
            // traced". Nothing else reads these marks meanwhile (no
            // sweep runs, and the mutator only allocates black).
            for &o in stale_for_job.iter() {
                arena.clear_mark(o as usize);
            }
            drop(stale_for_job);
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
        if queued {
            Ok(Self { done, result })
        } else {
            // The job (and its clone of `stale`) was dropped unrun.
            Err(Arc::try_unwrap(stale).unwrap_or_else(|a| (*a).clone()))
        }
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
