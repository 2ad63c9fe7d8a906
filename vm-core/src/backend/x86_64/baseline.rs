//! Baseline tier: x86-64 code straight from decoded RV64GC instructions
//! (F/D register-only operations call the FP helper, see `Lowering`),
//! one fixed host template per guest instruction (as V8's Sparkplug and
//! Wasmtime's Winch do), no IR, no optimizer, no register allocator.
//!
//! Every template loads its guest operands from the CPU state
//! (`[rbp + GLOBALS + 8 * reg]`), computes in rax / rcx / rdx (rsi for
//! `mulhsu`) and stores the result back, so guest state is exact at every
//! instruction boundary. The block frame is the optimizing tier's:
//!
//! - entry: the tier-up counter (`sub DWORD [counters + 4 * k], 1 ; jz
//!   hot`, see [`exit_code::TIER_UP`]), then the quantum (`sub r13, 1 ; jb`)
//!   and the retired-instruction count (`add r12, n`);
//! - loads and stores: the flat bounds check against
//!   `CpuState::mem_limit`, `[r15 + addr]`, and for stores the code-page
//!   check on `r14` (self-modifying code), with the same exit codes, pcs
//!   and retired counts as the optimizing tier;
//! - direct jumps: `jmp/jcc rel32` to a per-site chain stub the dispatcher
//!   patches (chaining), indirect jumps: the inline jump-cache probe;
//!   `ecall` / `ebreak`: the same exits.
//!
//! Exits are out-of-line stubs after the body, each jumping to the shared
//! exit routine. Bytes go through one reused buffer: no allocation per
//! instruction or per block once it has grown (the chain-site list of the
//! returned block aside). The flat memory model only: under the softmmu the
//! engine compiles with the optimizing tier directly.

use dynasmrt::{dynasm, AssemblyOffset, DynasmApi};

use super::backend::ChainSite;
use super::lower::{exit_bytes, fp_compare, store_imm_bytes, FpCc};
use crate::backend::exit_code;
use crate::frontend::riscv::{Inst, Lowering, Op};
use crate::state::{offsets as off, JMP_CACHE_ENTRIES};

/// The baseline tier's code buffer, reused by every block. Templates are
/// written with `dynasm!` into a [`Local`] (pre-encoded at Rust compile
/// time; only displacements, immediates and register numbers are filled in
/// at run time), or encoded by hand for the most frequent forms.
#[derive(Default)]
pub(super) struct Emit(pub(super) Vec<u8>);

/// What an out-of-line stub does.
#[derive(Clone, Copy)]
enum Stub {
    /// Quantum used up before the block ran.
    Quantum,
    /// Tier-up counter reached zero before the block ran.
    Hot,
    /// Load/store fault or store into a code page: `mov ecx, code | idx
    /// << 16 ; jmp fault_tail`. The block's shared fault tail exits with
    /// `exit_arg` = rax (the guest address), pc = the pc of instruction
    /// `idx` and instructions `idx..` of the block not retired after all
    /// (a fault: `idx` is the faulting instruction; a store into code:
    /// the one after the store). `off` is that instruction's byte offset
    /// from the block's pc: `4 * idx` in a block without compressed
    /// instructions; otherwise the stub also loads it (`mov edx, off`).
    Fault { code: u16, idx: u16, off: u32 },
    /// Direct jump not chained yet.
    Chain { target: u64 },
}

/// Reusable per-block state of the baseline tier.
#[derive(Default)]
pub(super) struct Baseline {
    pub(super) e: Emit,
    stubs: Vec<Stub>,
    /// (offset of a rel32 field, stub index it jumps to).
    jumps: Vec<(u32, u16)>,
    /// Code offset of each stub, filled when the stubs are emitted.
    stub_off: Vec<u32>,
    /// Host address the block is emitted for.
    base: usize,
    /// Host address of the shared exit routine.
    exit_addr: usize,
    /// Offset in the block of the first byte of the [`Local`] being filled.
    at: usize,
    /// Guest pc of the block.
    block_pc: u64,
    /// Every instruction of the block is 4 bytes long (no compressed one):
    /// instruction `k` is at `block_pc + 4 * k`.
    uniform: bool,
}

/// Bytes of one instruction's template (or one stub) as they are built:
/// a local array, so that emitting a byte is a store and an index
/// increment kept in registers (a `Vec` behind `&mut self` reloads its
/// length after every byte store), copied into the block in one go.
pub(super) struct Local {
    b: [u8; LOCAL_BYTES],
    n: usize,
}

/// Longest template or stub, with room to spare (the longest, a signed
/// 64-bit division or a store with its checks, are under 100 bytes).
const LOCAL_BYTES: usize = 160;

impl Local {
    fn new() -> Self {
        Self {
            b: [0; LOCAL_BYTES],
            n: 0,
        }
    }

    #[inline(always)]
    fn extend_from_slice(&mut self, s: &[u8]) {
        self.b[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
    }
}

impl Extend<u8> for Local {
    #[inline(always)]
    fn extend<T: IntoIterator<Item = u8>>(&mut self, iter: T) {
        for b in iter {
            self.push(b);
        }
    }
}

impl<'a> Extend<&'a u8> for Local {
    #[inline(always)]
    fn extend<T: IntoIterator<Item = &'a u8>>(&mut self, iter: T) {
        for &b in iter {
            self.push(b);
        }
    }
}

impl DynasmApi for Local {
    fn offset(&self) -> AssemblyOffset {
        AssemblyOffset(self.n)
    }
    #[inline(always)]
    fn push(&mut self, byte: u8) {
        self.b[self.n] = byte;
        self.n += 1;
    }
    fn align(&mut self, alignment: usize, with: u8) {
        while !self.n.is_multiple_of(alignment) {
            self.push(with)
        }
    }
}

const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;

/// x86 condition codes (the low nibble of `jcc` / `setcc`).
const CC_B: u8 = 0x2;
const CC_AE: u8 = 0x3;
const CC_E: u8 = 0x4;
const CC_NE: u8 = 0x5;
const CC_A: u8 = 0x7;
const CC_P: u8 = 0xa;
const CC_L: u8 = 0xc;
const CC_GE: u8 = 0xd;

/// `REX.W op r, [rbp + disp]` with a disp8 when it fits (`r` < 8): the
/// guest-register accesses of every template, encoded by hand.
#[inline(always)]
fn rbp_op(l: &mut Local, op: u8, r: u8, disp: i32) {
    if (-128..128).contains(&disp) {
        l.extend_from_slice(&[0x48, op, 0x45 | (r << 3), disp as u8]);
    } else {
        let d = disp.to_le_bytes();
        l.extend_from_slice(&[0x48, op, 0x85 | (r << 3), d[0], d[1], d[2], d[3]]);
    }
}

/// `op r, imm` in the `83 /ext ib` or `81 /ext id` form (ALU group 1:
/// ext 0 add, 1 or, 4 and, 5 sub, 6 xor, 7 cmp); 64-bit with `w`.
#[inline(always)]
fn imm_op(l: &mut Local, w: bool, ext: u8, r: u8, v: i32) {
    let modrm = 0xc0 | (ext << 3) | r;
    let rex: &[u8] = if w { &[0x48] } else { &[] };
    l.extend_from_slice(rex);
    if (-128..128).contains(&v) {
        l.extend_from_slice(&[0x83, modrm, v as u8]);
    } else {
        let x = v.to_le_bytes();
        l.extend_from_slice(&[0x81, modrm, x[0], x[1], x[2], x[3]]);
    }
}

/// `shl/shr/sar r, imm8` (ext 4, 5, 7); 64-bit with `w`.
#[inline(always)]
fn shift_imm(l: &mut Local, w: bool, ext: u8, r: u8, v: u8) {
    if w {
        l.extend_from_slice(&[0x48, 0xc1, 0xc0 | (ext << 3) | r, v]);
    } else {
        l.extend_from_slice(&[0xc1, 0xc0 | (ext << 3) | r, v]);
    }
}

