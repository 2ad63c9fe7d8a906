//! The lifter's own record of a decoded x86-64 instruction ([`X86Insn`],
//! 32 bytes): operands already resolved to what the lifter reads (register
//! numbers, the immediate extended as the instruction defines it, the
//! memory operand's parts and size), and the lift class and condition of
//! the instruction, so that neither the scan nor the lifter goes through
//! iced-x86's 40-byte `Instruction` and its accessors (a `match` on the
//! operand kind or number in most of them) or compares mnemonics.
//!
//! The fast decoder (`decode.rs`) writes these records directly; any other
//! instruction is decoded by iced-x86 and converted by
//! [`X86Insn::from_iced`], which is also the reference the fast decoder is
//! tested against (field for field, on every offset of the committed
//! object and on random bytes).

use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};

use crate::frontend::flags::CcKind;

/// Operand descriptors ([`X86Insn::op`]): 0 = no operand, 1..=68 = a
/// general-purpose register (iced's register number: AL..BH = 1..8,
/// SPL..R15L = 9..20, AX.. = 21..36, EAX.. = 37..52, RAX.. = 53..68), or
/// one of the kinds below.
pub(super) const OP_NONE: u8 = 0;
/// A register the lifter does not model (segment, vector, ...).
pub(super) const OP_OTHER_REG: u8 = 0x7f;
/// The memory operand.
pub(super) const OP_MEM: u8 = 0x80;
/// The immediate ([`X86Insn::imm`]).
pub(super) const OP_IMM: u8 = 0x81;
/// A 64-bit near branch target ([`X86Insn::imm`]).
pub(super) const OP_BRANCH: u8 = 0x82;
/// Any other operand kind (string operands, a second immediate, ...).
pub(super) const OP_OTHER: u8 = 0xff;

/// [`X86Insn::base`]: no base register.
pub(super) const BASE_NONE: u8 = 0;
/// `rip`-relative: the address is `next_ip + disp`.
pub(super) const BASE_RIP: u8 = 0xfe;
/// A 64-bit absolute address in [`X86Insn::imm`] (`mov al, [moffs64]`).
pub(super) const BASE_ABS64: u8 = 0xfd;
/// A base register the lifter does not model (`eip`, ...).
pub(super) const BASE_OTHER: u8 = 0xff;

/// [`X86Insn::attrs`]: a lock, rep or repne prefix.
pub(super) const ATTR_PREFIX: u8 = 1;
/// The memory operand has a segment other than DS/SS (an override).
pub(super) const ATTR_SEGMENT: u8 = 2;
/// [`X86Insn::attrs`] bit of log2 of the index scale (2 bits).
pub(super) const ATTR_SCALE_SHIFT: u32 = 4;

/// What the lifter does with an instruction (one value per group of
/// mnemonics it lifts alike; [`Class::Other`] is everything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Class {
    /// Not lifted (an `Unsupported` error naming the mnemonic).
    #[default]
    Other,
    /// `mov`.
    Mov,
    /// `movzx`.
    Movzx,
    /// `movsx`, `movsxd`.
    Movsx,
    /// `cdqe`.
    Cdqe,
    /// `cqo`.
    Cqo,
    /// `cdq`.
    Cdq,
    /// `lea`.
    Lea,
    /// `add`.
    Add,
    /// `sub`.
    Sub,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `xor`.
    Xor,
    /// `cmp`.
    Cmp,
    /// `test`.
    Test,
    /// `inc`.
    Inc,
    /// `dec`.
    Dec,
    /// `neg`.
    Neg,
    /// `not`.
    Not,
    /// `shl`, `sal`.
    Shl,
    /// `shr`.
    Shr,
    /// `sar`.
    Sar,
    /// `rol`.
    Rol,
    /// `ror`.
    Ror,
    /// `imul` (all forms).
    Imul,
    /// `mul`.
    Mul,
    /// `div`.
    Div,
    /// `idiv`.
    Idiv,
    /// `sbb`.
    Sbb,
    /// `adc`.
    Adc,
    /// `xchg`.
    Xchg,
    /// `push`.
    Push,
    /// `pop`.
    Pop,
    /// `leave`.
    Leave,
    /// `jmp`.
    Jmp,
    /// `call`.
    Call,
    /// `ret`.
    Ret,
    /// `int3`.
    Int3,
    /// `nop`, `endbr64`, `pause`.
    Nop,
    /// `jcc` on a modeled condition.
    Jcc,
    /// `setcc` on a modeled condition.
    Setcc,
    /// `cmovcc` on a modeled condition.
    Cmovcc,
    /// `jp`/`jnp` (a conditional jump on the parity flag: ends the scan's
    /// block, not lifted).
    JccParity,
    /// `ud2`, `hlt`, `syscall` (end the scan's block, not lifted).
    Stop,
}

