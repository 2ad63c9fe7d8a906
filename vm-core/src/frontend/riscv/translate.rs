//! RV64GC -> IR translation of one decoded basic block (F/D operations
//! without an integer lowering end the block with a helper call or the
//! interpreter fallback).
//!
//! Guest register `xN` is IR global `N`; reads of `x0` become the constant 0
//! and writes to `x0` are dropped.

use std::cell::RefCell;

use super::decode::{Inst, Lowering, Op};
use crate::ir::{BinOp, Cond, GuestLoc, IrBlock, IrBuilder, Temp, Terminator, UnOp, Width};

/// Translates the decoded block `insns` starting at guest `pc`.
///
/// A block that does not end in a control transfer (it hit the length limit
/// or an undecodable instruction) falls through to the next pc. A
/// conditional branch before the last instruction (a superblock, see
/// [`translate_superblock`]) becomes a side exit to its taken target.
pub fn translate_block(pc: u64, insns: &[Inst]) -> IrBlock {
    BUILDER.with(|b| translate_with(&mut b.borrow_mut(), pc, insns))
}

/// At most this many guest instructions in a superblock (the basic block
/// and its fall-through extension).
pub const MAX_SUPERBLOCK_INSNS: usize = 40;

/// At most this many side exits in a superblock.
pub const MAX_SIDE_EXITS: usize = 4;

/// Whether `i` is a conditional branch to a higher address (statically
/// predicted not taken: the fall-through path is the hot one).
fn forward_branch(i: &Inst) -> bool {
    matches!(
        i.op,
        Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu
    ) && i.imm > 0
}

/// Translates the basic block `insns` at `pc` for the optimizing tier,
/// extended past a final forward conditional branch into its
/// fall-through path (a superblock): the branch becomes a side exit to
/// its taken target and decoding goes on, through further forward
/// branches, up to a control transfer, [`MAX_SUPERBLOCK_INSNS`]
/// instructions (and at most `max_insns`: the engine's block length, which
/// bounds what one quantum unit retires), [`MAX_SIDE_EXITS`] side exits or
/// the end of the block's last guest page. `fetch` reads the 32 bits at a
/// guest address (None: not readable). A loop whose exit test comes first
/// (`bgeu exit` ... `bne head`) thus becomes one self-loop. The extension
/// stays within the pages the basic block already covers, so the
/// page-granular code invalidation that drops the basic block drops the
/// superblock too. Each basic block in it still counts as a block of the
/// quantum (see [`crate::ir::IrOp::SideExit`]).
pub fn translate_superblock(
    pc: u64,
    insns: &[Inst],
    max_insns: usize,
    mut fetch: impl FnMut(u64) -> Option<u32>,
) -> IrBlock {
    let max = max_insns.min(MAX_SUPERBLOCK_INSNS);
    let extend = insns.last().is_some_and(forward_branch) && insns.len() < max;
    if !extend {
        return translate_block(pc, insns);
    }
    EXTENDED.with(|e| {
        let ext = &mut *e.borrow_mut();
        ext.clear();
        ext.extend_from_slice(insns);
        let end = insns
            .iter()
            .fold(pc, |a, i| a.wrapping_add(i.len as u64));
        let last_page = (end - 1) >> 12;
        let mut cur = end;
        let mut exits = 1;
        while ext.len() < max {
            let Some(inst) = fetch(cur).and_then(|w| super::decode_parcel(w).ok()) else {
                break;
            };
            let next = cur.wrapping_add(inst.len as u64);
            if next < cur || (next - 1) >> 12 != last_page {
                break;
            }
            if inst.op.ends_block() && forward_branch(&inst) {
                if exits == MAX_SIDE_EXITS {
                    break;
                }
                exits += 1;
                ext.push(inst);
                cur = next;
                continue;
            }
            ext.push(inst);
            cur = next;
            if inst.op.ends_block() {
                break;
            }
        }
        BUILDER.with(|b| translate_with(&mut b.borrow_mut(), pc, ext))
    })
}

thread_local! {
    /// One builder per thread, reset for each block: its per-temp constant
    /// table and global map are reused, not allocated and moved per block.
    static BUILDER: RefCell<IrBuilder> = RefCell::new(IrBuilder::new());
    /// A superblock's instructions (see [`translate_superblock`]).
    static EXTENDED: RefCell<Vec<Inst>> = const { RefCell::new(Vec::new()) };
}

