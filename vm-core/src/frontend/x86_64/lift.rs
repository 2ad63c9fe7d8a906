//! x86-64 -> IR lifting of one block.

use iced_x86::{Decoder, DecoderOptions, Instruction};

use super::insn::{
    code_info_table, Class, X86Insn, ATTR_PREFIX, ATTR_SEGMENT, BASE_ABS64, BASE_NONE, BASE_RIP,
    CC_KINDS, NUM_CLASSES, OP_BRANCH, OP_IMM, OP_MEM,
};
use super::TranslateError;
use crate::frontend::flags::{
    bin_w, select, sext_w, zext_w, Carry, CcKind, ConstCache, FlagSrc, FlagState, UnmodeledFlags,
    LAZY_RESULT,
};
use crate::frontend::{
    begin_block, end_block, BlockScan, CodeImage, Discovery, EarlyLift, FlagUse,
    too_many_temps, Frontend, LiftedBlock, Successor,
};
use crate::ir::dense::{UnitBuilder, UnitOps};
use crate::ir::{BinOp, GuestLoc, Temp, Terminator, UnOp, Width};

/// Globals holding Z, N (SF), C (CF), V (OF) between blocks.
pub const FLAG_GLOBALS: [u8; 4] = [17, 18, 16, 19];
/// Globals the x86-64 frontend uses (`0..NUM_X86_GLOBALS`).
pub const NUM_X86_GLOBALS: usize = 20;
const RSP: u8 = 4;
const RAX: u8 = 0;
const RDX: u8 = 2;
/// Longest block before it is split with a fallthrough jump.
const MAX_BLOCK_INSNS: usize = 128;

/// The x86-64 frontend (stateless between blocks).
#[derive(Debug, Default)]
pub struct X86Frontend {
    /// One builder reused for every block (see [`UnitBuilder::reset`]).
    b: UnitBuilder,
    /// The flag state at the end of each block of the current fused
    /// discovery whose flags were left unstored (block index, state), for
    /// [`Frontend::store_early_flags`].
    early_flags: Vec<(u32, FlagState)>,
}

impl Clone for X86Frontend {
    /// A fresh frontend: the builder holds no state between blocks.
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// The error of `i` reading flags whose setter is not modeled.
#[cold]
#[inline(never)]
fn flags_read_error(i: &X86Insn, u: UnmodeledFlags) -> Box<TranslateError> {
    Box::new(TranslateError::Unsupported {
        pc: i.ip(),
        mnemonic: format!(
            "{} (reads flags of {} at {:#x})",
            i.mnemonic_name(),
            u.mnemonic,
            u.pc
        ),
    })
}

/// [`Lifter::insn`]: the instruction ended the block.
const INSN_ENDED: u8 = 1;
/// [`Lifter::insn`]: the instruction cannot be lifted.
const INSN_FAILED: u8 = 2;

#[cold]
#[inline(never)]
fn unsupported(i: &X86Insn, why: &str) -> Box<TranslateError> {
    let m = i.mnemonic_name();
    Box::new(TranslateError::Unsupported {
        pc: i.ip(),
        mnemonic: if why.is_empty() {
            m
        } else {
            format!("{m} ({why})")
        },
    })
}

/// General-purpose register by iced number (an operand descriptor of
/// [`X86Insn`]): (global, size in bytes). iced's register numbering
/// (AL..BH = 1..8, SPL..R15L = 9..20, AX.. = 21..36, EAX.. = 37..52,
/// RAX.. = 53..68), checked by a unit test.
#[inline]
fn gpr(r: u8) -> Option<(u8, u32)> {
    // One table load: a `match` over the number ranges was a compare tree
    // that mispredicted about once per unit of 3 register operands
    // (callgrind's branch simulation).
    let v = GPR_TABLE[r as usize];
    if v == 0 {
        return None;
    }
    Some((v & 15, u32::from(v >> 4)))
}

/// [`gpr`] by register number: `global | size << 4`, 0 for the others.
static GPR_TABLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut n = 1;
    while n <= 68 {
        let (g, s) = match n {
            53..=68 => (n - 53, 8),
            37..=52 => (n - 37, 4),
            21..=36 => (n - 21, 2),
            1..=4 => (n - 1, 1),
            5..=8 => (n - 5, 1),
            9..=20 => (n - 9 + 4, 1),
            _ => (0, 0),
        };
        t[n] = (g | s << 4) as u8;
        n += 1;
    }
    t
};

/// Whether an operand descriptor is a register (1..=0x7f).
#[inline]
fn is_reg(d: u8) -> bool {
    d.wrapping_sub(1) < OP_MEM - 1
}

/// `ah`, `ch`, `dh`, `bh` (iced numbers 5..=8): bits 8..16 of their register.
#[inline]
fn is_high8(r: u8) -> bool {
    (5..=8).contains(&r)
}

/// How a class uses the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagClass {
    None,
    Reads,
    Writes,
    ReadsWrites,
    /// Shifts and rotates: write, and read when the count is a register
    /// (a zero count leaves the flags alone).
    Shift,
}

/// How a class ends a block, for scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowClass {
    Other,
    Jmp,
    Call,
    Ret,
    /// A conditional jump (with a direct target).
    CondJump,
    /// ud2, hlt, int3, syscall.
    Stop,
}

/// Flag use and flow of each [`Class`], by class number.
const CLASS_INFO: [(FlagClass, FlowClass); NUM_CLASSES] = {
    let mut t = [(FlagClass::None, FlowClass::Other); NUM_CLASSES];
    let mut c = 0;
    while c < NUM_CLASSES {
        t[c].0 = if c == Class::Jcc as usize || c == Class::Setcc as usize || c == Class::Cmovcc as usize
        {
            FlagClass::Reads
        } else if c >= Class::Add as usize && c <= Class::Test as usize
            || c == Class::Neg as usize
            || c >= Class::Imul as usize && c <= Class::Idiv as usize
        {
            FlagClass::Writes
        } else if c == Class::Inc as usize
            || c == Class::Dec as usize
            || c == Class::Adc as usize
            || c == Class::Sbb as usize
        {
            // inc/dec keep CF: they read it to carry it forward.
            FlagClass::ReadsWrites
        } else if c >= Class::Shl as usize && c <= Class::Ror as usize {
            FlagClass::Shift
        } else {
            FlagClass::None
        };
        t[c].1 = if c == Class::Jmp as usize {
            FlowClass::Jmp
        } else if c == Class::Call as usize {
            FlowClass::Call
        } else if c == Class::Ret as usize {
            FlowClass::Ret
        } else if c == Class::Int3 as usize || c == Class::Stop as usize {
            FlowClass::Stop
        } else if c == Class::Jcc as usize || c == Class::JccParity as usize {
            FlowClass::CondJump
        } else {
            FlowClass::Other
        };
        c += 1;
    }
    t
};

/// Flag effect of an instruction: (reads, writes). Bit tests instead of a
/// `match` (a jump table the scan mispredicted about once per block).
#[inline]
fn flag_effect(i: &X86Insn, f: FlagClass) -> (bool, bool) {
    let shift = f == FlagClass::Shift;
    let reads = matches!(f, FlagClass::Reads | FlagClass::ReadsWrites) | (shift && is_reg(i.ops[1]));
    let writes = matches!(f, FlagClass::Writes | FlagClass::ReadsWrites) | shift;
    (reads, writes)
}

impl Frontend for X86Frontend {
    type Insn = X86Insn;
    const NAME: &'static str = "x86-64";
    const DEFERS_SETS: bool = true;

    fn scan_block(
        &mut self,
        img: &CodeImage,
        pc: u64,
        out: &mut Vec<X86Insn>,
    ) -> Result<BlockScan, TranslateError> {
        img.at(pc)?;
        let mut dec = Decoder::with_ip(64, &img.bytes, img.base, DecoderOptions::NONE);
        scan_with(img, &mut dec, pc, out)
    }

    fn discover(
        &mut self,
        img: &CodeImage,
        d: &mut Discovery<'_, X86Insn>,
    ) -> Result<(), TranslateError> {
        // One iced decoder for the whole unit (the fallback of the fast
        // decoder): creating one costs about as much as decoding two
        // instructions.
        let mut dec = Decoder::with_ip(64, &img.bytes, img.base, DecoderOptions::NONE);
        d.run(|pc, out| {
            img.at(pc)?;
            scan_with(img, &mut dec, pc, out)
        })
    }

    fn lift_block_into(
        &mut self,
        pc: u64,
        insns: &[X86Insn],
        flags_live_out: bool,
        ops: &mut UnitOps,
    ) -> Result<LiftedBlock, TranslateError> {
        begin_block(&mut self.b, ops, insns.len() * 4 + 8);
        let term = self.lift_body(insns, flags_live_out);
        end_block(&mut self.b, ops, pc, term)
    }

    fn insn_loc(i: &X86Insn, index: u32) -> GuestLoc {
        GuestLoc {
            pc: i.ip(),
            next_pc: i.next_ip(),
            index,
        }
    }

    fn discover_and_lift(
        &mut self,
        img: &CodeImage,
        d: &mut Discovery<'_, X86Insn>,
        ops: &mut UnitOps,
        lifted: &mut Vec<EarlyLift>,
    ) -> Result<bool, TranslateError> {
        let mut dec = Decoder::with_ip(64, &img.bytes, img.base, DecoderOptions::NONE);
        self.early_flags.clear();
        // The builder holds the unit's buffer for the whole discovery (no
        // move in and out per block).
        self.b.reset(std::mem::take(ops));
        let r = d.run_in_place(|pc, out, scan| {
            img.at(pc)?;
            self.scan_and_lift(img, &mut dec, pc, out, scan, lifted)
        });
        *ops = self.b.take();
        r.map(|()| true)
    }

