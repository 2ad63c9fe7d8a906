//! Parallel marking: `threads` workers, each with a LIFO deque, stealing
//! batches from each other when their own runs dry (crossbeam-deque).

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use crate::gc::heap::Arena;
use crate::gc::object::ObjIndex;

/// Marks everything reachable from `roots` with `threads` workers: the
/// calling thread and `threads - 1` scoped threads.
/// Returns the number of objects marked.
pub fn mark_parallel(arena: &Arena, roots: &[ObjIndex], threads: usize) -> usize {
    let threads = threads.max(1);
    let injector = Injector::new();
    let mut marked = 0;
    for &r in roots {
        if r != 0 && arena.try_mark(r) {
            marked += 1;
            injector.push(r);
        }
    }
    let workers: Vec<Worker<ObjIndex>> = (0..threads).map(|_| Worker::new_lifo()).collect();
    let stealers: Vec<Stealer<ObjIndex>> = workers.iter().map(Worker::stealer).collect();
    let idle = AtomicUsize::new(0);
    let total = AtomicUsize::new(marked);
    std::thread::scope(|s| {
        let mut workers = workers.into_iter().enumerate();
        // The calling thread is worker 0 (it would only wait otherwise):
        // one thread fewer to create inside the pause.
        let first = workers.next();
        for (id, local) in workers {
            let (injector, stealers, idle, total) = (&injector, &stealers, &idle, &total);
            s.spawn(move || {
                let n = worker_loop(arena, id, &local, injector, stealers, idle, threads);
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
        if let Some((id, local)) = first {
            let n = worker_loop(arena, id, &local, &injector, &stealers, &idle, threads);
            total.fetch_add(n, Ordering::Relaxed);
        }
    });
    total.load(Ordering::Relaxed)
}

fn find_work(
    id: usize,
    local: &Worker<ObjIndex>,
    injector: &Injector<ObjIndex>,
    stealers: &[Stealer<ObjIndex>],
) -> Option<ObjIndex> {
    local.pop().or_else(|| loop {
        let mut retry = false;
        match injector.steal_batch_and_pop(local) {
            Steal::Success(o) => return Some(o),
            Steal::Retry => retry = true,
            Steal::Empty => {}
        }
        for (i, s) in stealers.iter().enumerate() {
            if i == id {
                continue;
            }
            match s.steal_batch_and_pop(local) {
                Steal::Success(o) => return Some(o),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        if !retry {
            return None;
        }
    })
}

/// A worker with at least this many private gray objects shares half of
/// them once its deque is empty.
const SHARE_AT: usize = 32;

// Termination: a worker pushes only while it holds work (its private stack
// is never empty while it marks, and it goes idle only when that stack,
// its deque and every other deque it can see are empty), so when all
// `threads` workers are idle at once every deque is empty and marking is done.
fn worker_loop(
    arena: &Arena,
    id: usize,
    local: &Worker<ObjIndex>,
    injector: &Injector<ObjIndex>,
    stealers: &[Stealer<ObjIndex>],
    idle: &AtomicUsize,
    threads: usize,
) -> usize {
    let mut marked = 0;
    // Gray objects live on a private stack; only when the shared deque has
    // run dry does the worker move the older half there for others to
    // steal. A deque pop costs a full fence, a `Vec` pop does not.
    let mut stack: Vec<ObjIndex> = Vec::new();
    loop {
        while let Some(obj) = stack
            .pop()
            .or_else(|| find_work(id, local, injector, stealers))
        {
            arena.for_each_ref(obj, |child| {
                if arena.try_mark(child) {
                    marked += 1;
                    stack.push(child);
                }
            });
            if stack.len() >= SHARE_AT && local.is_empty() {
                for o in stack.drain(..stack.len() / 2) {
                    local.push(o);
                }
            }
        }
        idle.fetch_add(1, Ordering::AcqRel);
        loop {
            if idle.load(Ordering::Acquire) == threads {
                return marked;
            }
            let work_visible = !injector.is_empty() || stealers.iter().any(|s| !s.is_empty());
            if work_visible {
                idle.fetch_sub(1, Ordering::AcqRel);
                break;
            }
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::object::{is_marked, object_header};

    #[test]
    fn parallel_marks_a_long_list_and_a_wide_fanout() {
        let n = 2000usize;
        let a = Arena::new(1 + n * 3);
        for i in 0..n {
            let at = 1 + i * 3;
            a.set_header(at, object_header(3, 2));
            if i + 1 < n {
                a.store_ref(at as u32, 0, (at + 3) as u32);
            }
            if i * 2 + 1 < n {
                a.store_ref(at as u32, 1, (1 + (i * 2 + 1) * 3) as u32);
            }
        }
        for threads in [1, 2, 4] {
            for i in 0..n {
                a.clear_mark(1 + i * 3);
            }
            assert_eq!(mark_parallel(&a, &[1], threads), n);
            assert!((0..n).all(|i| is_marked(a.header((1 + i * 3) as u32))));
        }
    }
}
