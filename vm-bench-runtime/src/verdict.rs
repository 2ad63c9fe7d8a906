//! The verdict rule: a bound fails only when the breach is statistically clear.
//!
//! For a bound `measured op bound` and a confidence interval `[lo, hi]` of the measured
//! statistic:
//! - **pass** when the whole interval satisfies the bound (`hi <= bound` for an upper
//!   bound, `lo >= bound` for a lower bound; strict for `<` and `>`);
//! - **fail** when the whole interval breaches it (`lo > bound`, resp. `hi < bound`);
//! - otherwise the interval straddles the bound: time, throughput and relative bounds are
//!   measured again (pooling samples, at most `max_rounds` rounds); if it still straddles
//!   after the last round the verdict is **inconclusive**, which does not fail the test
//!   (the breach is not clear) and is recorded with the reason.

use crate::artifact::{Interval, KpiResult, Verdict};
use crate::spec::CmpOp;

/// The rule, as recorded verbatim in every artifact.
pub const VERDICT_RULE: &str = "A KPI `measured op bound` is checked on the 95% confidence \
interval [lo, hi] of its statistic (order-statistic interval for median/p90/p95/p99 and for \
compare ratios/differences, percentile bootstrap for means, exact value for max and for a \
single metric value). PASS if the whole interval satisfies the bound; FAIL if the whole \
interval breaches it; otherwise the interval straddles the bound and time/throughput/relative \
KPIs are re-measured (samples pooled, each further round halving the stopping rule's \
target relative error) up to max_rounds rounds in total; still straddling \
after the last round => INCONCLUSIVE, which does not fail the test. A sample is descheduled \
when the thread was preempted (run-queue wait from /proc/thread-self/schedstat; without \
schedstat: any off-CPU time by the thread CPU clock) for > 5% of the sample and > 2 us. \
Descheduled samples are excluded from the statistic when they are a minority; when they \
are the majority the statistic uses every sample's wall time minus its run-queue wait \
(without schedstat: its wall time). Metrics reported inside Bench::metric_rounds are \
re-measured the same way (the round runs again, values pooled, up to max_rounds rounds); \
other metrics are measured once. A declared metric never reported, or a \
time/relative bound without a timed routine, is MISSING and fails. KPIs are enforced only in \
enforce mode on an optimized build.";

/// Classifies an interval against a bound.
pub fn classify(op: CmpOp, bound: f64, interval: &Interval) -> Verdict {
    let (lo, hi) = (interval.lo, interval.hi);
    if !lo.is_finite() || !hi.is_finite() {
        return Verdict::Inconclusive;
    }
    let all_hold = op.holds(lo, bound) && op.holds(hi, bound);
    let none_hold = !op.holds(lo, bound) && !op.holds(hi, bound);
    if all_hold {
        Verdict::Pass
    } else if none_hold {
        Verdict::Fail
    } else {
        Verdict::Inconclusive
    }
}

/// Signed margin in % of the bound: positive = headroom, negative = breach.
pub fn margin_pct(op: CmpOp, bound: f64, measured: f64) -> f64 {
    if bound == 0.0 {
        return if op.holds(measured, bound) {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
    }
    let raw = if op.is_upper_bound() {
        (bound - measured) / bound.abs()
    } else {
        (measured - bound) / bound.abs()
    };
    raw * 100.0
}

/// The reason text for a classified KPI.
pub fn reason(verdict: Verdict, op: CmpOp, bound: f64, interval: &Interval) -> String {
    let ci = format!("[{}, {}]", fmt_num(interval.lo), fmt_num(interval.hi));
    match verdict {
        Verdict::Pass => format!(
            "{:.0}% interval {ci} lies entirely within {} {}",
            interval.confidence * 100.0,
            op.as_str(),
            fmt_num(bound)
        ),
        Verdict::Fail => format!(
            "{:.0}% interval {ci} lies entirely beyond {} {}",
            interval.confidence * 100.0,
            op.as_str(),
            fmt_num(bound)
        ),
        Verdict::Inconclusive => format!(
            "{:.0}% interval {ci} straddles the bound {}: breach not statistically clear",
            interval.confidence * 100.0,
            fmt_num(bound)
        ),
        Verdict::Missing => "never measured".into(),
    }
}

/// Formats a number compactly with enough significant digits for a terminal line.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{x:.4e}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.3}")
    } else if a >= 1e-3 {
        format!("{x:.5}")
    } else {
        format!("{x:.3e}")
    }
}

