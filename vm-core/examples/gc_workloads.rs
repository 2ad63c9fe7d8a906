//! Runs binary-trees or GCBench on the vm-core collector and prints wall
//! time and GC telemetry; used by `gc-compare/compare.sh` against Boehm GC.
//! Usage: gc_workloads <binary-trees N | gcbench> [stw|par|conc]

use std::time::Instant;

use vm_core::gc::workloads::{binary_trees, gcbench};
use vm_core::gc::{Gc, GcConfig, GcPlan};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let plan = match args.last().map(String::as_str) {
        Some("par") => GcPlan::ParallelMarkSweep { threads: 2 },
        Some("conc") => GcPlan::ConcurrentMarkSweep { threads: 1 },
        _ => GcPlan::StwMarkSweep,
    };
    let mut gc = match Gc::new(GcConfig::new(512 << 20, plan)) {
        Ok(gc) => gc,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let t0 = Instant::now();
    let outcome = match args.get(1).map(String::as_str) {
        Some("binary-trees") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
            binary_trees::run(&mut gc, n).map(|r| format!("{r:?}"))
        }
        Some("gcbench") => {
            gcbench::run(&mut gc, &gcbench::GcBenchParams::CLASSIC).map(|r| format!("{r:?}"))
        }
        _ => {
            eprintln!("usage: gc_workloads <binary-trees N | gcbench> [stw|par|conc]");
            std::process::exit(2);
        }
    };
    let wall = t0.elapsed();
    match outcome {
        Ok(r) => println!("{r}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    let t = gc.telemetry();
    let mark_ms: f64 = t
        .cycles
        .iter()
        .map(|c| c.mark_pause.as_secs_f64() * 1e3)
        .sum();
    let bg_mark_ms: f64 = t
        .cycles
        .iter()
        .map(|c| c.concurrent_mark.as_secs_f64() * 1e3)
        .sum();
    let sweep_ms: f64 = t.cycles.iter().map(|c| c.sweep.as_secs_f64() * 1e3).sum();
    println!(
        "wall_ms {:.1} cycles {} pauses {} max_pause_ms {:.3} p99_pause_ms {:.3} gc_pause_ms {:.1} mutator_share {:.4} mark_ms {:.1} background_mark_ms {:.1} sweep_ms {:.1} allocated_during_sweep {}",
        wall.as_secs_f64() * 1e3,
        t.cycles.len(),
        t.pauses.len(),
        t.max_pause().as_secs_f64() * 1e3,
        t.pause_quantile(0.99).as_secs_f64() * 1e3,
        t.gc_pause_time().as_secs_f64() * 1e3,
        1.0 - t.gc_pause_time().as_secs_f64() / wall.as_secs_f64(),
        mark_ms,
        bg_mark_ms,
        sweep_ms,
        t.objects_allocated_during_sweep
    );
}
