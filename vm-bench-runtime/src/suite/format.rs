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

/// `v unit`, or `v` alone when the unit is empty.
pub(crate) fn with_unit(v: String, unit: &str) -> String {
    if unit.is_empty() {
        v
    } else {
        format!("{v} {unit}")
    }
}

/// `< 500 us ±10% (override)` for a check.
pub(crate) fn target_text(c: &TargetCheck) -> String {
    let mut s = with_unit(
        format!("{} {}", c.target.op, sig(c.target.target_value)),
        &c.target.unit,
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
    fn xml_is_escaped() {
        assert_eq!(xml_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
