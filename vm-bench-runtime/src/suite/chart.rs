//! SVG charts written by hand rather than with plotters: the charts are a histogram,
//! bars and lines, a few dozen lines of SVG each, and plotters would add a large dependency
//! tree (fonts, image backends) to a crate every benchmark links. Charts: each benchmark's
//! sample distribution (with axes and its bound), the suite-wide KPI budget (measured /
//! bound), baseline vs current, and one small trend chart per benchmark over the stored
//! history (time axis, commit labels, bound, change points).
//!
//! Elements a reader or a test looks for carry a class: `bar`, `median`, `bound`,
//! `axis-x`, `axis-y`, `point`, `change-point`.

use std::fmt::Write as _;

use crate::artifact::Verdict;
use crate::suite::baseline::{BaselineSection, Change};
use crate::suite::format::{percent, quantity, time_scale, time_unit, xml_escape};
use crate::suite::history::budget_ratio;
use crate::targets::TargetCheck;

/// One chart of a report: file under `charts/`, its title, and the SVG text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name relative to the report directory (`charts/kpis.svg`).
    pub file: String,
    /// Human title.
    pub title: String,
    /// SVG document.
    pub svg: String,
    /// What it shows.
    pub kind: ChartKind,
}

/// What a chart shows: the whole suite, or one benchmark's trend or sample histogram.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartKind {
    /// A suite-wide chart (KPI budget, baseline comparison).
    Suite,
    /// A benchmark's median over the stored runs.
    Trend {
        /// Full benchmark name.
        benchmark: String,
    },
    /// A benchmark's sample distribution.
    Histogram {
        /// Full benchmark name.
        benchmark: String,
    },
}

/// How a chart shows values of a unit: the factor from the unit to the displayed unit,
/// and the displayed unit's name (times scaled to `magnitude`, like
/// [`crate::suite::format::quantity`]).
fn display_scale(unit: &str, magnitude: f64) -> (f64, String) {
    match time_unit(unit) {
        Some((per_unit, suffix)) => {
            let (div, name) = time_scale(magnitude * per_unit);
            (per_unit / div, format!("{name}{suffix}"))
        }
        None => (1.0, unit.to_string()),
    }
}

/// About `n` round tick values covering `[lo, hi]`.
fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// A tick label: enough decimals for the tick step.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

const PASS_COLOR: &str = "#3a8f4a";
const FAIL_COLOR: &str = "#c03030";
const WARN_COLOR: &str = "#d09020";
const NEUTRAL_COLOR: &str = "#8a8a8a";
const BAR_COLOR: &str = "#4878a8";
const AXIS_COLOR: &str = "#505050";

fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => PASS_COLOR,
        Verdict::Fail => FAIL_COLOR,
        Verdict::Inconclusive => WARN_COLOR,
        Verdict::Missing => NEUTRAL_COLOR,
    }
}

fn svg_open(s: &mut String, w: f64, h: f64, title: &str) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        xml_escape(title)
    );
}

