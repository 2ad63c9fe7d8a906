//! Text helpers shared by the report renderers (Markdown, CSV, HTML, SVG). A leaf module:
//! it imports nothing from the suite, so every renderer can use it without a cycle.

use std::fmt::Write as _;

use crate::targets::TargetCheck;

/// A number with fixed precision (3 decimals), so golden files are stable across platforms.
pub(crate) fn num(v: f64) -> String {
    format!("{v:.3}")
}

/// A KPI value with significant digits kept (`0.00541`, `6.314`, `1.2346e6`), for tables.
pub(crate) fn sig(v: f64) -> String {
    crate::verdict::fmt_num(v)
}

/// Nanoseconds per unit of a time unit (`ns`, `us`, `µs`, `ms`, `s`, each optionally
/// followed by a rate suffix such as `/iter`), and that suffix; `None` for other units.
pub(crate) fn time_unit(unit: &str) -> Option<(f64, &str)> {
    let (base, suffix) = match unit.find('/') {
        Some(i) => (&unit[..i], &unit[i..]),
        None => (unit, ""),
    };
    let ns = match base.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some((ns, suffix))
}

/// The time unit to show a magnitude of `ns` nanoseconds in: (nanoseconds per unit, name).
pub(crate) fn time_scale(ns: f64) -> (f64, &'static str) {
    let a = ns.abs();
    if a >= 1e9 {
        (1e9, "s")
    } else if a >= 1e6 {
        (1e6, "ms")
    } else if a >= 1e3 {
        (1e3, "us")
    } else {
        (1.0, "ns")
    }
}

/// Four significant digits at most, without exponent for the magnitudes a scaled value
/// has (`30.11`, `171.2`, `0.5000`); other magnitudes fall back to [`sig`].
fn digits4(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (100.0..10_000.0).contains(&a) {
        format!("{v:.1}")
    } else if (10.0..100.0).contains(&a) {
        format!("{v:.2}")
    } else if (0.1..10.0).contains(&a) {
        format!("{v:.3}")
    } else {
        sig(v)
    }
}

/// A value with its unit, a time scaled to ns, us, ms or s by its size (`30.11 ns/iter`,
/// `17.02 ms/iter`, never `0.03011 us` or `17017832.500 ns`); other units as [`sig`]
/// gives them. The one formatting of measured values the HTML report and charts use.
pub(crate) fn quantity(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return with_unit(format!("{v}"), unit);
    }
    match time_unit(unit) {
        Some((per_unit, suffix)) => {
            let ns = v * per_unit;
            let (div, name) = time_scale(ns);
            format!("{} {name}{suffix}", digits4(ns / div))
        }
        None => with_unit(sig(v), unit),
    }
}

/// `[lo, hi] unit`, both ends in the time unit the larger end scales to.
pub(crate) fn quantity_range(lo: f64, hi: f64, unit: &str) -> String {
    match time_unit(unit) {
        Some((per_unit, suffix)) if lo.is_finite() && hi.is_finite() => {
            let (div, name) = time_scale(lo.abs().max(hi.abs()) * per_unit);
            format!(
                "[{}, {}] {name}{suffix}",
                digits4(lo * per_unit / div),
                digits4(hi * per_unit / div)
            )
        }
        _ => with_unit(format!("[{}, {}]", sig(lo), sig(hi)), unit),
    }
}

/// `+12.3%` (signed, one decimal).
pub(crate) fn percent(p: f64) -> String {
    format!("{p:+.1}%")
}

/// `v unit`, or `v` alone when the unit is empty.
pub(crate) fn with_unit(v: String, unit: &str) -> String {
    if unit.is_empty() {
        v
    } else {
        format!("{v} {unit}")
    }
}

/// `< 500.0 us ±10% (override)` for a check, the value formatted by [`quantity`].
pub(crate) fn target_text(c: &TargetCheck) -> String {
    let mut s = format!(
        "{} {}",
        c.target.op,
        quantity(c.target.target_value, &c.target.unit)
    );
    if c.target.tolerance > 0.0 {
        let _ = write!(s, " ±{}%", c.target.tolerance);
    }
    if c.overridden {
        s.push_str(" (override)");
    }
    s
}

/// A CSV field, quoted when it holds a comma, quote or newline.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Escapes text for HTML, SVG and XML.
pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A file-name-safe stem for a benchmark's chart.
pub(crate) fn chart_file_stem(name: &str) -> String {
    name.replace("::", ".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_are_quoted() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("a\"b,"), "\"a\"\"b,\"");
        assert_eq!(csv_field("ab"), "ab");
    }

    #[test]
    fn chart_stems_are_safe() {
        assert_eq!(chart_file_stem("jit::bench_x"), "jit.bench_x");
        assert_eq!(chart_file_stem("a/b c"), "a_b_c");
    }

    #[test]
    fn times_are_scaled_to_their_size() {
        assert_eq!(quantity(30.112, "ns/iter"), "30.11 ns/iter");
        assert_eq!(quantity(0.03011, "us/iter"), "30.11 ns/iter");
        assert_eq!(quantity(17017832.5, "ns/iter"), "17.02 ms/iter");
        assert_eq!(quantity(2.5e9, "ns"), "2.500 s");
        assert_eq!(quantity(450.0, "us"), "450.0 us");
        assert_eq!(quantity(1500.0, "us"), "1.500 ms");
        assert_eq!(quantity(0.0, "ns/iter"), "0 ns/iter");
        assert_eq!(quantity(0.93, "ratio"), "0.93000 ratio");
        assert_eq!(quantity(12.5, "%"), "12.500 %");
        assert_eq!(quantity(7.0, ""), "7.000");
        assert_eq!(
            quantity_range(900.0, 1100.0, "ns/iter"),
            "[0.900, 1.100] us/iter"
        );
        assert_eq!(quantity_range(0.9, 1.1, "ratio"), "[0.90000, 1.100] ratio");
        assert_eq!(percent(12.345), "+12.3%");
        assert!(time_unit("ratio").is_none());
        assert_eq!(time_unit("ms/iter"), Some((1e6, "/iter")));
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
