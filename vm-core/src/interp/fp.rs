//! F, D and Zicsr execution: exact IEEE-754 binary32/binary64 arithmetic
//! as RISC-V specifies it, in software.
//!
//! Every operation computes its exact result (or the exact result with a
//! sticky bit below the rounding position) on integers and rounds it once
//! in [`round_pack`]: all five rounding modes, the five exception flags,
//! tininess detected after rounding, canonical NaNs. Nothing depends on
//! the host's floating-point environment, and every function is pure, so
//! any thread (and generated code, through a helper) can call
//! [`exec_fp`].
//!
//! Register conventions: `f{i}` is `globals[32 + i]`, a raw 64-bit pattern;
//! single-precision values are NaN-boxed (upper 32 bits all ones) and an
//! input that is not properly boxed reads as the canonical NaN.

use std::sync::OnceLock;
use std::time::Instant;

use crate::frontend::riscv::decode::csr;
use crate::frontend::riscv::{Inst, Lowering, Op};
use crate::state::CpuState;

/// Invalid operation (`fflags` bit 4).
pub const NV: u32 = 16;
/// Divide by zero.
pub const DZ: u32 = 8;
/// Overflow.
pub const OF: u32 = 4;
/// Underflow.
pub const UF: u32 = 2;
/// Inexact.
pub const NX: u32 = 1;

/// Why an F/D/Zicsr instruction traps at execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpTrap {
    /// Dynamic rounding mode (rm = 7) while `frm` holds a reserved value
    /// (5, 6, 7), or a reserved static rounding mode: an illegal
    /// instruction.
    IllegalRoundingMode,
}

/// Rounding mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rm {
    /// To nearest, ties to even (0).
    Rne,
    /// Toward zero (1).
    Rtz,
    /// Down, toward -inf (2).
    Rdn,
    /// Up, toward +inf (3).
    Rup,
    /// To nearest, ties away from zero (4).
    Rmm,
}

impl Rm {
    /// The mode an `rm` value 0..=4 encodes; None for reserved values.
    pub fn from_bits(rm: u64) -> Option<Rm> {
        Some(match rm {
            0 => Rm::Rne,
            1 => Rm::Rtz,
            2 => Rm::Rdn,
            3 => Rm::Rup,
            4 => Rm::Rmm,
            _ => return None,
        })
    }
}

/// A binary interchange format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmt {
    /// Stored fraction bits.
    mbits: u32,
    /// Exponent bits.
    ebits: u32,
}

/// binary32.
pub const F32: Fmt = Fmt { mbits: 23, ebits: 8 };
/// binary64.
pub const F64: Fmt = Fmt { mbits: 52, ebits: 11 };

impl Fmt {
    const fn bias(self) -> i32 {
        (1 << (self.ebits - 1)) - 1
    }
    const fn emin(self) -> i32 {
        1 - self.bias()
    }
    const fn sign(self) -> u64 {
        1 << (self.mbits + self.ebits)
    }
    const fn exp_mask(self) -> u64 {
        ((1 << self.ebits) - 1) << self.mbits
    }
    const fn frac_mask(self) -> u64 {
        (1 << self.mbits) - 1
    }
    const fn quiet_bit(self) -> u64 {
        1 << (self.mbits - 1)
    }
    /// The canonical NaN (0x7fc00000, 0x7ff8000000000000).
    pub const fn nan(self) -> u64 {
        self.exp_mask() | self.quiet_bit()
    }
    const fn inf(self) -> u64 {
        self.exp_mask()
    }
}

/// A value taken apart; finite nonzero values are `sig * 2^exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    Zero,
    Finite { exp: i32, sig: u64 },
    Inf,
    Nan { signaling: bool },
}

#[inline]
fn unpack(f: Fmt, x: u64) -> (bool, Val) {
    let neg = x & f.sign() != 0;
    let e = ((x & f.exp_mask()) >> f.mbits) as i32;
    let m = x & f.frac_mask();
    let v = if e == (1 << f.ebits) - 1 {
        if m == 0 {
            Val::Inf
        } else {
            Val::Nan {
                signaling: m & f.quiet_bit() == 0,
            }
        }
    } else if e == 0 {
        if m == 0 {
            Val::Zero
        } else {
            Val::Finite {
                exp: f.emin() - f.mbits as i32,
                sig: m,
            }
        }
    } else {
        Val::Finite {
            exp: e - f.bias() - f.mbits as i32,
            sig: m | (1 << f.mbits),
        }
    };
    (neg, v)
}

