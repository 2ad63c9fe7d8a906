//! A64 -> IR lifting of one block.

use super::decode::{bit, bits, decode_bit_masks, mnemonic, sext};
use super::TranslateError;
use crate::frontend::flags::{
    select, sext_w, zext_w, Carry, CcKind, ConstCache, FlagSrc, FlagState, Flags, LAZY_RESULT,
};
use crate::frontend::{
    begin_block, end_block, BlockScan, CodeImage, Discovery, EarlyLift, FlagUse, Frontend,
    LiftedBlock, Successor,
};
use crate::ir::dense::{UnitBuilder, UnitOps};
use crate::ir::{BinOp, Cond, GuestLoc, IrBlock, Temp, Terminator, UnOp, Width};

/// Global holding `sp`.
pub const SP: u8 = 31;
/// Globals holding Z, N, C, V between blocks.
pub const FLAG_GLOBALS: [u8; 4] = [32, 33, 34, 35];
/// Globals the AArch64 frontend uses (`0..NUM_A64_GLOBALS`).
pub const NUM_A64_GLOBALS: usize = 36;
const LR: u8 = 30;
/// Longest block before it is split with a fallthrough jump.
const MAX_BLOCK_INSNS: usize = 128;

/// A fetched A64 instruction: (pc, word).
pub type A64Insn = (u64, u32);

/// The AArch64 frontend.
#[derive(Debug, Default)]
pub struct A64Frontend {
    /// One builder reused for every block (see [`UnitBuilder::reset`]).
    b: UnitBuilder,
    /// The words of a block lifted by [`Frontend::lift_block_into`], as
    /// image bytes, and its scan (reused buffers).
    bytes: Vec<u8>,
    rescan: Vec<A64Insn>,
}

impl Clone for A64Frontend {
    /// A fresh frontend: the builder holds no state between blocks.
    fn clone(&self) -> Self {
        Self::default()
    }
}

fn unsupported(pc: u64, w: u32) -> Box<TranslateError> {
    Box::new(TranslateError::Unsupported {
        pc,
        mnemonic: format!("{} ({w:#010x})", mnemonic(w)),
    })
}

/// The error for reading flags whose setter `mnemonic` is not modeled.
#[cold]
#[inline(never)]
fn unmodeled(pc: u64, mnemonic: &str) -> Box<TranslateError> {
    Box::new(TranslateError::Unsupported {
        pc,
        mnemonic: format!("reads flags of {mnemonic}"),
    })
}

fn cc(c: u32) -> CcKind {
    use CcKind::*;
    [Eq, Ne, Ae, B, Mi, Pl, Vs, Vc, A, Be, Ge, Lt, Gt, Le, Al, Al][c as usize & 15]
}

/// Control-flow class of a word, for scanning.
#[derive(Clone, Copy)]
enum Flow {
    None,
    /// Unconditional direct jump.
    Jump(u64),
    /// Direct call.
    Call(u64),
    /// Conditional branch (reads flags if `flags`).
    Cond {
        target: u64,
        flags: bool,
    },
    /// Indirect jump (`br`), call (`blr`) or return.
    Indirect {
        call: bool,
    },
    /// Trap.
    Stop,
}

#[inline]
fn flow(pc: u64, w: u32) -> Flow {
    // Every control-flow word below is in the A64 encoding group
    // "branches, exception generating and system instructions" (bits
    // 28:26 = 0b101); one test settles the ~80 % of words outside it.
    if (w >> 26) & 0b111 != 0b101 {
        return Flow::None;
    }
    if bits(w, 30, 26) == 0b00101 {
        let t = pc.wrapping_add((sext(bits(w, 25, 0), 26) * 4) as u64);
        return if bit(w, 31) {
            Flow::Call(t)
        } else {
            Flow::Jump(t)
        };
    }
    if bits(w, 31, 24) == 0b0101_0100 && !bit(w, 4) {
        let t = pc.wrapping_add((sext(bits(w, 23, 5), 19) * 4) as u64);
        return Flow::Cond {
            target: t,
            flags: bits(w, 3, 0) < 14,
        };
    }
    if bits(w, 30, 25) == 0b011010 {
        let t = pc.wrapping_add((sext(bits(w, 23, 5), 19) * 4) as u64);
        return Flow::Cond {
            target: t,
            flags: false,
        };
    }
    if bits(w, 30, 25) == 0b011011 {
        let t = pc.wrapping_add((sext(bits(w, 18, 5), 14) * 4) as u64);
        return Flow::Cond {
            target: t,
            flags: false,
        };
    }
    if w & 0xff9f_fc1f == 0xd61f_0000 {
        // br (opc 0), blr (1), ret (2)
        return Flow::Indirect {
            call: bits(w, 22, 21) == 1,
        };
    }
    if bits(w, 31, 21) == 0b110_1010_0001 {
        return Flow::Stop; // brk
    }
    Flow::None
}

/// Flag effect of a non-branch word: (reads, writes). The fused scan gets
/// the same from the lifter (`Lifter::flag_use`), which notes it where it
/// lifts these classes; a word of a class it does not lift is an error there.
fn flag_effect(w: u32) -> (bool, bool) {
    let s = bit(w, 29);
    // add/sub immediate, shifted and extended register with S set
    if s && (bits(w, 28, 23) == 0b100010 || bits(w, 28, 24) == 0b01011) {
        return (false, true);
    }
    // ands immediate / shifted register
    if bits(w, 30, 29) == 0b11 && (bits(w, 28, 23) == 0b100100 || bits(w, 28, 24) == 0b01010) {
        return (false, true);
    }
    // ccmp / ccmn
    if bits(w, 29, 21) == 0b1_1101_0010 {
        return (true, true);
    }
    // csel family
    if bits(w, 29, 21) == 0b0_1101_0100 {
        return (true, false);
    }
    (false, false)
}

impl Frontend for A64Frontend {
    type Insn = A64Insn;
    const NAME: &'static str = "aarch64";

    fn scan_block(
        &mut self,
        img: &CodeImage,
        pc: u64,
        out: &mut Vec<A64Insn>,
    ) -> Result<BlockScan, TranslateError> {
        if !pc.is_multiple_of(4) {
            return Err(TranslateError::OutOfImage { pc });
        }
        let mut scan = BlockScan::default();
        let start = out.len();
        // The image from `pc` on, in whole words (one bounds check per
        // block instead of per instruction).
        let mut words = img.at(pc)?.chunks_exact(4);
        let mut cur = pc;
        loop {
            let Some(bytes) = words.next() else {
                return Err(TranslateError::OutOfImage { pc: cur });
            };
            let w = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            out.push((cur, w));
            let next = cur + 4;
            let f = flow(cur, w);
            let (r, wr) = match f {
                Flow::Cond { flags: true, .. } => (true, false),
                Flow::None => flag_effect(w),
                _ => (false, false),
            };
            if scan.flags.is_none() {
                if r {
                    scan.flags = Some(FlagUse::ReadFirst);
                } else if wr {
                    scan.flags = Some(FlagUse::WriteFirst);
                }
            }
            let edge = |pc, carries_flags| Successor { pc, carries_flags };
            match f {
                Flow::None => {}
                Flow::Jump(t) => {
                    scan.succs.push(edge(t, true));
                    return Ok(scan);
                }
                Flow::Call(t) => {
                    scan.succs.push(edge(t, false));
                    scan.succs.push(edge(next, false));
                    return Ok(scan);
                }
                Flow::Cond { target, .. } => {
                    scan.succs.push(edge(target, true));
                    scan.succs.push(edge(next, true));
                    return Ok(scan);
                }
                Flow::Indirect { call } => {
                    if call {
                        scan.succs.push(edge(next, false));
                    }
                    scan.indirect = true;
                    return Ok(scan);
                }
                Flow::Stop => return Ok(scan),
            }
            if out.len() - start >= MAX_BLOCK_INSNS {
                scan.succs.push(edge(next, true));
                return Ok(scan);
            }
            cur = next;
        }
    }

