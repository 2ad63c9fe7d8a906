//! Scheduler KPI benchmarks on real guest vCPUs (spec: coroutine creation
//! < 10 us, scheduling latency < 100 us, load imbalance across workers
//! < 30 %). Every vCPU is an instance of the committed `fib` guest program
//! (its argument sets the run length) on the vm-core RV64 VM, scheduled by
//! `vm_core::sched`. How each figure is kept honest on a shared 2-core
//! machine is in docs/scheduler.md.

use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vm_bench_runtime::{perf_target, Bench};
use vm_core::exec::Vcpu;
use vm_core::sched::balance::{find_runnable, Injector, Source, Worker};
use vm_core::sched::{SchedConfig, SchedMetrics, Scheduler, VcpuHandle};
use vm_core::{EngineKind, Vm, VmConfig};

fn fib_elf() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("vm-core/guest/bin/fib.elf");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A guest program instance: the fib workload computing fib(n), in the
/// smallest guest memory the VM accepts and a 4 MiB code cache.
fn fib_vm(elf: &[u8], n: u32, engine: EngineKind) -> Vm {
    let cfg = VmConfig {
        engine,
        mem_size: 16 << 20,
        code_cache_bytes: 4 << 20,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    vm.load_elf(elf, &["fib".into(), n.to_string()]).unwrap();
    vm
}

fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn sched(workers: usize, quantum: u64) -> Scheduler {
    Scheduler::new(SchedConfig {
        workers,
        quantum_blocks: quantum,
        ..SchedConfig::default()
    })
    .unwrap()
}

/// Spawning a vCPU coroutine that owns its guest state (a loaded VM): the
/// coroutine is boxed, registered and queued, and a worker is notified.
/// Building the VM (mmap, ELF load) is setup, reported separately as
/// `vm_build_us`. The spawned vCPUs really run (fib(10)) on the worker.
#[perf_target(max_us = 10, category = "Scheduler")]
#[test]
fn bench_coroutine_creation(b: &mut Bench) {
    let elf = fib_elf();
    let t = Instant::now();
    let n = 20;
    for _ in 0..n {
        black_box(fib_vm(&elf, 10, EngineKind::Tiered));
    }
    b.metric("vm_build_us", us(t.elapsed()) / n as f64);
    let s = sched(1, 4096);
    let mut id = 0;
    b.iter_batched(
        || {
            id += 1;
            Vcpu::new(id, fib_vm(&elf, 10, EngineKind::Tiered), 4096).unwrap()
        },
        |vcpu| s.spawn(vcpu),
    );
    let m = s.shutdown();
    assert_eq!(m.faulted + m.panicked, 0, "{m:?}");
    b.metric("vcpus_spawned", m.spawned as f64);
}

/// Spins, then yields (to share the core with the thread being waited for
/// on a 2-core machine), until `cond` holds. Panics after 30 s, so a lost
/// wake-up fails the benchmark instead of hanging CI.
fn wait_until(cond: impl Fn() -> bool) {
    let mut spins = 0u32;
    let mut deadline: Option<Instant> = None;
    while !cond() {
        spins += 1;
        if spins.is_multiple_of(64) {
            // The clock is read only on the slow path, once per 64 spins.
            let d = *deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(30));
            assert!(
                Instant::now() < d,
                "vCPU did not reach the awaited state in 30 s"
            );
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// p50 and p99 in us of `n` timed resume -> running measurements of the
/// paused vCPU `h`, each taken after `prepare` returned.
fn timed_wakes(h: &VcpuHandle, n: usize, prepare: impl Fn()) -> (f64, f64) {
    let c = h.control();
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            wait_until(|| c.is_parked());
            prepare();
            let q = c.quanta();
            let t = Instant::now();
            c.grant(1);
            wait_until(|| c.quanta() != q);
            us(t.elapsed())
        })
        .collect();
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((p * (n - 1) as f64).round() as usize).min(n - 1)];
    (at(0.5), at(0.99))
}

