//! Scheduler tests on real guest vCPUs (the committed fib workload and a
//! hand-made faulting program). No test asserts a duration: progress is
//! checked by counts, with generous deadlines only against hangs.

use std::time::{Duration, Instant};

use super::*;
use crate::engine::EngineKind;
use crate::exec::tests::{faulting_vm, fib, fib_vm};

fn cfg(workers: usize, quantum: u64) -> SchedConfig {
    SchedConfig {
        workers,
        quantum_blocks: quantum,
        ..SchedConfig::default()
    }
}

/// Waits until `cond` holds; panics after a minute (a hang, not a slow run).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn invalid_configurations_are_errors() {
    assert!(matches!(
        Scheduler::new(cfg(0, 10)),
        Err(SchedError::ZeroWorkers)
    ));
    assert!(matches!(
        Scheduler::new(cfg(1, 0)),
        Err(SchedError::ZeroQuantum)
    ));
    let s = Scheduler::new(cfg(1, 10)).unwrap();
    let v = Vcpu::new(0, fib_vm(3, EngineKind::Interp), 10).unwrap();
    assert!(matches!(s.spawn_on(5, v), Err(SchedError::NoSuchWorker(5))));
}

#[test]
fn exit_codes_are_collected_per_vcpu() {
    let s = Scheduler::new(cfg(2, 256)).unwrap();
    let ns: Vec<u32> = (5..21).collect();
    let handles: Vec<_> = ns
        .iter()
        .map(|&n| {
            let engine = [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered][n as usize % 3];
            (n, s.spawn_vm(fib_vm(n, engine)))
        })
        .collect();
    for (n, h) in handles {
        let r = h.join();
        assert_eq!(
            r.outcome.exit_code(),
            Some((fib(n as u64) % 200) as i32),
            "fib({n}): {:?}",
            r.outcome
        );
        assert!(r.stats.insns_executed > 0);
        assert!(r.quanta >= 1);
        // The VM comes back in its final state.
        let vm = r.vm.expect("exited vCPU returns its VM");
        assert_eq!(vm.cpu().icount, r.stats.insns_executed);
    }
    let m = s.shutdown();
    assert_eq!(
        (m.spawned, m.exited, m.faulted, m.cancelled),
        (16, 16, 0, 0)
    );
    assert!(m.runs() >= 16);
    assert!(m.wait_count() >= 16);
}

#[test]
fn a_faulting_vcpu_does_not_take_the_others_down() {
    let s = Scheduler::new(cfg(2, 128)).unwrap();
    let good: Vec<_> = (0..4)
        .map(|_| s.spawn_vm(fib_vm(18, EngineKind::Jit)))
        .collect();
    let bad = s.spawn_vm(faulting_vm());
    let more: Vec<_> = (0..4)
        .map(|_| s.spawn_vm(fib_vm(18, EngineKind::Tiered)))
        .collect();
    match bad.join().outcome {
        VcpuOutcome::Faulted(e) => assert!(e.to_string().contains("memory fault"), "{e}"),
        o => panic!("expected a fault, got {o:?}"),
    }
    for h in good.into_iter().chain(more) {
        assert_eq!(h.join().outcome.exit_code(), Some((fib(18) % 200) as i32));
    }
    let m = s.shutdown();
    assert_eq!((m.exited, m.faulted), (8, 1));
}

#[test]
fn cancellation_stops_running_paused_and_queued_vcpus() {
    let s = Scheduler::new(cfg(2, 64)).unwrap();
    // fib(40) runs for minutes: only cancellation ends these.
    let running = s.spawn_vm(fib_vm(40, EngineKind::Jit));
    let paused = s.spawn_vm(fib_vm(40, EngineKind::Jit));
    paused.control().pause();
    eventually("both started", || running.control().quanta() > 3);
    eventually("paused vCPU parks", || paused.control().is_parked());
    let q = paused.control().quanta();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(paused.control().quanta(), q, "a paused vCPU runs no quanta");
    running.cancel();
    paused.cancel();
    let r = running.join();
    assert!(
        matches!(r.outcome, VcpuOutcome::Cancelled),
        "{:?}",
        r.outcome
    );
    assert!(r.stats.insns_executed > 0);
    assert!(matches!(paused.join().outcome, VcpuOutcome::Cancelled));
    // Shutdown cancels what is left and returns.
    let left: Vec<_> = (0..6)
        .map(|_| s.spawn_vm(fib_vm(40, EngineKind::Jit)))
        .collect();
    let m = s.shutdown();
    assert_eq!(m.cancelled, 8);
    for h in left {
        assert!(h.is_finished());
        assert!(matches!(h.join().outcome, VcpuOutcome::Cancelled));
    }
}