    fn lift_block_into(
        &mut self,
        pc: u64,
        insns: &[A64Insn],
        flags_live_out: bool,
        ops: &mut UnitOps,
    ) -> Result<LiftedBlock, TranslateError> {
        // The one lifting loop is the fused scan-and-lift over image
        // bytes (a second loop around the per-instruction lifter made LLVM
        // stop inlining the lifter's parts into either): the block's words
        // as bytes, limited to its length.
        debug_assert!(insns
            .iter()
            .enumerate()
            .all(|(i, insn)| insn.0 == pc + 4 * i as u64));
        let mut bytes = std::mem::take(&mut self.bytes);
        let mut rescan = std::mem::take(&mut self.rescan);
        bytes.clear();
        bytes.extend(insns.iter().flat_map(|i| i.1.to_le_bytes()));
        rescan.clear();
        begin_block(&mut self.b, ops, insns.len() * 4 + 8);
        let mut term = Terminator::Jump(0);
        let r = self.scan_lift_body(
            &bytes,
            pc,
            insns.len(),
            flags_live_out,
            &mut rescan,
            &mut BlockScan::default(),
            &mut term,
            &mut false,
        );
        let term = r.map(|()| term);
        self.bytes = bytes;
        self.rescan = rescan;
        end_block(&mut self.b, ops, pc, term)
    }

    fn discover_and_lift(
        &mut self,
        img: &CodeImage,
        d: &mut Discovery<'_, A64Insn>,
        ops: &mut UnitOps,
        lifted: &mut Vec<EarlyLift>,
    ) -> Result<bool, TranslateError> {
        // The builder holds the unit's buffer for the whole discovery.
        self.b.reset(std::mem::take(ops));
        let r = d.run_in_place(|pc, out, scan| self.scan_and_lift(img, pc, out, scan, lifted));
        *ops = self.b.take();
        r.map(|()| true)
    }

    fn insn_loc(&(pc, _): &A64Insn, index: u32) -> GuestLoc {
        GuestLoc {
            pc,
            next_pc: pc + 4,
            index,
        }
    }
}

impl A64Frontend {
    /// [`Frontend::scan_block`] and [`Frontend::lift_block_into`] (flags
    /// dead at the end) of the block at `pc` in one pass over its words:
    /// the same scan (into `scan`), and the same records as lifting the
    /// scanned block (described by the [`EarlyLift`] pushed to `lifted`).
    fn scan_and_lift(
        &mut self,
        img: &CodeImage,
        pc: u64,
        out: &mut Vec<A64Insn>,
        scan: &mut BlockScan,
        lifted: &mut Vec<EarlyLift>,
    ) -> Result<(), TranslateError> {
        if !pc.is_multiple_of(4) {
            return Err(TranslateError::OutOfImage { pc });
        }
        let bytes = img.at(pc)?;
        let e = EarlyLift::begin(&mut self.b, lifted);
        let r = self.scan_lift_body(
            bytes,
            pc,
            MAX_BLOCK_INSNS,
            false,
            out,
            scan,
            &mut e.lifted.term,
            &mut e.flags_pending,
        );
        EarlyLift::finish(&self.b, lifted, pc, r)
    }

    /// Scans and lifts the block at `pc` whose image bytes from `pc` on
    /// are `bytes` (the builder already reset), at most `limit`
    /// instructions; appends its instructions to `out`, fills `scan`, and
    /// returns the terminator. With `flags_live_out` the flags are stored
    /// at the end; otherwise `flags_pending` says whether storing them
    /// would have added records. Not inlined: in a larger function LLVM
    /// stops inlining the per-instruction lifting into it.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn scan_lift_body(
        &mut self,
        bytes: &[u8],
        pc: u64,
        limit: usize,
        flags_live_out: bool,
        out: &mut Vec<A64Insn>,
        scan: &mut BlockScan,
        term: &mut Terminator,
        flags_pending: &mut bool,
    ) -> Result<(), TranslateError> {
        let mut l = Lifter {
            b: &mut self.b,
            flags: FlagState::new(FLAG_GLOBALS, true),
            discard_result: false,
            consts: ConstCache::default(),
            flag_use: None,
        };
        let mut words = bytes.chunks_exact(4);
        let mut cur = pc;
        let mut index = 0u32;
        *term = loop {
            let Some(bytes) = words.next() else {
                return Err(TranslateError::OutOfImage { pc: cur });
            };
            let w = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            out.push((cur, w));
            let next = cur + 4;
            let f = flow(cur, w);
            let loc = GuestLoc {
                pc: cur,
                next_pc: next,
                index,
            };
            if let Some(t) = l.insn_flow(w, loc, f).map_err(|e| *e)? {
                let edge = |pc, carries_flags| Successor { pc, carries_flags };
                match f {
                    Flow::None | Flow::Stop => {}
                    Flow::Jump(t) => scan.succs.push(edge(t, true)),
                    Flow::Call(t) => {
                        scan.succs.push(edge(t, false));
                        scan.succs.push(edge(next, false));
                    }
                    Flow::Cond { target, .. } => {
                        scan.succs.push(edge(target, true));
                        scan.succs.push(edge(next, true));
                    }
                    Flow::Indirect { call } => {
                        if call {
                            scan.succs.push(edge(next, false));
                        }
                        scan.indirect = true;
                    }
                }
                break t;
            }
            index += 1;
            if index as usize >= limit {
                scan.succs.push(Successor {
                    pc: next,
                    carries_flags: true,
                });
                break Terminator::Jump(next);
            }
            cur = next;
        };
        // The lifter noted the flag use where it decodes the instructions
        // `flag_effect` classifies (a lifted block has no other).
        scan.flags = l.flag_use;
        if flags_live_out {
            // Every A64 flag setter in the subset is modeled.
            l.flags
                .store(l.b)
                .map_err(|u| TranslateError::Unsupported {
                    pc: u.pc,
                    mnemonic: u.mnemonic.to_string(),
                })?;
        } else {
            // What `FlagState::store` would emit at the end.
            *flags_pending = l.flags.src != FlagSrc::Globals || l.flags.carry != Carry::FromSrc;
        }
        Ok(())
    }
}

/// Lifts one block for a dynamic (block-at-a-time) engine that cannot see
/// the successors: flags are always written back at the block end.
pub fn lift_dynamic_block(pc: u64, insns: &[A64Insn]) -> Result<IrBlock, TranslateError> {
    A64Frontend::default().lift_block(pc, insns, true)
}

