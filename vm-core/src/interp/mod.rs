//! Reference interpreter: executes decoded RV64GC (IMAFDC, Zicsr, Zifencei) instructions directly on
//! [`CpuState`] and guest memory (flat, or translated by the MMU). Its semantics are the specification the
//! JIT is tested against.

pub mod fp;

use crate::engine::Exit;
use crate::frontend::riscv::{encode, Inst, Op};
#[cfg(test)]
use crate::memory::GuestMemory;
use crate::memory::{GuestAccess, MemFault, StoreEffect};
use crate::state::{CpuState, NO_RESERVATION};

/// Executes one decoded block starting at `pc`. Returns how the block was
/// left and the number of instructions retired (also added to `cpu.icount`).
/// `cpu.pc` is updated on every exit: the next pc, the resume pc after a
/// system call, or the pc of a faulting instruction.
#[inline]
pub fn exec_block<M: GuestAccess>(
    cpu: &mut CpuState,
    mem: &mut M,
    insns: &[Inst],
    pc: u64,
) -> (Exit, u64) {
    run_from::<M, false>(cpu, mem, insns, 0, pc, 0)
}

/// The rest of a block from its first F/D/Zicsr instruction (`start`,
/// after `n` retired ones), with the out-of-line F/D/Zicsr steps. Kept
/// out of [`exec_block`]: any call in the integer dispatch loop cost
/// the interpreter 12-17 % more host instructions (callgrind, qsort and
/// fib), so that loop leaves for this function and never comes back.
#[cold]
#[inline(never)]
fn exec_block_fp<M: GuestAccess>(
    cpu: &mut CpuState,
    mem: &mut M,
    insns: &[Inst],
    start: usize,
    pc: u64,
    n: u64,
) -> (Exit, u64) {
    run_from::<M, true>(cpu, mem, insns, start, pc, n)
}

/// Runs `insns[start..]` from `pc` after `n` retired instructions. Without
/// `FP`, an F/D/Zicsr instruction hands the rest to [`exec_block_fp`].
#[inline(always)]
fn run_from<M: GuestAccess, const FP: bool>(
    cpu: &mut CpuState,
    mem: &mut M,
    insns: &[Inst],
    start: usize,
    mut pc: u64,
    mut n: u64,
) -> (Exit, u64) {
    for (k, inst) in insns[start..].iter().enumerate() {
        n += 1;
        let step = match step(cpu, mem, *inst, pc) {
            Step::Fp if FP => step_fp(cpu, mem, *inst, pc, n - 1),
            // `step` changed nothing: the FP path runs it again.
            Step::Fp => return exec_block_fp(cpu, mem, insns, start + k, pc, n - 1),
            s => s,
        };
        match step {
            Step::Next => pc = pc.wrapping_add(inst.len as u64),
            Step::Fp => unreachable!("step_fp executes the instruction"),
            Step::Exit(e) => {
                if matches!(
                    e,
                    Exit::Fault { .. } | Exit::Breakpoint { .. } | Exit::Illegal { .. }
                ) {
                    n -= 1; // the faulting instruction did not retire
                }
                cpu.icount += n;
                cpu.pc = match e {
                    Exit::Next(t) => t,
                    Exit::CodeModified { next_pc, .. } => next_pc,
                    // ECALL has no compressed form: always 4 bytes.
                    Exit::Syscall { pc } => pc.wrapping_add(4),
                    Exit::Fault { pc, .. } | Exit::Breakpoint { pc } | Exit::Illegal { pc, .. } => {
                        pc
                    }
                    Exit::Quantum => pc,
                };
                return (e, n);
            }
        }
    }
    cpu.icount += n;
    cpu.pc = pc;
    (Exit::Next(pc), n)
}

/// Result of one instruction.
pub enum Step {
    /// Fall through to the next instruction (pc + its length).
    Next,
    /// Leave the block.
    Exit(Exit),
    /// An F/D/Zicsr instruction, not executed (`step_fp` runs it).
    Fp,
}

#[inline(always)]
fn div_s(a: i64, b: i64) -> i64 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}
#[inline(always)]
fn rem_s(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}
#[inline(always)]
fn div_u(a: u64, b: u64) -> u64 {
    a.checked_div(b).unwrap_or(u64::MAX)
}
#[inline(always)]
fn rem_u(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        a % b
    }
}
#[inline(always)]
fn sext32(v: u64) -> u64 {
    v as i32 as i64 as u64
}