/// Suite-wide chart of every KPI: a bar of measured / bound (inverted for lower bounds,
/// so that a bar shorter than the `1.0` line meets the target), with the 95 % interval as
/// a whisker, coloured by verdict. `None` when no KPI was measured.
pub(crate) fn kpi_budget_chart(checks: &[TargetCheck]) -> Option<String> {
    // (check, budget, budget interval)
    type Row<'a> = (&'a TargetCheck, f64, Option<(f64, f64)>);
    let rows: Vec<Row> = checks
        .iter()
        .filter_map(|c| {
            let b = budget_ratio(&c.target.op, c.measured?, c.effective_bound)?;
            let ci = c.interval.and_then(|(lo, hi)| {
                let a = budget_ratio(&c.target.op, lo, c.effective_bound)?;
                let z = budget_ratio(&c.target.op, hi, c.effective_bound)?;
                Some((a.min(z), a.max(z)))
            });
            Some((c, b, ci))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let (label_w, plot_w, row_h, top) = (330.0, 400.0, 22.0, 50.0);
    let w = label_w + plot_w + 90.0;
    let h = top + row_h * rows.len() as f64 + 40.0;
    let xmax = rows
        .iter()
        .map(|r| r.2.map_or(r.1, |ci| ci.1).max(r.1))
        .filter(|v| v.is_finite())
        .fold(1.5f64, f64::max)
        .min(3.0);
    let x = |v: f64| label_w + v.min(xmax) / xmax * plot_w;
    let mut s = String::new();
    svg_open(
        &mut s,
        w,
        h,
        "KPI budget: measured / bound (lower bounds inverted; < 1 meets the target)",
    );
    for (i, (c, b, ci)) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let short = c.target.name.rsplit("::").next().unwrap_or(&c.target.name);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}.{}</text>"#,
            label_w - 8.0,
            y + 14.0,
            xml_escape(short),
            xml_escape(&c.target.metric)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{label_w}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {} {} {}: {}</title></rect>"#,
            y + 3.0,
            (x(*b) - label_w).max(1.0),
            row_h - 6.0,
            verdict_color(c.verdict),
            xml_escape(&c.target.name),
            xml_escape(&c.target.metric),
            xml_escape(&c.target.op),
            crate::verdict::fmt_num(c.effective_bound),
            c.verdict
        );
        if let Some((lo, hi)) = ci {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#202020" stroke-width="1.5"/>"##,
                x(*lo),
                y + row_h / 2.0,
                x(*hi),
                y + row_h / 2.0
            );
        }
        let value = if b.is_finite() {
            format!("{b:.2}")
        } else {
            "∞".into()
        };
        let clipped = if *b > xmax { " ▶" } else { "" };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{value}{clipped}</text>"#,
            x(*b).max(x(ci.map_or(*b, |c| c.1))) + 4.0,
            y + 14.0,
        );
    }
    let one = x(1.0);
    let _ = writeln!(
        s,
        r##"<line x1="{one:.1}" y1="{:.1}" x2="{one:.1}" y2="{:.1}" stroke="#202020" stroke-dasharray="4 3"/>"##,
        top - 6.0,
        h - 30.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{one:.1}" y="{:.1}" text-anchor="middle">1.0 = bound</text><text x="{label_w}" y="{:.1}" text-anchor="middle">0</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{xmax:.1}</text>"#,
        h - 14.0,
        h - 14.0,
        label_w + plot_w,
        h - 14.0
    );
    s.push_str("</svg>\n");
    Some(s)
}

/// Baseline vs current: per benchmark, the median change in percent as a bar from zero
/// (red regressed, green improved, grey unchanged), each benchmark's noise band shaded
/// and the failure threshold dashed. `None` when nothing was comparable.
pub(crate) fn baseline_chart(b: &BaselineSection) -> Option<String> {
    let rows: Vec<_> = b
        .comparisons
        .iter()
        .filter_map(|c| Some((c, c.change_pct?)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let (label_w, plot_w, row_h, top) = (330.0, 400.0, 22.0, 50.0);
    let w = label_w + plot_w + 220.0;
    let h = top + row_h * rows.len() as f64 + 40.0;
    let span = rows
        .iter()
        .map(|r| r.1.abs())
        .fold(b.fail_pct * 1.5, f64::max)
        .min(200.0);
    let x = |pct: f64| label_w + (pct.clamp(-span, span) + span) / (2.0 * span) * plot_w;
    let mut s = String::new();
    svg_open(
        &mut s,
        w,
        h,
        &format!(
            "Current vs baseline {}: median change (positive = slower)",
            b.baseline
        ),
    );
    for (i, (c, pct)) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        // Each benchmark's own noise band (the configured threshold, or its run-to-run
        // noise from the history when larger).
        let noise = if c.noise_pct > 0.0 {
            c.noise_pct
        } else {
            b.noise_pct
        };
        let (n0, n1) = (x(-noise), x(noise));
        let _ = writeln!(
            s,
            r##"<rect x="{n0:.1}" y="{y:.1}" width="{:.1}" height="{row_h:.1}" fill="#e8e8e8"><title>noise band ±{}%</title></rect>"##,
            n1 - n0,
            crate::verdict::fmt_num(noise)
        );
        let color = match c.change {
            Change::Regressed => FAIL_COLOR,
            Change::Improved => PASS_COLOR,
            _ => NEUTRAL_COLOR,
        };
        let (a, z) = (x(0.0).min(x(*pct)), x(0.0).max(x(*pct)));
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + 14.0,
            xml_escape(&c.name)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
            y + 3.0,
            (z - a).max(1.0),
            row_h - 6.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{pct:+.1}% p={} {}</text>"#,
            label_w + plot_w + 6.0,
            y + 14.0,
            c.p_value.map(|p| format!("{p:.1e}")).unwrap_or("-".into()),
            c.change
        );
    }
    let (zero, fail) = (x(0.0), x(b.fail_pct));
    let bottom = top + row_h * rows.len() as f64;
    let _ = writeln!(
        s,
        r##"<line x1="{zero:.1}" y1="{:.1}" x2="{zero:.1}" y2="{bottom:.1}" stroke="#202020"/><line x1="{fail:.1}" y1="{:.1}" x2="{fail:.1}" y2="{bottom:.1}" stroke="{FAIL_COLOR}" stroke-dasharray="4 3"/>"##,
        top - 6.0,
        top - 6.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{zero:.1}" y="{:.1}" text-anchor="middle">0%</text><text x="{fail:.1}" y="{:.1}" text-anchor="middle">fail +{}%</text><text x="{label_w}" y="{:.1}">-{span:.0}%</text><text x="{:.1}" y="{:.1}" text-anchor="end">+{span:.0}%</text>"#,
        bottom + 16.0,
        bottom + 30.0,
        b.fail_pct,
        bottom + 16.0,
        label_w + plot_w,
        bottom + 16.0
    );
    s.push_str("</svg>\n");
    Some(s)
}

