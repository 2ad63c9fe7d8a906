//! Contention probe: CPU-bound bodies of known cost (the fixture's `tests/probe.rs`:
//! 100 ns, 10 us, 1 ms, 4 ms and 50 ms at half their bound) must pass every run while a
//! hog keeps both CPUs busy, and bodies at 1.2x their bound must fail every run without
//! the hog. The fixture runs as its own test process (as under `cargo test`); the hog is
//! two spinning threads of this process, started and stopped here.
//!
//! Runs per case and condition: `VM_BENCH_PROBE_RUNS` (default 2, so CI stays within about
//! a minute; `docs/harness.md` has the counts of a 50-run probe). `VM_BENCH_PROBE_ONLY`
//! (comma-separated test names) restricts the cases; `VM_BENCH_SCHEDSTAT=off` is passed on
//! to the fixture and measures the fallback evidence. The whole probe is
//! bounded in time: each fixture run is killed after 120 s and counted as wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vm_bench_runtime::artifact::{Artifact, Outcome};

/// (test name, bound in ns): the fixture's declared bounds.
const CASES: [(&str, f64); 5] = [
    ("probe_100ns", 200.0),
    ("probe_10us", 20e3),
    ("probe_1ms", 2e6),
    ("probe_4ms", 8e6),
    ("probe_50ms", 100e6),
];

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn fixture_target() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    base.join("vm-bench-fixture")
}

/// Builds the fixture's probe test binary and returns its path.
fn build_probe_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "test",
            "--no-run",
            "--message-format=json",
            "--test",
            "probe",
        ])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture/Cargo.toml"))
        .arg("--target-dir")
        .arg(fixture_target())
        .env_remove("CARGO_TARGET_DIR")
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "building the probe fixture failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"]["name"] == "probe")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .expect("the probe test executable")
}