/// Number of [`Class`] values.
pub(super) const NUM_CLASSES: usize = Class::Stop as usize + 1;

/// No condition ([`X86Insn::cc`]).
pub(super) const CC_NONE: u8 = 0xff;

/// Conditions by [`X86Insn::cc`] (`CcKind` as stored).
pub(super) const CC_KINDS: [CcKind; 14] = {
    use CcKind::*;
    [Eq, Ne, Lt, Ge, Gt, Le, B, Ae, A, Be, Mi, Pl, Vs, Vc]
};

/// A decoded x86-64 instruction as the scan and the lifter read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X86Insn {
    /// Guest address.
    pub(super) ip: u64,
    /// The immediate operand's value, extended as iced's
    /// `Instruction::immediate` extends it; a near branch's target; a
    /// [`BASE_ABS64`] address.
    pub(super) imm: u64,
    /// Memory displacement (for [`BASE_RIP`] relative to `next_ip`).
    pub(super) disp: i32,
    /// iced's `Code` (for messages).
    pub(super) code: u16,
    /// Length in bytes.
    pub(super) len: u8,
    /// Lift class (set by the scan from `code`).
    pub(super) class: Class,
    /// Operand descriptors (`OP_*` or a register number).
    pub(super) ops: [u8; 3],
    /// Memory base: a 64-bit register number, or `BASE_*`.
    pub(super) base: u8,
    /// Memory index register number (0: none).
    pub(super) index: u8,
    /// Memory operand size in bytes if it is 1, 2, 4 or 8 (else 0).
    pub(super) msize: u8,
    /// Condition index into [`CC_KINDS`] or [`CC_NONE`] (set by the scan).
    pub(super) cc: u8,
    /// `ATTR_*` bits, and log2 of the memory index scale at
    /// [`ATTR_SCALE_SHIFT`].
    pub(super) attrs: u8,
}

impl Default for X86Insn {
    fn default() -> Self {
        Self {
            ip: 0,
            imm: 0,
            disp: 0,
            code: 0,
            len: 0,
            class: Class::Other,
            ops: [OP_NONE; 3],
            base: BASE_NONE,
            index: 0,
            msize: 0,
            cc: CC_NONE,
            attrs: 0,
        }
    }
}

