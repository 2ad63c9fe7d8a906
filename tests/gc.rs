//! GC KPI benchmarks (spec: max pause < 100 ms, mutator share > 99 %,
//! concurrent multi-threaded marking) on the vm-core collector, driven by
//! binary-trees, GCBench and a steady tree-churn workload.

use std::hint::black_box;
use std::time::{Duration, Instant};

use vm_bench_runtime::{perf_target, Bench};
use vm_core::gc::workloads::{binary_trees, gcbench};
use vm_core::gc::{Gc, GcConfig, GcPlan, PauseKind, Telemetry};

const MB: usize = 1 << 20;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A heap holding one long-lived binary tree of `depth` (3-word nodes).
fn heap_with_tree(plan: GcPlan, depth: u32, limit: usize) -> Gc {
    let mut gc = Gc::new(GcConfig::new(limit, plan)).expect("heap");
    binary_trees::bottom_up_tree(&mut gc, depth).expect("tree");
    gc
}

/// Tree churn: build and check short-lived trees of `depth` while a
/// long-lived tree stays reachable; `passes` walks per tree set the
/// allocation rate.
fn churn(gc: &mut Gc, rounds: usize, depth: u32, passes: usize) -> u64 {
    let m = gc.root_mark();
    let mut sum = 0;
    for _ in 0..rounds {
        let t = binary_trees::bottom_up_tree(gc, depth).expect("alloc");
        for _ in 0..passes {
            sum += binary_trees::item_check(gc, t).expect("check");
        }
        gc.release_to(m);
    }
    sum
}

fn report_pauses(b: &mut Bench, prefix: &str, t: &Telemetry) {
    b.metric(&format!("{prefix}pause_p50_ms"), ms(t.pause_quantile(0.50)));
    b.metric(&format!("{prefix}pause_p99_ms"), ms(t.pause_quantile(0.99)));
    b.metric(&format!("{prefix}max_pause_ms"), ms(t.max_pause()));
}

/// One stretch of a concurrent run, from a cycle's start pause to the next
/// cycle's start pause (the last one to the end of the run): every pause
/// the cycle caused (start, finish, waits for its sweeper) falls inside it.
struct CyclePeriod {
    wall: Duration,
    paused: Duration,
    max_pause: Duration,
}

/// The cycle periods of a run that ended at `end` (offset from heap creation).
fn cycle_periods(t: &Telemetry, end: Duration) -> Vec<CyclePeriod> {
    let starts: Vec<Duration> = t
        .pauses
        .iter()
        .filter(|p| p.kind == PauseKind::ConcurrentStart)
        .map(|p| p.start)
        .collect();
    let mut periods = Vec::new();
    for (i, &from) in starts.iter().enumerate() {
        let to = starts.get(i + 1).copied().unwrap_or(end);
        let inside = t.pauses.iter().filter(|p| p.start >= from && p.start < to);
        periods.push(CyclePeriod {
            wall: to.saturating_sub(from),
            paused: inside.clone().map(|p| p.duration).sum(),
            max_pause: inside.map(|p| p.duration).max().unwrap_or_default(),
        });
    }
    periods
}

/// Total and longest pause per kind, so a regression shows which pause grew.
fn report_pause_kinds(b: &mut Bench, prefix: &str, t: &Telemetry) {
    for (kind, name) in [
        (PauseKind::StopTheWorld, "stw"),
        (PauseKind::ConcurrentStart, "start"),
        (PauseKind::ConcurrentFinish, "finish"),
        (PauseKind::SweepWait, "sweep_wait"),
    ] {
        let of_kind = || t.pauses.iter().filter(move |p| p.kind == kind);
        let total: Duration = of_kind().map(|p| p.duration).sum();
        let max = of_kind().map(|p| p.duration).max().unwrap_or_default();
        b.metric(&format!("{prefix}pause_total_ms_{name}"), ms(total));
        b.metric(&format!("{prefix}pause_max_ms_{name}"), ms(max));
    }
}

#[perf_target(category = "GC")]
#[test]
fn bench_gc_mark_phase(b: &mut Bench) {
    // Live heap sizes: depth d holds 2^(d+1)-1 nodes of 24 bytes.
    for depth in [16u32, 18, 20] {
        let live_mb = ((1usize << (depth + 1)) * 24) / MB;
        for plan in [
            GcPlan::StwMarkSweep,
            GcPlan::ParallelMarkSweep { threads: 2 },
        ] {
            let mut gc = heap_with_tree(plan, depth, (live_mb + 8) * 4 * MB);
            let name = if plan.threads() > 1 { "par2" } else { "stw" };
            for _ in 0..3 {
                gc.collect().expect("collect");
                let c = *gc.telemetry().cycles.last().expect("cycle");
                b.metric(
                    &format!("mark_ms_{name}_live_{live_mb}mb"),
                    ms(c.mark_pause),
                );
            }
        }
    }
}