/// The ModRM + immediate of `op r12, imm` after its REX.WB prefix.
#[inline(always)]
fn imm_op_r12(l: &mut Local, ext: u8, v: i32) {
    let modrm = 0xc4 | (ext << 3);
    if (-128..128).contains(&v) {
        l.extend_from_slice(&[0x83, modrm, v as u8]);
    } else {
        let x = v.to_le_bytes();
        l.extend_from_slice(&[0x81, modrm, x[0], x[1], x[2], x[3]]);
    }
}

const MOVSXD_RAX_EAX: [u8; 3] = [0x48, 0x63, 0xc0];

/// The upper half of a NaN-boxed single.
const NAN_BOX: u64 = 0xffff_ffff_0000_0000;

/// `mov rdx, rax ; shr rdx, 12 ; cmp BYTE [r14 + rdx], 0`: is the page
/// of the stored address marked as holding code?
const SMC_CHECK: [u8; 12] = [
    0x48, 0x89, 0xc2, 0x48, 0xc1, 0xea, 0x0c, 0x41, 0x80, 0x3c, 0x16, 0x00,
];

#[inline(always)]
fn g(r: u8) -> i32 {
    off::GLOBALS + 8 * r as i32
}

/// Whether `op` does anything besides writing `rd` (so it must be emitted
/// even when `rd` is x0).
fn has_side_effect(op: Op) -> bool {
    use Op::*;
    matches!(
        op,
        Lb | Lh
            | Lw
            | Ld
            | Lbu
            | Lhu
            | Lwu
            | Sb
            | Sh
            | Sw
            | Sd
            | Jal
            | Jalr
            | Beq
            | Bne
            | Blt
            | Bge
            | Bltu
            | Bgeu
            | Ecall
            | Ebreak
            | FenceI
    ) || !matches!(op.lowering(), Lowering::Native)
        // rd = 0 of an F/D operation is f0 (or the op has no integer rd).
        || op.is_fp_or_csr()
}

/// `[rbp + disp]` of FP register `f{r}` (IR global `32 + r`).
fn f(r: u8) -> i32 {
    g(32 + r)
}

/// 32-bit form of `Baseline::alu_rr` (dynasm), then sign-extends the result.
macro_rules! alu_rr_w {
    ($s:ident, $l:ident, $i:ident, $($op:tt)*) => {{
        $s.ld($l, RAX, $i.rs1);
        if $i.rs2 == 0 {
            asm!($l; xor ecx, ecx ; $($op)* eax, ecx);
        } else {
            let d = g($i.rs2);
            asm!($l; $($op)* eax, DWORD [rbp + d]);
        }
        asm!($l; movsxd rax, eax);
    }};
}

impl Baseline {
    /// `r = guest register src` (0 for x0).
    #[inline(always)]
    fn ld(&mut self, l: &mut Local, r: u8, src: u8) {
        if src == 0 {
            l.extend_from_slice(&[0x31, 0xc0 | (r << 3) | r]); // xor r32, r32
        } else {
            rbp_op(l, 0x8b, r, g(src));
        }
    }

    /// `guest register dst = r` (dropped for x0).
    #[inline(always)]
    fn st(&mut self, l: &mut Local, dst: u8, r: u8) {
        if dst != 0 {
            rbp_op(l, 0x89, r, g(dst));
        }
    }

    /// `[rbp + disp] = v` (clobbers rcx for values that need 64 bits).
    #[inline(always)]
    fn store_imm(&mut self, l: &mut Local, disp: i32, v: u64) {
        if (-128..128).contains(&disp) && super::lower::fits_i32(v) {
            let x = (v as i32).to_le_bytes();
            l.extend_from_slice(&[0x48, 0xc7, 0x45, disp as u8, x[0], x[1], x[2], x[3]]);
        } else {
            let (b, n) = store_imm_bytes(disp, v);
            l.extend_from_slice(&b[..n]);
        }
    }

    /// `rax = rs1 op rs2` for a two-operand ALU `op rax, r/m64` (opcode
    /// `op`), the second operand read straight from the CPU state.
    #[inline(always)]
    fn alu_rr(&mut self, l: &mut Local, op: u8, i: &Inst) {
        self.ld(l, RAX, i.rs1);
        if i.rs2 == 0 {
            l.extend_from_slice(&[0x31, 0xc9, 0x48, op, 0xc1]); // xor ecx, ecx ; op rax, rcx
        } else {
            rbp_op(l, op, RAX, g(i.rs2));
        }
    }

    /// `jcc rel32` (`cc` = None: `jmp rel32`) to stub `stub`.
    #[inline(always)]
    fn jump(&mut self, l: &mut Local, cc: Option<u8>, stub: u16) {
        match cc {
            Some(c) => l.extend_from_slice(&[0x0f, 0x80 | c, 0, 0, 0, 0]),
            None => l.extend_from_slice(&[0xe9, 0, 0, 0, 0]),
        }
        self.jumps.push(((self.at + l.n) as u32 - 4, stub));
    }

    #[inline(always)]
    fn stub(&mut self, s: Stub) -> u16 {
        self.stubs.push(s);
        (self.stubs.len() - 1) as u16
    }

    /// Short `jcc rel8` (`cc` = None: `jmp rel8`) to a point bound later
    /// by [`Self::bind8`]; returns the position of its rel8.
    #[inline(always)]
    fn jump8(&mut self, l: &mut Local, cc: Option<u8>) -> usize {
        match cc {
            Some(c) => l.extend_from_slice(&[0x70 | c, 0]),
            None => l.extend_from_slice(&[0xeb, 0]),
        }
        l.n - 1
    }

    #[inline(always)]
    fn bind8(&mut self, l: &mut Local, at: usize) {
        let rel = l.n - (at + 1);
        debug_assert!(rel < 128);
        l.b[at] = rel as u8;
    }

    /// Appends the bytes of `l` to the block's code: a copy of fixed
    /// size between two arrays (a few vector moves; a `Vec` append of
    /// `l.n` bytes, or even of a constant 64, was a call into `memmove`,
    /// a fifth of the baseline tier's time by `perf`). The block buffer is
    /// sized for the block's worst case up front (see [`Self::block`]);
    /// bytes past `at` are overwritten by the next flush.
    #[inline(always)]
    fn flush(&mut self, l: &mut Local) {
        let at = self.at;
        if l.n <= 64 {
            let src: &[u8; 64] = l.b[..64].try_into().expect("64 bytes");
            let dst: &mut [u8; 64] = (&mut self.e.0[at..at + 64]).try_into().expect("64 bytes");
            *dst = *src;
        } else {
            let dst: &mut [u8; LOCAL_BYTES] = (&mut self.e.0[at..at + LOCAL_BYTES])
                .try_into()
                .expect("LOCAL_BYTES");
            *dst = l.b;
        }
        self.at += l.n;
        l.n = 0;
    }

    /// The last block's code.
    pub(super) fn code(&self) -> &[u8] {
        &self.e.0[..self.at]
    }

    /// `rax = rs1 + imm` (a guest address).
    #[inline(always)]
    fn addr(&mut self, l: &mut Local, i: &Inst) {
        if i.rs1 == 0 {
            let x = i.imm.to_le_bytes();
            l.extend_from_slice(&[0x48, 0xc7, 0xc0, x[0], x[1], x[2], x[3]]); // mov rax, imm32
        } else {
            self.ld(l, RAX, i.rs1);
            if i.imm != 0 {
                imm_op(l, true, 0, RAX, i.imm);
            }
        }
    }