/// Executes one integer instruction at `pc`; an F/D/Zicsr one changes
/// nothing and gives [`Step::Fp`].
#[inline(always)]
pub fn step<M: GuestAccess>(cpu: &mut CpuState, mem: &mut M, i: Inst, pc: u64) -> Step {
    let r = &mut cpu.globals;
    let a = r[i.rs1 as usize];
    let b = r[i.rs2 as usize];
    let imm = i.imm as i64 as u64;
    let rd = i.rd as usize;
    let next = pc.wrapping_add(i.len as u64);
    macro_rules! set {
        ($v:expr) => {{
            let v = $v;
            if rd != 0 {
                r[rd] = v;
            }
            Step::Next
        }};
    }
    macro_rules! branch {
        ($c:expr) => {{
            if $c {
                Step::Exit(Exit::Next(pc.wrapping_add(imm)))
            } else {
                Step::Exit(Exit::Next(next))
            }
        }};
    }
    macro_rules! load {
        ($size:expr, $ext:expr) => {{
            let addr = a.wrapping_add(imm);
            match mem.load(addr, $size) {
                Ok(v) => set!($ext(v)),
                Err(fault) => Step::Exit(Exit::Fault {
                    pc,
                    fault,
                    store: false,
                }),
            }
        }};
    }
    macro_rules! store {
        ($size:expr) => {{
            let addr = a.wrapping_add(imm);
            match mem.store(addr, $size, b) {
                Ok(StoreEffect::Data) => Step::Next,
                Ok(StoreEffect::CodePage(page)) => Step::Exit(Exit::CodeModified {
                    next_pc: next,
                    page,
                }),
                Err(fault) => Step::Exit(Exit::Fault {
                    pc,
                    fault,
                    store: true,
                }),
            }
        }};
    }
    match i.op {
        Op::Lui => set!(imm),
        Op::Auipc => set!(pc.wrapping_add(imm)),
        Op::Jal => {
            let _ = set!(next);
            Step::Exit(Exit::Next(pc.wrapping_add(imm)))
        }
        Op::Jalr => {
            let target = a.wrapping_add(imm) & !1;
            let _ = set!(next);
            Step::Exit(Exit::Next(target))
        }
        Op::Beq => branch!(a == b),
        Op::Bne => branch!(a != b),
        Op::Blt => branch!((a as i64) < (b as i64)),
        Op::Bge => branch!((a as i64) >= (b as i64)),
        Op::Bltu => branch!(a < b),
        Op::Bgeu => branch!(a >= b),
        Op::Lb => load!(1, |v: u64| v as i8 as i64 as u64),
        Op::Lh => load!(2, |v: u64| v as i16 as i64 as u64),
        Op::Lw => load!(4, |v: u64| v as i32 as i64 as u64),
        Op::Ld => load!(8, |v: u64| v),
        Op::Lbu => load!(1, |v: u64| v),
        Op::Lhu => load!(2, |v: u64| v),
        Op::Lwu => load!(4, |v: u64| v),
        Op::Sb => store!(1),
        Op::Sh => store!(2),
        Op::Sw => store!(4),
        Op::Sd => store!(8),
        Op::Addi => set!(a.wrapping_add(imm)),
        Op::Slti => set!(((a as i64) < (imm as i64)) as u64),
        Op::Sltiu => set!((a < imm) as u64),
        Op::Xori => set!(a ^ imm),
        Op::Ori => set!(a | imm),
        Op::Andi => set!(a & imm),
        Op::Slli => set!(a << (imm & 63)),
        Op::Srli => set!(a >> (imm & 63)),
        Op::Srai => set!(((a as i64) >> (imm & 63)) as u64),
        Op::Add => set!(a.wrapping_add(b)),
        Op::Sub => set!(a.wrapping_sub(b)),
        Op::Sll => set!(a << (b & 63)),
        Op::Slt => set!(((a as i64) < (b as i64)) as u64),
        Op::Sltu => set!((a < b) as u64),
        Op::Xor => set!(a ^ b),
        Op::Srl => set!(a >> (b & 63)),
        Op::Sra => set!(((a as i64) >> (b & 63)) as u64),
        Op::Or => set!(a | b),
        Op::And => set!(a & b),
        Op::Fence => Step::Next,
        // Translations are invalidated on stores to code pages already, so
        // FENCE.I only has to end the block.
        Op::FenceI => Step::Exit(Exit::Next(next)),
        Op::Ecall => Step::Exit(Exit::Syscall { pc }),
        Op::Ebreak => Step::Exit(Exit::Breakpoint { pc }),
        Op::Addiw => set!(sext32(a.wrapping_add(imm))),
        Op::Slliw => set!(sext32(((a as u32) << (imm & 31)) as u64)),
        Op::Srliw => set!(sext32(((a as u32) >> (imm & 31)) as u64)),
        Op::Sraiw => set!(((a as i32) >> (imm & 31)) as i64 as u64),
        Op::Addw => set!(sext32(a.wrapping_add(b))),
        Op::Subw => set!(sext32(a.wrapping_sub(b))),
        Op::Sllw => set!(sext32(((a as u32) << (b & 31)) as u64)),
        Op::Srlw => set!(sext32(((a as u32) >> (b & 31)) as u64)),
        Op::Sraw => set!(((a as i32) >> (b & 31)) as i64 as u64),
        Op::Mul => set!(a.wrapping_mul(b)),
        Op::Mulh => set!((((a as i64 as i128) * (b as i64 as i128)) >> 64) as u64),
        Op::Mulhsu => set!((((a as i64 as i128).wrapping_mul(b as i128)) >> 64) as u64),
        Op::Mulhu => set!((((a as u128) * (b as u128)) >> 64) as u64),
        Op::Div => set!(div_s(a as i64, b as i64) as u64),
        Op::Divu => set!(div_u(a, b)),
        Op::Rem => set!(rem_s(a as i64, b as i64) as u64),
        Op::Remu => set!(rem_u(a, b)),
        Op::Mulw => set!(sext32(a.wrapping_mul(b))),
        Op::Divw => set!(div_s(a as i32 as i64, b as i32 as i64) as i32 as i64 as u64),
        Op::Divuw => set!(sext32(div_u(a as u32 as u64, b as u32 as u64))),
        Op::Remw => set!(rem_s(a as i32 as i64, b as i32 as i64) as i32 as i64 as u64),
        Op::Remuw => set!(sext32(rem_u(a as u32 as u64, b as u32 as u64))),
        Op::LrW
        | Op::ScW
        | Op::AmoswapW
        | Op::AmoaddW
        | Op::AmoxorW
        | Op::AmoandW
        | Op::AmoorW
        | Op::AmominW
        | Op::AmomaxW
        | Op::AmominuW
        | Op::AmomaxuW
        | Op::LrD
        | Op::ScD
        | Op::AmoswapD
        | Op::AmoaddD
        | Op::AmoxorD
        | Op::AmoandD
        | Op::AmoorD
        | Op::AmominD
        | Op::AmomaxD
        | Op::AmominuD
        | Op::AmomaxuD => atomic(cpu, mem, i, pc),
        // F/D: loads and stores move raw bits (FLW NaN-boxes; FSW stores
        // the low 32 bits, boxed or not).
        _ => Step::Fp,
    }
}

