//! A fast decoder for the x86-64 forms gcc -O2 emits most (moves, ALU
//! operations, lea, shifts, multiplies and divides, push/pop, jumps, calls,
//! extensions, setcc/cmovcc, NOPs), straight into the lifter's record
//! ([`X86Insn`]), exactly as [`X86Insn::from_iced`] records what iced-x86's
//! decoder produces for the same bytes (every field, checked by the
//! differential tests below on every instruction of the committed object
//! and on random byte sequences).
//!
//! Why: iced decodes any instruction through a chain of opcode-handler
//! calls (two or three indirect calls per instruction, most mispredicted
//! in callgrind's branch simulation); here one 256-entry table per opcode
//! map gives the form, and the operands are read by straight-line code.
//! Anything outside the forms below (legacy prefixes, 16-bit operands,
//! SIMD, ...) is not decoded here: [`decode`] returns `false` and the
//! caller decodes it with iced, so the decoder never has to be complete.

use std::mem::MaybeUninit;

use iced_x86::{Code, Register};

use super::insn::{
    Class, X86Insn, ATTR_SCALE_SHIFT, BASE_NONE, BASE_RIP, CC_NONE, OP_BRANCH, OP_IMM, OP_MEM, OP_NONE,
};

/// How an opcode's operands are encoded (`v`: 32 or 64 bits by REX.W),
/// for building the [`Entry`] tables at compile time only: the decoder
/// reads the tables' fields and never branches on the form (a `match`
/// on it was two mispredicted jump tables per instruction, slower than
/// iced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Not decoded here.
    Bad,
    /// `op r/m(v), reg(v)`.
    EvGv,
    /// `op reg(v), r/m(v)`.
    GvEv,
    /// `op r/m8, reg8`.
    EbGb,
    /// `op reg8, r/m8`.
    GbEb,
    /// `lea reg(v), m`.
    GvM,
    /// `movsxd reg64, r/m32` (REX.W only).
    GqEd,
    /// `movzx/movsx reg(v), r/m8`.
    GvEb,
    /// `movzx/movsx reg(v), r/m16`.
    GvEw,
    /// `op al, imm8`.
    AlIb,
    /// `op eax/rax, imm32`.
    AxIz,
    /// `op r/m(v), imm32`.
    EvIz,
    /// `op r/m(v), imm8` (sign-extended).
    EvIb,
    /// `op r/m8, imm8`.
    EbIb,
    /// Shift `op r/m(v), imm8`.
    ShIb,
    /// Shift `op r/m(v), 1`.
    Sh1,
    /// Shift `op r/m(v), cl`.
    ShCl,
    /// One operand `op r/m(v)`.
    Ev,
    /// One operand `op r/m64` whatever REX.W says (call/jmp/push).
    Eq,
    /// `imul reg(v), r/m(v), imm32`.
    GvEvIz,
    /// `imul reg(v), r/m(v), imm8`.
    GvEvIb,
    /// `push/pop reg64` (register in the opcode).
    Reg64,
    /// `mov reg(v), imm32/imm64` (register in the opcode).
    MovRIv,
    /// `mov reg8, imm8` (register in the opcode).
    MovRIb,
    /// Relative branch with an 8-bit displacement.
    Rel8,
    /// Relative branch with a 32-bit displacement.
    Rel32,
    /// No operands (no REX allowed).
    Plain,
    /// No operands, code by REX.W (`cwde/cdqe`, `cdq/cqo`).
    ByW,
    /// `nop r/m(v)` (reg 0).
    NopEv,
    /// `setcc r/m8` (reg 0).
    SetEb,
    /// A ModRM group: the entry comes from [`GROUP_ENTRIES`] by ModRM.reg.
    Group,
}

/// [`Entry::flags`]: a ModRM byte follows the opcode.
const MODRM: u16 = 1;
/// The r/m operand must be memory (`lea`).
const MEM_ONLY: u16 = 2;
/// ModRM.reg must be 0.
const REG0: u16 = 4;
/// No REX prefix allowed.
const NO_REX: u16 = 8;
/// REX.W required.
const NEED_W: u16 = 16;
/// op0 is the register in the opcode's low bits (size `reg_size`).
const OPREG: u16 = 32;
/// The immediate is a relative branch displacement (operand 0).
const REL: u16 = 64;
/// An implicit immediate 1 (`shl r/m, 1`).
const IMM_ONE: u16 = 128;
/// Not decoded here.
const BAD_FORM: u16 = 256;

/// Register operand sizes ([`Entry::rm_size`], [`Entry::reg_size`]):
/// 8-bit (without / with REX), 16, 32, 64 bits, `v` = 32 or 64 by REX.W.
const SZ_B: u8 = 0;
const SZ_W: u8 = 2;
const SZ_D: u8 = 3;
const SZ_Q: u8 = 4;
const SZ_V: u8 = 5;
/// Register set by size and `W | REX << 1`: 0 = 8-bit without REX, 1 =
/// 8-bit with REX, 2/3/4 = 16/32/64 bits (8 rows so that an index masked
/// with 7 needs no bounds check).
const SIZE_ROW: [[u8; 4]; 8] = [
    [0, 0, 1, 1],
    [0, 0, 1, 1],
    [2, 2, 2, 2],
    [3, 3, 3, 3],
    [4, 4, 4, 4],
    [3, 4, 3, 4],
    [4, 4, 4, 4],
    [4, 4, 4, 4],
];
/// No operand.
const NO_OP: u8 = 4;

