//! Background marking for the concurrent plan.
//!
//! The start pause marks the roots and hands them to [`ConcurrentMarker`];
//! its thread traces (with the parallel marker when more than one thread is
//! configured) and then drains the SATB queue until it is empty. The
//! mutator keeps running meanwhile, allocating black, and finishes the cycle
//! in a short pause once the marker reports done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::gc::barrier::SatbQueue;
use crate::gc::heap::Arena;
use crate::gc::mark::{parallel, stw};
use crate::gc::object::ObjIndex;

/// A running background marking cycle.
pub struct ConcurrentMarker {
    done: Arc<AtomicBool>,
    /// (objects marked, background marking time), written before `done`.
    result: Arc<Mutex<(usize, Duration)>>,
    thread: Option<JoinHandle<()>>,
}

impl ConcurrentMarker {
    /// Starts tracing from `roots` (unmarked; the marker marks them), after
    /// clearing the marks of `stale` (objects the mutator allocated marked
    /// while the previous sweep ran, see `Gc::alloc`). Fails only if the OS
    /// refuses a thread; the caller then collects stop-the-world instead.
    pub fn start(
        arena: Arc<Arena>,
        satb: Arc<SatbQueue>,
        roots: Vec<ObjIndex>,
        stale: Arc<Vec<ObjIndex>>,
        threads: usize,
    ) -> std::io::Result<Self> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let result = Arc::new(Mutex::new((0, Duration::ZERO)));
        let report = result.clone();
        let thread = std::thread::Builder::new()
            .name("gc-concurrent-mark".into())
            .spawn(move || {
                let t0 = Instant::now();
                // Before any tracing: a stale mark would read as "already
                // traced". Nothing else reads these marks meanwhile (no
                // sweep runs, and the mutator only allocates black).
                for &o in stale.iter() {
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
                *report.lock().unwrap_or_else(|e| e.into_inner()) = (marked, t0.elapsed());
                flag.store(true, Ordering::Release);
            })?;
        Ok(Self {
            done,
            result,
            thread: Some(thread),
        })
    }

    /// Whether the background thread has drained its work.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits until the marking is done; returns (objects marked,
    /// background marking time). Once `done` is set the work and its
    /// result are published and the thread only has to exit, so it is not
    /// joined: on a loaded machine the exiting thread may wait a whole
    /// scheduler slice for a core, and the finish pause would wait with it.
    pub fn join(mut self) -> (usize, Duration) {
        if let Some(t) = self.thread.take() {
            if !self.is_done() {
                // Marking is not finished (heap full): wait for all of it.
                let _ = t.join();
            }
        }
        *self.result.lock().unwrap_or_else(|e| e.into_inner())
    }
}
