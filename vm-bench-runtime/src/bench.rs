//! The bench context handed to a benchmark body, and the measurement engine behind it:
//! calibration, warm-up, sampling with a relative-error stopping rule, descheduling
//! detection, and bounded re-measurement rounds while a bound is straddled.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use crate::artifact::{
    CheckedTime, CompareResult, Config, Estimate, Interval, KpiResult, MeasurementInfo,
    MetricResult, Mode, OffCpuEvidence, Sample, TimingResult, Verdict, WallSplit,
};
use crate::clock::{thread_cpu_ns, thread_runqueue_wait_ns, ClockCalibration};
use crate::profile::{FlameGraph, ProfilePlan, Session};
use crate::spec::{BenchSpec, BodyForm, CmpOp, Flavor, KpiSpec, RelativeKind, Stat};
use crate::stats::{self, CONFIDENCE};
use crate::verdict::{classify, margin_pct, reason};

/// Most inputs of `iter_batched` alive at once (bounds memory; each batch adds one
/// wall-clock read, about 20 ns, to a timed region of at least 256 iterations).
pub const MAX_LIVE_INPUTS: u64 = 256;

/// A sample is descheduled when the thread was preempted (with schedstat; off-CPU for any
/// reason without it) for more than this share of it...
const DESCHEDULED_SHARE: f64 = 0.05;
/// ...and for more than this many nanoseconds (clock jitter floor).
const DESCHEDULED_FLOOR_NS: f64 = 2_000.0;

/// The benchmark context: times routines, collects metrics, compares variants.
///
/// A body measures one routine (`iter`, `iter_batched`, `iter_async` or `compare`) and may
/// report any number of metrics. Code before the routine is setup and is not timed.
pub struct Bench {
    mode: Mode,
    config: Config,
    runtime: Option<Arc<tokio::runtime::Runtime>>,
    pub(crate) timing: Option<TimingResult>,
    pub(crate) time_kpis: Vec<KpiResult>,
    pub(crate) compare: Option<CompareResult>,
    pub(crate) relative_kpis: Vec<KpiResult>,
    pub(crate) metrics: Vec<(String, Vec<f64>)>,
    pub(crate) info: MeasurementInfo,
    pub(crate) errors: Vec<String>,
    /// The bounds checked: the declared ones, or an override file's (see `targets`).
    pub(crate) kpis: Vec<KpiSpec>,
    routine_used: Option<&'static str>,
    in_metric_rounds: bool,
    /// Set for the profiling run after the verdict: the routine runs for the plan's budget
    /// under the sampling profiler, with nothing timed (see `profile`).
    pub(crate) profile: Option<ProfilePlan>,
    /// Iterations the profiling run gave the routine.
    pub(crate) profiled_iterations: u64,
    /// The routine's flame graph, or why there is none; `None` when the body measured no
    /// routine.
    pub(crate) profiled: Option<Result<FlameGraph, String>>,
}

/// Measures one sample: wall time of the timed region, and around it the thread's CPU
/// time and run-queue wait, which split the wall time into running, preempted and waiting.
pub(crate) struct Timer {
    wait_start: Option<u64>,
    cpu_start: Option<u64>,
    wall_start: Option<Instant>,
    wall_ns: f64,
    cpu_ns: Option<f64>,
    preempted_ns: Option<f64>,
}

impl Timer {
    fn new() -> Timer {
        Timer {
            wait_start: None,
            cpu_start: None,
            wall_start: None,
            wall_ns: 0.0,
            cpu_ns: None,
            preempted_ns: None,
        }
    }

    /// Starts the timed region. The CPU clock and the run-queue wait are read first so
    /// their cost stays outside; the wait last, right before the wall clock, so that a
    /// preemption between the reads (which would count as wait but not as wall time) has
    /// the smallest possible window.
    #[inline(always)]
    fn start(&mut self) {
        self.cpu_start = thread_cpu_ns();
        self.wait_start = thread_runqueue_wait_ns();
        self.wall_start = Some(Instant::now());
    }

    /// Ends the timed region (reads in the mirror order of `start`).
    #[inline(always)]
    fn stop(&mut self) {
        let end = Instant::now();
        let wait_end = thread_runqueue_wait_ns();
        let cpu_end = thread_cpu_ns();
        self.wall_ns = self
            .wall_start
            .map(|s| (end - s).as_nanos() as f64)
            .unwrap_or(0.0);
        self.cpu_ns = match (self.cpu_start, cpu_end) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
            _ => None,
        };
        self.preempted_ns = match (self.wait_start, wait_end) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
            _ => None,
        };
    }
}

/// The effective configuration for a spec in a mode.
pub(crate) fn effective_config(spec: &BenchSpec, mode: Mode, clock: &ClockCalibration) -> Config {
    let c = spec.config;
    let smoke = mode == Mode::Smoke;
    Config {
        stat: spec.stat(),
        warmup_ms: if smoke {
            0.0
        } else {
            c.warmup_ms.unwrap_or(30.0)
        },
        measure_ms: if smoke {
            20.0
        } else {
            c.measure_ms.unwrap_or(300.0)
        },
        samples: if smoke { Some(5) } else { c.samples },
        iterations: c.iterations,
        min_samples: if smoke { 5 } else { 10 },
        max_samples: 5_000,
        target_rel_error: 0.01,
        target_sample_ns: (2_000.0 * clock.wall_cost_ns).max(50_000.0),
        confidence: CONFIDENCE,
        max_rounds: if mode == Mode::Enforce { 3 } else { 1 },
        flavor: match spec.form {
            BodyForm::AsyncBench => Flavor::MultiThread,
            _ => c.flavor,
        },
    }
}