fn translate_with(b: &mut IrBuilder, pc: u64, insns: &[Inst]) -> IrBlock {
    // RV64IM lifts to at most 5 ops per instruction (a jalr), ~3 on average.
    b.reset(Vec::with_capacity(3 * insns.len() + 2));
    let mut cur = pc;
    let mut term = None;
    let mut count = insns.len() as u32;
    let last = insns.len().saturating_sub(1);
    for (index, i) in insns.iter().enumerate() {
        let loc = GuestLoc {
            pc: cur,
            next_pc: cur.wrapping_add(i.len as u64),
            index: index as u32,
        };
        if let Some(t) = translate_inst(b, *i, loc) {
            match t {
                // A conditional branch inside a superblock: a side exit.
                Terminator::Branch {
                    cond,
                    a,
                    b: y,
                    taken,
                    fallthrough,
                } if index < last => match (b.const_value(a), b.const_value(y)) {
                    (Some(x), Some(v)) if cond.eval(x, v) => {
                        term = Some(Terminator::Jump(taken));
                        count = index as u32 + 1;
                        break;
                    }
                    // Never taken, or not known: either way the path after
                    // it is a basic block of its own for the quantum.
                    _ => b.side_exit(cond, a, y, taken, fallthrough, index as u32),
                },
                t => {
                    term = Some(t);
                    count = index as u32 + 1;
                    break;
                }
            }
        }
        cur = loc.next_pc;
    }
    let term = term.unwrap_or(Terminator::Jump(cur));
    b.take_block(pc, count, term)
}

/// IR global of `f0` (`f{n}` is `FP + n`).
const FP: u8 = 32;

/// The upper half of a NaN-boxed single.
const NAN_BOX: u64 = 0xffff_ffff_0000_0000;

#[inline(always)]
fn reg(b: &mut IrBuilder, r: u8) -> Temp {
    if r == 0 {
        b.constant(0)
    } else {
        b.get(r)
    }
}

#[inline(always)]
fn wr(b: &mut IrBuilder, rd: u8, v: Temp) {
    if rd != 0 {
        b.set(rd, v);
    }
}