    /// `cmp rax, mem_limit[log2] ; ja fault`: the flat bounds check.
    #[inline(always)]
    fn bounds(&mut self, l: &mut Local, log2: u32, code: u64, idx: u16, pc: u64) {
        let lim = off::MEM_LIMIT + 8 * log2 as i32;
        rbp_op(l, 0x3b, RAX, lim); // cmp rax, [rbp + lim]
        let s = self.stub(Stub::Fault {
            code: (code | ((log2 as u64) << 8)) as u16,
            idx,
            off: pc.wrapping_sub(self.block_pc) as u32,
        });
        self.jump(l, Some(CC_A), s);
    }

    /// `rax = rs1 cmp rs2` as 0 / 1 (`imm` replaces rs2 when given).
    #[inline(always)]
    fn set_cc(&mut self, l: &mut Local, i: &Inst, cc: u8, imm: bool) {
        self.ld(l, RAX, i.rs1);
        if imm {
            imm_op(l, true, 7, RAX, i.imm);
        } else if i.rs2 == 0 {
            asm!(l; cmp rax, 0);
        } else {
            let d = g(i.rs2);
            asm!(l; cmp rax, QWORD [rbp + d]);
        }
        l.extend_from_slice(&[0x0f, 0x90 | cc, 0xc0, 0x0f, 0xb6, 0xc0]); // setcc al ; movzx eax, al
    }

    /// RISC-V division and remainder (`x / 0 = -1`, `x % 0 = x`,
    /// `MIN / -1 = MIN`, `MIN % -1 = 0`); `w`: 32-bit form, operands
    /// extended (signed: sign-, else zero-extended) and the result
    /// sign-extended. Result in rax.
    fn div(&mut self, l: &mut Local, i: &Inst, signed: bool, rem: bool, w: bool) {
        self.ld(l, RAX, i.rs1);
        self.ld(l, RCX, i.rs2);
        match (w, signed) {
            (true, true) => asm!(l; movsxd rax, eax ; movsxd rcx, ecx),
            (true, false) => asm!(l; mov eax, eax ; mov ecx, ecx),
            _ => {}
        }
        asm!(l; test rcx, rcx);
        let zero = self.jump8(l, Some(CC_E));
        let mut done = [0usize; 2];
        let mut nd = 0;
        let mut norm = [0usize; 2];
        let mut nn = 0;
        if signed && !w {
            // Sign-extended 32-bit operands cannot be i64::MIN.
            asm!(l; cmp rcx, -1);
            norm[0] = self.jump8(l, Some(CC_NE));
            asm!(l; mov rdx, QWORD i64::MIN ; cmp rax, rdx);
            norm[1] = self.jump8(l, Some(CC_NE));
            nn = 2;
            if rem {
                asm!(l; xor eax, eax);
            }
            done[nd] = self.jump8(l, None);
            nd += 1;
        }
        for &n in &norm[..nn] {
            self.bind8(l, n);
        }
        if signed {
            asm!(l; cqo ; idiv rcx);
        } else {
            asm!(l; xor edx, edx ; div rcx);
        }
        if rem {
            asm!(l; mov rax, rdx);
        }
        done[nd] = self.jump8(l, None);
        nd += 1;
        self.bind8(l, zero);
        if !rem {
            asm!(l; mov rax, -1);
        }
        for &d in &done[..nd] {
            self.bind8(l, d);
        }
        if w {
            asm!(l; movsxd rax, eax);
        }
    }


