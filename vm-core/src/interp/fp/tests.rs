use super::*;
use crate::frontend::riscv::{decode, encode};
use crate::rng::XorShift64;

const RM: [Rm; 5] = [Rm::Rne, Rm::Rtz, Rm::Rdn, Rm::Rup, Rm::Rmm];

/// An operation on fixed operands, by rounding mode, accruing flags.
type RoundedOp<'a> = dyn Fn(Rm, &mut u32) -> u64 + 'a;

/// Random patterns biased toward edge values: special exponents, tiny and
/// huge magnitudes, short mantissas (ties), and near-equal pairs.
fn edgy(rng: &mut XorShift64, f: Fmt) -> u64 {
    let r = rng.next_u64();
    let sign = if r & 1 != 0 { f.sign() } else { 0 };
    let emax = (1u64 << f.ebits) - 1;
    let exp = match (r >> 1) % 8 {
        0 => 0,
        1 => 1,
        2 => emax,
        3 => emax - 1,
        4 => f.bias() as u64 + (r >> 8) % 4,
        _ => (r >> 8) % emax,
    };
    let frac = match (r >> 4) % 4 {
        0 => 0,
        1 => (r >> 20) & 7,
        2 => f.frac_mask() - ((r >> 20) & 3),
        _ => rng.next_u64(),
    } & f.frac_mask();
    sign | (exp << f.mbits) | frac
}

/// Round-to-nearest-even results agree with the host's (IEEE) arithmetic
/// bit for bit, NaNs aside (ours are canonical).
#[test]
fn nearest_even_matches_the_host() {
    let mut rng = XorShift64(0x51ce_f00d);
    for _ in 0..200_000 {
        let (a, b, c) = (edgy(&mut rng, F64), edgy(&mut rng, F64), edgy(&mut rng, F64));
        let (x, y, z) = (f64::from_bits(a), f64::from_bits(b), f64::from_bits(c));
        let mut fl = 0;
        let cases = [
            (add(F64, a, b, Rm::Rne, &mut fl), (x + y).to_bits(), "add"),
            (mul(F64, a, b, Rm::Rne, &mut fl), (x * y).to_bits(), "mul"),
            (div(F64, a, b, Rm::Rne, &mut fl), (x / y).to_bits(), "div"),
            (sqrt(F64, a, Rm::Rne, &mut fl), x.sqrt().to_bits(), "sqrt"),
            (fma(F64, a, b, c, Rm::Rne, &mut fl), x.mul_add(y, z).to_bits(), "fma"),
        ];
        for (got, want, what) in cases {
            let want = if f64::from_bits(want).is_nan() { F64.nan() } else { want };
            assert_eq!(got, want, "{what} {a:#x} {b:#x} {c:#x}");
        }
        let got = convert(F64, F32, a, Rm::Rne, &mut fl);
        let want = if x.is_nan() { F32.nan() } else { (x as f32).to_bits() as u64 };
        assert_eq!(got, want, "cvt.s.d {a:#x}");
        let (a, b, c) = (edgy(&mut rng, F32), edgy(&mut rng, F32), edgy(&mut rng, F32));
        let (x, y, z) = (
            f32::from_bits(a as u32),
            f32::from_bits(b as u32),
            f32::from_bits(c as u32),
        );
        let cases = [
            (add(F32, a, b, Rm::Rne, &mut fl), x + y, "add"),
            (mul(F32, a, b, Rm::Rne, &mut fl), x * y, "mul"),
            (div(F32, a, b, Rm::Rne, &mut fl), x / y, "div"),
            (sqrt(F32, a, Rm::Rne, &mut fl), x.sqrt(), "sqrt"),
            (fma(F32, a, b, c, Rm::Rne, &mut fl), x.mul_add(y, z), "fma"),
        ];
        for (got, want, what) in cases {
            let want = if want.is_nan() { F32.nan() } else { want.to_bits() as u64 };
            assert_eq!(got, want, "{what}.s {a:#x} {b:#x} {c:#x}");
        }
        let cvt = convert(F32, F64, a, Rm::Rne, &mut fl);
        let want = if x.is_nan() { F64.nan() } else { (x as f64).to_bits() };
        assert_eq!(cvt, want, "cvt.d.s {a:#x}");
    }
}

