//! Lazy condition codes shared by the flag-based guest frontends (x86-64
//! and AArch64), in the spirit of QEMU's `cc_op`.
//!
//! The IR has no flags register. A flag-setting guest instruction records
//! *how* the flags would be computed ([`FlagSrc`]); a later conditional
//! branch, select or set turns the pair into a single IR comparison when it
//! can (`cmp a, b; jl` becomes `Branch { Lt, a, b }`), and only otherwise
//! materializes the four flags as 0/1 values. Flags that live across a block
//! boundary are stored in four guest globals, in the guest's own carry
//! convention (x86 `CF` is the borrow of a subtraction, AArch64 `C` its
//! inverse).

use crate::ir::dense::UnitBuilder;
use crate::ir::{BinOp, Cond, Temp, UnOp};

/// A guest condition, named by what it means after a compare `a - b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcKind {
    /// Equal (Z set).
    Eq,
    /// Not equal.
    Ne,
    /// Signed less than (N != V).
    Lt,
    /// Signed greater or equal.
    Ge,
    /// Signed greater than.
    Gt,
    /// Signed less or equal.
    Le,
    /// Unsigned below (x86 `CF`, AArch64 `!C`).
    B,
    /// Unsigned above or equal.
    Ae,
    /// Unsigned above.
    A,
    /// Unsigned below or equal.
    Be,
    /// Negative (N set).
    Mi,
    /// Positive or zero.
    Pl,
    /// Overflow (V set).
    Vs,
    /// No overflow.
    Vc,
    /// Always true (AArch64 `al`/`nv`).
    Al,
}

impl CcKind {
    /// The opposite condition.
    pub fn invert(self) -> CcKind {
        use CcKind::*;
        match self {
            Eq => Ne,
            Ne => Eq,
            Lt => Ge,
            Ge => Lt,
            Gt => Le,
            Le => Gt,
            B => Ae,
            Ae => B,
            A => Be,
            Be => A,
            Mi => Pl,
            Pl => Mi,
            Vs => Vc,
            Vc => Vs,
            Al => Al,
        }
    }
}

/// The four flags as 0/1 temps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// Zero.
    pub z: Temp,
    /// Negative (sign).
    pub n: Temp,
    /// Carry, in the guest's convention.
    pub c: Temp,
    /// Signed overflow.
    pub v: Temp,
}

/// How the current flags are defined. Operand temps hold the raw 64-bit
/// values; `w` (8, 16, 32 or 64) is the operation width and `r` the result
/// already truncated (zero-extended) to `w` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagSrc {
    /// Defined by an earlier block: the flag globals.
    Globals,
    /// `r = a - b`.
    Sub { a: Temp, b: Temp, r: Temp, w: u32 },
    /// `r = a + b`.
    Add { a: Temp, b: Temp, r: Temp, w: u32 },
    /// Logical result: Z and N from `r`, C = V = 0.
    Logic { r: Temp, w: u32 },
    /// Z and N from `r`; C and V are not modeled (x86 shifts).
    ZnOnly { r: Temp, w: u32 },
    /// `r = a - b - cin` (`sub`, x86 `sbb`) or `a + b + cin` (`adc`), with
    /// the carry in `cin` (0/1, x86 convention: CF = borrow); only the
    /// x86-64 lifter sets it. Materialized when read.
    Carried {
        a: Temp,
        b: Temp,
        cin: Temp,
        r: Temp,
        w: u32,
        sub: bool,
    },
    /// Already materialized.
    Mat(Flags),
    /// Set by an instruction whose flag results are not modeled; reading
    /// them is an error naming that instruction.
    Unknown { pc: u64, mnemonic: &'static str },
}

/// `r` of a [`FlagSrc::Sub`] whose result nobody else needs (compares):
/// the result is computed only if a condition or materialization needs it.
pub const LAZY_RESULT: Temp = Temp::MAX;

/// `(a - b)` truncated to `w` bits.
fn sub_result(b: &mut UnitBuilder, a: Temp, y: Temp, w: u32) -> Temp {
    bin_w(b, BinOp::Sub, a, y, w)
}