/// A histogram of a benchmark's samples (in `unit`): 30 bars, an x axis with ticks in a
/// unit scaled to the values, a y axis of sample counts, the median, and the KPI bound
/// (`bound`, in `unit`, with its label) when one applies. `None` for no data.
pub(crate) fn sample_histogram(
    title: &str,
    samples: &[f64],
    unit: &str,
    bound: Option<(f64, &str)>,
) -> Option<String> {
    let xs: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if xs.is_empty() {
        return None;
    }
    let (w, h) = (640.0, 300.0);
    let (left, right, top, bottom) = (56.0, 20.0, 40.0, 48.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let lo_data = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi_data = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // The axis spans the data, and the bound too when that leaves the bars at least half
    // the width: a bound far from the samples (a 500 us ceiling over 5 us samples) would
    // squeeze every bar into one pixel column. Such a bound is drawn as an arrow at the
    // edge it lies beyond, labelled with its value.
    let bound = bound.filter(|(b, _)| b.is_finite());
    let span = (hi_data - lo_data).max(lo_data.abs().max(hi_data.abs()) * 0.02);
    let on_scale = |b: f64| b >= lo_data - span && b <= hi_data + span;
    let (mut lo, mut hi) = (lo_data, hi_data);
    match bound {
        Some((b, _)) if on_scale(b) => {
            lo = lo.min(b);
            hi = hi.max(b);
        }
        // Room beside the bars for the off-scale arrow.
        Some((b, _)) if b > hi_data => hi += span * 0.08,
        Some(_) => lo -= span * 0.08,
        None => {}
    }
    if hi <= lo {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        lo -= pad;
        hi += pad;
    }
    let bins = 30usize;
    let bin_w = (hi_data - lo_data).max((hi - lo) / 1e6) / bins as f64;
    let mut counts = vec![0usize; bins];
    for v in &xs {
        let i = ((v - lo_data) / bin_w) as usize;
        counts[i.min(bins - 1)] += 1;
    }
    let max_c = counts.iter().copied().max().unwrap_or(1).max(1);
    let x = |v: f64| left + (v - lo) / (hi - lo) * pw;
    let y = |c: f64| top + ph - c / max_c as f64 * ph;
    let (factor, shown_unit) = display_scale(unit, lo.abs().max(hi.abs()));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="18" font-size="13" font-weight="bold">{}</text>"#,
        xml_escape(title)
    );
    for (i, c) in counts.iter().enumerate() {
        let x0 = x(lo_data + i as f64 * bin_w);
        let x1 = x(lo_data + (i + 1) as f64 * bin_w);
        let _ = writeln!(
            s,
            r#"<rect class="bar" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{BAR_COLOR}"/>"#,
            y(*c as f64),
            (x1 - x0 - 0.5).max(0.5),
            ph - (y(*c as f64) - top)
        );
    }
    // Axes with ticks.
    let _ = writeln!(
        s,
        r#"<g class="axis-x"><line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{AXIS_COLOR}"/>"#,
        top + ph,
        left + pw,
        top + ph
    );
    let ticks = nice_ticks(lo * factor, hi * factor, 6);
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    for t in &ticks {
        let tx = x(t / factor);
        let _ = writeln!(
            s,
            r#"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="{AXIS_COLOR}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            top + ph,
            top + ph + 4.0,
            top + ph + 16.0,
            tick_label(*t, step)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{} ({} samples)</text></g>"#,
        left + pw / 2.0,
        h - 8.0,
        xml_escape(&shown_unit),
        xs.len()
    );
    let _ = writeln!(
        s,
        r#"<g class="axis-y"><line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" stroke="{AXIS_COLOR}"/>"#,
        top + ph
    );
    let cticks = nice_ticks(0.0, max_c as f64, 4);
    let cstep = if cticks.len() > 1 {
        cticks[1] - cticks[0]
    } else {
        1.0
    };
    for c in cticks.iter().filter(|c| c.fract() == 0.0) {
        let ty = y(*c);
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{ty:.1}" x2="{left}" y2="{ty:.1}" stroke="{AXIS_COLOR}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 4.0,
            left - 6.0,
            ty + 4.0,
            tick_label(*c, cstep.max(1.0))
        );
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">samples</text></g>"#,
        top + ph / 2.0
    );
    let med = crate::stats::quantile_sorted(&crate::stats::sorted(&xs), 0.5);
    let mx = x(med);
    // The label stays inside the plot when the median is near an edge.
    let label_x = mx.clamp(left + 70.0, left + pw - 70.0);
    let _ = writeln!(
        s,
        r##"<g class="median"><line x1="{mx:.1}" y1="{top}" x2="{mx:.1}" y2="{:.1}" stroke="#202020" stroke-width="2"/><text x="{label_x:.1}" y="{:.1}" text-anchor="middle">median {}</text></g>"##,
        top + ph,
        top - 4.0,
        xml_escape(&quantity(med, unit))
    );
    match bound {
        Some((b, label)) if on_scale(b) => {
            let bx = x(b);
            let anchor = if bx > left + pw / 2.0 { "end" } else { "start" };
            let dx = if anchor == "end" { -4.0 } else { 4.0 };
            let _ = writeln!(
                s,
                r#"<g class="bound"><line x1="{bx:.1}" y1="{top}" x2="{bx:.1}" y2="{:.1}" stroke="{FAIL_COLOR}" stroke-width="2" stroke-dasharray="6 3"/><text x="{:.1}" y="{:.1}" text-anchor="{anchor}" fill="{FAIL_COLOR}">bound {}</text></g>"#,
                top + ph,
                bx + dx,
                top + 12.0,
                xml_escape(label)
            );
        }
        Some((b, label)) => {
            // Off the scale: an arrow at the plot's edge pointing towards the bound.
            let right_side = b > hi_data;
            let (ex, tip, anchor) = if right_side {
                (left + pw, 8.0, "end")
            } else {
                (left, -8.0, "start")
            };
            let ay = top + 6.0;
            let _ = writeln!(
                s,
                r#"<g class="bound" data-off-scale="true"><path d="M{:.1} {:.1} L{:.1} {ay:.1} L{:.1} {:.1} Z" fill="{FAIL_COLOR}"/><text x="{:.1}" y="{:.1}" text-anchor="{anchor}" fill="{FAIL_COLOR}">bound {} ({})</text></g>"#,
                ex - tip,
                ay - 5.0,
                ex,
                ex - tip,
                ay + 5.0,
                ex - 2.0 * tip,
                ay + 4.0,
                xml_escape(label),
                if right_side {
                    "beyond the axis"
                } else {
                    "below the axis"
                }
            );
        }
        None => {}
    }
    s.push_str("</svg>\n");
    Some(s)
}