#[inline]
fn is_nan(f: Fmt, x: u64) -> bool {
    matches!(unpack(f, x).1, Val::Nan { .. })
}

#[inline]
fn is_snan(f: Fmt, x: u64) -> bool {
    matches!(unpack(f, x).1, Val::Nan { signaling: true })
}

/// `sig >> s` rounded per `rm` for a value of sign `neg`; also whether
/// bits were lost.
#[inline]
fn shift_round(sig: u128, s: u32, rm: Rm, neg: bool) -> (u128, bool) {
    use std::cmp::Ordering::{self, Equal, Greater, Less};
    if s == 0 {
        return (sig, false);
    }
    let (q, lost, half): (u128, bool, Ordering) = if s > 128 {
        (0, sig != 0, Less)
    } else if s == 128 {
        (0, sig != 0, sig.cmp(&(1u128 << 127)))
    } else {
        let rem = sig & ((1u128 << s) - 1);
        (sig >> s, rem != 0, rem.cmp(&(1u128 << (s - 1))))
    };
    let inc = match rm {
        Rm::Rne => half == Greater || (half == Equal && q & 1 == 1),
        Rm::Rmm => half != Less,
        Rm::Rtz => false,
        Rm::Rdn => neg && lost,
        Rm::Rup => !neg && lost,
    };
    (q + inc as u128, lost)
}

/// Rounds `(-1)^neg * sig * 2^exp` (sig != 0) to format `f`. `sig` is the
/// exact value, or the exact value truncated with a sticky 1 jammed into
/// its lowest bit, which must then lie at least two bits below the
/// rounding position. Tininess is detected after rounding (RISC-V):
/// underflow is raised when the result is tiny and inexact.
fn round_pack(f: Fmt, neg: bool, exp: i32, sig: u128, rm: Rm, flags: &mut u32) -> u64 {
    debug_assert!(sig != 0);
    let p = f.mbits as i32;
    let msb = 127 - sig.leading_zeros() as i32;
    // The value lies in [2^e, 2^(e+1)).
    let e = exp + msb;
    let round_at = |lsb: i32| {
        if lsb > exp {
            shift_round(sig, (lsb - exp) as u32, rm, neg)
        } else {
            (sig << (exp - lsb), false)
        }
    };
    let mut lsb = e.max(f.emin()) - p;
    let (mut q, inexact) = round_at(lsb);
    if q >> (p + 1) != 0 {
        // Rounded up to the next power of two.
        q >>= 1;
        lsb += 1;
    }
    if inexact {
        *flags |= NX;
        if e < f.emin() - 1 {
            *flags |= UF;
        } else if e == f.emin() - 1 {
            // Tiny unless rounding to p + 1 bits with an unbounded
            // exponent range reaches 2^emin.
            let (qu, _) = round_at(e - p);
            if qu >> (p + 1) == 0 {
                *flags |= UF;
            }
        }
    }
    let sign = if neg { f.sign() } else { 0 };
    if q == 0 {
        return sign;
    }
    if q >> p == 0 {
        // Subnormal (lsb is the minimum exponent's).
        return sign | q as u64;
    }
    let biased = lsb + p + f.bias();
    if biased >= (1 << f.ebits) - 1 {
        *flags |= OF | NX;
        let to_inf = match rm {
            Rm::Rne | Rm::Rmm => true,
            Rm::Rtz => false,
            Rm::Rdn => neg,
            Rm::Rup => !neg,
        };
        return sign | if to_inf { f.inf() } else { f.inf() - 1 };
    }
    sign | ((biased as u64) << f.mbits) | (q as u64 & f.frac_mask())
}

