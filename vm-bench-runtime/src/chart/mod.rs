//! SVG charts written by hand rather than with plotters: the charts are a histogram and
//! bars, a few dozen lines of SVG, and plotters would add a large dependency tree (fonts,
//! image backends) to a crate every benchmark links.

use std::fmt::Write as _;

/// Escapes text for SVG/XML.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A histogram of per-iteration samples (ns) with the median marked; `None` for no data.
pub fn sample_histogram(title: &str, samples_ns: &[f64]) -> Option<String> {
    let xs: Vec<f64> = samples_ns
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
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
        r#"<text x="{pad}" y="{:.1}">{:.1} ns</text><text x="{:.1}" y="{:.1}" text-anchor="end">{:.1} ns</text><text x="{mx:.1}" y="{:.1}" text-anchor="middle">median {:.1} ns (n={})</text>"#,
        h - pad + 16.0,
        lo,
        w - pad,
        h - pad + 16.0,
        hi,
        pad + 14.0,
        med,
        xs.len()
    );
    s.push_str("</svg>\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_has_one_bar_per_bin_and_escapes_title() {
        let svg = sample_histogram("a<b", &[1.0, 2.0, 3.0, 3.0]).unwrap();
        assert_eq!(svg.matches("<rect").count(), 30);
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("n=4"));
        assert!(sample_histogram("x", &[]).is_none());
        assert!(sample_histogram("x", &[5.0, 5.0]).is_some());
    }
}