#[perf_target(category = "GC")]
#[test]
fn bench_gc_sweep_phase(b: &mut Bench) {
    // Sweep time over a heap of mostly garbage (freed trees) plus one live tree.
    for depth in [16u32, 18, 20] {
        let mb = ((1usize << (depth + 1)) * 24) / MB;
        let mut gc = heap_with_tree(GcPlan::StwMarkSweep, depth, (mb + 8) * 8 * MB);
        for _ in 0..3 {
            let m = gc.root_mark();
            binary_trees::bottom_up_tree(&mut gc, depth).expect("garbage");
            gc.release_to(m);
            gc.collect().expect("collect");
            let c = *gc.telemetry().cycles.last().expect("cycle");
            b.metric(&format!("sweep_ms_heap_{}mb", 2 * mb), ms(c.sweep));
        }
    }
}

#[perf_target(
    category = "GC",
    metrics(max_pause_ms < 100.0, max_pause_overall_ms < 100.0)
)]
#[test]
fn bench_gc_pause_time(b: &mut Bench) {
    // Concurrent plan, a ~100 MB long-lived tree (depth 21) in a 512 MB
    // heap, churn of depth-10 trees. The headroom is for floating garbage:
    // objects allocated while a slow (CPU-starved) marker runs are born
    // live, and in a 384 MB heap a loaded 2-core machine once ran it full
    // and fell back to a 100 ms stop-the-world collection (docs/gc.md).
    // Growth factor 0.25 starts a cycle every ~32-40 MB allocated, so one run holds enough cycles for an
    // interval: `max_pause_ms` has one sample per cycle (the longest pause
    // that cycle caused), and the longest pause of the whole run is bounded
    // on its own as well.
    let mut cfg = GcConfig::new(512 * MB, GcPlan::ConcurrentMarkSweep { threads: 1 });
    cfg.growth_factor = 0.25;
    let mut gc = Gc::new(cfg).expect("heap");
    binary_trees::bottom_up_tree(&mut gc, 21).expect("tree");
    // Pauses are read before any forced end-of-run finish: a test that
    // waits for the marker on purpose would add a wait no mutator sees.
    black_box(churn(&mut gc, 15_000, 10, 1));
    let t = gc.telemetry();
    let periods = cycle_periods(t, t.wall_time());
    assert!(periods.len() >= 3, "too few cycles: {}", periods.len());
    for p in &periods {
        b.metric("max_pause_ms", ms(p.max_pause));
    }
    b.metric("max_pause_overall_ms", ms(t.max_pause()));
    b.metric("pause_p50_ms", ms(t.pause_quantile(0.50)));
    b.metric("pause_p99_ms", ms(t.pause_quantile(0.99)));
    b.metric("pauses", t.pauses.len() as f64);
    b.metric("cycles", t.cycles.len() as f64);
    report_pause_kinds(b, "", t);
    b.metric(
        "peak_live_mb",
        t.cycles.iter().map(|c| c.live_bytes).max().unwrap_or(0) as f64 / MB as f64,
    );
}

#[perf_target(category = "GC")]
#[test]
fn bench_concurrent_gc(b: &mut Bench) {
    let run = |plan: GcPlan| {
        let t0 = Instant::now();
        let mut gc = heap_with_tree(plan, 20, 192 * MB);
        black_box(churn(&mut gc, 3_000, 10, 1));
        let t = gc.telemetry().clone();
        gc.finish_cycle().expect("finish");
        (t0.elapsed(), t)
    };
    let (stw_total, stw) = run(GcPlan::StwMarkSweep);
    let (conc_total, conc) = run(GcPlan::ConcurrentMarkSweep { threads: 1 });
    report_pauses(b, "stw_", &stw);
    report_pauses(b, "concurrent_", &conc);
    b.metric("stw_total_ms", ms(stw_total));
    b.metric("concurrent_total_ms", ms(conc_total));
}