    fn store_early_flags(
        &mut self,
        k: usize,
        insns: &[X86Insn],
        early: &EarlyLift,
        ops: &mut UnitOps,
    ) -> Result<Option<u32>, TranslateError> {
        let Ok(j) = self.early_flags.binary_search_by_key(&(k as u32), |e| e.0) else {
            return Ok(None);
        };
        let mut flags = self.early_flags[j].1;
        // The block's records and constants copied to the buffer's end
        // (constants are placed relative to the block's first record), the
        // flag stores after them: what lifting it again with the flags
        // live gives (`lift_body` stores the flags after the registers).
        let mut buf = std::mem::take(ops);
        let (start, const_start) = (buf.ops.len(), buf.consts.len());
        buf.ops
            .extend_from_within(early.start as usize..early.end as usize);
        buf.consts
            .extend_from_within(early.consts_start as usize..early.consts_end as usize);
        self.b.resume(buf, start, const_start, early.lifted.num_temps);
        self.b.defer_sets(true);
        let r = flags.store(&mut self.b);
        self.b.flush_sets();
        let num_temps = self.b.num_temps();
        let overflowed = self.b.overflowed();
        *ops = self.b.take();
        let last = insns.last().expect("scanned blocks are never empty");
        r.map_err(|u| flags_live_error(u, last))?;
        if overflowed {
            return Err(too_many_temps(insns[0].ip()));
        }
        Ok(Some(num_temps))
    }
}

/// The error of storing flags at a block end (`last` its last
/// instruction) that an unmodeled setter left.
#[cold]
#[inline(never)]
fn flags_live_error(u: UnmodeledFlags, last: &X86Insn) -> TranslateError {
    TranslateError::Unsupported {
        pc: if u.pc == 0 { last.ip() } else { u.pc },
        mnemonic: format!("{} (flags live across blocks)", u.mnemonic),
    }
}

impl X86Frontend {
    /// Lifts `insns` into the builder (already reset); returns the terminator.
    fn lift_body(
        &mut self,
        insns: &[X86Insn],
        flags_live_out: bool,
    ) -> Result<Terminator, TranslateError> {
        let last = insns.last().expect("scanned blocks are never empty");
        // Global stores wait for the next memory op or the block end, so
        // overwritten ones are never written.
        self.b.defer_sets(true);
        // A block that does not end in a jump falls through.
        let mut term = Terminator::Jump(last.next_ip());
        let mut l = Lifter {
            b: &mut self.b,
            flags: FlagState::new(FLAG_GLOBALS, false),
            consts: ConstCache::default(),
            rdx_ext: None,
            zext_done: None,
            term: &mut term,
            err: None,
        };
        for (index, i) in insns.iter().enumerate() {
            let loc = GuestLoc {
                pc: i.ip(),
                next_pc: i.next_ip(),
                index: index as u32,
            };
            let r = l.insn(i, loc);
            if r == INSN_FAILED {
                return Err(*l.take_err());
            }
            if r == INSN_ENDED {
                break;
            }
        }
        // The registers first, then the flags: the fused path appends the
        // flag stores to a block lifted without them
        // (`Frontend::store_early_flags`), and both give the same records.
        l.b.flush_sets();
        if flags_live_out {
            l.flags.store(l.b).map_err(|u| flags_live_error(u, last))?;
            l.b.flush_sets();
        }
        Ok(term)
    }
}

impl X86Frontend {
    /// [`scan_with`] and [`Frontend::lift_block_into`] (flags dead at the
    /// end) of the block at `pc` in one pass: each instruction is lifted
    /// right after it is decoded, while its record is in L1. Fills `scan`
    /// in place and pushes the block's [`EarlyLift`] to `lifted`.
    fn scan_and_lift(
        &mut self,
        img: &CodeImage,
        dec: &mut Decoder<'_>,
        pc: u64,
        out: &mut Vec<X86Insn>,
        scan: &mut BlockScan,
        lifted: &mut Vec<EarlyLift>,
    ) -> Result<(), TranslateError> {
        let k = lifted.len() as u32;
        let e = EarlyLift::begin(&mut self.b, lifted);
        // The lifter's end state is written straight into its slot (a
        // local copied into the vector afterwards was read back with other
        // widths than it was written with: a store-forwarding stall per
        // block), and the slot dropped again if nothing is pending.
        self.early_flags.push((k, FlagState::new(FLAG_GLOBALS, false)));
        let slot = &mut self.early_flags.last_mut().expect("just pushed").1;
        let r = scan_lift_body(
            &mut self.b,
            img,
            dec,
            pc,
            out,
            scan,
            &mut e.lifted.term,
            slot,
        );
        // Storing the flags at the end would add records (or be rejected):
        // kept for `store_early_flags` if they turn out live.
        if r.is_ok() && (slot.src != FlagSrc::Globals || slot.carry != Carry::FromSrc) {
            e.flags_pending = true;
        } else {
            self.early_flags.pop();
        }
        EarlyLift::finish(&self.b, lifted, pc, r)
    }
}

/// The loop of [`scan_with`] with each instruction lifted (flags dead at
/// the block end) into `b` (already started on the block): the same
/// instructions in `out`, the same `scan`, and the records, terminator
/// (`term`) and flag state (`flags_end`) of lifting the scanned block. A block
/// where the lifter and the scan disagree on the block end is an error
/// (the translator then redoes the unit the separate way).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn scan_lift_body(
    b: &mut UnitBuilder,
    img: &CodeImage,
    dec: &mut Decoder<'_>,
    pc: u64,
    out: &mut Vec<X86Insn>,
    scan: &mut BlockScan,
    term: &mut Terminator,
    flags_end: &mut FlagState,
) -> Result<(), TranslateError> {
    let start = out.len();
    // The whole block is decoded first, then lifted from its records (in
    // L1): in the decode loop only the instruction lengths chain one
    // decode to the next, so consecutive decodes overlap; lifting right
    // after each decode put a whole decode's latency before each lift.
    let ends = scan_into(img, dec, pc, out, scan)?;
    let insns = &out[start..];
    b.defer_sets(true);
    let mut l = Lifter {
        b,
        flags: FlagState::new(FLAG_GLOBALS, false),
        consts: ConstCache::default(),
        rdx_ext: None,
        zext_done: None,
        term,
        err: None,
    };
    let Some((last, body)) = insns.split_last() else {
        return Err(fused_mismatch(pc));
    };
    let loc = |k: usize, i: &X86Insn| GuestLoc {
        pc: i.ip,
        next_pc: i.next_ip(),
        index: k as u32,
    };
    // Lifting the scanned block stops at the same instruction: every
    // instruction but the last returns 0 (one test per instruction), the
    // last ends the block exactly when the scan ended it there.
    for (k, i) in body.iter().enumerate() {
        let r = l.insn(i, loc(k, i));
        if r != 0 {
            if r == INSN_FAILED {
                return Err(*l.take_err());
            }
            return Err(fused_mismatch(pc));
        }
    }
    let r = l.insn(last, loc(body.len(), last));
    if r == INSN_FAILED {
        return Err(*l.take_err());
    }
    if (r == INSN_ENDED) != ends {
        return Err(fused_mismatch(pc));
    }
    if !ends {
        // A block that does not end in a jump falls through.
        *l.term = Terminator::Jump(last.next_ip());
    }
    *flags_end = l.flags;
    l.b.flush_sets();
    Ok(())
}

/// The fused scan and lift disagree on where a block ends (the translator
/// falls back to scanning and lifting separately).
#[cold]
#[inline(never)]
fn fused_mismatch(pc: u64) -> TranslateError {
    TranslateError::Unsupported {
        pc,
        mnemonic: "block end (fused scan and lift disagree)".to_string(),
    }
}

/// Scans the block at `pc` (inside `img`): each instruction comes from
/// the fast decoder ([`super::decode`]), or from `dec` (an iced decoder
/// over the whole image, its result converted by [`X86Insn::from_iced`])
/// for the forms the fast decoder leaves to it.
fn scan_with(
    img: &CodeImage,
    dec: &mut Decoder<'_>,
    pc: u64,
    out: &mut Vec<X86Insn>,
) -> Result<BlockScan, TranslateError> {
    let mut scan = BlockScan::default();
    scan_into(img, dec, pc, out, &mut scan)?;
    Ok(scan)
}

