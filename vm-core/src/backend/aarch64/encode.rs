//! A64 instruction encoders (64-bit integer subset the backend emits).
//! Register 31 is `xzr` or `sp` as the Arm ARM defines per instruction.

/// Condition codes.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Cc {
    Eq = 0,
    Ne = 1,
    Hs = 2,
    Lo = 3,
    Mi = 4,
    Pl = 5,
    Hi = 8,
    Ls = 9,
    Ge = 10,
    Lt = 11,
    Gt = 12,
    Le = 13,
}

#[inline]
fn r(x: u8) -> u32 {
    x as u32 & 31
}

/// Three-register data processing: `base | rm<<16 | rn<<5 | rd`.
#[inline]
pub fn rrr(base: u32, rd: u8, rn: u8, rm: u8) -> u32 {
    base | r(rm) << 16 | r(rn) << 5 | r(rd)
}
/// `add xd, xn, xm`.
#[inline]
pub fn add(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x8b00_0000, rd, rn, rm)
}
/// `add xd, xn, xm, lsl #sh`.
#[inline]
pub fn add_lsl(rd: u8, rn: u8, rm: u8, sh: u32) -> u32 {
    rrr(0x8b00_0000, rd, rn, rm) | (sh & 63) << 10
}
/// `sub xd, xn, xm`.
#[inline]
pub fn sub(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0xcb00_0000, rd, rn, rm)
}
/// `and xd, xn, xm`.
#[inline]
pub fn and(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x8a00_0000, rd, rn, rm)
}
/// `orr xd, xn, xm` (`mov xd, xm` with xn = xzr).
#[inline]
pub fn orr(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0xaa00_0000, rd, rn, rm)
}
/// `eor xd, xn, xm`.
#[inline]
pub fn eor(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0xca00_0000, rd, rn, rm)
}
/// `lsl xd, xn, xm` (lslv).
#[inline]
pub fn lslv(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x9ac0_2000, rd, rn, rm)
}
/// `lsr xd, xn, xm` (lsrv).
#[inline]
pub fn lsrv(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x9ac0_2400, rd, rn, rm)
}
/// `asr xd, xn, xm` (asrv).
#[inline]
pub fn asrv(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x9ac0_2800, rd, rn, rm)
}
/// `mul xd, xn, xm` (madd with xzr).
#[inline]
pub fn mul(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x9b00_7c00, rd, rn, rm)
}
/// `msub xd, xn, xm, xa`: `xa - xn * xm`.
#[inline]
pub fn msub(rd: u8, rn: u8, rm: u8, ra: u8) -> u32 {
    rrr(0x9b00_8000, rd, rn, rm) | r(ra) << 10
}
/// `smulh xd, xn, xm`.
#[inline]
pub fn smulh(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x9b40_7c00, rd, rn, rm)
}
/// `umulh xd, xn, xm`.
#[inline]
pub fn umulh(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x9bc0_7c00, rd, rn, rm)
}
/// `sdiv xd, xn, xm`.
#[inline]
pub fn sdiv(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x9ac0_0c00, rd, rn, rm)
}
/// `udiv xd, xn, xm`.
#[inline]
pub fn udiv(rd: u8, rn: u8, rm: u8) -> u32 {
    rrr(0x9ac0_0800, rd, rn, rm)
}
/// `cmp xn, xm` (subs xzr).
#[inline]
pub fn cmp(rn: u8, rm: u8) -> u32 {
    rrr(0xeb00_001f, 0, rn, rm)
}
/// `cmp xn, #imm12`.
#[inline]
pub fn cmp_imm(rn: u8, imm: u32) -> u32 {
    0xf100_001f | (imm & 0xfff) << 10 | r(rn) << 5
}
/// `cmn xn, #imm12` (adds xzr): compares with `-imm`.
#[inline]
pub fn cmn_imm(rn: u8, imm: u32) -> u32 {
    0xb100_001f | (imm & 0xfff) << 10 | r(rn) << 5
}
/// `csinv xd, xn, xm, cond`.
#[inline]
pub fn csinv(rd: u8, rn: u8, rm: u8, c: Cc) -> u32 {
    rrr(0xda80_0000, rd, rn, rm) | (c as u32) << 12
}
/// `cset xd, cond` (csinc xd, xzr, xzr, !cond).
#[inline]
pub fn cset(rd: u8, c: Cc) -> u32 {
    0x9a9f_07e0 | ((c as u32) ^ 1) << 12 | r(rd)
}
/// `sxtw xd, wn`.
#[inline]
pub fn sxtw(rd: u8, rn: u8) -> u32 {
    0x9340_7c00 | r(rn) << 5 | r(rd)
}
/// `mov wd, wn` (zero-extends into xd).
#[inline]
pub fn mov_w(rd: u8, rn: u8) -> u32 {
    0x2a00_03e0 | r(rn) << 16 | r(rd)
}
/// `add xd, xn, #imm12` (xn/xd may be sp).
#[inline]
pub fn add_imm(rd: u8, rn: u8, imm: u32) -> u32 {
    0x9100_0000 | (imm & 0xfff) << 10 | r(rn) << 5 | r(rd)
}
/// `sub xd, xn, #imm12` (xn/xd may be sp).
#[inline]
pub fn sub_imm(rd: u8, rn: u8, imm: u32) -> u32 {
    0xd100_0000 | (imm & 0xfff) << 10 | r(rn) << 5 | r(rd)
}
/// `lsl xd, xn, #s` (ubfm).
#[inline]
pub fn lsl_imm(rd: u8, rn: u8, s: u32) -> u32 {
    let s = s & 63;
    0xd340_0000 | ((64 - s) & 63) << 16 | (63 - s) << 10 | r(rn) << 5 | r(rd)
}
/// `lsr xd, xn, #s` (ubfm).
#[inline]
pub fn lsr_imm(rd: u8, rn: u8, s: u32) -> u32 {
    0xd340_fc00 | (s & 63) << 16 | r(rn) << 5 | r(rd)
}
/// `asr xd, xn, #s` (sbfm).
#[inline]
pub fn asr_imm(rd: u8, rn: u8, s: u32) -> u32 {
    0x9340_fc00 | (s & 63) << 16 | r(rn) << 5 | r(rd)
}
/// `and xd, xn, #(2^bits - 1)` (logical immediate, 1 <= bits <= 63).
#[inline]
pub fn and_low_mask(rd: u8, rn: u8, bits: u32) -> u32 {
    0x9240_0000 | ((bits - 1) & 63) << 10 | r(rn) << 5 | r(rd)
}
/// `movz xd, #imm16, lsl #(16*hw)`.
#[inline]
pub fn movz(rd: u8, imm: u16, hw: u32) -> u32 {
    0xd280_0000 | hw << 21 | (imm as u32) << 5 | r(rd)
}
/// `movn xd, #imm16, lsl #(16*hw)`.
#[inline]
pub fn movn(rd: u8, imm: u16, hw: u32) -> u32 {
    0x9280_0000 | hw << 21 | (imm as u32) << 5 | r(rd)
}
/// `movk xd, #imm16, lsl #(16*hw)`.
#[inline]
pub fn movk(rd: u8, imm: u16, hw: u32) -> u32 {
    0xf280_0000 | hw << 21 | (imm as u32) << 5 | r(rd)
}
/// Load/store with a register offset: `size` log2 bytes, `opc` 0 store,
/// 1 zero-extending load, 2 sign-extending load to 64 bits.
#[inline]
pub fn ldst_reg(size: u32, opc: u32, rt: u8, rn: u8, rm: u8) -> u32 {
    0x3820_6800 | size << 30 | opc << 22 | r(rm) << 16 | r(rn) << 5 | r(rt)
}
/// `ldr xt, [xn, #off]` (off a multiple of 8 below 32 KiB).
#[inline]
pub fn ldr_imm(rt: u8, rn: u8, off: u32) -> u32 {
    0xf940_0000 | (off / 8) << 10 | r(rn) << 5 | r(rt)
}
/// `str xt, [xn, #off]`.
#[inline]
pub fn str_imm(rt: u8, rn: u8, off: u32) -> u32 {
    0xf900_0000 | (off / 8) << 10 | r(rn) << 5 | r(rt)
}
/// `stp xa, xb, [sp, #-16]!`.
#[inline]
pub fn stp_pre16(a: u8, b: u8) -> u32 {
    0xa9bf_0000 | r(b) << 10 | 31 << 5 | r(a)
}
/// `ldp xa, xb, [sp], #16`.
#[inline]
pub fn ldp_post16(a: u8, b: u8) -> u32 {
    0xa8c1_0000 | r(b) << 10 | 31 << 5 | r(a)
}
/// `b` with a word displacement.
#[inline]
pub fn b(disp_words: i32) -> u32 {
    0x1400_0000 | (disp_words as u32 & 0x03ff_ffff)
}
/// `b.cond` with a word displacement.
#[inline]
pub fn b_cond(c: Cc, disp_words: i32) -> u32 {
    0x5400_0000 | (disp_words as u32 & 0x7_ffff) << 5 | c as u32
}
/// `br xn`.
#[inline]
pub fn br(rn: u8) -> u32 {
    0xd61f_0000 | r(rn) << 5
}
/// `ret`.
#[inline]
pub fn ret() -> u32 {
    0xd65f_03c0
}
/// `adr xd, #disp_bytes`.
#[inline]
pub fn adr(rd: u8, disp: i32) -> u32 {
    let d = disp as u32;
    0x1000_0000 | (d & 3) << 29 | ((d >> 2) & 0x7_ffff) << 5 | r(rd)
}