/// A condition that cannot be evaluated: the flags come from an
/// instruction whose flag results are not modeled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnmodeledFlags {
    /// Guest pc of the flag-setting instruction.
    pub pc: u64,
    /// Its mnemonic.
    pub mnemonic: &'static str,
}

/// Where the carry flag comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Implied by the flag source.
    FromSrc,
    /// Kept from before (x86 `inc`/`dec`): this temp.
    Override(Temp),
    /// Kept from an instruction whose carry is not modeled: reading it (or
    /// storing the flags) is an error naming that instruction.
    Unknown {
        /// Guest pc of that instruction.
        pc: u64,
        /// Its mnemonic.
        mnemonic: &'static str,
    },
}

/// Per-block lazy flag state of one frontend.
#[derive(Debug, Clone, Copy)]
pub struct FlagState {
    /// Current definition.
    pub src: FlagSrc,
    /// Where the carry comes from (x86 `inc`/`dec` keep the old CF).
    pub carry: Carry,
    /// Globals holding Z, N, C, V across blocks.
    pub globals: [u8; 4],
    /// AArch64 convention: C is the inverse of the borrow of a subtraction.
    pub arm_carry: bool,
}

/// The constants a frontend defined in the current block: reuses the temp
/// of a value seen before (a small direct-mapped cache, no allocation).
#[derive(Debug, Clone, Copy)]
pub struct ConstCache {
    slots: [(u64, Temp); 8],
}

impl Default for ConstCache {
    fn default() -> Self {
        Self {
            slots: [(0, Temp::MAX); 8],
        }
    }
}

impl ConstCache {
    /// A temp holding `v`, defined earlier in the block if possible.
    #[inline]
    pub fn get(&mut self, b: &mut UnitBuilder, v: u64) -> Temp {
        let i = ((v ^ (v >> 7) ^ (v >> 17)) & 7) as usize;
        let (cv, t) = self.slots[i];
        if cv == v && t != Temp::MAX {
            return t;
        }
        let t = b.constant(v);
        self.slots[i] = (v, t);
        t
    }
}

/// Sign-extends the low `w` bits of `t`.
#[inline]
pub fn sext_w(b: &mut UnitBuilder, t: Temp, w: u32) -> Temp {
    match w {
        64 => t,
        32 => b.un(UnOp::Sext32, t),
        _ => {
            let s = b.constant(64 - w as u64);
            let x = b.bin(BinOp::Shl, t, s);
            b.bin(BinOp::Sar, x, s)
        }
    }
}

/// Zero-extends the low `w` bits of `t`.
#[inline]
pub fn zext_w(b: &mut UnitBuilder, t: Temp, w: u32) -> Temp {
    match w {
        64 => t,
        32 => b.un(UnOp::Zext32, t),
        _ => {
            let m = b.constant((1u64 << w) - 1);
            b.bin(BinOp::And, t, m)
        }
    }
}

/// `x op y` truncated to `w` bits (zero-extended): a 32-bit result is one
/// [`crate::ir::dense::kind::BIN32`] record instead of the operation and
/// a `Zext32`. Inlined with one test on the width (the 8/16-bit mask out
/// of line): it costs each caller what a `bin` call did.
#[inline(always)]
pub fn bin_w(b: &mut UnitBuilder, op: BinOp, x: Temp, y: Temp, w: u32) -> Temp {
    if w < 32 {
        return bin_narrow(b, op, x, y, w);
    }
    b.bin_sized(w == 32, op, x, y)
}

/// [`bin_w`] for 8 and 16 bits: the operation and a mask.
#[inline(never)]
fn bin_narrow(b: &mut UnitBuilder, op: BinOp, x: Temp, y: Temp, w: u32) -> Temp {
    let r = b.bin(op, x, y);
    let m = b.constant((1u64 << w) - 1);
    b.bin(BinOp::And, r, m)
}