/// The loop of [`scan_with`], filling `scan` (default on entry) in place;
/// `true` if the block ends at a block-ending instruction, `false` if it
/// was cut at [`MAX_BLOCK_INSNS`] (it falls through).
#[inline(always)]
fn scan_into(
    img: &CodeImage,
    dec: &mut Decoder<'_>,
    pc: u64,
    out: &mut Vec<X86Insn>,
    scan: &mut BlockScan,
) -> Result<bool, TranslateError> {
    let start = out.len();
    let bytes = &img.bytes[..];
    let mut ip = pc;
    loop {
        let pos = ip.wrapping_sub(img.base) as usize;
        if pos >= bytes.len() {
            return Err(TranslateError::OutOfImage { pc: ip });
        }
        // Decoded straight into the output slot with the record's own
        // narrow stores: building it on the stack and pushing it copied
        // it with 16-byte loads of just-written bytes, which the store
        // buffer cannot forward (a stall per instruction). The slot is
        // not cleared first (the decoder writes every field).
        out.reserve(1);
        let last = out.len();
        let slot = &mut out.spare_capacity_mut()[0];
        let mut len = super::decode::decode(bytes, pos, ip, slot);
        if len == 0 {
            let i = slot.write(iced_decode(dec, pos, ip)?);
            len = usize::from(i.len);
        }
        // SAFETY: the slot at `last`, within the capacity reserved above,
        // was initialized by `decode` (nonzero length) or by the write of
        // iced's record; an error returned before this line leaves the
        // length unchanged.
        unsafe { out.set_len(last + 1) };
        let i = &out[last];
        ip = ip.wrapping_add(len as u64);
        let (fc, flow) = CLASS_INFO[i.class as usize];
        if scan.flags.is_none() {
            let (r, w) = flag_effect(i, fc);
            if r {
                scan.flags = Some(FlagUse::ReadFirst);
            } else if w {
                scan.flags = Some(FlagUse::WriteFirst);
            }
        }
        let next = ip;
        // Most instructions do not end the block: one predictable branch
        // before the block-ending classes.
        if flow != FlowClass::Other {
            // Compares, most frequent first (a `match` here was a jump
            // table mispredicted at about every block end).
            let direct = i.ops[0] == OP_BRANCH;
            if flow == FlowClass::CondJump {
                if direct {
                    scan.succs.push(Successor {
                        pc: i.imm,
                        carries_flags: true,
                    });
                    scan.succs.push(Successor {
                        pc: next,
                        carries_flags: true,
                    });
                    return Ok(true);
                }
            } else {
                if flow == FlowClass::Jmp {
                    if direct {
                        scan.succs.push(Successor {
                            pc: i.imm,
                            carries_flags: true,
                        });
                    } else {
                        scan.indirect = true;
                    }
                } else if flow == FlowClass::Call {
                    if direct {
                        scan.succs.push(Successor {
                            pc: i.imm,
                            carries_flags: false,
                        });
                    }
                    scan.succs.push(Successor {
                        pc: next,
                        carries_flags: false,
                    });
                }
                // Ret and Stop end the block without successors.
                return Ok(true);
            }
        }
        if out.len() - start >= MAX_BLOCK_INSNS {
            scan.succs.push(Successor {
                pc: next,
                carries_flags: true,
            });
            return Ok(false);
        }
    }
}

fn iced_decode(dec: &mut Decoder<'_>, pos: usize, ip: u64) -> Result<X86Insn, TranslateError> {
    dec.set_position(pos)
        .map_err(|_| TranslateError::OutOfImage { pc: ip })?;
    dec.set_ip(ip);
    let mut ins = Instruction::default();
    dec.decode_out(&mut ins);
    if ins.is_invalid() {
        return Err(TranslateError::Invalid { pc: ip });
    }
    let mut i = X86Insn::from_iced(&ins);
    let ci = code_info_table()[i.code as usize];
    i.class = ci.class;
    i.cc = ci.cc;
    Ok(i)
}

/// `1 << class`, loaded from a table so that the tests on it stay bit
/// tests (an equality chain would be folded back into a jump table).
static CLASS_BIT: [u64; NUM_CLASSES] = {
    let mut t = [0u64; NUM_CLASSES];
    let mut c = 0;
    while c < NUM_CLASSES {
        t[c] = 1 << c;
        c += 1;
    }
    t
};
const fn bits(cs: &[Class]) -> u64 {
    let mut m = 0;
    let mut n = 0;
    while n < cs.len() {
        m |= 1 << cs[n] as u32;
        n += 1;
    }
    m
}
const GROUP_ALU: u64 = bits(&[
    Class::Add,
    Class::Sub,
    Class::And,
    Class::Or,
    Class::Xor,
    Class::Cmp,
    Class::Test,
]);
const GROUP_MOVE: u64 = bits(&[Class::Mov, Class::Movzx, Class::Movsx]);
const GROUP_COND: u64 = bits(&[Class::Jcc, Class::Setcc, Class::Cmovcc]);
const GROUP_LEA_SHIFT: u64 = bits(&[
    Class::Lea,
    Class::Shl,
    Class::Shr,
    Class::Sar,
    Class::Rol,
    Class::Ror,
]);
/// Operation and flag source (0 logic, 1 add, 2 sub) of the ALU classes
/// by `class - Add` (add, sub, and, or, xor, cmp, test).
const ALU_OP: [BinOp; 8] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::And,
    BinOp::Or,
    BinOp::Xor,
    BinOp::Sub,
    BinOp::And,
    BinOp::Add,
];
const ALU_FLAGS: [u8; 8] = [1, 2, 0, 0, 0, 2, 0, 0];

/// How `rdx` relates to `rax`, for the 128-by-64 division forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RdxExt {
    /// `rdx` is the sign extension of `rax` (after `cqo`/`cdq`).
    Sign,
    /// `rdx` is zero (after `xor edx, edx`).
    Zero,
}

struct Lifter<'a> {
    b: &'a mut UnitBuilder,
    flags: FlagState,
    /// Constants already defined in this block (immediates repeat a lot;
    /// one op per distinct value keeps the later passes short).
    consts: ConstCache,
    /// What `rdx` holds relative to `rax` (and which width), if known.
    rdx_ext: Option<(RdxExt, u32)>,
    /// A temp known to be zero-extended from 32 bits (a result of at most
    /// 32 bits, a load of at most 4 bytes, an immediate below 2^32).
    zext_done: Option<Temp>,
    /// The block's exit (set by the instruction that ends it), written
    /// where it is kept: a copy at the block end read the enum back with
    /// wider loads than its variant was stored with (a store-forwarding
    /// stall per block).
    term: &'a mut Terminator,
    /// The error of a lift that failed ([`Lifter::insn`] and
    /// [`Lifter::read_or_zero`] return a plain number, so that their
    /// results stay in registers: a `Result` with a boxed error is 16
    /// bytes and went through the stack, read back at each call).
    err: Option<Box<TranslateError>>,
}