/// Wake-to-run: a paused vCPU (a fib guest far from its end) is granted
/// one quantum of one block from this thread; the iteration ends when the
/// vCPU has started that quantum *and* parked again, so the figure is an
/// upper bound of resume -> running guest code. One worker: with this
/// thread that is one busy thread per core (more would measure the OS
/// time-sharing our own threads). One wake per sample, so p99 is over
/// single wakes. Reported beside it: the scheduler's own record of the
/// same waits, the wake when the worker is busy running another vCPU
/// (the wake then waits for that vCPU's quantum to end), and the wake of
/// a worker that went to sleep (futex wake-up).
#[perf_target(
    max_us = 100,
    stat = "p99",
    iterations = 1,
    samples = 3000,
    category = "Scheduler"
)]
#[test]
fn bench_scheduling_latency(b: &mut Bench) {
    let s = sched(1, 1);
    let elf = fib_elf();
    let v = Vcpu::new(0, fib_vm(&elf, 40, EngineKind::Jit), 1).unwrap();
    v.control().pause();
    let h = s.spawn(v);
    let c = h.control();
    wait_until(|| c.is_parked());
    let before = s.metrics();
    b.iter(|| {
        let q = c.quanta();
        c.grant(1);
        wait_until(|| c.quanta() != q);
        wait_until(|| c.is_parked());
    });
    let after = s.metrics();
    let q = |p| us(after.wait_quantile_since(&before, p).unwrap_or_default());
    b.metric("sched_wait_p50_us", q(0.5));
    b.metric("sched_wait_p99_us", q(0.99));

    // The worker sleeps (futex) before each wake.
    let (p50, p99) = timed_wakes(&h, 200, || {
        let parks = s.metrics().workers[0].parks;
        wait_until(|| s.metrics().workers[0].parks > parks);
    });
    b.metric("parked_worker_wake_p50_us", p50);
    b.metric("parked_worker_wake_p99_us", p99);

    // The worker is busy with another vCPU at the default quantum.
    let busy = s.spawn(Vcpu::new(1, fib_vm(&elf, 40, EngineKind::Jit), 4096).unwrap());
    wait_until(|| busy.control().quanta() > 100);
    let (p50, p99) = timed_wakes(&h, 1000, || {});
    b.metric("busy_worker_wake_p50_us", p50);
    b.metric("busy_worker_wake_p99_us", p99);
    drop((busy, h));
    s.shutdown();
}

/// Cost of one balancing decision: an out-of-work worker finding the
/// victim and stealing half of its queue of 32 vCPUs
/// (`balance::find_runnable`, the code the workers run), and the
/// imbalance that decision leaves (`imbalance_left_pct`, queued vCPUs of
/// thief vs victim). Then the same on a real run: 16 vCPUs of uneven
/// length (fib(22) .. fib(28)) all placed on worker 0 of 2; `run_imbalance_pct` is the
/// utilization gap left after stealing evened it out, from the moment the
/// sleeping worker 1 first ran (`worker1_start_ms` after the first spawn).
/// That figure is reported, not bounded: a run this short on a host whose
/// load starves one worker thread mid-quantum (a running vCPU cannot be
/// stolen) measured 3 to 55 % at load average 10, so it describes the OS
/// as much as the scheduler; `verify_load_balance` bounds the spec's
/// scenario, and `worker_cpu_share` here says how starved the workers were.
#[perf_target(
    max_ns = 1000,
    metrics(imbalance_left_pct <= 10.0),
    category = "Scheduler"
)]
#[test]
fn bench_load_balancing_overhead(b: &mut Bench) {
    const QUEUED: usize = 32;
    let elf = fib_elf();
    // Queue items shaped like the workers' (an Arc around a locked vCPU).
    let pool: Vec<Arc<Mutex<Vcpu>>> = (0..QUEUED as u64)
        .map(|i| {
            let v = Vcpu::new(i, fib_vm(&elf, 20, EngineKind::Interp), 4096).unwrap();
            Arc::new(Mutex::new(v))
        })
        .collect();
    let setup = || {
        let thief = Worker::new_fifo();
        let victim = Worker::new_fifo();
        for v in &pool {
            victim.push(Arc::clone(v));
        }
        let stealers = vec![thief.stealer(), victim.stealer()];
        (thief, victim, stealers, Injector::new())
    };
    {
        let (thief, victim, stealers, inj) = setup();
        let (_, src) = find_runnable(0, &thief, &inj, &stealers).unwrap();
        assert_eq!(src, Source::Stolen { victim: 1 });
        let thief_side = thief.len() + 1; // the popped one runs now
        let gap = victim.len().abs_diff(thief_side);
        b.metric("imbalance_left_pct", gap as f64 * 100.0 / QUEUED as f64);
    }
    b.iter_batched(setup, |(thief, victim, stealers, inj)| {
        let found = find_runnable(0, &thief, &inj, &stealers);
        (found, thief, victim)
    });

    for _ in 0..3 {
        let s = sched(2, 4096);
        let vcpus: Vec<_> = (0..16u32)
            .map(|i| {
                let n = 22 + (i * 5) % 7;
                let vm = fib_vm(&elf, n, EngineKind::Tiered);
                (n, Vcpu::new(i as u64, vm, 4096).unwrap())
            })
            .collect();
        let before = s.metrics();
        let hs: Vec<_> = vcpus
            .into_iter()
            .map(|(n, v)| (n, s.spawn_on(0, v).unwrap()))
            .collect();
        // Worker 1 is asleep: when it first gets a core is the OS's
        // decision (that wake-up is measured in bench_scheduling_latency),
        // so the utilization window starts once it has run something.
        wait_until(|| s.metrics().workers[1].runs > 0);
        let both_running = s.metrics();
        b.metric(
            "worker1_start_ms",
            (both_running.elapsed - before.elapsed).as_secs_f64() * 1e3,
        );
        for (n, h) in hs {
            assert_eq!(
                h.join().outcome.exit_code(),
                Some((fib(n as u64) % 200) as i32)
            );
        }
        let after = s.metrics();
        b.metric(
            "run_imbalance_pct",
            after.imbalance_pct_since(&both_running),
        );
        let wall = (after.elapsed - both_running.elapsed).as_secs_f64();
        let cpu: f64 = after
            .workers
            .iter()
            .zip(&both_running.workers)
            .filter_map(|(a, b)| Some((a.cpu_time? - b.cpu_time?).as_secs_f64()))
            .sum();
        b.metric("worker_cpu_share", cpu / (wall * 2.0));
        b.metric("run_steals", (after.steals() - before.steals()) as f64);
        b.metric(
            "run_migrations",
            (after.migrations() - before.migrations()) as f64,
        );
        let search: Duration = after.workers.iter().map(|w| w.steal_search).sum();
        b.metric(
            "run_search_ns_per_steal",
            search.as_nanos() as f64 / after.steals().max(1) as f64,
        );
        s.shutdown();
    }
}