/// `x >> s` with the lost bits ORed into bit 0.
#[inline]
fn shr_jam(x: u128, s: u32) -> u128 {
    if s == 0 {
        x
    } else if s >= 128 {
        (x != 0) as u128
    } else {
        (x >> s) | ((x & ((1u128 << s) - 1)) != 0) as u128
    }
}

/// A signed term `(negative, exp, sig)`: `(-1)^negative * sig * 2^exp`.
type Term = (bool, i32, u128);

/// Exact sum of two terms (sigs nonzero and below 2^106), rounded. An
/// exact zero is +0 (-0 when rounding down).
fn add_exact(f: Fmt, a: Term, b: Term, rm: Rm, fl: &mut u32) -> u64 {
    let ((na, ea, a), (nb, eb, b)) = (a, b);
    let top = |e: i32, s: u128| e + 127 - s.leading_zeros() as i32;
    // X: the operand whose leading bit is higher, placed with that bit at
    // bit 125; Y aligned to it (jammed when shifted right: then its top is
    // at least ~20 bits below X's, so cancellation cannot reach the jam).
    let ((nx, ex, x), (ny, ey, y)) = if top(ea, a) >= top(eb, b) {
        ((na, ea, a), (nb, eb, b))
    } else {
        ((nb, eb, b), (na, ea, a))
    };
    let up = 125 - (127 - x.leading_zeros() as i32);
    let (x, e) = (x << up, ex - up);
    let d = ey - e;
    let y = if d >= 0 { y << d } else { shr_jam(y, (-d) as u32) };
    let (neg, sum) = if nx == ny {
        (nx, x + y)
    } else if x >= y {
        (nx, x - y)
    } else {
        (ny, y - x)
    };
    if sum == 0 {
        return if rm == Rm::Rdn { f.sign() } else { 0 };
    }
    round_pack(f, neg, e, sum, rm, fl)
}

/// NaN result of a two-operand arithmetic op: canonical, NV on a
/// signaling input.
#[inline]
fn nan2(f: Fmt, a: u64, b: u64, fl: &mut u32) -> u64 {
    if is_snan(f, a) || is_snan(f, b) {
        *fl |= NV;
    }
    f.nan()
}

/// `a + b` (`sub` negates b first).
pub fn add(f: Fmt, a: u64, b: u64, rm: Rm, fl: &mut u32) -> u64 {
    let ((na, va), (nb, vb)) = (unpack(f, a), unpack(f, b));
    match (va, vb) {
        (Val::Nan { .. }, _) | (_, Val::Nan { .. }) => nan2(f, a, b, fl),
        (Val::Inf, Val::Inf) if na != nb => {
            *fl |= NV;
            f.nan()
        }
        (Val::Inf, _) => a,
        (_, Val::Inf) => b,
        (Val::Zero, Val::Zero) => {
            if na == nb {
                a
            } else if rm == Rm::Rdn {
                f.sign()
            } else {
                0
            }
        }
        (Val::Zero, _) => b,
        (_, Val::Zero) => a,
        (Val::Finite { exp: ea, sig: sa }, Val::Finite { exp: eb, sig: sb }) => {
            add_exact(f, (na, ea, sa as u128), (nb, eb, sb as u128), rm, fl)
        }
    }
}

/// `a * b`.
pub fn mul(f: Fmt, a: u64, b: u64, rm: Rm, fl: &mut u32) -> u64 {
    let ((na, va), (nb, vb)) = (unpack(f, a), unpack(f, b));
    let sign = if na != nb { f.sign() } else { 0 };
    match (va, vb) {
        (Val::Nan { .. }, _) | (_, Val::Nan { .. }) => nan2(f, a, b, fl),
        (Val::Inf, Val::Zero) | (Val::Zero, Val::Inf) => {
            *fl |= NV;
            f.nan()
        }
        (Val::Inf, _) | (_, Val::Inf) => sign | f.inf(),
        (Val::Zero, _) | (_, Val::Zero) => sign,
        (Val::Finite { exp: ea, sig: sa }, Val::Finite { exp: eb, sig: sb }) => {
            round_pack(f, na != nb, ea + eb, sa as u128 * sb as u128, rm, fl)
        }
    }
}

