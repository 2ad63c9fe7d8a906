//! Minimal single-thread driver for one future.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct ThreadWaker {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A self-wake during poll (a yield) only sets the flag; the driver
        // polls again without touching the OS.
        if !self.woken.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }
}

thread_local! {
    // One waker per thread, made once, so driving a quantum allocates nothing.
    static WAKER: (Arc<ThreadWaker>, Waker) = {
        let tw = Arc::new(ThreadWaker {
            woken: AtomicBool::new(false),
            thread: std::thread::current(),
        });
        let w = Waker::from(Arc::clone(&tw));
        (tw, w)
    };
}

/// Drives `fut` to completion on the calling thread: polls, and when the
/// future is pending and has not woken itself, parks until it is woken.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    WAKER.with(|(tw, waker)| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            while !tw.woken.swap(false, Ordering::AcqRel) {
                std::thread::park();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_from_another_thread() {
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = Arc::clone(&flag);
        let t = std::thread::spawn(move || {
            let w = rx.recv().unwrap();
            f2.store(true, Ordering::SeqCst);
            w.wake();
        });
        let mut sent = false;
        let v = block_on(std::future::poll_fn(|cx| {
            if flag.load(Ordering::SeqCst) {
                return Poll::Ready(7);
            }
            if !sent {
                tx.send(cx.waker().clone()).unwrap();
                sent = true;
            }
            Poll::Pending
        }));
        assert_eq!(v, 7);
        t.join().unwrap();
    }
}
