//! Self-benchmark of the harness (not a test): timer overhead per sample, the cost of the
//! harness around an empty body, the smallest operation it measures within +-10 %, and its
//! agreement with divan on fixed workloads in the same run.
//!
//! Run: `cargo bench -p vm-bench-runtime --bench harness_self`
//! (the binary re-runs itself with `VM_BENCH_SELF_DIVAN=1` to get divan's numbers).

use std::hint::black_box;
use std::process::Command;

use vm_bench_runtime::__internal::clock::ClockCalibration;
use vm_bench_runtime::__internal::runner::{execute, RunOptions};
use vm_bench_runtime::__internal::spec::{BenchSpec, BodyForm, ConfigSpec};
use vm_bench_runtime::artifact::{Artifact, Mode};
use vm_bench_runtime::Bench;

fn lcg(n: u64) -> u64 {
    let mut a = 0u64;
    for i in 0..n {
        a = a
            .wrapping_mul(6364136223846793005)
            .wrapping_add(black_box(i));
    }
    a
}

fn unsorted() -> Vec<u32> {
    (0..1000u32)
        .map(|i| i.wrapping_mul(2654435761) >> 7)
        .collect()
}

#[divan::bench]
fn lcg_100() -> u64 {
    lcg(black_box(100))
}
#[divan::bench]
fn lcg_1000() -> u64 {
    lcg(black_box(1000))
}
#[divan::bench]
fn lcg_10000() -> u64 {
    lcg(black_box(10000))
}
#[divan::bench]
fn sort_1000(b: divan::Bencher) {
    b.with_inputs(unsorted).bench_values(|mut v| {
        v.sort_unstable();
        v
    });
}

