//! x86-64 -> IR lifting of one block.

use iced_x86::{Code, Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

use super::TranslateError;
use crate::frontend::flags::{
    select, sext_w, zext_w, CcKind, ConstCache, FlagSrc, FlagState, Flags, LAZY_RESULT,
};
use crate::frontend::{
    begin_block, end_block, BlockScan, CodeImage, Discovery, FlagUse, Frontend, LiftedBlock, Successor,
};
use crate::ir::dense::{UnitBuilder, UnitOps};
use crate::ir::{BinOp, Cond, GuestLoc, Temp, Terminator, UnOp, Width};

/// Globals holding Z, N (SF), C (CF), V (OF) between blocks.
pub const FLAG_GLOBALS: [u8; 4] = [17, 18, 16, 19];
/// Globals the x86-64 frontend uses (`0..NUM_X86_GLOBALS`).
pub const NUM_X86_GLOBALS: usize = 20;
const RSP: u8 = 4;
const RAX: u8 = 0;
const RDX: u8 = 2;
/// Longest block before it is split with a fallthrough jump.
const MAX_BLOCK_INSNS: usize = 128;

/// A decoded x86-64 instruction.
pub type X86Insn = Instruction;

/// The x86-64 frontend (stateless between blocks).
#[derive(Debug, Default)]
pub struct X86Frontend {
    /// One builder reused for every block (see [`UnitBuilder::reset`]).
    b: UnitBuilder,
}

impl Clone for X86Frontend {
    /// A fresh frontend: the builder holds no state between blocks.
    fn clone(&self) -> Self {
        Self::default()
    }
}

fn unsupported(i: &Instruction, why: &str) -> Box<TranslateError> {
    let m = format!("{:?}", i.mnemonic()).to_lowercase();
    Box::new(TranslateError::Unsupported {
        pc: i.ip(),
        mnemonic: if why.is_empty() {
            m
        } else {
            format!("{m} ({why})")
        },
    })
}

/// General-purpose register: (global, size in bytes). Uses iced's
/// register numbering (AL..BH = 1..8, SPL..R15L = 9..20, AX.. = 21..36,
/// EAX.. = 37..52, RAX.. = 68), checked by a unit test.
#[inline]
fn gpr(r: Register) -> Option<(u8, u32)> {
    // One table load: a `match` over the number ranges was a compare tree
    // that mispredicted about once per unit of 3 register operands
    // (callgrind's branch simulation).
    let v = GPR_TABLE[r as usize & 255];
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

/// `ah`, `ch`, `dh`, `bh`: bits 8..16 of their register.
fn is_high8(r: Register) -> bool {
    matches!(r, Register::AH | Register::CH | Register::DH | Register::BH)
}

/// Condition of a jcc/setcc/cmovcc mnemonic.
fn cc_of(m: Mnemonic) -> Option<CcKind> {
    use CcKind::*;
    use Mnemonic::*;
    Some(match m {
        Je | Sete | Cmove => Eq,
        Jne | Setne | Cmovne => Ne,
        Jl | Setl | Cmovl => Lt,
        Jge | Setge | Cmovge => Ge,
        Jg | Setg | Cmovg => Gt,
        Jle | Setle | Cmovle => Le,
        Jb | Setb | Cmovb => B,
        Jae | Setae | Cmovae => Ae,
        Ja | Seta | Cmova => A,
        Jbe | Setbe | Cmovbe => Be,
        Js | Sets | Cmovs => Mi,
        Jns | Setns | Cmovns => Pl,
        Jo | Seto | Cmovo => Vs,
        Jno | Setno | Cmovno => Vc,
        _ => return None,
    })
}

/// How a mnemonic uses the flags.
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

/// How a mnemonic ends a block, for scanning.
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

/// What the scan and the lifter look up per instruction about its
/// mnemonic, tabulated once: matching a mnemonic against a few dozen of
/// iced's ~1800 values compiles to a compare tree that mispredicted about
/// once per instruction (callgrind's branch simulation).
#[derive(Debug, Clone, Copy)]
struct MnemonicInfo {
    cc: Option<CcKind>,
    flags: FlagClass,
    flow: FlowClass,
}

impl MnemonicInfo {
    fn of(m: Mnemonic) -> Self {
        use Mnemonic::*;
        let cc = cc_of(m);
        let flags = match m {
            _ if cc.is_some() => FlagClass::Reads,
            Add | Sub | And | Or | Xor | Cmp | Test | Neg | Imul | Mul | Div | Idiv => {
                FlagClass::Writes
            }
            // inc/dec keep CF: they read it to carry it forward.
            Inc | Dec | Adc | Sbb => FlagClass::ReadsWrites,
            Shl | Sal | Shr | Sar | Rol | Ror => FlagClass::Shift,
            _ => FlagClass::None,
        };
        let flow = match m {
            Jmp => FlowClass::Jmp,
            Call => FlowClass::Call,
            Ret => FlowClass::Ret,
            Ud2 | Hlt | Int3 | Syscall => FlowClass::Stop,
            Jp | Jnp => FlowClass::CondJump,
            _ if cc.is_some() => FlowClass::CondJump,
            _ => FlowClass::Other,
        };
        Self { cc, flags, flow }
    }
}

/// The [`MnemonicInfo`] of `m`.
#[inline]
fn info(m: Mnemonic) -> MnemonicInfo {
    static TABLE: std::sync::OnceLock<Box<[MnemonicInfo]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| Mnemonic::values().map(MnemonicInfo::of).collect())[m as usize]
}

/// [`MnemonicInfo`] by iced [`Code`] (the scan's per-instruction lookup):
/// one table load straight from the decoded code instead of two dependent
/// ones (code -> mnemonic -> info), fetched once per block scan instead
/// of checking the `OnceLock` per instruction.
fn code_info_table() -> &'static [MnemonicInfo] {
    static TABLE: std::sync::OnceLock<Box<[MnemonicInfo]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| Code::values().map(|c| info(c.mnemonic())).collect())
}