/// Utilization of each worker over one run of many vCPUs of uneven length.
fn balance_run(elf: &[u8], workers: usize, vcpus: u32) -> (SchedMetrics, SchedMetrics, Duration) {
    let s = sched(workers, 4096);
    // fib(18) .. fib(25): run lengths differ by a factor of ~30.
    let vms: Vec<_> = (0..vcpus)
        .map(|i| {
            let n = 18 + (i * 5) % 8;
            (n, fib_vm(elf, n, EngineKind::Tiered))
        })
        .collect();
    // The window starts when the first vCPU is spawned (VMs built before).
    let before = s.metrics();
    let hs: Vec<_> = vms.into_iter().map(|(n, vm)| (n, s.spawn_vm(vm))).collect();
    let mut guest = Duration::ZERO;
    for (n, h) in hs {
        let r = h.join();
        assert_eq!(r.outcome.exit_code(), Some((fib(n as u64) % 200) as i32));
        guest += r.stats.total_time;
    }
    let after = s.metrics();
    s.shutdown();
    (before, after, guest)
}

/// Many vCPUs (96, fib(18) .. fib(25)) running guest workloads of uneven
/// length on all workers:
/// (max - min) worker utilization, utilization being each worker's busy
/// time (time inside vCPU polls) over the run's wall time. Busy time is
/// what the scheduler controls; how much of that wall time the OS gave the
/// worker threads is reported beside it (`worker_cpu_share`).
#[perf_target(metrics(imbalance_pct < 30.0), category = "Scheduler")]
#[test]
fn verify_load_balance(b: &mut Bench) {
    let elf = fib_elf();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    for _ in 0..5 {
        let (before, after, guest) = balance_run(&elf, workers, 96);
        let util = after.utilization_since(&before);
        b.metric("imbalance_pct", after.imbalance_pct_since(&before));
        b.metric(
            "min_utilization_pct",
            util.iter().cloned().fold(f64::MAX, f64::min) * 100.0,
        );
        let wall = (after.elapsed - before.elapsed).as_secs_f64();
        b.metric("run_ms", wall * 1e3);
        let cpu: f64 = after
            .workers
            .iter()
            .zip(&before.workers)
            .filter_map(|(a, b)| Some((a.cpu_time? - b.cpu_time?).as_secs_f64()))
            .sum();
        b.metric("worker_cpu_share", cpu / (wall * workers as f64));
        let runs = after.runs() - before.runs();
        let busy: Duration = after
            .workers
            .iter()
            .zip(&before.workers)
            .map(|(a, b)| a.busy - b.busy)
            .sum();
        // Busy time not spent inside Vm::run_blocks, per quantum: the
        // scheduler's own cost (poll, requeue, accounting).
        b.metric(
            "sched_overhead_ns_per_quantum",
            busy.saturating_sub(guest).as_nanos() as f64 / runs as f64,
        );
        b.metric(
            "migrations",
            (after.migrations() - before.migrations()) as f64,
        );
        b.metric(
            "wait_p99_us",
            us(after.wait_quantile_since(&before, 0.99).unwrap_or_default()),
        );
    }
}
