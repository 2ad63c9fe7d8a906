//! The committed translator inputs (`vm-core/guest/xarch`): `funcs.c`
//! compiled at -O2 for x86-64 and AArch64, and a deterministic set of
//! argument vectors for checking translated code against the originals.

use super::unit::load_elf_image;
use crate::frontend::{CodeImage, TranslateError};

/// Exported functions, in the order the AArch64 harness indexes them.
pub const FUNCS: [&str; 15] = [
    "x_gcd",
    "x_collatz",
    "x_sum_array",
    "x_isqrt",
    "x_hash32",
    "x_minmax",
    "x_divmod",
    "x_bubble",
    "x_bytes",
    "x_calls",
    "x_fib",
    "x_switch",
    "x_bits",
    "x_memfill",
    "x_sat",
];

/// Words of the buffer every input function receives.
pub const BUF_WORDS: usize = 64;

/// `funcs.c` for x86-64, linked at 0x100000.
pub const X86_64_ELF: &[u8] = include_bytes!("../../guest/xarch/funcs.x86_64.elf");
/// `funcs.c` for AArch64, linked at 0x100000.
pub const AARCH64_ELF: &[u8] = include_bytes!("../../guest/xarch/funcs.aarch64.elf");

/// A loaded input: its code image, all function symbols (translation
/// entries) and the pcs of [`FUNCS`] in order.
#[derive(Debug, Clone)]
pub struct Input {
    /// Code and data bytes.
    pub image: CodeImage,
    /// Every function symbol (helpers included).
    pub symbols: Vec<(String, u64)>,
    /// Entry pc of each of [`FUNCS`].
    pub funcs: Vec<u64>,
}

/// Loads a linked input ELF.
pub fn load_input(elf: &[u8]) -> Result<Input, TranslateError> {
    let (image, symbols) = load_elf_image(elf)?;
    let funcs = FUNCS
        .iter()
        .map(|f| {
            symbols
                .iter()
                .find(|s| s.0 == *f)
                .map(|s| s.1)
                .ok_or_else(|| TranslateError::Image(format!("symbol {f} missing")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Input {
        image,
        symbols,
        funcs,
    })
}

/// One call: function index into [`FUNCS`], two integer arguments and the
/// initial buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// Index into [`FUNCS`].
    pub func: usize,
    /// First argument.
    pub a: u64,
    /// Second argument.
    pub b: u64,
    /// Initial buffer contents.
    pub buf: [u64; BUF_WORDS],
}

/// `per_func` deterministic vectors for every function: edge values
/// (0, ±1, extremes, 32-bit boundaries) and pseudo-random ones.
pub fn vectors(per_func: usize, seed: u64) -> Vec<Vector> {
    let mut s = crate::rng::XorShift64(seed | 1);
    let mut next = move || s.next_u64();
    const EDGES: [u64; 12] = [
        0,
        1,
        2,
        u64::MAX,
        7,
        10,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        i64::MAX as u64,
        i64::MIN as u64,
        1000,
    ];
    let mut out = Vec::with_capacity(per_func * FUNCS.len());
    for func in 0..FUNCS.len() {
        for k in 0..per_func {
            let pick = |k: usize, r: u64| -> u64 {
                match k % 4 {
                    0 => EDGES[(r % EDGES.len() as u64) as usize],
                    1 => r % 200,
                    2 => (r as i64 % 100_000) as u64,
                    _ => r,
                }
            };
            let (ra, rb) = (next(), next());
            let a = pick(k, ra);
            let b = pick(k / 4 + k, rb);
            let mut buf = [0u64; BUF_WORDS];
            for w in buf.iter_mut() {
                *w = match next() % 3 {
                    0 => next() % 1000,
                    1 => (next() as i64 % 1000) as u64,
                    _ => next(),
                };
            }
            out.push(Vector { func, a, b, buf });
        }
    }
    out
}

/// FNV-1a hash of a buffer (as the harness computes it over the bytes).
pub fn buf_hash(buf: &[u64; BUF_WORDS]) -> u64 {
    let mut h: u64 = 1469598103934665603;
    for w in buf {
        for b in w.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(1099511628211);
        }
    }
    h
}

/// Serializes vectors in the harness format.
pub fn encode_vectors(v: &[Vector]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + v.len() * 8 * (3 + BUF_WORDS));
    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
    for x in v {
        for w in [x.func as u64, x.a, x.b].iter().chain(x.buf.iter()) {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::aarch64::A64Frontend;
    use crate::frontend::x86_64::X86Frontend;
    use crate::xarch::unit::translate_unit;

    #[test]
    fn committed_inputs_translate_completely() {
        let x = load_input(X86_64_ELF).unwrap();
        let u = translate_unit(&mut X86Frontend::default(), &x.image, &x.symbols).unwrap();
        assert!(u.guest_insns > 300, "{}", u.guest_insns);
        let a = load_input(AARCH64_ELF).unwrap();
        let u = translate_unit(&mut A64Frontend::default(), &a.image, &a.symbols).unwrap();
        assert!(u.guest_insns > 300, "{}", u.guest_insns);
    }
}
