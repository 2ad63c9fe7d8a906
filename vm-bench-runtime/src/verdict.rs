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
KPIs are re-measured (samples pooled) up to max_rounds rounds in total; still straddling \
after the last round => INCONCLUSIVE, which does not fail the test. Samples during which the \
thread was descheduled (off-CPU time > 5% of the sample and > 2 us) are excluded from the \
statistic when they are a minority of the samples. A declared metric never reported, or a \
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

/// The one-line failure message of a failed or missing KPI.
pub fn failure_line(bench: &str, kpi: &KpiResult, artifact: &str) -> String {
    let unit = if kpi.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", kpi.unit)
    };
    match (kpi.verdict, kpi.measured, &kpi.interval) {
        (Verdict::Missing, _, _) => format!(
            "KPI FAILED {bench}: {} {} {}{unit} ({}) was never measured: {}; artifact: {artifact}",
            kpi.quantity,
            kpi.op.as_str(),
            fmt_num(kpi.bound),
            kpi.key,
            kpi.reason
        ),
        (_, Some(v), Some(ci)) => format!(
            "KPI FAILED {bench}: {} {} = {}{unit} {} violates {} {}{unit} ({}), \
             margin {:+.1}%, {} samples; artifact: {artifact}",
            kpi.statistic,
            kpi.quantity,
            fmt_num(v),
            if ci.method == "exact" {
                "(no interval: exact value)".to_string()
            } else {
                format!(
                    "[{:.0}% CI {} .. {}]",
                    ci.confidence * 100.0,
                    fmt_num(ci.lo),
                    fmt_num(ci.hi)
                )
            },
            kpi.op.as_str(),
            fmt_num(kpi.bound),
            kpi.key,
            kpi.margin_pct.unwrap_or(f64::NAN),
            kpi.samples
        ),
        _ => format!(
            "KPI FAILED {bench}: {} ({}): {}; artifact: {artifact}",
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

    #[test]
    fn margins_are_signed_headroom() {
        assert!((margin_pct(CmpOp::Le, 100.0, 50.0) - 50.0).abs() < 1e-9);
        assert!((margin_pct(CmpOp::Le, 100.0, 150.0) + 50.0).abs() < 1e-9);
        assert!((margin_pct(CmpOp::Ge, 3.0, 4.5) - 50.0).abs() < 1e-9);
    }
}
