//! Per-vCPU control block shared between the coroutine and its handles.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// Run credit meaning "no limit" (the vCPU is not paused).
const UNLIMITED: u64 = u64::MAX;

/// Cancellation, pause/resume and progress of one vCPU.
///
/// Pausing is a run-credit counter: the coroutine takes one credit per
/// quantum and parks when none is left; [`VcpuControl::resume`] makes the
/// credit unlimited, [`VcpuControl::grant`] allows exactly `n` more quanta.
/// A parked vCPU holds no worker: its waker sits in `gate` until a resume.
pub struct VcpuControl {
    cancelled: AtomicBool,
    credits: AtomicU64,
    parked: AtomicBool,
    gate: Mutex<Option<Waker>>,
    pub(super) quanta: AtomicU64,
}

impl VcpuControl {
    pub(super) fn new() -> Self {
        Self {
            cancelled: AtomicBool::new(false),
            credits: AtomicU64::new(UNLIMITED),
            parked: AtomicBool::new(false),
            gate: Mutex::new(None),
            quanta: AtomicU64::new(0),
        }
    }

    /// Asks the vCPU to stop at its next quantum boundary (a parked vCPU is
    /// woken so it can finish).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.open_gate();
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Parks the vCPU at its next quantum boundary.
    pub fn pause(&self) {
        self.credits.store(0, Ordering::SeqCst);
    }

    /// Lets a paused vCPU run without limit.
    pub fn resume(&self) {
        self.credits.store(UNLIMITED, Ordering::SeqCst);
        self.open_gate();
    }

    /// Lets the vCPU run exactly `n` more quanta, then park.
    pub fn grant(&self, n: u64) {
        self.credits.store(n.min(UNLIMITED - 1), Ordering::SeqCst);
        self.open_gate();
    }

    /// Whether the vCPU is parked waiting for credit.
    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::Acquire)
    }

    /// Quanta started so far (a quantum counts once it begins guest code).
    pub fn quanta(&self) -> u64 {
        self.quanta.load(Ordering::Acquire)
    }

    fn open_gate(&self) {
        let waker = self.gate.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn take_credit(&self) -> bool {
        let mut c = self.credits.load(Ordering::SeqCst);
        loop {
            match c {
                0 => return false,
                UNLIMITED => return true,
                _ => match self.credits.compare_exchange_weak(
                    c,
                    c - 1,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => return true,
                    Err(now) => c = now,
                },
            }
        }
    }

    /// Ready(true) when the vCPU may run a quantum, Ready(false) when it is
    /// cancelled, Pending (waker parked in the gate) when it has no credit.
    pub(super) fn poll_run_credit(&self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.is_cancelled() {
            self.parked.store(false, Ordering::Release);
            return Poll::Ready(false);
        }
        if self.take_credit() {
            self.parked.store(false, Ordering::Release);
            return Poll::Ready(true);
        }
        // Register first, then look again: a resume between the first look
        // and the registration would otherwise find no waker and be lost.
        *self.gate.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        if self.is_cancelled() {
            self.parked.store(false, Ordering::Release);
            return Poll::Ready(false);
        }
        if self.take_credit() {
            self.parked.store(false, Ordering::Release);
            return Poll::Ready(true);
        }
        self.parked.store(true, Ordering::Release);
        Poll::Pending
    }
}