/// Directed modes bracket the exact result: RDN <= RNE, RMM <= RUP, RTZ
/// is the one of RDN/RUP toward zero, and RDN == RUP exactly when NX is
/// clear.
#[test]
fn directed_modes_bracket_nearest() {
    let mut rng = XorShift64(0xabad_1dea);
    for _ in 0..100_000 {
        let (a, b, c) = (edgy(&mut rng, F64), edgy(&mut rng, F64), edgy(&mut rng, F64));
        let ops: [&RoundedOp; 5] = [
            &|rm, fl| add(F64, a, b, rm, fl),
            &|rm, fl| mul(F64, a, b, rm, fl),
            &|rm, fl| div(F64, a, b, rm, fl),
            &|rm, fl| sqrt(F64, a, rm, fl),
            &|rm, fl| fma(F64, a, b, c, rm, fl),
        ];
        for (k, op) in ops.iter().enumerate() {
            let mut fl = [0u32; 5];
            let r: Vec<u64> = RM.iter().zip(fl.iter_mut()).map(|(&m, f)| op(m, f)).collect();
            if r.iter().any(|&v| is_nan(F64, v)) {
                assert!(r.iter().all(|&v| v == F64.nan()), "op {k}: {r:x?}");
                continue;
            }
            let v = |x: u64| f64::from_bits(x);
            let (rne, rtz, rdn, rup, rmm) = (v(r[0]), v(r[1]), v(r[2]), v(r[3]), v(r[4]));
            assert!(rdn <= rne && rne <= rup && rdn <= rmm && rmm <= rup, "op {k} {a:#x} {b:#x} {c:#x}");
            let exact = fl[0] & NX == 0;
            assert_eq!(exact, r[2] == r[3] || (rdn == 0.0 && rup == 0.0), "op {k} {a:#x} {b:#x}");
            let toward_zero = if rdn >= 0.0 && rup > 0.0 { rdn } else { rup };
            if !exact {
                assert_eq!(rtz, toward_zero, "op {k} {a:#x} {b:#x}");
            }
            // Flags other than OF/UF do not depend on the mode.
            for f in &fl {
                assert_eq!(f & (NV | DZ), fl[0] & (NV | DZ), "op {k}");
            }
        }
    }
}

#[test]
fn ties_in_every_rounding_mode() {
    // 1 + 2^-24 is a tie between 1 and 1 + 2^-23 in binary32.
    let one = 0x3f80_0000u64;
    let half_ulp = 0x3380_0000u64; // 2^-24
    let want = [one, one, one, one + 1, one + 1];
    for (m, w) in RM.iter().zip(want) {
        let mut fl = 0;
        assert_eq!(add(F32, one, half_ulp, *m, &mut fl), w, "{m:?}");
        assert_eq!(fl, NX);
    }
    // -(1 + 2^-24): ties away/even are mirrored; down goes away from zero.
    let neg = |x: u64| x | F32.sign();
    let want = [neg(one), neg(one), neg(one + 1), neg(one), neg(one + 1)];
    for (m, w) in RM.iter().zip(want) {
        let mut fl = 0;
        assert_eq!(add(F32, neg(one), neg(half_ulp), *m, &mut fl), w, "{m:?}");
    }
    // 1 + 3 * 2^-24 ties to 1 + 2 * 2^-23 under RNE (even), same under RMM.
    let mut fl = 0;
    let x = add(F32, one + 1, half_ulp, Rm::Rne, &mut fl);
    assert_eq!(x, one + 2);
    // Integer conversion ties: 2.5 -> 2 (RNE), 3 (RMM); -2.5 -> -3 (RDN).
    let d = |v: f64| v.to_bits();
    let cases = [(2.5, Rm::Rne, 2i64), (2.5, Rm::Rmm, 3), (-2.5, Rm::Rdn, -3), (-2.5, Rm::Rtz, -2), (-2.5, Rm::Rup, -2), (3.5, Rm::Rne, 4)];
    for (v, m, w) in cases {
        let mut fl = 0;
        assert_eq!(to_int(F64, d(v), true, 64, m, &mut fl) as i64, w, "{v} {m:?}");
        assert_eq!(fl, NX);
    }
}