/// An opcode's operand layout and codes by operand size (32, 64 bits).
#[derive(Debug, Clone, Copy)]
// One entry per cache line: a 42-byte entry could straddle two.
#[repr(align(64))]
struct Entry {
    codes: [Code; 2],
    flags: u16,
    /// Group number + 1 (0: not a group).
    group: u8,
    /// Operand index of the ModRM r/m operand.
    rm_op: u8,
    /// Operand index of the ModRM reg operand ([`NO_OP`]: none).
    reg_op: u8,
    rm_size: u8,
    reg_size: u8,
    /// Immediate bytes by REX.W.
    imm_len: [u8; 2],
    /// Operand index of the immediate.
    imm_op: u8,
    /// Immediate operand descriptor ([`OP_IMM`], [`OP_BRANCH`]).
    imm_desc: u8,
    /// Sign extension of the immediate by REX.W: the shift that moves its
    /// top bit to bit 63, 0 for a zero-extended one.
    imm_sext: [u8; 2],
    /// Memory operand size in bytes by REX.W (0: none the lifter reads,
    /// as iced's `memory_size` for `lea`).
    msize: [u8; 2],
    /// An implicit register operand (by REX.W, iced number) at `fixed_op`.
    fixed_reg: [u8; 2],
    fixed_op: u8,
    /// Register numbers of the ModRM reg (and opcode register) and r/m
    /// operands by `W | REX << 1`: `base + n`, plus `hi` for n >= 4
    /// (`spl..dil`, `r8l..`): arithmetic instead of two dependent table
    /// loads (size row, then register) on the decoder's critical path.
    reg_base: [u8; 4],
    reg_hi: [u8; 4],
    rm_base: [u8; 4],
    rm_hi: [u8; 4],
    /// Lift class by REX.W (what the code's mnemonic lifts as).
    class: [Class; 2],
    /// Condition ([`X86Insn::cc`]).
    cc: u8,
}

const BAD: Entry = desc(Form::Bad, Code::INVALID, Code::INVALID);

/// The entry of `form` with codes `c32` / `c64`.
const fn desc(form: Form, c32: Code, c64: Code) -> Entry {
    let mut d = Entry {
        codes: [c32, c64],
        flags: MODRM,
        group: 0,
        rm_op: 0,
        reg_op: NO_OP,
        rm_size: SZ_V,
        reg_size: SZ_V,
        imm_len: [0, 0],
        imm_op: 1,
        imm_desc: OP_IMM,
        imm_sext: [0, 0],
        msize: [4, 8],
        fixed_reg: [0, 0],
        fixed_op: NO_OP,
        reg_base: [0; 4],
        reg_hi: [0; 4],
        rm_base: [0; 4],
        rm_hi: [0; 4],
        class: [Class::Other, Class::Other],
        cc: CC_NONE,
    };
    match form {
        Form::Bad => d.flags = BAD_FORM,
        Form::EvGv => d.reg_op = 1,
        Form::GvEv | Form::GvM | Form::GvEvIz | Form::GvEvIb | Form::GqEd | Form::GvEb | Form::GvEw => {
            d.rm_op = 1;
            d.reg_op = 0;
            match form {
                Form::GvM => d.flags |= MEM_ONLY,
                Form::GvEvIz => {
                    d.imm_len = [4, 4];
                    d.imm_op = 2;
                    d.imm_sext = [0, 32];
                }
                Form::GvEvIb => {
                    d.imm_len = [1, 1];
                    d.imm_op = 2;
                    d.imm_sext = [56, 56];
                }
                Form::GqEd => {
                    d.flags |= NEED_W;
                    d.rm_size = SZ_D;
                    d.reg_size = SZ_Q;
                }
                Form::GvEb => d.rm_size = SZ_B,
                Form::GvEw => d.rm_size = SZ_W,
                _ => {}
            }
        }
        Form::EbGb => {
            d.reg_op = 1;
            d.rm_size = SZ_B;
            d.reg_size = SZ_B;
        }
        Form::GbEb => {
            d.rm_op = 1;
            d.reg_op = 0;
            d.rm_size = SZ_B;
            d.reg_size = SZ_B;
        }
        Form::AlIb | Form::AxIz => {
            d.flags = 0;
            d.fixed_op = 0;
            if matches!(form, Form::AlIb) {
                d.fixed_reg = [Register::AL as u8, Register::AL as u8];
                d.imm_len = [1, 1];
            } else {
                d.fixed_reg = [Register::EAX as u8, Register::RAX as u8];
                d.imm_len = [4, 4];
                d.imm_sext = [0, 32];
            }
        }
        Form::EvIz => {
            d.imm_len = [4, 4];
            d.imm_sext = [0, 32];
        }
        Form::EvIb => {
            d.imm_len = [1, 1];
            d.imm_sext = [56, 56];
        }
        Form::EbIb | Form::ShIb => {
            if matches!(form, Form::EbIb) {
                d.rm_size = SZ_B;
            }
            d.imm_len = [1, 1];
        }
        Form::Sh1 => d.flags |= IMM_ONE,
        Form::ShCl => {
            d.fixed_op = 1;
            d.fixed_reg = [Register::CL as u8, Register::CL as u8];
        }
        Form::Ev => {}
        Form::Eq => d.rm_size = SZ_Q,
        Form::Reg64 | Form::MovRIv | Form::MovRIb => {
            d.flags = OPREG;
            match form {
                Form::Reg64 => d.reg_size = SZ_Q,
                Form::MovRIv => d.imm_len = [4, 8],
                _ => {
                    d.reg_size = SZ_B;
                    d.imm_len = [1, 1];
                }
            }
        }
        Form::Rel8 | Form::Rel32 => {
            d.flags = REL;
            d.imm_op = 0;
            d.imm_desc = OP_BRANCH;
            d.imm_len = if matches!(form, Form::Rel8) { [1, 1] } else { [4, 4] };
        }
        Form::Plain => d.flags = NO_REX,
        Form::ByW => d.flags = 0,
        Form::NopEv => d.flags |= REG0,
        Form::SetEb => {
            d.flags |= REG0;
            d.rm_size = SZ_B;
        }
        Form::Group => {}
    }
    // Sign-extending branch displacements.
    if d.flags & REL != 0 {
        d.imm_sext = if d.imm_len[0] == 1 { [56, 56] } else { [32, 32] };
    }
    d.msize = match d.rm_size {
        SZ_B => [1, 1],
        SZ_W => [2, 2],
        SZ_D => [4, 4],
        SZ_Q => [8, 8],
        _ => [4, 8],
    };
    if d.flags & MEM_ONLY != 0 {
        d.msize = [0, 0];
    }
    let mut wr = 0;
    while wr < 4 {
        (d.reg_base[wr], d.reg_hi[wr]) = reg_base(d.reg_size, wr);
        (d.rm_base[wr], d.rm_hi[wr]) = reg_base(d.rm_size, wr);
        wr += 1;
    }
    d
}