/// `a / b`.
pub fn div(f: Fmt, a: u64, b: u64, rm: Rm, fl: &mut u32) -> u64 {
    let ((na, va), (nb, vb)) = (unpack(f, a), unpack(f, b));
    let sign = if na != nb { f.sign() } else { 0 };
    match (va, vb) {
        (Val::Nan { .. }, _) | (_, Val::Nan { .. }) => nan2(f, a, b, fl),
        (Val::Inf, Val::Inf) | (Val::Zero, Val::Zero) => {
            *fl |= NV;
            f.nan()
        }
        (Val::Inf, _) => sign | f.inf(),
        (_, Val::Inf) | (Val::Zero, _) => sign,
        (_, Val::Zero) => {
            *fl |= DZ;
            sign | f.inf()
        }
        (Val::Finite { exp: ea, sig: sa }, Val::Finite { exp: eb, sig: sb }) => {
            // Dividend's leading bit at 127, divisor's at 63: a quotient of
            // 64 or 65 bits, then a sticky bit for the remainder.
            let ua = sa.leading_zeros() + 64;
            let ub = sb.leading_zeros();
            let x = (sa as u128) << ua;
            let y = (sb << ub) as u128;
            let (q, r) = (x / y, x % y);
            let exp = ea - ua as i32 - (eb - ub as i32) - 1;
            round_pack(f, na != nb, exp, (q << 1) | (r != 0) as u128, rm, fl)
        }
    }
}

/// Floor square root of `n` and whether it is exact.
fn isqrt(n: u128) -> (u128, bool) {
    let mut x = 0u128;
    let mut rem = n;
    let mut bit = 1u128 << 126;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= x + bit {
            rem -= x + bit;
            x = (x >> 1) + bit;
        } else {
            x >>= 1;
        }
        bit >>= 2;
    }
    (x, rem == 0)
}

/// `sqrt(a)`.
pub fn sqrt(f: Fmt, a: u64, rm: Rm, fl: &mut u32) -> u64 {
    let (na, va) = unpack(f, a);
    match va {
        Val::Nan { .. } => nan2(f, a, a, fl),
        Val::Zero => a,
        _ if na => {
            *fl |= NV;
            f.nan()
        }
        Val::Inf => a,
        Val::Finite { exp, sig } => {
            // Even exponent, radicand's leading bit at 125 or 126.
            let mut sh = 125 - (63 - sig.leading_zeros() as i32);
            if (exp - sh) & 1 != 0 {
                sh += 1;
            }
            let (r, exact) = isqrt((sig as u128) << sh);
            round_pack(f, false, (exp - sh) / 2 - 1, (r << 1) | !exact as u128, rm, fl)
        }
    }
}

/// `a * b + c`, one rounding. Infinity times zero is invalid even when `c`
/// is a quiet NaN.
pub fn fma(f: Fmt, a: u64, b: u64, c: u64, rm: Rm, fl: &mut u32) -> u64 {
    let ((na, va), (nb, vb), (nc, vc)) = (unpack(f, a), unpack(f, b), unpack(f, c));
    let snan = is_snan(f, a) || is_snan(f, b) || is_snan(f, c);
    if matches!(va, Val::Nan { .. }) || matches!(vb, Val::Nan { .. }) {
        if snan {
            *fl |= NV;
        }
        return f.nan();
    }
    if matches!((va, vb), (Val::Inf, Val::Zero) | (Val::Zero, Val::Inf)) {
        *fl |= NV;
        return f.nan();
    }
    if matches!(vc, Val::Nan { .. }) {
        if snan {
            *fl |= NV;
        }
        return f.nan();
    }
    let np = na != nb;
    if va == Val::Inf || vb == Val::Inf {
        if vc == Val::Inf && nc != np {
            *fl |= NV;
            return f.nan();
        }
        return if np { f.sign() } else { 0 } | f.inf();
    }
    if vc == Val::Inf {
        return c;
    }
    match (va, vb, vc) {
        (Val::Zero, _, Val::Zero) | (_, Val::Zero, Val::Zero) => {
            if np == nc {
                c
            } else if rm == Rm::Rdn {
                f.sign()
            } else {
                0
            }
        }
        (Val::Zero, _, _) | (_, Val::Zero, _) => c,
        (Val::Finite { exp: ea, sig: sa }, Val::Finite { exp: eb, sig: sb }, vc) => {
            let (ep, p) = (ea + eb, sa as u128 * sb as u128);
            match vc {
                Val::Finite { exp: ec, sig: sc } => {
                    add_exact(f, (np, ep, p), (nc, ec, sc as u128), rm, fl)
                }
                _ => round_pack(f, np, ep, p, rm, fl),
            }
        }
        _ => unreachable!("NaN and infinite operands handled above"),
    }
}