/// `c ? x : y` for a 0/1 temp `c`, branch-free (`y ^ ((x ^ y) & -c)`).
#[inline]
pub fn select(b: &mut UnitBuilder, c: Temp, x: Temp, y: Temp) -> Temp {
    let zero = b.constant(0);
    let mask = b.bin(BinOp::Sub, zero, c);
    let d = b.bin(BinOp::Xor, x, y);
    let d = b.bin(BinOp::And, d, mask);
    b.bin(BinOp::Xor, y, d)
}

/// An evaluated condition: `cond(a, b)`.
pub type CondTriple = (Cond, Temp, Temp);

impl FlagState {
    /// State at block entry: flags live in the globals.
    pub fn new(globals: [u8; 4], arm_carry: bool) -> Self {
        Self {
            src: FlagSrc::Globals,
            carry: Carry::FromSrc,
            globals,
            arm_carry,
        }
    }

    /// Records a new flag definition.
    #[inline]
    pub fn set(&mut self, src: FlagSrc) {
        self.src = src;
        self.carry = Carry::FromSrc;
    }

    /// Sets a new source that keeps the current carry (x86 `inc`/`dec`);
    /// `pc` names the instruction if the current carry is not modeled.
    pub fn set_keeping_carry(&mut self, b: &mut UnitBuilder, src: FlagSrc, pc: u64) {
        let kept = match self.carry_value(b) {
            Ok(c) => Carry::Override(c),
            Err(u) => Carry::Unknown {
                pc: if u.pc == 0 { pc } else { u.pc },
                mnemonic: u.mnemonic,
            },
        };
        self.src = src;
        self.carry = kept;
    }

    /// The carry flag alone (0/1), without materializing the others.
    pub fn carry_value(&mut self, b: &mut UnitBuilder) -> Result<Temp, UnmodeledFlags> {
        match self.carry {
            Carry::Override(c) => return Ok(c),
            Carry::Unknown { pc, mnemonic } => return Err(UnmodeledFlags { pc, mnemonic }),
            Carry::FromSrc => {}
        }
        Ok(match self.src {
            FlagSrc::Globals => b.get(self.globals[2]),
            FlagSrc::Mat(f) => f.c,
            FlagSrc::Logic { .. } => b.constant(0),
            FlagSrc::Sub { a, b: y, w, .. } => {
                let za = zext_w(b, a, w);
                let zb = zext_w(b, y, w);
                let cond = if self.arm_carry { Cond::Geu } else { Cond::Ltu };
                b.setcond(cond, za, zb)
            }
            FlagSrc::Add { a, r, w, .. } => {
                let za = zext_w(b, a, w);
                b.setcond(Cond::Ltu, r, za)
            }
            FlagSrc::Carried {
                a,
                b: y,
                cin,
                r,
                w,
                sub,
            } => carry_out(b, a, y, cin, r, w, sub),
            FlagSrc::Unknown { pc, mnemonic } => return Err(UnmodeledFlags { pc, mnemonic }),
            FlagSrc::ZnOnly { .. } => {
                return Err(UnmodeledFlags {
                    pc: 0,
                    mnemonic: "shift (carry/overflow flags)",
                })
            }
        })
    }