/// iced's number of register 0 of size `size` under `wr` (REX.W | REX
/// present << 1), and what registers 4.. add on top of `n` (iced numbers
/// AL..BL = 1..4, AH..BH = 5..8, SPL..DIL = 9..12, R8L.. = 13..20, AX.. =
/// 21, EAX.. = 37, RAX.. = 53).
const fn reg_base(size: u8, wr: usize) -> (u8, u8) {
    match SIZE_ROW[size as usize & 7][wr & 3] {
        0 => (Register::AL as u8, 0),
        1 => (Register::AL as u8, Register::SPL as u8 - Register::AH as u8),
        2 => (Register::AX as u8, 0),
        3 => (Register::EAX as u8, 0),
        _ => (Register::RAX as u8, 0),
    }
}

const fn e(form: Form, c32: Code, c64: Code) -> Entry {
    desc(form, c32, c64)
}

/// `d` lifted as `class` (both operand sizes).
const fn cl(mut d: Entry, class: Class) -> Entry {
    d.class = [class, class];
    d
}

/// `d` lifted as the conditional `class` on condition nibble `nib`; the
/// parity conditions (nibble 10, 11) are not modeled: `parity` instead.
const fn cond(mut d: Entry, class: Class, parity: Class, nib: usize) -> Entry {
    d.cc = NIBBLE_CC[nib & 15];
    d.class = if d.cc == CC_NONE { [parity, parity] } else { [class, class] };
    d
}

/// [`X86Insn::cc`] by x86 condition nibble (o, no, b, ae, e, ne, be, a,
/// s, ns, p, np, l, ge, le, g): the index into `CC_KINDS`.
const NIBBLE_CC: [u8; 16] = [12, 13, 6, 7, 0, 1, 9, 8, 10, 11, CC_NONE, CC_NONE, 2, 3, 5, 4];

/// Lift classes of the eight ALU operations (add, or, adc, sbb, and, sub,
/// xor, cmp).
const ALU_CLASS: [Class; 8] = [
    Class::Add,
    Class::Or,
    Class::Adc,
    Class::Sbb,
    Class::And,
    Class::Sub,
    Class::Xor,
    Class::Cmp,
];

/// The eight ALU operations of opcodes 00..3f (add, or, adc, sbb, and, sub,
/// xor, cmp) in their six forms each, by operation: Eb,Gb; Ev,Gv (32, 64);
/// Gb,Eb; Gv,Ev (32, 64); AL,Ib; eAX,Iz (32, 64).
const ALU: [[Code; 8]; 8] = {
    use Code::*;
    [
        [Add_rm8_r8, Add_rm32_r32, Add_rm64_r64, Add_r8_rm8, Add_r32_rm32, Add_r64_rm64, Add_AL_imm8, Add_EAX_imm32],
        [Or_rm8_r8, Or_rm32_r32, Or_rm64_r64, Or_r8_rm8, Or_r32_rm32, Or_r64_rm64, Or_AL_imm8, Or_EAX_imm32],
        [Adc_rm8_r8, Adc_rm32_r32, Adc_rm64_r64, Adc_r8_rm8, Adc_r32_rm32, Adc_r64_rm64, Adc_AL_imm8, Adc_EAX_imm32],
        [Sbb_rm8_r8, Sbb_rm32_r32, Sbb_rm64_r64, Sbb_r8_rm8, Sbb_r32_rm32, Sbb_r64_rm64, Sbb_AL_imm8, Sbb_EAX_imm32],
        [And_rm8_r8, And_rm32_r32, And_rm64_r64, And_r8_rm8, And_r32_rm32, And_r64_rm64, And_AL_imm8, And_EAX_imm32],
        [Sub_rm8_r8, Sub_rm32_r32, Sub_rm64_r64, Sub_r8_rm8, Sub_r32_rm32, Sub_r64_rm64, Sub_AL_imm8, Sub_EAX_imm32],
        [Xor_rm8_r8, Xor_rm32_r32, Xor_rm64_r64, Xor_r8_rm8, Xor_r32_rm32, Xor_r64_rm64, Xor_AL_imm8, Xor_EAX_imm32],
        [Cmp_rm8_r8, Cmp_rm32_r32, Cmp_rm64_r64, Cmp_r8_rm8, Cmp_r32_rm32, Cmp_r64_rm64, Cmp_AL_imm8, Cmp_EAX_imm32],
    ]
};
/// `op rax, imm32` of the ALU operations (the 64-bit form of `AxIz`).
const ALU_RAX: [Code; 8] = {
    use Code::*;
    [Add_RAX_imm32, Or_RAX_imm32, Adc_RAX_imm32, Sbb_RAX_imm32, And_RAX_imm32, Sub_RAX_imm32, Xor_RAX_imm32, Cmp_RAX_imm32]
};

/// Group numbers (index into [`GROUPS`] and [`GROUP_ENTRIES`]).
const G81: usize = 0;
const G83: usize = 1;
const G80: usize = 2;
const GC1: usize = 3;
const GD1: usize = 4;
const GD3: usize = 5;
const GF7: usize = 6;
const GFF: usize = 7;
const GC7: usize = 8;
const GC6: usize = 9;