/// Converts to another format (`FCVT.S.D`, `FCVT.D.S`).
pub fn convert(from: Fmt, to: Fmt, a: u64, rm: Rm, fl: &mut u32) -> u64 {
    let (na, va) = unpack(from, a);
    let sign = if na { to.sign() } else { 0 };
    match va {
        Val::Nan { signaling } => {
            if signaling {
                *fl |= NV;
            }
            to.nan()
        }
        Val::Inf => sign | to.inf(),
        Val::Zero => sign,
        Val::Finite { exp, sig } => round_pack(to, na, exp, sig as u128, rm, fl),
    }
}

/// Converts to an integer of `bits` (32 or 64) bits, signed or not, with
/// RISC-V's saturation: NaN and too large give the maximum, too small the
/// minimum, with NV (and no NX). The result is the integer's bit pattern
/// in the low `bits` bits (zero above).
pub fn to_int(f: Fmt, a: u64, signed: bool, bits: u32, rm: Rm, fl: &mut u32) -> u64 {
    let (neg, v) = unpack(f, a);
    let (max, min): (u128, u128) = if signed {
        ((1u128 << (bits - 1)) - 1, 1u128 << (bits - 1))
    } else {
        ((1u128 << bits) - 1, 0)
    };
    let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let sat = |fl: &mut u32, neg: bool| {
        *fl |= NV;
        let m = if neg { min.wrapping_neg() } else { max };
        m as u64 & mask
    };
    let (mag, inexact) = match v {
        Val::Nan { .. } => return sat(fl, false),
        Val::Inf => return sat(fl, neg),
        Val::Zero => return 0,
        Val::Finite { exp, sig } => {
            if exp >= 0 {
                if exp + 64 - sig.leading_zeros() as i32 > 65 {
                    return sat(fl, neg);
                }
                ((sig as u128) << exp, false)
            } else {
                shift_round(sig as u128, (-exp) as u32, rm, neg)
            }
        }
    };
    if (neg && mag > min) || (!neg && mag > max) {
        return sat(fl, neg);
    }
    if inexact {
        *fl |= NX;
    }
    let r = if neg { mag.wrapping_neg() } else { mag };
    r as u64 & mask
}

/// Converts the integer `v` (its low `bits` bits, signed or not).
pub fn from_int(f: Fmt, v: u64, signed: bool, bits: u32, rm: Rm, fl: &mut u32) -> u64 {
    let (neg, mag) = match (signed, bits) {
        (true, 32) => ((v as i32) < 0, (v as i32).unsigned_abs() as u64),
        (true, _) => ((v as i64) < 0, (v as i64).unsigned_abs()),
        (false, 32) => (false, v as u32 as u64),
        (false, _) => (false, v),
    };
    if mag == 0 {
        return 0;
    }
    round_pack(f, neg, 0, mag as u128, rm, fl)
}

/// Total order key of a non-NaN value (-0 and +0 equal).
#[inline]
fn key(f: Fmt, x: u64) -> i128 {
    let mag = (x & !f.sign()) as i128;
    if x & f.sign() != 0 {
        -mag
    } else {
        mag
    }
}

/// `FEQ` (quiet: NV only for a signaling NaN).
pub fn feq(f: Fmt, a: u64, b: u64, fl: &mut u32) -> bool {
    if is_nan(f, a) || is_nan(f, b) {
        if is_snan(f, a) || is_snan(f, b) {
            *fl |= NV;
        }
        return false;
    }
    key(f, a) == key(f, b)
}