    /// Materializes the four flags.
    pub fn materialize(&mut self, b: &mut UnitBuilder) -> Result<Flags, UnmodeledFlags> {
        let f = match self.src {
            FlagSrc::Globals => Flags {
                z: b.get(self.globals[0]),
                n: b.get(self.globals[1]),
                c: b.get(self.globals[2]),
                v: b.get(self.globals[3]),
            },
            FlagSrc::Mat(f) => f,
            FlagSrc::Unknown { pc, mnemonic } => return Err(UnmodeledFlags { pc, mnemonic }),
            FlagSrc::ZnOnly { .. } => {
                return Err(UnmodeledFlags {
                    pc: 0,
                    mnemonic: "shift (carry/overflow flags)",
                })
            }
            FlagSrc::Logic { r, w } => {
                let (z, n) = zn(b, r, w);
                let zero = b.constant(0);
                Flags {
                    z,
                    n,
                    c: zero,
                    v: zero,
                }
            }
            FlagSrc::Sub { a, b: y, r, w } => {
                let r = if r == LAZY_RESULT {
                    sub_result(b, a, y, w)
                } else {
                    r
                };
                let (z, n) = zn(b, r, w);
                let za = zext_w(b, a, w);
                let zb = zext_w(b, y, w);
                let cond = if self.arm_carry { Cond::Geu } else { Cond::Ltu };
                let c = b.setcond(cond, za, zb);
                let x1 = b.bin(BinOp::Xor, a, y);
                let x2 = b.bin(BinOp::Xor, a, r);
                let v = b.bin(BinOp::And, x1, x2);
                let v = bit(b, v, w - 1);
                Flags { z, n, c, v }
            }
            FlagSrc::Carried {
                a,
                b: y,
                cin,
                r,
                w,
                sub,
            } => {
                let (z, n) = zn(b, r, w);
                let c = carry_out(b, a, y, cin, r, w, sub);
                let (x1, x2) = if sub {
                    (b.bin(BinOp::Xor, a, y), b.bin(BinOp::Xor, a, r))
                } else {
                    (b.bin(BinOp::Xor, a, r), b.bin(BinOp::Xor, y, r))
                };
                let v = b.bin(BinOp::And, x1, x2);
                let v = bit(b, v, w - 1);
                Flags { z, n, c, v }
            }
            FlagSrc::Add { a, b: y, r, w } => {
                let (z, n) = zn(b, r, w);
                let za = zext_w(b, a, w);
                let c = b.setcond(Cond::Ltu, r, za);
                let x1 = b.bin(BinOp::Xor, a, r);
                let x2 = b.bin(BinOp::Xor, y, r);
                let v = b.bin(BinOp::And, x1, x2);
                let v = bit(b, v, w - 1);
                Flags { z, n, c, v }
            }
        };
        let f = match self.carry {
            Carry::FromSrc => f,
            Carry::Override(c) => {
                self.carry = Carry::FromSrc;
                Flags { c, ..f }
            }
            // The carry stays unknown (checked by every carry reader and by
            // `store`); a zero stands in for it in the materialized set.
            Carry::Unknown { .. } => Flags {
                c: b.constant(0),
                ..f
            },
        };
        self.src = FlagSrc::Mat(f);
        Ok(f)
    }

    /// Writes the flags to their globals (at a block end where they may be live).
    pub fn store(&mut self, b: &mut UnitBuilder) -> Result<(), UnmodeledFlags> {
        if let Carry::Unknown { pc, mnemonic } = self.carry {
            return Err(UnmodeledFlags { pc, mnemonic });
        }
        if self.src == FlagSrc::Globals {
            return Ok(());
        }
        let f = self.materialize(b)?;
        b.set(self.globals[0], f.z);
        b.set(self.globals[1], f.n);
        b.set(self.globals[2], f.c);
        b.set(self.globals[3], f.v);
        Ok(())
    }