/// Flag effect of an instruction: (reads, writes). Bit tests instead of a
/// `match` (a jump table the scan mispredicted about once per block).
#[inline]
fn flag_effect(i: &Instruction, info: MnemonicInfo) -> (bool, bool) {
    let f = info.flags;
    let shift = f == FlagClass::Shift;
    let reads = matches!(f, FlagClass::Reads | FlagClass::ReadsWrites)
        | (shift && i.op1_kind() == OpKind::Register);
    let writes = matches!(f, FlagClass::Writes | FlagClass::ReadsWrites) | shift;
    (reads, writes)
}

fn is_nop(m: Mnemonic) -> bool {
    matches!(m, Mnemonic::Nop | Mnemonic::Endbr64 | Mnemonic::Pause)
}

impl Frontend for X86Frontend {
    type Insn = X86Insn;
    const NAME: &'static str = "x86-64";

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
}

impl X86Frontend {
    /// Lifts `insns` into the builder (already reset); returns the terminator.
    fn lift_body(
        &mut self,
        insns: &[X86Insn],
        flags_live_out: bool,
    ) -> Result<Terminator, TranslateError> {
        let mut l = Lifter {
            b: &mut self.b,
            flags: FlagState::new(FLAG_GLOBALS, false),
            consts: ConstCache::default(),
            rdx_ext: None,
            zext_done: None,
        };
        let mut term = None;
        for (index, i) in insns.iter().enumerate() {
            let loc = GuestLoc {
                pc: i.ip(),
                next_pc: i.next_ip(),
                index: index as u32,
            };
            if let Some(t) = l.insn(i, loc).map_err(|e| *e)? {
                term = Some(t);
                break;
            }
        }
        let last = insns.last().expect("scanned blocks are never empty");
        let term = match term {
            Some(t) => t,
            None => Terminator::Jump(last.next_ip()),
        };
        if flags_live_out {
            l.flags
                .store(l.b)
                .map_err(|u| TranslateError::Unsupported {
                    pc: if u.pc == 0 { last.ip() } else { u.pc },
                    mnemonic: format!("{} (flags live across blocks)", u.mnemonic),
                })?;
        }
        Ok(term)
    }
}