struct Lifter<'a> {
    b: &'a mut UnitBuilder,
    flags: FlagState,
    /// The current instruction writes the zero register (its result is dropped).
    discard_result: bool,
    /// Constants already defined in this block.
    consts: ConstCache,
    /// Whether the block reads or writes the flags first (its scan's
    /// [`BlockScan::flags`]; the classes of [`flag_effect`]).
    flag_use: Option<FlagUse>,
}

impl Lifter<'_> {
    /// Register `n` with 31 = zero register.
    #[inline]
    fn rz(&mut self, n: u32) -> Temp {
        if n == 31 {
            self.k(0)
        } else {
            self.b.get(n as u8)
        }
    }
    /// Register `n` with 31 = sp.
    fn rs(&mut self, n: u32) -> Temp {
        self.b.get(n as u8)
    }
    /// Writes register `n` (31 = zero register: discarded).
    #[inline]
    fn wz(&mut self, n: u32, v: Temp, sf: bool) {
        if n != 31 {
            let v = if sf { v } else { self.b.un(UnOp::Zext32, v) };
            self.b.set(n as u8, v);
        }
    }
    /// Writes register `n` (31 = sp).
    fn ws(&mut self, n: u32, v: Temp, sf: bool) {
        let v = if sf { v } else { self.b.un(UnOp::Zext32, v) };
        self.b.set(n as u8, v);
    }
    fn k(&mut self, v: u64) -> Temp {
        self.consts.get(self.b, v)
    }

    /// Condition `c` from the flags (inlined, the error built out of line:
    /// as a call, its result tuple went through the stack and stalled).
    #[inline]
    fn cond(&mut self, pc: u64, c: u32) -> Result<(Cond, Temp, Temp), Box<TranslateError>> {
        match self.flags.cond(self.b, cc(c)) {
            Ok(t) => Ok(t),
            Err(u) => Err(unmodeled(pc, u.mnemonic)),
        }
    }

    #[inline]
    fn cond_value(&mut self, pc: u64, c: u32) -> Result<Temp, Box<TranslateError>> {
        if cc(c) == CcKind::Al {
            return Ok(self.k(1));
        }
        let (x, a, b) = self.cond(pc, c)?;
        Ok(self.b.setcond(x, a, b))
    }

    /// Applies a register shift (`lsl/lsr/asr/ror` by a constant) at width `w`.
    #[inline]
    fn shift(&mut self, v: Temp, kind: u32, amount: u32, w: u32) -> Temp {
        if amount == 0 {
            return v;
        }
        let a = self.k(amount as u64);
        match kind {
            0 => self.b.bin(BinOp::Shl, v, a),
            1 => {
                let z = zext_w(self.b, v, w);
                self.b.bin(BinOp::Shr, z, a)
            }
            2 => {
                let s = sext_w(self.b, v, w);
                self.b.bin(BinOp::Sar, s, a)
            }
            _ => {
                let z = zext_w(self.b, v, w);
                let r = self.b.bin(BinOp::Shr, z, a);
                let la = self.k((w - amount) as u64);
                let l = self.b.bin(BinOp::Shl, z, la);
                let x = self.b.bin(BinOp::Or, r, l);
                zext_w(self.b, x, w)
            }
        }
    }

    /// Extends a register per an `option` field, then shifts left.
    #[inline]
    fn extend(&mut self, v: Temp, option: u32, sh: u32) -> Temp {
        let x = match option {
            0 => zext_w(self.b, v, 8),
            1 => zext_w(self.b, v, 16),
            2 => zext_w(self.b, v, 32),
            4 => sext_w(self.b, v, 8),
            5 => sext_w(self.b, v, 16),
            6 => sext_w(self.b, v, 32),
            _ => v,
        };
        if sh == 0 {
            x
        } else {
            let s = self.k(sh as u64);
            self.b.bin(BinOp::Shl, x, s)
        }
    }

    /// `a op b` with optional flag setting, result truncated to the width.
    #[inline]
    fn addsub(&mut self, sub: bool, set_flags: bool, a: Temp, b: Temp, sf: bool) -> Temp {
        let w = if sf { 64 } else { 32 };
        if set_flags {
            self.flag_use.get_or_insert(FlagUse::WriteFirst);
        }
        if sub && set_flags && self.discard_result {
            // cmp: only the flags need the difference, computed on demand.
            self.flags.set(FlagSrc::Sub {
                a,
                b,
                r: LAZY_RESULT,
                w,
            });
            return LAZY_RESULT;
        }
        let r = self.b.bin(if sub { BinOp::Sub } else { BinOp::Add }, a, b);
        let r = zext_w(self.b, r, w);
        if set_flags {
            self.flags.set(if sub {
                FlagSrc::Sub { a, b, r, w }
            } else {
                FlagSrc::Add { a, b, r, w }
            });
        }
        r
    }

    fn logic(&mut self, opc: u32, a: Temp, b: Temp, sf: bool) -> Temp {
        let w = if sf { 64 } else { 32 };
        let op = match opc {
            0 | 3 => BinOp::And,
            1 => BinOp::Or,
            _ => BinOp::Xor,
        };
        let r = self.b.bin(op, a, b);
        let r = zext_w(self.b, r, w);
        if opc == 3 {
            self.flag_use.get_or_insert(FlagUse::WriteFirst);
            self.flags.set(FlagSrc::Logic { r, w });
        }
        r
    }

    /// Lifts word `w` at `loc` whose control-flow class is `f`; returns
    /// the terminator if it ends the block.
    fn insn_flow(
        &mut self,
        w: u32,
        loc: GuestLoc,
        f: Flow,
    ) -> Result<Option<Terminator>, Box<TranslateError>> {
        let pc = loc.pc;
        let sf = bit(w, 31);
        let width = if sf { 64 } else { 32 };
        let rd = bits(w, 4, 0);
        let rn = bits(w, 9, 5);
        let rm = bits(w, 20, 16);
        // Flag-setting add/sub with rd = 31 write xzr (cmp/cmn).
        self.discard_result = rd == 31;
        let bad = || unsupported(pc, w);
        match f {
            Flow::None => {}
            Flow::Jump(t) => return Ok(Some(Terminator::Jump(t))),
            Flow::Call(t) => {
                let ra = self.k(pc + 4);
                self.b.set(LR, ra);
                return Ok(Some(Terminator::Jump(t)));
            }
            Flow::Cond { target, .. } => {
                let (cond, a, b) = if bits(w, 31, 24) == 0b0101_0100 {
                    if bits(w, 3, 0) < 14 {
                        self.flag_use.get_or_insert(FlagUse::ReadFirst);
                    }
                    self.cond(pc, bits(w, 3, 0))?
                } else if bits(w, 30, 25) == 0b011010 {
                    let t = self.rz(rd);
                    let t = zext_w(self.b, t, width);
                    let z = self.k(0);
                    (if bit(w, 24) { Cond::Ne } else { Cond::Eq }, t, z)
                } else {
                    let bitno = (bits(w, 31, 31) << 5) | bits(w, 23, 19);
                    let t = self.rz(rd);
                    let s = self.k(bitno as u64);
                    let x = self.b.bin(BinOp::Shr, t, s);
                    let one = self.k(1);
                    let x = self.b.bin(BinOp::And, x, one);
                    let z = self.k(0);
                    (if bit(w, 24) { Cond::Ne } else { Cond::Eq }, x, z)
                };
                return Ok(Some(Terminator::Branch {
                    cond,
                    a,
                    b,
                    taken: target,
                    fallthrough: pc + 4,
                }));
            }
            Flow::Indirect { call } => {
                let t = self.rz(rn);
                if call {
                    let ra = self.k(pc + 4);
                    self.b.set(LR, ra);
                }
                return Ok(Some(Terminator::JumpIndirect(t)));
            }
            Flow::Stop => return Ok(Some(Terminator::Breakpoint { pc })),
        }
        if w == 0xd503_201f {
            return Ok(None); // nop
        }
        let op0 = bits(w, 28, 25);
        match op0 {
            0b1000 | 0b1001 => self.dp_imm(w, sf, rd, rn, pc)?,
            0b0101 | 0b1101 => self.dp_reg(w, sf, rd, rn, rm, pc)?,
            _ if bit(w, 26) => return Err(bad()),
            _ if op0 & 0b0101 == 0b0100 => self.ldst(w, loc)?,
            _ => return Err(bad()),
        }
        Ok(None)
    }

    fn dp_imm(
        &mut self,
        w: u32,
        sf: bool,
        rd: u32,
        rn: u32,
        pc: u64,
    ) -> Result<(), Box<TranslateError>> {
        let width = if sf { 64 } else { 32 };
        let bad = || unsupported(pc, w);
        match bits(w, 25, 23) {
            0b000 | 0b001 => {
                // adr / adrp
                let imm = sext((bits(w, 23, 5) << 2) | bits(w, 30, 29), 21);
                let v = if bit(w, 31) {
                    (pc & !0xfff).wrapping_add((imm << 12) as u64)
                } else {
                    pc.wrapping_add(imm as u64)
                };
                let c = self.k(v);
                self.wz(rd, c, true);
            }
            0b010 => {
                // add/sub immediate
                if bit(w, 22) && bits(w, 23, 23) == 1 {
                    return Err(bad());
                }
                let sub = bit(w, 30);
                let s = bit(w, 29);
                let imm = (bits(w, 21, 10) as u64) << (12 * bits(w, 22, 22));
                let a = self.rs(rn);
                let b = self.k(imm);
                let r = self.addsub(sub, s, a, b, sf);
                if s {
                    self.wz(rd, r, true);
                } else {
                    self.ws(rd, r, true);
                }
            }
            0b100 => {
                // logical immediate
                let n = bits(w, 22, 22);
                if !sf && n == 1 {
                    return Err(bad());
                }
                let imm =
                    decode_bit_masks(n, bits(w, 15, 10), bits(w, 21, 16), width).ok_or_else(bad)?;
                let opc = bits(w, 30, 29);
                let a = self.rz(rn);
                let b = self.k(imm);
                let r = self.logic(opc, a, b, sf);
                if opc == 3 {
                    self.wz(rd, r, true);
                } else {
                    self.ws(rd, r, true);
                }
            }
            0b101 => {
                // move wide
                let hw = bits(w, 22, 21);
                if !sf && hw >= 2 {
                    return Err(bad());
                }
                let sh = 16 * hw as u64;
                let imm = (bits(w, 20, 5) as u64) << sh;
                let mask = if sf { u64::MAX } else { 0xffff_ffff };
                match bits(w, 30, 29) {
                    0 => {
                        let c = self.k(!imm & mask);
                        self.wz(rd, c, true)
                    }
                    2 => {
                        let c = self.k(imm);
                        self.wz(rd, c, true)
                    }
                    3 => {
                        let old = self.rz(rd);
                        let keep = self.k(!(0xffffu64 << sh));
                        let o = self.b.bin(BinOp::And, old, keep);
                        let c = self.k(imm);
                        let v = self.b.bin(BinOp::Or, o, c);
                        self.wz(rd, v, sf);
                    }
                    _ => return Err(bad()),
                }
            }
            0b110 => {
                // bitfield
                let opc = bits(w, 30, 29);
                let n = bit(w, 22);
                if n != sf || opc == 3 {
                    return Err(bad());
                }
                let r = bits(w, 21, 16);
                let s = bits(w, 15, 10);
                if !sf && (r >= 32 || s >= 32) {
                    return Err(bad());
                }
                let src = self.rz(rn);
                let ones = |k: u32| if k >= 64 { u64::MAX } else { (1u64 << k) - 1 };
                let v = match opc {
                    0 => {
                        // sbfm: sign-extend field s..r (or s..0 shifted up)
                        let up = self.k((63 - s) as u64);
                        let x = self.b.bin(BinOp::Shl, src, up);
                        if s >= r {
                            let dn = self.k((63 - s + r) as u64);
                            self.b.bin(BinOp::Sar, x, dn)
                        } else {
                            let x = self.b.bin(BinOp::Sar, x, up);
                            let l = self.k((width - r) as u64);
                            self.b.bin(BinOp::Shl, x, l)
                        }
                    }
                    2 => {
                        // ubfm
                        if s >= r {
                            let z = zext_w(self.b, src, width);
                            let sh = self.k(r as u64);
                            let x = self.b.bin(BinOp::Shr, z, sh);
                            let m = self.k(ones(s - r + 1));
                            self.b.bin(BinOp::And, x, m)
                        } else {
                            let m = self.k(ones(s + 1));
                            let x = self.b.bin(BinOp::And, src, m);
                            let l = self.k((width - r) as u64);
                            self.b.bin(BinOp::Shl, x, l)
                        }
                    }
                    _ => {
                        // bfm: insert a field into the destination
                        let (field, pos, len) = if s >= r {
                            let z = zext_w(self.b, src, width);
                            let sh = self.k(r as u64);
                            let x = self.b.bin(BinOp::Shr, z, sh);
                            (x, 0, s - r + 1)
                        } else {
                            (src, width - r, s + 1)
                        };
                        let m = self.k(ones(len));
                        let f = self.b.bin(BinOp::And, field, m);
                        let p = self.k(pos as u64);
                        let f = self.b.bin(BinOp::Shl, f, p);
                        let dst = self.rz(rd);
                        let keep = self.k(!(ones(len) << pos));
                        let d = self.b.bin(BinOp::And, dst, keep);
                        self.b.bin(BinOp::Or, d, f)
                    }
                };
                let v = zext_w(self.b, v, width);
                self.wz(rd, v, true);
            }
            0b111 => {
                // extr (ror immediate when rn == rm)
                if bits(w, 30, 29) != 0 || bit(w, 22) != sf || bit(w, 21) {
                    return Err(bad());
                }
                let lsb = bits(w, 15, 10);
                if lsb >= width {
                    return Err(bad());
                }
                let lo = self.rz(bits(w, 20, 16));
                let v = if lsb == 0 {
                    lo
                } else {
                    let hi = self.rz(rn);
                    let z = zext_w(self.b, lo, width);
                    let s = self.k(lsb as u64);
                    let x = self.b.bin(BinOp::Shr, z, s);
                    let l = self.k((width - lsb) as u64);
                    let y = self.b.bin(BinOp::Shl, hi, l);
                    self.b.bin(BinOp::Or, x, y)
                };
                let v = zext_w(self.b, v, width);
                self.wz(rd, v, true);
            }
            _ => return Err(bad()),
        }
        Ok(())
    }

    fn dp_reg(
        &mut self,
        w: u32,
        sf: bool,
        rd: u32,
        rn: u32,
        rm: u32,
        pc: u64,
    ) -> Result<(), Box<TranslateError>> {
        let width = if sf { 64 } else { 32 };
        let bad = || unsupported(pc, w);
        if bits(w, 28, 24) == 0b01010 {
            // logical shifted register
            let amount = bits(w, 15, 10);
            if !sf && amount >= 32 {
                return Err(bad());
            }
            let b = self.rz(rm);
            let mut b = self.shift(b, bits(w, 23, 22), amount, width);
            if bit(w, 21) {
                let ones = self.k(u64::MAX);
                b = self.b.bin(BinOp::Xor, b, ones);
            }
            let a = self.rz(rn);
            let r = self.logic(bits(w, 30, 29), a, b, sf);
            self.wz(rd, r, true);
            return Ok(());
        }
        if bits(w, 28, 24) == 0b01011 {
            let sub = bit(w, 30);
            let s = bit(w, 29);
            if !bit(w, 21) {
                // add/sub shifted register
                let kind = bits(w, 23, 22);
                let amount = bits(w, 15, 10);
                if kind == 3 || (!sf && amount >= 32) {
                    return Err(bad());
                }
                let b = self.rz(rm);
                let b = self.shift(b, kind, amount, width);
                let a = self.rz(rn);
                let r = self.addsub(sub, s, a, b, sf);
                self.wz(rd, r, true);
            } else {
                // add/sub extended register
                let sh = bits(w, 12, 10);
                if bits(w, 23, 22) != 0 || sh > 4 {
                    return Err(bad());
                }
                let b = self.rz(rm);
                let b = self.extend(b, bits(w, 15, 13), sh);
                let a = self.rs(rn);
                let r = self.addsub(sub, s, a, b, sf);
                if s {
                    self.wz(rd, r, true);
                } else {
                    self.ws(rd, r, true);
                }
            }
            return Ok(());
        }
        match bits(w, 28, 21) {
            0b1101_0010 if bit(w, 29) && !bit(w, 10) && !bit(w, 4) => {
                // ccmp / ccmn (register or immediate)
                self.flag_use.get_or_insert(FlagUse::ReadFirst);
                let c = self.cond_value(pc, bits(w, 15, 12))?;
                let a = self.rz(rn);
                let b = if bit(w, 11) {
                    self.k(bits(w, 20, 16) as u64)
                } else {
                    self.rz(rm)
                };
                let mut nf = self.flags;
                self.addsub_into(&mut nf, bit(w, 30), a, b, sf);
                let f = nf.materialize(self.b).map_err(|_| bad())?;
                let nzcv = bits(w, 3, 0) as u64;
                let kz = self.k((nzcv >> 2) & 1);
                let kn = self.k((nzcv >> 3) & 1);
                let kc = self.k((nzcv >> 1) & 1);
                let kv = self.k(nzcv & 1);
                let out = Flags {
                    z: select(self.b, c, f.z, kz),
                    n: select(self.b, c, f.n, kn),
                    c: select(self.b, c, f.c, kc),
                    v: select(self.b, c, f.v, kv),
                };
                self.flags.set(FlagSrc::Mat(out));
            }
            0b1101_0100 if !bit(w, 29) && !bit(w, 11) => {
                // csel / csinc / csinv / csneg
                self.flag_use.get_or_insert(FlagUse::ReadFirst);
                let c = self.cond_value(pc, bits(w, 15, 12))?;
                let a = self.rz(rn);
                let b = self.rz(rm);
                let b = match (bit(w, 30), bit(w, 10)) {
                    (false, false) => b,
                    (false, true) => {
                        let one = self.k(1);
                        self.b.bin(BinOp::Add, b, one)
                    }
                    (true, false) => {
                        let ones = self.k(u64::MAX);
                        self.b.bin(BinOp::Xor, b, ones)
                    }
                    (true, true) => {
                        let z = self.k(0);
                        self.b.bin(BinOp::Sub, z, b)
                    }
                };
                let v = select(self.b, c, a, b);
                self.wz(rd, v, sf);
            }
            0b1101_0110 if !bit(w, 30) && !bit(w, 29) => {
                // 2-source
                let a = self.rz(rn);
                let b = self.rz(rm);
                let v = match bits(w, 15, 10) {
                    0b000010 | 0b000011 => {
                        let signed = bits(w, 15, 10) == 3;
                        let (x, y) = if signed {
                            (sext_w(self.b, a, width), sext_w(self.b, b, width))
                        } else {
                            (zext_w(self.b, a, width), zext_w(self.b, b, width))
                        };
                        let q = self
                            .b
                            .bin(if signed { BinOp::Div } else { BinOp::DivU }, x, y);
                        // A64 division by zero yields 0 (the IR's yields all ones).
                        let z = self.k(0);
                        let nz = self.b.setcond(Cond::Ne, y, z);
                        let mask = self.b.bin(BinOp::Sub, z, nz);
                        self.b.bin(BinOp::And, q, mask)
                    }
                    0b001000..=0b001011 => {
                        let m = self.k(width as u64 - 1);
                        let cnt = self.b.bin(BinOp::And, b, m);
                        match bits(w, 11, 10) {
                            0 => self.b.bin(BinOp::Shl, a, cnt),
                            1 => {
                                let z = zext_w(self.b, a, width);
                                self.b.bin(BinOp::Shr, z, cnt)
                            }
                            2 => {
                                let s = sext_w(self.b, a, width);
                                self.b.bin(BinOp::Sar, s, cnt)
                            }
                            _ => {
                                let z = zext_w(self.b, a, width);
                                let wc = self.k(width as u64);
                                let inv = self.b.bin(BinOp::Sub, wc, cnt);
                                let inv = self.b.bin(BinOp::And, inv, m);
                                let x = self.b.bin(BinOp::Shr, z, cnt);
                                let y = self.b.bin(BinOp::Shl, z, inv);
                                self.b.bin(BinOp::Or, x, y)
                            }
                        }
                    }
                    _ => return Err(bad()),
                };
                let v = zext_w(self.b, v, width);
                self.wz(rd, v, true);
            }
            0b1101_1000..=0b1101_1111 if bits(w, 30, 29) == 0 => {
                // 3-source
                let ra = bits(w, 14, 10);
                let o0 = bit(w, 15);
                let a = self.rz(rn);
                let b = self.rz(rm);
                let v = match (bits(w, 23, 21), sf) {
                    (0b000, _) => {
                        let p = self.b.bin(BinOp::Mul, a, b);
                        let acc = self.rz(ra);
                        self.b.bin(if o0 { BinOp::Sub } else { BinOp::Add }, acc, p)
                    }
                    (0b001 | 0b101, true) => {
                        let op = if bits(w, 23, 21) == 1 {
                            UnOp::Sext32
                        } else {
                            UnOp::Zext32
                        };
                        let x = self.b.un(op, a);
                        let y = self.b.un(op, b);
                        let p = self.b.bin(BinOp::Mul, x, y);
                        let acc = self.rz(ra);
                        self.b.bin(if o0 { BinOp::Sub } else { BinOp::Add }, acc, p)
                    }
                    (0b010, true) if !o0 => self.b.bin(BinOp::MulH, a, b),
                    (0b110, true) if !o0 => self.b.bin(BinOp::MulHU, a, b),
                    _ => return Err(bad()),
                };
                let v = zext_w(self.b, v, width);
                self.wz(rd, v, true);
            }
            _ => return Err(bad()),
        }
        Ok(())
    }

    fn addsub_into(&mut self, st: &mut FlagState, sub: bool, a: Temp, b: Temp, sf: bool) {
        let w = if sf { 64 } else { 32 };
        let r = self.b.bin(if sub { BinOp::Sub } else { BinOp::Add }, a, b);
        let r = zext_w(self.b, r, w);
        st.set(if sub {
            FlagSrc::Sub { a, b, r, w }
        } else {
            FlagSrc::Add { a, b, r, w }
        });
    }

    fn ldst(&mut self, w: u32, loc: GuestLoc) -> Result<(), Box<TranslateError>> {
        let pc = loc.pc;
        let bad = || unsupported(pc, w);
        let rt = bits(w, 4, 0);
        let rn = bits(w, 9, 5);
        if bits(w, 29, 27) == 0b101 && !bit(w, 26) {
            // load/store pair
            let opc = bits(w, 31, 30);
            let l = bit(w, 22);
            let (scale, signed) = match (opc, l) {
                (0, _) => (2, false),
                (2, _) => (3, false),
                (1, true) => (2, true),
                _ => return Err(bad()),
            };
            let mode = bits(w, 24, 23);
            let imm = sext(bits(w, 21, 15), 7) << scale;
            let rt2 = bits(w, 14, 10);
            let base = self.rs(rn);
            let off = if mode == 1 { 0 } else { imm };
            let wd = if scale == 3 { Width::W64 } else { Width::W32 };
            let sz = 1i64 << scale;
            if l {
                let v1 = self.b.load(base, off as i32, wd, signed, loc);
                let v2 = self.b.load(base, (off + sz) as i32, wd, signed, loc);
                if rt == rt2 {
                    return Err(bad());
                }
                self.wz(rt, v1, true);
                self.wz(rt2, v2, true);
            } else {
                let v1 = self.rz(rt);
                let v2 = self.rz(rt2);
                self.b.store(base, off as i32, v1, wd, loc);
                self.b.store(base, (off + sz) as i32, v2, wd, loc);
            }
            if mode == 1 || mode == 3 {
                let c = self.k(imm as u64);
                let nb = self.b.bin(BinOp::Add, base, c);
                self.b.set(rn as u8, nb);
            }
            return Ok(());
        }
        if bits(w, 29, 27) == 0b011 && !bit(w, 26) && bits(w, 25, 24) == 0 {
            // load literal
            let addr = pc.wrapping_add((sext(bits(w, 23, 5), 19) * 4) as u64);
            let a = self.k(addr);
            let (wd, signed) = match bits(w, 31, 30) {
                0 => (Width::W32, false),
                1 => (Width::W64, false),
                2 => (Width::W32, true),
                _ => return Ok(()), // prfm literal: a hint
            };
            let v = self.b.load(a, 0, wd, signed, loc);
            self.wz(rt, v, true);
            return Ok(());
        }
        if bits(w, 29, 27) != 0b111 || bit(w, 26) {
            return Err(bad());
        }
        let size = bits(w, 31, 30);
        let opc = bits(w, 23, 22);
        let base = self.rs(rn);
        // (address temp, displacement, writeback value)
        let (addr, off, wb): (Temp, i64, Option<Temp>) = if bits(w, 25, 24) == 0b01 {
            (base, (bits(w, 21, 10) as i64) << size, None)
        } else if !bit(w, 21) {
            let imm = sext(bits(w, 20, 12), 9);
            match bits(w, 11, 10) {
                0b00 => (base, imm, None),
                0b01 => {
                    let c = self.k(imm as u64);
                    let nb = self.b.bin(BinOp::Add, base, c);
                    (base, 0, Some(nb))
                }
                0b11 => {
                    let c = self.k(imm as u64);
                    let nb = self.b.bin(BinOp::Add, base, c);
                    (nb, 0, Some(nb))
                }
                _ => return Err(bad()),
            }
        } else if bits(w, 11, 10) == 0b10 {
            let option = bits(w, 15, 13);
            if option & 2 == 0 {
                return Err(bad());
            }
            let sh = if bit(w, 12) { size } else { 0 };
            let m = self.rz(bits(w, 20, 16));
            let idx = self.extend(m, option, sh);
            (self.b.bin(BinOp::Add, base, idx), 0, None)
        } else {
            return Err(bad());
        };
        let wd = match size {
            0 => Width::W8,
            1 => Width::W16,
            2 => Width::W32,
            _ => Width::W64,
        };
        match opc {
            0 => {
                let v = self.rz(rt);
                self.b.store(addr, off as i32, v, wd, loc);
            }
            1 => {
                let v = self.b.load(addr, off as i32, wd, false, loc);
                self.wz(rt, v, true);
            }
            2 if size == 3 => {} // prfm: a hint
            2 => {
                let v = self.b.load(addr, off as i32, wd, true, loc);
                self.wz(rt, v, true);
            }
            _ if size < 2 => {
                let v = self.b.load(addr, off as i32, wd, true, loc);
                self.wz(rt, v, false);
            }
            _ => return Err(bad()),
        }
        if let Some(nb) = wb {
            self.b.set(rn as u8, nb);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(words: &[u32]) -> Result<IrBlock, TranslateError> {
        let img = CodeImage {
            base: 0x1000,
            bytes: words.iter().flat_map(|w| w.to_le_bytes()).collect(),
        };
        let mut insns = Vec::new();
        let mut fe = A64Frontend::default();
        fe.scan_block(&img, 0x1000, &mut insns)?;
        fe.lift_block(0x1000, &insns, false)
    }

    /// The AArch64 frontend without its fused discovery (the trait's
    /// default: discover the unit, then lift each block).
    #[derive(Default)]
    struct Unfused(A64Frontend);

    impl Frontend for Unfused {
        type Insn = A64Insn;
        const NAME: &'static str = "aarch64 (unfused)";
        fn scan_block(
            &mut self,
            img: &CodeImage,
            pc: u64,
            out: &mut Vec<A64Insn>,
        ) -> Result<BlockScan, TranslateError> {
            self.0.scan_block(img, pc, out)
        }
        fn lift_block_into(
            &mut self,
            pc: u64,
            insns: &[A64Insn],
            flags_live_out: bool,
            ops: &mut UnitOps,
        ) -> Result<LiftedBlock, TranslateError> {
            self.0.lift_block_into(pc, insns, flags_live_out, ops)
        }
        fn insn_loc(insn: &A64Insn, index: u32) -> GuestLoc {
            A64Frontend::insn_loc(insn, index)
        }
    }

    /// Lifting during discovery gives the unit the separate passes give:
    /// the same blocks, records, constants, terminators and last uses
    /// (blocks whose flags turn out live at their end lifted again, their
    /// early records left dead), twice with reused buffers.
    #[test]
    fn fused_discovery_and_lifting_match_the_separate_passes() {
        use crate::xarch::inputs::{load_input, AARCH64_ELF};
        use crate::xarch::unit::UnitTranslator;
        let input = load_input(AARCH64_ELF).unwrap();
        let mut fused = UnitTranslator::new(A64Frontend::default());
        let mut separate = UnitTranslator::new(Unfused::default());
        for _ in 0..2 {
            let a = fused.translate(&input.image, &input.symbols).unwrap();
            let b = separate.translate(&input.image, &input.symbols).unwrap();
            assert_eq!(a.blocks.len(), b.blocks.len());
            for (i, (x, y)) in a.blocks.iter().zip(&b.blocks).enumerate() {
                let key = |k: &crate::ir::UnitBlock| (k.pc, k.insn_count, k.num_temps, k.term);
                assert_eq!(key(x), key(y));
                assert_eq!(a.block_ops(x), b.block_ops(y), "block {:#x}", x.pc);
                assert_eq!(a.block_consts(x), b.block_consts(y), "block {:#x}", x.pc);
                let n = x.num_temps as usize;
                assert_eq!(
                    a.last_use[a.last_use_base[i]..][..n],
                    b.last_use[b.last_use_base[i]..][..n],
                    "block {:#x}",
                    x.pc
                );
            }
            assert_eq!(a.guest_insns, b.guest_insns);
            assert_eq!(a.indirect_targets, b.indirect_targets);
            assert_eq!(a.live_ops(), b.live_ops());
            // Some blocks were lifted again (their early records stay).
            let used: usize = a.blocks.iter().map(|k| (k.end - k.start) as usize).sum();
            assert!(a.ops.len() > used);
            fused.recycle(a);
            separate.recycle(b);
        }
    }

    /// The fused scan (flag use noted by the lifter) equals the separate
    /// scan on every block of the committed object and on blocks whose
    /// flag use only the encoding shows (conditions `al`/`nv` read no
    /// flags, yet the scan counts csel and ccmp with them as reads).
    #[test]
    fn fused_scan_equals_the_separate_scan() {
        use crate::xarch::inputs::{load_input, AARCH64_ELF};
        let ret = 0xd65f_03c0;
        let mut cases: Vec<(CodeImage, u64)> = [
            vec![0x9a82_e020, 0xeb01_001f, ret], // csel x0, x1, x2, al ; cmp
            vec![0xfa40_e800, ret],              // ccmp x0, #0, #0, al
            vec![0x5400_004e],                   // b.al
            vec![0x5400_004f],                   // b.nv
            vec![0xeb01_001f, 0x5400_0040],      // cmp x0, x1 ; b.eq
            vec![0xf240_001f, ret],              // tst x0, #1
            vec![0x3100_0400, ret],              // adds w0, w0, #1
            vec![0x9100_0400, 0x9a82_1020, ret], // add ; csel ne
        ]
        .into_iter()
        .map(|words| {
            let bytes = words.iter().flat_map(|w: &u32| w.to_le_bytes()).collect();
            (CodeImage { base: 0x1000, bytes }, 0x1000)
        })
        .collect();
        let input = load_input(AARCH64_ELF).unwrap();
        let unit = crate::xarch::unit::translate_unit(
            &mut A64Frontend::default(),
            &input.image,
            &input.symbols,
        )
        .unwrap();
        cases.extend(unit.blocks.iter().map(|b| (input.image.clone(), b.pc)));
        let mut fe = A64Frontend::default();
        fe.b.reset(UnitOps::default());
        for (img, pc) in &cases {
            let (mut fused, mut separate) = (Vec::new(), Vec::new());
            let mut scan = BlockScan::default();
            fe.scan_and_lift(img, *pc, &mut fused, &mut scan, &mut Vec::new())
                .unwrap();
            let want = fe.scan_block(img, *pc, &mut separate).unwrap();
            assert_eq!(format!("{scan:?}"), format!("{want:?}"), "block {pc:#x}");
            assert_eq!(fused, separate);
        }
    }

    /// A unit with an error is translated again the separate way, so the
    /// error is the one discovery-then-lifting reports.
    #[test]
    fn fused_discovery_reports_the_errors_of_the_separate_passes() {
        use crate::xarch::unit::UnitTranslator;
        let fmov = 0x9e67_0020; // fmov d0, x1: not in the subset
        for (words, entry, want) in [
            // cbz x0, +8 ; fmov (lifting fails) ; add x0, x0, #1 ; end of
            // image: discovery fails later, and that is the error.
            (
                vec![0xb400_0040, fmov, 0x9100_0400],
                0x1000,
                TranslateError::OutOfImage { pc: 0x100c },
            ),
            (
                vec![fmov, 0xd65f_03c0],
                0x1000,
                *unsupported(0x1000, fmov),
            ),
            (vec![0xd65f_03c0], 0x1002, TranslateError::OutOfImage { pc: 0x1002 }),
        ] {
            let img = CodeImage {
                base: 0x1000,
                bytes: words.iter().flat_map(|w: &u32| w.to_le_bytes()).collect(),
            };
            let entries = [("f".to_string(), entry)];
            let a = UnitTranslator::new(A64Frontend::default()).translate(&img, &entries);
            let b = UnitTranslator::new(Unfused::default()).translate(&img, &entries);
            assert_eq!(a.unwrap_err(), want);
            assert_eq!(b.unwrap_err(), want);
        }
    }

    #[test]
    fn cmp_b_lt_becomes_one_signed_branch() {
        // cmp x0, x1 ; b.lt +8
        let b = block(&[0xeb01_001f, 0x5400_004b]).unwrap();
        match b.term {
            Terminator::Branch { cond, taken, .. } => {
                assert_eq!(cond, Cond::Lt);
                assert_eq!(taken, 0x1004 + 8);
            }
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn simd_and_system_instructions_are_reported() {
        // fmov d0, x1 ; ret
        let e = block(&[0x9e67_0020, 0xd65f_03c0]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unsupported instruction at 0x1000: simd/fp"),
            "{e}"
        );
        // mrs x0, tpidr_el0
        let e = block(&[0xd53b_d040, 0xd65f_03c0]).unwrap_err();
        assert!(e.to_string().contains("system instruction"), "{e}");
    }

    // ---- Reference semantics from the Arm ARM pseudocode ----

    use crate::xarch::irexec::{run, State};

    fn ones(k: u32) -> u64 {
        if k >= 64 {
            u64::MAX
        } else {
            (1u64 << k) - 1
        }
    }
    fn ror(x: u64, r: u32, size: u32) -> u64 {
        let x = x & ones(size);
        if r.is_multiple_of(size) {
            x
        } else {
            let r = r % size;
            ((x >> r) | (x << (size - r))) & ones(size)
        }
    }
    fn replicate(x: u64, esize: u32, size: u32) -> u64 {
        (0..size / esize).fold(0, |v, i| v | x << (i * esize))
    }
    /// DecodeBitMasks(immN, imms, immr, immediate = FALSE) -> (wmask, tmask).
    fn bit_masks(n: u32, imms: u32, immr: u32, size: u32) -> (u64, u64) {
        let len = 31 - ((n << 6) | (!imms & 0x3f)).leading_zeros();
        let levels = (1u32 << len) - 1;
        let (s, r) = (imms & levels, immr & levels);
        let d = (s.wrapping_sub(r)) & levels;
        let esize = 1u32 << len;
        let welem = ones(s + 1);
        let telem = ones(d + 1);
        (
            replicate(ror(welem, r, esize), esize, size),
            replicate(telem, esize, size),
        )
    }
    fn reference_bfm(opc: u32, sf: bool, immr: u32, imms: u32, src: u64, dst: u64) -> u64 {
        let size = if sf { 64 } else { 32 };
        let (wmask, tmask) = bit_masks(sf as u32, imms, immr, size);
        let rot = ror(src, immr, size);
        let m = ones(size);
        match opc {
            0 => {
                let bot = rot & wmask;
                let top = if (src >> imms) & 1 == 1 { m } else { 0 };
                ((top & !tmask) | (bot & tmask)) & m
            }
            1 => {
                let bot = (dst & !wmask) | (rot & wmask);
                ((dst & !tmask) | (bot & tmask)) & m
            }
            _ => rot & wmask & tmask & m,
        }
    }
    /// AddWithCarry: (result, N, Z, C, V) at `size` bits.
    fn add_with_carry(x: u64, y: u64, c: u64, size: u32) -> (u64, [u64; 4]) {
        let m = ones(size);
        let (x, y) = (x & m, y & m);
        let usum = x as u128 + y as u128 + c as u128;
        let sx = ((x << (64 - size)) as i64 >> (64 - size)) as i128;
        let sy = ((y << (64 - size)) as i64 >> (64 - size)) as i128;
        let ssum = sx + sy + c as i128;
        let r = (usum as u64) & m;
        let sr = ((r << (64 - size)) as i64 >> (64 - size)) as i128;
        let n = (r >> (size - 1)) & 1;
        let z = (r == 0) as u64;
        let carry = (usum != r as u128) as u64;
        let v = (ssum != sr) as u64;
        (r, [n, z, carry, v])
    }
    fn holds(cond: u32, f: [u64; 4]) -> bool {
        let [n, z, c, v] = f;
        let r = match cond >> 1 {
            0 => z == 1,
            1 => c == 1,
            2 => n == 1,
            3 => v == 1,
            4 => c == 1 && z == 0,
            5 => n == v,
            6 => n == v && z == 0,
            _ => true,
        };
        if cond & 1 == 1 && cond != 15 {
            !r
        } else {
            r
        }
    }
    /// Runs `words` (then `brk`) with x0..x3 = `regs`; flags stored at the end.
    fn exec(words: &[u32], regs: [u64; 4]) -> State {
        let mut all: Vec<u32> = words.to_vec();
        all.push(0xd420_0000); // brk #0
        let img = CodeImage {
            base: 0x1000,
            bytes: all.iter().flat_map(|w| w.to_le_bytes()).collect(),
        };
        let mut fe = A64Frontend::default();
        let mut insns = Vec::new();
        fe.scan_block(&img, 0x1000, &mut insns).unwrap();
        let b = fe.lift_block(0x1000, &insns, true).unwrap();
        let mut st = State::default();
        st.globals[..4].copy_from_slice(&regs);
        run(&b, &mut st);
        st
    }
    fn flags_of(st: &State) -> [u64; 4] {
        // globals: Z = 32, N = 33, C = 34, V = 35
        [
            st.globals[33],
            st.globals[32],
            st.globals[34],
            st.globals[35],
        ]
    }
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            match self.0 % 4 {
                0 => self.0 & 0xff,
                1 => (self.0 as i64 >> 40) as u64,
                2 => {
                    [0, 1, u64::MAX, 1 << 63, 0x8000_0000, 0x7fff_ffff][(self.0 >> 8) as usize % 6]
                }
                _ => self.0,
            }
        }
    }

    /// Every valid SBFM/BFM/UBFM encoding (all immr/imms, both sizes)
    /// against the Arm ARM's DecodeBitMasks-based pseudocode.
    #[test]
    fn bitfield_moves_match_the_arm_pseudocode() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for sf in [false, true] {
            let size = if sf { 64 } else { 32 };
            for opc in 0..3u32 {
                for immr in 0..size {
                    for imms in 0..size {
                        let w = (sf as u32) << 31
                            | opc << 29
                            | 0b100110 << 23
                            | (sf as u32) << 22
                            | immr << 16
                            | imms << 10
                            | 1 << 5;
                        let (src, dst) = (rng.next(), rng.next());
                        let st = exec(&[w], [dst, src, 0, 0]);
                        let want = reference_bfm(opc, sf, immr, imms, src, dst);
                        assert_eq!(
                            st.globals[0], want,
                            "opc {opc} sf {sf} immr {immr} imms {imms} src {src:#x} dst {dst:#x}"
                        );
                    }
                }
            }
        }
    }

    /// cmp (sets the incoming flags), then ccmp/ccmn, flags against the
    /// pseudocode; csel/csinc/csinv/csneg on the resulting condition.
    #[test]
    fn conditional_compare_and_select_match_the_arm_pseudocode() {
        let mut rng = Rng(0x0bad_cafe_f00d_1234);
        for k in 0..4000u32 {
            let sf = k % 2 == 0;
            let size = if sf { 64 } else { 32 };
            let regs = [rng.next(), rng.next(), rng.next(), rng.next()];
            let cond = (k / 2) % 16;
            let nzcv = (k / 32) % 16;
            let imm_form = k % 3 == 0;
            let is_ccmp = k % 5 != 0;
            // cmp x2, x3 (subs xzr, x2, x3)
            let cmp = (sf as u32) << 31 | 0x6b00_001f | 3 << 16 | 2 << 5;
            let imm5 = (regs[1] & 31) as u32;
            let ccmp = (sf as u32) << 31
                | (is_ccmp as u32) << 30
                | 0x3a40_0000
                | if imm_form {
                    imm5 << 16 | 1 << 11
                } else {
                    1 << 16
                }
                | cond << 12
                | nzcv;
            let st = exec(&[cmp, ccmp], regs);
            let (_, f0) = add_with_carry(regs[2], !regs[3], 1, size);
            let y = if imm_form { imm5 as u64 } else { regs[1] };
            let want = if holds(cond, f0) {
                if is_ccmp {
                    add_with_carry(regs[0], !y, 1, size).1
                } else {
                    add_with_carry(regs[0], y, 0, size).1
                }
            } else {
                [
                    (nzcv >> 3) as u64 & 1,
                    (nzcv >> 2) as u64 & 1,
                    (nzcv >> 1) as u64 & 1,
                    nzcv as u64 & 1,
                ]
            };
            assert_eq!(flags_of(&st), want, "k {k} ccmp {ccmp:#x} regs {regs:x?}");
            // csel family on the flags of the cmp: xd = x0, xn = x1, xm = x2
            let op2 = k % 4;
            let sel = (sf as u32) << 31
                | ((op2 >> 1) << 30)
                | 0x1a80_0000
                | 2 << 16
                | cond << 12
                | (op2 & 1) << 10
                | 1 << 5;
            let st = exec(&[cmp, sel], regs);
            let m = ones(size);
            let (xn, xm) = (regs[1] & m, regs[2] & m);
            let want = if holds(cond, f0) {
                xn
            } else {
                match op2 {
                    0 => xm,
                    1 => xm.wrapping_add(1) & m,
                    2 => !xm & m,
                    _ => xm.wrapping_neg() & m,
                }
            };
            assert_eq!(st.globals[0], want, "k {k} sel {sel:#x}");
        }
    }
}
