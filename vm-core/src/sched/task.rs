//! A scheduled vCPU coroutine: its future, its run state, and its waker.
//!
//! State machine (one atomic byte); only the worker that moved a task to
//! RUNNING touches its future:
//!
//! ```text
//! IDLE --wake--> SCHEDULED --worker pops--> RUNNING --Pending--> IDLE
//!                    ^                        |  wake while running
//!                    |                        v
//!                    +---- worker requeues -- NOTIFIED
//! RUNNING --Ready/panic--> DONE   (wakes of a DONE task are ignored)
//! ```
//!
//! A yield is a wake during the poll (RUNNING -> NOTIFIED): the worker puts
//! the task at the back of its own FIFO queue, which is what makes the time
//! slice round-robin between the vCPUs of a worker.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::Wake;

use crate::exec::{VcpuControl, VcpuRun};

use super::Shared;

pub(crate) const IDLE: u8 = 0;
pub(crate) const SCHEDULED: u8 = 1;
pub(crate) const RUNNING: u8 = 2;
pub(crate) const NOTIFIED: u8 = 3;
pub(crate) const DONE: u8 = 4;

/// "Has not run yet" in `last_worker`.
pub(crate) const NO_WORKER: usize = usize::MAX;

/// A vCPU coroutine owned by the scheduler.
pub(crate) struct Task {
    pub id: u64,
    pub state: AtomicU8,
    /// The coroutine, stored inline: one allocation per spawned vCPU.
    pub future: Mutex<Option<VcpuRun>>,
    /// Scheduler clock (ns since start) when the task last became runnable.
    pub runnable_since: AtomicU64,
    pub last_worker: AtomicUsize,
    pub migrations: AtomicU64,
    pub runs: AtomicU64,
    pub wait_ns: AtomicU64,
    pub control: Arc<VcpuControl>,
    pub result: Mutex<Option<crate::exec::VcpuReport>>,
    pub finished: Condvar,
    pub shared: Arc<Shared>,
}

impl Task {
    pub fn new(id: u64, fut: VcpuRun, control: Arc<VcpuControl>, shared: Arc<Shared>) -> Self {
        Self {
            id,
            state: AtomicU8::new(SCHEDULED),
            future: Mutex::new(Some(fut)),
            runnable_since: AtomicU64::new(shared.now_ns()),
            last_worker: AtomicUsize::new(NO_WORKER),
            migrations: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            wait_ns: AtomicU64::new(0),
            control,
            result: Mutex::new(None),
            finished: Condvar::new(),
            shared,
        }
    }

    /// Stores the report and wakes joiners; the first report wins.
    pub fn complete(&self, report: crate::exec::VcpuReport) {
        let mut r = self.result.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            self.shared.count_outcome(&report.outcome);
            *r = Some(report);
        }
        self.state.store(DONE, Ordering::Release);
        self.finished.notify_all();
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let next = match s {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return, // already queued, already notified, or done
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == SCHEDULED => {
                    self.runnable_since
                        .store(self.shared.now_ns(), Ordering::Relaxed);
                    self.shared.schedule(Arc::clone(self));
                    return;
                }
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }
}
