//! The worker loop: find a vCPU, poll it for one quantum, account, repeat;
//! spin briefly and then sleep when there is nothing to run.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_deque::{Steal, Worker};

use super::balance::{any_work, find_runnable, rebalance, Source};
use super::metrics::WorkerCounters;
use super::task::{Task, NOTIFIED, NO_WORKER, RUNNING, SCHEDULED};
use super::Shared;
use crate::exec::{VcpuOutcome, VcpuReport};

/// The worker this thread is, if it is one: wakes issued while a vCPU
/// runs here go to this worker's own queue instead of the injector.
struct WorkerContext {
    shared: *const Shared,
    local: Worker<Arc<Task>>,
}

thread_local! {
    static CONTEXT: RefCell<Option<WorkerContext>> = const { RefCell::new(None) };
}

/// Pushes `task` onto the current thread's run queue if this thread is a
/// worker of `shared`; gives the task back otherwise.
pub(crate) fn push_local(shared: &Shared, task: Arc<Task>) -> Result<(), Arc<Task>> {
    CONTEXT.with(|c| match c.try_borrow() {
        Ok(b) => match b.as_ref() {
            Some(ctx) if std::ptr::eq(ctx.shared, shared) => {
                ctx.local.push(task);
                Ok(())
            }
            _ => Err(task),
        },
        Err(_) => Err(task),
    })
}

fn with_local<R>(f: impl FnOnce(&WorkerContext) -> R) -> R {
    CONTEXT.with(|c| f(c.borrow().as_ref().expect("worker context installed")))
}

/// Runs worker `index` until the scheduler shuts down.
pub(crate) fn run(shared: Arc<Shared>, index: usize, local: Worker<Arc<Task>>) {
    CONTEXT.with(|c| {
        *c.borrow_mut() = Some(WorkerContext {
            shared: Arc::as_ptr(&shared),
            local,
        })
    });
    let mut tick: u32 = 0;
    while !shared.shutdown.load(Ordering::Acquire) {
        tick = tick.wrapping_add(1);
        match next_task(&shared, index, tick) {
            Some(task) => run_task(&shared, index, task),
            None => idle(&shared, index),
        }
    }
    CONTEXT.with(|c| c.borrow_mut().take());
}

fn next_task(shared: &Shared, index: usize, tick: u32) -> Option<Arc<Task>> {
    let counters = &shared.counters[index];
    // vCPUs woken or spawned from outside wait in the injector; a worker
    // that always has local work would otherwise only reach them when its
    // own queue runs dry. Every other poll it takes one from there first,
    // so an external wake waits at most about two quanta of this worker,
    // and the rest of the polls still go to the vCPUs already queued here.
    if tick.is_multiple_of(2) && !shared.injector.is_empty() {
        if let Steal::Success(t) = shared.injector.steal() {
            return Some(t);
        }
    }
    let interval = shared.balance_interval;
    if interval > 0 && tick.is_multiple_of(interval) {
        // Busy workers never steal: even out queue lengths now and then.
        with_local(|ctx| {
            if let Some((_, moved)) = rebalance(index, &ctx.local, &shared.stealers) {
                WorkerCounters::add(&counters.steals, 1);
                WorkerCounters::add(&counters.stolen_tasks, moved as u64);
            }
        });
    }
    with_local(|ctx| {
        // vCPUs placed on this worker by `spawn_on`: move them all to the
        // back of the local queue (where thieves can see them) as soon as
        // they arrive; a worker whose queue never runs dry would otherwise
        // never start them.
        let inbox = &shared.inboxes[index];
        if !inbox.is_empty() {
            while !matches!(inbox.steal_batch(&ctx.local), Steal::Empty) {}
            notify_if_surplus(shared, &ctx.local);
        }
        if let Some(t) = ctx.local.pop() {
            return Some(t);
        }
        let t0 = Instant::now();
        let found = find_runnable(index, &ctx.local, &shared.injector, &shared.stealers);
        match found {
            Some((t, Source::Local)) => Some(t),
            Some((t, Source::Injector)) => {
                notify_if_surplus(shared, &ctx.local);
                Some(t)
            }
            Some((t, Source::Stolen { .. })) => {
                notify_if_surplus(shared, &ctx.local);
                WorkerCounters::add(&counters.steals, 1);
                WorkerCounters::add(&counters.stolen_tasks, ctx.local.len() as u64 + 1);
                WorkerCounters::add(&counters.steal_search_ns, t0.elapsed().as_nanos() as u64);
                Some(t)
            }
            None => {
                WorkerCounters::add(&counters.steal_search_ns, t0.elapsed().as_nanos() as u64);
                None
            }
        }
    })
}

/// Having just taken a batch, wake a sleeping worker if this one now holds
/// more than it runs next, so a burst spreads at once instead of after this
/// worker's next quantum.
fn notify_if_surplus(shared: &Shared, local: &Worker<Arc<Task>>) {
    if !local.is_empty() {
        shared.notify();
    }
}