#[test]
fn pause_grant_and_resume() {
    let s = Scheduler::new(cfg(1, 32)).unwrap();
    let v = Vcpu::new(9, fib_vm(40, EngineKind::Interp), 32).unwrap();
    v.control().pause();
    let h = s.spawn(v);
    eventually("parks before running", || h.control().is_parked());
    assert_eq!(h.control().quanta(), 0);
    h.control().grant(3);
    eventually("three quanta then park", || {
        h.control().quanta() == 3 && h.control().is_parked()
    });
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(h.control().quanta(), 3);
    h.control().resume();
    eventually("runs freely", || h.control().quanta() > 20);
    h.cancel();
    assert!(matches!(h.join().outcome, VcpuOutcome::Cancelled));
}

#[test]
fn every_vcpu_makes_progress_at_the_same_rate_on_one_worker() {
    let s = Scheduler::new(cfg(1, 64)).unwrap();
    let hs: Vec<_> = (0..6)
        .map(|_| s.spawn_vm(fib_vm(40, EngineKind::Jit)))
        .collect();
    // Until every vCPU has run once the injector still holds some of them.
    eventually("all started", || {
        hs.iter().all(|h| h.control().quanta() > 0)
    });
    let before: Vec<u64> = hs.iter().map(|h| h.control().quanta()).collect();
    eventually("progress", || {
        hs.iter()
            .zip(&before)
            .all(|(h, b)| h.control().quanta() >= b + 100)
    });
    let deltas: Vec<u64> = hs
        .iter()
        .zip(&before)
        .map(|(h, b)| h.control().quanta() - b)
        .collect();
    let (min, max) = (*deltas.iter().min().unwrap(), *deltas.iter().max().unwrap());
    // Round-robin: one quantum apart at any instant; the two unsynchronized
    // reads of each counter add at most one more each.
    assert!(max - min <= 4, "unfair progress: {deltas:?}");
    drop(hs);
    let m = s.shutdown();
    assert_eq!(m.cancelled, 6);
}

#[test]
fn every_vcpu_makes_progress_on_two_workers() {
    let s = Scheduler::new(cfg(2, 64)).unwrap();
    let hs: Vec<_> = (0..9)
        .map(|_| s.spawn_vm(fib_vm(40, EngineKind::Jit)))
        .collect();
    eventually("every vCPU runs many quanta", || {
        hs.iter().all(|h| h.control().quanta() >= 50)
    });
    // Both workers take part (the OS decides when the second one first
    // gets a core, so this is waited for, not asserted at a moment).
    eventually("both workers run vCPUs", || {
        s.metrics().workers.iter().all(|w| w.runs > 0)
    });
    assert!(s.metrics().wait_quantile(0.99).is_some());
    drop(s);
    for h in hs {
        assert!(matches!(h.join().outcome, VcpuOutcome::Cancelled));
    }
}

#[test]
fn an_idle_worker_steals_and_vcpus_migrate() {
    let s = Scheduler::new(cfg(2, 64)).unwrap();
    let hs: Vec<_> = (0..8)
        .map(|i| {
            let v = Vcpu::new(i, fib_vm(40, EngineKind::Jit), 64).unwrap();
            s.spawn_on(0, v).unwrap()
        })
        .collect();
    eventually("worker 1 steals", || {
        let m = s.metrics();
        m.workers[1].steals > 0 && m.migrations() > 0 && m.workers[1].runs > 0
    });
    eventually("stolen vCPUs run on worker 1", || {
        hs.iter().filter(|h| h.migrations() > 0).count() >= 1
    });
    let m = s.shutdown();
    assert!(m.workers[1].stolen_tasks >= 1, "{:?}", m.workers[1]);
    assert!(m.workers.iter().all(|w| w.busy > Duration::ZERO));
}