fn spec(name: &'static str, config: ConfigSpec) -> &'static BenchSpec {
    Box::leak(Box::new(BenchSpec {
        name,
        module_path: "harness_self",
        file: file!(),
        line: line!(),
        category: None,
        kpis: &[],
        config,
        form: BodyForm::Bench,
        debug_assertions: cfg!(debug_assertions),
        manifest_dir: env!("CARGO_MANIFEST_DIR"),
        opt_probe: None,
    }))
}

fn run(name: &'static str, config: ConfigSpec, body: fn(&mut Bench)) -> Artifact {
    let dir = std::env::temp_dir().join("vm-bench-self");
    let opts = RunOptions {
        mode: Some(Mode::Report),
        dir: Some(dir),
        quiet: true,
    };
    execute(spec(name, config), body, &opts)
        .artifact
        .expect("artifact")
}

fn median(a: &Artifact) -> f64 {
    a.timing.as_ref().expect("timing").kept.median
}

/// divan's median per workload, from a child process of this binary.
fn divan_medians() -> Vec<(String, f64)> {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("VM_BENCH_SELF_DIVAN", "1")
        .arg("--bench")
        .output()
        .expect("divan child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('│').collect();
        if cols.len() < 3 {
            continue;
        }
        let Some(name) = cols[0]
            .split("─ ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
        else {
            continue;
        };
        let mut parts = cols[2].split_whitespace();
        let (Some(num), Some(unit)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(num) = num.parse::<f64>() else {
            continue;
        };
        let scale = match unit {
            "ps" => 1e-3,
            "ns" => 1.0,
            "µs" | "us" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            _ => continue,
        };
        v.push((name.to_string(), num * scale));
    }
    v
}

fn main() {
    if std::env::var_os("VM_BENCH_SELF_DIVAN").is_some() {
        divan::main();
        return;
    }
    let cal = ClockCalibration::get();
    println!("== clocks");
    println!(
        "Instant::now cost {:.2} ns, resolution {:.1} ns, thread CPU clock cost {:.1} ns",
        cal.wall_cost_ns,
        cal.wall_resolution_ns,
        cal.cpu_cost_ns.unwrap_or(f64::NAN)
    );

    println!("== per-sample timer overhead (empty body, 1 iteration per sample)");
    let a = run(
        "timer_overhead",
        ConfigSpec {
            iterations: Some(1),
            samples: Some(1000),
            ..ConfigSpec::default()
        },
        |b| b.iter(|| ()),
    );
    println!(
        "in-region overhead per sample: median {:.2} ns (min {:.2}); plus 2 CPU-clock reads outside the region: {:.1} ns",
        median(&a),
        a.timing.as_ref().unwrap().all.min,
        2.0 * cal.cpu_cost_ns.unwrap_or(0.0)
    );

    println!("== harness around an empty body (calibrated)");
    let a = run("empty_body", ConfigSpec::default(), |b| b.iter(|| ()));
    let t = a.timing.as_ref().unwrap();
    println!(
        "median {:.3} ns/iter, {} iterations/sample, {} samples; whole benchmark {:.1} ms (30 ms warm-up included), lock wait {:.3} ms",
        median(&a),
        t.iterations_per_sample,
        t.kept.n,
        a.measurement.elapsed_ms,
        a.measurement.lock_wait_ns / 1e6
    );

    println!("== smallest operation measured within +-10 % (lcg(k), truth = 1000 ops per iteration / 1000)");
    fn one(b: &mut Bench, k: u64) {
        b.iter(|| lcg(black_box(k)));
    }
    fn thousand(b: &mut Bench, k: u64) {
        b.iter(|| {
            for _ in 0..1000 {
                black_box(lcg(black_box(k)));
            }
        });
    }
    macro_rules! ks {
        ($($k:literal),*) => {{
            // The smallest size from which every larger size is also within +-10 %.
            let mut smallest: Option<(u64, f64, f64)> = None;
            $(
                let m = median(&run(concat!("one_", $k), ConfigSpec::default(), |b| one(b, $k)));
                let t = median(&run(concat!("thousand_", $k), ConfigSpec::default(), |b| thousand(b, $k))) / 1000.0;
                let err = (m / t - 1.0) * 100.0;
                println!("lcg({:>3}): harness {:>9.3} ns, truth {:>9.3} ns, error {:+6.1}%", $k, m, t, err);
                if err.abs() > 10.0 {
                    smallest = None;
                } else if smallest.is_none() {
                    smallest = Some(($k, m, t));
                }
            )*
            smallest
        }};
    }
    match ks!(0, 1, 2, 4, 8, 16, 32, 64) {
        Some((k, m, t)) => println!(
            "smallest op within +-10% (and every larger one tried): lcg({k}) = {t:.3} ns (harness {m:.3} ns)"
        ),
        None => println!("no op size measured within +-10%"),
    }

    println!("== agreement with divan (medians, same invocation)");
    let ours: Vec<(&str, f64)> = vec![
        (
            "lcg_100",
            median(&run("lcg_100", ConfigSpec::default(), |b| {
                b.iter(|| lcg(black_box(100)))
            })),
        ),
        (
            "lcg_1000",
            median(&run("lcg_1000", ConfigSpec::default(), |b| {
                b.iter(|| lcg(black_box(1000)))
            })),
        ),
        (
            "lcg_10000",
            median(&run("lcg_10000", ConfigSpec::default(), |b| {
                b.iter(|| lcg(black_box(10000)))
            })),
        ),
        (
            "sort_1000",
            median(&run("sort_1000", ConfigSpec::default(), |b| {
                b.iter_batched(unsorted, |mut v| {
                    v.sort_unstable();
                    v
                })
            })),
        ),
    ];
    let theirs = divan_medians();
    for (name, m) in ours {
        match theirs.iter().find(|(n, _)| n == name) {
            Some((_, d)) => println!(
                "{name:>10}: vm-bench {m:>10.2} ns, divan {d:>10.2} ns, difference {:+.1}%",
                (m / d - 1.0) * 100.0
            ),
            None => println!("{name:>10}: vm-bench {m:>10.2} ns, divan: not parsed"),
        }
    }
}