impl Bench {
    pub(crate) fn new(spec: &'static BenchSpec, mode: Mode) -> Bench {
        let clock = ClockCalibration::get();
        let config = effective_config(spec, mode, &clock);
        let info = MeasurementInfo {
            clock_cost_ns: clock.wall_cost_ns,
            clock_resolution_ns: clock.wall_resolution_ns,
            cpu_clock_cost_ns: clock.cpu_cost_ns,
            ..MeasurementInfo::default()
        };
        Bench {
            mode,
            config,
            runtime: None,
            timing: None,
            time_kpis: Vec::new(),
            compare: None,
            relative_kpis: Vec::new(),
            metrics: Vec::new(),
            info,
            errors: Vec::new(),
            kpis: spec.kpis.to_vec(),
            routine_used: None,
            in_metric_rounds: false,
            profile: None,
            profiled_iterations: 0,
            profiled: None,
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The mode the harness runs in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Times `routine`; its result is black-boxed so the work cannot be optimized away.
    pub fn iter<O, F: FnMut() -> O>(&mut self, mut routine: F) {
        self.measure_routine("iter", move |n, timer| {
            timer.start();
            for _ in 0..n {
                black_box(routine());
            }
            timer.stop();
        });
    }

    /// Times `routine` on a fresh input from `setup` per iteration; building the inputs and
    /// dropping the outputs are not timed. At most [`MAX_LIVE_INPUTS`] inputs exist at once:
    /// a sample of more iterations is timed in batches whose times are summed, so large
    /// inputs (a fresh heap, a guest image) do not multiply memory use.
    pub fn iter_batched<I, O, S, R>(&mut self, mut setup: S, mut routine: R)
    where
        S: FnMut() -> I,
        R: FnMut(I) -> O,
    {
        self.measure_routine("iter_batched", move |n, timer| {
            let mut wall = 0.0;
            let mut cpu = Some(0.0);
            let mut preempted = Some(0.0);
            let mut left = n;
            while left > 0 {
                let batch = left.min(MAX_LIVE_INPUTS);
                left -= batch;
                let inputs: Vec<I> = (0..batch).map(|_| setup()).collect();
                let mut outputs: Vec<O> = Vec::with_capacity(inputs.len());
                timer.start();
                for input in inputs {
                    outputs.push(black_box(routine(black_box(input))));
                }
                timer.stop();
                drop(outputs);
                wall += timer.wall_ns;
                cpu = cpu.zip(timer.cpu_ns).map(|(a, b)| a + b);
                preempted = preempted.zip(timer.preempted_ns).map(|(a, b)| a + b);
            }
            timer.wall_ns = wall;
            timer.cpu_ns = cpu;
            timer.preempted_ns = preempted;
        });
    }

    /// Times an async routine: each iteration awaits a fresh future from `routine` on the
    /// harness's tokio runtime (flavour from the attribute's `flavor`, current-thread by
    /// default). Callable from both sync and `async fn` bodies.
    pub fn iter_async<O, Fut, F>(&mut self, mut routine: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = O>,
    {
        let rt = self.async_runtime();
        self.measure_routine("iter_async", move |n, timer| {
            let fut = async {
                timer.start();
                for _ in 0..n {
                    black_box(routine().await);
                }
                timer.stop();
            };
            block_on(&rt, fut);
        });
    }

    /// Whole-body form: the macro routes `fn f()` here.
    #[doc(hidden)]
    pub fn __whole_body<F: FnMut()>(&mut self, mut body: F) {
        self.measure_routine("whole_body", move |n, timer| {
            timer.start();
            for _ in 0..n {
                body();
            }
            timer.stop();
        });
    }

    /// Whole-body async form: the macro routes `async fn f()` here.
    #[doc(hidden)]
    pub fn __whole_body_async<Fut: Future<Output = ()>, F: FnMut() -> Fut>(&mut self, mut body: F) {
        let rt = self.async_runtime();
        self.measure_routine("whole_body_async", move |n, timer| {
            let fut = async {
                timer.start();
                for _ in 0..n {
                    body().await;
                }
                timer.stop();
            };
            block_on(&rt, fut);
        });
    }

    /// The harness's tokio runtime for this benchmark (created on first use).
    pub fn async_runtime(&mut self) -> Arc<tokio::runtime::Runtime> {
        if let Some(rt) = &self.runtime {
            return rt.clone();
        }
        let rt = match self.config.flavor {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread().build(),
            Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build(),
        }
        .map(Arc::new)
        .unwrap_or_else(|e| panic!("vm-bench: cannot build the tokio runtime: {e}"));
        self.runtime = Some(rt.clone());
        rt
    }

    /// Reports a custom metric. Calling it repeatedly with the same name collects samples,
    /// whose mean is checked with a bootstrap interval; a single value is checked as is.
    /// Non-finite values are recorded as an error of the body.
    pub fn metric(&mut self, name: &str, value: f64) {
        if !value.is_finite() {
            self.errors.push(format!(
                "metric `{name}` was reported with the non-finite value {value}"
            ));
            return;
        }
        match self.metrics.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => v.push(value),
            None => self.metrics.push((name.to_string(), vec![value])),
        }
    }

    /// Measures metrics in rounds, so that a metric can be re-measured like a time: `round`
    /// does the measured work once and reports its values with `b.metric(..)` on the
    /// `Bench` it is given. Values of every round are pooled (the checked statistic stays
    /// the mean of all values, with its bootstrap interval). While the interval of a
    /// declared metric bound reported here straddles the bound, `round` runs again, up to
    /// `config.max_rounds` rounds in total (1 outside enforce mode); still straddling after
    /// the last round is INCONCLUSIVE, as for times. Each round and decision is recorded in
    /// `measurement.metric_rounds` and `measurement.decisions`.
    ///
    /// `round` must not measure a routine (`iter`, `compare`, ...): a second round would
    /// measure it twice, which is an error.
    ///
    /// ```no_run
    /// # use vm_bench_runtime::Bench;
    /// # fn run_workload() -> Vec<f64> { vec![0.995, 0.997] }
    /// fn body(b: &mut Bench) {
    ///     b.metric_rounds(|b| {
    ///         for share in run_workload() {
    ///             b.metric("mutator_share", share);
    ///         }
    ///     });
    /// }
    /// ```
    pub fn metric_rounds<F: FnMut(&mut Bench)>(&mut self, mut round: F) {
        if self.in_metric_rounds {
            self.errors
                .push("b.metric_rounds was called inside b.metric_rounds".to_string());
            return;
        }
        self.in_metric_rounds = true;
        // The profiling run does the work once: its values are not checked.
        let max = if self.mode == Mode::Enforce && self.profile.is_none() {
            self.config.max_rounds
        } else {
            1
        };
        let mut reported: Vec<String> = Vec::new();
        for r in 1..=max {
            let before: Vec<(String, usize)> = self
                .metrics
                .iter()
                .map(|(n, v)| (n.clone(), v.len()))
                .collect();
            round(self);
            for (name, values) in &self.metrics {
                let old = before
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0, |(_, l)| *l);
                if values.len() > old && !reported.contains(name) {
                    reported.push(name.clone());
                }
            }
            self.info.metric_rounds = r;
            let straddling: Vec<&'static str> = self
                .kpis
                .iter()
                .filter_map(|k| match *k {
                    KpiSpec::Metric { name, op, bound } if reported.iter().any(|n| n == name) => {
                        let values = &self.metrics.iter().find(|(n, _)| n == name)?.1;
                        let interval = metric_interval(values);
                        (crate::verdict::classify(op, bound, &interval) == Verdict::Inconclusive)
                            .then_some(name)
                    }
                    _ => None,
                })
                .collect();
            if straddling.is_empty() {
                break;
            }
            if r == max {
                self.info.decisions.push(format!(
                    "metric round {r}: interval of {} still straddles its bound after the \
                     last round; verdict inconclusive (not a failure)",
                    straddling.join(", ")
                ));
                break;
            }
            self.info.decisions.push(format!(
                "metric round {r}: interval of {} straddles its bound; measuring again",
                straddling.join(", ")
            ));
        }
        self.in_metric_rounds = false;
    }

    /// Measures `baseline` and `candidate` interleaved (pairs alternate their order:
    /// A B, B A, A B, ... so drift and order effects cancel) and checks the relative bounds
    /// (`max_overhead_pct`, `min_speedup`, `max_overhead_ns`, `min_gain_pct`) on the paired
    /// ratios and differences. Results are black-boxed.
    pub fn compare<A, B, OA, OB>(&mut self, mut baseline: A, mut candidate: B)
    where
        A: FnMut() -> OA,
        B: FnMut() -> OB,
    {
        if !self.claim_routine("compare") {
            return;
        }
        let mut a = move |n: u64, timer: &mut Timer| {
            timer.start();
            for _ in 0..n {
                black_box(baseline());
            }
            timer.stop();
        };
        let mut b = move |n: u64, timer: &mut Timer| {
            timer.start();
            for _ in 0..n {
                black_box(candidate());
            }
            timer.stop();
        };
        if self.mode == Mode::Off {
            a(1, &mut Timer::new());
            b(1, &mut Timer::new());
            return;
        }
        if let Some(plan) = self.profile.clone() {
            // Both sides, alternating as when measured: the graph shows where each spends.
            return self.run_profiled(&plan, |timer| {
                a(plan.iterations, timer);
                b(plan.candidate_iterations, timer);
                plan.iterations + plan.candidate_iterations
            });
        }
        self.run_compare(&mut a, &mut b);
    }

    /// Runs `step` (one timed batch; returns its iteration count) under the sampling
    /// profiler until the plan's CPU budget is spent, and keeps the flame graph (or why
    /// there is none). The timer's readings are discarded: the verdict is already made.
    fn run_profiled(&mut self, plan: &ProfilePlan, mut step: impl FnMut(&mut Timer) -> u64) {
        let session = match Session::start() {
            Ok(s) => s,
            Err(e) => return self.profiled = Some(Err(e)),
        };
        let mut timer = Timer::new();
        let budget = crate::profile::Budget::start();
        loop {
            self.profiled_iterations += step(&mut timer);
            if budget.spent() {
                self.profiled = Some(session.finish(&plan.title));
                return;
            }
        }
    }

    fn claim_routine(&mut self, name: &'static str) -> bool {
        if let Some(prev) = self.routine_used {
            self.errors.push(format!(
                "the body measured a second routine (`{name}` after `{prev}`); a benchmark \
                 measures exactly one routine"
            ));
            return false;
        }
        self.routine_used = Some(name);
        true
    }

    fn measure_routine(&mut self, name: &'static str, mut sampler: impl FnMut(u64, &mut Timer)) {
        if !self.claim_routine(name) {
            return;
        }
        if self.mode == Mode::Off {
            sampler(1, &mut Timer::new());
            return;
        }
        if let Some(plan) = self.profile.clone() {
            // The loop the verdict timed, at its sample size, and only it: the setup
            // before it is not sampled.
            return self.run_profiled(&plan, |timer| {
                sampler(plan.iterations, timer);
                plan.iterations
            });
        }
        let mut samples: Vec<Sample> = Vec::new();
        let n = self.warm_up_and_calibrate(&mut sampler);
        let time_specs: Vec<KpiSpec> = self
            .kpis
            .iter()
            .copied()
            .filter(|k| matches!(k, KpiSpec::MaxTime { .. } | KpiSpec::MinThroughput { .. }))
            .collect();
        let mut round = 0;
        loop {
            round += 1;
            let stop = self.sample_round(&mut sampler, n, round, &mut samples);
            self.info
                .stop_reasons
                .push(format!("round {round}: {stop}"));
            let timing = build_timing(name, n, &samples, self.config.stat);
            let kpis = time_kpi_results(&time_specs, &timing, self.config.stat);
            let straddling: Vec<&str> = kpis
                .iter()
                .filter(|k| k.verdict == Verdict::Inconclusive)
                .map(|k| k.key.as_str())
                .collect();
            self.info.rounds = round;
            if !straddling.is_empty() && round < self.config.max_rounds {
                self.info.decisions.push(format!(
                    "round {round}: interval of {} straddles its bound; measuring again",
                    straddling.join(", ")
                ));
                continue;
            }
            if !straddling.is_empty() {
                self.info.decisions.push(format!(
                    "round {round}: interval of {} still straddles its bound after the last \
                     round; verdict inconclusive (not a failure)",
                    straddling.join(", ")
                ));
            }
            if timing.descheduled_samples > 0 {
                self.info.decisions.push(format!(
                    "{} of {} samples descheduled ({}); {}",
                    timing.descheduled_samples,
                    timing.samples.len(),
                    match timing.off_cpu_evidence {
                        OffCpuEvidence::Schedstat => "preempted: run-queue wait from schedstat",
                        _ =>
                            "off-CPU by the thread CPU clock; schedstat unavailable, so \
                              preemption cannot be told from the body's own waiting",
                    },
                    match timing.checked_time {
                        CheckedTime::WallExcludingDescheduled => {
                            "excluded from the checked statistic (a minority)"
                        }
                        CheckedTime::WallMinusPreemption => {
                            "the majority: each sample's run-queue wait is subtracted from its \
                             wall time for the checked statistic"
                        }
                        CheckedTime::Wall => {
                            "kept: they are the majority, so the body itself waits off-CPU"
                        }
                    }
                ));
            }
            self.timing = Some(timing);
            self.time_kpis = kpis;
            return;
        }
    }

    /// Ramps iterations up (doubling) until a sample reaches a quarter of the target sample
    /// time, derives iterations per sample from that, then warms up for `warmup_ms` at that
    /// size. Returns iterations per sample.
    fn warm_up_and_calibrate(&mut self, sampler: &mut impl FnMut(u64, &mut Timer)) -> u64 {
        let start = Instant::now();
        let target = self.config.target_sample_ns;
        let mut timer = Timer::new();
        let mut n: u64 = 1;
        let per_iter;
        loop {
            sampler(n, &mut timer);
            self.info.warmup_iterations += n;
            if timer.wall_ns >= target / 4.0 || n >= 1 << 40 {
                per_iter = (timer.wall_ns / n as f64).max(0.01);
                break;
            }
            n *= 2;
        }
        let n = match self.config.iterations {
            Some(fixed) => fixed,
            None => ((target / per_iter).ceil() as u64).max(1),
        };
        let warmup_ns = self.config.warmup_ms * 1e6;
        while (start.elapsed().as_nanos() as f64) < warmup_ns {
            sampler(n, &mut timer);
            self.info.warmup_iterations += n;
        }
        n
    }

    /// Collects one round of samples; returns why it stopped.
    fn sample_round(
        &mut self,
        sampler: &mut impl FnMut(u64, &mut Timer),
        n: u64,
        round: u32,
        samples: &mut Vec<Sample>,
    ) -> String {
        let target = round_target(self.config.target_rel_error, round);
        let mut timer = Timer::new();
        let mut budget = RoundBudget::new(&self.config, "sample");
        loop {
            sampler(n, &mut timer);
            samples.push(make_sample(n, &timer, round));
            match budget.after_sample() {
                RoundStep::Stop(why) => return why,
                RoundStep::Continue => {}
                RoundStep::CheckPrecision => {
                    let rel = relative_error(samples, self.config.stat);
                    if rel <= target {
                        return format!(
                            "relative error {:.2}% <= {:.2}% after {} samples",
                            rel * 100.0,
                            target * 100.0,
                            budget.taken
                        );
                    }
                }
            }
        }
    }

    fn run_compare(
        &mut self,
        a: &mut impl FnMut(u64, &mut Timer),
        b: &mut impl FnMut(u64, &mut Timer),
    ) {
        let na = self.warm_up_and_calibrate(a);
        let nb = self.warm_up_and_calibrate(b);
        let rel_specs: Vec<KpiSpec> = self
            .kpis
            .iter()
            .copied()
            .filter(|k| matches!(k, KpiSpec::Relative { .. }))
            .collect();
        let mut pairs: Vec<(Sample, Sample)> = Vec::new();
        let mut round = 0;
        let mut ta = Timer::new();
        let mut tb = Timer::new();
        loop {
            round += 1;
            let mut budget = RoundBudget::new(&self.config, "pair");
            let stop = loop {
                // Alternate the order so drift and order effects cancel: A B, B A, ...
                if pairs.len() & 1 == 0 {
                    a(na, &mut ta);
                    b(nb, &mut tb);
                } else {
                    b(nb, &mut tb);
                    a(na, &mut ta);
                }
                pairs.push((make_sample(na, &ta, round), make_sample(nb, &tb, round)));
                match budget.after_sample() {
                    RoundStep::Stop(why) => break why,
                    RoundStep::Continue => {}
                    RoundStep::CheckPrecision => {
                        let result = build_compare(&pairs, na, nb);
                        let r = result.ratio;
                        let rel = (r.interval.hi - r.interval.lo) / 2.0 / r.value.abs();
                        let target = round_target(self.config.target_rel_error, round);
                        if rel <= target {
                            break format!(
                                "ratio relative error {:.2}% <= {:.2}% after {} pairs",
                                rel * 100.0,
                                target * 100.0,
                                budget.taken
                            );
                        }
                    }
                }
            };
            self.info
                .stop_reasons
                .push(format!("round {round}: {stop}"));
            self.info.rounds = round;
            let result = build_compare(&pairs, na, nb);
            let kpis = relative_kpi_results(&rel_specs, &result);
            let straddling: Vec<&str> = kpis
                .iter()
                .filter(|k| k.verdict == Verdict::Inconclusive)
                .map(|k| k.key.as_str())
                .collect();
            if !straddling.is_empty() && round < self.config.max_rounds {
                self.info.decisions.push(format!(
                    "round {round}: interval of {} straddles its bound; measuring again",
                    straddling.join(", ")
                ));
                continue;
            }
            if !straddling.is_empty() {
                self.info.decisions.push(format!(
                    "round {round}: interval of {} still straddles its bound after the last \
                     round; verdict inconclusive (not a failure)",
                    straddling.join(", ")
                ));
            }
            self.compare = Some(result);
            self.relative_kpis = kpis;
            return;
        }
    }

    /// The results of metrics, in report order.
    pub(crate) fn metric_results(&self) -> Vec<MetricResult> {
        self.metrics
            .iter()
            .map(|(name, values)| {
                let value = stats::mean(values);
                let interval = metric_interval(values);
                MetricResult {
                    name: name.clone(),
                    values: values.clone(),
                    value,
                    interval,
                }
            })
            .collect()
    }
}

/// The stopping rule's target in a round: halved each round, because a re-measurement is
/// only useful if it narrows the interval (samples are pooled, so the first round's target
/// is already met when round 2 starts).
/// What a round does after one more sample (or pair).
enum RoundStep {
    /// The round is over, for the reason given.
    Stop(String),
    /// Keep sampling without looking at precision yet.
    Continue,
    /// Enough new samples since the last check: test the precision target.
    CheckPrecision,
}

/// The budget side of the stopping rule, shared by plain rounds and paired
/// (compare) rounds: fixed counts, the sample cap, the time budget and its
/// hard limit, and the geometric schedule of precision checks. Only the
/// precision test itself differs between the two.
struct RoundBudget {
    start: Instant,
    measure_ms: f64,
    fixed: Option<u32>,
    min: usize,
    max: usize,
    taken: usize,
    next_check: usize,
    unit: &'static str,
}

impl RoundBudget {
    fn new(config: &Config, unit: &'static str) -> RoundBudget {
        RoundBudget {
            start: Instant::now(),
            measure_ms: config.measure_ms,
            fixed: config.samples,
            min: config.min_samples,
            max: config.max_samples,
            taken: 0,
            next_check: config.min_samples,
            unit,
        }
    }