/// Codes of the group forms by ModRM.reg, (32-bit, 64-bit); `INVALID`:
/// not decoded here.
const GROUPS: [[[Code; 2]; 8]; 10] = {
    use Code::*;
    const X: [Code; 2] = [INVALID, INVALID];
    [
        [
            [Add_rm32_imm32, Add_rm64_imm32],
            [Or_rm32_imm32, Or_rm64_imm32],
            [Adc_rm32_imm32, Adc_rm64_imm32],
            [Sbb_rm32_imm32, Sbb_rm64_imm32],
            [And_rm32_imm32, And_rm64_imm32],
            [Sub_rm32_imm32, Sub_rm64_imm32],
            [Xor_rm32_imm32, Xor_rm64_imm32],
            [Cmp_rm32_imm32, Cmp_rm64_imm32],
        ],
        [
            [Add_rm32_imm8, Add_rm64_imm8],
            [Or_rm32_imm8, Or_rm64_imm8],
            [Adc_rm32_imm8, Adc_rm64_imm8],
            [Sbb_rm32_imm8, Sbb_rm64_imm8],
            [And_rm32_imm8, And_rm64_imm8],
            [Sub_rm32_imm8, Sub_rm64_imm8],
            [Xor_rm32_imm8, Xor_rm64_imm8],
            [Cmp_rm32_imm8, Cmp_rm64_imm8],
        ],
        [
            [Add_rm8_imm8; 2],
            [Or_rm8_imm8; 2],
            [Adc_rm8_imm8; 2],
            [Sbb_rm8_imm8; 2],
            [And_rm8_imm8; 2],
            [Sub_rm8_imm8; 2],
            [Xor_rm8_imm8; 2],
            [Cmp_rm8_imm8; 2],
        ],
        [
            [Rol_rm32_imm8, Rol_rm64_imm8],
            [Ror_rm32_imm8, Ror_rm64_imm8],
            X,
            X,
            [Shl_rm32_imm8, Shl_rm64_imm8],
            [Shr_rm32_imm8, Shr_rm64_imm8],
            X,
            [Sar_rm32_imm8, Sar_rm64_imm8],
        ],
        [
            [Rol_rm32_1, Rol_rm64_1],
            [Ror_rm32_1, Ror_rm64_1],
            X,
            X,
            [Shl_rm32_1, Shl_rm64_1],
            [Shr_rm32_1, Shr_rm64_1],
            X,
            [Sar_rm32_1, Sar_rm64_1],
        ],
        [
            [Rol_rm32_CL, Rol_rm64_CL],
            [Ror_rm32_CL, Ror_rm64_CL],
            X,
            X,
            [Shl_rm32_CL, Shl_rm64_CL],
            [Shr_rm32_CL, Shr_rm64_CL],
            X,
            [Sar_rm32_CL, Sar_rm64_CL],
        ],
        [
            [Test_rm32_imm32, Test_rm64_imm32],
            X,
            [Not_rm32, Not_rm64],
            [Neg_rm32, Neg_rm64],
            [Mul_rm32, Mul_rm64],
            [Imul_rm32, Imul_rm64],
            [Div_rm32, Div_rm64],
            [Idiv_rm32, Idiv_rm64],
        ],
        [
            [Inc_rm32, Inc_rm64],
            [Dec_rm32, Dec_rm64],
            [Call_rm64; 2],
            X,
            [Jmp_rm64; 2],
            X,
            [Push_rm64; 2],
            X,
        ],
        [[Mov_rm32_imm32, Mov_rm64_imm32], X, X, X, X, X, X, X],
        [[Mov_rm8_imm8; 2], X, X, X, X, X, X, X],
    ]
};

/// Lift classes of the group members by ModRM.reg (`Other` where
/// [`GROUPS`] has no code).
const GROUP_CLASS: [[Class; 8]; 10] = {
    use Class::*;
    const SH: [Class; 8] = [Rol, Ror, Other, Other, Shl, Shr, Other, Sar];
    const MOV: [Class; 8] = [Mov, Other, Other, Other, Other, Other, Other, Other];
    [
        ALU_CLASS,
        ALU_CLASS,
        ALU_CLASS,
        SH,
        SH,
        SH,
        [Test, Other, Not, Neg, Mul, Imul, Div, Idiv],
        [Inc, Dec, Call, Other, Jmp, Other, Push, Other],
        MOV,
        MOV,
    ]
};

/// The form of each group's members by ModRM.reg.
const fn group_form(group: usize, reg: usize) -> Form {
    match group {
        G81 | GC7 => Form::EvIz,
        G83 => Form::EvIb,
        G80 | GC6 => Form::EbIb,
        GC1 => Form::ShIb,
        GD1 => Form::Sh1,
        GD3 => Form::ShCl,
        GF7 if reg == 0 => Form::EvIz,
        GF7 => Form::Ev,
        GFF if reg >= 2 => Form::Eq,
        _ => Form::Ev,
    }
}

/// The entries of the group members by group and ModRM.reg (16 groups so
/// that a masked index needs no bounds check; the last six are empty).
static GROUP_ENTRIES: [[Entry; 8]; 16] = {
    let mut t = [[BAD; 8]; 16];
    let mut gi = 0;
    while gi < 10 {
        let mut r = 0;
        while r < 8 {
            let c = GROUPS[gi][r];
            if c[0] as u32 != Code::INVALID as u32 {
                t[gi][r] = cl(desc(group_form(gi, r), c[0], c[1]), GROUP_CLASS[gi][r]);
                if gi == GFF && (r == 2 || r == 4) {
                    // iced's memory size of an indirect call/jmp is a code
                    // pointer, not an integer (the lifter never asks).
                    t[gi][r].msize = [0, 0];
                }
            }
            r += 1;
        }
        gi += 1;
    }
    t
};