/// One run of a trend chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrendPoint {
    /// Measurement time (Unix ms).
    pub time_ms: u128,
    /// Commit prefix (or date) of the run.
    pub label: String,
    /// The benchmark's median in the run.
    pub value: f64,
}

/// A change point to mark on a trend chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrendMark {
    /// Time of the first run after the change.
    pub time_ms: u128,
    /// Its commit label.
    pub label: String,
    /// Change in percent.
    pub change_pct: Option<f64>,
    /// Permutation p-value.
    pub p_value: f64,
}

fn date_label(ms: u128) -> String {
    crate::env::rfc3339((ms / 1000) as u64, 0)
        .chars()
        .take(10)
        .collect()
}

/// A small trend chart of one benchmark: its median run after run on a real time axis
/// (dates at the ends, commit labels on the points' tooltips and under change points),
/// the y axis in a unit scaled to the values, the bound (in `unit`) dashed, and each
/// change point as a vertical line with its size. `None` with fewer than two runs.
pub(crate) fn trend_small_multiple(
    title: &str,
    unit: &str,
    points: &[TrendPoint],
    bound: Option<(f64, &str)>,
    marks: &[TrendMark],
) -> Option<String> {
    if points.len() < 2 {
        return None;
    }
    let (w, h) = (340.0, 190.0);
    let (left, right, top, bottom) = (54.0, 12.0, 28.0, 46.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let t0 = points.iter().map(|p| p.time_ms).min().unwrap_or(0);
    let t1 = points
        .iter()
        .map(|p| p.time_ms)
        .max()
        .unwrap_or(0)
        .max(t0 + 1);
    let mut lo = points.iter().map(|p| p.value).fold(f64::INFINITY, f64::min);
    let mut hi = points
        .iter()
        .map(|p| p.value)
        .fold(f64::NEG_INFINITY, f64::max);
    if let Some((b, _)) = bound.filter(|(b, _)| b.is_finite()) {
        lo = lo.min(b);
        hi = hi.max(b);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        lo.abs().max(1.0) * 0.05
    };
    let (lo, hi) = (
        (lo - pad).max(if lo >= 0.0 { 0.0 } else { f64::MIN }),
        hi + pad,
    );
    let x = |t: u128| left + (t - t0) as f64 / (t1 - t0) as f64 * pw;
    let y = |v: f64| top + ph - (v - lo) / (hi - lo) * ph;
    let (factor, shown_unit) = display_scale(unit, lo.abs().max(hi.abs()));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="4" y="14" font-size="12" font-weight="bold">{}</text>"#,
        xml_escape(title)
    );
    // y axis: ticks in the scaled unit.
    let _ = writeln!(
        s,
        r#"<g class="axis-y"><line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" stroke="{AXIS_COLOR}"/>"#,
        top + ph
    );
    let ticks = nice_ticks(lo * factor, hi * factor, 4);
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    for t in &ticks {
        let ty = y(t / factor);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 4.0,
            ty + 3.0,
            tick_label(*t, step)
        );
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(10 {:.1}) rotate(-90)" text-anchor="middle">{}</text></g>"#,
        top + ph / 2.0,
        xml_escape(&shown_unit)
    );
    // x axis: real time, first and last date, every run as a tick.
    let _ = writeln!(
        s,
        r#"<g class="axis-x"><line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{AXIS_COLOR}"/>"#,
        top + ph,
        left + pw,
        top + ph
    );
    for p in points {
        let tx = x(p.time_ms);
        let _ = writeln!(
            s,
            r#"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="{AXIS_COLOR}"/>"#,
            top + ph,
            top + ph + 3.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{:.1}">{}</text><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text></g>"#,
        top + ph + 14.0,
        date_label(t0),
        left + pw,
        top + ph + 14.0,
        date_label(t1)
    );
    if let Some((b, label)) = bound.filter(|(b, _)| b.is_finite()) {
        let by = y(b);
        let _ = writeln!(
            s,
            r#"<g class="bound"><line x1="{left}" y1="{by:.1}" x2="{:.1}" y2="{by:.1}" stroke="{FAIL_COLOR}" stroke-dasharray="5 3"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{FAIL_COLOR}">bound {}</text></g>"#,
            left + pw,
            left + pw - 2.0,
            by - 3.0,
            xml_escape(label)
        );
    }
    for m in marks {
        let mx = x(m.time_ms);
        let _ = writeln!(
            s,
            r##"<g class="change-point"><line x1="{mx:.1}" y1="{top}" x2="{mx:.1}" y2="{:.1}" stroke="{WARN_COLOR}" stroke-width="2" stroke-dasharray="3 2"/><text x="{mx:.1}" y="{:.1}" text-anchor="middle" fill="#805000">{} p={:.3}</text><text x="{mx:.1}" y="{:.1}" text-anchor="middle">{}</text><title>change point at {}: {} (p = {:.3})</title></g>"##,
            top + ph,
            top - 2.0,
            m.change_pct.map(percent).unwrap_or("-".into()),
            m.p_value,
            top + ph + 26.0,
            xml_escape(&m.label),
            xml_escape(&m.label),
            m.change_pct.map(percent).unwrap_or("-".into()),
            m.p_value
        );
    }
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.time_ms), y(p.value)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#0072b2" stroke-width="1.5"/>"##,
        line.join(" ")
    );
    for p in points {
        let _ = writeln!(
            s,
            r##"<circle class="point" cx="{:.1}" cy="{:.1}" r="2.5" fill="#0072b2"><title>{} ({}): {}</title></circle>"##,
            x(p.time_ms),
            y(p.value),
            xml_escape(&p.label),
            date_label(p.time_ms),
            xml_escape(&quantity(p.value, unit))
        );
    }
    // The newest run's commit, so the right end is named even without change points.
    if let Some(last) = points.iter().max_by_key(|p| p.time_ms) {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left + pw,
            top + ph + 38.0,
            xml_escape(&last.label)
        );
    }
    s.push_str("</svg>\n");
    Some(s)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_has_bars_axes_median_and_bound() {
        let svg = sample_histogram("a<b", &[1.0, 2.0, 3.0, 3.0], "ns/iter", None).unwrap();
        assert_eq!(svg.matches("class=\"bar\"").count(), 30);
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("(4 samples)"));
        assert!(svg.contains("median 2.500 ns/iter"));
        assert!(svg.contains("class=\"axis-x\"") && svg.contains("class=\"axis-y\""));
        assert!(!svg.contains("class=\"bound\""));
        assert!(sample_histogram("x", &[], "ns/iter", None).is_none());
        assert!(sample_histogram("x", &[5.0, 5.0], "ratio", None).is_some());
        // A bound near the samples widens the axis; microsecond values are labelled in us.
        let xs: Vec<f64> = (0..50).map(|i| 30_000.0 + 100.0 * i as f64).collect();
        let svg =
            sample_histogram("t", &xs, "ns/iter", Some((38_000.0, "< 38.00 us/iter"))).unwrap();
        assert!(svg.contains("class=\"bound\"") && svg.contains("bound &lt; 38.00 us/iter"));
        assert!(!svg.contains("data-off-scale"));
        assert!(svg.contains(">us/iter (50 samples)<"), "{svg}");
        assert!(svg.contains(">38<"), "{svg}");
    }

    #[test]
    fn histogram_keeps_a_far_bound_off_its_axis() {
        // 30-35 us samples under a 500 us bound: the axis stays on the samples (no tick
        // past 40 us) and the bound is an arrow at the right edge.
        let xs: Vec<f64> = (0..50).map(|i| 30_000.0 + 100.0 * i as f64).collect();
        let svg =
            sample_histogram("t", &xs, "ns/iter", Some((500_000.0, "< 500.0 us/iter"))).unwrap();
        assert!(
            svg.contains("class=\"bound\" data-off-scale=\"true\""),
            "{svg}"
        );
        assert!(svg.contains("bound &lt; 500.0 us/iter (beyond the axis)"));
        assert!(!svg.contains(">100<") && !svg.contains(">500<"), "{svg}");
        // Each of the 30 bars is wider than a pixel column.
        let widths: Vec<f64> = svg
            .match_indices("class=\"bar\"")
            .map(|(i, _)| {
                let w = &svg[i..];
                let w = &w[w.find("width=\"").unwrap() + 7..];
                w[..w.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(widths.len(), 30);
        assert!(widths.iter().all(|w| *w > 10.0), "{widths:?}");
        // A bound far below the samples points left.
        let svg = sample_histogram("t", &xs, "ns/iter", Some((10.0, "> 10 ns/iter"))).unwrap();
        assert!(
            svg.contains("bound &gt; 10 ns/iter (below the axis)"),
            "{svg}"
        );
    }

    #[test]
    fn nice_ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(29.3, 40.0, 5), [30.0, 32.5, 35.0, 37.5, 40.0]);
        assert_eq!(nice_ticks(5.0, 5.0, 4), [5.0]);
    }

    #[test]
    fn trend_marks_time_bound_and_change_points() {
        let day = 86_400_000u128;
        let points: Vec<TrendPoint> = (0..6)
            .map(|i| TrendPoint {
                time_ms: 1_790_000_000_000 + i * day,
                label: format!("c{i}"),
                value: if i < 3 { 1000.0 } else { 1200.0 },
            })
            .collect();
        let marks = [TrendMark {
            time_ms: points[3].time_ms,
            label: "c3".into(),
            change_pct: Some(20.0),
            p_value: 0.005,
        }];
        let svg = trend_small_multiple("x", "ns/iter", &points, Some((1500.0, "1.5 us")), &marks)
            .unwrap();
        assert_eq!(svg.matches("class=\"point\"").count(), 6);
        assert!(svg.contains("class=\"bound\""));
        assert!(svg.contains("class=\"change-point\"") && svg.contains("+20.0% p=0.005"));
        assert!(
            svg.contains(">2026-09-21<") && svg.contains(">2026-09-26<"),
            "{svg}"
        );
        assert!(svg.contains(">us/iter<"), "{svg}");
        assert!(trend_small_multiple("x", "ns", &points[..1], None, &[]).is_none());
    }
}