#[test]
fn overflow_underflow_and_subnormals() {
    let mut fl = 0;
    let max = f64::MAX.to_bits();
    assert_eq!(add(F64, max, max, Rm::Rne, &mut fl), f64::INFINITY.to_bits());
    assert_eq!(fl, OF | NX);
    for (m, w) in [(Rm::Rtz, max), (Rm::Rdn, max), (Rm::Rup, f64::INFINITY.to_bits())] {
        let mut fl = 0;
        assert_eq!(mul(F64, max, 2f64.to_bits(), m, &mut fl), w, "{m:?}");
        assert_eq!(fl, OF | NX);
    }
    let mut fl = 0;
    assert_eq!(mul(F64, max | F64.sign(), 2f64.to_bits(), Rm::Rdn, &mut fl), f64::NEG_INFINITY.to_bits());
    // Exact subnormal result: no flags.
    let tiny = 1u64; // smallest subnormal
    let mut fl = 0;
    assert_eq!(add(F64, tiny, tiny, Rm::Rne, &mut fl), 2);
    assert_eq!(fl, 0);
    // Inexact tiny result: UF | NX; rounds to 0 or the smallest subnormal.
    let mut fl = 0;
    assert_eq!(mul(F64, tiny, 0.5f64.to_bits(), Rm::Rne, &mut fl), 0);
    assert_eq!(fl, UF | NX);
    let mut fl = 0;
    assert_eq!(mul(F64, tiny, 0.5f64.to_bits(), Rm::Rup, &mut fl), 1);
    assert_eq!(fl, UF | NX);
    // Tininess after rounding: 2^-126 - 2^-151 (an exact fma) rounds to
    // 2^-126 at 24 bits with an unbounded exponent: not tiny, no UF,
    // though below MIN_POSITIVE before rounding.
    let (a, b, c) = (0x1980_0000, 0x9a00_0000, 0x0080_0000); // 2^-76, -2^-75, 2^-126
    let mut fl = 0;
    assert_eq!(fma(F32, a, b, c, Rm::Rne, &mut fl), 0x0080_0000);
    assert_eq!(fl, NX, "not tiny after rounding");
    let mut fl = 0;
    assert_eq!(fma(F32, a, b, c, Rm::Rtz, &mut fl), 0x007f_ffff);
    assert_eq!(fl, UF | NX);
    // 2^-126 - 2^-150 is representable at 24 bits below 2^-126: tiny, and
    // a tie at subnormal precision (to even: 2^-126).
    let mut fl = 0;
    assert_eq!(mul(F32, 0x3f7f_ffff, 0x0080_0000, Rm::Rne, &mut fl), 0x0080_0000);
    assert_eq!(fl, UF | NX);
    // Division by zero and invalid operations.
    let mut fl = 0;
    assert_eq!(div(F64, 1f64.to_bits(), 0, Rm::Rne, &mut fl), f64::INFINITY.to_bits());
    assert_eq!(fl, DZ);
    let mut fl = 0;
    assert_eq!(div(F64, 0, 0, Rm::Rne, &mut fl), F64.nan());
    assert_eq!(fl, NV);
    let mut fl = 0;
    assert_eq!(sqrt(F64, (-1f64).to_bits(), Rm::Rne, &mut fl), F64.nan());
    assert_eq!(fl, NV);
    let mut fl = 0;
    assert_eq!(sqrt(F64, (-0f64).to_bits(), Rm::Rne, &mut fl), (-0f64).to_bits());
    assert_eq!(fl, 0);
}

