//! vCPU scheduler: many guest vCPUs multiplexed as coroutines on N worker
//! threads, hand-written after tokio's multi-thread scheduler.
//!
//! Each vCPU is a [`Vcpu`] coroutine ([`Vcpu::run`]) that runs one quantum
//! of guest blocks per poll and then yields. Workers own a FIFO run queue
//! (crossbeam-deque); spawns and wakes from outside go to a global injector.
//! An out-of-work worker takes a batch from the injector or steals half of
//! another worker's queue ([`balance::find_runnable`]). A busy worker takes
//! from a non-empty injector every other poll (bounding the wait of a vCPU
//! woken from outside to about two quanta), and every `balance_interval`
//! polls it evens out queue lengths ([`balance::rebalance`]), so vCPUs get
//! a fair share even when no worker is idle. The time slice is the vCPU's quantum
//! (`Vm::run_blocks`), and a yielding vCPU goes to the back of its queue
//! (round-robin). Guest exit, guest faults, cancellation and host panics
//! end only the vCPU concerned; its [`VcpuReport`] is collected through its
//! [`VcpuHandle`].
//!
//! Why hand-written rather than tokio tasks: the scheduler is the product
//! being measured. Tokio hides its queues (no per-task wait time, no
//! migration or steal counts, no per-worker busy time on stable), and a
//! vCPU needs control tokio does not give: cancellation and pause at
//! quantum boundaries, a contained panic per vCPU with its report, and the
//! balancing policy exposed as a function the benchmarks can time.
//! See docs/scheduler.md.

pub mod balance;
mod metrics;
mod task;
mod worker;

pub use metrics::{SchedMetrics, WorkerMetrics};

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Stealer, Worker};
use thiserror::Error;

use crate::engine::Vm;
use crate::exec::{Vcpu, VcpuControl, VcpuOutcome, VcpuReport, DEFAULT_QUANTUM_BLOCKS};
use metrics::{WaitHistogram, WorkerCounters};
use task::{Task, DONE};

/// Invalid scheduler configuration or a failure to start it.
#[derive(Debug, Error)]
pub enum SchedError {
    /// At least one worker thread is needed.
    #[error("a scheduler needs at least one worker")]
    ZeroWorkers,
    /// A quantum of zero blocks would never make progress.
    #[error("quantum must be at least one block")]
    ZeroQuantum,
    /// `spawn_on` named a worker that does not exist.
    #[error("no worker {0}")]
    NoSuchWorker(usize),
    /// The OS refused a worker thread.
    #[error("cannot start worker thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Scheduler configuration.
#[derive(Debug, Clone)]
pub struct SchedConfig {
    /// Worker threads.
    pub workers: usize,
    /// Guest blocks per time slice for vCPUs made by [`Scheduler::spawn_vm`].
    pub quantum_blocks: u64,
    /// How long an out-of-work worker keeps searching before it sleeps.
    pub idle_spin: Duration,
    /// Every this many polls a worker evens out queue lengths with the
    /// longest other queue (0 disables periodic balancing; stealing by idle
    /// workers stays).
    pub balance_interval: u32,
}

impl Default for SchedConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            quantum_blocks: DEFAULT_QUANTUM_BLOCKS,
            idle_spin: Duration::from_micros(50),
            balance_interval: 61,
        }
    }
}

/// State shared by the workers, the wakers and the scheduler handle.
pub(crate) struct Shared {
    start: Instant,
    injector: Injector<Arc<Task>>,
    /// Per-worker placement queues filled by `spawn_on`.
    inboxes: Vec<Injector<Arc<Task>>>,
    stealers: Vec<Stealer<Arc<Task>>>,
    counters: Vec<WorkerCounters>,
    /// Wait-time histogram per worker (each written by its worker only).
    hists: Vec<WaitHistogram>,
    searching: AtomicUsize,
    parked: Vec<AtomicBool>,
    num_parked: AtomicUsize,
    threads: std::sync::OnceLock<Vec<std::thread::Thread>>,
    shutdown: AtomicBool,
    idle_spin: Duration,
    balance_interval: u32,
    /// exited, faulted, cancelled, panicked.
    outcomes: [AtomicU64; 4],
}

impl Shared {
    /// Scheduler clock: ns since start.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Makes a runnable task visible to the workers.
    pub(crate) fn schedule(&self, task: Arc<Task>) {
        if let Err(task) = worker::push_local(self, task) {
            self.injector.push(task);
        }
        self.notify();
    }