/// How an immediate operand kind extends iced's stored immediate to 64
/// bits: `IMM_VALID`, plus `IMM_SIGNED` and the shift that moves the
/// immediate's top bit to bit 63 (0 for the 64-bit form). Not an
/// immediate the lifter reads: 0.
pub(super) const fn imm_form(kind: OpKind) -> u8 {
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
/// to all 64 bits); `None` if `kind` is not one of [`imm_form`]'s forms.
pub(super) fn immediate_of(i: &Instruction, kind: OpKind) -> Option<u64> {
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

/// A register operand's descriptor: its iced number for the
/// general-purpose registers, [`OP_OTHER_REG`] for the rest.
fn reg_desc(r: Register) -> u8 {
    let n = r as usize;
    if (1..=68).contains(&n) {
        n as u8
    } else {
        OP_OTHER_REG
    }
}

/// A memory register's descriptor (base or index): a 64-bit or narrower
/// general-purpose register by iced number (the lifter rejects the
/// narrower ones as 32-bit addressing), 0 for none.
fn mem_reg(r: Register) -> u8 {
    match r {
        Register::None => 0,
        Register::RIP => BASE_RIP,
        r if (1..=68).contains(&(r as usize)) => r as u8,
        _ => BASE_OTHER,
    }
}

impl X86Insn {
    /// The record of an instruction iced-x86 decoded (the scan's fallback
    /// for forms the fast decoder does not take, and the fast decoder's
    /// reference in the tests). Class and condition are left unset: the
    /// scan sets them from the code for both decoders.
    pub(super) fn from_iced(i: &Instruction) -> Self {
        let mut r = X86Insn {
            ip: i.ip(),
            code: i.code() as u16,
            len: i.len() as u8,
            ..X86Insn::default()
        };
        let mut has_mem = false;
        for n in 0..i.op_count().min(3) {
            let kind = i.op_kind(n);
            r.ops[n as usize] = match kind {
                OpKind::Register => reg_desc(i.op_register(n)),
                OpKind::Memory => {
                    has_mem = true;
                    OP_MEM
                }
                OpKind::NearBranch64 => {
                    r.imm = i.near_branch_target();
                    OP_BRANCH
                }
                _ => match immediate_of(i, kind) {
                    Some(v) if r.ops[..n as usize].iter().all(|&o| o != OP_IMM) => {
                        r.imm = v;
                        OP_IMM
                    }
                    _ => OP_OTHER,
                },
            };
        }
        if has_mem {
            let seg = i.memory_segment();
            if seg != Register::DS && seg != Register::SS {
                r.attrs |= ATTR_SEGMENT;
            }
            r.msize = match i.memory_size() {
                iced_x86::MemorySize::UInt8 | iced_x86::MemorySize::Int8 => 1,
                iced_x86::MemorySize::UInt16 | iced_x86::MemorySize::Int16 => 2,
                iced_x86::MemorySize::UInt32 | iced_x86::MemorySize::Int32 => 4,
                iced_x86::MemorySize::UInt64 | iced_x86::MemorySize::Int64 => 8,
                _ => 0,
            };
            r.base = mem_reg(i.memory_base());
            r.index = mem_reg(i.memory_index());
            if r.index >= BASE_ABS64 {
                // rip/eip as an index does not exist; anything else
                // unmodeled is rejected through the base.
                r.index = 0;
                r.base = BASE_OTHER;
            }
            r.attrs |= (i.memory_index_scale().trailing_zeros() as u8) << ATTR_SCALE_SHIFT;
            if r.base == BASE_RIP {
                r.disp = i.memory_displacement64().wrapping_sub(i.next_ip()) as i32;
            } else {
                let d = i.memory_displacement64() as i64;
                match i32::try_from(d) {
                    Ok(d) => r.disp = d,
                    Err(_) if r.base == BASE_NONE && r.index == 0 => {
                        r.base = BASE_ABS64;
                        r.imm = d as u64;
                    }
                    // Only 32-bit addressing has such displacements with
                    // a base or an index: rejected by the lifter.
                    Err(_) => r.base = BASE_OTHER,
                }
            }
        }
        if i.has_lock_prefix() || i.has_rep_prefix() || i.has_repne_prefix() {
            r.attrs |= ATTR_PREFIX;
        }
        r
    }

    /// Guest address.
    #[inline]
    pub fn ip(&self) -> u64 {
        self.ip
    }

    /// Address of the next instruction.
    #[inline]
    pub fn next_ip(&self) -> u64 {
        self.ip.wrapping_add(u64::from(self.len))
    }

    /// log2 of the memory operand's index scale.
    #[inline]
    pub(super) fn scale_log2(&self) -> u32 {
        u32::from(self.attrs >> ATTR_SCALE_SHIFT) & 3
    }

    /// iced's code of the instruction.
    pub fn code(&self) -> Code {
        Code::try_from(self.code as usize).unwrap_or(Code::INVALID)
    }

    /// The instruction's mnemonic in lower case (for messages).
    pub(super) fn mnemonic_name(&self) -> String {
        format!("{:?}", self.code().mnemonic()).to_lowercase()
    }
}

/// The lift class and condition of an iced code (for the instructions
/// iced decodes; the fast decoder's descriptor table carries its own,
/// tested equal to these).
#[derive(Debug, Clone, Copy)]
pub(super) struct CodeInfo {
    pub(super) class: Class,
    pub(super) cc: u8,
}

/// The condition of a jcc/setcc/cmovcc mnemonic (index into
/// [`CC_KINDS`]).
fn cc_of(m: Mnemonic) -> Option<u8> {
    use Mnemonic::*;
    Some(match m {
        Je | Sete | Cmove => 0,
        Jne | Setne | Cmovne => 1,
        Jl | Setl | Cmovl => 2,
        Jge | Setge | Cmovge => 3,
        Jg | Setg | Cmovg => 4,
        Jle | Setle | Cmovle => 5,
        Jb | Setb | Cmovb => 6,
        Jae | Setae | Cmovae => 7,
        Ja | Seta | Cmova => 8,
        Jbe | Setbe | Cmovbe => 9,
        Js | Sets | Cmovs => 10,
        Jns | Setns | Cmovns => 11,
        Jo | Seto | Cmovo => 12,
        Jno | Setno | Cmovno => 13,
        _ => return None,
    })
}

impl CodeInfo {
    fn of(m: Mnemonic) -> Self {
        use Mnemonic::*;
        let cc = cc_of(m);
        let class = match m {
            Mov => Class::Mov,
            Movzx => Class::Movzx,
            Movsx | Movsxd => Class::Movsx,
            Cdqe => Class::Cdqe,
            Cqo => Class::Cqo,
            Cdq => Class::Cdq,
            Lea => Class::Lea,
            Add => Class::Add,
            Sub => Class::Sub,
            And => Class::And,
            Or => Class::Or,
            Xor => Class::Xor,
            Cmp => Class::Cmp,
            Test => Class::Test,
            Inc => Class::Inc,
            Dec => Class::Dec,
            Neg => Class::Neg,
            Not => Class::Not,
            Shl | Sal => Class::Shl,
            Shr => Class::Shr,
            Sar => Class::Sar,
            Rol => Class::Rol,
            Ror => Class::Ror,
            Imul => Class::Imul,
            Mul => Class::Mul,
            Div => Class::Div,
            Idiv => Class::Idiv,
            Sbb => Class::Sbb,
            Adc => Class::Adc,
            Xchg => Class::Xchg,
            Push => Class::Push,
            Pop => Class::Pop,
            Leave => Class::Leave,
            Jmp => Class::Jmp,
            Call => Class::Call,
            Ret => Class::Ret,
            Int3 => Class::Int3,
            Nop | Endbr64 | Pause => Class::Nop,
            Jp | Jnp => Class::JccParity,
            Ud2 | Hlt | Syscall => Class::Stop,
            Je | Jne | Jl | Jge | Jg | Jle | Jb | Jae | Ja | Jbe | Js | Jns | Jo | Jno => {
                Class::Jcc
            }
            Sete | Setne | Setl | Setge | Setg | Setle | Setb | Setae | Seta | Setbe | Sets
            | Setns | Seto | Setno => Class::Setcc,
            _ if cc.is_some() => Class::Cmovcc,
            _ => Class::Other,
        };
        Self {
            class,
            cc: cc.unwrap_or(CC_NONE),
        }
    }
}

/// [`CodeInfo`] by iced code.
pub(super) fn code_info_table() -> &'static [CodeInfo] {
    static TABLE: std::sync::OnceLock<Box<[CodeInfo]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| Code::values().map(|c| CodeInfo::of(c.mnemonic())).collect())
}
