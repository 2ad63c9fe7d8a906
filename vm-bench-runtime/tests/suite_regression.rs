//! A synthetic 20 % regression is detected and an unchanged re-run is not flagged, over
//! many independent sample sets drawn from realistic timing noise: a lognormal body
//! (multiplicative jitter) plus a heavy right tail of preemption spikes, as this 2-core
//! shared machine produces.

use std::collections::BTreeMap;

use vm_bench_runtime::__internal::stats::SplitMix64;
use vm_bench_runtime::suite::baseline::{
    compare, Baseline, Change, CompareConfig, BASELINE_SCHEMA,
};

fn uniform(r: &mut SplitMix64) -> f64 {
    ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn normal(r: &mut SplitMix64) -> f64 {
    // Box-Muller.
    let (u1, u2) = (uniform(r), uniform(r));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` per-iteration times around `median_ns`: 8 % lognormal jitter, 5 % of samples hit
/// by a 1.5x-4x spike.
fn noisy_samples(r: &mut SplitMix64, n: usize, median_ns: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let mut v = median_ns * (0.08 * normal(r)).exp();
            if uniform(r) < 0.05 {
                v *= 1.5 + 2.5 * uniform(r);
            }
            v
        })
        .collect()
}

fn baseline_of(samples: Vec<f64>) -> Baseline {
    let mut benchmarks = BTreeMap::new();
    benchmarks.insert("jit::bench_x".to_string(), samples);
    Baseline {
        schema: BASELINE_SCHEMA,
        name: "v1.0".into(),
        benchmarks,
    }
}

#[test]
fn twenty_percent_regression_detected_and_unchanged_not_flagged_many_times() {
    let cfg = CompareConfig::default();
    let trials = 500;
    let mut rng = SplitMix64::new(0x5EED_2026);
    let (mut detected, mut false_alarms) = (0, 0);
    for t in 0..trials {
        let n = 30 + (t % 4) * 20; // 30..90 samples, like the harness collects
        let base = baseline_of(noisy_samples(&mut rng, n, 1000.0));
        let mut same = BTreeMap::new();
        same.insert(
            "jit::bench_x".to_string(),
            noisy_samples(&mut rng, n, 1000.0),
        );
        let mut slower = BTreeMap::new();
        slower.insert(
            "jit::bench_x".to_string(),
            noisy_samples(&mut rng, n, 1200.0),
        );

        let c = &compare(&base, &same, &cfg)[0];
        if c.change != Change::Unchanged || c.fails {
            false_alarms += 1;
        }
        let c = &compare(&base, &slower, &cfg)[0];
        if c.change == Change::Regressed && c.fails {
            detected += 1;
            let pct = c.change_pct.unwrap();
            assert!((10.0..30.0).contains(&pct), "trial {t}: change {pct}");
        }
    }
    assert_eq!(
        false_alarms, 0,
        "unchanged re-runs flagged {false_alarms}/{trials} times"
    );
    assert_eq!(
        detected, trials,
        "20% regression detected only {detected}/{trials} times"
    );
}

#[test]
fn twenty_percent_improvement_is_reported_as_improved_and_does_not_fail() {
    let cfg = CompareConfig::default();
    let mut rng = SplitMix64::new(7);
    for _ in 0..100 {
        let base = baseline_of(noisy_samples(&mut rng, 50, 1000.0));
        let mut faster = BTreeMap::new();
        faster.insert(
            "jit::bench_x".to_string(),
            noisy_samples(&mut rng, 50, 800.0),
        );
        let c = &compare(&base, &faster, &cfg)[0];
        assert_eq!(c.change, Change::Improved);
        assert!(!c.fails);
        assert!(c.p_value.unwrap() < 1e-6);
    }
}