/// How to show a KPI's values: time bounds in the key's own unit (a `max_ms` bound is
/// read in ms), everything else as recorded. Returns (divisor of recorded values, unit).
pub fn display_unit(kpi: &KpiResult) -> (f64, String) {
    match (kpi.kind.as_str(), kpi.key.as_str()) {
        ("time", "max_us") => (1e3, "us/iter".into()),
        ("time", "max_ms") => (1e6, "ms/iter".into()),
        _ => (1.0, kpi.unit.clone()),
    }
}

/// `n` with the singular or plural noun.
pub fn count_noun(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// The one-line failure message of a failed or missing KPI. Values are shown in the
/// bound's unit, and a bound that did not come from the attribute names its source.
pub fn failure_line(bench: &str, kpi: &KpiResult, artifact: &str) -> String {
    let (scale, unit) = display_unit(kpi);
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    let show = |x: f64| fmt_num(x / scale);
    let source = match &kpi.bound_source {
        Some(s) if s.file.is_some() => format!(", {}", s.describe()),
        _ => String::new(),
    };
    match (kpi.verdict, kpi.measured, &kpi.interval) {
        (Verdict::Missing, _, _) => format!(
            "KPI FAILED {bench}: {} {} {}{unit} ({}{source}) was never measured: {}; \
             artifact: {artifact}",
            kpi.quantity,
            kpi.op.as_str(),
            show(kpi.bound),
            kpi.key,
            kpi.reason
        ),
        (_, Some(v), Some(ci)) => format!(
            "KPI FAILED {bench}: {} {} = {}{unit} {} violates {} {}{unit} ({}{source}), \
             margin {:+.1}%, {}; artifact: {artifact}",
            kpi.statistic,
            kpi.quantity,
            show(v),
            if ci.method == "exact" {
                "(no interval: exact value)".to_string()
            } else {
                format!(
                    "[{:.0}% CI {} .. {}]",
                    ci.confidence * 100.0,
                    show(ci.lo),
                    show(ci.hi)
                )
            },
            kpi.op.as_str(),
            show(kpi.bound),
            kpi.key,
            kpi.margin_pct.unwrap_or(f64::NAN),
            count_noun(kpi.samples, "sample", "samples")
        ),
        _ => format!(
            "KPI FAILED {bench}: {} ({}{source}): {}; artifact: {artifact}",
            kpi.quantity, kpi.key, kpi.reason
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(lo: f64, hi: f64) -> Interval {
        Interval {
            lo,
            hi,
            confidence: 0.95,
            method: "test".into(),
        }
    }

    #[test]
    fn upper_bound_rule() {
        assert_eq!(classify(CmpOp::Le, 10.0, &iv(8.0, 9.0)), Verdict::Pass);
        assert_eq!(classify(CmpOp::Le, 10.0, &iv(8.0, 10.0)), Verdict::Pass);
        assert_eq!(
            classify(CmpOp::Lt, 10.0, &iv(8.0, 10.0)),
            Verdict::Inconclusive
        );
        assert_eq!(
            classify(CmpOp::Le, 10.0, &iv(9.0, 11.0)),
            Verdict::Inconclusive
        );
        assert_eq!(classify(CmpOp::Le, 10.0, &iv(10.5, 11.0)), Verdict::Fail);
    }

    #[test]
    fn lower_bound_rule() {
        assert_eq!(classify(CmpOp::Ge, 0.9, &iv(0.91, 0.95)), Verdict::Pass);
        assert_eq!(classify(CmpOp::Ge, 0.9, &iv(0.80, 0.85)), Verdict::Fail);
        assert_eq!(
            classify(CmpOp::Gt, 0.9, &iv(0.89, 0.95)),
            Verdict::Inconclusive
        );
    }

    fn kpi(key: &str, kind: &str, bound: f64, measured: f64, samples: usize) -> KpiResult {
        KpiResult {
            kind: kind.into(),
            key: key.into(),
            quantity: if kind == "time" { "time" } else { key }.into(),
            statistic: "median".into(),
            op: CmpOp::Le,
            bound,
            unit: if kind == "time" { "ns/iter" } else { "" }.into(),
            measured: Some(measured),
            interval: Some(iv(measured * 0.99, measured * 1.01)),
            margin_pct: Some(margin_pct(CmpOp::Le, bound, measured)),
            samples,
            verdict: Verdict::Fail,
            reason: String::new(),
            bound_source: None,
        }
    }

    #[test]
    fn failure_lines_show_values_in_the_bounds_unit() {
        let l = failure_line("b::ms", &kpi("max_ms", "time", 8e6, 9.5e6, 12), "a.json");
        assert!(
            l.contains("median time = 9.500 ms/iter [95% CI 9.405 .. 9.595] violates <= 8.000 ms/iter (max_ms)"),
            "{l}"
        );
        assert!(!l.contains("e6"), "{l}");
        let l = failure_line("b::us", &kpi("max_us", "time", 500e3, 600e3, 12), "a.json");
        assert!(
            l.contains("= 600.0 us/iter") && l.contains("<= 500.0 us/iter"),
            "{l}"
        );
        let l = failure_line("b::ns", &kpi("max_ns", "time", 100.0, 150.0, 12), "a.json");
        assert!(
            l.contains("= 150.0 ns/iter") && l.contains("<= 100.0 ns/iter"),
            "{l}"
        );
    }

    #[test]
    fn failure_lines_count_one_sample_in_the_singular() {
        let l = failure_line("b::m", &kpi("share", "metric", 0.5, 0.7, 1), "a.json");
        assert!(l.contains(", 1 sample;"), "{l}");
        let l = failure_line("b::m", &kpi("share", "metric", 0.5, 0.7, 2), "a.json");
        assert!(l.contains(", 2 samples;"), "{l}");
    }

    #[test]
    fn failure_lines_name_an_override_files_bound() {
        let mut k = kpi("max_ms", "time", 6e6, 7e6, 12);
        k.bound_source = Some(crate::artifact::BoundSource {
            declared: 8.0,
            applied: 6.0,
            unit: "ms".into(),
            file: Some("/ci/runner.json".into()),
            machine_class: Some("runner".into()),
            entry: Some(3),
            tolerance_pct: 0.0,
        });
        let l = failure_line("b::ms", &k, "a.json");
        assert!(
            l.contains("(max_ms, bound from /ci/runner.json targets[3] (machine class runner); declared 8.000 ms)"),
            "{l}"
        );
        // A file without an entry for the KPI: the declared bound, and the file is named.
        let src = k.bound_source.as_mut().unwrap();
        (src.entry, src.applied) = (None, 8.0);
        k.bound = 8e6;
        let l = failure_line("b::ms", &k, "a.json");
        assert!(
            l.contains("(max_ms, declared bound; /ci/runner.json (machine class runner) has no entry for it)"),
            "{l}"
        );
    }

    #[test]
    fn margins_are_signed_headroom() {
        assert!((margin_pct(CmpOp::Le, 100.0, 50.0) - 50.0).abs() < 1e-9);
        assert!((margin_pct(CmpOp::Le, 100.0, 150.0) + 50.0).abs() < 1e-9);
        assert!((margin_pct(CmpOp::Ge, 3.0, 4.5) - 50.0).abs() < 1e-9);
    }
}