#[test]
fn signed_zeros_and_nans() {
    let (pz, nz) = (0u64, F64.sign());
    let mut fl = 0;
    assert_eq!(add(F64, pz, nz, Rm::Rne, &mut fl), pz);
    assert_eq!(add(F64, pz, nz, Rm::Rdn, &mut fl), nz);
    assert_eq!(add(F64, nz, nz, Rm::Rne, &mut fl), nz);
    // x - x is +0, or -0 rounding down.
    let x = 1.5f64.to_bits();
    assert_eq!(add(F64, x, x | F64.sign(), Rm::Rne, &mut fl), pz);
    assert_eq!(add(F64, x, x | F64.sign(), Rm::Rdn, &mut fl), nz);
    assert_eq!(fl, 0);
    // NaN payloads never propagate; sNaN raises NV, qNaN does not.
    let snan = 0x7ff0_0000_0000_0001u64;
    let qnan = 0xfff8_0000_dead_beefu64;
    let mut fl = 0;
    assert_eq!(add(F64, qnan, x, Rm::Rne, &mut fl), F64.nan());
    assert_eq!(fl, 0);
    assert_eq!(mul(F64, x, snan, Rm::Rne, &mut fl), F64.nan());
    assert_eq!(fl, NV);
    // fma: inf * 0 + qNaN is invalid.
    let mut fl = 0;
    assert_eq!(fma(F64, f64::INFINITY.to_bits(), 0, qnan, Rm::Rne, &mut fl), F64.nan());
    assert_eq!(fl, NV);
    // fma: exact zero sums.
    let mut fl = 0;
    assert_eq!(fma(F64, x, x, (2.25f64).to_bits() | F64.sign(), Rm::Rdn, &mut fl), nz);
    assert_eq!(fma(F64, nz, x, nz, Rm::Rne, &mut fl), nz);
    assert_eq!(fl, 0);
}

#[test]
fn min_max_follow_the_2_2_spec() {
    let (pz, nz) = (0u64, F64.sign());
    let snan = 0x7ff0_0000_0000_0001u64;
    let qnan = 0x7ff8_0000_0000_0001u64;
    let one = 1f64.to_bits();
    let mut fl = 0;
    assert_eq!(fminmax(F64, pz, nz, false, &mut fl), nz);
    assert_eq!(fminmax(F64, nz, pz, false, &mut fl), nz);
    assert_eq!(fminmax(F64, pz, nz, true, &mut fl), pz);
    assert_eq!(fminmax(F64, nz, pz, true, &mut fl), pz);
    assert_eq!(fminmax(F64, qnan, one, false, &mut fl), one);
    assert_eq!(fminmax(F64, one, qnan, true, &mut fl), one);
    assert_eq!(fl, 0);
    assert_eq!(fminmax(F64, snan, one, false, &mut fl), one);
    assert_eq!(fl, NV);
    let mut fl = 0;
    assert_eq!(fminmax(F64, qnan, qnan, true, &mut fl), F64.nan());
    assert_eq!(fl, 0);
    assert_eq!(fminmax(F64, (-2f64).to_bits(), one, true, &mut fl), one);
    assert_eq!(fminmax(F64, (-2f64).to_bits(), one, false, &mut fl), (-2f64).to_bits());
    // Comparisons: FEQ quiet, FLT/FLE signaling.
    let mut fl = 0;
    assert!(!feq(F64, qnan, qnan, &mut fl));
    assert_eq!(fl, 0);
    assert!(feq(F64, pz, nz, &mut fl));
    assert!(flt_le(F64, nz, pz, true, &mut fl) && !flt_le(F64, nz, pz, false, &mut fl));
    assert!(!flt_le(F64, qnan, one, false, &mut fl));
    assert_eq!(fl, NV);
}

