//! What the flame graph's sampling profiler costs (not a test): the rate at which SIGPROF
//! samples actually arrive, and the CPU time each sample takes from the profiled code.
//!
//! Run: `cargo bench -p vm-bench-runtime --bench profiler_overhead`
//!
//! A fixed amount of work (a checksum loop, called 40 frames deep so each sample unwinds a
//! stack as deep as a benchmark body's under libtest) is timed on the thread CPU clock
//! with and without the profiler, in alternating pairs so load drift cancels. The cost
//! per sample is the extra CPU time divided by the samples taken; the drawing afterwards
//! (symbolization and SVG) is reported separately: it happens after the profiled run.

use std::hint::black_box;
use std::time::Instant;

use vm_bench_runtime::__internal::profile::{Session, FREQUENCY_HZ};

/// A checksum over `data`, `rounds` times.
#[inline(never)]
fn checksum(data: &[u64], rounds: u32) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for _ in 0..rounds {
        for &x in data {
            hash = (hash ^ x).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// Calls `checksum` `depth` frames down (not a tail call: the result is combined).
#[inline(never)]
fn nested(depth: u32, data: &[u64], rounds: u32) -> u64 {
    if depth == 0 {
        checksum(black_box(data), rounds)
    } else {
        black_box(nested(depth - 1, data, rounds)).wrapping_add(u64::from(depth))
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "thread CPU clock");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let data: Vec<u64> = (0..100_000).collect();
    // Size the work to about one CPU second.
    let t0 = thread_cpu_ns();
    black_box(nested(40, &data, 10));
    let per_round = (thread_cpu_ns() - t0) as f64 / 10.0;
    let rounds = ((1e9 / per_round) as u32).max(1);
    println!(
        "work: {rounds} rounds of a 100000-element checksum, 40 frames deep (~{:.0} ms CPU)",
        per_round * f64::from(rounds) / 1e6
    );

    let pairs = 7;
    let (mut off, mut on, mut per_sample, mut rate, mut draw) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut samples_seen = Vec::new();
    let mut last_svg = Vec::new();
    for pair in 0..pairs {
        for profiled in [pair % 2 == 0, pair % 2 == 1] {
            if profiled {
                let session = Session::start().expect("the profiler starts");
                let t = thread_cpu_ns();
                black_box(nested(40, &data, rounds));
                let cpu = (thread_cpu_ns() - t) as f64;
                let d = Instant::now();
                let graph = session.finish("overhead").expect("a graph");
                last_svg = graph.svg.clone();
                draw.push(d.elapsed().as_secs_f64() * 1e3);
                on.push(cpu);
                samples_seen.push(graph.samples as f64);
                rate.push(graph.samples as f64 / (cpu / 1e9));
            } else {
                let t = thread_cpu_ns();
                black_box(nested(40, &data, rounds));
                off.push((thread_cpu_ns() - t) as f64);
            }
        }
        let (a, b) = (on[pair as usize], off[pair as usize]);
        per_sample.push((a - b) / samples_seen[pair as usize]);
    }
    let (m_on, m_off) = (median(&mut on.clone()), median(&mut off.clone()));
    println!("requested rate: {FREQUENCY_HZ} samples per CPU second");
    println!(
        "delivered rate: median {:.0} samples per CPU second (samples per run: {:?})",
        median(&mut rate),
        samples_seen
    );
    println!(
        "CPU time of the work: off median {:.1} ms, on median {:.1} ms: overhead {:+.2} %",
        m_off / 1e6,
        m_on / 1e6,
        (m_on / m_off - 1.0) * 100.0
    );
    println!(
        "cost per sample (paired: on - off, / samples): median {:.1} us (pairs: {:?})",
        median(&mut per_sample.clone()) / 1e3,
        per_sample
            .iter()
            .map(|c| format!("{:.1}", c / 1e3))
            .collect::<Vec<_>>()
    );
    println!(
        "drawing after the run (symbolize + SVG): median {:.1} ms",
        median(&mut draw)
    );
    // This binary is built with the bench profile (no debug info unless the workspace
    // asks): which of its functions does the graph name?
    let svg = String::from_utf8_lossy(&last_svg);
    for name in [
        "profiler_overhead::checksum",
        "profiler_overhead::nested",
        "main",
    ] {
        println!(
            "frame `{name}` in the graph: {}",
            if svg.contains(name) { "yes" } else { "NO" }
        );
    }
    let path = std::env::temp_dir().join("profiler_overhead.flame.svg");
    match std::fs::write(&path, &last_svg) {
        Ok(()) => println!("last graph: {}", path.display()),
        Err(e) => println!("could not write {}: {e}", path.display()),
    }
}