    fn after_sample(&mut self) -> RoundStep {
        self.taken += 1;
        let (taken, unit) = (self.taken, self.unit);
        let elapsed_ms = self.start.elapsed().as_nanos() as f64 / 1e6;
        if let Some(fixed) = self.fixed {
            return if taken >= fixed as usize {
                RoundStep::Stop(format!("fixed {unit} count {fixed} reached"))
            } else {
                RoundStep::Continue
            };
        }
        if taken >= self.max {
            return RoundStep::Stop(format!("{unit} cap {} reached", self.max));
        }
        if elapsed_ms >= 10.0 * self.measure_ms && taken >= 3 {
            return RoundStep::Stop(format!(
                "hard time limit (10 x measure_ms) reached after {taken} {unit}s"
            ));
        }
        if taken < self.min {
            return RoundStep::Continue;
        }
        if elapsed_ms >= self.measure_ms {
            return RoundStep::Stop(format!(
                "time budget {} ms reached after {taken} {unit}s",
                self.measure_ms
            ));
        }
        if taken >= self.next_check {
            // Checks get rarer as samples accumulate (every 1/8 more), so the
            // precision test stays a small share of the round's cost.
            self.next_check = taken + (taken / 8).max(1);
            return RoundStep::CheckPrecision;
        }
        RoundStep::Continue
    }
}

/// The interval a metric's bound is checked on: exact for one value, the bootstrap
/// percentile interval of the mean for several.
fn metric_interval(values: &[f64]) -> Interval {
    if values.len() == 1 {
        stats::exact_interval(values[0])
    } else {
        stats::mean_interval(values)
    }
}

fn round_target(base: f64, round: u32) -> f64 {
    base / f64::from(1u32 << (round.saturating_sub(1)).min(16))
}

/// Runs a future to completion on the harness runtime, also from inside an `async fn`
/// body (which already runs on that multi-thread runtime).
fn block_on<F: Future>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output {
    if tokio::runtime::Handle::try_current().is_ok() {
        let handle = rt.handle().clone();
        tokio::task::block_in_place(move || handle.block_on(fut))
    } else {
        rt.block_on(fut)
    }
}

fn make_sample(n: u64, timer: &Timer, round: u32) -> Sample {
    let wall = timer.wall_ns;
    let significant = |off: f64| off > DESCHEDULED_SHARE * wall && off > DESCHEDULED_FLOOR_NS;
    // A wait that began between the schedstat read and the wall clock read lies partly
    // outside the timed region; the sample cannot have been preempted for longer than it
    // lasted.
    let preempted_ns = timer.preempted_ns.map(|p| p.min(wall));
    let (descheduled, waiting_ns) = match (preempted_ns, timer.cpu_ns) {
        // schedstat: only preemption counts; waiting that is not run-queue wait is the
        // body's own (I/O, locks, other threads) and belongs to its time.
        (Some(p), cpu) => (significant(p), cpu.map(|cpu| (wall - cpu - p).max(0.0))),
        // Fallback: any off-CPU time is suspect.
        (None, Some(cpu)) => (significant(wall - cpu), None),
        (None, None) => (false, None),
    };
    Sample {
        iterations: n,
        wall_ns: wall,
        cpu_ns: timer.cpu_ns,
        per_iter_ns: wall / n as f64,
        descheduled,
        round,
        preempted_ns,
        waiting_ns,
    }
}

/// A sample's time per iteration without its preemption: wall minus run-queue wait, never
/// below the CPU time the thread spent in it (the wait is read just outside the timed
/// region, so it can include a few microseconds the wall clock did not see).
fn unpreempted_per_iter_ns(s: &Sample) -> f64 {
    let Some(p) = s.preempted_ns else {
        return s.per_iter_ns;
    };
    let floor = s.cpu_ns.map_or(0.0, |c| c.min(s.wall_ns));
    (s.wall_ns - p).max(floor) / s.iterations as f64
}

/// Per-iteration times of the samples the verdict uses, and which time that is:
/// - no sample descheduled: every sample's wall time;
/// - descheduled samples a minority: they are dropped (the clean ones are the best evidence);
/// - a majority preempted, with schedstat: every sample, minus its run-queue wait (under a
///   CPU hog almost every multi-millisecond sample is preempted; its CPU time, not its wall
///   time, is what the body cost);
/// - a majority off-CPU without schedstat: every sample's wall time (preemption and the
///   body's own waiting cannot be told apart; the artifact says so).
fn kept_values(samples: &[Sample]) -> (Vec<f64>, CheckedTime) {
    let flagged = samples.iter().filter(|s| s.descheduled).count();
    if flagged == 0 {
        (
            samples.iter().map(|s| s.per_iter_ns).collect(),
            CheckedTime::Wall,
        )
    } else if flagged * 2 < samples.len() {
        (
            samples
                .iter()
                .filter(|s| !s.descheduled)
                .map(|s| s.per_iter_ns)
                .collect(),
            CheckedTime::WallExcludingDescheduled,
        )
    } else if samples.iter().all(|s| s.preempted_ns.is_some()) {
        (
            samples.iter().map(unpreempted_per_iter_ns).collect(),
            CheckedTime::WallMinusPreemption,
        )
    } else {
        (
            samples.iter().map(|s| s.per_iter_ns).collect(),
            CheckedTime::Wall,
        )
    }
}

fn off_cpu_evidence(samples: &[Sample]) -> OffCpuEvidence {
    if !samples.is_empty() && samples.iter().all(|s| s.preempted_ns.is_some()) {
        OffCpuEvidence::Schedstat
    } else if !samples.is_empty() && samples.iter().all(|s| s.cpu_ns.is_some()) {
        OffCpuEvidence::ThreadCpuClock
    } else {
        OffCpuEvidence::None
    }
}

fn wall_split(samples: &[Sample]) -> WallSplit {
    let sum = |f: &dyn Fn(&Sample) -> Option<f64>| {
        samples
            .iter()
            .map(f)
            .try_fold(0.0, |acc, v| v.map(|v| acc + v))
    };
    WallSplit {
        wall_ns: samples.iter().map(|s| s.wall_ns).sum(),
        running_ns: sum(&|s| s.cpu_ns),
        preempted_ns: sum(&|s| s.preempted_ns),
        waiting_ns: sum(&|s| s.waiting_ns),
    }
}

/// The checked statistic and its interval over `values`.
pub(crate) fn stat_estimate(values: &[f64], stat: Stat) -> Estimate {
    let sorted = stats::sorted(values);
    match stat.quantile() {
        Some(q) => Estimate {
            value: stats::quantile_sorted(&sorted, q),
            interval: stats::quantile_interval(&sorted, q),
        },
        None if stat == Stat::Mean => Estimate {
            value: stats::mean(values),
            interval: stats::mean_interval(values),
        },
        None => {
            let max = sorted.last().copied().unwrap_or(f64::NAN);
            Estimate {
                value: max,
                interval: stats::exact_interval(max),
            }
        }
    }
}

fn relative_error(samples: &[Sample], stat: Stat) -> f64 {
    let (values, _) = kept_values(samples);
    match stat {
        // Bootstrapping on every check would cost O(2000 n); the normal approximation of
        // the mean's interval is enough to decide when to stop (the verdict uses bootstrap).
        Stat::Mean => {
            let m = stats::mean(&values);
            1.96 * stats::stddev(&values) / (values.len() as f64).sqrt() / m.abs()
        }
        // The maximum has no interval; the median's precision decides when to stop.
        Stat::Max => relative_half_width(&stat_estimate(&values, Stat::Median)),
        _ => relative_half_width(&stat_estimate(&values, stat)),
    }
}

fn relative_half_width(e: &Estimate) -> f64 {
    (e.interval.hi - e.interval.lo) / 2.0 / e.value.abs()
}

fn build_timing(routine: &str, n: u64, samples: &[Sample], stat: Stat) -> TimingResult {
    let all_values: Vec<f64> = samples.iter().map(|s| s.per_iter_ns).collect();
    let (kept, checked_time) = kept_values(samples);
    let est = stat_estimate(&kept, stat);
    TimingResult {
        routine: routine.to_string(),
        iterations_per_sample: n,
        total_iterations: samples.iter().map(|s| s.iterations).sum(),
        total_ns: samples.iter().map(|s| s.wall_ns).sum(),
        all: stats::summarize(&all_values),
        kept: stats::summarize(&kept),
        throughput_ops_per_sec: 1e9 / est.value,
        descheduled_samples: samples.iter().filter(|s| s.descheduled).count(),
        descheduled_excluded: checked_time == CheckedTime::WallExcludingDescheduled,
        off_cpu_evidence: off_cpu_evidence(samples),
        checked_time,
        wall_split: wall_split(samples),
        samples: samples.to_vec(),
    }
}

/// Builds a KPI result from an estimate.
#[allow(clippy::too_many_arguments)]
pub(crate) fn kpi_result(
    kind: &str,
    key: &str,
    quantity: &str,
    statistic: &str,
    op: CmpOp,
    bound: f64,
    unit: &str,
    est: Estimate,
    samples: usize,
) -> KpiResult {
    let verdict = classify(op, bound, &est.interval);
    KpiResult {
        kind: kind.into(),
        key: key.into(),
        quantity: quantity.into(),
        statistic: statistic.into(),
        op,
        bound,
        unit: unit.into(),
        measured: Some(est.value),
        interval: Some(est.interval.clone()),
        margin_pct: Some(margin_pct(op, bound, est.value)),
        samples,
        verdict,
        reason: reason(verdict, op, bound, &est.interval),
        bound_source: None,
    }
}

fn time_kpi_results(specs: &[KpiSpec], timing: &TimingResult, stat: Stat) -> Vec<KpiResult> {
    let kept: Vec<f64> = {
        let (v, _) = kept_values(&timing.samples);
        v
    };
    let est = stat_estimate(&kept, stat);
    specs
        .iter()
        .filter_map(|k| match *k {
            KpiSpec::MaxTime { bound_ns, key, .. } => Some(kpi_result(
                "time",
                key,
                "time",
                stat.as_str(),
                CmpOp::Le,
                bound_ns,
                "ns/iter",
                est.clone(),
                kept.len(),
            )),
            KpiSpec::MinThroughput { ops_per_sec } => {
                let ops = Estimate {
                    value: 1e9 / est.value,
                    interval: Interval {
                        lo: 1e9 / est.interval.hi,
                        hi: 1e9 / est.interval.lo,
                        ..est.interval.clone()
                    },
                };
                Some(kpi_result(
                    "throughput",
                    "min_ops_per_sec",
                    "throughput",
                    stat.as_str(),
                    CmpOp::Ge,
                    ops_per_sec,
                    "ops/s",
                    ops,
                    kept.len(),
                ))
            }
            _ => None,
        })
        .collect()
}

fn relative_kpi_results(specs: &[KpiSpec], c: &CompareResult) -> Vec<KpiResult> {
    specs
        .iter()
        .filter_map(|k| match *k {
            KpiSpec::Relative { kind, bound } => {
                let (est, unit) = match kind {
                    RelativeKind::MaxOverheadPct => (c.overhead_pct.clone(), "%"),
                    RelativeKind::MinSpeedup => (c.speedup.clone(), "x"),
                    RelativeKind::MaxOverheadNs => (c.diff_ns.clone(), "ns"),
                    RelativeKind::MinGainPct => (c.gain_pct.clone(), "%"),
                };
                Some(kpi_result(
                    "relative",
                    kind.key(),
                    kind.quantity(),
                    "median of pairs",
                    kind.op(),
                    bound,
                    unit,
                    est,
                    c.pairs,
                ))
            }
            _ => None,
        })
        .collect()
}

fn build_compare(pairs: &[(Sample, Sample)], na: u64, nb: u64) -> CompareResult {
    let flagged = pairs
        .iter()
        .filter(|(a, b)| a.descheduled || b.descheduled)
        .count();
    let use_pair = |p: &&(Sample, Sample)| {
        !(flagged > 0 && flagged * 2 < pairs.len() && (p.0.descheduled || p.1.descheduled))
    };
    let kept: Vec<&(Sample, Sample)> = pairs.iter().filter(use_pair).collect();
    // Most pairs preempted and schedstat present: compare the sides without their
    // run-queue wait (as for a single routine).
    let subtract = flagged * 2 >= pairs.len()
        && pairs
            .iter()
            .all(|(a, b)| a.preempted_ns.is_some() && b.preempted_ns.is_some());
    let time = |s: &Sample| {
        if subtract {
            unpreempted_per_iter_ns(s)
        } else {
            s.per_iter_ns
        }
    };
    let ratios: Vec<f64> = kept.iter().map(|(a, b)| time(b) / time(a)).collect();
    let diffs: Vec<f64> = kept.iter().map(|(a, b)| time(b) - time(a)).collect();
    let ratio = stat_estimate(&ratios, Stat::Median);
    let diff = stat_estimate(&diffs, Stat::Median);
    let map = |f: &dyn Fn(f64) -> f64, decreasing: bool| {
        let (lo, hi) = if decreasing {
            (f(ratio.interval.hi), f(ratio.interval.lo))
        } else {
            (f(ratio.interval.lo), f(ratio.interval.hi))
        };
        Estimate {
            value: f(ratio.value),
            interval: Interval {
                lo,
                hi,
                ..ratio.interval.clone()
            },
        }
    };
    let base: Vec<f64> = pairs.iter().map(|p| p.0.per_iter_ns).collect();
    let cand: Vec<f64> = pairs.iter().map(|p| p.1.per_iter_ns).collect();
    CompareResult {
        pairs: kept.len(),
        baseline_iterations: na,
        candidate_iterations: nb,
        baseline: stats::summarize(&base),
        candidate: stats::summarize(&cand),
        overhead_pct: map(&|r| (r - 1.0) * 100.0, false),
        speedup: map(&|r| 1.0 / r, true),
        gain_pct: map(&|r| (1.0 / r - 1.0) * 100.0, true),
        ratio,
        diff_ns: diff,
        raw_pairs: pairs
            .iter()
            .map(|(a, b)| (a.per_iter_ns, b.per_iter_ns))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{BodyForm, ConfigSpec};
    use crate::stats::SplitMix64;

    fn spec(bound_ns: f64) -> &'static BenchSpec {
        Box::leak(Box::new(BenchSpec {
            name: "synthetic",
            module_path: "bench::tests",
            file: file!(),
            line: line!(),
            category: None,
            kpis: Box::leak(Box::new([KpiSpec::MaxTime {
                bound_ns,
                key: "max_ns",
                written: bound_ns,
            }])),
            config: ConfigSpec {
                warmup_ms: Some(0.0),
                measure_ms: Some(50.0),
                ..ConfigSpec::default()
            },
            form: BodyForm::Bench,
            debug_assertions: cfg!(debug_assertions),
            manifest_dir: env!("CARGO_MANIFEST_DIR"),
            opt_probe: None,
        }))
    }

    /// A sampler that reports chosen per-iteration times instead of timing anything, so the
    /// decision logic can be checked deterministically. `off_cpu(i)` marks sample i as
    /// spent off-CPU for half of its wall time.
    fn synthetic(
        per_iter: impl Fn(&mut SplitMix64) -> f64,
        off_cpu: impl Fn(u64) -> bool,
    ) -> impl FnMut(u64, &mut Timer) {
        let mut rng = SplitMix64::new(1);
        let mut i = 0u64;
        move |n, timer| {
            let wall = per_iter(&mut rng) * n as f64;
            timer.wall_ns = wall;
            timer.cpu_ns = Some(if off_cpu(i) { wall / 2.0 } else { wall });
            i += 1;
        }
    }

    fn jitter(center: f64, spread: f64) -> impl Fn(&mut SplitMix64) -> f64 {
        move |rng| center + spread * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
    }

    #[test]
    fn straddling_bound_is_remeasured_then_inconclusive() {
        // Samples alternate exactly between 90 and 110: the median's interval always
        // contains both, so it straddles the bound of 100 however many samples are taken.
        let mut b = Bench::new(spec(100.0), Mode::Enforce);
        let mut i = 0u64;
        b.measure_routine("iter", move |n, timer: &mut Timer| {
            let per_iter = if i & 1 == 0 { 90.0 } else { 110.0 };
            timer.wall_ns = per_iter * n as f64;
            timer.cpu_ns = Some(timer.wall_ns);
            i += 1;
        });
        assert_eq!(b.info.rounds, 3);
        assert_eq!(b.time_kpis[0].verdict, Verdict::Inconclusive);
        // Later rounds aim for a tighter interval (0.5 %, then 0.25 %), so they add samples.
        assert!(
            b.info.stop_reasons[1].contains("0.50%")
                || b.info.stop_reasons[1].contains("budget")
                || b.info.stop_reasons[1].contains("cap"),
            "{:?}",
            b.info.stop_reasons
        );
        assert!(
            b.timing
                .as_ref()
                .unwrap()
                .samples
                .iter()
                .filter(|s| s.round == 3)
                .count()
                > 10
        );
        assert!(b
            .info
            .decisions
            .iter()
            .any(|d| d.contains("measuring again")));
        assert!(b.info.decisions.iter().any(|d| d.contains("inconclusive")));
    }

    #[test]
    fn clear_breach_fails_in_one_round() {
        let mut b = Bench::new(spec(100.0), Mode::Enforce);
        b.measure_routine("iter", synthetic(jitter(200.0, 20.0), |_| false));
        assert_eq!(b.info.rounds, 1);
        assert_eq!(b.time_kpis[0].verdict, Verdict::Fail);
    }

    #[test]
    fn clear_headroom_passes_in_one_round() {
        let mut b = Bench::new(spec(100.0), Mode::Enforce);
        b.measure_routine("iter", synthetic(jitter(50.0, 10.0), |_| false));
        assert_eq!(b.info.rounds, 1);
        assert_eq!(b.time_kpis[0].verdict, Verdict::Pass);
    }

    #[test]
    fn minority_of_descheduled_samples_is_excluded() {
        // Every 4th sample is descheduled and 10x slower: excluded, so the bound holds.
        let mut b = Bench::new(spec(100.0), Mode::Enforce);
        let slow = |i: u64| i % 4 == 3;
        let mut i = 0u64;
        let mut rng = SplitMix64::new(3);
        b.measure_routine("iter", move |n, timer: &mut Timer| {
            let base = 50.0 + 10.0 * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64);
            let per_iter = if slow(i) { base * 10.0 } else { base };
            timer.wall_ns = per_iter * n as f64;
            timer.cpu_ns = Some(if slow(i) {
                base * n as f64
            } else {
                timer.wall_ns
            });
            i += 1;
        });
        let t = b.timing.as_ref().unwrap();
        assert!(t.descheduled_excluded);
        assert!(t.descheduled_samples > 0);
        assert_eq!(t.kept.n + t.descheduled_samples, t.all.n);
        assert!(t.kept.max < 100.0);
        assert_eq!(b.time_kpis[0].verdict, Verdict::Pass);
    }

