//! A small comma-separated-numbers parser and formatter: the code this fixture benchmarks.

use std::fmt::Write as _;

/// Why a field is not a number.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Zero-based index of the field.
    pub field: usize,
}

/// Parses `text` as comma-separated signed decimal integers (spaces around fields allowed).
pub fn parse_numbers(text: &str) -> Result<Vec<i64>, ParseError> {
    text.split(',')
        .enumerate()
        .map(|(field, s)| s.trim().parse::<i64>().map_err(|_| ParseError { field }))
        .collect()
}

/// Formats numbers as `parse_numbers` reads them.
pub fn format_numbers(xs: &[i64]) -> String {
    let mut s = String::with_capacity(xs.len() * 8);
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{x}");
    }
    s
}

/// `n` deterministic numbers of varied width and sign.
pub fn sample(n: usize) -> Vec<i64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2_000_001) as i64 - 1_000_000
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let xs = sample(100);
        assert_eq!(parse_numbers(&format_numbers(&xs)).unwrap(), xs);
        assert_eq!(parse_numbers("1, x"), Err(ParseError { field: 1 }));
    }
}