impl Lifter<'_> {
    fn k(&mut self, v: u64) -> Temp {
        self.consts.get(self.b, v)
    }

    /// Reads register `r` (an operand descriptor): (value, size in bytes).
    #[inline]
    fn reg_read(&mut self, i: &X86Insn, r: u8) -> Result<(Temp, u32), Box<TranslateError>> {
        let (g, s) = gpr(r).ok_or_else(|| unsupported(i, "register"))?;
        let v = self.b.get(g);
        if is_high8(r) {
            let sh = self.k(8);
            return Ok((self.b.bin(BinOp::Shr, v, sh), s));
        }
        Ok((v, s))
    }

    /// Writes `v` to register `r` with x86 partial-register rules.
    fn reg_write(&mut self, i: &X86Insn, r: u8, v: Temp) -> Result<(), Box<TranslateError>> {
        let (g, s) = gpr(r).ok_or_else(|| unsupported(i, "register"))?;
        // rax (0) or rdx (2): the dividend extension is gone (a select,
        // not a branch: which register an instruction writes is data).
        let clobbers_dividend = g | 2 == RDX;
        self.rdx_ext = if clobbers_dividend { None } else { self.rdx_ext };
        let v = match s {
            8 => v,
            // Results already truncated to their width need no second extension.
            4 if self.zext_done == Some(v) => v,
            4 => self.b.un(UnOp::Zext32, v),
            _ if is_high8(r) => {
                let old = self.b.get(g);
                let keep = self.k(!0xff00);
                let m = self.k(0xff);
                let sh = self.k(8);
                let o = self.b.bin(BinOp::And, old, keep);
                let n = self.b.bin(BinOp::And, v, m);
                let n = self.b.bin(BinOp::Shl, n, sh);
                self.b.bin(BinOp::Or, o, n)
            }
            _ => {
                let mask = if s == 2 { 0xffff } else { 0xff };
                let old = self.b.get(g);
                let keep = self.k(!mask);
                let m = self.k(mask);
                let o = self.b.bin(BinOp::And, old, keep);
                let n = self.b.bin(BinOp::And, v, m);
                self.b.bin(BinOp::Or, o, n)
            }
        };
        self.b.set(g, v);
        Ok(())
    }

    /// Effective address of the memory operand (base + index*scale + disp):
    /// the address temp and a displacement folded into the access.
    #[inline(always)]
    fn ea(&mut self, i: &X86Insn) -> Result<(Temp, i32), Box<TranslateError>> {
        // Temps count from 1: 0 is the absent operand, never an address.
        let (t, off) = self.ea_or_zero(i);
        if t == 0 {
            return Err(self.take_err());
        }
        Ok((t, off))
    }

    /// [`Lifter::ea`] returning its pair in registers: temp 0 if the
    /// operand has no modeled address (the error is then in `self.err`).
    #[inline(never)]
    fn ea_or_zero(&mut self, i: &X86Insn) -> (Temp, i32) {
        match self.ea_body(i) {
            Ok(r) => r,
            Err(e) => {
                self.err = Some(e);
                (0, 0)
            }
        }
    }

    /// [`Lifter::ea`]'s body.
    #[inline(always)]
    fn ea_body(&mut self, i: &X86Insn) -> Result<(Temp, i32), Box<TranslateError>> {
        if i.attrs & ATTR_SEGMENT != 0 {
            return Err(unsupported(i, "segment override"));
        }
        let disp = i.disp;
        let base = match i.base {
            BASE_NONE => None,
            BASE_RIP => {
                let a = i.next_ip().wrapping_add(disp as i64 as u64);
                return Ok((self.k(a), 0));
            }
            BASE_ABS64 => return Ok((self.k(i.imm), 0)),
            r => {
                let (g, s) = gpr(r).ok_or_else(|| unsupported(i, "address register"))?;
                if s != 8 {
                    return Err(unsupported(i, "32-bit addressing"));
                }
                Some(self.b.get(g))
            }
        };
        let index = match i.index {
            0 => None,
            r => {
                let (g, s) = gpr(r).ok_or_else(|| unsupported(i, "index register"))?;
                if s != 8 {
                    return Err(unsupported(i, "32-bit addressing"));
                }
                let t = self.b.get(g);
                let sc = i.scale_log2();
                Some(if sc == 0 {
                    t
                } else {
                    let sh = self.k(u64::from(sc));
                    self.b.bin(BinOp::Shl, t, sh)
                })
            }
        };
        Ok(match (base, index) {
            (Some(x), Some(y)) => (self.b.bin(BinOp::Add, x, y), disp),
            (Some(x), None) | (None, Some(x)) => (x, disp),
            (None, None) => (self.k(disp as i64 as u64), 0),
        })
    }

    /// Reads operand `n` (register, immediate or memory of `size` bytes).
    #[inline(always)]
    fn read(
        &mut self,
        i: &X86Insn,
        n: usize,
        size: u32,
        loc: GuestLoc,
    ) -> Result<Temp, Box<TranslateError>> {
        // A register the block already read or wrote (all but ah..bh read
        // as the whole register): its temp, without the call.
        let d = i.ops[n];
        if d < OP_MEM && !is_high8(d) {
            let v = GPR_TABLE[d as usize];
            if v != 0 {
                if let Some(t) = self.b.forwarded(v & 15) {
                    return Ok(t);
                }
            }
        }
        // Temps count from 1: 0 is the absent operand, never a value.
        let t = self.read_or_zero(i, n, size, loc);
        if t == 0 {
            return Err(self.take_err());
        }
        Ok(t)
    }

    /// [`Lifter::read`] returning the temp in a register: 0 if the operand
    /// cannot be read (the error is then in `self.err`).
    #[inline(never)]
    fn read_or_zero(&mut self, i: &X86Insn, n: usize, size: u32, loc: GuestLoc) -> Temp {
        match self.read_body(i, n, size, loc) {
            Ok(t) => t,
            Err(e) => {
                self.err = Some(e);
                0
            }
        }
    }

    /// [`Lifter::read`]'s body.
    #[inline(always)]
    fn read_body(
        &mut self,
        i: &X86Insn,
        n: usize,
        size: u32,
        loc: GuestLoc,
    ) -> Result<Temp, Box<TranslateError>> {
        // Compares on the operand descriptor, no jump table (one site for
        // every operand read; a `match` there mispredicted about once per
        // read in callgrind's branch simulation).
        let d = i.ops[n];
        if d < OP_MEM {
            return Ok(self.reg_read(i, d)?.0);
        }
        if d == OP_MEM {
            let (a, off) = self.ea(i)?;
            let t = self.b.load(a, off, width(size), false, loc);
            // An unsigned load of at most 32 bits is its own zero
            // extension: a 32-bit register write needs no `Zext32`.
            if size <= 4 {
                self.zext_done = Some(t);
            }
            return Ok(t);
        }
        if d == OP_IMM {
            let t = self.k(i.imm);
            if i.imm >> 32 == 0 {
                self.zext_done = Some(t);
            }
            return Ok(t);
        }
        Err(unsupported(i, "operand"))
    }

    /// Writes operand 0 (register or memory of `size` bytes).
    #[inline]
    fn write(
        &mut self,
        i: &X86Insn,
        size: u32,
        v: Temp,
        loc: GuestLoc,
    ) -> Result<(), Box<TranslateError>> {
        let d = i.ops[0];
        if is_reg(d) {
            return self.reg_write(i, d, v);
        }
        if d == OP_MEM {
            let (a, off) = self.ea(i)?;
            self.b.store(a, off, v, width(size), loc);
            return Ok(());
        }
        Err(unsupported(i, "destination"))
    }

    /// Operand size of the instruction in bytes (from operand 0).
    #[inline]
    fn size(&self, i: &X86Insn) -> Result<u32, Box<TranslateError>> {
        self.op_size(i, 0)
    }

    /// Size in bytes of operand `n` (a register or memory).
    #[inline]
    fn op_size(&self, i: &X86Insn, n: usize) -> Result<u32, Box<TranslateError>> {
        let d = i.ops[n];
        if is_reg(d) {
            return Ok(gpr(d).ok_or_else(|| unsupported(i, "register"))?.1);
        }
        if d == OP_MEM {
            return mem_size(i);
        }
        Err(unsupported(i, "operand size"))
    }

    /// Inlined, with the error built out of line: as a call, its
    /// `(Cond, Temp, Temp)` result went through the stack.
    #[inline(always)]
    fn cond(
        &mut self,
        i: &X86Insn,
        cc: CcKind,
    ) -> Result<(crate::ir::Cond, Temp, Temp), Box<TranslateError>> {
        match self.flags.cond(self.b, cc) {
            Ok(t) => Ok(t),
            Err(u) => Err(flags_read_error(i, u)),
        }
    }

    fn push(&mut self, v: Temp, loc: GuestLoc) {
        let sp = self.b.get(RSP);
        let eight = self.k(8);
        let nsp = self.b.bin(BinOp::Sub, sp, eight);
        self.b.store(nsp, 0, v, Width::W64, loc);
        self.b.set(RSP, nsp);
    }

    fn pop(&mut self, loc: GuestLoc) -> Temp {
        let sp = self.b.get(RSP);
        let v = self.b.load(sp, 0, Width::W64, false, loc);
        let eight = self.k(8);
        let nsp = self.b.bin(BinOp::Add, sp, eight);
        self.b.set(RSP, nsp);
        v
    }

    /// Ends the block with `t` (kept in the lifter: returning it from
    /// every instruction's lift made each return a 40-byte value read
    /// back with other widths than it was written with, a store-forwarding
    /// stall per instruction).
    #[inline]
    fn end(&mut self, t: Terminator) -> bool {
        *self.term = t;
        true
    }

    /// Lifts one instruction: [`INSN_ENDED`] if it ended the block (the
    /// terminator is then in `self.term`), [`INSN_FAILED`] if it cannot
    /// be lifted (the error is then in `self.err`), else 0.
    #[inline(never)]
    fn insn(&mut self, i: &X86Insn, loc: GuestLoc) -> u8 {
        match self.insn_body(i, loc) {
            Ok(ended) => ended as u8,
            Err(e) => {
                self.err = Some(e);
                INSN_FAILED
            }
        }
    }

    /// The error [`Lifter::insn`] or [`Lifter::read_or_zero`] reported.
    #[cold]
    #[inline(never)]
    fn take_err(&mut self) -> Box<TranslateError> {
        self.err.take().expect("a failed lift leaves its error")
    }

    /// [`Lifter::insn`] with its result as a `Result`.
    #[inline(always)]
    fn insn_body(
        &mut self,
        i: &X86Insn,
        loc: GuestLoc,
    ) -> Result<bool, Box<TranslateError>> {
        let m = i.class;
        if i.attrs & ATTR_PREFIX != 0 && m != Class::Ret {
            return Err(unsupported(i, "prefix"));
        }
        // The frequent classes by bit tests in order of frequency (about
        // a third of gcc's instructions are ALU operations, a fifth moves),
        // the rest by a `match`: a jump table over all classes mispredicted
        // about 0.8 times per instruction (callgrind's branch simulation),
        // as the earlier one over mnemonics did in time.
        let bit = CLASS_BIT[m as usize];
        if bit & GROUP_ALU != 0 {
            self.alu(i, m, loc)?;
            return Ok(false);
        }
        if bit & GROUP_MOVE != 0 {
            self.mov(i, m, loc)?;
            return Ok(false);
        }
        if bit & GROUP_COND != 0 {
            self.conditional(i, loc)?;
            return Ok(i.ops[0] == OP_BRANCH);
        }
        if bit & GROUP_LEA_SHIFT != 0 {
            if m == Class::Lea {
                self.lea(i, loc)?;
            } else {
                self.shift(i, m, loc)?;
            }
            return Ok(false);
        }
        match m {
            Class::Cdqe => {
                let a = self.b.get(RAX);
                let v = self.b.un(UnOp::Sext32, a);
                self.b.set(RAX, v);
                self.rdx_ext = None;
            }
            Class::Cqo | Class::Cdq => {
                let w = if m == Class::Cqo { 64 } else { 32 };
                let a = self.b.get(RAX);
                let s = sext_w(self.b, a, w);
                let sh = self.k(63);
                let d = self.b.bin(BinOp::Sar, s, sh);
                let d = zext_w(self.b, d, w);
                self.b.set(RDX, d);
                self.rdx_ext = Some((RdxExt::Sign, w));
            }
            Class::Inc | Class::Dec | Class::Neg | Class::Not => {
                let s = self.size(i)?;
                let w = s * 8;
                let a = self.read(i, 0, s, loc)?;
                let (op, x, y) = match m {
                    Class::Not => (BinOp::Xor, a, self.k(u64::MAX)),
                    Class::Neg => (BinOp::Sub, self.k(0), a),
                    Class::Inc => (BinOp::Add, a, self.k(1)),
                    _ => (BinOp::Sub, a, self.k(1)),
                };
                let r = bin_w(self.b, op, x, y, w);
                match m {
                    Class::Neg => {
                        let z = self.k(0);
                        self.flags.set(FlagSrc::Sub { a: z, b: a, r, w });
                    }
                    Class::Inc | Class::Dec => {
                        // CF survives inc/dec: the new source keeps the old carry.
                        let one = self.k(1);
                        let src = if m == Class::Inc {
                            FlagSrc::Add { a, b: one, r, w }
                        } else {
                            FlagSrc::Sub { a, b: one, r, w }
                        };
                        self.flags.set_keeping_carry(self.b, src, i.ip());
                    }
                    _ => {}
                }
                // Only a result of at most 32 bits is its own zero extension.
                self.zext_done = (s <= 4).then_some(r);
                self.write(i, s, r, loc)?;
            }
            Class::Imul if i.ops[1] != 0 => {
                let s = self.size(i)?;
                let (x, y) = if i.ops[2] != 0 {
                    (self.read(i, 1, s, loc)?, self.read(i, 2, s, loc)?)
                } else {
                    (self.read(i, 0, s, loc)?, self.read(i, 1, s, loc)?)
                };
                let r = self.b.bin(BinOp::Mul, x, y);
                self.flags.set(FlagSrc::Unknown {
                    pc: i.ip(),
                    mnemonic: "imul",
                });
                self.write(i, s, r, loc)?;
            }
            Class::Imul | Class::Mul => {
                let s = self.size(i)?;
                let src = self.read(i, 0, s, loc)?;
                let a = self.b.get(RAX);
                match s {
                    8 => {
                        let lo = self.b.bin(BinOp::Mul, a, src);
                        let hop = if m == Class::Imul {
                            BinOp::MulH
                        } else {
                            BinOp::MulHU
                        };
                        let hi = self.b.bin(hop, a, src);
                        self.b.set(RAX, lo);
                        self.b.set(RDX, hi);
                    }
                    4 => {
                        let (x, y) = if m == Class::Imul {
                            (self.b.un(UnOp::Sext32, a), self.b.un(UnOp::Sext32, src))
                        } else {
                            (self.b.un(UnOp::Zext32, a), self.b.un(UnOp::Zext32, src))
                        };
                        let p = self.b.bin(BinOp::Mul, x, y);
                        let lo = self.b.un(UnOp::Zext32, p);
                        let sh = self.k(32);
                        let hi = self.b.bin(BinOp::Shr, p, sh);
                        let hi = self.b.un(UnOp::Zext32, hi);
                        self.b.set(RAX, lo);
                        self.b.set(RDX, hi);
                    }
                    _ => return Err(unsupported(i, "narrow multiply")),
                }
                self.rdx_ext = None;
                self.flags.set(FlagSrc::Unknown {
                    pc: i.ip(),
                    mnemonic: class_name(m),
                });
            }
            Class::Div | Class::Idiv => {
                let s = self.size(i)?;
                let w = s * 8;
                let signed = m == Class::Idiv;
                // A zeroed rdx serves every width; a sign extension only its own.
                let ok = match self.rdx_ext {
                    Some((RdxExt::Zero, _)) => !signed,
                    Some((RdxExt::Sign, ew)) => signed && ew == w,
                    None => false,
                };
                if !ok || !(s == 8 || s == 4) {
                    return Err(unsupported(i, "dividend rdx:rax not an extension of rax"));
                }
                let src = self.read(i, 0, s, loc)?;
                let a = self.b.get(RAX);
                let (x, y) = if signed {
                    (sext_w(self.b, a, w), sext_w(self.b, src, w))
                } else {
                    (zext_w(self.b, a, w), zext_w(self.b, src, w))
                };
                let (dop, rop) = if signed {
                    (BinOp::Div, BinOp::Rem)
                } else {
                    (BinOp::DivU, BinOp::RemU)
                };
                let q = self.b.bin(dop, x, y);
                let r = self.b.bin(rop, x, y);
                let q = zext_w(self.b, q, w);
                let r = zext_w(self.b, r, w);
                self.b.set(RAX, q);
                self.b.set(RDX, r);
                self.rdx_ext = None;
                self.flags.set(FlagSrc::Unknown {
                    pc: i.ip(),
                    mnemonic: class_name(m),
                });
            }
            Class::Sbb | Class::Adc => {
                let s = self.size(i)?;
                let w = s * 8;
                let a = self.read(i, 0, s, loc)?;
                let c = self.read(i, 1, s, loc)?;
                let cf = self
                    .flags
                    .carry_value(self.b)
                    .map_err(|_| unsupported(i, "carry from unmodeled flags"))?;
                let sbb = m == Class::Sbb;
                let op = if sbb { BinOp::Sub } else { BinOp::Add };
                let t = self.b.bin(op, a, c);
                let r = bin_w(self.b, op, t, cf, w);
                // Flags of a - b - cf / a + b + cf, computed only if read
                // (they rarely are: gcc uses sbb/adc for their results).
                self.flags.set(FlagSrc::Carried {
                    a,
                    b: c,
                    cin: cf,
                    r,
                    w,
                    sub: sbb,
                });
                // Only a result of at most 32 bits is its own zero extension.
                self.zext_done = (s <= 4).then_some(r);
                self.write(i, s, r, loc)?;
            }
            Class::Xchg => {
                if !is_reg(i.ops[0]) || !is_reg(i.ops[1]) {
                    return Err(unsupported(i, "memory operand (implicitly locked)"));
                }
                let (x, _) = self.reg_read(i, i.ops[0])?;
                let (y, _) = self.reg_read(i, i.ops[1])?;
                self.reg_write(i, i.ops[0], y)?;
                self.reg_write(i, i.ops[1], x)?;
            }
            Class::Push => {
                let v = self.read(i, 0, 8, loc)?;
                if self.size(i).unwrap_or(8) != 8 {
                    return Err(unsupported(i, "operand size"));
                }
                self.push(v, loc);
            }
            Class::Pop => {
                if self.size(i)? != 8 {
                    return Err(unsupported(i, "operand size"));
                }
                let v = self.pop(loc);
                self.write(i, 8, v, loc)?;
            }
            Class::Leave => {
                let bp = self.b.get(5);
                self.b.set(RSP, bp);
                let v = self.pop(loc);
                self.b.set(5, v);
            }
            Class::Jmp => {
                let t = if i.ops[0] == OP_BRANCH {
                    Terminator::Jump(i.imm)
                } else {
                    Terminator::JumpIndirect(self.read(i, 0, 8, loc)?)
                };
                return Ok(self.end(t));
            }
            Class::Call => {
                let target = if i.ops[0] == OP_BRANCH {
                    None
                } else {
                    Some(self.read(i, 0, 8, loc)?)
                };
                let ra = self.k(i.next_ip());
                self.push(ra, loc);
                return Ok(self.end(match target {
                    None => Terminator::Jump(i.imm),
                    Some(t) => Terminator::JumpIndirect(t),
                }));
            }
            Class::Ret => {
                let t = self.pop(loc);
                if i.ops[0] != 0 {
                    let sp = self.b.get(RSP);
                    let c = self.k(i.imm);
                    let nsp = self.b.bin(BinOp::Add, sp, c);
                    self.b.set(RSP, nsp);
                }
                return Ok(self.end(Terminator::JumpIndirect(t)));
            }
            Class::Int3 => return Ok(self.end(Terminator::Breakpoint { pc: i.ip() })),
            Class::Nop => {}
            Class::Jcc | Class::Setcc | Class::Cmovcc => {
                self.conditional(i, loc)?;
                return Ok(i.ops[0] == OP_BRANCH);
            }
            Class::Add
            | Class::Sub
            | Class::And
            | Class::Or
            | Class::Xor
            | Class::Cmp
            | Class::Test
            | Class::Mov
            | Class::Movzx
            | Class::Movsx
            | Class::Lea
            | Class::Shl
            | Class::Shr
            | Class::Sar
            | Class::Rol
            | Class::Ror => unreachable!("lifted by the bit tests above"),
            Class::Other | Class::JccParity | Class::Stop => return Err(unsupported(i, "")),
        }
        Ok(false)
    }

    /// add, sub, and, or, xor, cmp, test.
    #[inline]
    fn alu(&mut self, i: &X86Insn, m: Class, loc: GuestLoc) -> Result<(), Box<TranslateError>> {
        let s = self.size(i)?;
        let w = s * 8;
        // `xor r, r` (and `sub r, r`) is the zero idiom.
        let same_reg = is_reg(i.ops[0]) && i.ops[0] == i.ops[1];
        // Table loads (a `match` here was a second jump table).
        let k = (m as usize).wrapping_sub(Class::Add as usize) & 7;
        let (op, kind) = (ALU_OP[k], ALU_FLAGS[k]);
        let zero_idiom = same_reg && matches!(m, Class::Xor | Class::Sub);
        // The zero idiom reads nothing: the register's old value would be
        // an unread `GET`, which sends the block to the dead-code pass's
        // backward fallback.
        let (a, c) = if zero_idiom {
            let z = self.k(0);
            (z, z)
        } else {
            (self.read(i, 0, s, loc)?, self.read(i, 1, s, loc)?)
        };
        let r = if m == Class::Cmp {
            // Only the flags need the difference: computed on demand.
            LAZY_RESULT
        } else if zero_idiom {
            a
        } else if same_reg && matches!(m, Class::Test | Class::And | Class::Or) {
            // x & x = x | x = x: only the truncation remains.
            zext_w(self.b, a, w)
        } else {
            bin_w(self.b, op, a, c, w)
        };
        self.flags.set(match kind {
            1 => FlagSrc::Add { a, b: c, r, w },
            2 => FlagSrc::Sub { a, b: c, r, w },
            _ => FlagSrc::Logic { r, w },
        });
        if !matches!(m, Class::Cmp | Class::Test) {
            // Only a result of at most 32 bits is its own zero extension.
                self.zext_done = (s <= 4).then_some(r);
            self.write(i, s, r, loc)?;
            if same_reg && m == Class::Xor && gpr(i.ops[0]) == Some((RDX, 4)) {
                self.rdx_ext = Some((RdxExt::Zero, 32));
            } else if same_reg && m == Class::Xor && gpr(i.ops[0]) == Some((RDX, 8)) {
                self.rdx_ext = Some((RdxExt::Zero, 64));
            }
        }
        Ok(())
    }

    /// mov, movzx, movsx(d).
    #[inline]
    fn mov(&mut self, i: &X86Insn, m: Class, loc: GuestLoc) -> Result<(), Box<TranslateError>> {
        if m == Class::Mov {
            let s = self.size(i)?;
            let v = self.read(i, 1, s, loc)?;
            return self.write(i, s, v, loc);
        }
        let s = self.size(i)?;
        let src_size = self.op_size(i, 1)?;
        let zx = m == Class::Movzx;
        let v = if i.ops[1] == OP_MEM {
            // The load extends: unsigned for movzx, signed for movsx(d).
            let (a, off) = self.ea(i)?;
            self.b.load(a, off, width(src_size), !zx, loc)
        } else {
            let v = self.read(i, 1, src_size, loc)?;
            if zx {
                zext_w(self.b, v, src_size * 8)
            } else {
                sext_w(self.b, v, src_size * 8)
            }
        };
        if zx {
            // At most 16 bits: its own 32-bit zero extension.
            self.zext_done = Some(v);
        }
        self.write(i, s, v, loc)?;
        Ok(())
    }

    /// lea.
    #[inline]
    fn lea(&mut self, i: &X86Insn, loc: GuestLoc) -> Result<(), Box<TranslateError>> {
        let s = self.size(i)?;
        let (a, off) = self.ea(i)?;
        let v = if off == 0 {
            a
        } else if s == 4 {
            // A 32-bit sum is one record with its zero extension.
            let c = self.k(off as i64 as u64);
            let v = self.b.bin32(BinOp::Add, a, c);
            self.zext_done = Some(v);
            v
        } else {
            let c = self.k(off as i64 as u64);
            self.b.bin(BinOp::Add, a, c)
        };
        self.write(i, s, v, loc)?;
        Ok(())
    }

    /// shl, shr, sar, rol, ror.
    #[inline]
    fn shift(&mut self, i: &X86Insn, m: Class, loc: GuestLoc) -> Result<(), Box<TranslateError>> {
        let s = self.size(i)?;
        let w = s * 8;
        let a = self.read(i, 0, s, loc)?;
        let mask = if w == 64 { 63 } else { 31 };
        let imm_count = if is_reg(i.ops[1]) {
            None
        } else {
            Some(i.imm & mask)
        };
        let cnt = match imm_count {
            Some(c) => self.k(c),
            None => {
                let (c, _) = self.reg_read(i, i.ops[1])?;
                let mk = self.k(mask);
                self.b.bin(BinOp::And, c, mk)
            }
        };
        if w < 32 && matches!(m, Class::Rol | Class::Ror) {
            return Err(unsupported(i, "narrow rotate"));
        }
        // Each result truncated to `w` bits (a logical right shift of a
        // truncated value already is).
        let r = match m {
            Class::Shl => bin_w(self.b, BinOp::Shl, a, cnt, w),
            Class::Shr => {
                let z = zext_w(self.b, a, w);
                self.b.bin(BinOp::Shr, z, cnt)
            }
            Class::Sar => {
                let x = sext_w(self.b, a, w);
                bin_w(self.b, BinOp::Sar, x, cnt, w)
            }
            _ => {
                // rotate = (x << n) | (x >> ((w - n) & (w - 1))); n = 0 gives x.
                let z = zext_w(self.b, a, w);
                let wc = self.k(w as u64);
                let inv = self.b.bin(BinOp::Sub, wc, cnt);
                let mk = self.k(mask);
                let inv = self.b.bin(BinOp::And, inv, mk);
                let (l, rr) = if m == Class::Rol {
                    (cnt, inv)
                } else {
                    (inv, cnt)
                };
                let x = self.b.bin(BinOp::Shl, z, l);
                let y = self.b.bin(BinOp::Shr, z, rr);
                bin_w(self.b, BinOp::Or, x, y, w)
            }
        };
        match (m, imm_count) {
            (_, Some(0)) => {}
            (Class::Shl | Class::Shr | Class::Sar, Some(_)) => {
                self.flags.set(FlagSrc::ZnOnly { r, w })
            }
            _ => self.flags.set(FlagSrc::Unknown {
                pc: i.ip(),
                mnemonic: class_name(m),
            }),
        }
        // Only a result of at most 32 bits is its own zero extension.
                self.zext_done = (s <= 4).then_some(r);
        self.write(i, s, r, loc)?;
        Ok(())
    }

    /// `jcc`, `setcc` or `cmovcc`. A jump ends the block
    /// (`i.ops[0] == OP_BRANCH`); the result is a
    /// plain `Result<()>`, one register (with a `bool` inside, a 16-byte
    /// value returned through the stack).
    fn conditional(&mut self, i: &X86Insn, loc: GuestLoc) -> Result<(), Box<TranslateError>> {
        let cc = CC_KINDS[i.cc as usize % CC_KINDS.len()];
        if i.ops[0] == OP_BRANCH {
            let (cond, a, b) = self.cond(i, cc)?;
            self.end(Terminator::Branch {
                cond,
                a,
                b,
                taken: i.imm,
                fallthrough: i.next_ip(),
            });
            return Ok(());
        }
        let c = {
            let (cond, a, b) = self.cond(i, cc)?;
            self.b.setcond(cond, a, b)
        };
        if i.class == Class::Setcc {
            self.write(i, 1, c, loc)?;
        } else {
            // cmov: a 32-bit destination is zero-extended even when not moved.
            let s = self.size(i)?;
            let old = self.read(i, 0, s, loc)?;
            let new = self.read(i, 1, s, loc)?;
            let v = select(self.b, c, new, old);
            self.write(i, s, v, loc)?;
        }
        Ok(())
    }
}