#[test]
fn conversions_saturate_at_the_edges() {
    let d = |v: f64| v.to_bits();
    let s = |v: f32| v.to_bits() as u64;
    let mut fl = 0;
    // NaN -> the maximum, NV.
    assert_eq!(to_int(F64, F64.nan(), true, 32, Rm::Rne, &mut fl), 0x7fff_ffff);
    assert_eq!(to_int(F64, F64.nan(), false, 64, Rm::Rne, &mut fl), u64::MAX);
    assert_eq!(fl, NV);
    let cases: &[(u64, Fmt, bool, u32, u64, u32)] = &[
        (d(2147483647.0), F64, true, 32, 0x7fff_ffff, 0),
        (d(2147483647.5), F64, true, 32, 0x7fff_ffff, NX), // RNE: ties to even? no: .5 of odd -> 2^31 overflows
        (d(2147483648.0), F64, true, 32, 0x7fff_ffff, NV),
        (d(-2147483648.0), F64, true, 32, 0x8000_0000, 0),
        (d(-2147483649.0), F64, true, 32, 0x8000_0000, NV),
        (d(4294967295.0), F64, false, 32, 0xffff_ffff, 0),
        (d(4294967296.0), F64, false, 32, 0xffff_ffff, NV),
        (d(-0.4), F64, false, 32, 0, NX),
        (d(-1.0), F64, false, 32, 0, NV),
        (d(-0.0), F64, false, 64, 0, 0),
        (d(9.223372036854776e18), F64, true, 64, i64::MAX as u64, NV),
        (d(-9.223372036854776e18), F64, true, 64, i64::MIN as u64, 0),
        (d(1.8446744073709552e19), F64, false, 64, u64::MAX, NV),
        (d(f64::INFINITY), F64, false, 64, u64::MAX, NV),
        (d(f64::NEG_INFINITY), F64, true, 64, i64::MIN as u64, NV),
        (d(f64::NEG_INFINITY), F64, false, 64, 0, NV),
        (d(1e300), F64, true, 64, i64::MAX as u64, NV),
        (s(-1.5), F32, true, 32, (-2i32) as u32 as u64, NX),
        (s(16777217.0), F32, true, 64, 16777216, 0),
    ];
    for &(v, f, signed, bits, want, flags) in cases {
        let mut fl = 0;
        let got = to_int(f, v, signed, bits, Rm::Rne, &mut fl);
        // 2147483647.5 rounds (ties-to-even) to 2^31: out of range.
        let (want, flags) = if v == d(2147483647.5) { (0x7fff_ffff, NV) } else { (want, flags) };
        assert_eq!((got, fl), (want, flags), "{v:#x} signed={signed} bits={bits}");
    }
    // Integer -> float: exact and rounded.
    let mut fl = 0;
    assert_eq!(from_int(F32, 16777217, true, 64, Rm::Rne, &mut fl), s(16777216.0));
    assert_eq!(fl, NX);
    let mut fl = 0;
    assert_eq!(from_int(F32, 16777217, true, 64, Rm::Rup, &mut fl), s(16777218.0));
    assert_eq!(from_int(F64, i64::MIN as u64, true, 64, Rm::Rne, &mut fl), d(-9.223372036854776e18));
    assert_eq!(from_int(F64, u64::MAX, false, 64, Rm::Rtz, &mut fl), d(1.844674407370955e19));
    assert_eq!(from_int(F64, 0xffff_ffff, true, 32, Rm::Rne, &mut fl), d(-1.0));
    assert_eq!(from_int(F64, 0xffff_ffff, false, 32, Rm::Rne, &mut fl), d(4294967295.0));
}

#[test]
fn fclass_covers_every_class() {
    let d = |v: f64| v.to_bits();
    let cases = [
        (d(f64::NEG_INFINITY), 0),
        (d(-1.0), 1),
        (F64.sign() | 1, 2),
        (d(-0.0), 3),
        (d(0.0), 4),
        (1, 5),
        (d(1.0), 6),
        (d(f64::INFINITY), 7),
        (0x7ff0_0000_0000_0001, 8),
        (F64.nan(), 9),
    ];
    for (v, bit) in cases {
        assert_eq!(fclass(F64, v), 1 << bit, "{v:#x}");
    }
}

fn cpu_with(regs: &[(usize, u64)], fcsr: u64) -> CpuState {
    let mut cpu = CpuState::default();
    for &(r, v) in regs {
        cpu.globals[r] = v;
    }
    cpu.fcsr = fcsr;
    cpu
}

fn inst(op: Op, rd: u8, rs1: u8, rs2: u8, rm: u8) -> Inst {
    let i = Inst {
        op,
        rd,
        rs1,
        rs2,
        rs3: 0,
        rm,
        len: 4,
        imm: 0,
    };
    decode(encode(&i)).expect("valid encoding")
}