/// `FLT` / `FLE` (signaling: NV for any NaN).
pub fn flt_le(f: Fmt, a: u64, b: u64, or_equal: bool, fl: &mut u32) -> bool {
    if is_nan(f, a) || is_nan(f, b) {
        *fl |= NV;
        return false;
    }
    let (x, y) = (key(f, a), key(f, b));
    x < y || (or_equal && x == y)
}

/// `FMIN` / `FMAX` (ISA 2.2: -0 < +0; one NaN operand gives the other;
/// two give the canonical NaN; a signaling NaN sets NV).
pub fn fminmax(f: Fmt, a: u64, b: u64, max: bool, fl: &mut u32) -> u64 {
    if is_snan(f, a) || is_snan(f, b) {
        *fl |= NV;
    }
    match (is_nan(f, a), is_nan(f, b)) {
        (true, true) => return f.nan(),
        (true, false) => return b,
        (false, true) => return a,
        _ => {}
    }
    let (x, y) = (key(f, a), key(f, b));
    let a_first = if x != y {
        (x < y) != max
    } else {
        // Equal: differs only for zeros of opposite signs.
        (a & f.sign() != 0) != max
    };
    if a_first {
        a
    } else {
        b
    }
}

/// `FCLASS`: one bit set, 0 (-inf) to 9 (quiet NaN).
pub fn fclass(f: Fmt, a: u64) -> u64 {
    let (neg, v) = unpack(f, a);
    let subnormal = a & f.exp_mask() == 0;
    let bit = match (v, neg) {
        (Val::Inf, true) => 0,
        (Val::Finite { .. }, true) if !subnormal => 1,
        (Val::Finite { .. }, true) => 2,
        (Val::Zero, true) => 3,
        (Val::Zero, false) => 4,
        (Val::Finite { .. }, false) if subnormal => 5,
        (Val::Finite { .. }, false) => 6,
        (Val::Inf, false) => 7,
        (Val::Nan { signaling: true }, _) => 8,
        (Val::Nan { signaling: false }, _) => 9,
    };
    1 << bit
}

/// The single-precision value in a register: its low 32 bits if NaN-boxed,
/// else the canonical NaN.
#[inline]
pub fn unbox(v: u64) -> u64 {
    if v >> 32 == 0xffff_ffff {
        v & 0xffff_ffff
    } else {
        F32.nan()
    }
}

/// NaN-boxes a single-precision pattern.
#[inline]
pub fn nan_box(v: u64) -> u64 {
    v | 0xffff_ffff_0000_0000
}