    /// Evaluates `cc` as one IR comparison, directly from the lazy source
    /// where possible. Inlined: as a call its `Result` (a triple of temps
    /// or the setter's pc and name) went through the stack.
    #[inline(always)]
    pub fn cond(&mut self, b: &mut UnitBuilder, cc: CcKind) -> Result<CondTriple, UnmodeledFlags> {
        use CcKind::*;
        if cc == Al {
            let z = b.constant(0);
            return Ok((Cond::Eq, z, z));
        }
        let carry_cc = matches!(cc, B | Ae | A | Be);
        if carry_cc {
            if let Carry::Unknown { pc, mnemonic } = self.carry {
                return Err(UnmodeledFlags { pc, mnemonic });
            }
        }
        // The lazy forms below never read the carry except for the
        // carry conditions, so a kept carry only disables those.
        if !carry_cc || self.carry == Carry::FromSrc {
            match self.src {
                FlagSrc::Sub { a, b: y, r, w } => {
                    let t = match cc {
                        Eq | Ne if r == LAZY_RESULT => {
                            let za = zext_w(b, a, w);
                            let zb = zext_w(b, y, w);
                            Some((if cc == Eq { Cond::Eq } else { Cond::Ne }, za, zb))
                        }
                        Eq | Ne => {
                            let z = b.constant(0);
                            Some((if cc == Eq { Cond::Eq } else { Cond::Ne }, r, z))
                        }
                        Lt | Ge | Gt | Le => {
                            let sa = sext_w(b, a, w);
                            let sb = sext_w(b, y, w);
                            Some(match cc {
                                Lt => (Cond::Lt, sa, sb),
                                Ge => (Cond::Ge, sa, sb),
                                Gt => (Cond::Lt, sb, sa),
                                _ => (Cond::Ge, sb, sa),
                            })
                        }
                        B | Ae | A | Be => {
                            let za = zext_w(b, a, w);
                            let zb = zext_w(b, y, w);
                            Some(match cc {
                                B => (Cond::Ltu, za, zb),
                                Ae => (Cond::Geu, za, zb),
                                A => (Cond::Ltu, zb, za),
                                _ => (Cond::Geu, zb, za),
                            })
                        }
                        Mi | Pl => {
                            let r = if r == LAZY_RESULT {
                                sub_result(b, a, y, w)
                            } else {
                                r
                            };
                            Some(sign_cond(b, r, w, cc == Mi))
                        }
                        _ => None,
                    };
                    if let Some(t) = t {
                        return Ok(t);
                    }
                }
                FlagSrc::Logic { r, w } => {
                    let t = match cc {
                        Eq | Ne => {
                            let z = b.constant(0);
                            Some((if cc == Eq { Cond::Eq } else { Cond::Ne }, r, z))
                        }
                        Lt | Mi => Some(sign_cond(b, r, w, true)),
                        Ge | Pl => Some(sign_cond(b, r, w, false)),
                        Gt | Le => {
                            let s = sext_w(b, r, w);
                            let z = b.constant(0);
                            Some(if cc == Gt {
                                (Cond::Lt, z, s)
                            } else {
                                (Cond::Ge, z, s)
                            })
                        }
                        _ => None,
                    };
                    if let Some(t) = t {
                        return Ok(t);
                    }
                }
                FlagSrc::Add { r, w, .. } | FlagSrc::ZnOnly { r, w } => {
                    let t = match cc {
                        Eq | Ne => {
                            let z = b.constant(0);
                            Some((if cc == Eq { Cond::Eq } else { Cond::Ne }, r, z))
                        }
                        Mi | Pl => Some(sign_cond(b, r, w, cc == Mi)),
                        _ => None,
                    };
                    if let Some(t) = t {
                        return Ok(t);
                    }
                }
                _ => {}
            }
        }
        let f = self.materialize(b)?;
        let zero = b.constant(0);
        // `below` is "carry flag set" on x86 and "carry flag clear" on AArch64.
        let (below_if_c, above_c) = if self.arm_carry {
            let one = b.constant(1);
            (Cond::Eq, b.bin(BinOp::Xor, f.c, one))
        } else {
            (Cond::Ne, f.c)
        };
        Ok(match cc {
            Eq => (Cond::Ne, f.z, zero),
            Ne => (Cond::Eq, f.z, zero),
            Mi => (Cond::Ne, f.n, zero),
            Pl => (Cond::Eq, f.n, zero),
            Vs => (Cond::Ne, f.v, zero),
            Vc => (Cond::Eq, f.v, zero),
            Lt => (Cond::Ne, f.n, f.v),
            Ge => (Cond::Eq, f.n, f.v),
            Gt | Le => {
                let t = b.bin(BinOp::Xor, f.n, f.v);
                let t = b.bin(BinOp::Or, t, f.z);
                (if cc == Gt { Cond::Eq } else { Cond::Ne }, t, zero)
            }
            B => (below_if_c, f.c, zero),
            Ae => (invert(below_if_c), f.c, zero),
            A | Be => {
                // `above_c` is 1 exactly when the subtraction borrowed.
                let t = b.bin(BinOp::Or, above_c, f.z);
                (if cc == A { Cond::Eq } else { Cond::Ne }, t, zero)
            }
            Al => unreachable_al(zero),
        })
    }