#[test]
fn a_panicking_vcpu_is_contained() {
    struct Boom;
    impl std::io::Write for Boom {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            panic!("host device failed")
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let s = Scheduler::new(cfg(2, 256)).unwrap();
    let mut vm = crate::engine::Vm::new(
        crate::exec::tests::small_cfg(EngineKind::Interp),
        Box::new(Boom),
        Box::new(std::io::sink()),
    )
    .unwrap();
    vm.load_elf(
        &crate::exec::tests::guest_elf("fib"),
        &["fib".into(), "5".into()],
    )
    .unwrap();
    let bad = s.spawn_vm(vm);
    let good = s.spawn_vm(fib_vm(16, EngineKind::Jit));
    match bad.join().outcome {
        VcpuOutcome::Panicked(m) => assert!(m.contains("host device failed"), "{m}"),
        o => panic!("expected a contained panic, got {o:?}"),
    }
    assert_eq!(
        good.join().outcome.exit_code(),
        Some((fib(16) % 200) as i32)
    );
    assert_eq!(s.shutdown().panicked, 1);
}

#[test]
fn periodic_rebalance_moves_work_between_busy_workers() {
    let s = Scheduler::new(cfg(2, 64)).unwrap();
    let place = |w: usize, n: u64| -> Vec<VcpuHandle> {
        (0..n)
            .map(|i| {
                let v = Vcpu::new(i, fib_vm(40, EngineKind::Jit), 64).unwrap();
                s.spawn_on(w, v).unwrap()
            })
            .collect()
    };
    // Worker 1 always has work of its own, so only rebalancing (not
    // stealing by an idle worker) can even out 10 against 2.
    let mut hs = place(1, 2);
    hs.extend(place(0, 10));
    eventually("rebalanced and run where they were moved", || {
        let m = s.metrics();
        m.workers[1].stolen_tasks >= 3 && m.workers[1].migrations >= 3
    });
    // Every placed vCPU got to run (none is stranded in a placement queue).
    eventually("all ran", || hs.iter().all(|h| h.control().quanta() > 0));
    drop(hs);
    s.shutdown();
}

#[test]
fn concurrent_pause_resume_cancel_never_loses_a_vcpu() {
    // Races the control paths against the workers: every handle must end
    // with a coherent outcome, exited vCPUs with the right status.
    let s = Scheduler::new(cfg(2, 16)).unwrap();
    let hs: Vec<(u32, VcpuHandle)> = (0..40u32)
        .map(|i| {
            let n = 10 + i % 9;
            (n, s.spawn_vm(fib_vm(n, EngineKind::Interp)))
        })
        .collect();
    let mut seed = crate::rng::XorShift64(0x9e37_79b9_7f4a_7c15u64);
    let mut next = || seed.next_u64();
    for _ in 0..2000 {
        let (_, h) = &hs[(next() % hs.len() as u64) as usize];
        match next() % 10 {
            0..=3 => h.control().pause(),
            4..=7 => h.control().resume(),
            8 => h.control().grant(next() % 3),
            _ => {
                if next() % 4 == 0 {
                    h.cancel()
                }
            }
        }
    }
    for (_, h) in &hs {
        h.control().resume();
    }
    let mut exited = 0;
    for (n, h) in hs {
        let r = h.join();
        match r.outcome {
            VcpuOutcome::Exited(c) => {
                assert_eq!(c, (fib(n as u64) % 200) as i32);
                exited += 1;
            }
            VcpuOutcome::Cancelled => {}
            o => panic!("unexpected outcome {o:?}"),
        }
    }
    let m = s.shutdown();
    assert_eq!(m.exited, exited);
    assert_eq!(m.exited + m.cancelled, 40);
}

#[test]
fn a_vcpu_woken_from_inside_another_vcpu_runs() {
    // A console device that resumes a waiting vCPU when the guest writes:
    // the wake happens on a worker thread, inside the writer's quantum, so
    // the woken vCPU goes to that worker's own queue.
    struct Doorbell(Arc<VcpuControl>);
    impl std::io::Write for Doorbell {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.resume();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let s = Scheduler::new(cfg(1, 64)).unwrap();
    let waiter = Vcpu::new(1, fib_vm(12, EngineKind::Interp), 64).unwrap();
    waiter.control().pause();
    let bell = Doorbell(Arc::clone(waiter.control()));
    let waiter = s.spawn(waiter);
    eventually("waiter parks", || waiter.control().is_parked());
    let mut vm = crate::engine::Vm::new(
        crate::exec::tests::small_cfg(EngineKind::Interp),
        Box::new(bell),
        Box::new(std::io::sink()),
    )
    .unwrap();
    vm.load_elf(
        &crate::exec::tests::guest_elf("fib"),
        &["fib".into(), "6".into()],
    )
    .unwrap();
    let writer = s.spawn_vm(vm);
    assert_eq!(writer.join().outcome.exit_code(), Some(fib(6) as i32));
    assert_eq!(
        waiter.join().outcome.exit_code(),
        Some((fib(12) % 200) as i32)
    );
}

#[test]
fn spawning_from_many_threads_at_once() {
    let s = Scheduler::new(cfg(2, 128)).unwrap();
    let handles: Vec<(u32, VcpuHandle)> = std::thread::scope(|sc| {
        let joins: Vec<_> = (0..4u32)
            .map(|t| {
                let s = &s;
                sc.spawn(move || {
                    (0..6u32)
                        .map(|i| {
                            let n = 8 + (t + i) % 7;
                            (n, s.spawn_vm(fib_vm(n, EngineKind::Interp)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        joins.into_iter().flat_map(|j| j.join().unwrap()).collect()
    });
    let mut ids: Vec<u64> = handles.iter().map(|(_, h)| h.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 24, "vCPU ids are unique");
    for (n, h) in handles {
        assert_eq!(
            h.join().outcome.exit_code(),
            Some((fib(n as u64) % 200) as i32)
        );
    }
    let m = s.shutdown();
    assert_eq!((m.spawned, m.exited), (24, 24));
}