    /// Wakes one sleeping worker, unless one is already searching for work
    /// (it will find the new task; waking a second costs a futex call).
    pub(crate) fn notify(&self) {
        if self.searching.load(Ordering::SeqCst) > 0 || self.num_parked.load(Ordering::SeqCst) == 0
        {
            return;
        }
        for (i, p) in self.parked.iter().enumerate() {
            if p.swap(false, Ordering::SeqCst) {
                self.num_parked.fetch_sub(1, Ordering::SeqCst);
                if let Some(t) = self.threads.get() {
                    t[i].unpark();
                }
                return;
            }
        }
    }

    fn wake_all(&self) {
        if let Some(ts) = self.threads.get() {
            for t in ts {
                t.unpark();
            }
        }
    }

    pub(crate) fn count_outcome(&self, o: &VcpuOutcome) {
        let i = match o {
            VcpuOutcome::Exited(_) => 0,
            VcpuOutcome::Faulted(_) => 1,
            VcpuOutcome::Cancelled => 2,
            VcpuOutcome::Panicked(_) => 3,
        };
        self.outcomes[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// The vCPU scheduler. Dropping it cancels the vCPUs still running, waits
/// for them to stop at their next quantum boundary, and joins the workers.
pub struct Scheduler {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    quantum: u64,
    next_id: AtomicU64,
    /// Spawn count, kept here rather than beside the workers' outcome
    /// counters so spawning does not share a cache line with them.
    spawned: AtomicU64,
    tasks: Mutex<Vec<Weak<Task>>>,
}

impl Scheduler {
    /// Starts `cfg.workers` worker threads.
    pub fn new(cfg: SchedConfig) -> Result<Self, SchedError> {
        if cfg.workers == 0 {
            return Err(SchedError::ZeroWorkers);
        }
        if cfg.quantum_blocks == 0 {
            return Err(SchedError::ZeroQuantum);
        }
        let locals: Vec<Worker<Arc<Task>>> = (0..cfg.workers).map(|_| Worker::new_fifo()).collect();
        let shared = Arc::new(Shared {
            start: Instant::now(),
            injector: Injector::new(),
            inboxes: (0..cfg.workers).map(|_| Injector::new()).collect(),
            stealers: locals.iter().map(|w| w.stealer()).collect(),
            counters: (0..cfg.workers)
                .map(|_| WorkerCounters::default())
                .collect(),
            hists: (0..cfg.workers).map(|_| WaitHistogram::new()).collect(),
            searching: AtomicUsize::new(0),
            parked: (0..cfg.workers).map(|_| AtomicBool::new(false)).collect(),
            num_parked: AtomicUsize::new(0),
            threads: std::sync::OnceLock::new(),
            shutdown: AtomicBool::new(false),
            idle_spin: cfg.idle_spin,
            balance_interval: cfg.balance_interval,
            outcomes: Default::default(),
        });
        let mut threads = Vec::with_capacity(cfg.workers);
        for (i, local) in locals.into_iter().enumerate() {
            let sh = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("vcpu-worker-{i}"))
                .spawn(move || worker::run(sh, i, local));
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => {
                    shared.shutdown.store(true, Ordering::SeqCst);
                    for h in &threads {
                        h.thread().unpark();
                    }
                    for h in threads {
                        let _ = h.join();
                    }
                    return Err(SchedError::Thread(e));
                }
            }
        }
        let _ = shared
            .threads
            .set(threads.iter().map(|h| h.thread().clone()).collect());
        Ok(Self {
            shared,
            threads,
            quantum: cfg.quantum_blocks,
            next_id: AtomicU64::new(0),
            spawned: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Spawns a loaded VM as a new vCPU with the configured quantum.
    pub fn spawn_vm(&self, vm: Vm) -> VcpuHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let vcpu = Vcpu::new(id, vm, self.quantum).expect("quantum validated in Scheduler::new");
        self.spawn(vcpu)
    }

    /// Spawns a vCPU coroutine: it is runnable at once, on whichever
    /// worker gets to it first.
    pub fn spawn(&self, vcpu: Vcpu) -> VcpuHandle {
        let task = self.make_task(vcpu);
        self.shared.schedule(Arc::clone(&task));
        VcpuHandle { task }
    }

    /// Spawns a vCPU placed on worker `worker` (a placement hint: other
    /// workers may steal it from there like any queued vCPU).
    pub fn spawn_on(&self, worker: usize, vcpu: Vcpu) -> Result<VcpuHandle, SchedError> {
        if worker >= self.threads.len() {
            return Err(SchedError::NoSuchWorker(worker));
        }
        let task = self.make_task(vcpu);
        // Placement counts as having been on that worker: running it
        // anywhere else is a migration.
        task.last_worker.store(worker, Ordering::Relaxed);
        self.shared.inboxes[worker].push(Arc::clone(&task));
        if self.shared.parked[worker].swap(false, Ordering::SeqCst) {
            self.shared.num_parked.fetch_sub(1, Ordering::SeqCst);
            self.threads[worker].thread().unpark();
        }
        Ok(VcpuHandle { task })
    }

    fn make_task(&self, vcpu: Vcpu) -> Arc<Task> {
        let control = Arc::clone(vcpu.control());
        let id = vcpu.id();
        let task = Arc::new(Task::new(id, vcpu.run(), control, Arc::clone(&self.shared)));
        {
            let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            if tasks.len() == tasks.capacity() {
                tasks.retain(|w| w.strong_count() > 0);
            }
            tasks.push(Arc::downgrade(&task));
        }
        self.spawned.fetch_add(1, Ordering::Relaxed);
        task
    }

    /// A snapshot of the metrics.
    pub fn metrics(&self) -> SchedMetrics {
        let workers = self
            .shared
            .counters
            .iter()
            .zip(&self.threads)
            .map(|(c, h)| {
                let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
                WorkerMetrics {
                    busy: Duration::from_nanos(ld(&c.busy_ns)),
                    runs: ld(&c.runs),
                    wait_total: Duration::from_nanos(ld(&c.wait_ns)),
                    wait_max: Duration::from_nanos(ld(&c.wait_max_ns)),
                    migrations: ld(&c.migrations),
                    steals: ld(&c.steals),
                    stolen_tasks: ld(&c.stolen_tasks),
                    steal_search: Duration::from_nanos(ld(&c.steal_search_ns)),
                    parks: ld(&c.parks),
                    cpu_time: thread_cpu_time(h),
                }
            })
            .collect();
        let mut outcomes = [self.spawned.load(Ordering::Relaxed), 0, 0, 0, 0];
        for (o, c) in outcomes[1..].iter_mut().zip(&self.shared.outcomes) {
            *o = c.load(Ordering::Relaxed);
        }
        SchedMetrics::new(
            self.shared.start.elapsed(),
            workers,
            outcomes,
            &self.shared.hists,
        )
    }

    /// Cancels every vCPU still alive, waits until they have stopped, joins
    /// the workers, and returns the final metrics.
    pub fn shutdown(mut self) -> SchedMetrics {
        self.stop()
    }

    fn stop(&mut self) -> SchedMetrics {
        let live: Vec<Arc<Task>> = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        for t in &live {
            t.control.cancel();
        }
        for t in &live {
            wait_done(t);
        }
        // Read while the worker threads still exist (their CPU clocks).
        let last = self.metrics();
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.wake_all();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        last
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            let _ = self.stop();
        }
    }
}

fn wait_done(t: &Task) {
    let mut r = t.result.lock().unwrap_or_else(|p| p.into_inner());
    while t.state.load(Ordering::Acquire) != DONE {
        r = t.finished.wait(r).unwrap_or_else(|p| p.into_inner());
    }
}

/// CPU time the OS has given thread `h` (CLOCK_THREAD_CPUTIME_ID of another
/// thread through pthread_getcpuclockid).
fn thread_cpu_time(h: &JoinHandle<()>) -> Option<Duration> {
    use std::os::unix::thread::JoinHandleExt;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the pthread_t belongs to a thread we have not joined yet.
    if unsafe { libc::pthread_getcpuclockid(h.as_pthread_t() as libc::pthread_t, &mut clock) } != 0
    {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Handle to a spawned vCPU. Dropping it detaches the vCPU (it keeps running).
pub struct VcpuHandle {
    task: Arc<Task>,
}

impl VcpuHandle {
    /// vCPU id.
    pub fn id(&self) -> u64 {
        self.task.id
    }

    /// The vCPU's control block: cancel, pause, resume, grant, progress.
    pub fn control(&self) -> &VcpuControl {
        &self.task.control
    }

    /// Requests cancellation at the next quantum boundary.
    pub fn cancel(&self) {
        self.task.control.cancel();
    }

    /// Whether the vCPU has ended.
    pub fn is_finished(&self) -> bool {
        self.task.state.load(Ordering::Acquire) == DONE
    }

    /// Quanta this vCPU was polled for.
    pub fn runs(&self) -> u64 {
        self.task.runs.load(Ordering::Relaxed)
    }

    /// Times it ran on a different worker than the time before.
    pub fn migrations(&self) -> u64 {
        self.task.migrations.load(Ordering::Relaxed)
    }

    /// Total time it spent runnable but not running.
    pub fn wait_total(&self) -> Duration {
        Duration::from_nanos(self.task.wait_ns.load(Ordering::Relaxed))
    }

    /// Blocks until the vCPU has ended and returns its report.
    pub fn join(self) -> VcpuReport {
        wait_done(&self.task);
        self.task
            .result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("a finished task has its report until its only handle joins")
    }
}

#[cfg(test)]
mod tests;