    /// Evaluates `cc` to a 0/1 temp.
    pub fn cond_value(&mut self, b: &mut UnitBuilder, cc: CcKind) -> Result<Temp, UnmodeledFlags> {
        if cc == CcKind::Al {
            return Ok(b.constant(1));
        }
        let (c, x, y) = self.cond(b, cc)?;
        Ok(b.setcond(c, x, y))
    }
}

fn unreachable_al(zero: Temp) -> CondTriple {
    // `Al` returns early in `cond`; an always-true triple keeps this total.
    (Cond::Eq, zero, zero)
}

fn invert(c: Cond) -> Cond {
    match c {
        Cond::Eq => Cond::Ne,
        Cond::Ne => Cond::Eq,
        Cond::Lt => Cond::Ge,
        Cond::Ge => Cond::Lt,
        Cond::Ltu => Cond::Geu,
        Cond::Geu => Cond::Ltu,
    }
}

fn sign_cond(b: &mut UnitBuilder, r: Temp, w: u32, neg: bool) -> CondTriple {
    let s = sext_w(b, r, w);
    let z = b.constant(0);
    (if neg { Cond::Lt } else { Cond::Ge }, s, z)
}

/// The carry (x86 convention) of `r = a - y - cin` (`sub`) or
/// `a + y + cin` at `w` bits: the plain one, or (with a carry in)
/// equality at the boundary.
fn carry_out(b: &mut UnitBuilder, a: Temp, y: Temp, cin: Temp, r: Temp, w: u32, sub: bool) -> Temp {
    let za = zext_w(b, a, w);
    let (lt, eq) = if sub {
        let zy = zext_w(b, y, w);
        (b.setcond(Cond::Ltu, za, zy), b.setcond(Cond::Eq, za, zy))
    } else {
        (b.setcond(Cond::Ltu, r, za), b.setcond(Cond::Eq, r, za))
    };
    let ce = b.bin(BinOp::And, cin, eq);
    b.bin(BinOp::Or, lt, ce)
}

fn bit(b: &mut UnitBuilder, t: Temp, n: u32) -> Temp {
    let s = b.constant(n as u64);
    let x = b.bin(BinOp::Shr, t, s);
    if n == 63 {
        x
    } else {
        let one = b.constant(1);
        b.bin(BinOp::And, x, one)
    }
}