/// Mnemonic of the classes whose flag results are not modeled (for the
/// error when they are read).
fn class_name(m: Class) -> &'static str {
    match m {
        Class::Shl => "shl",
        Class::Shr => "shr",
        Class::Sar => "sar",
        Class::Rol => "rol",
        Class::Ror => "ror",
        Class::Imul => "imul",
        Class::Mul => "mul",
        Class::Div => "div",
        Class::Idiv => "idiv",
        Class::Sbb => "sbb",
        Class::Adc => "adc",
        _ => "instruction",
    }
}

fn width(size: u32) -> Width {
    match size {
        1 => Width::W8,
        2 => Width::W16,
        4 => Width::W32,
        _ => Width::W64,
    }
}

fn mem_size(i: &X86Insn) -> Result<u32, Box<TranslateError>> {
    match i.msize {
        0 => Err(unsupported(i, "memory operand size")),
        s => Ok(u32::from(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::insn::{imm_form, immediate_of};
    use super::*;
    use crate::frontend::BlockIndex;
    use crate::ir::IrBlock;
    use iced_x86::{OpKind, Register};

    fn block(code: &[u8]) -> Result<IrBlock, TranslateError> {
        let img = CodeImage {
            base: 0x1000,
            bytes: code.to_vec(),
        };
        let mut fe = X86Frontend::default();
        let mut insns = Vec::new();
        fe.scan_block(&img, 0x1000, &mut insns)?;
        fe.lift_block(0x1000, &insns, false)
    }

    /// The x86-64 frontend without its fused discovery (the trait's
    /// default: discover the unit, then lift each block).
    #[derive(Default)]
    struct Unfused(X86Frontend);

    impl Frontend for Unfused {
        type Insn = X86Insn;
        const NAME: &'static str = "x86-64 (unfused)";
        fn scan_block(
            &mut self,
            img: &CodeImage,
            pc: u64,
            out: &mut Vec<X86Insn>,
        ) -> Result<BlockScan, TranslateError> {
            self.0.scan_block(img, pc, out)
        }
        fn discover(
            &mut self,
            img: &CodeImage,
            d: &mut Discovery<'_, X86Insn>,
        ) -> Result<(), TranslateError> {
            self.0.discover(img, d)
        }
        fn lift_block_into(
            &mut self,
            pc: u64,
            insns: &[X86Insn],
            flags_live_out: bool,
            ops: &mut UnitOps,
        ) -> Result<LiftedBlock, TranslateError> {
            self.0.lift_block_into(pc, insns, flags_live_out, ops)
        }
        fn insn_loc(insn: &X86Insn, index: u32) -> GuestLoc {
            X86Frontend::insn_loc(insn, index)
        }
    }

    /// Asserts that the fused and the separate translation of `entries`
    /// give the same unit (blocks, records, constants, terminators, last
    /// uses), twice with reused buffers; returns how many records the
    /// fused unit holds outside its blocks (early lifts of blocks lifted
    /// again with their flag stores).
    fn assert_fused_equals_separate(img: &CodeImage, entries: &[(String, u64)]) -> usize {
        use crate::xarch::unit::UnitTranslator;
        let mut fused = UnitTranslator::new(X86Frontend::default());
        let mut separate = UnitTranslator::new(Unfused::default());
        let mut relifted = 0;
        for _ in 0..2 {
            let a = fused.translate(img, entries).unwrap();
            let b = separate.translate(img, entries).unwrap();
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
            let used: usize = a.blocks.iter().map(|k| (k.end - k.start) as usize).sum();
            relifted = a.ops.len() - used;
            fused.recycle(a);
            separate.recycle(b);
        }
        relifted
    }

    /// Lifting during discovery gives the unit the separate passes give,
    /// on the committed object and on a block whose flags are live at its
    /// end (lifted again with the flag stores), and the committed object
    /// takes the fused path (no fallback).
    #[test]
    fn fused_discovery_and_lifting_match_the_separate_passes() {
        use crate::xarch::inputs::{load_input, X86_64_ELF};
        let input = load_input(X86_64_ELF).unwrap();
        assert_fused_equals_separate(&input.image, &input.symbols);
        // cmp rdi, rsi ; jmp 1f ; 1: jl 2f ; ret ; 2: ret
        let img = CodeImage {
            base: 0x1000,
            bytes: vec![0x48, 0x39, 0xf7, 0xeb, 0x00, 0x7c, 0x01, 0xc3, 0xc3],
        };
        let entries = [("f".to_string(), 0x1000)];
        assert!(assert_fused_equals_separate(&img, &entries) > 0);
        // A block cut at MAX_BLOCK_INSNS (130 x `mov rax, rdi`, then
        // `ret`): it falls through to the rest.
        let mut bytes: Vec<u8> = [0x48, 0x89, 0xf8].repeat(MAX_BLOCK_INSNS + 2);
        bytes.push(0xc3);
        let long = CodeImage {
            base: 0x1000,
            bytes,
        };
        assert_fused_equals_separate(&long, &entries);
        // The fused discovery succeeds on the committed object and on the
        // long block (the comparisons above are not with a fallback).
        for (img, entries) in [(&input.image, &input.symbols[..]), (&long, &entries[..])] {
            let mut fe = X86Frontend::default();
            let (mut index, mut scans, mut all) =
                (BlockIndex::default(), Vec::new(), Vec::new());
            index.reset(img.base, img.bytes.len());
            let mut work: Vec<u64> = entries.iter().map(|e| e.1).collect();
            let (mut ops, mut lifted) = (UnitOps::default(), Vec::new());
            let d = &mut Discovery::new(&mut index, &mut scans, &mut all, &mut work);
            assert_eq!(fe.discover_and_lift(img, d, &mut ops, &mut lifted), Ok(true));
            assert_eq!(lifted.len(), scans.len());
        }
    }

    /// A block whose flags turn out live gets its flag stores appended to
    /// a copy of its early lift instead of being lifted again, and the
    /// result equals lifting it with the flags live.
    #[test]
    fn early_flags_are_stored_without_lifting_again() {
        use crate::ir::dense::kind;
        // cmp rdi, rsi ; jmp 1f ; 1: jl 2f ; ret ; 2: ret
        let img = CodeImage {
            base: 0x1000,
            bytes: vec![0x48, 0x39, 0xf7, 0xeb, 0x00, 0x7c, 0x01, 0xc3, 0xc3],
        };
        let mut fe = X86Frontend::default();
        let (mut index, mut scans, mut all) = (BlockIndex::default(), Vec::new(), Vec::new());
        index.reset(img.base, img.bytes.len());
        let mut work = vec![0x1000];
        let (mut ops, mut lifted) = (UnitOps::default(), Vec::new());
        let d = &mut Discovery::new(&mut index, &mut scans, &mut all, &mut work);
        assert_eq!(fe.discover_and_lift(&img, d, &mut ops, &mut lifted), Ok(true));
        // The first block (cmp; jmp) leaves its flags unstored.
        let k = fe.early_flags[0].0 as usize;
        assert_eq!(scans[k].0, 0x1000);
        assert!(lifted[k].flags_pending);
        let insns = &all[scans[k].2.clone()];
        let (start, consts_start) = (ops.ops.len(), ops.consts.len());
        let n = fe
            .store_early_flags(k, insns, &lifted[k], &mut ops)
            .unwrap()
            .expect("stored without lifting again");
        let mut want = UnitOps::default();
        let l = fe.lift_block_into(0x1000, insns, true, &mut want).unwrap();
        assert_eq!(n, l.num_temps);
        assert_eq!(&ops.ops[start..], &want.ops[..]);
        assert_eq!(&ops.consts[consts_start..], &want.consts[..]);
        // The four flags are stored (CF..OF are globals 16..19).
        let stored: Vec<u8> = want
            .ops
            .iter()
            .filter(|o| o.kind == kind::SET && o.sub >= 16)
            .map(|o| o.sub)
            .collect();
        assert_eq!(stored, [16, 17, 18, 19]);
        // A block without unstored flags (a `ret`) is not handled here.
        let ret = (0..scans.len()).find(|&j| scans[j].0 == 0x1007).unwrap();
        assert!(!lifted[ret].flags_pending);
        assert_eq!(fe.store_early_flags(ret, insns, &lifted[k], &mut ops), Ok(None));
    }

    /// The fused scan equals the separate scan on every block of the
    /// committed object.
    #[test]
    fn fused_scan_equals_the_separate_scan() {
        use crate::xarch::inputs::{load_input, X86_64_ELF};
        let input = load_input(X86_64_ELF).unwrap();
        let unit = crate::xarch::unit::translate_unit(
            &mut X86Frontend::default(),
            &input.image,
            &input.symbols,
        )
        .unwrap();
        let img = &input.image;
        let mut fe = X86Frontend::default();
        fe.b.reset(UnitOps::default());
        let mut dec = Decoder::with_ip(64, &img.bytes, img.base, DecoderOptions::NONE);
        for pc in unit.blocks.iter().map(|b| b.pc) {
            let (mut fused, mut separate) = (Vec::new(), Vec::new());
            let mut scan = BlockScan::default();
            fe.scan_and_lift(img, &mut dec, pc, &mut fused, &mut scan, &mut Vec::new())
                .unwrap();
            let want = fe.scan_block(img, pc, &mut separate).unwrap();
            assert_eq!(format!("{scan:?}"), format!("{want:?}"), "block {pc:#x}");
            assert_eq!(fused, separate);
        }
    }

    /// A unit with an error is translated again the separate way, so the
    /// error is the one discovery-then-lifting reports.
    #[test]
    fn fused_discovery_reports_the_errors_of_the_separate_passes() {
        use crate::xarch::unit::UnitTranslator;
        for (code, entry, want) in [
            // je 1f ; cpuid (lifting fails) ; ret ; 1: nop, end of image:
            // discovery fails later, and that is the error.
            (
                vec![0x74, 0x03, 0x0f, 0xa2, 0xc3, 0x90],
                0x1000,
                Some(TranslateError::OutOfImage { pc: 0x1006 }),
            ),
            // cpuid ; ret
            (vec![0x0f, 0xa2, 0xc3], 0x1000, None),
            // A block ending in an unmodeled instruction (ud2).
            (vec![0x90, 0x0f, 0x0b], 0x1000, None),
            (vec![0xc3], 0x1002, Some(TranslateError::OutOfImage { pc: 0x1002 })),
        ] {
            let img = CodeImage {
                base: 0x1000,
                bytes: code,
            };
            let entries = [("f".to_string(), entry)];
            let a = UnitTranslator::new(X86Frontend::default()).translate(&img, &entries);
            let b = UnitTranslator::new(Unfused::default()).translate(&img, &entries);
            let (a, b) = (a.unwrap_err(), b.unwrap_err());
            assert_eq!(a, b);
            if let Some(want) = want {
                assert_eq!(a, want);
            } else {
                assert!(matches!(a, TranslateError::Unsupported { .. }), "{a}");
            }
        }
    }

    #[test]
    fn register_numbering_matches_iced() {
        use Register::*;
        let cases = [
            (RAX, (0, 8)),
            (RSP, (4, 8)),
            (R15, (15, 8)),
            (EAX, (0, 4)),
            (R8D, (8, 4)),
            (R15D, (15, 4)),
            (AX, (0, 2)),
            (R13W, (13, 2)),
            (AL, (0, 1)),
            (BL, (3, 1)),
            (AH, (0, 1)),
            (BH, (3, 1)),
            (SPL, (4, 1)),
            (DIL, (7, 1)),
            (R8L, (8, 1)),
            (R15L, (15, 1)),
        ];
        for (r, want) in cases {
            assert_eq!(gpr(r as u8), Some(want), "{r:?}");
        }
        // What the decoders record for the others.
        assert_eq!(gpr(super::super::insn::OP_OTHER_REG), Option::None);
        assert_eq!(gpr(Register::None as u8), Option::None);
        assert_eq!(gpr(OP_MEM), Option::None);
        assert_eq!(gpr(OP_IMM), Option::None);
        assert_eq!(gpr(OP_BRANCH), Option::None);
        assert!(is_high8(Register::AH as u8) && is_high8(Register::BH as u8));
        assert!(!is_high8(Register::AL as u8) && !is_high8(Register::SPL as u8));
    }

    /// `immediate_of` gives what iced's `Instruction::immediate` gives, for
    /// every immediate form (sign-extending ones with negative values, a
    /// memory operand's displacement beside the immediate) and every
    /// immediate operand of the committed x86-64 object; other operand
    /// kinds are refused.
    #[test]
    fn immediate_of_matches_iced() {
        let forms: &[(&[u8], OpKind)] = &[
            (&[0xb0, 0xfe], OpKind::Immediate8),             // mov al, 0xfe
            (&[0x66, 0xb8, 0xfe, 0xff], OpKind::Immediate16), // mov ax, 0xfffe
            (&[0xb8, 0xfe, 0xff, 0xff, 0xff], OpKind::Immediate32),
            (
                &[0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x91],
                OpKind::Immediate64,
            ),
            (&[0x66, 0x83, 0xc0, 0xff], OpKind::Immediate8to16), // add ax, -1
            (&[0x83, 0xc0, 0x80], OpKind::Immediate8to32),       // add eax, -128
            (&[0x48, 0x83, 0xc0, 0xfe], OpKind::Immediate8to64), // add rax, -2
            (&[0x48, 0x83, 0xc0, 0x7f], OpKind::Immediate8to64), // add rax, 127
            // add rax, -0x80000000
            (&[0x48, 0x05, 0x00, 0x00, 0x00, 0x80], OpKind::Immediate32to64),
            // mov dword [rsp+0x12345678], -1
            (
                &[0xc7, 0x84, 0x24, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff],
                OpKind::Immediate32,
            ),
            // mov qword [rsp-8], -2
            (
                &[0x48, 0xc7, 0x44, 0x24, 0xf8, 0xfe, 0xff, 0xff, 0xff],
                OpKind::Immediate32to64,
            ),
        ];
        for &(code, kind) in forms {
            let i = Decoder::with_ip(64, code, 0x1000, DecoderOptions::NONE).decode();
            let n = i.op_count() - 1;
            assert_eq!(i.op_kind(n), kind, "{:#x} {:?}", i.ip(), i.code());
            assert_eq!(immediate_of(&i, kind), Some(i.immediate(n)), "{:#x} {:?}", i.ip(), i.code());
        }
        let input = crate::xarch::inputs::load_input(crate::xarch::inputs::X86_64_ELF).unwrap();
        let mut dec = Decoder::with_ip(64, &input.image.bytes, input.image.base, DecoderOptions::NONE);
        let mut seen = 0;
        for i in dec.iter() {
            for n in 0..i.op_count() {
                let kind = i.op_kind(n);
                match kind {
                    OpKind::Register | OpKind::Memory | OpKind::Immediate8_2nd => {
                        assert_eq!(immediate_of(&i, kind), None, "{:#x} {:?}", i.ip(), i.code())
                    }
                    k if imm_form(k) != 0 => {
                        assert_eq!(immediate_of(&i, kind), Some(i.immediate(n)), "{:#x} {:?}", i.ip(), i.code());
                        let r = X86Insn::from_iced(&i);
                        assert_eq!((r.ops[n as usize], r.imm), (OP_IMM, i.immediate(n)), "{:#x}", i.ip());
                        seen += 1;
                    }
                    _ => assert_eq!(immediate_of(&i, kind), None, "{:#x} {:?}", i.ip(), i.code()),
                }
            }
        }
        assert!(seen >= 50, "only {seen} immediates in the object");
    }

    /// The record ([`X86Insn::from_iced`], which the fast decoder is
    /// tested equal to) says what iced's accessors say, for every
    /// instruction of a linear sweep over the committed object: address
    /// and length, register operands, immediates and branch targets, and
    /// the memory operand's address (iced's own `virtual_address` against
    /// the record's base + index << scale + displacement, with distinct
    /// register values) and size.
    #[test]
    fn record_matches_iced_accessors() {
        let input = crate::xarch::inputs::load_input(crate::xarch::inputs::X86_64_ELF).unwrap();
        let mut dec = Decoder::with_ip(64, &input.image.bytes, input.image.base, DecoderOptions::NONE);
        let value = |n: u8| 0x1000_0000_0000u64.wrapping_mul(u64::from(n) + 3) ^ (u64::from(n) << 8);
        let (mut mems, mut regs) = (0, 0);
        for i in dec.iter() {
            if i.is_invalid() {
                continue;
            }
            let r = X86Insn::from_iced(&i);
            let at = format!("{:#x} {:?}", i.ip(), i.code());
            assert_eq!((r.ip(), r.next_ip(), r.code()), (i.ip(), i.next_ip(), i.code()), "{at}");
            for n in 0..i.op_count().min(3) {
                let d = r.ops[n as usize];
                match i.op_kind(n) {
                    OpKind::Register => {
                        regs += 1;
                        let want = i.op_register(n);
                        if gpr(want as u8).is_some() {
                            assert_eq!(d, want as u8, "{at}");
                        } else {
                            assert_eq!(gpr(d), None, "{at}");
                        }
                    }
                    OpKind::NearBranch64 => assert_eq!((d, r.imm), (OP_BRANCH, i.near_branch_target()), "{at}"),
                    OpKind::Memory => {
                        assert_eq!(d, OP_MEM, "{at}");
                        if i.memory_segment() != Register::DS && i.memory_segment() != Register::SS {
                            continue;
                        }
                        mems += 1;
                        // Segment bases are 0 (iced asks for DS/SS too).
                        let want = i.virtual_address(n, 0, |reg, _, _| {
                            Some(if gpr(reg as u8).is_some() { value(reg as u8) } else { 0 })
                        });
                        let base = match r.base {
                            BASE_NONE => 0,
                            BASE_RIP => i.next_ip(),
                            b => value(b),
                        };
                        let index = if r.index == 0 { 0 } else { value(r.index) };
                        let got = base
                            .wrapping_add(index << r.scale_log2())
                            .wrapping_add(r.disp as i64 as u64);
                        assert_eq!(Some(got), want, "{at}");
                        use iced_x86::MemorySize::*;
                        let size = match i.memory_size() {
                            UInt8 | Int8 => 1,
                            UInt16 | Int16 => 2,
                            UInt32 | Int32 => 4,
                            UInt64 | Int64 => 8,
                            _ => 0,
                        };
                        assert_eq!(r.msize, size, "{at}");
                    }
                    _ => {}
                }
            }
        }
        assert!(mems > 500 && regs > 2000, "{mems} memory operands, {regs} registers");
    }

    /// A 64-bit result copied to a 32-bit register is truncated: only a
    /// result of at most 32 bits is its own zero extension.
    #[test]
    fn a_64_bit_result_written_to_a_32_bit_register_is_truncated() {
        // add rax, rbx ; mov ecx, eax ; ret (and the same with shl rax, 1
        // and inc rax)
        for first in [&[0x48, 0x01, 0xd8][..], &[0x48, 0xd1, 0xe0], &[0x48, 0xff, 0xc0]] {
            let code = [first, &[0x89, 0xc1, 0xc3]].concat();
            let b = block(&code).unwrap();
            let zext = b.ops.iter().any(|op| {
                matches!(
                    op,
                    crate::ir::IrOp::Un {
                        op: UnOp::Zext32,
                        ..
                    }
                )
            });
            assert!(zext, "{code:02x?}: {:?}", b.ops);
        }
    }

    #[test]
    fn cmp_jl_becomes_one_signed_branch() {
        // cmp rdi, rsi ; jl +0
        let b = block(&[0x48, 0x39, 0xf7, 0x7c, 0x00]).unwrap();
        match b.term {
            Terminator::Branch { cond, .. } => assert_eq!(cond, crate::ir::Cond::Lt),
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn unsupported_instruction_names_address_and_mnemonic() {
        // popcnt rax, rdi
        let e = block(&[0xf3, 0x48, 0x0f, 0xb8, 0xc7, 0xc3]).unwrap_err();
        assert_eq!(e.to_string(), "unsupported instruction at 0x1000: popcnt");
        // movaps xmm0, xmm1
        let e = block(&[0x0f, 0x28, 0xc1, 0xc3]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unsupported instruction at 0x1000: movaps"));
        // jp (parity) after cmp
        let e = block(&[0x48, 0x39, 0xf7, 0x7a, 0x00]).unwrap_err();
        assert!(e.to_string().contains("0x1003: jp"), "{e}");
    }

    #[test]
    fn division_needs_an_extended_dividend() {
        // idiv rsi without cqo: rdx:rax unknown
        let e = block(&[0x48, 0xf7, 0xfe, 0xc3]).unwrap_err();
        assert!(e.to_string().contains("idiv"), "{e}");
        // cqo ; idiv rsi ; ret
        block(&[0x48, 0x99, 0x48, 0xf7, 0xfe, 0xc3]).unwrap();
    }

    #[test]
    fn reading_flags_of_an_unmodeled_setter_is_an_error() {
        // imul rax, rsi ; jo +0
        let e = block(&[0x48, 0x0f, 0xaf, 0xc6, 0x70, 0x00]).unwrap_err();
        assert!(e.to_string().contains("reads flags of imul"), "{e}");
    }
}