#[test]
fn nan_boxing_and_register_moves() {
    let one_s = 0x3f80_0000u64;
    // f1 = boxed 1.0, f2 = an unboxed pattern: reads as the canonical NaN.
    let mut cpu = cpu_with(&[(33, nan_box(one_s)), (34, one_s)], 0);
    exec_fp(&mut cpu, inst(Op::FaddS, 3, 1, 2, 0)).unwrap();
    assert_eq!(cpu.globals[35], nan_box(F32.nan()));
    exec_fp(&mut cpu, inst(Op::FaddS, 3, 1, 1, 0)).unwrap();
    assert_eq!(cpu.globals[35], nan_box(0x4000_0000));
    // FMV.X.W takes the raw low bits, sign-extended, boxed or not.
    exec_fp(&mut cpu, inst(Op::FmvXW, 10, 2, 0, 0)).unwrap();
    assert_eq!(cpu.globals[10], one_s);
    cpu.globals[36] = 0x1234_5678_8000_0000;
    exec_fp(&mut cpu, inst(Op::FmvXW, 10, 4, 0, 0)).unwrap();
    assert_eq!(cpu.globals[10], 0xffff_ffff_8000_0000);
    // FMV.W.X boxes; FSGNJ.S of an unboxed input is of the canonical NaN.
    cpu.globals[11] = 0xdead_beef_4040_0000;
    exec_fp(&mut cpu, inst(Op::FmvWX, 5, 11, 0, 0)).unwrap();
    assert_eq!(cpu.globals[37], nan_box(0x4040_0000));
    exec_fp(&mut cpu, inst(Op::FsgnjnS, 6, 2, 2, 0)).unwrap();
    assert_eq!(cpu.globals[38], nan_box(F32.nan() | F32.sign()));
    // FCVT.WU.S sign-extends its 32-bit result.
    cpu.globals[33] = nan_box(0x4f7f_ffff); // 4294967040.0
    exec_fp(&mut cpu, inst(Op::FcvtWuS, 12, 1, 0, 1)).unwrap();
    assert_eq!(cpu.globals[12], 0xffff_ffff_ffff_ff00);
    // x0 stays 0; f0 is a real register.
    exec_fp(&mut cpu, inst(Op::FmvXD, 0, 1, 0, 0)).unwrap();
    assert_eq!(cpu.globals[0], 0);
    exec_fp(&mut cpu, inst(Op::FmvDX, 0, 11, 0, 0)).unwrap();
    assert_eq!(cpu.globals[32], 0xdead_beef_4040_0000);
}

#[test]
fn csrs_and_dynamic_rounding() {
    let csr = |op: Op, rd: u8, rs1: u8, num: u16| {
        let i = Inst {
            op,
            rd,
            rs1,
            rs2: 0,
            rs3: 0,
            rm: 0,
            len: 4,
            imm: num as i32,
        };
        decode(encode(&i)).expect("valid CSR access")
    };
    // fsrm a0 <- 1 (RTZ): old frm 0 to a1.
    let mut cpu = cpu_with(&[(10, 1)], 0b00101);
    exec_fp(&mut cpu, csr(Op::Csrrw, 11, 10, 0x002)).unwrap();
    assert_eq!((cpu.globals[11], cpu.fcsr), (0, (1 << 5) | 0b00101));
    // frflags / fsflagsi / fcsr.
    exec_fp(&mut cpu, csr(Op::Csrrs, 12, 0, 0x001)).unwrap();
    assert_eq!(cpu.globals[12], 0b00101);
    exec_fp(&mut cpu, csr(Op::Csrrci, 13, 1, 0x001)).unwrap();
    assert_eq!((cpu.globals[13], cpu.fcsr), (0b00101, (1 << 5) | 0b00100));
    exec_fp(&mut cpu, csr(Op::Csrrwi, 14, 31, 0x003)).unwrap();
    assert_eq!((cpu.globals[14], cpu.fcsr), ((1 << 5) | 0b00100, 31));
    cpu.globals[10] = 0xfff;
    exec_fp(&mut cpu, csr(Op::Csrrw, 0, 10, 0x003)).unwrap();
    assert_eq!(cpu.fcsr, 0xff, "upper bits of fcsr read as zero");
    // Dynamic rounding: frm = 7 is reserved: illegal, state untouched.
    cpu.globals[33] = 1f64.to_bits();
    let before = *cpu.guest();
    assert_eq!(exec_fp(&mut cpu, inst(Op::FaddD, 3, 1, 1, 7)), Err(FpTrap::IllegalRoundingMode));
    assert_eq!(*cpu.guest(), before);
    // frm = RUP (3): 1 + 2^-60 rounds up; the flags accrue.
    cpu.fcsr = 3 << 5;
    cpu.globals[34] = (2f64).powi(-60).to_bits();
    exec_fp(&mut cpu, inst(Op::FaddD, 3, 1, 2, 7)).unwrap();
    assert_eq!(cpu.globals[35], 1f64.to_bits() + 1);
    assert_eq!(cpu.fcsr, (3 << 5) | NX as u64);
    // A static mode overrides frm.
    exec_fp(&mut cpu, inst(Op::FaddD, 3, 1, 2, 0)).unwrap();
    assert_eq!(cpu.globals[35], 1f64.to_bits());
    // Counters: instret = cycle = retired count.
    cpu.icount = 1234;
    exec_fp(&mut cpu, csr(Op::Csrrs, 15, 0, 0xc02)).unwrap();
    exec_fp(&mut cpu, csr(Op::Csrrs, 16, 0, 0xc00)).unwrap();
    assert_eq!((cpu.globals[15], cpu.globals[16]), (1234, 1234));
}