/// A group opcode: its entry comes from [`GROUP_ENTRIES`]`[group]`.
const fn g(group: usize) -> Entry {
    let mut d = desc(Form::Group, Code::INVALID, Code::INVALID);
    d.group = group as u8 + 1;
    d
}

/// Conditional codes by the condition nibble: jcc rel8, jcc rel32,
/// setcc, cmovcc (32, 64).
const JCC8: [Code; 16] = {
    use Code::*;
    [
        Jo_rel8_64, Jno_rel8_64, Jb_rel8_64, Jae_rel8_64, Je_rel8_64, Jne_rel8_64, Jbe_rel8_64, Ja_rel8_64,
        Js_rel8_64, Jns_rel8_64, Jp_rel8_64, Jnp_rel8_64, Jl_rel8_64, Jge_rel8_64, Jle_rel8_64, Jg_rel8_64,
    ]
};
const JCC32: [Code; 16] = {
    use Code::*;
    [
        Jo_rel32_64, Jno_rel32_64, Jb_rel32_64, Jae_rel32_64, Je_rel32_64, Jne_rel32_64, Jbe_rel32_64,
        Ja_rel32_64, Js_rel32_64, Jns_rel32_64, Jp_rel32_64, Jnp_rel32_64, Jl_rel32_64, Jge_rel32_64,
        Jle_rel32_64, Jg_rel32_64,
    ]
};
const SETCC: [Code; 16] = {
    use Code::*;
    [
        Seto_rm8, Setno_rm8, Setb_rm8, Setae_rm8, Sete_rm8, Setne_rm8, Setbe_rm8, Seta_rm8, Sets_rm8,
        Setns_rm8, Setp_rm8, Setnp_rm8, Setl_rm8, Setge_rm8, Setle_rm8, Setg_rm8,
    ]
};
const CMOV: [[Code; 2]; 16] = {
    use Code::*;
    [
        [Cmovo_r32_rm32, Cmovo_r64_rm64],
        [Cmovno_r32_rm32, Cmovno_r64_rm64],
        [Cmovb_r32_rm32, Cmovb_r64_rm64],
        [Cmovae_r32_rm32, Cmovae_r64_rm64],
        [Cmove_r32_rm32, Cmove_r64_rm64],
        [Cmovne_r32_rm32, Cmovne_r64_rm64],
        [Cmovbe_r32_rm32, Cmovbe_r64_rm64],
        [Cmova_r32_rm32, Cmova_r64_rm64],
        [Cmovs_r32_rm32, Cmovs_r64_rm64],
        [Cmovns_r32_rm32, Cmovns_r64_rm64],
        [Cmovp_r32_rm32, Cmovp_r64_rm64],
        [Cmovnp_r32_rm32, Cmovnp_r64_rm64],
        [Cmovl_r32_rm32, Cmovl_r64_rm64],
        [Cmovge_r32_rm32, Cmovge_r64_rm64],
        [Cmovle_r32_rm32, Cmovle_r64_rm64],
        [Cmovg_r32_rm32, Cmovg_r64_rm64],
    ]
};

/// Forms of the one-byte opcodes.
static PRIMARY: [Entry; 256] = {
    use Code::*;
    let mut t = [BAD; 256];
    let mut op = 0;
    while op < 8 {
        let c = ALU[op];
        let base = op * 8;
        t[base] = cl(e(Form::EbGb, c[0], c[0]), ALU_CLASS[op]);
        t[base + 1] = cl(e(Form::EvGv, c[1], c[2]), ALU_CLASS[op]);
        t[base + 2] = cl(e(Form::GbEb, c[3], c[3]), ALU_CLASS[op]);
        t[base + 3] = cl(e(Form::GvEv, c[4], c[5]), ALU_CLASS[op]);
        t[base + 4] = cl(e(Form::AlIb, c[6], c[6]), ALU_CLASS[op]);
        t[base + 5] = cl(e(Form::AxIz, c[7], ALU_RAX[op]), ALU_CLASS[op]);
        op += 1;
    }
    let mut r = 0;
    while r < 8 {
        t[0x50 + r] = cl(e(Form::Reg64, Push_r64, Push_r64), Class::Push);
        t[0x58 + r] = cl(e(Form::Reg64, Pop_r64, Pop_r64), Class::Pop);
        t[0x70 + r] = cond(e(Form::Rel8, JCC8[r], JCC8[r]), Class::Jcc, Class::JccParity, r);
        t[0x78 + r] = cond(e(Form::Rel8, JCC8[8 + r], JCC8[8 + r]), Class::Jcc, Class::JccParity, 8 + r);
        t[0xb0 + r] = cl(e(Form::MovRIb, Mov_r8_imm8, Mov_r8_imm8), Class::Mov);
        t[0xb8 + r] = cl(e(Form::MovRIv, Mov_r32_imm32, Mov_r64_imm64), Class::Mov);
        r += 1;
    }
    t[0x63] = cl(e(Form::GqEd, Movsxd_r64_rm32, Movsxd_r64_rm32), Class::Movsx);
    t[0x69] = cl(e(Form::GvEvIz, Imul_r32_rm32_imm32, Imul_r64_rm64_imm32), Class::Imul);
    t[0x6b] = cl(e(Form::GvEvIb, Imul_r32_rm32_imm8, Imul_r64_rm64_imm8), Class::Imul);
    t[0x80] = g(G80);
    t[0x81] = g(G81);
    t[0x83] = g(G83);
    t[0x84] = cl(e(Form::EbGb, Test_rm8_r8, Test_rm8_r8), Class::Test);
    t[0x85] = cl(e(Form::EvGv, Test_rm32_r32, Test_rm64_r64), Class::Test);
    t[0x88] = cl(e(Form::EbGb, Mov_rm8_r8, Mov_rm8_r8), Class::Mov);
    t[0x89] = cl(e(Form::EvGv, Mov_rm32_r32, Mov_rm64_r64), Class::Mov);
    t[0x8a] = cl(e(Form::GbEb, Mov_r8_rm8, Mov_r8_rm8), Class::Mov);
    t[0x8b] = cl(e(Form::GvEv, Mov_r32_rm32, Mov_r64_rm64), Class::Mov);
    t[0x8d] = cl(e(Form::GvM, Lea_r32_m, Lea_r64_m), Class::Lea);
    t[0x90] = cl(e(Form::Plain, Nopd, Nopd), Class::Nop);
    t[0x98] = e(Form::ByW, Cwde, Cdqe);
    t[0x98].class = [Class::Other, Class::Cdqe];
    t[0x99] = e(Form::ByW, Cdq, Cqo);
    t[0x99].class = [Class::Cdq, Class::Cqo];
    t[0xa8] = cl(e(Form::AlIb, Test_AL_imm8, Test_AL_imm8), Class::Test);
    t[0xa9] = cl(e(Form::AxIz, Test_EAX_imm32, Test_RAX_imm32), Class::Test);
    t[0xc1] = g(GC1);
    t[0xc3] = cl(e(Form::Plain, Retnq, Retnq), Class::Ret);
    t[0xc6] = g(GC6);
    t[0xc7] = g(GC7);
    t[0xc9] = cl(e(Form::Plain, Leaveq, Leaveq), Class::Leave);
    t[0xcc] = cl(e(Form::Plain, Int3, Int3), Class::Int3);
    t[0xd1] = g(GD1);
    t[0xd3] = g(GD3);
    t[0xe8] = cl(e(Form::Rel32, Call_rel32_64, Call_rel32_64), Class::Call);
    t[0xe9] = cl(e(Form::Rel32, Jmp_rel32_64, Jmp_rel32_64), Class::Jmp);
    t[0xeb] = cl(e(Form::Rel8, Jmp_rel8_64, Jmp_rel8_64), Class::Jmp);
    t[0xf7] = g(GF7);
    t[0xff] = g(GFF);
    t
};

