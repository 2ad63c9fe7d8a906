//! Snapshot-at-the-beginning write barrier.
//!
//! While a concurrent cycle marks, every reference the mutator overwrites is
//! logged before it disappears, so each object reachable when the cycle
//! started is either traced by the marker or found through the log. The log
//! is buffered per mutator and flushed in batches to the shared queue the
//! background marker drains.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::object::ObjIndex;

/// Entries a mutator buffers before flushing to the shared queue.
const LOCAL_CAPACITY: usize = 256;

/// State shared between the mutator's barrier and the concurrent marker.
#[derive(Default)]
pub struct SatbQueue {
    /// True from the start pause to the finish pause of a concurrent cycle.
    pub active: AtomicBool,
    pending: Mutex<Vec<ObjIndex>>,
}

impl SatbQueue {
    /// Takes every flushed entry.
    pub fn take(&self) -> Vec<ObjIndex> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push_batch(&self, batch: &mut Vec<ObjIndex>) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(batch);
    }
}

/// The mutator's side of the barrier.
pub struct SatbBarrier {
    shared: Arc<SatbQueue>,
    local: Vec<ObjIndex>,
}

impl SatbBarrier {
    /// A barrier logging into `shared`.
    pub fn new(shared: Arc<SatbQueue>) -> Self {
        Self {
            shared,
            local: Vec::with_capacity(LOCAL_CAPACITY),
        }
    }

    /// Whether a concurrent cycle is marking.
    #[inline]
    pub fn active(&self) -> bool {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Records the overwritten reference `old` (called only while active).
    #[inline]
    pub fn log(&mut self, old: ObjIndex) {
        if old == 0 {
            return;
        }
        self.local.push(old);
        if self.local.len() >= LOCAL_CAPACITY {
            self.shared.push_batch(&mut self.local);
        }
    }

    /// Moves buffered entries to the shared queue (finish pause).
    pub fn flush(&mut self) {
        if !self.local.is_empty() {
            self.shared.push_batch(&mut self.local);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_flushes_in_batches_and_skips_null() {
        let q = Arc::new(SatbQueue::default());
        let mut b = SatbBarrier::new(q.clone());
        b.log(0);
        for i in 1..=LOCAL_CAPACITY as u32 {
            b.log(i);
        }
        assert_eq!(q.take().len(), LOCAL_CAPACITY);
        b.log(7);
        assert!(q.take().is_empty());
        b.flush();
        assert_eq!(q.take(), vec![7]);
    }
}