fn run_task(shared: &Shared, index: usize, task: Arc<Task>) {
    let counters = &shared.counters[index];
    debug_assert_eq!(task.state.load(Ordering::Acquire), SCHEDULED);
    task.state.store(RUNNING, Ordering::Release);
    let start = shared.now_ns();
    let wait = start.saturating_sub(task.runnable_since.load(Ordering::Relaxed));
    shared.hists[index].record(wait);
    WorkerCounters::add(&counters.wait_ns, wait);
    if wait > counters.wait_max_ns.load(Ordering::Relaxed) {
        counters.wait_max_ns.store(wait, Ordering::Relaxed);
    }
    // Only the worker that moved the task to RUNNING writes these, and the
    // state transitions order one run's writes before the next run's reads:
    // plain loads and stores, no locked read-modify-writes.
    WorkerCounters::add(&task.wait_ns, wait);
    WorkerCounters::add(&task.runs, 1);
    let last = task.last_worker.load(Ordering::Relaxed);
    if last != index {
        task.last_worker.store(index, Ordering::Relaxed);
        if last != NO_WORKER {
            WorkerCounters::add(&counters.migrations, 1);
            WorkerCounters::add(&task.migrations, 1);
        }
    }

    let waker = Waker::from(Arc::clone(&task));
    let mut cx = Context::from_waker(&waker);
    let polled = {
        let mut slot = task.future.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            // A guest fault is a value (VcpuOutcome::Faulted); a panic in host
            // code is contained here so only this vCPU ends.
            Some(fut) => catch_unwind(AssertUnwindSafe(|| Pin::new(fut).poll(&mut cx))),
            None => return,
        }
    };
    let end = shared.now_ns();
    WorkerCounters::add(&counters.busy_ns, end.saturating_sub(start));
    WorkerCounters::add(&counters.runs, 1);

    match polled {
        Ok(Poll::Pending) => {
            if task
                .state
                .compare_exchange(
                    RUNNING,
                    super::task::IDLE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
            {
                // Woken during the poll (a yield at the end of its quantum):
                // back of this worker's queue.
                debug_assert_eq!(task.state.load(Ordering::Acquire), NOTIFIED);
                task.state.store(SCHEDULED, Ordering::Release);
                task.runnable_since.store(end, Ordering::Relaxed);
                // Only surplus work is worth waking a sleeping worker for: the
                // task just queued is what this worker runs next otherwise.
                let surplus = with_local(|ctx| {
                    ctx.local.push(task);
                    ctx.local.len() > 1
                });
                if surplus {
                    shared.notify();
                }
            }
        }
        Ok(Poll::Ready(report)) => {
            drop_future(&task);
            task.complete(report);
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            drop_future(&task);
            task.complete(VcpuReport {
                id: task.id,
                outcome: VcpuOutcome::Panicked(msg),
                stats: Default::default(),
                quanta: task.control.quanta(),
                vm: None,
            });
        }
    }
}

/// Drops a finished coroutine (and with it the guest VM) on the worker;
/// a panicking destructor is contained too.
fn drop_future(task: &Task) {
    let fut = task.future.lock().unwrap_or_else(|p| p.into_inner()).take();
    let _ = catch_unwind(AssertUnwindSafe(move || drop(fut)));
}

fn idle(shared: &Shared, index: usize) {
    // Search (spin) for a short while before sleeping: a vCPU woken right
    // after this worker ran dry then starts without a futex wake-up. While a
    // worker searches, wakers do not unpark anybody.
    shared.searching.fetch_add(1, Ordering::SeqCst);
    let deadline = Instant::now() + shared.idle_spin;
    let mut rounds = 0u32;
    loop {
        if any_work(&shared.injector, &shared.stealers)
            || !shared.inboxes[index].is_empty()
            || shared.shutdown.load(Ordering::Acquire)
        {
            shared.searching.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        rounds += 1;
        if rounds.is_multiple_of(16) {
            if Instant::now() >= deadline {
                break;
            }
            // Let a thread that shares this core (the waker, on a 2-core
            // machine) run instead of burning the whole slice.
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    shared.searching.fetch_sub(1, Ordering::SeqCst);

    // Announce the sleep, then look once more: a push that raced with the
    // announcement either sees us parked (and unparks) or is seen here.
    shared.parked[index].store(true, Ordering::SeqCst);
    shared.num_parked.fetch_add(1, Ordering::SeqCst);
    if !any_work(&shared.injector, &shared.stealers)
        && shared.inboxes[index].is_empty()
        && !shared.shutdown.load(Ordering::SeqCst)
    {
        WorkerCounters::add(&shared.counters[index].parks, 1);
        // The timeout is only a safety net; wakes come through `notify`.
        std::thread::park_timeout(Duration::from_millis(50));
    }
    if shared.parked[index].swap(false, Ordering::SeqCst) {
        shared.num_parked.fetch_sub(1, Ordering::SeqCst);
    }
}