/// Keeps `threads` CPUs busy until dropped; counts its loop turns to prove it ran.
struct Hog {
    stop: Arc<AtomicBool>,
    turns: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Hog {
    fn start(threads: usize) -> Hog {
        let stop = Arc::new(AtomicBool::new(false));
        let turns = Arc::new(AtomicU64::new(0));
        let threads = (0..threads)
            .map(|_| {
                let (stop, turns) = (stop.clone(), turns.clone());
                std::thread::spawn(move || {
                    let mut x = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(x.wrapping_mul(3).wrapping_add(1));
                        }
                        turns.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Hog {
            stop,
            turns,
            threads,
        }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One fixture run's result.
struct RunResult {
    outcome: Option<Outcome>,
    /// Median CPU ns per iteration over the samples.
    cpu_per_iter: f64,
    /// Preempted share of the timed wall time.
    preempted_share: f64,
    detail: String,
}

fn run_case(exe: &Path, case: &str, units: u64, mode: &str, dir: &Path) -> RunResult {
    let artifact_path = dir.join(format!("probe.{case}.json"));
    let _ = std::fs::remove_file(&artifact_path);
    let mut child = Command::new(exe)
        .args([case, "--exact", "--test-threads=1"])
        .env("VM_BENCH_PROBE_UNITS", units.to_string())
        .env("VM_BENCH_MODE", mode)
        .env("VM_BENCH_DIR", dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("VM_BENCH_TARGETS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the probe binary starts");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return RunResult {
                outcome: None,
                cpu_per_iter: f64::NAN,
                preempted_share: f64::NAN,
                detail: format!("{case}: killed after {RUN_TIMEOUT:?}"),
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match Artifact::read(&artifact_path) {
        Ok(a) => {
            let t = a.timing.as_ref().expect("timing");
            let mut cpu: Vec<f64> = t
                .samples
                .iter()
                .filter_map(|s| s.cpu_ns.map(|c| c / s.iterations as f64))
                .collect();
            cpu.sort_by(f64::total_cmp);
            let split = t.wall_split;
            RunResult {
                outcome: Some(a.outcome),
                cpu_per_iter: cpu.get(cpu.len() / 2).copied().unwrap_or(f64::NAN),
                preempted_share: split.preempted_ns.unwrap_or(0.0) / split.wall_ns,
                detail: format!(
                    "{case} units={units}: {:?}, checked on {}, {}/{} descheduled, kpi {:?} \
                     {} ns [{:?}]; {}",
                    a.outcome,
                    t.checked_time.as_str(),
                    t.descheduled_samples,
                    t.samples.len(),
                    a.kpis[0].verdict,
                    a.kpis[0].measured.unwrap_or(f64::NAN),
                    a.kpis[0].interval.as_ref().map(|i| (i.lo, i.hi)),
                    a.failures.join(" | ")
                ),
            }
        }
        Err(e) => RunResult {
            outcome: None,
            cpu_per_iter: f64::NAN,
            preempted_share: f64::NAN,
            detail: format!("{case}: no artifact ({e}):\n{text}"),
        },
    }
}

/// Units of work that make one iteration cost `target_ns` of CPU time: a first guess from
/// a 1 ms calibration run, refined once on the case itself.
fn units_for(exe: &Path, case: &str, target_ns: f64, per_unit: f64, dir: &Path) -> u64 {
    let guess = ((target_ns / per_unit).round() as u64).max(1);
    let r = run_case(exe, case, guess, "report", dir);
    assert!(r.cpu_per_iter.is_finite(), "{}", r.detail);
    ((guess as f64 * target_ns / r.cpu_per_iter).round() as u64).max(1)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[test]
fn half_bound_passes_under_a_two_cpu_hog_and_1_2x_bound_fails_quiet() {
    let runs: usize = std::env::var("VM_BENCH_PROBE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let exe = build_probe_binary();
    let dir = fixture_target().join("probe-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();

    // Cost of one unit of work: a ~1 ms iteration, CPU time, no hog.
    let calib_units = 500_000;
    let r = run_case(&exe, "probe_1ms", calib_units, "report", &dir);
    let per_unit = r.cpu_per_iter / calib_units as f64;
    assert!(per_unit.is_finite() && per_unit > 0.0, "{}", r.detail);
    // `VM_BENCH_PROBE_ONLY=probe_4ms,...` restricts the cases (for measuring by hand).
    let only = std::env::var("VM_BENCH_PROBE_ONLY").unwrap_or_default();
    let plan: Vec<(&str, f64, u64, u64)> = CASES
        .iter()
        .filter(|(case, _)| only.is_empty() || only.split(',').any(|o| o == *case))
        .map(|&(case, bound)| {
            (
                case,
                bound,
                units_for(&exe, case, 0.5 * bound, per_unit, &dir),
                units_for(&exe, case, 1.2 * bound, per_unit, &dir),
            )
        })
        .collect();

    let mut report = vec![format!(
        "probe: {runs} run(s) per case and condition, load average before: {}",
        load()
    )];
    let mut wrong = Vec::new();

    let hog = Hog::start(2);
    let mut preempted_max: f64 = 0.0;
    for &(case, bound, half, _) in &plan {
        let mut false_failures = 0;
        for _ in 0..runs {
            let r = run_case(&exe, case, half, "enforce", &dir);
            preempted_max = preempted_max.max(r.preempted_share);
            if r.outcome != Some(Outcome::Passed) {
                false_failures += 1;
                wrong.push(format!("0.5x under hog: {}", r.detail));
            }
        }
        report.push(format!(
            "0.5x bound ({} ns), 2-CPU hog: {case}: {false_failures} false failure(s) in {runs}",
            bound
        ));
    }
    let turns = hog.turns.load(Ordering::Relaxed);
    drop(hog);
    report.push(format!(
        "hog: {turns} turns; largest preempted share of a run's timed wall time: {:.0}%; \
         load average after the hog: {}",
        preempted_max * 100.0,
        load()
    ));

    for &(case, bound, _, over) in &plan {
        let mut detected = 0;
        for _ in 0..runs {
            let r = run_case(&exe, case, over, "enforce", &dir);
            if r.outcome == Some(Outcome::Failed) {
                detected += 1;
            } else {
                wrong.push(format!("1.2x quiet: {}", r.detail));
            }
        }
        report.push(format!(
            "1.2x bound ({} ns), no hog: {case}: {detected} of {runs} detected",
            bound
        ));
    }
    report.push(format!(
        "probe took {:.0} s; load average at the end: {}",
        started.elapsed().as_secs_f64(),
        load()
    ));
    println!("{}", report.join("\n"));
    assert!(turns > 0, "the hog never ran");
    // With both CPUs hogged, a run of milliseconds-long samples is preempted; if none was,
    // the hog did not compete and this test proved nothing.
    assert!(
        preempted_max > 0.0
            || vm_bench_runtime::__internal::clock::thread_runqueue_wait_ns().is_none(),
        "no preemption observed under the hog"
    );
    assert!(
        wrong.is_empty(),
        "{}\n\nwrong runs:\n{}",
        report.join("\n"),
        wrong.join("\n")
    );
}