/// Forms of the two-byte opcodes `0f xx`.
static SECONDARY: [Entry; 256] = {
    use Code::*;
    let mut t = [BAD; 256];
    let mut c = 0;
    while c < 16 {
        t[0x40 + c] = cond(e(Form::GvEv, CMOV[c][0], CMOV[c][1]), Class::Cmovcc, Class::Other, c);
        t[0x80 + c] = cond(e(Form::Rel32, JCC32[c], JCC32[c]), Class::Jcc, Class::JccParity, c);
        t[0x90 + c] = cond(e(Form::SetEb, SETCC[c], SETCC[c]), Class::Setcc, Class::Other, c);
        c += 1;
    }
    t[0x1f] = cl(e(Form::NopEv, Nop_rm32, Nop_rm64), Class::Nop);
    t[0xaf] = cl(e(Form::GvEv, Imul_r32_rm32, Imul_r64_rm64), Class::Imul);
    t[0xb6] = cl(e(Form::GvEb, Movzx_r32_rm8, Movzx_r64_rm8), Class::Movzx);
    t[0xb7] = cl(e(Form::GvEw, Movzx_r32_rm16, Movzx_r64_rm16), Class::Movzx);
    t[0xbe] = cl(e(Form::GvEb, Movsx_r32_rm8, Movsx_r64_rm8), Class::Movsx);
    t[0xbf] = cl(e(Form::GvEw, Movsx_r32_rm16, Movsx_r64_rm16), Class::Movsx);
    t
};

/// Register numbers (iced's, see [`X86Insn::ops`]) by encoding.
const fn reg_row(r: [Register; 16]) -> [u8; 16] {
    let mut t = [0u8; 16];
    let mut n = 0;
    while n < 16 {
        t[n] = r[n] as u8;
        n += 1;
    }
    t
}
const R64: [u8; 16] = {
    use Register::*;
    reg_row([RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15])
};
/// The register `base + n (+ hi for n >= 4)` of [`Entry::reg_base`].
#[inline(always)]
fn reg_at(base: u8, hi: u8, n: usize) -> u8 {
    let above3 = ((n >= 4) as u8).wrapping_neg();
    base.wrapping_add(n as u8).wrapping_add(hi & above3)
}

/// Mask of an immediate of `n` bytes (1, 4 or 8).
const IMM_MASK: [u64; 9] = [0, 0xff, 0, 0, 0xffff_ffff, 0, 0, 0, u64::MAX];

/// Bytes the decoder reads from (at most 9 bytes before an immediate,
/// which is read as 8 bytes).
const WINDOW: usize = 24;

#[inline]
fn le32(b: &[u8; WINDOW], p: usize) -> u32 {
    u32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]])
}