/// Scans the block at `pc` (inside `img`): each instruction comes from
/// the fast decoder ([`super::decode`]), or from `dec` (an iced decoder
/// over the whole image) for the forms the fast decoder leaves to it.
fn scan_with(
    img: &CodeImage,
    dec: &mut Decoder<'_>,
    pc: u64,
    out: &mut Vec<X86Insn>,
) -> Result<BlockScan, TranslateError> {
    let start = out.len();
    let mut scan = BlockScan::default();
    let infos = code_info_table();
    let bytes = &img.bytes[..];
    let mut ip = pc;
    loop {
        let pos = ip.wrapping_sub(img.base) as usize;
        if pos >= bytes.len() {
            return Err(TranslateError::OutOfImage { pc: ip });
        }
        // Decode straight into the output slot (no 40-byte copy), cleared
        // here once for both decoders.
        out.push(Instruction::default());
        let last = out.len() - 1;
        if !super::decode::decode(bytes, pos, ip, &mut out[last]) {
            dec.set_position(pos)
                .map_err(|_| TranslateError::OutOfImage { pc: ip })?;
            dec.set_ip(ip);
            dec.decode_out(&mut out[last]);
        }
        let i = &out[last];
        ip = i.next_ip();
        if i.is_invalid() {
            return Err(TranslateError::Invalid { pc: i.ip() });
        }
        let mi = infos[i.code() as usize];
        if scan.flags.is_none() {
            let (r, w) = flag_effect(i, mi);
            if r {
                scan.flags = Some(FlagUse::ReadFirst);
            } else if w {
                scan.flags = Some(FlagUse::WriteFirst);
            }
        }
        let next = i.next_ip();
        // Most instructions do not end the block: one predictable branch
        // before the jump table over the block-ending classes.
        if mi.flow != FlowClass::Other {
            let direct = matches!(
                i.op0_kind(),
                OpKind::NearBranch64 | OpKind::NearBranch32 | OpKind::NearBranch16
            );
            match mi.flow {
                FlowClass::Jmp => {
                    if direct {
                        scan.succs.push(Successor {
                            pc: i.near_branch_target(),
                            carries_flags: true,
                        });
                    } else {
                        scan.indirect = true;
                    }
                    return Ok(scan);
                }
                FlowClass::Call => {
                    if direct {
                        scan.succs.push(Successor {
                            pc: i.near_branch_target(),
                            carries_flags: false,
                        });
                    }
                    scan.succs.push(Successor {
                        pc: next,
                        carries_flags: false,
                    });
                    return Ok(scan);
                }
                FlowClass::Ret => return Ok(scan),
                FlowClass::CondJump if direct => {
                    scan.succs.push(Successor {
                        pc: i.near_branch_target(),
                        carries_flags: true,
                    });
                    scan.succs.push(Successor {
                        pc: next,
                        carries_flags: true,
                    });
                    return Ok(scan);
                }
                FlowClass::Stop => return Ok(scan),
                FlowClass::CondJump | FlowClass::Other => {}
            }
        }
        if out.len() - start >= MAX_BLOCK_INSNS {
            scan.succs.push(Successor {
                pc: next,
                carries_flags: true,
            });
            return Ok(scan);
        }
    }
}

/// How an immediate operand kind extends iced's stored immediate to 64
/// bits: `IMM_VALID`, plus `IMM_SIGNED` and the shift that moves the
/// immediate's top bit to bit 63 (0 for the 64-bit form). Not an
/// immediate: 0. (A `match` returning constants, which LLVM turns into a
/// table load instead of a jump table.)
const fn imm_form(kind: OpKind) -> u8 {
    match kind {
        OpKind::Immediate8 => IMM_VALID | 56,
        OpKind::Immediate16 => IMM_VALID | 48,
        OpKind::Immediate32 => IMM_VALID | 32,
        OpKind::Immediate64 => IMM_VALID,
        OpKind::Immediate8to16 | OpKind::Immediate8to32 | OpKind::Immediate8to64 => {
            IMM_VALID | IMM_SIGNED | 56
        }
        OpKind::Immediate32to64 => IMM_VALID | IMM_SIGNED | 32,
        _ => 0,
    }
}
const IMM_VALID: u8 = 0x80;
const IMM_SIGNED: u8 = 0x40;

/// The value of an immediate operand of kind `kind` as iced's
/// `Instruction::immediate` computes it (the sign-extending forms extend
/// to all 64 bits), without its `match` on the kind; `None` if `kind` is
/// not one of the immediate forms the lifter reads.
#[inline]
fn immediate_of(i: &Instruction, kind: OpKind) -> Option<u64> {
    let f = imm_form(kind);
    if f & IMM_VALID == 0 {
        return None;
    }
    let raw = if kind == OpKind::Immediate64 {
        i.immediate64()
    } else {
        i.immediate32() as u64
    };
    let sh = u32::from(f & 63);
    let v = raw << sh;
    Some(if f & IMM_SIGNED != 0 {
        ((v as i64) >> sh) as u64
    } else {
        v >> sh
    })
}

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
    /// A temp known to be zero-extended from 32 bits (an ALU result).
    zext_done: Option<Temp>,
}

