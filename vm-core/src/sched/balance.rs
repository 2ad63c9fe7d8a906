//! The load-balancing decision: where an out-of-work worker finds its next vCPU.
//!
//! Order (the same as tokio's multi-thread scheduler, which is the model):
//! own run queue, then a batch from the global injector, then steal half of
//! another worker's queue, trying victims round-robin from the right-hand
//! neighbour so thieves spread over victims instead of all hitting worker 0.
//! Stealing half (crossbeam-deque's `steal_batch_and_pop`) is the classic
//! choice: one decision halves the imbalance between thief and victim, and
//! a worker with one long queue is drained by several thieves in parallel.

use crossbeam_deque::Steal;
/// The queue types the decision works on (re-exported so callers and
/// benchmarks can build the same queues the workers use).
pub use crossbeam_deque::{Injector, Stealer, Worker};

/// Where [`find_runnable`] found work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The worker's own run queue.
    Local,
    /// The global injection queue (spawns and wakes from non-worker threads).
    Injector,
    /// Stolen from worker `victim` (half of its queue moved over).
    Stolen {
        /// The worker robbed.
        victim: usize,
    },
}

/// Finds the next runnable item for worker `me`; moves a batch into `local`
/// when taking from the injector or a victim. `None` when every queue
/// looked empty (a racing push may still land right after: the caller
/// re-checks before parking).
pub fn find_runnable<T>(
    me: usize,
    local: &Worker<T>,
    injector: &Injector<T>,
    stealers: &[Stealer<T>],
) -> Option<(T, Source)> {
    if let Some(t) = local.pop() {
        return Some((t, Source::Local));
    }
    loop {
        let mut retry = false;
        match injector.steal_batch_and_pop(local) {
            Steal::Success(t) => return Some((t, Source::Injector)),
            Steal::Retry => retry = true,
            Steal::Empty => {}
        }
        let n = stealers.len();
        for k in 1..n {
            let victim = (me + k) % n;
            match stealers[victim].steal_batch_and_pop(local) {
                Steal::Success(t) => return Some((t, Source::Stolen { victim })),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        if !retry {
            return None;
        }
    }
}

/// Periodic balancing between workers that all have work (stealing alone
/// only moves work to idle workers, so a worker with 10 vCPUs next to one
/// with 2 would give each of its vCPUs a fifth of the CPU share). If the
/// longest other queue is at least 2 longer than `local`, half the
/// difference moves to the back of `local`. Returns `(victim, moved)`.
pub fn rebalance<T>(
    me: usize,
    local: &Worker<T>,
    stealers: &[Stealer<T>],
) -> Option<(usize, usize)> {
    let mine = local.len();
    let (victim, longest) = stealers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != me)
        .map(|(i, s)| (i, s.len()))
        .max_by_key(|&(_, l)| l)?;
    if longest < mine + 2 {
        return None;
    }
    let limit = (longest - mine) / 2;
    let before = local.len();
    match stealers[victim].steal_batch_with_limit(local, limit) {
        Steal::Success(()) => Some((victim, local.len() - before)),
        _ => None,
    }
}

/// Whether any queue a worker could take from holds work.
pub fn any_work<T>(injector: &Injector<T>, stealers: &[Stealer<T>]) -> bool {
    !injector.is_empty() || stealers.iter().any(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_local_then_injector_then_steal() {
        let w0 = Worker::new_fifo();
        let w1 = Worker::new_fifo();
        let stealers = vec![w0.stealer(), w1.stealer()];
        let inj = Injector::new();
        w0.push(1);
        inj.push(2);
        for i in 10..20 {
            w1.push(i);
        }
        assert_eq!(
            find_runnable(0, &w0, &inj, &stealers),
            Some((1, Source::Local))
        );
        assert_eq!(
            find_runnable(0, &w0, &inj, &stealers),
            Some((2, Source::Injector))
        );
        let (t, src) = find_runnable(0, &w0, &inj, &stealers).unwrap();
        assert_eq!(src, Source::Stolen { victim: 1 });
        assert_eq!(t, 10, "FIFO steal takes the oldest");
        // Half moved: the thief holds the rest of its batch.
        assert_eq!(w0.len() + 1 + w1.len(), 10);
        assert!(
            w0.len() + 1 >= 4 && w1.len() >= 4,
            "{} {}",
            w0.len(),
            w1.len()
        );
        assert!(any_work(&inj, &stealers));
    }

    #[test]
    fn empty_everywhere_is_none() {
        let w0: Worker<u32> = Worker::new_fifo();
        let stealers = vec![w0.stealer()];
        assert_eq!(find_runnable(0, &w0, &Injector::new(), &stealers), None);
        assert!(!any_work(&Injector::<u32>::new(), &stealers));
    }
    #[test]
    fn rebalance_moves_half_the_difference() {
        let w0 = Worker::new_fifo();
        let w1 = Worker::new_fifo();
        let stealers = vec![w0.stealer(), w1.stealer()];
        w0.push(0);
        for i in 1..=11 {
            w1.push(i);
        }
        assert_eq!(rebalance(0, &w0, &stealers), Some((1, 5)));
        assert_eq!((w0.len(), w1.len()), (6, 6));
        assert_eq!(rebalance(0, &w0, &stealers), None, "balanced: no move");
        assert_eq!(rebalance(1, &w1, &stealers), None);
    }
}