/// Decodes the instruction at `bytes[pos..]` (guest address `ip`) into
/// `out` if it is one of the forms of this module, exactly as
/// [`X86Insn::from_iced`] records what iced-x86's 64-bit decoder decodes,
/// with the lift class and condition from the descriptor table (the
/// tests check them against the code's mnemonic), and returns its length
/// (the scan's next address stays in a register; `out` is then
/// initialized); returns 0 (leaving `out` as it was) for anything else, including instructions within
/// [`WINDOW`] bytes of the end of `bytes`.
#[inline]
pub(super) fn decode(
    bytes: &[u8],
    pos: usize,
    ip: u64,
    out: &mut MaybeUninit<X86Insn>,
) -> usize {
    let Some(b) = bytes.get(pos..pos.wrapping_add(WINDOW)) else {
        return 0;
    };
    let b: &[u8; WINDOW] = b.try_into().expect("WINDOW bytes");
    // The first eight bytes as one word: the prefix, opcode, ModRM and SIB
    // bytes (at most the first five) are shifted out of it instead of
    // loaded at offsets that depend on the bytes before them (each such
    // load was another load latency on the chain from one instruction's
    // start to the next).
    let head = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let byte_at = |p: usize| (head >> ((p & 7) * 8)) as u8;
    let b0 = head as u8;
    let has_rex = b0 & 0xf0 == 0x40;
    let rex = if has_rex { b0 } else { 0 };
    let mut p = has_rex as usize;
    let w = ((rex >> 3) & 1) as usize;
    let opc = byte_at(p);
    p += 1;
    let mut ent = if opc == 0x0f {
        p += 1;
        &SECONDARY[byte_at(p - 1) as usize]
    } else {
        &PRIMARY[opc as usize]
    };
    // W and REX decide `v` and the 8-bit set.
    let wr = w | (has_rex as usize) << 1;
    // Operand descriptors as bytes of one register (slot n at bits 8n;
    // NO_OP = slot 4 falls outside the three kept): each slot is written
    // at most once. A byte array on the stack was read back with a wider
    // load than it was written with, which the store buffer cannot
    // forward (a stall per instruction, a quarter of the scan's time).
    let mut ops = u64::from(OP_NONE);
    let (mut base, mut index, mut disp, mut msize, mut attrs) = (BASE_NONE, 0u8, 0i32, 0u8, 0u8);
    if ent.flags & MODRM != 0 {
        let m = byte_at(p);
        p += 1;
        let md = m >> 6;
        let modrm_reg = ((m >> 3) & 7) as usize;
        if ent.group != 0 {
            ent = &GROUP_ENTRIES[(ent.group as usize - 1) & 15][modrm_reg];
        }
        if ent.flags & (BAD_FORM | NEED_W | REG0) != 0
            && (ent.flags & BAD_FORM != 0
                || (ent.flags & NEED_W != 0 && w == 0)
                || (ent.flags & REG0 != 0 && modrm_reg != 0))
        {
            return 0;
        }
        // reg_op is NO_OP (slot 4, dropped) when there is none.
        let regn = modrm_reg | ((rex as usize & 4) << 1);
        ops |= u64::from(reg_at(ent.reg_base[wr & 3], ent.reg_hi[wr & 3], regn)) << ((ent.reg_op & 7) * 8);
        let rmn = (m & 7) as usize | ((rex as usize & 1) << 3);
        let rm_op = ent.rm_op & 3;
        if md == 3 {
            if ent.flags & MEM_ONLY != 0 {
                return 0;
            }
            ops |= u64::from(reg_at(ent.rm_base[wr & 3], ent.rm_hi[wr & 3], rmn)) << (rm_op * 8);
        } else {
            ops |= u64::from(OP_MEM) << (rm_op * 8);
            msize = ent.msize[w];
            if m & 7 == 4 {
                let sib = byte_at(p);
                p += 1;
                attrs = (sib >> 6) << ATTR_SCALE_SHIFT;
                let idx = ((sib >> 3) & 7) as usize | ((rex as usize & 2) << 2);
                if idx != 4 {
                    index = R64[idx];
                }
                let basen = (sib & 7) as usize | ((rex as usize & 1) << 3);
                if md == 0 && sib & 7 == 5 {
                    disp = le32(b, p) as i32;
                    p += 4;
                } else {
                    base = R64[basen];
                }
            } else if md == 0 && m & 7 == 5 {
                // rip-relative: the displacement stays relative to next_ip.
                base = BASE_RIP;
                disp = le32(b, p) as i32;
                p += 4;
            } else {
                base = R64[rmn];
            }
            if md == 1 {
                disp = b[p] as i8 as i32;
                p += 1;
            } else if md == 2 {
                disp = le32(b, p) as i32;
                p += 4;
            }
        }
    } else if ent.flags & (BAD_FORM | NO_REX) != 0 && (ent.flags & BAD_FORM != 0 || has_rex) {
        return 0;
    }
    if ent.flags & OPREG != 0 {
        let n = (opc & 7) as usize | ((rex as usize & 1) << 3);
        ops |= u64::from(reg_at(ent.reg_base[wr & 3], ent.reg_hi[wr & 3], n));
    }
    // fixed_op is NO_OP (slot 4, dropped) when there is none.
    ops |= u64::from(ent.fixed_reg[w]) << ((ent.fixed_op & 7) * 8);
    let len = ent.imm_len[w] as usize;
    let mut imm = 0;
    if len != 0 || ent.flags & IMM_ONE != 0 {
        // One 8-byte load masked to the immediate's length (no `match`),
        // then the form's sign extension.
        let word = u64::from_le_bytes(b[p..p + 8].try_into().expect("8 bytes"));
        let raw = if len == 0 { 1 } else { word & IMM_MASK[len] };
        p += len;
        ops |= u64::from(ent.imm_desc) << ((ent.imm_op & 3) * 8);
        let sh = u32::from(ent.imm_sext[w]);
        imm = ((raw << sh) as i64 >> sh) as u64;
        if ent.flags & REL != 0 {
            imm = ip.wrapping_add(p as u64).wrapping_add(imm);
        }
    }
    out.write(X86Insn {
        ip,
        imm,
        disp,
        code: ent.codes[w] as u16,
        len: p as u8,
        class: ent.class[w],
        ops: [ops as u8, (ops >> 8) as u8, (ops >> 16) as u8],
        base,
        index,
        msize,
        cc: ent.cc,
        attrs,
    });
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Instruction};

    /// [`super::decode`] into an initialized record (left as it was when
    /// the result is 0).
    fn decode(bytes: &[u8], pos: usize, ip: u64, out: &mut X86Insn) -> usize {
        let mut m = MaybeUninit::uninit();
        let n = super::decode(bytes, pos, ip, &mut m);
        if n != 0 {
            // SAFETY: a nonzero result means `decode` wrote the record.
            *out = unsafe { m.assume_init() };
        }
        n
    }

    /// What the scan records for an instruction iced decoded: its
    /// fields, class and condition from the code's mnemonic.
    fn classified(i: &Instruction) -> X86Insn {
        let mut r = X86Insn::from_iced(i);
        let ci = super::super::insn::code_info_table()[r.code as usize];
        r.class = ci.class;
        r.cc = ci.cc;
        r
    }

    /// Checks the fast decoder against iced at every byte offset of
    /// `bytes` (zero bytes padded after the end); returns how many
    /// instructions the fast decoder took.
    fn check_all_offsets(bytes: &[u8], base: u64) -> usize {
        let mut padded = bytes.to_vec();
        padded.extend_from_slice(&[0; WINDOW]);
        let mut taken = 0;
        for pos in 0..bytes.len() {
            let ip = base + pos as u64;
            let mut fast = X86Insn::default();
            if decode(&padded, pos, ip, &mut fast) == 0 {
                continue;
            }
            taken += 1;
            let mut dec = Decoder::with_ip(64, &padded[pos..], ip, DecoderOptions::NONE);
            let want = dec.decode();
            let want_rec = classified(&want);
            assert_eq!(
                fast,
                want_rec,
                "at {ip:#x} ({:02x?}): fast {:?}, iced {:?} {want:?}",
                &padded[pos..pos + want.len().max(1)],
                fast.code(),
                want.code()
            );
        }
        taken
    }

    /// Every instruction start of the committed x86-64 object, and every
    /// other byte offset of it, decodes as iced decodes it.
    #[test]
    fn fast_decoder_matches_iced_on_the_committed_object() {
        let input = crate::xarch::inputs::load_input(crate::xarch::inputs::X86_64_ELF).unwrap();
        let img = &input.image;
        // Instruction starts (linear sweep from each symbol): the fast
        // decoder must take most of them.
        let mut starts = 0;
        let mut fast_starts = 0;
        let mut padded = img.bytes.clone();
        padded.extend_from_slice(&[0; WINDOW]);
        for &(_, pc) in &input.symbols {
            let off = (pc - img.base) as usize;
            let mut dec = Decoder::with_ip(64, &img.bytes[off..], pc, DecoderOptions::NONE);
            for want in dec.iter().take(400) {
                if want.is_invalid() {
                    break;
                }
                starts += 1;
                let pos = (want.ip() - img.base) as usize;
                let mut fast = X86Insn::default();
                if decode(&padded, pos, want.ip(), &mut fast) != 0 {
                    fast_starts += 1;
                    assert_eq!(fast, classified(&want), "{:#x}: {want:?}", want.ip());
                }
            }
        }
        eprintln!("fast decoder: {fast_starts} of {starts} instruction starts");
        assert!(
            fast_starts * 10 >= starts * 9,
            "fast decoder took only {fast_starts} of {starts} instructions"
        );
        // Every offset (misaligned starts are byte soup: a good fuzz corpus).
        check_all_offsets(&img.bytes, img.base);
    }

    /// Random byte sequences, biased towards the forms the decoder takes
    /// (REX prefixes, its opcodes, all ModRM/SIB combinations).
    #[test]
    fn fast_decoder_matches_iced_on_random_bytes() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let opcodes: Vec<u8> = (0..=255u8)
            .filter(|&o| PRIMARY[o as usize].flags & BAD_FORM == 0 || o == 0x0f)
            .collect();
        let mut buf = vec![0u8; 1 << 16];
        let mut taken = 0;
        for round in 0..40 {
            for byte in buf.iter_mut() {
                let r = next();
                *byte = match (round % 4, r % 8) {
                    // Uniform bytes.
                    (0, _) => r as u8,
                    // Mostly REX prefixes and the decoder's opcodes.
                    (_, 0) => 0x40 | (r >> 8) as u8 & 15,
                    (_, 1 | 2) => opcodes[(r >> 8) as usize % opcodes.len()],
                    _ => (r >> 16) as u8,
                };
            }
            taken += check_all_offsets(&buf, 0x7fff_fff0_0000 + round * 0x1_0000);
        }
        eprintln!("fast decoder: {taken} random decodes compared");
        assert!(taken > 100_000, "only {taken} fast decodes");
    }

    /// Instructions ending near the end of the bytes are left to iced
    /// (which reports truncation), and no prefix but REX is taken.
    #[test]
    fn fast_decoder_declines_what_it_does_not_handle() {
        let mut i = X86Insn::default();
        // mov eax, ebx at the very end: fewer than WINDOW bytes left.
        assert_eq!(decode(&[0x89, 0xd8], 0, 0x1000, &mut i), 0);
        let pad = |v: &[u8]| {
            let mut b = v.to_vec();
            b.resize(WINDOW, 0x90);
            b
        };
        assert_eq!(decode(&pad(&[0x89, 0xd8]), 0, 0x1000, &mut i), 2);
        assert_eq!(i.code(), Code::Mov_rm32_r32);
        for prefixed in [
            &[0x66, 0x89, 0xd8][..], // 16-bit operand size
            &[0xf0, 0x01, 0x07],     // lock
            &[0x64, 0x8b, 0x07],     // fs:
            &[0xf3, 0xc3],           // rep ret
            &[0x48, 0x90],           // REX nop
            &[0x8d, 0xc0],           // lea with a register operand (invalid)
            &[0x0f, 0x1f, 0xc8],     // reserved nop (reg 1)
        ] {
            i = X86Insn::default();
            assert_eq!(decode(&pad(prefixed), 0, 0x1000, &mut i), 0, "{prefixed:02x?}");
        }
    }
}