#[perf_target(category = "GC", metrics(mutator_share > 0.99))]
#[test]
fn bench_gc_throughput(b: &mut Bench) {
    // Tree churn with 8 walks per tree (allocation rate recorded below) on
    // a 128 MB heap with a small long-lived tree: a cycle starts every
    // 8 MB allocated (1/16 of the heap). `mutator_share` has one sample per
    // cycle period (start pause to the next start pause): the share of that
    // stretch of wall time the mutator was not paused. Marking and sweeping
    // on the background threads are not mutator pauses; their CPU time is
    // reported as `gc_background_cpu_share`.
    // The churn runs once per metric round: while the interval of
    // `mutator_share` straddles its bound, the harness runs it again and
    // pools the per-period samples (see `Bench::metric_rounds`).
    b.metric_rounds(|b| {
        let mut gc = heap_with_tree(GcPlan::ConcurrentMarkSweep { threads: 1 }, 14, 128 * MB);
        let t0 = Instant::now();
        let a0 = gc.telemetry().bytes_allocated;
        black_box(churn(&mut gc, 4_000, 10, 8));
        let wall = t0.elapsed().as_secs_f64();
        let t = gc.telemetry();
        let periods = cycle_periods(t, t.wall_time());
        assert!(periods.len() >= 3, "too few cycles: {}", periods.len());
        for p in periods.iter().filter(|p| !p.wall.is_zero()) {
            b.metric(
                "mutator_share",
                1.0 - p.paused.as_secs_f64() / p.wall.as_secs_f64(),
            );
        }
        b.metric(
            "mutator_share_whole_run",
            1.0 - t.gc_pause_time().as_secs_f64() / wall,
        );
        b.metric(
            "alloc_rate_mb_per_s",
            (t.bytes_allocated - a0) as f64 / MB as f64 / wall,
        );
        b.metric("cycles", t.cycles.len() as f64);
        let background: Duration = t.cycles.iter().map(|c| c.concurrent_mark + c.sweep).sum();
        b.metric("gc_background_cpu_share", background.as_secs_f64() / wall);
        report_pause_kinds(b, "", t);
    });

    // binary-trees (n = 16) figure, whatever it is.
    let mut bt = Gc::new(GcConfig::new(
        256 * MB,
        GcPlan::ConcurrentMarkSweep { threads: 1 },
    ))
    .expect("heap");
    let t0 = Instant::now();
    black_box(binary_trees::run(&mut bt, 16).expect("binary-trees"));
    let wall = t0.elapsed().as_secs_f64();
    let bt_t = bt.telemetry();
    b.metric(
        "binary_trees_mutator_share",
        1.0 - bt_t.gc_pause_time().as_secs_f64() / wall,
    );
    b.metric(
        "binary_trees_alloc_rate_mb_per_s",
        bt_t.bytes_allocated as f64 / MB as f64 / wall,
    );

    let mut gcb = Gc::new(GcConfig::new(
        256 * MB,
        GcPlan::ConcurrentMarkSweep { threads: 1 },
    ))
    .expect("heap");
    let t0 = Instant::now();
    black_box(gcbench::run(&mut gcb, &gcbench::GcBenchParams::CLASSIC).expect("gcbench"));
    let wall = t0.elapsed().as_secs_f64();
    b.metric(
        "gcbench_mutator_share",
        1.0 - gcb.telemetry().gc_pause_time().as_secs_f64() / wall,
    );
}

/// Busy threads competing for every core while a benchmark runs: each
/// computes a xorshift chain (kept with `black_box`) until dropped, so the
/// mutator and the GC thread are scheduled against real CPU demand.
struct CpuHog {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl CpuHog {
    fn start(threads: usize) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
                    let mut rounds = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..4096 {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                        }
                        rounds = rounds.wrapping_add(black_box(x) & 1);
                    }
                    rounds
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[perf_target(category = "GC", metrics(pause_p99_ms < 1.0))]
#[test]
fn bench_gc_pause_under_cpu_hog(b: &mut Bench) {
    // The concurrent plan's pauses while two busy threads (one per core of
    // the 2-core CI machine) compete with the mutator and the GC thread:
    // a pause is wall time, so anything that makes the mutator wait for a
    // core inside one (a thread created or woken in the pause) shows here.
    // Tree churn on a 64 MB heap with a small long-lived tree (depth 12):
    // a cycle every 4 MB or more allocated (1/16 of the heap, or a quarter
    // of the swept extent), about 20 cycles and 40 pauses in 4 s, so p99 is
    // in effect the longest pause. The hog is started and stopped by the
    // test itself.
    const RUN: Duration = Duration::from_secs(4);
    let mut gc = heap_with_tree(GcPlan::ConcurrentMarkSweep { threads: 1 }, 12, 64 * MB);
    let hog = CpuHog::start(2);
    let t0 = Instant::now();
    let mut rounds = 0u64;
    while t0.elapsed() < RUN {
        black_box(churn(&mut gc, 50, 10, 1));
        rounds += 50;
    }
    drop(hog);
    let t = gc.telemetry();
    assert!(t.pauses.len() >= 20, "too few pauses: {}", t.pauses.len());
    b.metric("pause_p99_ms", ms(t.pause_quantile(0.99)));
    b.metric("pause_p50_ms", ms(t.pause_quantile(0.50)));
    b.metric("max_pause_ms", ms(t.max_pause()));
    b.metric("pauses", t.pauses.len() as f64);
    b.metric("cycles", t.cycles.len() as f64);
    b.metric("churn_trees", rounds as f64);
    b.metric(
        "mutator_share_whole_run",
        1.0 - t.gc_pause_time().as_secs_f64() / t.wall_time().as_secs_f64(),
    );
    report_pause_kinds(b, "", t);
}