/// One F/D/Zicsr instruction at `pc`, after `retired` instructions of the
/// block that are not yet in `cpu.icount` (the `cycle`/`instret` CSRs
/// count them). Loads and stores move raw bits through
/// guest memory (FLW NaN-boxes; FSW stores the low 32 bits, boxed or not),
/// the rest is [`fp::exec_fp`].
#[cold]
#[inline(never)]
fn step_fp<M: GuestAccess>(
    cpu: &mut CpuState,
    mem: &mut M,
    i: Inst,
    pc: u64,
    retired: u64,
) -> Step {
    let addr = cpu.globals[i.rs1 as usize].wrapping_add(i.imm as i64 as u64);
    let (size, store) = match i.op {
        Op::Flw => (4, None),
        Op::Fld => (8, None),
        Op::Fsw => (4, Some(cpu.globals[32 + i.rs2 as usize] & 0xffff_ffff)),
        Op::Fsd => (8, Some(cpu.globals[32 + i.rs2 as usize])),
        _ => {
            cpu.icount += retired;
            let r = fp::exec_fp(cpu, i);
            cpu.icount -= retired;
            return match r {
                Ok(()) => Step::Next,
                Err(fp::FpTrap::IllegalRoundingMode) => Step::Exit(Exit::Illegal {
                    pc,
                    bits: encode(&i),
                }),
            };
        }
    };
    match store {
        None => match mem.load(addr, size) {
            Ok(v) => {
                cpu.globals[32 + i.rd as usize] = if size == 4 { fp::nan_box(v) } else { v };
                Step::Next
            }
            Err(fault) => Step::Exit(Exit::Fault {
                pc,
                fault,
                store: false,
            }),
        },
        Some(v) => match mem.store(addr, size, v) {
            Ok(StoreEffect::Data) => Step::Next,
            Ok(StoreEffect::CodePage(page)) => Step::Exit(Exit::CodeModified {
                // C.FSD / C.FSDSP are 2 bytes long.
                next_pc: pc.wrapping_add(i.len as u64),
                page,
            }),
            Err(fault) => Step::Exit(Exit::Fault {
                pc,
                fault,
                store: true,
            }),
        },
    }
}