/// Value of the `time` CSR: host monotonic nanoseconds since the first
/// read in this process.
fn time_csr() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Executes one register-only F, D or Zicsr instruction (everything but
/// FLW/FSW/FLD/FSD, which go through guest memory in the interpreter).
/// Accrues exception flags into `fcsr`. `cycle` and `instret` read
/// `cpu.icount`, which the caller must have brought up to date (the
/// instructions before this one retired). Leaves the state untouched on a
/// trap.
pub fn exec_fp(cpu: &mut CpuState, i: Inst) -> Result<(), FpTrap> {
    use Op::*;
    let rm = if i.op.has_rm() {
        let m = if i.rm == 7 {
            (cpu.fcsr >> 5) & 7
        } else {
            i.rm as u64
        };
        Rm::from_bits(m).ok_or(FpTrap::IllegalRoundingMode)?
    } else {
        Rm::Rne
    };
    let g = &cpu.globals;
    let fr = |r: u8| g[32 + r as usize];
    let (f1, f2, f3) = (fr(i.rs1), fr(i.rs2), fr(i.rs3));
    let (s1, s2, s3) = (unbox(f1), unbox(f2), unbox(f3));
    let x1 = g[i.rs1 as usize];
    let mut fl = 0u32;
    let fl_ = &mut fl;
    let neg_s = |v: u64| v ^ F32.sign();
    let neg_d = |v: u64| v ^ F64.sign();
    let sext32 = |v: u64| v as u32 as i32 as i64 as u64;
    enum Out {
        F(u64),
        X(u64),
    }
    let out = match i.op {
        FmaddS => Out::F(nan_box(fma(F32, s1, s2, s3, rm, fl_))),
        FmsubS => Out::F(nan_box(fma(F32, s1, s2, neg_s(s3), rm, fl_))),
        FnmsubS => Out::F(nan_box(fma(F32, neg_s(s1), s2, s3, rm, fl_))),
        FnmaddS => Out::F(nan_box(fma(F32, neg_s(s1), s2, neg_s(s3), rm, fl_))),
        FmaddD => Out::F(fma(F64, f1, f2, f3, rm, fl_)),
        FmsubD => Out::F(fma(F64, f1, f2, neg_d(f3), rm, fl_)),
        FnmsubD => Out::F(fma(F64, neg_d(f1), f2, f3, rm, fl_)),
        FnmaddD => Out::F(fma(F64, neg_d(f1), f2, neg_d(f3), rm, fl_)),
        FaddS => Out::F(nan_box(add(F32, s1, s2, rm, fl_))),
        FsubS => Out::F(nan_box(add(F32, s1, neg_s(s2), rm, fl_))),
        FmulS => Out::F(nan_box(mul(F32, s1, s2, rm, fl_))),
        FdivS => Out::F(nan_box(div(F32, s1, s2, rm, fl_))),
        FsqrtS => Out::F(nan_box(sqrt(F32, s1, rm, fl_))),
        FaddD => Out::F(add(F64, f1, f2, rm, fl_)),
        FsubD => Out::F(add(F64, f1, neg_d(f2), rm, fl_)),
        FmulD => Out::F(mul(F64, f1, f2, rm, fl_)),
        FdivD => Out::F(div(F64, f1, f2, rm, fl_)),
        FsqrtD => Out::F(sqrt(F64, f1, rm, fl_)),
        FsgnjS => Out::F(nan_box((s1 & !F32.sign()) | (s2 & F32.sign()))),
        FsgnjnS => Out::F(nan_box((s1 & !F32.sign()) | (!s2 & F32.sign()))),
        FsgnjxS => Out::F(nan_box(s1 ^ (s2 & F32.sign()))),
        FsgnjD => Out::F((f1 & !F64.sign()) | (f2 & F64.sign())),
        FsgnjnD => Out::F((f1 & !F64.sign()) | (!f2 & F64.sign())),
        FsgnjxD => Out::F(f1 ^ (f2 & F64.sign())),
        FminS => Out::F(nan_box(fminmax(F32, s1, s2, false, fl_))),
        FmaxS => Out::F(nan_box(fminmax(F32, s1, s2, true, fl_))),
        FminD => Out::F(fminmax(F64, f1, f2, false, fl_)),
        FmaxD => Out::F(fminmax(F64, f1, f2, true, fl_)),
        FcvtSD => Out::F(nan_box(convert(F64, F32, f1, rm, fl_))),
        FcvtDS => Out::F(convert(F32, F64, s1, rm, fl_)),
        FcvtWS => Out::X(sext32(to_int(F32, s1, true, 32, rm, fl_))),
        FcvtWuS => Out::X(sext32(to_int(F32, s1, false, 32, rm, fl_))),
        FcvtLS => Out::X(to_int(F32, s1, true, 64, rm, fl_)),
        FcvtLuS => Out::X(to_int(F32, s1, false, 64, rm, fl_)),
        FcvtWD => Out::X(sext32(to_int(F64, f1, true, 32, rm, fl_))),
        FcvtWuD => Out::X(sext32(to_int(F64, f1, false, 32, rm, fl_))),
        FcvtLD => Out::X(to_int(F64, f1, true, 64, rm, fl_)),
        FcvtLuD => Out::X(to_int(F64, f1, false, 64, rm, fl_)),
        FcvtSW => Out::F(nan_box(from_int(F32, x1, true, 32, rm, fl_))),
        FcvtSWu => Out::F(nan_box(from_int(F32, x1, false, 32, rm, fl_))),
        FcvtSL => Out::F(nan_box(from_int(F32, x1, true, 64, rm, fl_))),
        FcvtSLu => Out::F(nan_box(from_int(F32, x1, false, 64, rm, fl_))),
        FcvtDW => Out::F(from_int(F64, x1, true, 32, rm, fl_)),
        FcvtDWu => Out::F(from_int(F64, x1, false, 32, rm, fl_)),
        FcvtDL => Out::F(from_int(F64, x1, true, 64, rm, fl_)),
        FcvtDLu => Out::F(from_int(F64, x1, false, 64, rm, fl_)),
        // The raw low 32 bits, boxed or not.
        FmvXW => Out::X(sext32(f1)),
        FmvWX => Out::F(nan_box(x1 & 0xffff_ffff)),
        FmvXD => Out::X(f1),
        FmvDX => Out::F(x1),
        FclassS => Out::X(fclass(F32, s1)),
        FclassD => Out::X(fclass(F64, f1)),
        FeqS => Out::X(feq(F32, s1, s2, fl_) as u64),
        FltS => Out::X(flt_le(F32, s1, s2, false, fl_) as u64),
        FleS => Out::X(flt_le(F32, s1, s2, true, fl_) as u64),
        FeqD => Out::X(feq(F64, f1, f2, fl_) as u64),
        FltD => Out::X(flt_le(F64, f1, f2, false, fl_) as u64),
        FleD => Out::X(flt_le(F64, f1, f2, true, fl_) as u64),
        Csrrw | Csrrs | Csrrc | Csrrwi | Csrrsi | Csrrci => {
            let num = i.imm as u16;
            let old = match num {
                csr::FFLAGS => cpu.fcsr & 0x1f,
                csr::FRM => (cpu.fcsr >> 5) & 7,
                csr::FCSR => cpu.fcsr & 0xff,
                csr::CYCLE | csr::INSTRET => cpu.icount,
                csr::TIME => time_csr(),
                // The decoder accepts no other CSR.
                _ => unreachable!("CSR {num:#x} passed the decoder"),
            };
            let src = if matches!(i.op, Csrrw | Csrrs | Csrrc) {
                x1
            } else {
                i.rs1 as u64
            };
            let new = match i.op {
                Csrrw | Csrrwi => Some(src),
                Csrrs | Csrrsi => (i.rs1 != 0).then_some(old | src),
                _ => (i.rs1 != 0).then_some(old & !src),
            };
            if let Some(v) = new {
                cpu.fcsr = match num {
                    csr::FFLAGS => (cpu.fcsr & !0x1f) | (v & 0x1f),
                    csr::FRM => (cpu.fcsr & 0x1f) | ((v & 7) << 5),
                    csr::FCSR => v & 0xff,
                    // Read-only: the decoder rejects writes.
                    _ => cpu.fcsr,
                };
            }
            Out::X(old)
        }
        Flw | Fsw | Fld | Fsd => unreachable!("FP loads and stores access guest memory"),
        op => unreachable!("{op:?} is not an F/D/Zicsr operation"),
    };
    match out {
        Out::F(v) => cpu.globals[32 + i.rd as usize] = v,
        Out::X(v) => {
            if i.rd != 0 {
                cpu.globals[i.rd as usize] = v;
            }
        }
    }
    cpu.fcsr |= fl as u64;
    Ok(())
}

/// The helper generated code calls for a [`Lowering::Helper`]
/// instruction (`Terminator::Helper`), through `CpuState::fp_helper_fn`:
/// runs [`exec_fp`] on the instruction packed by `Inst::pack`. Returns 0,
/// or 1 when the instruction traps (nothing changed; the block then exits
/// for the dispatcher to interpret it and raise the trap).
///
/// # Safety
/// `cpu` must point to a live `CpuState` not otherwise borrowed during the
/// call (generated code passes its own CPU-state pointer).
pub unsafe extern "sysv64" fn jit_fp_helper(cpu: *mut CpuState, packed: u64) -> u64 {
    // SAFETY: guaranteed by the caller: generated code holds the only
    // reference to the CPU state while it runs.
    let cpu = unsafe { &mut *cpu };
    match Inst::unpack(packed) {
        Some(i) if matches!(i.lowering(), Lowering::Helper) => exec_fp(cpu, i).is_err() as u64,
        // Generated code packs only helper instructions: anything else
        // (a counter CSR would read a stale `icount`) is interpreted.
        _ => 1,
    }
}

#[cfg(test)]
mod tests;