fn translate_inst(b: &mut IrBuilder, i: Inst, loc: GuestLoc) -> Option<Terminator> {
    let pc = loc.pc;
    let imm = i.imm as i64 as u64;
    let rrr = |b: &mut IrBuilder, op: BinOp, w: bool| {
        let x = reg(b, i.rs1);
        let y = reg(b, i.rs2);
        let r = b.bin(op, x, y);
        let r = if w { b.un(UnOp::Sext32, r) } else { r };
        wr(b, i.rd, r);
    };
    let rri = |b: &mut IrBuilder, op: BinOp, w: bool| {
        let x = reg(b, i.rs1);
        let y = b.constant(imm);
        let r = b.bin(op, x, y);
        let r = if w { b.un(UnOp::Sext32, r) } else { r };
        wr(b, i.rd, r);
    };
    // 32-bit ops computed on extended operands, then sign-extended:
    // `pre` extends each operand, `op` runs at 64 bits.
    let w32 = |b: &mut IrBuilder, op: BinOp, pre: UnOp, shift_imm: Option<u64>| {
        let x = reg(b, i.rs1);
        let x = b.un(pre, x);
        let y = match shift_imm {
            Some(s) => b.constant(s & 31),
            None => {
                let y = reg(b, i.rs2);
                if matches!(op, BinOp::Shl | BinOp::Shr | BinOp::Sar) {
                    let m = b.constant(31);
                    b.bin(BinOp::And, y, m)
                } else {
                    b.un(pre, y)
                }
            }
        };
        let r = b.bin(op, x, y);
        let r = b.un(UnOp::Sext32, r);
        wr(b, i.rd, r);
    };
    let load = |b: &mut IrBuilder, width: Width, signed: bool| {
        let a = reg(b, i.rs1);
        let v = b.load(a, i.imm, width, signed, loc);
        wr(b, i.rd, v);
    };
    let store = |b: &mut IrBuilder, width: Width| {
        let a = reg(b, i.rs1);
        let v = reg(b, i.rs2);
        b.store(a, i.imm, v, width, loc);
    };
    let branch = |b: &mut IrBuilder, cond: Cond| {
        let x = reg(b, i.rs1);
        let y = reg(b, i.rs2);
        Some(Terminator::Branch {
            cond,
            a: x,
            b: y,
            taken: pc.wrapping_add(imm),
            fallthrough: loc.next_pc,
        })
    };
    let slt = |b: &mut IrBuilder, cond: Cond, use_imm: bool| {
        let x = reg(b, i.rs1);
        let y = if use_imm {
            b.constant(imm)
        } else {
            reg(b, i.rs2)
        };
        let r = b.setcond(cond, x, y);
        wr(b, i.rd, r);
    };
    match i.op {
        Op::Lui => {
            let c = b.constant(imm);
            wr(b, i.rd, c);
        }
        Op::Auipc => {
            let c = b.constant(pc.wrapping_add(imm));
            wr(b, i.rd, c);
        }
        Op::Jal => {
            let c = b.constant(loc.next_pc);
            wr(b, i.rd, c);
            return Some(Terminator::Jump(pc.wrapping_add(imm)));
        }
        Op::Jalr => {
            // The target is computed before rd is written (rd may equal rs1).
            let base = reg(b, i.rs1);
            let off = b.constant(imm);
            let t = b.bin(BinOp::Add, base, off);
            let mask = b.constant(!1u64);
            let t = b.bin(BinOp::And, t, mask);
            let link = b.constant(loc.next_pc);
            wr(b, i.rd, link);
            return Some(Terminator::JumpIndirect(t));
        }
        Op::Beq => return branch(b, Cond::Eq),
        Op::Bne => return branch(b, Cond::Ne),
        Op::Blt => return branch(b, Cond::Lt),
        Op::Bge => return branch(b, Cond::Ge),
        Op::Bltu => return branch(b, Cond::Ltu),
        Op::Bgeu => return branch(b, Cond::Geu),
        Op::Lb => load(b, Width::W8, true),
        Op::Lh => load(b, Width::W16, true),
        Op::Lw => load(b, Width::W32, true),
        Op::Ld => load(b, Width::W64, false),
        Op::Lbu => load(b, Width::W8, false),
        Op::Lhu => load(b, Width::W16, false),
        Op::Lwu => load(b, Width::W32, false),
        Op::Sb => store(b, Width::W8),
        Op::Sh => store(b, Width::W16),
        Op::Sw => store(b, Width::W32),
        Op::Sd => store(b, Width::W64),
        Op::Addi => rri(b, BinOp::Add, false),
        Op::Slti => slt(b, Cond::Lt, true),
        Op::Sltiu => slt(b, Cond::Ltu, true),
        Op::Xori => rri(b, BinOp::Xor, false),
        Op::Ori => rri(b, BinOp::Or, false),
        Op::Andi => rri(b, BinOp::And, false),
        Op::Slli => rri(b, BinOp::Shl, false),
        Op::Srli => rri(b, BinOp::Shr, false),
        Op::Srai => rri(b, BinOp::Sar, false),
        Op::Add => rrr(b, BinOp::Add, false),
        Op::Sub => rrr(b, BinOp::Sub, false),
        Op::Sll => rrr(b, BinOp::Shl, false),
        Op::Slt => slt(b, Cond::Lt, false),
        Op::Sltu => slt(b, Cond::Ltu, false),
        Op::Xor => rrr(b, BinOp::Xor, false),
        Op::Srl => rrr(b, BinOp::Shr, false),
        Op::Sra => rrr(b, BinOp::Sar, false),
        Op::Or => rrr(b, BinOp::Or, false),
        Op::And => rrr(b, BinOp::And, false),
        Op::Fence => {}
        Op::FenceI => return Some(Terminator::Jump(loc.next_pc)),
        Op::Ecall => {
            return Some(Terminator::Syscall {
                pc,
                next_pc: loc.next_pc,
            })
        }
        Op::Ebreak => return Some(Terminator::Breakpoint { pc }),
        Op::Addiw => rri(b, BinOp::Add, true),
        Op::Slliw => w32(b, BinOp::Shl, UnOp::Zext32, Some(imm)),
        Op::Srliw => w32(b, BinOp::Shr, UnOp::Zext32, Some(imm)),
        Op::Sraiw => w32(b, BinOp::Sar, UnOp::Sext32, Some(imm)),
        Op::Addw => rrr(b, BinOp::Add, true),
        Op::Subw => rrr(b, BinOp::Sub, true),
        Op::Sllw => w32(b, BinOp::Shl, UnOp::Zext32, None),
        Op::Srlw => w32(b, BinOp::Shr, UnOp::Zext32, None),
        Op::Sraw => w32(b, BinOp::Sar, UnOp::Sext32, None),
        Op::Mul => rrr(b, BinOp::Mul, false),
        Op::Mulh => rrr(b, BinOp::MulH, false),
        Op::Mulhsu => rrr(b, BinOp::MulHSU, false),
        Op::Mulhu => rrr(b, BinOp::MulHU, false),
        Op::Div => rrr(b, BinOp::Div, false),
        Op::Divu => rrr(b, BinOp::DivU, false),
        Op::Rem => rrr(b, BinOp::Rem, false),
        Op::Remu => rrr(b, BinOp::RemU, false),
        Op::Mulw => rrr(b, BinOp::Mul, true),
        Op::Divw => w32(b, BinOp::Div, UnOp::Sext32, None),
        Op::Divuw => w32(b, BinOp::DivU, UnOp::Zext32, None),
        Op::Remw => w32(b, BinOp::Rem, UnOp::Sext32, None),
        Op::Remuw => w32(b, BinOp::RemU, UnOp::Zext32, None),
        // F/D operations on the raw FP register bits (f{n} is global 32 + n;
        // rd = 0 is f0, not x0; singles are NaN-boxed).
        Op::Fld => {
            let a = reg(b, i.rs1);
            let v = b.load(a, i.imm, Width::W64, false, loc);
            b.set(FP + i.rd, v);
        }
        Op::Flw => {
            let a = reg(b, i.rs1);
            let v = b.load(a, i.imm, Width::W32, false, loc);
            let boxed = b.constant(NAN_BOX);
            let v = b.bin(BinOp::Or, v, boxed);
            b.set(FP + i.rd, v);
        }
        Op::Fsd | Op::Fsw => {
            let a = reg(b, i.rs1);
            let v = b.get(FP + i.rs2);
            let width = if i.op == Op::Fsd { Width::W64 } else { Width::W32 };
            b.store(a, i.imm, v, width, loc);
        }
        Op::FmvXD => {
            let v = b.get(FP + i.rs1);
            wr(b, i.rd, v);
        }
        Op::FmvXW => {
            let v = b.get(FP + i.rs1);
            let v = b.un(UnOp::Sext32, v);
            wr(b, i.rd, v);
        }
        Op::FmvDX => {
            let v = reg(b, i.rs1);
            b.set(FP + i.rd, v);
        }
        Op::FmvWX => {
            // The box replaces the high half of rs1.
            let v = reg(b, i.rs1);
            let boxed = b.constant(NAN_BOX);
            let v = b.bin(BinOp::Or, v, boxed);
            b.set(FP + i.rd, v);
        }
        Op::FsgnjD | Op::FsgnjnD | Op::FsgnjxD => {
            let x = b.get(FP + i.rs1);
            let y = b.get(FP + i.rs2);
            let sign = b.constant(1 << 63);
            let r = match i.op {
                Op::FsgnjxD => {
                    let s = b.bin(BinOp::And, y, sign);
                    b.bin(BinOp::Xor, x, s)
                }
                op => {
                    let mag = b.constant(!(1u64 << 63));
                    let m = b.bin(BinOp::And, x, mag);
                    let y = if op == Op::FsgnjnD {
                        b.bin(BinOp::Xor, y, sign)
                    } else {
                        y
                    };
                    let s = b.bin(BinOp::And, y, sign);
                    b.bin(BinOp::Or, m, s)
                }
            };
            b.set(FP + i.rd, r);
        }
        // No native lowering (see `Inst::lowering`): such an instruction
        // ends its block. A helper instruction runs in a call after the
        // block's state is written back and the block continues after it;
        // otherwise the block leaves before it for the dispatcher to
        // interpret it. Any operation not lowered above lands here.
        _ => {
            return Some(match i.lowering() {
                Lowering::Helper => Terminator::Helper {
                    pc,
                    next_pc: loc.next_pc,
                    inst: i.pack(),
                },
                _ => Terminator::Interpret { pc },
            })
        }
    }
    None
}
