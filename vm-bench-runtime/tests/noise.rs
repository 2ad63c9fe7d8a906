//! Noise robustness: with another thread keeping a core busy, a benchmark whose true cost
//! is half its bound passes every one of many runs, and one at twice its bound fails every
//! time. Runs through the registry-style entry point (`runner::execute`) with specs built
//! at run time from the workload's measured cost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vm_bench_runtime::__internal::runner::{execute, RunOptions};
use vm_bench_runtime::__internal::spec::{BenchSpec, BodyForm, ConfigSpec, KpiSpec};
use vm_bench_runtime::artifact::{Mode, Outcome};
use vm_bench_runtime::Bench;

const RUNS: usize = 25;

fn workload() -> u64 {
    let mut acc = 0u64;
    for i in 0..3_000u64 {
        acc = acc
            .wrapping_mul(6364136223846793005)
            .wrapping_add(std::hint::black_box(i));
    }
    acc
}

fn body(b: &mut Bench) {
    b.iter(workload);
}

fn spec(name: &'static str, kpis: Vec<KpiSpec>) -> &'static BenchSpec {
    Box::leak(Box::new(BenchSpec {
        name,
        module_path: "noise",
        file: file!(),
        line: line!(),
        category: None,
        kpis: Box::leak(kpis.into_boxed_slice()),
        config: ConfigSpec::default(),
        form: BodyForm::Bench,
        debug_assertions: cfg!(debug_assertions),
        manifest_dir: env!("CARGO_MANIFEST_DIR"),
        opt_probe: None,
    }))
}

fn max_ns(bound_ns: f64) -> Vec<KpiSpec> {
    vec![KpiSpec::MaxTime {
        bound_ns,
        key: "max_ns",
        written: bound_ns,
    }]
}

/// Keeps one core busy until dropped.
struct Burner(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Burner {
    fn start() -> Burner {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let h = std::thread::spawn(move || {
            let mut x = 1u64;
            while !s.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(3).wrapping_add(1));
            }
        });
        Burner(stop, Some(h))
    }
}

impl Drop for Burner {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn half_bound_always_passes_and_double_bound_always_fails_under_load() {
    let dir = std::env::temp_dir().join(format!("vm-bench-noise-{}", std::process::id()));
    let opts = RunOptions {
        mode: Some(Mode::Enforce),
        dir: Some(dir.clone()),
        quiet: true,
    };
    // The true cost, measured in report mode without load.
    let probe = execute(spec("probe", max_ns(1e12)), body, &opts);
    let cost = probe.artifact.unwrap().timing.unwrap().kept.median;
    assert!(cost > 0.0);

    let _burner = Burner::start();
    let passing = spec("half_of_bound", max_ns(2.0 * cost));
    let failing = spec("twice_the_bound", max_ns(cost / 2.0));
    let mut pass_outcomes = Vec::new();
    let mut fail_outcomes = Vec::new();
    for _ in 0..RUNS {
        let r = execute(passing, body, &opts);
        pass_outcomes.push((r.artifact.unwrap().outcome, r.failures));
        let r = execute(failing, body, &opts);
        fail_outcomes.push((r.artifact.unwrap().outcome, r.failures));
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (o, f) in &pass_outcomes {
        assert_eq!(
            *o,
            Outcome::Passed,
            "cost {cost} ns, bound {}: {f:?}",
            2.0 * cost
        );
    }
    for (o, f) in &fail_outcomes {
        assert_eq!(*o, Outcome::Failed, "cost {cost} ns, bound {}", cost / 2.0);
        assert_eq!(f.len(), 1);
    }
}
