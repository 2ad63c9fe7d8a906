//! Background marking for the concurrent plan.
//!
//! The start pause marks the roots and hands them to [`ConcurrentMarker`];
//! its thread traces (with the parallel marker when more than one thread is
//! configured) and then drains the SATB queue until it is empty. The
//! mutator keeps running meanwhile, allocating black, and finishes the cycle
//! in a short pause once the marker reports done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::gc::barrier::SatbQueue;
use crate::gc::heap::Arena;
use crate::gc::mark::{parallel, stw};
use crate::gc::object::ObjIndex;

/// A running background marking cycle.
pub struct ConcurrentMarker {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<(usize, Duration)>>,
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
                flag.store(true, Ordering::Release);
                (marked, t0.elapsed())
            })?;
        Ok(Self {
            done,
            thread: Some(thread),
        })
    }

    /// Whether the background thread has drained its work.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits for the thread; returns (objects marked, background marking time).
    pub fn join(mut self) -> (usize, Duration) {
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or((0, Duration::ZERO))
    }
}