fn zn(b: &mut UnitBuilder, r: Temp, w: u32) -> (Temp, Temp) {
    let zero = b.constant(0);
    let z = b.setcond(Cond::Eq, r, zero);
    let n = bit(b, r, w - 1);
    (z, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{GuestLoc, IrOp};

    /// The builder's ops as IR ops (no memory ops here, so no locations).
    fn ir_ops(b: &UnitBuilder) -> Vec<IrOp> {
        let no_loc = |index| GuestLoc {
            pc: 0,
            next_pc: 0,
            index,
        };
        b.block_ir_ops(no_loc)
    }

    /// Evaluates a straight-line block of pure ops (no memory) on `globals`.
    fn eval(ops: &[IrOp], globals: &mut [u64; 64], temps: &mut Vec<u64>) {
        for op in ops {
            match *op {
                IrOp::Const { dst, val } => set(temps, dst, val),
                IrOp::GetGlobal { dst, g } => set(temps, dst, globals[g as usize]),
                IrOp::SetGlobal { g, src } => globals[g as usize] = temps[src as usize],
                IrOp::Bin { op, dst, a, b } => {
                    let v = op.eval(temps[a as usize], temps[b as usize]);
                    set(temps, dst, v)
                }
                IrOp::Un { op, dst, a } => set(temps, dst, op.eval(temps[a as usize])),
                IrOp::SetCond { cond, dst, a, b } => {
                    let v = cond.eval(temps[a as usize], temps[b as usize]) as u64;
                    set(temps, dst, v)
                }
                _ => panic!("memory op in flag test"),
            }
        }
    }
    fn set(t: &mut Vec<u64>, i: u32, v: u64) {
        if t.len() <= i as usize {
            t.resize(i as usize + 1, 0);
        }
        t[i as usize] = v;
    }

    /// Reference: the condition on the compare `x - y` at width `w`.
    fn reference(cc: CcKind, x: u64, y: u64, w: u32) -> bool {
        let m = if w == 64 { u64::MAX } else { (1 << w) - 1 };
        let (ux, uy) = (x & m, y & m);
        let sx = ((ux << (64 - w)) as i64) >> (64 - w);
        let sy = ((uy << (64 - w)) as i64) >> (64 - w);
        let r = ux.wrapping_sub(uy) & m;
        let neg = (r >> (w - 1)) & 1 == 1;
        let ov = sx
            .checked_sub(sy)
            .is_none_or(|d| d < -(1i128 << (w - 1)) as i64 || d > ((1i128 << (w - 1)) - 1) as i64);
        match cc {
            CcKind::Eq => ux == uy,
            CcKind::Ne => ux != uy,
            CcKind::Lt => sx < sy,
            CcKind::Ge => sx >= sy,
            CcKind::Gt => sx > sy,
            CcKind::Le => sx <= sy,
            CcKind::B => ux < uy,
            CcKind::Ae => ux >= uy,
            CcKind::A => ux > uy,
            CcKind::Be => ux <= uy,
            CcKind::Mi => neg,
            CcKind::Pl => !neg,
            CcKind::Vs => ov,
            CcKind::Vc => !ov,
            CcKind::Al => true,
        }
    }

    #[test]
    fn lazy_and_materialized_compare_conditions_agree_with_reference() {
        let vals = [
            0u64,
            1,
            2,
            0x7f,
            0x80,
            0xff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1_0000_0000,
            i64::MAX as u64,
            i64::MIN as u64,
            u64::MAX,
            u64::MAX - 1,
            0x1234_5678_9abc_def0,
        ];
        use CcKind::*;
        let ccs = [Eq, Ne, Lt, Ge, Gt, Le, B, Ae, A, Be, Mi, Pl, Vs, Vc];
        for arm in [false, true] {
            for w in [8u32, 16, 32, 64] {
                for &cc in &ccs {
                    for (through_globals, lazy) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        let mut b = UnitBuilder::new();
                        let x = b.get(0);
                        let y = b.get(1);
                        let r = if lazy {
                            LAZY_RESULT
                        } else {
                            let r = b.bin(BinOp::Sub, x, y);
                            zext_w(&mut b, r, w)
                        };
                        let mut st = FlagState::new([10, 11, 12, 13], arm);
                        st.set(FlagSrc::Sub { a: x, b: y, r, w });
                        if through_globals {
                            st.store(&mut b).unwrap();
                            st = FlagState::new([10, 11, 12, 13], arm);
                        }
                        let v = st.cond_value(&mut b, cc).unwrap();
                        b.set(20, v);
                        let ops = ir_ops(&b);
                        for &p in &vals {
                            for &q in &vals {
                                let mut g = [0u64; 64];
                                g[0] = p;
                                g[1] = q;
                                let mut t = Vec::new();
                                eval(&ops, &mut g, &mut t);
                                assert_eq!(
                                    g[20] == 1,
                                    reference(cc, p, q, w),
                                    "{cc:?} w={w} arm={arm} glob={through_globals} lazy={lazy} {p:#x} {q:#x}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// x86 flags of `x + y + cin` / `x - y - cin` at width `w`, as
    /// (ZF, SF, CF, OF), computed in wide arithmetic.
    fn carried_reference(x: u64, y: u64, cin: u64, w: u32, sub: bool) -> (bool, bool, bool, bool) {
        let m = if w == 64 { u64::MAX } else { (1 << w) - 1 };
        let (ux, uy) = ((x & m) as i128, (y & m) as i128);
        let sext = |u: i128| (((u as u64) << (64 - w)) as i64 >> (64 - w)) as i128;
        let (sx, sy, c) = (sext(ux), sext(uy), cin as i128);
        let (wide, signed) = if sub {
            (ux - uy - c, sx - sy - c)
        } else {
            (ux + uy + c, sx + sy + c)
        };
        let r = (wide as u64) & m;
        let cf = wide < 0 || wide > m as i128;
        let of = signed < -(1i128 << (w - 1)) || signed >= 1i128 << (w - 1);
        (r == 0, (r >> (w - 1)) & 1 == 1, cf, of)
    }

    /// The flags of adc/sbb (`FlagSrc::Carried`, materialized when read),
    /// every condition and the carry alone, directly and through the
    /// globals, against the wide-arithmetic reference.
    #[test]
    fn carried_flags_agree_with_reference() {
        let vals = [
            0u64,
            1,
            0x7f,
            0x80,
            0xff,
            0x7fff,
            0x8000,
            0xffff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            i64::MAX as u64,
            i64::MIN as u64,
            u64::MAX,
            0x1234_5678_9abc_def0,
        ];
        use CcKind::*;
        let ccs = [Eq, Ne, Lt, Ge, Gt, Le, B, Ae, A, Be, Mi, Pl, Vs, Vc];
        for sub in [false, true] {
            for w in [8u32, 16, 32, 64] {
                for cc in ccs.iter().map(Some).chain([None]) {
                    for through_globals in [false, true] {
                        let mut b = UnitBuilder::new();
                        let x = b.get(0);
                        let y = b.get(1);
                        let cin = b.get(2);
                        let op = if sub { BinOp::Sub } else { BinOp::Add };
                        let t = b.bin(op, x, y);
                        let r = bin_w(&mut b, op, t, cin, w);
                        let mut st = FlagState::new([10, 11, 12, 13], false);
                        st.set(FlagSrc::Carried {
                            a: x,
                            b: y,
                            cin,
                            r,
                            w,
                            sub,
                        });
                        if through_globals {
                            st.store(&mut b).unwrap();
                            st = FlagState::new([10, 11, 12, 13], false);
                        }
                        let v = match cc {
                            Some(&cc) => st.cond_value(&mut b, cc).unwrap(),
                            None => st.carry_value(&mut b).unwrap(),
                        };
                        b.set(20, v);
                        let ops = ir_ops(&b);
                        for &p in &vals {
                            for &q in &vals {
                                for c in [0u64, 1] {
                                    let mut g = [0u64; 64];
                                    (g[0], g[1], g[2]) = (p, q, c);
                                    eval(&ops, &mut g, &mut Vec::new());
                                    let (z, n, cf, ov) = carried_reference(p, q, c, w, sub);
                                    let want = match cc {
                                        None | Some(B) => cf,
                                        Some(Ae) => !cf,
                                        Some(A) => !cf && !z,
                                        Some(Be) => cf || z,
                                        Some(Eq) => z,
                                        Some(Ne) => !z,
                                        Some(Mi) => n,
                                        Some(Pl) => !n,
                                        Some(Vs) => ov,
                                        Some(Vc) => !ov,
                                        Some(Lt) => n != ov,
                                        Some(Ge) => n == ov,
                                        Some(Gt) => !z && n == ov,
                                        Some(Le) => z || n != ov,
                                        Some(Al) => true,
                                    };
                                    assert_eq!(
                                        g[20] == 1,
                                        want,
                                        "{cc:?} sub={sub} w={w} glob={through_globals} {p:#x} {q:#x} {c}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn select_picks_by_condition() {
        let mut b = UnitBuilder::new();
        let c = b.get(0);
        let x = b.get(1);
        let y = b.get(2);
        let r = select(&mut b, c, x, y);
        b.set(3, r);
        let ops = ir_ops(&b);
        for c in [0u64, 1] {
            let mut g = [0u64; 64];
            g[0] = c;
            g[1] = 0xdead;
            g[2] = 0xbeef;
            eval(&ops, &mut g, &mut Vec::new());
            assert_eq!(g[3], if c == 1 { 0xdead } else { 0xbeef });
        }
    }
}
