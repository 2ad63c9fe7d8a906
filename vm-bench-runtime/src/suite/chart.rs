//! SVG charts written by hand rather than with plotters: the charts are a histogram,
//! bars and lines, a few dozen lines of SVG each, and plotters would add a large dependency
//! tree (fonts, image backends) to a crate every benchmark links. Charts: each benchmark's
//! sample distribution, the suite-wide KPI budget (measured / bound), baseline vs current,
//! and the trend over stored history.

use std::fmt::Write as _;

use crate::artifact::Verdict;
use crate::suite::baseline::{BaselineSection, Change};
use crate::suite::format::xml_escape;
use crate::suite::history::{budget_ratio, RunSummary};
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
}

/// A histogram of a benchmark's samples (in `unit`) with the median marked; `None` for no
/// data.
pub(crate) fn sample_histogram(title: &str, samples: &[f64], unit: &str) -> Option<String> {
    let xs: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if xs.is_empty() {
        return None;
    }
    let (w, h, pad) = (640.0, 320.0, 40.0);
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bins = 30usize;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut counts = vec![0usize; bins];
    for v in &xs {
        let i = (((v - lo) / span) * bins as f64) as usize;
        counts[i.min(bins - 1)] += 1;
    }
    let max_c = *counts.iter().max().unwrap_or(&1) as f64;
    let bw = (w - 2.0 * pad) / bins as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<text x="{pad}" y="20">{}</text>"#, xml_escape(title));
    for (i, c) in counts.iter().enumerate() {
        let bh = (*c as f64 / max_c) * (h - 2.0 * pad - 20.0);
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#4878a8"/>"##,
            pad + i as f64 * bw,
            h - pad - bh,
            bw - 1.0,
            bh
        );
    }
    let mut sorted = xs.clone();
    sorted.sort_by(f64::total_cmp);
    let med = crate::stats::quantile_sorted(&sorted, 0.5);
    let mx = pad + (med - lo) / span * (w - 2.0 * pad);
    let _ = writeln!(
        s,
        r##"<line x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{:.1}" stroke="#c03030" stroke-width="2"/>"##,
        pad + 20.0,
        h - pad
    );
    let _ = writeln!(
        s,
        r#"<text x="{pad}" y="{:.1}">{} {unit}</text><text x="{:.1}" y="{:.1}" text-anchor="end">{} {unit}</text><text x="{mx:.1}" y="{:.1}" text-anchor="middle">median {} {unit} (n={})</text>"#,
        h - pad + 16.0,
        crate::verdict::fmt_num(lo),
        w - pad,
        h - pad + 16.0,
        crate::verdict::fmt_num(hi),
        pad + 14.0,
        crate::verdict::fmt_num(med),
        xs.len()
    );
    s.push_str("</svg>\n");
    Some(s)
}

const PASS_COLOR: &str = "#3a8f4a";
const FAIL_COLOR: &str = "#c03030";
const WARN_COLOR: &str = "#d09020";
const NEUTRAL_COLOR: &str = "#8a8a8a";
/// Series colours of the trend chart (colour-blind-safe Okabe-Ito palette, then greys).
const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
];

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

/// Trend over stored runs: one line per KPI of its budget (measured / bound, inverted for
/// lower bounds) run after run, with the `1.0` line; x labels are commit prefixes.
/// `None` with fewer than two runs.
pub(crate) fn trend_chart(history: &[RunSummary]) -> Option<String> {
    if history.len() < 2 {
        return None;
    }
    // Series keyed by benchmark.metric, in first-seen order.
    let mut series: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for (run, h) in history.iter().enumerate() {
        for k in &h.kpis {
            let key = format!(
                "{}.{}",
                k.benchmark.rsplit("::").next().unwrap_or(&k.benchmark),
                k.metric
            );
            let idx = match series.iter().position(|(n, _)| *n == key) {
                Some(i) => i,
                None => {
                    series.push((key, vec![None; history.len()]));
                    series.len() - 1
                }
            };
            series[idx].1[run] = k.budget();
        }
    }
    series.retain(|(_, v)| v.iter().any(Option::is_some));
    if series.is_empty() {
        return None;
    }
    let (left, plot_w, plot_h, top): (f64, f64, f64, f64) = (50.0, 520.0, 260.0, 40.0);
    let legend_h = 18.0 * series.len() as f64;
    let w = left + plot_w + 300.0;
    let h = (top + plot_h + 60.0).max(top + legend_h + 20.0);
    let ymax = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .filter(|v| v.is_finite())
        .fold(1.2f64, |a, b| a.max(*b))
        .min(3.0);
    let n = history.len();
    let x = |i: usize| left + i as f64 / (n - 1) as f64 * plot_w;
    let y = |v: f64| top + plot_h - v.min(ymax) / ymax * plot_h;
    let mut s = String::new();
    svg_open(
        &mut s,
        w,
        h,
        &format!("KPI budget over the last {n} runs (< 1 meets the target)"),
    );
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#202020" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" text-anchor="end">1.0</text><text x="{:.1}" y="{:.1}" text-anchor="end">0</text><text x="{:.1}" y="{:.1}" text-anchor="end">{ymax:.1}</text>"##,
        y(1.0),
        left + plot_w,
        y(1.0),
        left - 4.0,
        y(1.0) + 4.0,
        left - 4.0,
        y(0.0) + 4.0,
        left - 4.0,
        y(ymax) + 4.0
    );
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#202020"/>"##,
        y(0.0),
        left + plot_w,
        y(0.0)
    );
    let step = n.div_ceil(10);
    for (i, run) in history.iter().enumerate() {
        if i % step == 0 || i == n - 1 {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                x(i),
                y(0.0) + 14.0,
                xml_escape(&run.label())
            );
        }
    }
    for (si, (name, values)) in series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        let dash = if si >= PALETTE.len() {
            r#" stroke-dasharray="5 2""#
        } else {
            ""
        };
        // Break the line where a run lacks the KPI.
        let mut seg: Vec<String> = Vec::new();
        let flush = |seg: &mut Vec<String>, s: &mut String| {
            if seg.len() > 1 {
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
                    seg.join(" ")
                );
            }
            seg.clear();
        };
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    seg.push(format!("{:.1},{:.1}", x(i), y(*v)));
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"><title>{} run {}: {v:.3}</title></circle>"#,
                        x(i),
                        y(*v),
                        xml_escape(name),
                        xml_escape(&history[i].label())
                    );
                }
                None => flush(&mut seg, &mut s),
            }
        }
        flush(&mut seg, &mut s);
        let ly = top + 18.0 * si as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            left + plot_w + 20.0,
            left + plot_w + 40.0,
            left + plot_w + 46.0,
            ly + 4.0,
            xml_escape(name)
        );
    }
    s.push_str("</svg>\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_has_one_bar_per_bin_and_escapes_title() {
        let svg = sample_histogram("a<b", &[1.0, 2.0, 3.0, 3.0], "ns/iter").unwrap();
        assert_eq!(svg.matches("<rect").count(), 30);
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("n=4"));
        assert!(svg.contains("median 2.500 ns/iter"));
        assert!(sample_histogram("x", &[], "ns/iter").is_none());
        assert!(sample_histogram("x", &[5.0, 5.0], "ratio").is_some());
    }
}
