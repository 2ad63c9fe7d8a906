//! The concurrent plan's background thread: one per heap, created at the
//! first concurrent cycle and parked between jobs (marking, then sweeping).
//!
//! Why persistent: creating a thread inside the start or finish pause was
//! where the multi-millisecond pause outliers came from (`docs/gc.md`);
//! handing a job to a parked thread is one channel send.
//!
//! Why `SCHED_BATCH` (Linux): the job is handed over inside a pause, and a
//! normal woken thread may preempt the waker at once (wake-up preemption),
//! which stretches the pause by however long the scheduler lets the GC
//! thread run. The kernel never lets a woken batch task preempt a running
//! one; the GC thread still gets its fair share of CPU at the next tick.
//! Marker threads it starts inherit the policy.

use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A parked thread that runs the jobs it is given, in order.
pub struct BackgroundThread {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundThread {
    /// Starts the thread; fails only if the OS refuses one.
    pub fn spawn() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("gc-background".into())
            .spawn(move || {
                lower_to_batch_policy();
                while let Ok(job) = rx.recv() {
                    job();
                }
            })?;
        Ok(Self {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `job`; false if the thread is gone (a previous job panicked).
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.jobs
            .as_ref()
            .is_some_and(|tx| tx.send(Box::new(job)).is_ok())
    }
}

impl Drop for BackgroundThread {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop after its current job.
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_to_batch_policy() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` reads `param` only during the call; pid 0
    // names the calling thread. A failure leaves the policy unchanged, which
    // is harmless (the thread then runs as a normal one).
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_to_batch_policy() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_in_order_and_survives_drop() {
        let bg = BackgroundThread::spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..5 {
            let tx = tx.clone();
            assert!(bg.run(move || tx.send(i).unwrap()));
        }
        assert_eq!(rx.iter().take(5).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        drop(bg);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_thread_runs_as_a_batch_task() {
        let bg = BackgroundThread::spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        // SAFETY: querying the calling thread's policy has no preconditions.
        assert!(bg.run(move || tx.send(unsafe { libc::sched_getscheduler(0) }).unwrap()));
        assert_eq!(rx.recv().unwrap(), libc::SCHED_BATCH);
    }
}
