//! Every function form and routine of the public API, measured for real (small workloads
//! with generous bounds, so these never flake: the noise and clear-failure behaviour is
//! covered by `fixture_e2e.rs` and `noise.rs`).

use vm_bench_runtime::{perf_target, registry, Bench};

fn checksum(n: u64) -> u64 {
    (0..n).fold(0u64, |acc, x| {
        acc.wrapping_mul(6364136223846793005)
            .wrapping_add(std::hint::black_box(x))
    })
}

#[perf_target(max_ms = 50, category = "JIT")]
#[test]
fn whole_body_form() {
    std::hint::black_box(checksum(1000));
}

#[perf_target(max_us = 5000, min_ops_per_sec = 100, stat = "p90")]
#[test]
fn bench_form_iter(b: &mut Bench) {
    let n = std::hint::black_box(2000);
    b.iter(|| checksum(n));
}

#[perf_target(max_ms = 20)]
#[test]
fn bench_form_iter_batched(b: &mut Bench) {
    b.iter_batched(
        || (0..256u32).rev().collect::<Vec<_>>(),
        |mut v| {
            v.sort_unstable();
            v
        },
    );
}

#[perf_target(metrics(hit_rate >= 0.5, misses < 100))]
#[test]
fn metrics_single_and_repeated(b: &mut Bench) {
    for i in 0..10 {
        b.metric("hit_rate", 0.9 + f64::from(i) * 0.001);
    }
    b.metric("misses", 3.0);
}

#[perf_target(max_overhead_pct = 400.0, max_overhead_ns = 100_000.0)]
#[test]
fn compare_two_variants(b: &mut Bench) {
    b.compare(|| checksum(1000), || checksum(1100));
}

#[perf_target(min_speedup = 1.5, min_gain_pct = 50.0)]
#[test]
fn compare_speedup(b: &mut Bench) {
    b.compare(|| checksum(4000), || checksum(1000));
}

#[perf_target(max_ms = 50)]
#[test]
async fn async_whole_body() {
    tokio::task::yield_now().await;
    std::hint::black_box(checksum(100));
}

#[perf_target(max_ms = 50, flavor = "multi_thread")]
#[test]
fn sync_body_iter_async(b: &mut Bench) {
    b.iter_async(|| async {
        tokio::task::yield_now().await;
        checksum(100)
    });
}

#[perf_target(max_ms = 50)]
#[test]
async fn async_bench_form(b: &mut Bench) {
    let data = tokio::task::spawn(async { 500u64 }).await.unwrap();
    b.iter_async(|| async move { checksum(data) });
}

#[perf_target(
    max_ms = 50,
    samples = 12,
    iterations = 3,
    warmup_ms = 0,
    measure_ms = 5
)]
#[test]
fn fixed_shape(b: &mut Bench) {
    b.iter(|| checksum(10));
}

#[test]
fn registry_lists_this_binary() {
    let names: Vec<String> = registry::entries().iter().map(|e| e.full_name()).collect();
    for n in [
        "api_forms::whole_body_form",
        "api_forms::bench_form_iter",
        "api_forms::compare_two_variants",
        "api_forms::async_bench_form",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let e = registry::find("api_forms::whole_body_form").unwrap();
    assert_eq!(e.category(), Some("JIT"));
    assert_eq!(e.line(), 16, "line of the fn item");
    assert!(e.file().ends_with("api_forms.rs"));
}

#[perf_target(max_ms = 50)]
#[test]
#[ignore = "shows that other test attributes are kept"]
fn ignored_benchmark() {
    panic!("an ignored benchmark must not run");
}

#[perf_target]
#[test]
fn nested_run_is_refused_not_deadlocked(b: &mut Bench) {
    let inner = registry::find("api_forms::whole_body_form").unwrap();
    let report = inner.run(&Default::default());
    assert!(!report.passed());
    assert!(report.failures[0].contains("cannot run another benchmark"));
    b.metric("nested_refused", 1.0);
}

#[perf_target(max_us = 100, stat = "mean")]
#[test]
fn mean_statistic(b: &mut Bench) {
    b.iter(|| checksum(100));
}

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static MAX_LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An input that counts how many of its kind are alive.
struct Counted(u64);

impl Counted {
    fn new() -> Counted {
        use std::sync::atomic::Ordering::SeqCst;
        let live = LIVE.fetch_add(1, SeqCst) + 1;
        MAX_LIVE.fetch_max(live, SeqCst);
        Counted(live as u64)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[perf_target(max_ms = 10, metrics(max_live_inputs <= 256))]
#[test]
fn iter_batched_bounds_live_inputs(b: &mut Bench) {
    // A cheap routine calibrates to thousands of iterations per sample.
    b.iter_batched(Counted::new, |c| c.0.wrapping_mul(3));
    let max = MAX_LIVE.load(std::sync::atomic::Ordering::SeqCst);
    b.metric("max_live_inputs", max as f64);
}

#[perf_target(max_ms = 50)]
#[test]
fn r#match() {
    std::hint::black_box(checksum(10));
}