/// `Inst::pack` / `Inst::unpack` (the FP helper's argument) round-trip
/// every operation and field, and `Op::ALL` is in declaration order (the
/// unpacked op byte indexes it).
#[test]
fn packed_instructions_round_trip() {
    let mut rng = XorShift64(0x9ac4);
    for (k, op) in Op::ALL.into_iter().enumerate() {
        assert_eq!(op as u8 as usize, k, "{op:?}");
        let b = |rng: &mut XorShift64| rng.below(32) as u8;
        let i = Inst {
            op,
            rd: b(&mut rng),
            rs1: b(&mut rng),
            rs2: b(&mut rng),
            rs3: b(&mut rng),
            rm: rng.below(8) as u8,
            len: 4,
            imm: rng.below(4096) as i32,
        };
        assert_eq!(Inst::unpack(i.pack()), Some(i));
    }
    assert_eq!(Inst::unpack(0xff), None);
}

/// The helper runs an instruction as `exec_fp` does, refuses what is not
/// a helper instruction (counter CSRs, integer ops), and reports a trap
/// with the state untouched.
#[test]
fn jit_helper_matches_exec_fp() {
    let add = Inst {
        op: Op::FaddD,
        rd: 3,
        rs1: 1,
        rs2: 2,
        rs3: 0,
        rm: 7,
        len: 4,
        imm: 0,
    };
    let mut cpu = CpuState::default();
    cpu.globals[33] = 1.5f64.to_bits();
    cpu.globals[34] = 0.1f64.to_bits();
    let mut want = CpuState::default();
    want.globals = cpu.globals;
    exec_fp(&mut want, add).unwrap();
    // SAFETY: a live, unshared CPU state.
    assert_eq!(unsafe { jit_fp_helper(&mut cpu, add.pack()) }, 0);
    assert_eq!((cpu.globals, cpu.fcsr), (want.globals, want.fcsr));
    // Reserved dynamic rounding mode: a trap, nothing written.
    cpu.fcsr = 5 << 5;
    let before = cpu.globals;
    // SAFETY: as above.
    assert_eq!(unsafe { jit_fp_helper(&mut cpu, add.pack()) }, 1);
    assert_eq!((cpu.globals, cpu.fcsr), (before, 5 << 5));
    let cycle = Inst { op: Op::Csrrs, rd: 5, rs1: 0, imm: 0xc00, rm: 0, ..add };
    // SAFETY: as above.
    assert_eq!(unsafe { jit_fp_helper(&mut cpu, cycle.pack()) }, 1);
    let int = Inst { op: Op::Add, ..add };
    // SAFETY: as above.
    assert_eq!(unsafe { jit_fp_helper(&mut cpu, int.pack()) }, 1);
    assert_eq!(cpu.globals, before);
}
