//! The concurrent plan's background thread: one per heap, created with it
//! (`Gc::new`) and parked between jobs (marking, then sweeping).
//!
//! Why persistent: creating a thread inside the start or finish pause was
//! where the multi-millisecond pause outliers came from (`docs/gc.md`);
//! handing a job to a parked thread is one channel send.
//!
//! Jobs are handed over *after* the pause that prepared them has been
//! recorded: the hand-over wakes the thread with a system call, and a system
//! call is where the kernel acts on a preemption it has already decided for
//! the mutator (a spent time slice on a loaded machine). Inside the pause that
//! preemption used to stretch it to milliseconds; after it, it lands in
//! mutator time, where it would have landed at the next tick anyway.

use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;

/// Work handed to the background thread.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

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
                while let Ok(job) = rx.recv() {
                    job();
                }
            })?;
        Ok(Self {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `job` and wakes the thread; false if the thread is gone (a
    /// previous job panicked). The wake-up is a system call, and a system
    /// call is where the kernel acts on a preemption it has already decided
    /// (a spent time slice): callers hand jobs over after a pause's clock
    /// has stopped, see `Gc::start_concurrent`.
    pub fn run(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|tx| tx.send(job).is_ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_in_order_and_survives_drop() {
        let bg = BackgroundThread::spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..5 {
            let tx = tx.clone();
            assert!(bg.run(Box::new(move || tx.send(i).unwrap())));
        }
        assert_eq!(rx.iter().take(5).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        drop(bg);
    }
}