impl Lifter<'_> {
    fn k(&mut self, v: u64) -> Temp {
        self.consts.get(self.b, v)
    }

    #[inline]
    fn reg_read(
        &mut self,
        i: &Instruction,
        r: Register,
    ) -> Result<(Temp, u32), Box<TranslateError>> {
        let (g, s) = gpr(r).ok_or_else(|| unsupported(i, "register"))?;
        let v = self.b.get(g);
        if is_high8(r) {
            let sh = self.k(8);
            return Ok((self.b.bin(BinOp::Shr, v, sh), s));
        }
        Ok((v, s))
    }

    /// Writes `v` to register `r` with x86 partial-register rules.
    fn reg_write(
        &mut self,
        i: &Instruction,
        r: Register,
        v: Temp,
    ) -> Result<(), Box<TranslateError>> {
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
    fn ea(&mut self, i: &Instruction) -> Result<(Temp, i32), Box<TranslateError>> {
        if i.memory_segment() != Register::DS && i.memory_segment() != Register::SS {
            return Err(unsupported(i, "segment override"));
        }
        if i.is_ip_rel_memory_operand() {
            let a = i.ip_rel_memory_address();
            return Ok((self.k(a), 0));
        }
        let disp = i.memory_displacement64() as i64;
        let base = match i.memory_base() {
            Register::None => None,
            r => {
                let (g, s) = gpr(r).ok_or_else(|| unsupported(i, "address register"))?;
                if s != 8 {
                    return Err(unsupported(i, "32-bit addressing"));
                }
                Some(self.b.get(g))
            }
        };
        let index = match i.memory_index() {
            Register::None => None,
            r => {
                let (g, s) = gpr(r).ok_or_else(|| unsupported(i, "index register"))?;
                if s != 8 {
                    return Err(unsupported(i, "32-bit addressing"));
                }
                let t = self.b.get(g);
                let sc = i.memory_index_scale();
                Some(if sc == 1 {
                    t
                } else {
                    let sh = self.k(sc.trailing_zeros() as u64);
                    self.b.bin(BinOp::Shl, t, sh)
                })
            }
        };
        let (addr, off) = match (base, index) {
            (Some(x), Some(y)) => (self.b.bin(BinOp::Add, x, y), disp),
            (Some(x), None) | (None, Some(x)) => (x, disp),
            (None, None) => (self.k(disp as u64), 0),
        };
        match i32::try_from(off) {
            Ok(o) => Ok((addr, o)),
            Err(_) => {
                let c = self.k(off as u64);
                Ok((self.b.bin(BinOp::Add, addr, c), 0))
            }
        }
    }

    /// Reads operand `n` (register, immediate or memory of `size` bytes).
    #[inline]
    fn read(
        &mut self,
        i: &Instruction,
        n: u32,
        size: u32,
        loc: GuestLoc,
    ) -> Result<Temp, Box<TranslateError>> {
        // Two compares and a table load instead of a `match` on the operand
        // kind: that jump table (one site for every operand read) and the
        // second one inside iced's `immediate(n)` mispredicted about once
        // per read (callgrind's branch simulation: ~205 per unit of 549
        // guest instructions).
        let kind = i.op_kind(n);
        if kind == OpKind::Register {
            return Ok(self.reg_read(i, i.op_register(n))?.0);
        }
        if kind == OpKind::Memory {
            let (a, off) = self.ea(i)?;
            return Ok(self.b.load(a, off, width(size), false, loc));
        }
        match immediate_of(i, kind) {
            Some(v) => Ok(self.k(v)),
            None => Err(unsupported(i, "operand")),
        }
    }

    /// Writes operand 0 (register or memory of `size` bytes).
    #[inline]
    fn write(
        &mut self,
        i: &Instruction,
        size: u32,
        v: Temp,
        loc: GuestLoc,
    ) -> Result<(), Box<TranslateError>> {
        match i.op0_kind() {
            OpKind::Register => self.reg_write(i, i.op0_register(), v),
            OpKind::Memory => {
                let (a, off) = self.ea(i)?;
                self.b.store(a, off, v, width(size), loc);
                Ok(())
            }
            _ => Err(unsupported(i, "destination")),
        }
    }

    /// Operand size of the instruction in bytes (from operand 0).
    #[inline]
    fn size(&self, i: &Instruction) -> Result<u32, Box<TranslateError>> {
        match i.op0_kind() {
            OpKind::Register => Ok(gpr(i.op0_register())
                .ok_or_else(|| unsupported(i, "register"))?
                .1),
            OpKind::Memory => mem_size(i),
            _ => Err(unsupported(i, "operand size")),
        }
    }

    fn cond(
        &mut self,
        i: &Instruction,
        cc: CcKind,
    ) -> Result<(crate::ir::Cond, Temp, Temp), Box<TranslateError>> {
        self.flags.cond(self.b, cc).map_err(|u| {
            Box::new(TranslateError::Unsupported {
                pc: i.ip(),
                mnemonic: format!(
                    "{} (reads flags of {} at {:#x})",
                    format!("{:?}", i.mnemonic()).to_lowercase(),
                    u.mnemonic,
                    u.pc
                ),
            })
        })
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

    fn insn(
        &mut self,
        i: &Instruction,
        loc: GuestLoc,
    ) -> Result<Option<Terminator>, Box<TranslateError>> {
        use Mnemonic::*;
        let m = i.mnemonic();
        if (i.has_lock_prefix() || i.has_rep_prefix() || i.has_repne_prefix()) && m != Ret {
            return Err(unsupported(i, "prefix"));
        }
        // One dispatch on the mnemonic; conditional forms and NOPs are
        // matched in the default arm (less frequent than moves and ALU ops).
        match m {
            Mov => {
                let s = self.size(i)?;
                let v = self.read(i, 1, s, loc)?;
                self.write(i, s, v, loc)?;
            }
            Movzx | Movsx | Movsxd => {
                let s = self.size(i)?;
                let src_size = match i.op1_kind() {
                    OpKind::Register => {
                        gpr(i.op1_register())
                            .ok_or_else(|| unsupported(i, "register"))?
                            .1
                    }
                    _ => mem_size(i)?,
                };
                let v = self.read(i, 1, src_size, loc)?;
                let v = if m == Movzx {
                    zext_w(self.b, v, src_size * 8)
                } else {
                    sext_w(self.b, v, src_size * 8)
                };
                self.write(i, s, v, loc)?;
            }
            Cdqe => {
                let a = self.b.get(RAX);
                let v = self.b.un(UnOp::Sext32, a);
                self.b.set(RAX, v);
                self.rdx_ext = None;
            }
            Cqo | Cdq => {
                let w = if m == Cqo { 64 } else { 32 };
                let a = self.b.get(RAX);
                let s = sext_w(self.b, a, w);
                let sh = self.k(63);
                let d = self.b.bin(BinOp::Sar, s, sh);
                let d = zext_w(self.b, d, w);
                self.b.set(RDX, d);
                self.rdx_ext = Some((RdxExt::Sign, w));
            }
            Lea => {
                let s = self.size(i)?;
                let (a, off) = self.ea(i)?;
                let v = if off == 0 {
                    a
                } else {
                    let c = self.k(off as i64 as u64);
                    self.b.bin(BinOp::Add, a, c)
                };
                self.write(i, s, v, loc)?;
            }
            Add | Sub | And | Or | Xor | Cmp | Test => {
                let s = self.size(i)?;
                let w = s * 8;
                // `xor r, r` (and `sub r, r`) is the zero idiom.
                let same_reg = i.op0_kind() == OpKind::Register
                    && i.op1_kind() == OpKind::Register
                    && i.op0_register() == i.op1_register();
                let a = self.read(i, 0, s, loc)?;
                let c = self.read(i, 1, s, loc)?;
                let (op, kind) = match m {
                    Add => (BinOp::Add, 1),
                    Sub | Cmp => (BinOp::Sub, 2),
                    And | Test => (BinOp::And, 0),
                    Or => (BinOp::Or, 0),
                    _ => (BinOp::Xor, 0),
                };
                let r = if m == Cmp {
                    // Only the flags need the difference: computed on demand.
                    LAZY_RESULT
                } else if same_reg && matches!(m, Xor | Sub) {
                    self.k(0)
                } else if same_reg && matches!(m, Test | And | Or) {
                    // x & x = x | x = x: only the truncation remains.
                    zext_w(self.b, a, w)
                } else {
                    let r = self.b.bin(op, a, c);
                    zext_w(self.b, r, w)
                };
                self.flags.set(match kind {
                    1 => FlagSrc::Add { a, b: c, r, w },
                    2 => FlagSrc::Sub { a, b: c, r, w },
                    _ => FlagSrc::Logic { r, w },
                });
                if !matches!(m, Cmp | Test) {
                    self.zext_done = Some(r);
                    self.write(i, s, r, loc)?;
                    if same_reg && m == Xor && gpr(i.op0_register()) == Some((RDX, 4)) {
                        self.rdx_ext = Some((RdxExt::Zero, 32));
                    } else if same_reg && m == Xor && gpr(i.op0_register()) == Some((RDX, 8)) {
                        self.rdx_ext = Some((RdxExt::Zero, 64));
                    }
                }
            }
            Inc | Dec | Neg | Not => {
                let s = self.size(i)?;
                let w = s * 8;
                let a = self.read(i, 0, s, loc)?;
                let r = match m {
                    Not => {
                        let ones = self.k(u64::MAX);
                        self.b.bin(BinOp::Xor, a, ones)
                    }
                    Neg => {
                        let z = self.k(0);
                        self.b.bin(BinOp::Sub, z, a)
                    }
                    _ => {
                        let one = self.k(1);
                        let op = if m == Inc { BinOp::Add } else { BinOp::Sub };
                        self.b.bin(op, a, one)
                    }
                };
                let r = zext_w(self.b, r, w);
                match m {
                    Neg => {
                        let z = self.k(0);
                        self.flags.set(FlagSrc::Sub { a: z, b: a, r, w });
                    }
                    Inc | Dec => {
                        // CF survives inc/dec: the new source keeps the old carry.
                        let one = self.k(1);
                        let src = if m == Inc {
                            FlagSrc::Add { a, b: one, r, w }
                        } else {
                            FlagSrc::Sub { a, b: one, r, w }
                        };
                        self.flags.set_keeping_carry(self.b, src, i.ip());
                    }
                    _ => {}
                }
                self.zext_done = Some(r);
                self.write(i, s, r, loc)?;
            }
            Shl | Sal | Shr | Sar | Rol | Ror => {
                let s = self.size(i)?;
                let w = s * 8;
                let a = self.read(i, 0, s, loc)?;
                let mask = if w == 64 { 63 } else { 31 };
                let imm_count = match i.op1_kind() {
                    OpKind::Register => None,
                    _ => Some(i.immediate(1) & mask),
                };
                let cnt = match imm_count {
                    Some(c) => self.k(c),
                    None => {
                        let (c, _) = self.reg_read(i, i.op1_register())?;
                        let mk = self.k(mask);
                        self.b.bin(BinOp::And, c, mk)
                    }
                };
                if w < 32 && matches!(m, Rol | Ror) {
                    return Err(unsupported(i, "narrow rotate"));
                }
                let r = match m {
                    Shl | Sal => self.b.bin(BinOp::Shl, a, cnt),
                    Shr => {
                        let z = zext_w(self.b, a, w);
                        self.b.bin(BinOp::Shr, z, cnt)
                    }
                    Sar => {
                        let x = sext_w(self.b, a, w);
                        self.b.bin(BinOp::Sar, x, cnt)
                    }
                    _ => {
                        // rotate = (x << n) | (x >> ((w - n) & (w - 1))); n = 0 gives x.
                        let z = zext_w(self.b, a, w);
                        let wc = self.k(w as u64);
                        let inv = self.b.bin(BinOp::Sub, wc, cnt);
                        let mk = self.k(mask);
                        let inv = self.b.bin(BinOp::And, inv, mk);
                        let (l, rr) = if m == Rol { (cnt, inv) } else { (inv, cnt) };
                        let x = self.b.bin(BinOp::Shl, z, l);
                        let y = self.b.bin(BinOp::Shr, z, rr);
                        self.b.bin(BinOp::Or, x, y)
                    }
                };
                let r = zext_w(self.b, r, w);
                match (m, imm_count) {
                    (_, Some(0)) => {}
                    (Shl | Sal | Shr | Sar, Some(_)) => self.flags.set(FlagSrc::ZnOnly { r, w }),
                    _ => self.flags.set(FlagSrc::Unknown {
                        pc: i.ip(),
                        mnemonic: mnemonic_name(m),
                    }),
                }
                self.zext_done = Some(r);
                self.write(i, s, r, loc)?;
            }
            Imul if i.op_count() >= 2 => {
                let s = self.size(i)?;
                let (x, y) = if i.op_count() == 3 {
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
            Imul | Mul => {
                let s = self.size(i)?;
                let src = self.read(i, 0, s, loc)?;
                let a = self.b.get(RAX);
                match s {
                    8 => {
                        let lo = self.b.bin(BinOp::Mul, a, src);
                        let hop = if m == Imul { BinOp::MulH } else { BinOp::MulHU };
                        let hi = self.b.bin(hop, a, src);
                        self.b.set(RAX, lo);
                        self.b.set(RDX, hi);
                    }
                    4 => {
                        let (x, y) = if m == Imul {
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
                    mnemonic: mnemonic_name(m),
                });
            }
            Div | Idiv => {
                let s = self.size(i)?;
                let w = s * 8;
                // A zeroed rdx serves every width; a sign extension only its own.
                let ok = match self.rdx_ext {
                    Some((RdxExt::Zero, _)) => m == Div,
                    Some((RdxExt::Sign, ew)) => m == Idiv && ew == w,
                    None => false,
                };
                if !ok || !(s == 8 || s == 4) {
                    return Err(unsupported(i, "dividend rdx:rax not an extension of rax"));
                }
                let src = self.read(i, 0, s, loc)?;
                let a = self.b.get(RAX);
                let (x, y) = if m == Idiv {
                    (sext_w(self.b, a, w), sext_w(self.b, src, w))
                } else {
                    (zext_w(self.b, a, w), zext_w(self.b, src, w))
                };
                let (dop, rop) = if m == Idiv {
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
                    mnemonic: mnemonic_name(m),
                });
            }
            Sbb | Adc => {
                let s = self.size(i)?;
                let w = s * 8;
                let a = self.read(i, 0, s, loc)?;
                let c = self.read(i, 1, s, loc)?;
                let cf = self
                    .flags
                    .carry_value(self.b)
                    .map_err(|_| unsupported(i, "carry from unmodeled flags"))?;
                let op = if m == Sbb { BinOp::Sub } else { BinOp::Add };
                let t = self.b.bin(op, a, c);
                let r = self.b.bin(op, t, cf);
                let r = zext_w(self.b, r, w);
                // Flags of a - b - cf / a + b + cf: the carry out is the
                // plain one, or (with a carry in) equality at the boundary.
                let za = zext_w(self.b, a, w);
                let zc = zext_w(self.b, c, w);
                let zero = self.k(0);
                let z = self.b.setcond(Cond::Eq, r, zero);
                let top = self.k(w as u64 - 1);
                let one = self.k(1);
                let n = self.b.bin(BinOp::Shr, r, top);
                let n = self.b.bin(BinOp::And, n, one);
                let (lt, eq, v1, v2) = if m == Sbb {
                    (
                        self.b.setcond(Cond::Ltu, za, zc),
                        self.b.setcond(Cond::Eq, za, zc),
                        self.b.bin(BinOp::Xor, a, c),
                        self.b.bin(BinOp::Xor, a, r),
                    )
                } else {
                    (
                        self.b.setcond(Cond::Ltu, r, za),
                        self.b.setcond(Cond::Eq, r, za),
                        self.b.bin(BinOp::Xor, a, r),
                        self.b.bin(BinOp::Xor, c, r),
                    )
                };
                let ce = self.b.bin(BinOp::And, cf, eq);
                let carry = self.b.bin(BinOp::Or, lt, ce);
                let v = self.b.bin(BinOp::And, v1, v2);
                let v = self.b.bin(BinOp::Shr, v, top);
                let v = self.b.bin(BinOp::And, v, one);
                self.flags.set(FlagSrc::Mat(Flags { z, n, c: carry, v }));
                self.zext_done = Some(r);
                self.write(i, s, r, loc)?;
            }
            Xchg => {
                if i.op0_kind() != OpKind::Register || i.op1_kind() != OpKind::Register {
                    return Err(unsupported(i, "memory operand (implicitly locked)"));
                }
                let (x, _) = self.reg_read(i, i.op0_register())?;
                let (y, _) = self.reg_read(i, i.op1_register())?;
                self.reg_write(i, i.op0_register(), y)?;
                self.reg_write(i, i.op1_register(), x)?;
            }
            Push => {
                let v = self.read(i, 0, 8, loc)?;
                if self.size(i).unwrap_or(8) != 8 {
                    return Err(unsupported(i, "operand size"));
                }
                self.push(v, loc);
            }
            Pop => {
                if self.size(i)? != 8 {
                    return Err(unsupported(i, "operand size"));
                }
                let v = self.pop(loc);
                self.write(i, 8, v, loc)?;
            }
            Leave => {
                let bp = self.b.get(5);
                self.b.set(RSP, bp);
                let v = self.pop(loc);
                self.b.set(5, v);
            }
            Jmp => {
                return Ok(Some(match i.op0_kind() {
                    OpKind::NearBranch64 => Terminator::Jump(i.near_branch_target()),
                    _ => Terminator::JumpIndirect(self.read(i, 0, 8, loc)?),
                }))
            }
            Call => {
                let target = match i.op0_kind() {
                    OpKind::NearBranch64 => None,
                    _ => Some(self.read(i, 0, 8, loc)?),
                };
                let ra = self.k(i.next_ip());
                self.push(ra, loc);
                return Ok(Some(match target {
                    None => Terminator::Jump(i.near_branch_target()),
                    Some(t) => Terminator::JumpIndirect(t),
                }));
            }
            Ret => {
                let t = self.pop(loc);
                if i.op_count() == 1 {
                    let sp = self.b.get(RSP);
                    let c = self.k(i.immediate(0));
                    let nsp = self.b.bin(BinOp::Add, sp, c);
                    self.b.set(RSP, nsp);
                }
                return Ok(Some(Terminator::JumpIndirect(t)));
            }
            Int3 => return Ok(Some(Terminator::Breakpoint { pc: i.ip() })),
            _ if is_nop(m) => {}
            _ => match info(m).cc {
                Some(cc) => return self.conditional(i, cc, loc),
                None => return Err(unsupported(i, "")),
            },
        }
        Ok(None)
    }

    fn conditional(
        &mut self,
        i: &Instruction,
        cc: CcKind,
        loc: GuestLoc,
    ) -> Result<Option<Terminator>, Box<TranslateError>> {
        let m = i.mnemonic();
        if matches!(
            i.op0_kind(),
            OpKind::NearBranch64 | OpKind::NearBranch32 | OpKind::NearBranch16
        ) {
            let (cond, a, b) = self.cond(i, cc)?;
            return Ok(Some(Terminator::Branch {
                cond,
                a,
                b,
                taken: i.near_branch_target(),
                fallthrough: i.next_ip(),
            }));
        }
        let c = {
            let (cond, a, b) = self.cond(i, cc)?;
            self.b.setcond(cond, a, b)
        };
        if is_setcc(m) {
            self.write(i, 1, c, loc)?;
        } else {
            // cmov: a 32-bit destination is zero-extended even when not moved.
            let s = self.size(i)?;
            let old = self.read(i, 0, s, loc)?;
            let new = self.read(i, 1, s, loc)?;
            let v = select(self.b, c, new, old);
            self.write(i, s, v, loc)?;
        }
        Ok(None)
    }
}

fn is_setcc(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Sete | Setne
            | Setl
            | Setge
            | Setg
            | Setle
            | Setb
            | Setae
            | Seta
            | Setbe
            | Sets
            | Setns
            | Seto
            | Setno
    )
}

fn mnemonic_name(m: Mnemonic) -> &'static str {
    use Mnemonic::*;
    match m {
        Shl | Sal => "shl",
        Shr => "shr",
        Sar => "sar",
        Rol => "rol",
        Ror => "ror",
        Imul => "imul",
        Mul => "mul",
        Div => "div",
        Idiv => "idiv",
        Sbb => "sbb",
        Adc => "adc",
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

fn mem_size(i: &Instruction) -> Result<u32, Box<TranslateError>> {
    use iced_x86::MemorySize::*;
    Ok(match i.memory_size() {
        UInt8 | Int8 => 1,
        UInt16 | Int16 => 2,
        UInt32 | Int32 => 4,
        UInt64 | Int64 => 8,
        _ => return Err(unsupported(i, "memory operand size")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::IrBlock;

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
            assert_eq!(gpr(r), Some(want), "{r:?}");
        }
        assert_eq!(gpr(RIP), Option::None);
        assert_eq!(gpr(XMM0), Option::None);
        assert_eq!(gpr(Register::None), Option::None);
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
                        seen += 1;
                    }
                    _ => assert_eq!(immediate_of(&i, kind), None, "{:#x} {:?}", i.ip(), i.code()),
                }
            }
        }
        assert!(seen >= 50, "only {seen} immediates in the object");
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