/// One A-extension instruction at `pc` (one hart: the load, the operation
/// and the store cannot interleave with another access).
///
/// - The address is `rs1`; an address not aligned to the access size
///   faults ([`MemFault::Misaligned`], reported as a store fault: RISC-V
///   reports AMO and SC faults as store/AMO faults) before any access.
/// - LR loads, sets the reservation to (address, loaded value).
/// - SC succeeds (rd = 0, stores rs2) iff the reservation's address is the
///   SC's and memory there still holds the reserved value at the SC's
///   width; otherwise rd = 1 and nothing is stored. Every SC clears the
///   reservation. A plain store by this hart to the reserved address thus
///   breaks the reservation exactly when it changes the value (QEMU's
///   rule; the spec allows either).
/// - AMOs load, compute, store the result and return the old value.
/// - `.W` forms operate on the low 32 bits and sign-extend the value
///   written to rd.
#[cold]
#[inline(never)]
fn atomic<M: GuestAccess>(cpu: &mut CpuState, mem: &mut M, i: Inst, pc: u64) -> Step {
    let word = (i.op as u8) < (Op::LrD as u8);
    let size: u64 = if word { 4 } else { 8 };
    let addr = cpu.globals[i.rs1 as usize];
    let src = cpu.globals[i.rs2 as usize];
    let fault = |fault, store| Step::Exit(Exit::Fault { pc, fault, store });
    let is_lr = matches!(i.op, Op::LrW | Op::LrD);
    if !addr.is_multiple_of(size) {
        return fault(MemFault::Misaligned { addr, size }, !is_lr);
    }
    let ext = |v: u64| if word { sext32(v) } else { v };
    let rd = i.rd as usize;
    let old = match mem.load(addr, size) {
        Ok(v) => v,
        Err(f) => return fault(f, !is_lr),
    };
    if is_lr {
        cpu.reservation = addr;
        cpu.reservation_value = old;
        if rd != 0 {
            cpu.globals[rd] = ext(old);
        }
        return Step::Next;
    }
    let new = match i.op {
        Op::ScW | Op::ScD => {
            let ok = cpu.reservation == addr
                && old == cpu.reservation_value & (u64::MAX >> (64 - 8 * size));
            cpu.reservation = NO_RESERVATION;
            if rd != 0 {
                cpu.globals[rd] = (!ok) as u64;
            }
            if !ok {
                return Step::Next;
            }
            src
        }
        Op::AmoswapW | Op::AmoswapD => src,
        Op::AmoaddW | Op::AmoaddD => old.wrapping_add(src),
        Op::AmoxorW | Op::AmoxorD => old ^ src,
        Op::AmoandW | Op::AmoandD => old & src,
        Op::AmoorW | Op::AmoorD => old | src,
        Op::AmominW => (old as i32).min(src as i32) as u32 as u64,
        Op::AmomaxW => (old as i32).max(src as i32) as u32 as u64,
        Op::AmominuW => (old as u32).min(src as u32) as u64,
        Op::AmomaxuW => (old as u32).max(src as u32) as u64,
        Op::AmominD => (old as i64).min(src as i64) as u64,
        Op::AmomaxD => (old as i64).max(src as i64) as u64,
        Op::AmominuD => old.min(src),
        _ => old.max(src), // AmomaxuD
    };
    let effect = match mem.store(addr, size, new) {
        Ok(e) => e,
        Err(f) => return fault(f, true),
    };
    if rd != 0 && !matches!(i.op, Op::ScW | Op::ScD) {
        cpu.globals[rd] = ext(old);
    }
    match effect {
        StoreEffect::Data => Step::Next,
        StoreEffect::CodePage(page) => Step::Exit(Exit::CodeModified {
            next_pc: pc.wrapping_add(4),
            page,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::riscv::decode;

    fn run1(word: u32, regs: &[(usize, u64)]) -> CpuState {
        let mut cpu = CpuState::default();
        let mut mem = GuestMemory::new(1 << 16).unwrap();
        for &(r, v) in regs {
            cpu.globals[r] = v;
        }
        let inst = decode(word).unwrap();
        exec_block(&mut cpu, &mut mem, &[inst], 0x1000);
        cpu
    }

    #[test]
    fn division_edge_cases_follow_the_riscv_spec() {
        // div a0, a1, a2 = 0x02c5c533
        let c = run1(0x02c5c533, &[(11, 7), (12, 0)]);
        assert_eq!(c.globals[10], u64::MAX);
        let c = run1(0x02c5c533, &[(11, i64::MIN as u64), (12, u64::MAX)]);
        assert_eq!(c.globals[10], i64::MIN as u64);
        // rem a0, a1, a2 = 0x02c5e533
        let c = run1(0x02c5e533, &[(11, i64::MIN as u64), (12, u64::MAX)]);
        assert_eq!(c.globals[10], 0);
        let c = run1(0x02c5e533, &[(11, 5), (12, 0)]);
        assert_eq!(c.globals[10], 5);
        // divw a0, a1, a2 = 0x02c5c53b: INT32_MIN / -1
        let c = run1(0x02c5c53b, &[(11, 0x8000_0000), (12, u64::MAX)]);
        assert_eq!(c.globals[10], 0xffff_ffff_8000_0000);
        // divuw by zero = all ones
        let c = run1(0x02c5d53b, &[(11, 9), (12, 1 << 32)]);
        assert_eq!(c.globals[10], u64::MAX);
    }

    /// `instret` and `cycle` count the instructions retired before the
    /// reading one, including earlier ones of the same block.
    #[test]
    fn counters_count_earlier_instructions_of_the_block() {
        let mut cpu = CpuState::default();
        cpu.icount = 100;
        let mut mem = GuestMemory::new(1 << 16).unwrap();
        // addi x0, x0, 0 twice; rdinstret a0; rdcycle a1; fadd.d f1, f0, f0
        let words = [0x0000_0013u32, 0x0000_0013, 0xc020_2573, 0xc000_25f3, 0x020070d3];
        let insns: Vec<Inst> = words.iter().map(|&w| decode(w).unwrap()).collect();
        let (exit, n) = exec_block(&mut cpu, &mut mem, &insns, 0x1000);
        assert!(matches!(exit, Exit::Next(0x1014)));
        assert_eq!((n, cpu.icount), (5, 105));
        assert_eq!((cpu.globals[10], cpu.globals[11]), (102, 103));
    }

    /// Dynamic rounding under a reserved frm: an illegal instruction that
    /// does not retire, with its encoding.
    #[test]
    fn reserved_dynamic_rounding_mode_is_illegal() {
        let mut cpu = CpuState::default();
        cpu.fcsr = 5 << 5;
        let mut mem = GuestMemory::new(1 << 16).unwrap();
        let insns = [decode(0x0000_0013).unwrap(), decode(0x020070d3).unwrap()];
        let (exit, n) = exec_block(&mut cpu, &mut mem, &insns, 0x1000);
        assert!(
            matches!(exit, Exit::Illegal { pc: 0x1004, bits: 0x020070d3 }),
            "{exit:?}"
        );
        assert_eq!((n, cpu.icount, cpu.pc), (1, 1, 0x1004));
    }

    #[test]
    fn w_ops_sign_extend_and_x0_stays_zero() {
        // addiw a0, a1, 1 = 0x0015851b with a1 = 0x7fffffff
        let c = run1(0x0015851b, &[(11, 0x7fff_ffff)]);
        assert_eq!(c.globals[10], 0xffff_ffff_8000_0000);
        // addi zero, zero, 5
        let c = run1(0x00500013, &[]);
        assert_eq!(c.globals[0], 0);
        // srai a0, a1, 63
        let c = run1(0x43f5d513, &[(11, 1 << 63)]);
        assert_eq!(c.globals[10], u64::MAX);
    }
}