    /// Emits the block `insns` at guest `pc` into `self.e`, placed at host
    /// `base` in a region starting at `region_base` whose exit routine is
    /// at `exit`; appends its chain sites to `sites`. `counter`: index of
    /// the block's tier-up counter (none: never tiers up).
    pub(super) fn block(
        &mut self,
        pc: u64,
        insns: &[Inst],
        counter: Option<u32>,
        (base, exit, region_base): (usize, usize, usize),
        sites: &mut Vec<ChainSite>,
    ) {
        // Worst case: every instruction's template and two stubs, the
        // tails, and a full `Local` of slack for the fixed-size copies.
        let need = insns.len() * (LOCAL_BYTES + 2 * 32) + 4 * LOCAL_BYTES;
        if self.e.0.len() < need {
            self.e.0.resize(need, 0);
        }
        self.stubs.clear();
        self.jumps.clear();
        self.stub_off.clear();
        self.base = base;
        self.exit_addr = exit;
        self.at = 0;
        self.block_pc = pc;
        self.uniform = insns.iter().all(|i| i.len == 4);
        let l = &mut Local::new();
        let n = insns.len() as u32;
        if let Some(k) = counter {
            let d = 4 * k as i32;
            rbp_op(l, 0x8b, RAX, off::TIER_COUNTERS);
            let x = d.to_le_bytes();
            l.extend_from_slice(&[0x83, 0xa8, x[0], x[1], x[2], x[3], 1]); // sub DWORD [rax + d32], 1
            let s = self.stub(Stub::Hot);
            self.jump(l, Some(CC_E), s);
        }
        l.extend_from_slice(&[0x49, 0x83, 0xed, 1]); // sub r13, 1
        let s = self.stub(Stub::Quantum);
        self.jump(l, Some(CC_B), s);
        let nn = n as i32;
        l.extend_from_slice(&[0x49]);
        imm_op_r12(l, 0, nn); // add r12, n
        self.flush(l);
        let mut cur = pc;
        let mut ended = false;
        for (idx, i) in insns.iter().enumerate() {
            let next = cur.wrapping_add(i.len as u64);
            self.inst(l, i, cur, next, idx as u16);
            self.flush(l);
            cur = next;
            if i.op.ends_block() {
                ended = true;
                break;
            }
        }
        if !ended {
            // Length limit or an undecodable word: fall through.
            let s = self.stub(Stub::Chain { target: cur });
            self.jump(l, None, s);
            self.flush(l);
        }
        // Out-of-line stubs: first the shared fault tail (rax = guest
        // address, ecx = exit code | instruction index << 16), which the
        // per-site fault stubs after it jump back to.
        let mut tail = 0;
        if self.stubs.iter().any(|s| matches!(s, Stub::Fault { .. })) {
            tail = self.at;
            rbp_op(l, 0x89, RAX, off::EXIT_ARG);
            // movzx eax, cx ; shr ecx, 16 ; sub r12, n ; add r12, rcx
            l.extend_from_slice(&[0x0f, 0xb7, 0xc1, 0xc1, 0xe9, 0x10, 0x49]);
            imm_op_r12(l, 5, n as i32);
            l.extend_from_slice(&[0x49, 0x01, 0xcc]);
            let last = pc.wrapping_add(4 * n as u64);
            if !self.uniform {
                // The stub loaded the instruction's offset into edx.
                if pc < 0x7fff_0000 {
                    // lea rcx, [rdx + pc]
                    let x = (pc as u32).to_le_bytes();
                    l.extend_from_slice(&[0x48, 0x8d, 0x8a, x[0], x[1], x[2], x[3]]);
                } else {
                    // mov rcx, pc ; add rcx, rdx
                    let x = pc.to_le_bytes();
                    l.extend_from_slice(&[0x48, 0xb9, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
                    l.extend_from_slice(&[0x48, 0x01, 0xd1]);
                }
            } else if pc < 0x7fff_0000 && last < 0x7fff_0000 {
                // lea rcx, [rcx * 4 + pc]
                let x = (pc as u32).to_le_bytes();
                l.extend_from_slice(&[0x48, 0x8d, 0x0c, 0x8d, x[0], x[1], x[2], x[3]]);
            } else {
                // mov rdx, pc ; lea rcx, [rdx + rcx * 4]
                let x = pc.to_le_bytes();
                l.extend_from_slice(&[0x48, 0xba, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
                l.extend_from_slice(&[0x48, 0x8d, 0x0c, 0x8a]);
            }
            rbp_op(l, 0x89, RCX, off::PC);
            self.jmp_exit(l);
            self.flush(l);
        }
        // The entry exits (quantum, tier-up) share `pc = block pc ; jmp
        // exit` with the exit code in eax.
        let pc_tail = self.at;
        self.store_imm(l, off::PC, pc);
        self.jmp_exit(l);
        self.flush(l);
        // Two or more chain exits to 32-bit pcs share `pc = rdx ; exit_arg
        // = rcx ; exit CHAIN`.
        let mut n_chains = 0;
        let mut narrow = true;
        for st in &self.stubs {
            if let Stub::Chain { target } = *st {
                n_chains += 1;
                narrow &= target <= u32::MAX as u64;
            }
        }
        let chain_tail = (n_chains >= 2 && narrow).then_some(self.at);
        if chain_tail.is_some() {
            rbp_op(l, 0x89, RDX, off::PC);
            rbp_op(l, 0x89, RCX, off::EXIT_ARG);
            self.exit(l, exit_code::CHAIN);
            self.flush(l);
        }
        for k in 0..self.stubs.len() {
            self.stub_off.push(self.at as u32);
            match self.stubs[k] {
                Stub::Quantum => {
                    let x = (exit_code::QUANTUM as u32).to_le_bytes();
                    // xor r13d, r13d ; mov eax, QUANTUM
                    l.extend_from_slice(&[0x45, 0x31, 0xed, 0xb8, x[0], x[1], x[2], x[3]]);
                    self.jmp_back(l, pc_tail);
                }
                Stub::Hot => {
                    let x = (exit_code::TIER_UP as u32).to_le_bytes();
                    l.extend_from_slice(&[0xb8, x[0], x[1], x[2], x[3]]); // mov eax, TIER_UP
                    self.jmp_back(l, pc_tail);
                }
                Stub::Fault { code, idx, off } => {
                    let x = (code as u32 | (idx as u32) << 16).to_le_bytes();
                    l.extend_from_slice(&[0xb9, x[0], x[1], x[2], x[3]]); // mov ecx, imm32
                    if !self.uniform {
                        let y = off.to_le_bytes();
                        l.extend_from_slice(&[0xba, y[0], y[1], y[2], y[3]]); // mov edx, off
                    }
                    self.jmp_back(l, tail);
                }
                Stub::Chain { target } => {
                    // The site's rel32 is the (only) jump to this stub.
                    let at = self
                        .jumps
                        .iter()
                        .find(|j| j.1 as usize == k)
                        .map_or(0, |j| j.0 as usize);
                    let patch_addr = base + at;
                    let site = patch_addr - region_base;
                    if let Some(t) = chain_tail {
                        let x = (target as u32).to_le_bytes();
                        let y = (site as u32).to_le_bytes();
                        // mov edx, target ; mov ecx, site
                        l.extend_from_slice(&[0xba, x[0], x[1], x[2], x[3]]);
                        l.extend_from_slice(&[0xb9, y[0], y[1], y[2], y[3]]);
                        self.jmp_back(l, t);
                    } else {
                        self.store_imm(l, off::PC, target);
                        self.store_imm(l, off::EXIT_ARG, site as u64);
                        self.exit(l, exit_code::CHAIN);
                    }
                    sites.push(ChainSite {
                        patch_addr,
                        stub_addr: base + self.stub_off[k] as usize,
                        target_pc: target,
                    });
                }
            }
            self.flush(l);
        }
        for &(at, s) in &self.jumps {
            let rel = self.stub_off[s as usize] as i32 - (at as i32 + 4);
            self.e.0[at as usize..at as usize + 4].copy_from_slice(&rel.to_le_bytes());
        }
    }

    /// `jmp` back to block offset `to` (already emitted).
    #[inline(always)]
    fn jmp_back(&mut self, l: &mut Local, to: usize) {
        let rel = to as i64 - (self.at + l.n + 2) as i64;
        if rel >= -128 {
            l.extend_from_slice(&[0xeb, rel as u8]);
        } else {
            l.extend_from_slice(&[0xe9]);
            l.extend_from_slice(&((rel - 3) as i32).to_le_bytes());
        }
    }

    /// `jmp exit` (the exit code already in eax).
    #[inline(always)]
    fn jmp_exit(&mut self, l: &mut Local) {
        let rel = self.exit_addr as i64 - (self.base + self.at + l.n + 5) as i64;
        l.extend_from_slice(&[0xe9]);
        l.extend_from_slice(&(rel as i32).to_le_bytes());
    }

    /// `mov eax, code ; jmp exit`.
    #[inline(always)]
    fn exit(&mut self, l: &mut Local, code: u64) {
        let rel = self.exit_addr as i64 - (self.base + self.at + l.n + 10) as i64;
        l.extend_from_slice(&exit_bytes(code, rel as i32));
    }

    /// Instruction `idx` of the block, at `pc`.
    #[inline(always)]
    fn inst(&mut self, l: &mut Local, i: &Inst, pc: u64, next: u64, idx: u16) {
        if i.rd == 0 && !has_side_effect(i.op) {
            return;
        }
        let imm = i.imm;
        match i.op {
            Op::Lui => self.store_imm(l, g(i.rd), imm as i64 as u64),
            Op::Auipc => self.store_imm(l, g(i.rd), pc.wrapping_add(imm as i64 as u64)),
            Op::Addi | Op::Addiw if i.rs1 == 0 => self.store_imm(l, g(i.rd), imm as i64 as u64),
            Op::Addi => {
                self.ld(l, RAX, i.rs1);
                if imm != 0 {
                    imm_op(l, true, 0, RAX, imm);
                }
                self.st(l, i.rd, RAX);
            }
            Op::Addiw => {
                self.ld(l, RAX, i.rs1);
                imm_op(l, false, 0, RAX, imm);
                l.extend_from_slice(&MOVSXD_RAX_EAX);
                self.st(l, i.rd, RAX);
            }
            Op::Xori | Op::Ori | Op::Andi => {
                self.ld(l, RAX, i.rs1);
                match i.op {
                    Op::Xori => imm_op(l, true, 6, RAX, imm),
                    Op::Ori => imm_op(l, true, 1, RAX, imm),
                    _ => imm_op(l, true, 4, RAX, imm),
                }
                self.st(l, i.rd, RAX);
            }
            Op::Slti | Op::Sltiu => {
                self.set_cc(l, i, if i.op == Op::Slti { CC_L } else { CC_B }, true);
                self.st(l, i.rd, RAX);
            }
            Op::Slt | Op::Sltu => {
                self.set_cc(l, i, if i.op == Op::Slt { CC_L } else { CC_B }, false);
                self.st(l, i.rd, RAX);
            }
            Op::Slli | Op::Srli | Op::Srai => {
                self.ld(l, RAX, i.rs1);
                let s = (imm & 63) as u8;
                match i.op {
                    Op::Slli => shift_imm(l, true, 4, RAX, s),
                    Op::Srli => shift_imm(l, true, 5, RAX, s),
                    _ => shift_imm(l, true, 7, RAX, s),
                }
                self.st(l, i.rd, RAX);
            }
            Op::Slliw | Op::Srliw | Op::Sraiw => {
                self.ld(l, RAX, i.rs1);
                let s = (imm & 31) as u8;
                match i.op {
                    Op::Slliw => shift_imm(l, false, 4, RAX, s),
                    Op::Srliw => shift_imm(l, false, 5, RAX, s),
                    _ => shift_imm(l, false, 7, RAX, s),
                }
                l.extend_from_slice(&MOVSXD_RAX_EAX);
                self.st(l, i.rd, RAX);
            }
            Op::Add => {
                self.alu_rr(l, 0x03, i);
                self.st(l, i.rd, RAX);
            }
            Op::Sub => {
                self.alu_rr(l, 0x2b, i);
                self.st(l, i.rd, RAX);
            }
            Op::And => {
                self.alu_rr(l, 0x23, i);
                self.st(l, i.rd, RAX);
            }
            Op::Or => {
                self.alu_rr(l, 0x0b, i);
                self.st(l, i.rd, RAX);
            }
            Op::Xor => {
                self.alu_rr(l, 0x33, i);
                self.st(l, i.rd, RAX);
            }
            Op::Mul => {
                self.ld(l, RAX, i.rs1);
                if i.rs2 == 0 {
                    asm!(l; xor eax, eax);
                } else {
                    let d = g(i.rs2);
                    asm!(l; imul rax, QWORD [rbp + d]);
                }
                self.st(l, i.rd, RAX);
            }
            Op::Addw => {
                alu_rr_w!(self, l, i, add);
                self.st(l, i.rd, RAX);
            }
            Op::Subw => {
                alu_rr_w!(self, l, i, sub);
                self.st(l, i.rd, RAX);
            }
            Op::Mulw => {
                alu_rr_w!(self, l, i, imul);
                self.st(l, i.rd, RAX);
            }
            Op::Sll | Op::Srl | Op::Sra => {
                self.ld(l, RAX, i.rs1);
                self.ld(l, RCX, i.rs2);
                match i.op {
                    Op::Sll => asm!(l; shl rax, cl),
                    Op::Srl => asm!(l; shr rax, cl),
                    _ => asm!(l; sar rax, cl),
                }
                self.st(l, i.rd, RAX);
            }
            Op::Sllw | Op::Srlw | Op::Sraw => {
                self.ld(l, RAX, i.rs1);
                self.ld(l, RCX, i.rs2);
                match i.op {
                    Op::Sllw => asm!(l; shl eax, cl),
                    Op::Srlw => asm!(l; shr eax, cl),
                    _ => asm!(l; sar eax, cl),
                }
                asm!(l; movsxd rax, eax);
                self.st(l, i.rd, RAX);
            }
            Op::Mulh | Op::Mulhu => {
                self.ld(l, RAX, i.rs1);
                self.ld(l, RCX, i.rs2);
                if i.op == Op::Mulh {
                    asm!(l; imul rcx);
                } else {
                    asm!(l; mul rcx);
                }
                self.st(l, i.rd, RDX);
            }
            Op::Mulhsu => {
                // High half of the unsigned product, minus rs2 when rs1 < 0.
                self.ld(l, RAX, i.rs1);
                self.ld(l, RCX, i.rs2);
                asm!(l; mov rsi, rax ; mul rcx ; sar rsi, 63 ; and rsi, rcx ; sub rdx, rsi);
                self.st(l, i.rd, RDX);
            }
            Op::Div | Op::Divu | Op::Rem | Op::Remu => {
                let signed = matches!(i.op, Op::Div | Op::Rem);
                let rem = matches!(i.op, Op::Rem | Op::Remu);
                self.div(l, i, signed, rem, false);
                self.st(l, i.rd, RAX);
            }
            Op::Divw | Op::Divuw | Op::Remw | Op::Remuw => {
                let signed = matches!(i.op, Op::Divw | Op::Remw);
                let rem = matches!(i.op, Op::Remw | Op::Remuw);
                self.div(l, i, signed, rem, true);
                self.st(l, i.rd, RAX);
            }
            Op::Lb | Op::Lh | Op::Lw | Op::Ld | Op::Lbu | Op::Lhu | Op::Lwu => {
                let log2 = match i.op {
                    Op::Lb | Op::Lbu => 0,
                    Op::Lh | Op::Lhu => 1,
                    Op::Lw | Op::Lwu => 2,
                    _ => 3,
                };
                self.addr(l, i);
                self.bounds(l, log2, exit_code::FAULT_LOAD, idx, pc);
                if i.rd != 0 {
                    match i.op {
                        // rcx = [r15 + rax]: ModRM 0c (rcx, SIB), SIB 07 (r15 + rax).
                        Op::Lb => l.extend_from_slice(&[0x49, 0x0f, 0xbe, 0x0c, 0x07]),
                        Op::Lbu => l.extend_from_slice(&[0x41, 0x0f, 0xb6, 0x0c, 0x07]),
                        Op::Lh => l.extend_from_slice(&[0x49, 0x0f, 0xbf, 0x0c, 0x07]),
                        Op::Lhu => l.extend_from_slice(&[0x41, 0x0f, 0xb7, 0x0c, 0x07]),
                        Op::Lw => l.extend_from_slice(&[0x49, 0x63, 0x0c, 0x07]),
                        Op::Lwu => l.extend_from_slice(&[0x41, 0x8b, 0x0c, 0x07]),
                        _ => l.extend_from_slice(&[0x49, 0x8b, 0x0c, 0x07]),
                    }
                    self.st(l, i.rd, RCX);
                }
            }
            Op::Sb | Op::Sh | Op::Sw | Op::Sd => {
                let log2 = match i.op {
                    Op::Sb => 0,
                    Op::Sh => 1,
                    Op::Sw => 2,
                    _ => 3,
                };
                self.addr(l, i);
                self.ld(l, RCX, i.rs2);
                self.bounds(l, log2, exit_code::FAULT_STORE, idx, pc);
                match i.op {
                    Op::Sb => l.extend_from_slice(&[0x41, 0x88, 0x0c, 0x07]),
                    Op::Sh => l.extend_from_slice(&[0x66, 0x41, 0x89, 0x0c, 0x07]),
                    Op::Sw => l.extend_from_slice(&[0x41, 0x89, 0x0c, 0x07]),
                    _ => l.extend_from_slice(&[0x49, 0x89, 0x0c, 0x07]),
                }
                // A store into a page holding code ends the block after it.
                let smc = self.stub(Stub::Fault {
                    code: exit_code::CODE_MODIFIED as u16,
                    idx: idx + 1,
                    off: next.wrapping_sub(self.block_pc) as u32,
                });
                if log2 > 0 {
                    // The access may end in the next page: both pages'
                    // code-map bytes, or-ed (rcx is free after the store).
                    // mov rdx, rax ; shr rdx, 12 ; movzx ecx, BYTE [r14 + rdx]
                    // lea rdx, [rax + last] ; shr rdx, 12 ; or cl, [r14 + rdx]
                    let last = (1u8 << log2) - 1;
                    l.extend_from_slice(&[
                        0x48, 0x89, 0xc2, 0x48, 0xc1, 0xea, 0x0c, 0x41, 0x0f, 0xb6, 0x0c, 0x16,
                        0x48, 0x8d, 0x50, last, 0x48, 0xc1, 0xea, 0x0c, 0x41, 0x0a, 0x0c, 0x16,
                    ]);
                    self.jump(l, Some(CC_NE), smc);
                } else {
                    // mov rdx, rax ; shr rdx, 12 ; cmp BYTE [r14 + rdx], 0
                    l.extend_from_slice(&SMC_CHECK);
                    self.jump(l, Some(CC_NE), smc);
                }
            }
            Op::Fld | Op::Flw => {
                self.addr(l, i);
                let log2 = if i.op == Op::Fld { 3 } else { 2 };
                self.bounds(l, log2, exit_code::FAULT_LOAD, idx, pc);
                if i.op == Op::Fld {
                    l.extend_from_slice(&[0x49, 0x8b, 0x0c, 0x07]); // mov rcx, [r15 + rax]
                } else {
                    l.extend_from_slice(&[0x41, 0x8b, 0x0c, 0x07]); // mov ecx, [r15 + rax]
                    asm!(l; mov rdx, QWORD NAN_BOX as i64 ; or rcx, rdx);
                }
                rbp_op(l, 0x89, RCX, f(i.rd));
            }
            Op::Fsd | Op::Fsw => {
                self.addr(l, i);
                rbp_op(l, 0x8b, RCX, f(i.rs2));
                let log2 = if i.op == Op::Fsd { 3 } else { 2 };
                self.bounds(l, log2, exit_code::FAULT_STORE, idx, pc);
                if i.op == Op::Fsd {
                    l.extend_from_slice(&[0x49, 0x89, 0x0c, 0x07]); // mov [r15 + rax], rcx
                } else {
                    l.extend_from_slice(&[0x41, 0x89, 0x0c, 0x07]); // mov [r15 + rax], ecx
                }
                let smc = self.stub(Stub::Fault {
                    code: exit_code::CODE_MODIFIED as u16,
                    idx: idx + 1,
                    off: next.wrapping_sub(self.block_pc) as u32,
                });
                // Both pages' code-map bytes (see the integer stores).
                let last = (1u8 << log2) - 1;
                l.extend_from_slice(&[
                    0x48, 0x89, 0xc2, 0x48, 0xc1, 0xea, 0x0c, 0x41, 0x0f, 0xb6, 0x0c, 0x16, 0x48,
                    0x8d, 0x50, last, 0x48, 0xc1, 0xea, 0x0c, 0x41, 0x0a, 0x0c, 0x16,
                ]);
                self.jump(l, Some(CC_NE), smc);
            }
            Op::FmvXD | Op::FmvXW => {
                rbp_op(l, 0x8b, RAX, f(i.rs1));
                if i.op == Op::FmvXW {
                    l.extend_from_slice(&MOVSXD_RAX_EAX);
                }
                self.st(l, i.rd, RAX);
            }
            Op::FmvDX | Op::FmvWX => {
                self.ld(l, RAX, i.rs1);
                if i.op == Op::FmvWX {
                    asm!(l; mov rcx, QWORD NAN_BOX as i64 ; or rax, rcx);
                }
                rbp_op(l, 0x89, RAX, f(i.rd));
            }
            Op::FsgnjD | Op::FsgnjnD | Op::FsgnjxD => {
                rbp_op(l, 0x8b, RAX, f(i.rs1));
                rbp_op(l, 0x8b, RCX, f(i.rs2));
                if i.op == Op::FsgnjnD {
                    asm!(l; not rcx);
                }
                // rcx = the sign bit of (maybe negated) rs2.
                asm!(l; shr rcx, 63 ; shl rcx, 63);
                if i.op == Op::FsgnjxD {
                    asm!(l; xor rax, rcx);
                } else {
                    asm!(l; shl rax, 1 ; shr rax, 1 ; or rax, rcx);
                }
                rbp_op(l, 0x89, RAX, f(i.rd));
            }
            // Register-only F/D/Zicsr: a call to the helper (the guest
            // state is exact in the CPU state, nothing lives in a
            // caller-saved register, rsp is 16-byte aligned), then on to
            // the next instruction; a trap (reserved rounding mode)
            // leaves as the fallback does.
            _ if matches!(i.lowering(), Lowering::Helper) => {
                let packed = i.pack() as i64;
                if let Some((rd, a, b, cc)) = fp_compare(packed as u64) {
                    // The optimizing tier's double compare fast path.
                    let (a, b) = (g(a), g(b));
                    asm!(l; movq xmm0, QWORD [rbp + a] ; ucomisd xmm0, QWORD [rbp + b]);
                    let slow = self.jump8(l, Some(CC_P));
                    match cc {
                        FpCc::Eq => asm!(l; sete al),
                        FpCc::Lt => asm!(l; setb al),
                        FpCc::Le => asm!(l; setbe al),
                    }
                    if rd != 0 {
                        asm!(l; movzx eax, al);
                        self.st(l, rd, RAX);
                    }
                    let s = self.stub(Stub::Chain { target: next });
                    self.jump(l, None, s);
                    self.bind8(l, slow);
                }
                asm!(l;
                    mov rdi, rbp
                    ; mov rsi, QWORD packed
                    ; call QWORD [rbp + off::FP_HELPER_FN]
                    ; test eax, eax
                );
                let trap = self.jump8(l, Some(CC_NE));
                let s = self.stub(Stub::Chain { target: next });
                self.jump(l, None, s);
                self.bind8(l, trap);
                asm!(l; sub r12, 1);
                self.store_imm(l, off::PC, pc);
                self.exit(l, exit_code::INTERPRET);
            }
            Op::Fence => {}
            Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
                self.ld(l, RAX, i.rs1);
                if i.rs2 == 0 {
                    l.extend_from_slice(&[0x48, 0x85, 0xc0]); // test rax, rax
                } else {
                    rbp_op(l, 0x3b, RAX, g(i.rs2)); // cmp rax, [rs2]
                }
                let cc = match i.op {
                    Op::Beq => CC_E,
                    Op::Bne => CC_NE,
                    Op::Blt => CC_L,
                    Op::Bge => CC_GE,
                    Op::Bltu => CC_B,
                    _ => CC_AE,
                };
                let taken = self.stub(Stub::Chain {
                    target: pc.wrapping_add(imm as i64 as u64),
                });
                self.jump(l, Some(cc), taken);
                let fall = self.stub(Stub::Chain { target: next });
                self.jump(l, None, fall);
            }
            Op::Jal => {
                if i.rd != 0 {
                    self.store_imm(l, g(i.rd), next);
                }
                let s = self.stub(Stub::Chain {
                    target: pc.wrapping_add(imm as i64 as u64),
                });
                self.jump(l, None, s);
            }
            Op::Jalr => {
                // The target is computed before rd is written (rd may be rs1).
                self.addr(l, i);
                l.extend_from_slice(&[0x48, 0x83, 0xe0, 0xfe]); // and rax, -2
                if i.rd != 0 {
                    self.store_imm(l, g(i.rd), next);
                }
                let mask = (JMP_CACHE_ENTRIES - 1) as i32;
                asm!(l;
                    mov QWORD [rbp + off::PC], rax
                    ; mov rcx, rax
                    ; shr rcx, 2
                    ; and ecx, mask
                    ; shl rcx, 4
                    ; add rcx, QWORD [rbp + off::JMP_CACHE]
                    ; cmp QWORD [rcx], rax
                );
                let miss = self.jump8(l, Some(CC_NE));
                asm!(l; jmp QWORD [rcx + 8]);
                self.bind8(l, miss);
                self.exit(l, exit_code::INDIRECT);
            }
            Op::FenceI => {
                let s = self.stub(Stub::Chain { target: next });
                self.jump(l, None, s);
            }
            Op::Ecall => {
                self.store_imm(l, off::EXIT_ARG, pc);
                self.store_imm(l, off::PC, next);
                self.exit(l, exit_code::SYSCALL);
            }
            Op::Ebreak => {
                // The trapping instruction does not retire.
                asm!(l; sub r12, 1);
                self.store_imm(l, off::PC, pc);
                self.exit(l, exit_code::BREAKPOINT);
            }
            // No native lowering (see `Op::lowering`; such an operation
            // ends its block): leave with it not retired, for the
            // dispatcher to interpret it.
            _ => {
                asm!(l; sub r12, 1);
                self.store_imm(l, off::PC, pc);
                self.exit(l, exit_code::INTERPRET);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::frontend::riscv::{encode, Inst, Op};
    use crate::rng::XorShift64;
    use super::super::tests::{run_code, Outcome};
    use crate::{EngineKind, VmConfig};

    const MEM: u64 = 16 << 20;
    const CODE: u64 = 0x1000;
    const DATA: u64 = 0x8000;

    fn w(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> u32 {
        encode(&Inst {
            op,
            rd,
            rs1,
            rs2,
            imm, rs3: 0, rm: 0, len: 4,
        })
    }

    /// Runs `code` under `cfg` in `MEM` bytes with a 20,000-instruction
    /// budget (see `tests::run_code`).
    fn run(cfg: VmConfig, code: &[u32], regs: &[u64; 32], data: &[u8]) -> Outcome {
        let cfg = VmConfig {
            mem_size: MEM,
            insn_budget: Some(20_000),
            ..cfg
        };
        run_code(cfg, code, regs, data)
    }

    /// A random RV64IM instruction that does not write x5 (loop counter),
    /// x10 (data pointer) or x12 (pointer into the code page); memory
    /// accesses go through x10 (data), x11 (random: mostly faults) or x12
    /// (stores into the code page: self-modifying code exits).
    fn random_inst(rng: &mut XorShift64) -> u32 {
        const ALU: [Op; 38] = {
            use Op::*;
            [
                Lui, Auipc, Addi, Slti, Sltiu, Xori, Ori, Andi, Slli, Srli, Srai, Add, Sub, Sll,
                Slt, Sltu, Xor, Srl, Sra, Or, And, Addiw, Slliw, Srliw, Sraiw, Addw, Subw, Sllw,
                Srlw, Sraw, Mul, Mulh, Mulhsu, Mulhu, Div, Divu, Rem, Remu,
            ]
        };
        const MORE: [Op; 5] = [Op::Mulw, Op::Divw, Op::Divuw, Op::Remw, Op::Remuw];
        const LOADS: [Op; 7] = [Op::Lb, Op::Lh, Op::Lw, Op::Ld, Op::Lbu, Op::Lhu, Op::Lwu];
        const STORES: [Op; 4] = [Op::Sb, Op::Sh, Op::Sw, Op::Sd];
        let reg = |rng: &mut XorShift64| rng.below(32) as u8;
        let rd = loop {
            let r = reg(rng);
            if !matches!(r, 5 | 10 | 12) {
                break r;
            }
        };
        let (rs1, rs2) = (reg(rng), reg(rng));
        match rng.below(10) {
            0..=5 => {
                let n = ALU.len() + MORE.len();
                let k = rng.below(n as u64) as usize;
                let op = if k < ALU.len() { ALU[k] } else { MORE[k - ALU.len()] };
                let imm = match op {
                    Op::Lui | Op::Auipc => (rng.next_u64() as i32) & !0xfff,
                    Op::Slli | Op::Srli | Op::Srai => rng.below(64) as i32,
                    Op::Slliw | Op::Srliw | Op::Sraiw => rng.below(32) as i32,
                    _ => rng.below(4096) as i32 - 2048,
                };
                w(op, rd, rs1, rs2, imm)
            }
            6 | 7 => {
                let op = LOADS[rng.below(7) as usize];
                let base = [10, 10, 10, 11, 0][rng.below(5) as usize];
                let imm = if base == 0 {
                    rng.below(2048) as i32
                } else {
                    rng.below(512) as i32 - 64
                };
                w(op, rd, base, 0, imm)
            }
            8 => w(Op::Fence, 0, 0, 0, 0),
            _ => {
                let op = STORES[rng.below(4) as usize];
                let base = [10, 10, 10, 11, 12][rng.below(5) as usize];
                let imm = rng.below(512) as i32 - 64;
                w(op, 0, base, rs2, imm)
            }
        }
    }

    fn engines() -> Vec<(&'static str, VmConfig)> {
        let jit = |baseline, tier_up_threshold| VmConfig {
            engine: EngineKind::Jit,
            baseline,
            tier_up_threshold,
            ..VmConfig::default()
        };
        vec![
            ("baseline only", jit(true, 0)),
            ("baseline, tier-up after 2", jit(true, 2)),
            ("optimizing", jit(false, 0)),
        ]
    }

    /// Where dynasm picks another valid encoding (the imm8 forms of
    /// `cmp rax, -3`, `sub DWORD [rax + d], 1`), the differential tests
    /// below check the hand-encoded one.
    #[test]
    fn hand_encoded_templates_match_dynasm() {
        use super::{Local, SMC_CHECK};
        use dynasmrt::x64::X64Relocation;
        use dynasmrt::{dynasm, DynasmApi, VecAssembler};
        let mut a: VecAssembler<X64Relocation> = VecAssembler::new(0);
        dynasm!(a; .arch x64
            ; movsx rcx, BYTE [r15 + rax] ; movzx ecx, BYTE [r15 + rax]
            ; movsx rcx, WORD [r15 + rax] ; movzx ecx, WORD [r15 + rax]
            ; movsxd rcx, DWORD [r15 + rax] ; mov ecx, DWORD [r15 + rax]
            ; mov rcx, QWORD [r15 + rax]
            ; mov BYTE [r15 + rax], cl ; mov WORD [r15 + rax], cx
            ; mov DWORD [r15 + rax], ecx ; mov QWORD [r15 + rax], rcx
            ; mov rdx, rax ; shr rdx, 12 ; cmp BYTE [r14 + rdx], 0
            ; lea rdx, [rax + 7] ; shr rdx, 12 ; cmp BYTE [r14 + rdx], 0
            ; sub r13, 1 ; add r12, 5 ; sub r12, 300 ; xor r13d, r13d
            ; and rax, -2 ; movsxd rax, eax ; mov rax, 0x1234
            ; add rax, 8 ; add rax, 0x1234 ; and eax, 9
            ; shl rax, 3 ; sar eax, 31
            ; mov rcx, QWORD [rbp + 8] ; mov QWORD [rbp + 0x1000], rdx ; cmp rax, QWORD [rbp + 0x228]
            ; mov QWORD [rbp + 16], -5
            ; movzx eax, cx ; shr ecx, 16 ; add r12, rcx
            ; lea rcx, [rcx * 4 + 0x1234] ; mov rdx, QWORD 0x1_2345_6789 ; lea rcx, [rdx + rcx * 4]
            ; mov ecx, 0x10305
            ; movzx ecx, BYTE [r14 + rdx] ; or cl, [r14 + rdx]
        );
        let want = a.finalize().unwrap();
        let mut got = Vec::new();
        let mut l = Local::new();
        for b in [
            &[0x49, 0x0f, 0xbe, 0x0c, 0x07][..],
            &[0x41, 0x0f, 0xb6, 0x0c, 0x07],
            &[0x49, 0x0f, 0xbf, 0x0c, 0x07],
            &[0x41, 0x0f, 0xb7, 0x0c, 0x07],
            &[0x49, 0x63, 0x0c, 0x07],
            &[0x41, 0x8b, 0x0c, 0x07],
            &[0x49, 0x8b, 0x0c, 0x07],
            &[0x41, 0x88, 0x0c, 0x07],
            &[0x66, 0x41, 0x89, 0x0c, 0x07],
            &[0x41, 0x89, 0x0c, 0x07],
            &[0x49, 0x89, 0x0c, 0x07],
            &SMC_CHECK,
            &[0x48, 0x8d, 0x50, 7],
            &SMC_CHECK[3..],
            &[0x49, 0x83, 0xed, 1],
            &[0x49],
        ] {
            l.extend_from_slice(b);
        }
        got.extend_from_slice(&l.b[..l.n]);
        l.n = 0;
        super::imm_op_r12(&mut l, 0, 5);
        l.extend_from_slice(&[0x49]);
        super::imm_op_r12(&mut l, 5, 300);
        l.extend_from_slice(&[0x45, 0x31, 0xed, 0x48, 0x83, 0xe0, 0xfe]);
        l.extend_from_slice(&super::MOVSXD_RAX_EAX);
        l.extend_from_slice(&[0x48, 0xc7, 0xc0, 0x34, 0x12, 0, 0]);
        super::imm_op(&mut l, true, 0, 0, 8);
        super::imm_op(&mut l, true, 0, 0, 0x1234);
        super::imm_op(&mut l, false, 4, 0, 9);
        super::shift_imm(&mut l, true, 4, 0, 3);
        super::shift_imm(&mut l, false, 7, 0, 31);
        super::rbp_op(&mut l, 0x8b, 1, 8);
        super::rbp_op(&mut l, 0x89, 2, 0x1000);
        super::rbp_op(&mut l, 0x3b, 0, 0x228);
        let mut b = super::Baseline::default();
        b.store_imm(&mut l, 16, -5i64 as u64);
        got.extend_from_slice(&l.b[..l.n]);
        l.n = 0;
        l.extend_from_slice(&[0x0f, 0xb7, 0xc1, 0xc1, 0xe9, 0x10, 0x49, 0x01, 0xcc]);
        l.extend_from_slice(&[0x48, 0x8d, 0x0c, 0x8d, 0x34, 0x12, 0, 0]);
        l.extend_from_slice(&[0x48, 0xba, 0x89, 0x67, 0x45, 0x23, 1, 0, 0, 0]);
        l.extend_from_slice(&[0x48, 0x8d, 0x0c, 0x8a]);
        l.extend_from_slice(&[0xb9, 5, 3, 1, 0]);
        l.extend_from_slice(&[0x41, 0x0f, 0xb6, 0x0c, 0x16, 0x41, 0x0a, 0x0c, 0x16]);
        // dynasm encodes `add rax, imm32` with the rax short form (05 id).
        got.extend_from_slice(&l.b[..l.n]);
        let mut want = want;
        let short = [0x48, 0x05, 0x34, 0x12, 0, 0];
        if let Some(pos) = want.windows(6).position(|w| w == short) {
            want.splice(pos..pos + 6, [0x48, 0x81, 0xc0, 0x34, 0x12, 0, 0]);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn random_blocks_agree_with_the_interpreter() {
        let mut rng = XorShift64(0xba5e_11ae);
        for case in 0..400 {
            let n = 1 + rng.below(24) as usize;
            let mut code: Vec<u32> = (0..n).map(|_| random_inst(&mut rng)).collect();
            // Loop back over the body a few times, then leave by one of
            // the block ends: branch, jal, jalr, ecall (exit), ebreak.
            let back = -4 * (code.len() as i32 + 1);
            code.push(w(Op::Addi, 5, 5, 0, -1));
            let cond = [Op::Bne, Op::Blt, Op::Bltu, Op::Bge, Op::Bgeu, Op::Beq];
            let c = cond[rng.below(6) as usize];
            let (a, b) = match c {
                Op::Bne | Op::Blt | Op::Bltu => (0, 5),
                _ => (5, 0),
            };
            // taken while x5 > 0 (bne/blt/bltu with 0 < x5) or >= (bge/bgeu: x5 >= 0 fails only below).
            code.push(w(c, 0, a, b, back));
            match rng.below(4) {
                0 => code.push(w(Op::Jal, [0, 1][rng.below(2) as usize], 0, 0, 8)),
                1 => code.push(w(Op::Jalr, [0, 1, 13][rng.below(3) as usize], 13, 0, 4)),
                2 => {
                    code.push(w(Op::Addi, 17, 0, 0, 93));
                    code.push(w(Op::Ecall, 0, 0, 0, 0));
                }
                _ => {}
            }
            code.push(w(Op::Ebreak, 0, 0, 0, 0));
            code.push(w(Op::Ebreak, 0, 0, 0, 0));
            let mut regs = [0u64; 32];
            for r in regs.iter_mut() {
                *r = match rng.below(4) {
                    0 => rng.below(64),
                    1 => 0u64.wrapping_sub(rng.below(64)),
                    _ => rng.next_u64(),
                };
            }
            regs[5] = 1 + rng.below(6);
            regs[10] = DATA + 64 + rng.below(1024);
            regs[11] = match rng.below(3) {
                0 => MEM - rng.below(16),
                1 => rng.next_u64(),
                _ => DATA + rng.below(4096),
            };
            regs[12] = CODE + 0x800;
            regs[13] = CODE + 4 * code.len() as u64 - 8;
            let data: Vec<u8> = (0..8192).map(|_| rng.next_u64() as u8).collect();
            let interp = VmConfig {
                engine: EngineKind::Interp,
                ..VmConfig::default()
            };
            let want = run(interp, &code, &regs, &data);
            for (name, cfg) in engines() {
                let got = run(cfg, &code, &regs, &data);
                assert_eq!(
                    (&got.0, got.1, got.2, &got.3),
                    (&want.0, want.1, want.2, &want.3),
                    "case {case} ({name}): code {code:08x?} regs {regs:x?}"
                );
                assert!(got.4 == want.4, "case {case} ({name}): data differs");
            }
        }
    }

    #[test]
    fn every_op_agrees_with_the_interpreter_on_edge_values() {
        // Each ALU / M op on operand pairs from edge values (0, 1, -1,
        // MIN, MAX, 32-bit edges), one op per block, x0 as source and as
        // destination included.
        let edges = [
            0u64,
            1,
            u64::MAX,
            i64::MIN as u64,
            i64::MAX as u64,
            0x8000_0000,
            0x7fff_ffff,
            0xffff_ffff,
            0xffff_ffff_8000_0000,
            63,
            64,
            31,
            32,
        ];
        let mut rng = XorShift64(0xed9e);
        for op in Op::ALL {
            // F/D/Zicsr operations are covered by the engine tests
            // (`engine::atomics_tests`: random F/D blocks and edge cases).
            if op.ends_block() || matches!(op, Op::Fence) || op.is_fp_or_csr() {
                continue;
            }
            let is_mem = matches!(
                op,
                Op::Lb | Op::Lh | Op::Lw | Op::Ld | Op::Lbu | Op::Lhu | Op::Lwu
            ) || matches!(op, Op::Sb | Op::Sh | Op::Sw | Op::Sd);
            for (k, &a) in edges.iter().enumerate() {
                for &b in &edges {
                    let (rs1, rs2, rd) = match rng.below(8) {
                        0 => (0, 7, 6),
                        1 => (6, 0, 6),
                        2 => (6, 7, 0),
                        3 => (6, 6, 7),
                        _ => (6, 7, 8),
                    };
                    let imm = match op {
                        Op::Slli | Op::Srli | Op::Srai => (b & 63) as i32,
                        Op::Slliw | Op::Srliw | Op::Sraiw => (b & 31) as i32,
                        Op::Lui | Op::Auipc => (b as i32) & !0xfff,
                        _ if is_mem => (k as i32) * 4 - 8,
                        _ => [0, 1, -1, 2047, -2048, 5][k % 6],
                    };
                    let mut regs = [0u64; 32];
                    regs[6] = a;
                    regs[7] = b;
                    if is_mem {
                        regs[6] = [DATA, MEM - 4, 0, u64::MAX, MEM - 1][k % 5];
                    }
                    let code = [
                        w(op, rd, rs1, rs2, imm),
                        w(Op::Ebreak, 0, 0, 0, 0),
                    ];
                    let data = vec![0xa5u8; 64];
                    let interp = VmConfig {
                        engine: EngineKind::Interp,
                        ..VmConfig::default()
                    };
                    let want = run(interp, &code, &regs, &data);
                    for (name, cfg) in engines() {
                        let got = run(cfg, &code, &regs, &data);
                        assert!(
                            got == want,
                            "{op:?} x{rd} = x{rs1} ({a:#x}), x{rs2} ({b:#x}), imm {imm} ({name}): {:x?} vs {:x?}",
                            (&got.0, got.1, got.2, &got.3),
                            (&want.0, want.1, want.2, &want.3)
                        );
                    }
                }
            }
        }
    }
}