    #[test]
    fn majority_off_cpu_means_the_body_waits_and_all_samples_count() {
        let mut b = Bench::new(spec(1000.0), Mode::Enforce);
        b.measure_routine("iter", synthetic(jitter(100.0, 10.0), |i| i % 4 != 0));
        let t = b.timing.as_ref().unwrap();
        assert!(!t.descheduled_excluded);
        assert_eq!(t.kept.n, t.all.n);
    }

    /// A sampler whose samples cost `cost` ns per iteration on the CPU; `preempted(i)`
    /// adds as much run-queue wait to sample i, `waits(i)` as much non-runnable waiting.
    fn split_sampler(
        cost: f64,
        preempted: impl Fn(u64) -> bool,
        waits: impl Fn(u64) -> bool,
    ) -> impl FnMut(u64, &mut Timer) {
        let mut rng = SplitMix64::new(5);
        let mut i = 0u64;
        move |n, timer| {
            let cpu = (cost + 0.01 * cost * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64))
                * n as f64;
            let p = if preempted(i) { cpu } else { 0.0 };
            let w = if waits(i) { cpu } else { 0.0 };
            timer.wall_ns = cpu + p + w;
            timer.cpu_ns = Some(cpu);
            timer.preempted_ns = Some(p);
            i += 1;
        }
    }

    #[test]
    fn majority_preempted_with_schedstat_is_checked_without_the_run_queue_wait() {
        // Every sample but every fifth doubled by preemption (a CPU hog): the body costs
        // 1000 ns on the CPU, the bound is 1500.
        let mut b = Bench::new(spec(1500.0), Mode::Enforce);
        b.measure_routine("iter", split_sampler(1000.0, |i| i % 5 != 0, |_| false));
        let t = b.timing.as_ref().unwrap();
        assert_eq!(t.off_cpu_evidence, OffCpuEvidence::Schedstat);
        assert_eq!(t.checked_time, CheckedTime::WallMinusPreemption);
        assert!(t.kept.median < 1011.0, "{}", t.kept.median);
        assert!(t.all.median > 1900.0);
        let split = t.wall_split;
        assert!(split.preempted_ns.unwrap() > 0.5 * split.running_ns.unwrap());
        assert_eq!(split.waiting_ns, Some(0.0));
        assert_eq!(b.time_kpis[0].verdict, Verdict::Pass);
        assert!(b
            .info
            .decisions
            .iter()
            .any(|d| d.contains("run-queue wait is subtracted")));
    }

    #[test]
    fn waiting_that_is_not_preemption_is_the_bodys_own_time() {
        // Every sample waits off-CPU (not runnable) as long as it computes: that is the
        // body's cost (2000 ns), so a 1500 ns bound fails; nothing is descheduled.
        let mut b = Bench::new(spec(1500.0), Mode::Enforce);
        b.measure_routine("iter", split_sampler(1000.0, |_| false, |_| true));
        let t = b.timing.as_ref().unwrap();
        assert_eq!(t.descheduled_samples, 0);
        assert_eq!(t.checked_time, CheckedTime::Wall);
        assert!(t.wall_split.waiting_ns.unwrap() > 0.4 * t.wall_split.wall_ns);
        assert_eq!(b.time_kpis[0].verdict, Verdict::Fail);
    }

    #[test]
    fn minority_preempted_samples_are_excluded_with_schedstat_too() {
        let mut b = Bench::new(spec(1500.0), Mode::Enforce);
        b.measure_routine("iter", split_sampler(1000.0, |i| i % 4 == 3, |_| false));
        let t = b.timing.as_ref().unwrap();
        assert_eq!(t.checked_time, CheckedTime::WallExcludingDescheduled);
        assert!(t.descheduled_excluded);
        assert_eq!(b.time_kpis[0].verdict, Verdict::Pass);
    }

    #[test]
    fn without_schedstat_a_majority_off_cpu_keeps_wall_time_and_says_why() {
        let mut b = Bench::new(spec(1000.0), Mode::Enforce);
        b.measure_routine("iter", synthetic(jitter(100.0, 10.0), |i| i % 4 != 0));
        let t = b.timing.as_ref().unwrap();
        assert_eq!(t.off_cpu_evidence, OffCpuEvidence::ThreadCpuClock);
        assert_eq!(t.checked_time, CheckedTime::Wall);
        assert!(b
            .info
            .decisions
            .iter()
            .any(|d| d.contains("schedstat unavailable")));
    }

    fn metric_spec(op: CmpOp, bound: f64) -> &'static BenchSpec {
        let base = spec(1.0);
        Box::leak(Box::new(BenchSpec {
            kpis: Box::leak(Box::new([KpiSpec::Metric {
                name: "share",
                op,
                bound,
            }])),
            ..*base
        }))
    }

    #[test]
    fn straddling_metric_rounds_are_measured_again_and_pooled() {
        // Each round reports values around 0.995 whose spread keeps the interval across
        // 0.99 for a few rounds: re-measured up to max_rounds, pooling every value.
        let mut b = Bench::new(metric_spec(CmpOp::Gt, 0.99), Mode::Enforce);
        let mut calls = 0;
        b.metric_rounds(|b| {
            calls += 1;
            for v in [0.97, 1.0, 0.999, 0.98, 1.0, 0.996] {
                b.metric("share", v);
            }
            b.metric("other", 1.0);
        });
        assert_eq!(calls, 3);
        assert_eq!(b.info.metric_rounds, 3);
        let m = b.metric_results();
        assert_eq!(m[0].values.len(), 18);
        assert_eq!(m[1].values.len(), 3);
        assert!(b
            .info
            .decisions
            .iter()
            .any(|d| d.starts_with("metric round 1: interval of share straddles")));
    }

    #[test]
    fn a_clear_metric_is_measured_once_and_off_mode_runs_one_round() {
        let mut b = Bench::new(metric_spec(CmpOp::Gt, 0.5), Mode::Enforce);
        let mut calls = 0;
        b.metric_rounds(|b| {
            calls += 1;
            b.metric("share", 0.9);
            b.metric("share", 0.91);
        });
        assert_eq!((calls, b.info.metric_rounds), (1, 1));

        let mut b = Bench::new(metric_spec(CmpOp::Gt, 0.99), Mode::Off);
        let mut calls = 0;
        b.metric_rounds(|b| {
            calls += 1;
            b.metric("share", 0.97);
            b.metric("share", 1.0);
        });
        assert_eq!(calls, 1);
    }

    #[test]
    fn nested_metric_rounds_are_an_error() {
        let mut b = Bench::new(metric_spec(CmpOp::Gt, 0.5), Mode::Off);
        b.metric_rounds(|b| b.metric_rounds(|b| b.metric("share", 1.0)));
        assert_eq!(b.errors.len(), 1);
    }

    #[test]
    fn compare_of_mostly_preempted_pairs_uses_time_without_the_wait() {
        // Baseline 1000 ns, candidate 1500 ns of CPU per iteration; every pair but every
        // fourth has its candidate sample preempted for as long as it ran (a hog beside it).
        let sample = |cpu: f64, preempted: f64| Sample {
            iterations: 10,
            wall_ns: (cpu + preempted) * 10.0,
            cpu_ns: Some(cpu * 10.0),
            per_iter_ns: cpu + preempted,
            descheduled: preempted > 0.0,
            round: 1,
            preempted_ns: Some(preempted * 10.0),
            waiting_ns: Some(0.0),
        };
        let pairs: Vec<(Sample, Sample)> = (0..40)
            .map(|i| {
                let p = if i % 4 == 0 { 0.0 } else { 1500.0 };
                (sample(1000.0 + i as f64, 0.0), sample(1500.0 + i as f64, p))
            })
            .collect();
        let c = build_compare(&pairs, 10, 10);
        assert_eq!(c.pairs, 40);
        assert!((c.ratio.value - 1.5).abs() < 0.01, "{}", c.ratio.value);
    }

    #[test]
    fn second_routine_is_an_error() {
        let mut b = Bench::new(spec(1000.0), Mode::Off);
        b.iter(|| 1);
        b.iter(|| 2);
        assert_eq!(b.errors.len(), 1);
        assert!(b.errors[0].contains("exactly one routine"));
    }

    #[test]
    fn non_finite_metric_is_an_error() {
        let mut b = Bench::new(spec(1000.0), Mode::Off);
        b.metric("x", f64::NAN);
        b.metric("y", 1.0);
        b.metric("y", 3.0);
        assert_eq!(b.errors.len(), 1);
        let m = b.metric_results();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].value, 2.0);
    }
}
