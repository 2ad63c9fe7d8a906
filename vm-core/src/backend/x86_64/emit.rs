//! IR -> x86-64 code generation with a per-block register allocator.
//!
//! Register roles: `rbp` = CPU state, `r15` = guest memory base (softmmu:
//! host addend of the last translated page), `r14` = code-page map
//! (softmmu: free, or the addend of a two-access loop's second site), `r13` = blocks left in the quantum, `r12` = guest
//! instructions retired (both synced with the CPU state by the trampoline,
//! so per-block accounting is two register ops), `rax`/`rcx`/`rdx` =
//! scratch (addresses, shift counts), and `rbx rsi rdi r8..r11 rdx` hold
//! IR temps (`rdx` is vacated around wide multiplies and divisions).
//!
//! Guest registers are cached in host registers within a block: a global is
//! loaded from the CPU state at most once (the optimizer forwards later
//! reads), lazily at its first real use, and a value whose global still
//! holds it can be evicted for free. Writes go through to the CPU state
//! immediately, so state is exact at every early exit and exits need no
//! write-back code.

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, VecAssembler};

use super::codebuf::ExecMemory;
use crate::backend::{exit_code, CodegenError};
use crate::ir::{BinOp, Cond, IrBlock, IrOp, Temp, Terminator, UnOp, Width};
use crate::mmu::runtime::miss_info;
use crate::mmu::tlb::entry_offsets as tlb_off;
use crate::mmu::AccessType;
use crate::state::{offsets as off, CpuState, JMP_CACHE_ENTRIES, NUM_GLOBALS};

macro_rules! asm {
    ($ops:expr; $($t:tt)*) => {
        dynasm!($ops ; .arch x64 ; $($t)*)
    };
}

const RAX: u8 = 0;
const RDX: u8 = 2;
const R14: u8 = 14;
const R15: u8 = 15;
/// Allocatable registers; `rdx` last, as wide multiply and division take it.
const POOL: [u8; 8] = [3, 6, 7, 8, 9, 10, 11, RDX];
const SPILL_SLOTS: usize = 64;
const FRAME: i32 = 8 + 8 * SPILL_SLOTS as i32;

/// A direct-jump exit that the dispatcher may patch to jump straight into
/// the target block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSite {
    /// Host address of the rel32 field of the jump.
    pub patch_addr: usize,
    /// Host address of the exit stub the jump originally targets.
    pub stub_addr: usize,
    /// Guest pc the jump leads to.
    pub target_pc: u64,
}

/// Machine code of one block, installed in executable memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledBlock {
    /// Host entry address.
    pub entry: usize,
    /// Code size in bytes.
    pub size: usize,
    /// Patchable direct exits.
    pub sites: Vec<ChainSite>,
}

/// One chain site of a [`RelocatableBlock`], as offsets into its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelocatableSite {
    /// Offset of the rel32 field of the direct jump (initially to the stub).
    pub jump_rel32: u32,
    /// Offset of the imm32 that tells the dispatcher which site exited: it
    /// must hold the code-region offset of `jump_rel32` once placed.
    pub site_imm32: u32,
    /// Offset of the site's exit stub.
    pub stub: u32,
    /// Guest pc the jump leads to.
    pub target_pc: u64,
}

/// Machine code of one block compiled for placement at any 16-byte aligned
/// address of a code region, with every position-dependent field listed
/// (and zeroed in `code`): an AOT image stores this and a loader patches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelocatableBlock {
    /// Code bytes; relocated fields hold zero.
    pub code: Vec<u8>,
    /// Offsets of the rel32 fields of jumps to the shared exit routine.
    pub exit_rel32: Vec<u32>,
    /// Patchable direct exits.
    pub sites: Vec<RelocatableSite>,
}

/// Time spent in each stage of code generation (see
/// [`X64Backend::time_stages`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodegenStageTimes {
    /// Liveness, self-loop and softmmu access-plan analysis.
    pub analysis: std::time::Duration,
    /// Instruction selection with register allocation (one fused pass) and
    /// out-of-line stubs, into the assembler's buffer.
    pub lowering: std::time::Duration,
    /// Label resolution and relocation patching (`finalize`).
    pub encoding: std::time::Duration,
}

/// Per-block allocator state kept between compilations so that compiling
/// a block does not allocate it anew (allocation dominated small blocks).
struct Scratch {
    /// One assembler for every block: relocations are all relative inside
    /// the block, so its base address never matters (absolute targets are
    /// encoded by hand from `Codegen::base`).
    asm: VecAssembler<X64Relocation>,
    /// The last block's finished code.
    code: Vec<u8>,
    loc: Vec<Loc>,
    last_use: Vec<u32>,
    home: Vec<Option<u8>>,
    faults: Vec<FaultStub>,
    chains: Vec<ChainStub>,
    wb: Vec<(u8, WbSrc)>,
    quantum_stubs: Vec<(dynasmrt::DynamicLabel, (u32, u32))>,
    carried: Vec<(u8, Temp, Temp)>,
    misses: Vec<MissStub>,
    plans: Vec<AccessPlan>,
    slot_stubs: Vec<SlotStub>,
    loop_slots: Vec<(i32, u8)>,
    /// Set (by [`X64Backend::compile_relocatable`]) to record the
    /// position-dependent fields of the next block.
    fixups: Option<Fixups>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            asm: VecAssembler::new(0),
            code: Vec::new(),
            loc: Vec::new(),
            last_use: Vec::new(),
            home: Vec::new(),
            faults: Vec::new(),
            chains: Vec::new(),
            wb: Vec::new(),
            quantum_stubs: Vec::new(),
            carried: Vec::new(),
            misses: Vec::new(),
            plans: Vec::new(),
            slot_stubs: Vec::new(),
            loop_slots: Vec::new(),
            fixups: None,
        }
    }
}

type EnterFn = unsafe extern "sysv64" fn(*mut CpuState, usize) -> u64;

/// The x86-64 JIT backend: owns the code region and the entry/exit trampoline.
pub struct X64Backend {
    mem: ExecMemory,
    enter: EnterFn,
    exit_addr: usize,
    /// Shared TLB-miss routine (saves caller-saved registers, calls the
    /// miss handler through `CpuState::tlb_miss_fn`).
    miss_addr: usize,
    /// Guest accesses go through the software TLB (Sv39) instead of the
    /// flat bounds check.
    softmmu: bool,
    after_trampoline: usize,
    install_time: std::time::Duration,
    /// `None` only while a block is being generated (taken, not rebuilt).
    scratch: Option<Scratch>,
}

impl X64Backend {
    /// Creates a backend with a code region of `code_bytes` for the flat memory model.
    pub fn new(code_bytes: usize) -> Result<Self, CodegenError> {
        Self::with_softmmu(code_bytes, false)
    }

    /// Creates a backend; with `softmmu`, every guest load and store is
    /// translated by an inline software-TLB probe (see [`crate::mmu`]).
    pub fn with_softmmu(code_bytes: usize, softmmu: bool) -> Result<Self, CodegenError> {
        let mut mem = ExecMemory::new(code_bytes.max(4096))?;
        let base = mem.next_addr();
        let mut a: VecAssembler<X64Relocation> = VecAssembler::new(base);
        asm!(a;
            push rbp ; push rbx ; push r12 ; push r13 ; push r14 ; push r15
            ; sub rsp, FRAME
            ; mov rbp, rdi
            ; mov r15, [rbp + off::MEM_BASE]
            ; mov r13, [rbp + off::QUANTUM]
            ; mov r12, [rbp + off::ICOUNT]
        );
        // r14: the code-page map (flat stores check it); under the softmmu
        // it is free (loaded with the TLB base only as a defined value) and
        // two-access loops keep their second addend in it. Both read from
        // the CPU state, so generated code holds no absolute addresses.
        if softmmu {
            asm!(a; mov r14, [rbp + off::TLB_BASE]);
        } else {
            asm!(a; mov r14, [rbp + off::CODE_MAP]);
        }
        asm!(a; jmp rsi);
        let exit_off = a.offset().0;
        asm!(a;
            mov [rbp + off::QUANTUM], r13
            ; mov [rbp + off::ICOUNT], r12
            ; add rsp, FRAME
            ; pop r15 ; pop r14 ; pop r13 ; pop r12 ; pop rbx ; pop rbp
            ; ret
        );
        // TLB miss routine: called from a block's miss stub with the guest
        // address in r15 and the access info in ecx; returns the host
        // addend in r15 and 0 (use it) or 1 (replay) in rcx. Block code
        // runs with rsp 16-byte aligned; the call, eight pushes and the
        // 8-byte pad keep the handler call aligned. rbx, rbp, r12-r14 are
        // callee-saved under SysV, so only the other allocatable registers
        // and rax need saving.
        let miss_off = a.offset().0;
        asm!(a;
            push rax ; push rdx ; push rsi ; push rdi ; push r8 ; push r9 ; push r10 ; push r11
            ; sub rsp, 8
            ; mov rdi, rbp
            ; mov rsi, r15
            ; mov edx, ecx
            ; call QWORD [rbp + off::TLB_MISS_FN]
            ; mov r15, rax
            ; mov rcx, rdx
            ; add rsp, 8
            ; pop r11 ; pop r10 ; pop r9 ; pop r8 ; pop rdi ; pop rsi ; pop rdx ; pop rax
            ; ret
        );
        let code = a
            .finalize()
            .map_err(|e| CodegenError::Assembler(e.to_string()))?;
        let addr = mem.append(&code)?;
        // SAFETY: the trampoline was just written at `addr` with this signature.
        let enter: EnterFn = unsafe { std::mem::transmute::<usize, EnterFn>(addr) };
        let after_trampoline = mem.used();
        Ok(Self {
            mem,
            enter,
            exit_addr: addr + exit_off,
            miss_addr: addr + miss_off,
            softmmu,
            after_trampoline,
            install_time: std::time::Duration::ZERO,
            scratch: Some(Scratch::default()),
        })
    }

    /// Runs generated code at `entry` until it exits; returns the exit word.
    ///
    /// # Safety
    /// `entry` must be the entry of a block compiled by this backend that is
    /// still installed, and `cpu` must be attached to live guest memory.
    pub unsafe fn enter(&self, cpu: &mut CpuState, entry: usize) -> u64 {
        (self.enter)(cpu as *mut CpuState, entry)
    }

    /// Total time spent installing code (copies into the writable view of the code region), part of compile time.
    pub fn install_time(&self) -> std::time::Duration {
        self.install_time
    }

    /// Host address of the shared TLB-miss routine that softmmu blocks
    /// `call rel32` (relocation target for code stored outside this region).
    pub fn miss_routine(&self) -> usize {
        self.miss_addr
    }

    /// Whether this backend compiles guest accesses through the software TLB.
    pub fn is_softmmu(&self) -> bool {
        self.softmmu
    }

    /// Drops all compiled blocks (their addresses become invalid).
    pub fn flush(&mut self) {
        self.mem.truncate(self.after_trampoline);
    }

    /// Bytes of code in use and capacity.
    pub fn code_usage(&self) -> (usize, usize) {
        (self.mem.used(), self.mem.capacity())
    }

    /// Host address of the code region start (chain-site offsets are relative to it).
    pub fn region_base(&self) -> usize {
        self.mem.base()
    }

    /// Points the rel32 jump at `site` to `target` (a block entry, or the
    /// site's own stub to unchain).
    pub fn patch_jump(&mut self, patch_addr: usize, target: usize) -> Result<(), CodegenError> {
        let rel = target as i64 - (patch_addr as i64 + 4);
        let rel = i32::try_from(rel)
            .map_err(|_| CodegenError::ExecMemory("jump out of rel32 range".into()))?;
        self.mem.patch(patch_addr, &rel.to_le_bytes())
    }

    fn scratch_mut(&mut self) -> &mut Scratch {
        self.scratch.get_or_insert_with(Scratch::default)
    }

    /// Analysis stage of code generation for `block` as if placed at
    /// `base`: liveness, self-loop carried globals, softmmu access plans.
    /// Reuses the allocator scratch state (returned by [`Self::lower`]).
    fn analyze<'b>(&mut self, block: &'b IrBlock, base: usize) -> Codegen<'b> {
        let scratch = self.scratch.take().unwrap_or_default();
        let mut cg = Codegen::new(block, base, self.exit_addr, self.mem.base(), scratch);
        cg.softmmu = self.softmmu.then_some(self.miss_addr);
        if self.softmmu {
            access_plans(block, &mut cg.plans);
        }
        cg
    }

    /// Lowering stage: instruction selection with register allocation (one
    /// fused pass over the ops), then the out-of-line stubs, into the
    /// scratch assembler; gives the scratch state back.
    fn lower(&mut self, mut cg: Codegen<'_>) -> Result<Vec<ChainSite>, CodegenError> {
        let r = cg.block();
        let (scratch, sites) = cg.into_parts();
        self.scratch = Some(scratch);
        r.map(|()| sites)
    }

    /// Encoding stage: resolves the labels of the lowered block and moves
    /// its bytes into `self.scratch.code`.
    fn encode(&mut self) -> Result<(), CodegenError> {
        let Scratch { asm, code, .. } = self.scratch_mut();
        code.clear();
        code.extend(
            asm.drain()
                .map_err(|e| CodegenError::Assembler(e.to_string()))?,
        );
        Ok(())
    }

    /// Runs code generation for `block` as if placed at `base`, reusing the
    /// scratch state; the code is left in `self.scratch.code`.
    fn generate(&mut self, block: &IrBlock, base: usize) -> Result<Vec<ChainSite>, CodegenError> {
        let cg = self.analyze(block, base);
        let r = self.lower(cg);
        if r.is_err() {
            // Drop the failed block's labels and relocations.
            let _ = self.scratch_mut().asm.drain();
        }
        let sites = r?;
        self.encode()?;
        Ok(sites)
    }

    /// Times the stages of code generation over `blocks` (benchmark
    /// instrumentation): each stage runs over all blocks under one clock
    /// reading, so no per-block timer cost is attributed to a stage.
    /// Nothing is installed. Analysis is timed alone; lowering is the
    /// production path (analysis + lowering + encoding) minus analysis and
    /// minus encoding, which is timed on the same blocks lowered into
    /// assemblers of their own.
    /// `clock_ns` reads the clock to use, in nanoseconds (a benchmark on a
    /// shared machine passes the thread's CPU time).
    pub fn time_stages(
        &mut self,
        blocks: &[IrBlock],
        clock_ns: impl Fn() -> u64,
    ) -> Result<CodegenStageTimes, CodegenError> {
        let since = |t0: u64| std::time::Duration::from_nanos(clock_ns().saturating_sub(t0));
        let base = self.mem.next_addr();
        let t = clock_ns();
        for b in blocks {
            let cg = self.analyze(b, base);
            std::hint::black_box(&cg.last_use);
            self.scratch = Some(cg.into_parts().0);
        }
        let analysis = since(t);
        let t = clock_ns();
        for b in blocks {
            std::hint::black_box(self.generate(b, base)?);
        }
        let full = since(t);
        let mut lowered = Vec::with_capacity(blocks.len());
        for b in blocks {
            let cg = self.analyze(b, base);
            self.lower(cg)?;
            lowered.push(std::mem::replace(
                &mut self.scratch_mut().asm,
                VecAssembler::new(0),
            ));
        }
        let t = clock_ns();
        let mut bytes = 0;
        for asm in lowered {
            bytes += asm
                .finalize()
                .map_err(|e| CodegenError::Assembler(e.to_string()))?
                .len();
        }
        let encoding = since(t);
        std::hint::black_box(bytes);
        Ok(CodegenStageTimes {
            analysis,
            lowering: full.saturating_sub(analysis).saturating_sub(encoding),
            encoding,
        })
    }

    /// Compiles an optimized IR block and installs it.
    pub fn compile(&mut self, block: &IrBlock) -> Result<CompiledBlock, CodegenError> {
        let base = self.mem.next_addr();
        let sites = self.generate(block, base)?;
        let code = &self
            .scratch
            .as_ref()
            .expect("generate leaves the scratch state")
            .code;
        let t0 = std::time::Instant::now();
        let entry = self.mem.append(code);
        self.install_time += t0.elapsed();
        let entry = entry?;
        debug_assert_eq!(entry, base);
        Ok(CompiledBlock {
            entry,
            size: code.len(),
            sites,
        })
    }

    /// Compiles an optimized IR block without installing it, as
    /// position-independent code plus the fields a loader must relocate
    /// (see [`RelocatableBlock`]). The block's own jumps to its stubs are
    /// relative inside the block and need no relocation.
    pub fn compile_relocatable(
        &mut self,
        block: &IrBlock,
    ) -> Result<RelocatableBlock, CodegenError> {
        if self.softmmu {
            // Softmmu blocks also `call rel32` the miss routine, a field the
            // image format does not relocate (yet).
            return Err(CodegenError::Assembler(
                "relocatable code is compiled for the flat memory model only".into(),
            ));
        }
        // Generated through the JIT's own path (same base-relative layout,
        // same memory model), recording the position-dependent fields.
        let base = self.mem.next_addr();
        self.scratch_mut().fixups = Some(Fixups::default());
        let r = self.generate(block, base);
        let fixups = self.scratch_mut().fixups.take().unwrap_or_default();
        let sites = r?;
        let mut code = self.scratch_mut().code.clone();
        for &o in fixups.exit_rel32.iter().chain(&fixups.site_imm32) {
            code[o as usize..o as usize + 4].fill(0);
        }
        if fixups.site_imm32.len() != sites.len() {
            return Err(CodegenError::Assembler(format!(
                "{} chain sites but {} site fields",
                sites.len(),
                fixups.site_imm32.len()
            )));
        }
        let sites = sites
            .iter()
            .zip(&fixups.site_imm32)
            .map(|(s, &imm)| RelocatableSite {
                jump_rel32: (s.patch_addr - base) as u32,
                site_imm32: imm,
                stub: (s.stub_addr - base) as u32,
                target_pc: s.target_pc,
            })
            .collect();
        Ok(RelocatableBlock {
            code,
            exit_rel32: fixups.exit_rel32,
            sites,
        })
    }

    /// Host address of the shared exit routine (AOT relocation target).
    pub fn exit_routine(&self) -> usize {
        self.exit_addr
    }

    /// Installs already relocated code at [`Self::next_code_addr`] in one
    /// copy; returns its address.
    pub fn install_code(&mut self, code: &[u8]) -> Result<usize, CodegenError> {
        let t0 = std::time::Instant::now();
        let r = self.mem.append(code);
        self.install_time += t0.elapsed();
        r
    }

    /// Host address (16-byte aligned) where [`Self::install_code`] will
    /// place the next code.
    pub fn next_code_addr(&self) -> usize {
        self.mem.next_addr()
    }

    /// Compiles into a scratch buffer without installing (measures pure
    /// code generation); returns the code size.
    pub fn compile_detached(&mut self, block: &IrBlock) -> Result<usize, CodegenError> {
        let base = self.mem.next_addr();
        self.generate(block, base)?;
        Ok(self.scratch_mut().code.len())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Loc {
    /// Not yet defined or dead.
    None,
    /// Compile-time constant, never materialized unless needed.
    Const(u64),
    /// In a host register.
    Reg(u8),
    /// Only in its home global slot of the CPU state.
    Home,
    /// In a stack spill slot.
    Slot(u8),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Opnd {
    Imm(i32),
    Reg(u8),
}

#[derive(Clone, Copy)]
struct FaultStub {
    label: dynasmrt::DynamicLabel,
    pc: u64,
    next_pc: u64,
    uncount: u64,
    code: u64,
    /// Register holding the guest address at the exit.
    addr_reg: u8,
    /// Deferred globals to write back: range in `Scratch::wb`.
    wb: (u32, u32),
}

/// Where a TLB probe's range starts.
#[derive(Clone, Copy)]
enum ProbeAddr {
    /// `base + disp` (base is an allocatable register, never rax or rcx).
    Reg { base: u8, disp: i32 },
    /// A constant guest address.
    Imm(u64),
}

/// Out-of-line full TLB probe behind a per-site slot check.
#[derive(Clone, Copy)]
struct SlotStub {
    full: dynasmrt::DynamicLabel,
    miss: dynasmrt::DynamicLabel,
    back: dynasmrt::DynamicLabel,
    base: u8,
    disp: i32,
    len: u32,
    tag: i32,
    /// Offset of the slot in the CPU state.
    slot: i32,
    /// Register receiving the addend (r15, or r14 for a loop's second site).
    reg: u8,
}

/// Out-of-line TLB miss path of one access.
#[derive(Clone, Copy)]
struct MissStub {
    label: dynasmrt::DynamicLabel,
    /// Hit whose addend differs from the one in r15: reload it (inline
    /// probes only; slot-checked sites load the addend in their full probe).
    reload: Option<dynasmrt::DynamicLabel>,
    back: dynasmrt::DynamicLabel,
    replay: dynasmrt::DynamicLabel,
    /// Start of the probed range.
    at: ProbeAddr,
    info: u64,
    /// Slot (CPU-state offset) to refill after a served miss, so r15 and
    /// the slot always agree after the site's probe.
    fill_slot: Option<i32>,
    /// Register the access reads its addend from.
    reg: u8,
}

#[derive(Clone, Copy)]
struct ChainStub {
    label: dynasmrt::DynamicLabel,
    target: u64,
    /// Offset in the assembler of the end of the jump whose rel32 is patched.
    jump_end: usize,
}

struct Codegen<'b> {
    b: &'b IrBlock,
    asm: VecAssembler<X64Relocation>,
    /// Carried through for the scratch state (see [`Scratch::code`]).
    code: Vec<u8>,
    base: usize,
    exit: usize,
    region_base: usize,
    loc: Vec<Loc>,
    last_use: Vec<u32>,
    home: Vec<Option<u8>>,
    holder: [Option<Temp>; NUM_GLOBALS],
    reg_temp: [Option<Temp>; 16],
    pinned: u16,
    free_slots: u64,
    faults: Vec<FaultStub>,
    chains: Vec<ChainStub>,
    /// Write-back lists of exits (see `FaultStub::wb`).
    wb: Vec<(u8, WbSrc)>,
    /// Quantum exits on a self-loop back edge, with their write-back lists.
    quantum_stubs: Vec<(dynasmrt::DynamicLabel, (u32, u32))>,
    sites: Vec<ChainSite>,
    cur: u32,
    /// For a block that jumps back to itself: the globals kept in host
    /// registers across iterations, as (global, temp read at the head,
    /// temp holding the value at the end of the body).
    carried: Vec<(u8, Temp, Temp)>,
    /// Quantum-exit stub label (shared by the entry and the loop back edge).
    quantum: Option<dynasmrt::DynamicLabel>,
    /// Start of the loop body, after the entry loads of carried globals.
    body: Option<dynasmrt::DynamicLabel>,
    /// Head register of each carried global (same order as `carried`).
    head_regs: [u8; MAX_CARRIED],
    /// Carried globals whose writes stay in registers until the block is
    /// left (bit per global); exits write them back.
    deferred: u64,
    /// Temp holding each deferred global's current value.
    cur_val: [Option<Temp>; NUM_GLOBALS],
    /// Softmmu mode: address of the shared TLB-miss routine.
    softmmu: Option<usize>,
    /// TLB miss stubs, emitted after the block body.
    misses: Vec<MissStub>,
    /// Softmmu probe plan per op (empty in flat mode).
    plans: Vec<AccessPlan>,
    /// Full probes behind slot checks, emitted after the block body.
    slot_stubs: Vec<SlotStub>,
    /// See [`Codegen::loop_slot_sites`]: (slot offset, addend register).
    loop_slots: Vec<(i32, u8)>,
    /// Set when compiling for an AOT image: where the code holds
    /// position-dependent fields a loader must patch.
    fixups: Option<Fixups>,
}

/// Position-dependent fields of one block, recorded for AOT relocation.
#[derive(Default)]
struct Fixups {
    exit_rel32: Vec<u32>,
    site_imm32: Vec<u32>,
}

/// How the softmmu translates one memory op of a block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AccessPlan {
    /// Its own TLB probe.
    Own,
    /// First of a run of same-kind accesses through the same address temp:
    /// one probe covers `[addr + lo, addr + lo + len)`.
    Head { lo: i32, len: u32 },
    /// Covered by its run's head probe (r15 already holds the addend).
    Covered,
}

/// Longest byte range one probe may cover for a run of accesses.
const MAX_RUN_BYTES: i64 = 256;

/// Groups the block's loads and stores into runs that share one TLB probe:
/// consecutive memory ops (other ops may sit between them, none touch r15)
/// of the same kind through the same non-constant address temp whose byte
/// ranges together span at most `MAX_RUN_BYTES`. The head's probe checks
/// the whole range, so the run's pages and permissions are verified before
/// its first access; if the probe declines (miss the handler cannot serve,
/// range crossing a page), only the head is replayed and the rest of the
/// block runs as a new block with its own probes, keeping faults precise.
fn access_plans(b: &IrBlock, plans: &mut Vec<AccessPlan>) {
    plans.clear();
    plans.resize(b.ops.len(), AccessPlan::Own);
    let mut is_const = vec![false; b.num_temps as usize];
    // (head index, addr, is_store, lo, hi)
    let mut run: Option<(usize, Temp, bool, i64, i64)> = None;
    for (i, op) in b.ops.iter().enumerate() {
        let (addr, off, width, store) = match *op {
            IrOp::Const { dst, .. } => {
                is_const[dst as usize] = true;
                continue;
            }
            IrOp::Load {
                addr, off, width, ..
            } => (addr, off, width, false),
            IrOp::Store {
                addr, off, width, ..
            } => (addr, off, width, true),
            _ => continue,
        };
        let (lo, hi) = (off as i64, off as i64 + width.bytes() as i64);
        if let Some((head, ra, rs, rlo, rhi)) = run {
            let (nlo, nhi) = (rlo.min(lo), rhi.max(hi));
            if ra == addr && rs == store && nhi - nlo <= MAX_RUN_BYTES {
                plans[i] = AccessPlan::Covered;
                plans[head] = AccessPlan::Head {
                    lo: nlo as i32,
                    len: (nhi - nlo) as u32,
                };
                run = Some((head, ra, rs, nlo, nhi));
                continue;
            }
        }
        run = (!is_const[addr as usize]).then_some((i, addr, store, lo, hi));
    }
}

/// At most this many globals are carried in registers around a self-loop,
/// leaving the rest of the pool for temporaries.
const MAX_CARRIED: usize = 5;

/// Whether `b` ends by jumping back to its own first instruction.
fn is_self_loop(b: &IrBlock) -> bool {
    match b.term {
        Terminator::Jump(t) => t == b.pc,
        Terminator::Branch { taken, .. } => taken == b.pc,
        _ => false,
    }
}

/// Globals read before being written in `b` (values that flow around a
/// self-loop), with the temp read at the head and the temp holding the
/// global's value at the end of the block.
fn loop_carried(b: &IrBlock, out: &mut Vec<(u8, Temp, Temp)>) {
    let mut first: [Option<Temp>; NUM_GLOBALS] = [None; NUM_GLOBALS];
    let mut written = 0u64;
    let mut last: [Option<Temp>; NUM_GLOBALS] = [None; NUM_GLOBALS];
    let mut order = Vec::new();
    for op in &b.ops {
        match *op {
            IrOp::GetGlobal { dst, g }
                if written & (1 << g) == 0 && first[g as usize].is_none() =>
            {
                first[g as usize] = Some(dst);
                order.push(g);
            }
            IrOp::SetGlobal { g, src } => {
                written |= 1 << g;
                last[g as usize] = Some(src);
            }
            _ => {}
        }
    }
    out.clear();
    out.extend(order.into_iter().take(MAX_CARRIED).map(|g| {
        let head = first[g as usize].expect("recorded");
        (g, head, last[g as usize].unwrap_or(head))
    }));
}

/// Whether every global in `carried` is read exactly once in `b` (by its
/// head temp): then its writes can be kept in registers until the block is
/// left, since no later read would see the stale CPU-state slot.
fn deferrable(b: &IrBlock, carried: &[(u8, Temp, Temp)]) -> bool {
    let mut mask = 0u64;
    for &(g, _, _) in carried {
        mask |= 1 << g;
    }
    let mut reads = [0u8; NUM_GLOBALS];
    for op in &b.ops {
        if let IrOp::GetGlobal { g, .. } = *op {
            if mask & (1 << g) != 0 {
                reads[g as usize] += 1;
            }
        }
    }
    carried.iter().all(|&(g, _, _)| reads[g as usize] == 1)
}

/// Where a deferred global's current value is when an exit writes it back.
#[derive(Clone, Copy)]
enum WbSrc {
    Reg(u8),
    Slot(u8),
    Const(u64),
    /// In another global's CPU-state slot (a written-through value).
    Global(u8),
}

fn fits_i32(v: u64) -> bool {
    (v as i64) >= i32::MIN as i64 && (v as i64) <= i32::MAX as i64
}

impl<'b> Codegen<'b> {
    fn new(b: &'b IrBlock, base: usize, exit: usize, region_base: usize, scratch: Scratch) -> Self {
        let n = b.num_temps as usize;
        let Scratch {
            mut asm,
            code,
            mut loc,
            mut last_use,
            mut home,
            mut faults,
            mut chains,
            mut wb,
            mut quantum_stubs,
            mut carried,
            mut misses,
            mut plans,
            mut slot_stubs,
            mut loop_slots,
            fixups,
        } = scratch;
        asm.reserve_ops(b.ops.len() * 16 + 160);
        wb.clear();
        quantum_stubs.clear();
        carried.clear();
        misses.clear();
        plans.clear();
        slot_stubs.clear();
        loop_slots.clear();
        // A temp's last use defaults to its definition, so unused results die at once.
        last_use.clear();
        last_use.resize(n, 0);
        loc.clear();
        loc.resize(n, Loc::None);
        home.clear();
        home.resize(n, None);
        faults.clear();
        chains.clear();
        for (i, op) in b.ops.iter().enumerate() {
            op.for_each_use(|t| last_use[t as usize] = i as u32);
            if let Some(d) = op.dst() {
                last_use[d as usize] = last_use[d as usize].max(i as u32);
            }
        }
        let end = b.ops.len() as u32;
        b.term.for_each_use(|t| last_use[t as usize] = end);
        if is_self_loop(b) {
            loop_carried(b, &mut carried);
        }
        for &(_, _, tail) in &carried {
            // The value flows into the next iteration: keep it to the end.
            last_use[tail as usize] = end;
        }
        let mut deferred = 0u64;
        // Only globals the loop writes need deferring; read-only ones keep
        // their (never stale) CPU-state slot as a free eviction target.
        let mut written = [(0u8, 0 as Temp, 0 as Temp); MAX_CARRIED];
        let mut nw = 0;
        for &(g, head, tail) in &carried {
            if head != tail {
                written[nw] = (g, head, tail);
                nw += 1;
            }
        }
        let written = &written[..nw];
        if !written.is_empty() && deferrable(b, written) {
            for &(g, head, _) in written {
                deferred |= 1 << g;
                // The current value of a deferred global must survive until
                // it is replaced: any exit before that writes it back.
                let mut cur = head;
                for (i, op) in b.ops.iter().enumerate() {
                    if let IrOp::SetGlobal { g: sg, src } = *op {
                        if sg == g {
                            last_use[cur as usize] = last_use[cur as usize].max(i as u32);
                            cur = src;
                        }
                    }
                }
                last_use[cur as usize] = end;
            }
        }
        Self {
            b,
            asm,
            code,
            base,
            exit,
            region_base,
            loc,
            last_use,
            home,
            holder: [None; NUM_GLOBALS],
            reg_temp: [None; 16],
            pinned: 0,
            free_slots: u64::MAX,
            faults,
            chains,
            wb,
            quantum_stubs,
            sites: Vec::new(),
            cur: 0,
            carried,
            quantum: None,
            body: None,
            head_regs: [0; MAX_CARRIED],
            deferred,
            cur_val: [None; NUM_GLOBALS],
            softmmu: None,
            misses,
            plans,
            slot_stubs,
            loop_slots,
            fixups,
        }
    }

    /// Gives back the reusable state, and the block's chain sites.
    fn into_parts(self) -> (Scratch, Vec<ChainSite>) {
        let Codegen {
            asm,
            code,
            loc,
            last_use,
            home,
            faults,
            chains,
            wb,
            quantum_stubs,
            carried,
            misses,
            plans,
            slot_stubs,
            loop_slots,
            fixups,
            sites,
            ..
        } = self;
        let scratch = Scratch {
            asm,
            code,
            loc,
            last_use,
            home,
            faults,
            chains,
            wb,
            quantum_stubs,
            carried,
            misses,
            plans,
            slot_stubs,
            loop_slots,
            fixups,
        };
        (scratch, sites)
    }

    fn global_off(g: u8) -> i32 {
        off::GLOBALS + 8 * g as i32
    }

    /// Stores a 64-bit immediate to `[rbp + disp]` (clobbers rcx for wide values).
    fn store_imm(&mut self, disp: i32, v: u64) {
        if fits_i32(v) {
            asm!(self.asm; mov QWORD [rbp + disp], v as i32);
        } else {
            asm!(self.asm; mov rcx, QWORD v as i64 ; mov [rbp + disp], rcx);
        }
    }

    fn mov_imm(&mut self, r: u8, v: u64) {
        if v == 0 {
            asm!(self.asm; xor Rd(r), Rd(r));
        } else if v <= u32::MAX as u64 {
            asm!(self.asm; mov Rd(r), v as i32);
        } else if fits_i32(v) {
            asm!(self.asm; mov Rq(r), v as i32);
        } else {
            asm!(self.asm; mov Rq(r), QWORD v as i64);
        }
    }

    /// Copies the current value of `t` into host register `r` (loc unchanged).
    fn copy_to(&mut self, r: u8, t: Temp) {
        match self.loc[t as usize] {
            Loc::Const(v) => self.mov_imm(r, v),
            Loc::Reg(s) => {
                if s != r {
                    asm!(self.asm; mov Rq(r), Rq(s));
                }
            }
            Loc::Home => {
                let g = self.home[t as usize].expect("home temp has a home");
                let d = Self::global_off(g);
                asm!(self.asm; mov Rq(r), [rbp + d]);
            }
            Loc::Slot(s) => {
                let d = 8 * s as i32;
                asm!(self.asm; mov Rq(r), [rsp + d]);
            }
            Loc::None => unreachable!("use of undefined temp {t}"),
        }
    }

    fn free_reg(&self) -> Option<u8> {
        POOL.iter()
            .copied()
            .find(|&r| self.reg_temp[r as usize].is_none() && self.pinned & (1 << r) == 0)
    }

    /// Returns a free pool register, evicting the least urgent unpinned value.
    fn alloc(&mut self) -> Result<u8, CodegenError> {
        if let Some(r) = self.free_reg() {
            return Ok(r);
        }
        // Prefer values whose global still holds them (free to drop), then
        // the one used furthest in the future.
        let mut best: Option<(bool, u32, u8)> = None;
        for &r in &POOL {
            if self.pinned & (1 << r) != 0 {
                continue;
            }
            let t = self.reg_temp[r as usize].expect("pool reg occupied");
            let key = (
                self.home[t as usize].is_some(),
                self.last_use[t as usize],
                r,
            );
            if best.is_none_or(|b| (key.0, key.1) > (b.0, b.1)) {
                best = Some(key);
            }
        }
        let (has_home, _, r) = best.ok_or(CodegenError::TooManySpills(SPILL_SLOTS))?;
        let t = self.reg_temp[r as usize].take().expect("victim");
        if has_home {
            self.loc[t as usize] = Loc::Home;
        } else {
            if self.free_slots == 0 {
                return Err(CodegenError::TooManySpills(SPILL_SLOTS));
            }
            let s = self.free_slots.trailing_zeros() as u8;
            self.free_slots &= !(1 << s);
            let d = 8 * s as i32;
            asm!(self.asm; mov [rsp + d], Rq(r));
            self.loc[t as usize] = Loc::Slot(s);
        }
        Ok(r)
    }

    /// Moves whatever lives in rdx elsewhere and keeps rdx out of this op's
    /// allocation (x86 wide multiply and division write it).
    fn vacate_rdx(&mut self) -> Result<(), CodegenError> {
        self.pinned |= 1 << RDX;
        if let Some(t) = self.reg_temp[RDX as usize].take() {
            let r = self.alloc()?;
            asm!(self.asm; mov Rq(r), rdx);
            self.bind(t, r);
        }
        Ok(())
    }

    fn bind(&mut self, t: Temp, r: u8) {
        self.reg_temp[r as usize] = Some(t);
        self.loc[t as usize] = Loc::Reg(r);
    }

    /// Ensures `t` is in a register and pins it for the current op.
    fn use_reg(&mut self, t: Temp) -> Result<u8, CodegenError> {
        if let Loc::Reg(r) = self.loc[t as usize] {
            self.pinned |= 1 << r;
            return Ok(r);
        }
        let r = self.alloc()?;
        self.copy_to(r, t);
        if let Loc::Slot(s) = self.loc[t as usize] {
            self.free_slots |= 1 << s;
        }
        self.bind(t, r);
        self.pinned |= 1 << r;
        Ok(r)
    }

    /// An operand usable as a 32-bit sign-extended immediate or a register.
    fn opnd(&mut self, t: Temp) -> Result<Opnd, CodegenError> {
        match self.loc[t as usize] {
            Loc::Const(v) if fits_i32(v) => Ok(Opnd::Imm(v as i32)),
            _ => self.use_reg(t).map(Opnd::Reg),
        }
    }

    /// Releases temps whose last use is the current op.
    fn release(&mut self, t: Temp) {
        if self.last_use[t as usize] <= self.cur {
            self.kill(t);
        }
    }

    fn kill(&mut self, t: Temp) {
        match self.loc[t as usize] {
            Loc::Reg(r) if self.reg_temp[r as usize] == Some(t) => {
                self.reg_temp[r as usize] = None;
            }
            Loc::Slot(s) => self.free_slots |= 1 << s,
            _ => {}
        }
        if let Some(g) = self.home[t as usize].take() {
            if self.holder[g as usize] == Some(t) {
                self.holder[g as usize] = None;
            }
        }
        self.loc[t as usize] = Loc::None;
    }

    /// Destination register for a two-address op `dst = a op ...`: reuses
    /// `a`'s register when `a` dies here, else copies `a` into a fresh one.
    fn two_addr_dst(&mut self, dst: Temp, a: Temp) -> Result<u8, CodegenError> {
        if let Loc::Reg(ra) = self.loc[a as usize] {
            if self.last_use[a as usize] <= self.cur {
                self.kill(a);
                self.bind(dst, ra);
                self.pinned |= 1 << ra;
                return Ok(ra);
            }
        }
        let d = self.alloc()?;
        self.copy_to(d, a);
        self.bind(dst, d);
        self.pinned |= 1 << d;
        Ok(d)
    }

    fn new_dst(&mut self, dst: Temp) -> Result<u8, CodegenError> {
        let d = self.alloc()?;
        self.bind(dst, d);
        self.pinned |= 1 << d;
        Ok(d)
    }

    fn block(&mut self) -> Result<(), CodegenError> {
        let b = self.b;
        let quantum = self.asm.new_dynamic_label();
        self.quantum = Some(quantum);
        let n = b.insn_count as i32;
        asm!(self.asm;
            sub r13, 1
            ; jb =>quantum
            ; add r12, n
        );
        if !self.carried.is_empty() {
            // Carried globals live in fixed registers at the loop head; the
            // back edge moves the new values there instead of going through
            // the CPU state (store-to-load forwarding on the critical path).
            for k in 0..self.carried.len() {
                let (g, head, _) = self.carried[k];
                let r = self.alloc()?;
                self.head_regs[k] = r;
                let d = Self::global_off(g);
                asm!(self.asm; mov Rq(r), [rbp + d]);
                self.bind(head, r);
                if self.deferred & (1 << g) != 0 {
                    // The CPU-state slot goes stale after the first iteration:
                    // no free eviction to it.
                    self.cur_val[g as usize] = Some(head);
                } else {
                    self.home[head as usize] = Some(g);
                    self.holder[g as usize] = Some(head);
                }
            }
            if self.softmmu.is_some() {
                self.loop_slots = self.loop_slot_sites();
                for i in 0..self.loop_slots.len() {
                    let (slot, reg) = self.loop_slots[i];
                    asm!(self.asm; mov Rq(reg), [rbp + slot + 8]);
                }
            }
            // Softmmu loop bodies start on a 64-byte boundary (an op-cache
            // line): their tight loops otherwise ran at the mercy of where
            // the block happened to land (matmul +19 % .. +46 % against flat
            // between builds differing only in unrelated code size). Flat
            // blocks stay unaligned: aligning them measured 5-7 % slower on
            // sieve and strings.
            if self.softmmu.is_some() {
                self.align_to(64);
            }
            let body = self.asm.new_dynamic_label();
            asm!(self.asm; =>body);
            self.body = Some(body);
        }
        for (i, op) in b.ops.iter().enumerate() {
            self.cur = i as u32;
            self.pinned = 0;
            self.op(op)?;
            op.for_each_use(|t| self.release(t));
            if let Some(d) = op.dst() {
                self.release(d);
            }
        }
        self.cur = b.ops.len() as u32;
        self.pinned = 0;
        self.terminator()?;
        // Out-of-line stubs.
        for i in 0..self.quantum_stubs.len() {
            let (label, wb) = self.quantum_stubs[i];
            asm!(self.asm; =>label);
            self.emit_write_back(wb);
            asm!(self.asm; xor r13d, r13d);
            self.store_imm(off::PC, b.pc);
            self.exit_with(exit_code::QUANTUM);
        }
        asm!(self.asm; =>quantum ; xor r13d, r13d);
        self.store_imm(off::PC, b.pc);
        self.exit_with(exit_code::QUANTUM);
        for i in 0..self.slot_stubs.len() {
            let f = self.slot_stubs[i];
            let last = f.disp + f.len as i32 - 1;
            asm!(self.asm;
                =>f.full
                ; lea rcx, [Rq(f.base) + f.disp]
                ; shr rcx, (12 - tlb_off::SHIFT) as i8
                ; and rcx, [rbp + off::TLB_MASK]
                ; add rcx, [rbp + off::TLB_BASE]
                ; lea rax, [Rq(f.base) + last]
                ; and rax, -4096
                ; cmp rax, [rcx + f.tag]
                ; jne =>f.miss
                ; mov Rq(f.reg), [rcx + tlb_off::ADDEND]
                ; mov [rbp + f.slot], rax
                ; mov [rbp + f.slot + 8], Rq(f.reg)
                ; jmp =>f.back
            );
        }
        for i in 0..self.misses.len() {
            let m = self.misses[i];
            asm!(self.asm; =>m.label);
            match m.at {
                ProbeAddr::Reg { base, disp } => asm!(self.asm; lea r15, [Rq(base) + disp]),
                ProbeAddr::Imm(v) => asm!(self.asm; mov r15, QWORD v as i64),
            }
            asm!(self.asm; mov ecx, m.info as i32);
            let routine = self.softmmu.expect("miss stubs only in softmmu mode");
            // dynasm has no x64 extern relocations: encode `call rel32` by hand.
            let end = self.base + self.asm.offset().0 + 5;
            self.asm.push(0xe8);
            self.asm.push_i32((routine as i64 - end as i64) as i32);
            asm!(self.asm; test ecx, ecx ; jnz =>m.replay);
            if let (Some(slot), ProbeAddr::Reg { base, disp }) = (m.fill_slot, m.at) {
                // The handler served the access: r15 translates its first
                // page (for a split access, both pages: equal addends).
                asm!(self.asm;
                    lea rax, [Rq(base) + disp]
                    ; and rax, -4096
                    ; mov [rbp + slot], rax
                    ; mov [rbp + slot + 8], r15
                );
            }
            if m.reg != R15 {
                // The site keeps its addend in another register; r15 goes
                // back to the loop's r15 site (its slot agrees with it).
                asm!(self.asm; mov Rq(m.reg), r15);
                if let Some(r15_slot) = self.loop_slots.iter().find(|l| l.1 == R15).map(|l| l.0) {
                    asm!(self.asm; mov r15, [rbp + r15_slot + 8]);
                }
            }
            asm!(self.asm; jmp =>m.back);
            if let Some(reload) = m.reload {
                asm!(self.asm; =>reload ; mov r15, [rcx + tlb_off::ADDEND] ; jmp =>m.back);
            }
        }
        for i in 0..self.faults.len() {
            let f = self.faults[i];
            asm!(self.asm; =>f.label ; mov [rbp + off::EXIT_ARG], Rq(f.addr_reg));
            self.emit_write_back(f.wb);
            let pc = if f.code == exit_code::CODE_MODIFIED {
                f.next_pc
            } else {
                f.pc
            };
            self.store_imm(off::PC, pc);
            if f.uncount > 0 {
                let u = f.uncount as i32;
                asm!(self.asm; sub r12, u);
            }
            self.exit_with(f.code);
        }
        for i in 0..self.chains.len() {
            let c = self.chains[i];
            let stub_addr = self.base + self.asm.offset().0;
            asm!(self.asm; =>c.label);
            self.store_imm(off::PC, c.target);
            let patch_addr = self.base + c.jump_end - 4;
            let site = (patch_addr - self.region_base) as i32;
            asm!(self.asm; mov QWORD [rbp + off::EXIT_ARG], site);
            if let Some(f) = self.fixups.as_mut() {
                f.site_imm32.push(self.asm.offset().0 as u32 - 4);
            }
            self.exit_with(exit_code::CHAIN);
            self.sites.push(ChainSite {
                patch_addr,
                stub_addr,
                target_pc: c.target,
            });
        }
        Ok(())
    }

    /// Pads with the recommended multi-byte NOPs up to an `n`-byte aligned
    /// host address (executed once, on entry to the loop).
    fn align_to(&mut self, n: usize) {
        const NOPS: [&[u8]; 9] = [
            &[0x90],
            &[0x66, 0x90],
            &[0x0f, 0x1f, 0x00],
            &[0x0f, 0x1f, 0x40, 0x00],
            &[0x0f, 0x1f, 0x44, 0x00, 0x00],
            &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
            &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
            &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
            &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
        ];
        let addr = self.base + self.asm.offset().0;
        let mut pad = (n - addr % n) % n;
        while pad > 0 {
            let k = pad.min(NOPS.len());
            for &byte in NOPS[k - 1] {
                self.asm.push(byte);
            }
            pad -= k;
        }
    }

    fn used_later(&self, t: Temp) -> bool {
        self.last_use[t as usize] > self.cur
    }

    /// Stops `g` being the home of the temp that currently lives there,
    /// first loading that temp if it is still needed and only in `g`.
    fn detach_holder(&mut self, g: u8) -> Result<(), CodegenError> {
        if let Some(old) = self.holder[g as usize] {
            if self.loc[old as usize] == Loc::Home && self.used_later(old) {
                self.use_reg(old)?;
            }
            self.home[old as usize] = None;
            self.holder[g as usize] = None;
        }
        Ok(())
    }

    fn exit_with(&mut self, code: u64) {
        asm!(self.asm; mov eax, code as i32);
        // dynasm has no x64 extern relocations: encode `jmp rel32` by hand.
        let end = self.base + self.asm.offset().0 + 5;
        let rel = self.exit as i64 - end as i64;
        self.asm.push(0xe9);
        if let Some(f) = self.fixups.as_mut() {
            f.exit_rel32.push(self.asm.offset().0 as u32);
        }
        self.asm.push_i32(rel as i32);
    }

    fn fault_label(
        &mut self,
        loc: crate::ir::GuestLoc,
        code: u64,
        modified: bool,
        addr_reg: u8,
    ) -> dynasmrt::DynamicLabel {
        let label = self.asm.new_dynamic_label();
        let retired = if modified { loc.index + 1 } else { loc.index };
        let wb = self.snapshot_deferred();
        self.faults.push(FaultStub {
            label,
            pc: loc.pc,
            next_pc: loc.next_pc,
            uncount: (self.b.insn_count - retired) as u64,
            code,
            addr_reg,
            wb,
        });
        label
    }

    /// Computes `addr + off` into rax.
    /// Records where every deferred global's current value is right now, for
    /// an exit taken at this point; returns the range in `self.wb`.
    fn snapshot_deferred(&mut self) -> (u32, u32) {
        let start = self.wb.len() as u32;
        let mut mask = self.deferred;
        while mask != 0 {
            let g = mask.trailing_zeros() as u8;
            mask &= mask - 1;
            let t = self.cur_val[g as usize].expect("deferred global has a value");
            let src = match self.loc[t as usize] {
                Loc::Reg(r) => WbSrc::Reg(r),
                Loc::Slot(sl) => WbSrc::Slot(sl),
                Loc::Const(v) => WbSrc::Const(v),
                Loc::Home => WbSrc::Global(self.home[t as usize].expect("home temp has a home")),
                Loc::None => unreachable!("deferred value {t} of global {g} is dead"),
            };
            self.wb.push((g, src));
        }
        (start, self.wb.len() as u32)
    }

    /// Writes back deferred globals recorded by [`Self::snapshot_deferred`]
    /// (clobbers rcx).
    fn emit_write_back(&mut self, range: (u32, u32)) {
        for i in range.0..range.1 {
            let (g, src) = self.wb[i as usize];
            let d = Self::global_off(g);
            match src {
                WbSrc::Reg(r) => asm!(self.asm; mov [rbp + d], Rq(r)),
                WbSrc::Slot(sl) => {
                    let so = 8 * sl as i32;
                    asm!(self.asm; mov rcx, [rsp + so] ; mov [rbp + d], rcx);
                }
                WbSrc::Const(v) => self.store_imm(d, v),
                WbSrc::Global(g2) => {
                    let so = Self::global_off(g2);
                    asm!(self.asm; mov rcx, [rbp + so] ; mov [rbp + d], rcx);
                }
            }
        }
    }

    /// Returns a register holding `addr + disp`: the address temp's own
    /// (pinned) register when there is no displacement, else rax.
    fn guest_addr(&mut self, addr: Temp, disp: i32) -> Result<u8, CodegenError> {
        match self.loc[addr as usize] {
            Loc::Const(v) => {
                self.mov_imm(RAX, v.wrapping_add(disp as i64 as u64));
                Ok(RAX)
            }
            _ => {
                let r = self.use_reg(addr)?;
                if disp == 0 {
                    return Ok(r);
                }
                asm!(self.asm; lea rax, [Rq(r) + disp]);
                Ok(RAX)
            }
        }
    }

    /// Softmmu fast path: probes way 0 of the TLB set of the range
    /// `[at, at + len)` and makes r15 hold the page's host addend, so the
    /// access is `[r15 + address]` as in flat mode. The way-0 array is
    /// reached through the CPU state (`add rcx, [rbp + TLB_BASE]`), rax and
    /// rcx are scratch. r15 keeps the last addend between accesses and is only
    /// *compared* with the entry's: the access then depends on its address
    /// and r15 alone, and the CPU issues it while the probe is still
    /// checking (branch prediction), so a hit adds no load latency to the
    /// guest's dependency chain. Ten instructions on a hit (eight for a
    /// constant address). A miss calls the shared routine out of line and,
    /// if the handler declines, exits to `replay`. A range whose last byte
    /// is on the next page never matches (its page differs from the tag)
    /// and is resolved by the handler.
    fn tlb_check(
        &mut self,
        at: ProbeAddr,
        len: u32,
        access: AccessType,
        replay: dynasmrt::DynamicLabel,
    ) {
        let tag = match access {
            AccessType::Read => tlb_off::TAG_READ,
            AccessType::Write => tlb_off::TAG_WRITE,
            AccessType::Execute => tlb_off::TAG_EXEC,
        };
        let miss = self.asm.new_dynamic_label();
        let reload = self.asm.new_dynamic_label();
        let back = self.asm.new_dynamic_label();
        match at {
            ProbeAddr::Reg { base, disp } => {
                let last = disp + len as i32 - 1;
                if disp == 0 {
                    asm!(self.asm; mov rcx, Rq(base));
                } else {
                    asm!(self.asm; lea rcx, [Rq(base) + disp]);
                }
                asm!(self.asm;
                    shr rcx, (12 - tlb_off::SHIFT) as i8
                    ; and rcx, [rbp + off::TLB_MASK]
                    ; add rcx, [rbp + off::TLB_BASE]
                );
                if last == 0 {
                    asm!(self.asm; mov rax, Rq(base));
                } else {
                    asm!(self.asm; lea rax, [Rq(base) + last]);
                }
                asm!(self.asm; and rax, -4096);
            }
            ProbeAddr::Imm(v) => {
                let page = v.wrapping_add(len as u64 - 1) & !0xfff;
                self.mov_imm(1, v >> (12 - tlb_off::SHIFT));
                asm!(self.asm; and rcx, [rbp + off::TLB_MASK] ; add rcx, [rbp + off::TLB_BASE]);
                self.mov_imm(RAX, page);
            }
        }
        asm!(self.asm;
            cmp rax, [rcx + tag]
            ; jne =>miss
            ; cmp r15, [rcx + tlb_off::ADDEND]
            ; jne =>reload
            ; =>back
        );
        self.misses.push(MissStub {
            label: miss,
            reload: Some(reload),
            back,
            replay,
            at,
            info: miss_info(access, len),
            fill_slot: None,
            reg: R15,
        });
    }

    /// Per-site fast path: each access site owns a slot in the CPU state
    /// holding the page and addend of its last translation; an aligned
    /// access to that page needs five instructions and no TLB lookup:
    ///
    /// ```text
    /// lea rax, [base + disp] ; and rax, -4096 | (len - 1)
    /// cmp rax, [rbp + slot] ; jne full ; mov r15, [rbp + slot + 8]
    /// ```
    ///
    /// (a misaligned access keeps low bits and always takes the full
    /// probe, which also catches page crossings). The out-of-line full
    /// probe looks the TLB up and refills the slot. Slots are valid until
    /// the MMU's next flush or write revocation: the dispatcher clears
    /// them when the MMU generation changed.
    fn slot_check(
        &mut self,
        base: u8,
        disp: i32,
        len: u32,
        access: AccessType,
        replay: dynasmrt::DynamicLabel,
    ) -> u8 {
        let tag = match access {
            AccessType::Write => tlb_off::TAG_WRITE,
            AccessType::Read => tlb_off::TAG_READ,
            AccessType::Execute => tlb_off::TAG_EXEC,
        };
        let slot = self.slot_offset(self.cur as usize, access);
        let mask = (!0xfffu64 | (len as u64 - 1)) as i64 as i32;
        let full = self.asm.new_dynamic_label();
        let miss = self.asm.new_dynamic_label();
        let back = self.asm.new_dynamic_label();
        if disp == 0 {
            asm!(self.asm; mov rax, Rq(base));
        } else {
            asm!(self.asm; lea rax, [Rq(base) + disp]);
        }
        asm!(self.asm;
            and rax, mask
            ; cmp rax, [rbp + slot]
            ; jne =>full
        );
        let reg = self.addend_reg(slot);
        if !self.loop_slots.iter().any(|l| l.0 == slot) {
            asm!(self.asm; mov r15, [rbp + slot + 8]);
        }
        asm!(self.asm; =>back);
        self.slot_stubs.push(SlotStub {
            full,
            miss,
            back,
            base,
            disp,
            len,
            tag,
            slot,
            reg,
        });
        self.misses.push(MissStub {
            label: miss,
            reload: None,
            back,
            replay,
            at: ProbeAddr::Reg { base, disp },
            info: miss_info(access, len),
            fill_slot: Some(slot),
            reg,
        });
        reg
    }

    /// CPU-state offset of the translation slot of the access at op `index`.
    fn slot_offset(&self, index: usize, access: AccessType) -> i32 {
        let bank = if access == AccessType::Write { 64 } else { 0 };
        let i = bank + ((self.b.pc as usize >> 2).wrapping_add(index) & 63);
        off::TLB_SLOTS + 16 * i as i32
    }

    /// For a self-loop whose only probes are one or two slot-checked
    /// accesses: their slots, with the register that holds each slot's
    /// addend throughout the loop (r15, then r14, which the softmmu does not
    /// otherwise need). Loaded before the loop body; every probe path (slot
    /// hit, full probe, served miss) leaves the register and the slot in
    /// agreement, so slot hits need not reload it.
    fn loop_slot_sites(&self) -> Vec<(i32, u8)> {
        let mut sites: Vec<(i32, u8)> = Vec::new();
        for (i, op) in self.b.ops.iter().enumerate() {
            let (addr, access) = match *op {
                IrOp::Load { addr, .. } => (addr, AccessType::Read),
                IrOp::Store { addr, .. } => (addr, AccessType::Write),
                _ => continue,
            };
            match self.plans[i] {
                AccessPlan::Covered => continue,
                AccessPlan::Head { .. } => return Vec::new(),
                AccessPlan::Own => {}
            }
            let constant = self
                .b
                .ops
                .iter()
                .any(|o| matches!(*o, IrOp::Const { dst, .. } if dst == addr));
            let slot = self.slot_offset(i, access);
            if constant || sites.len() == 2 || sites.iter().any(|s| s.0 == slot) {
                return Vec::new();
            }
            let reg = if sites.is_empty() { R15 } else { R14 };
            sites.push((slot, reg));
        }
        sites
    }

    /// Register an access through `slot` takes its host addend from.
    fn addend_reg(&self, slot: i32) -> u8 {
        self.loop_slots
            .iter()
            .find(|l| l.0 == slot)
            .map_or(R15, |l| l.1)
    }

    /// Emits the TLB probe the access plan asks for, before the access's
    /// address is materialized (the probe uses rax and rcx as scratch).
    fn softmmu_probe(
        &mut self,
        addr: Temp,
        disp: i32,
        width: Width,
        loc: crate::ir::GuestLoc,
        access: AccessType,
    ) -> Result<u8, CodegenError> {
        let (lo, len) = match self.plans[self.cur as usize] {
            AccessPlan::Covered => return Ok(R15),
            AccessPlan::Own => (disp, width.bytes() as u32),
            AccessPlan::Head { lo, len } => (lo, len),
        };
        if self.plans[self.cur as usize] == AccessPlan::Own
            && !matches!(self.loc[addr as usize], Loc::Const(_))
        {
            let base = self.use_reg(addr)?;
            let replay = self.fault_label(loc, exit_code::MMU_SLOW, false, 1);
            return Ok(self.slot_check(base, disp, len, access, replay));
        }
        let at = match self.loc[addr as usize] {
            Loc::Const(v) => ProbeAddr::Imm(v.wrapping_add(lo as i64 as u64)),
            _ => ProbeAddr::Reg {
                base: self.use_reg(addr)?,
                disp: lo,
            },
        };
        // (The dispatcher replays the access; the exit argument is unused.)
        let replay = self.fault_label(loc, exit_code::MMU_SLOW, false, 1);
        self.tlb_check(at, len, access, replay);
        Ok(R15)
    }

    fn bounds_check(&mut self, a: u8, width: Width, label: dynasmrt::DynamicLabel) {
        let lim = off::MEM_LIMIT + 8 * width.log2() as i32;
        asm!(self.asm; cmp Rq(a), [rbp + lim] ; ja =>label);
    }

    fn op(&mut self, op: &IrOp) -> Result<(), CodegenError> {
        match *op {
            IrOp::Const { dst, val } => {
                self.loc[dst as usize] = Loc::Const(val);
            }
            IrOp::GetGlobal { dst, .. } if self.loc[dst as usize] != Loc::None => {
                // Already bound at the loop head.
            }
            IrOp::GetGlobal { dst, g } => {
                self.detach_holder(g)?;
                self.loc[dst as usize] = Loc::Home;
                self.home[dst as usize] = Some(g);
                self.holder[g as usize] = Some(dst);
            }
            IrOp::SetGlobal { g, src } if self.deferred & (1 << g) != 0 => {
                // Written back by whichever exit leaves the loop.
                self.cur_val[g as usize] = Some(src);
            }
            IrOp::SetGlobal { g, src } => {
                // A live value still only in this global must be fetched
                // before the global is overwritten.
                if self.holder[g as usize] != Some(src) {
                    self.detach_holder(g)?;
                }
                let d = Self::global_off(g);
                match self.loc[src as usize] {
                    Loc::Const(v) => self.store_imm(d, v),
                    _ => {
                        let r = self.use_reg(src)?;
                        asm!(self.asm; mov [rbp + d], Rq(r));
                        if let Some(g2) = self.home[src as usize] {
                            self.holder[g2 as usize] = None;
                        }
                        self.home[src as usize] = Some(g);
                        self.holder[g as usize] = Some(src);
                    }
                }
            }
            IrOp::Bin { op, dst, a, b } => self.bin(op, dst, a, b)?,
            IrOp::Un { op, dst, a } => {
                let ra = self.use_reg(a)?;
                let d = self.new_dst(dst)?;
                match op {
                    UnOp::Sext32 => asm!(self.asm; movsxd Rq(d), Rd(ra)),
                    UnOp::Zext32 => asm!(self.asm; mov Rd(d), Rd(ra)),
                }
            }
            IrOp::SetCond { cond, dst, a, b } => {
                let ra = self.use_reg(a)?;
                let ob = self.opnd(b)?;
                self.cmp(ra, ob);
                let d = self.new_dst(dst)?;
                match cond {
                    Cond::Eq => asm!(self.asm; sete al),
                    Cond::Ne => asm!(self.asm; setne al),
                    Cond::Lt => asm!(self.asm; setl al),
                    Cond::Ge => asm!(self.asm; setge al),
                    Cond::Ltu => asm!(self.asm; setb al),
                    Cond::Geu => asm!(self.asm; setae al),
                }
                asm!(self.asm; movzx Rd(d), al);
            }
            IrOp::Load {
                dst,
                addr,
                off: disp,
                width,
                signed,
                loc,
            } => {
                let mut ar = R15;
                let a = if self.softmmu.is_some() {
                    ar = self.softmmu_probe(addr, disp, width, loc, AccessType::Read)?;
                    self.guest_addr(addr, disp)?
                } else {
                    let a = self.guest_addr(addr, disp)?;
                    let code = exit_code::FAULT_LOAD | ((width.log2() as u64) << 8);
                    let label = self.fault_label(loc, code, false, a);
                    self.bounds_check(a, width, label);
                    a
                };
                let d = self.new_dst(dst)?;
                match (width, signed) {
                    (Width::W8, true) => asm!(self.asm; movsx Rq(d), BYTE [Rq(ar) + Rq(a)]),
                    (Width::W8, false) => asm!(self.asm; movzx Rd(d), BYTE [Rq(ar) + Rq(a)]),
                    (Width::W16, true) => asm!(self.asm; movsx Rq(d), WORD [Rq(ar) + Rq(a)]),
                    (Width::W16, false) => asm!(self.asm; movzx Rd(d), WORD [Rq(ar) + Rq(a)]),
                    (Width::W32, true) => asm!(self.asm; movsxd Rq(d), DWORD [Rq(ar) + Rq(a)]),
                    (Width::W32, false) => asm!(self.asm; mov Rd(d), DWORD [Rq(ar) + Rq(a)]),
                    (Width::W64, _) => asm!(self.asm; mov Rq(d), QWORD [Rq(ar) + Rq(a)]),
                }
            }
            IrOp::Store {
                addr,
                off: disp,
                src,
                width,
                loc,
            } => {
                let val = match self.loc[src as usize] {
                    Loc::Const(v) if fits_i32(v) || width != Width::W64 => Opnd::Imm(v as i32),
                    _ => Opnd::Reg(self.use_reg(src)?),
                };
                let mut ar = R15;
                let a = if self.softmmu.is_some() {
                    ar = self.softmmu_probe(addr, disp, width, loc, AccessType::Write)?;
                    self.guest_addr(addr, disp)?
                } else {
                    let a = self.guest_addr(addr, disp)?;
                    let code = exit_code::FAULT_STORE | ((width.log2() as u64) << 8);
                    let fault = self.fault_label(loc, code, false, a);
                    self.bounds_check(a, width, fault);
                    a
                };
                match (width, val) {
                    (Width::W8, Opnd::Imm(v)) => asm!(self.asm; mov BYTE [Rq(ar) + Rq(a)], v as i8),
                    (Width::W16, Opnd::Imm(v)) => {
                        asm!(self.asm; mov WORD [Rq(ar) + Rq(a)], v as i16)
                    }
                    (Width::W32, Opnd::Imm(v)) => asm!(self.asm; mov DWORD [Rq(ar) + Rq(a)], v),
                    (Width::W64, Opnd::Imm(v)) => asm!(self.asm; mov QWORD [Rq(ar) + Rq(a)], v),
                    (Width::W8, Opnd::Reg(r)) => asm!(self.asm; mov BYTE [Rq(ar) + Rq(a)], Rb(r)),
                    (Width::W16, Opnd::Reg(r)) => asm!(self.asm; mov WORD [Rq(ar) + Rq(a)], Rw(r)),
                    (Width::W32, Opnd::Reg(r)) => asm!(self.asm; mov DWORD [Rq(ar) + Rq(a)], Rd(r)),
                    (Width::W64, Opnd::Reg(r)) => asm!(self.asm; mov QWORD [Rq(ar) + Rq(a)], Rq(r)),
                }
                if self.softmmu.is_some() {
                    // Pages holding code never get a TLB write tag: stores to
                    // them took the miss path and were replayed.
                    return Ok(());
                }
                let smc = self.fault_label(loc, exit_code::CODE_MODIFIED, true, a);
                asm!(self.asm; mov rcx, Rq(a) ; shr rcx, 12 ; cmp BYTE [r14 + rcx], 0 ; jne =>smc);
                if width != Width::W8 {
                    // The access may end in the next page.
                    let last = width.bytes() as i32 - 1;
                    asm!(self.asm; lea rcx, [Rq(a) + last] ; shr rcx, 12 ; cmp BYTE [r14 + rcx], 0 ; jne =>smc);
                }
            }
        }
        Ok(())
    }

    fn cmp(&mut self, ra: u8, b: Opnd) {
        match b {
            Opnd::Imm(v) => asm!(self.asm; cmp Rq(ra), v),
            Opnd::Reg(rb) => asm!(self.asm; cmp Rq(ra), Rq(rb)),
        }
    }

    fn bin(&mut self, op: BinOp, dst: Temp, a: Temp, b: Temp) -> Result<(), CodegenError> {
        match op {
            BinOp::Add | BinOp::Sub | BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Mul => {
                let ob = self.opnd(b)?;
                let d = self.two_addr_dst(dst, a)?;
                match (op, ob) {
                    (BinOp::Add, Opnd::Imm(v)) => asm!(self.asm; add Rq(d), v),
                    (BinOp::Add, Opnd::Reg(r)) => asm!(self.asm; add Rq(d), Rq(r)),
                    (BinOp::Sub, Opnd::Imm(v)) => asm!(self.asm; sub Rq(d), v),
                    (BinOp::Sub, Opnd::Reg(r)) => asm!(self.asm; sub Rq(d), Rq(r)),
                    (BinOp::And, Opnd::Imm(v)) => asm!(self.asm; and Rq(d), v),
                    (BinOp::And, Opnd::Reg(r)) => asm!(self.asm; and Rq(d), Rq(r)),
                    (BinOp::Or, Opnd::Imm(v)) => asm!(self.asm; or Rq(d), v),
                    (BinOp::Or, Opnd::Reg(r)) => asm!(self.asm; or Rq(d), Rq(r)),
                    (BinOp::Xor, Opnd::Imm(v)) => asm!(self.asm; xor Rq(d), v),
                    (BinOp::Xor, Opnd::Reg(r)) => asm!(self.asm; xor Rq(d), Rq(r)),
                    (BinOp::Mul, Opnd::Imm(v)) => asm!(self.asm; imul Rq(d), Rq(d), v),
                    (BinOp::Mul, Opnd::Reg(r)) => asm!(self.asm; imul Rq(d), Rq(r)),
                    _ => unreachable!(),
                }
            }
            BinOp::Shl | BinOp::Shr | BinOp::Sar => {
                let amount = match self.loc[b as usize] {
                    Loc::Const(v) => Some((v & 63) as i8),
                    _ => None,
                };
                if amount.is_none() {
                    let rb = self.use_reg(b)?;
                    asm!(self.asm; mov rcx, Rq(rb));
                }
                let d = self.two_addr_dst(dst, a)?;
                match (op, amount) {
                    (BinOp::Shl, Some(s)) => asm!(self.asm; shl Rq(d), s),
                    (BinOp::Shr, Some(s)) => asm!(self.asm; shr Rq(d), s),
                    (BinOp::Sar, Some(s)) => asm!(self.asm; sar Rq(d), s),
                    (BinOp::Shl, None) => asm!(self.asm; shl Rq(d), cl),
                    (BinOp::Shr, None) => asm!(self.asm; shr Rq(d), cl),
                    (BinOp::Sar, None) => asm!(self.asm; sar Rq(d), cl),
                    _ => unreachable!(),
                }
            }
            BinOp::MulH | BinOp::MulHU | BinOp::MulHSU => {
                self.vacate_rdx()?;
                let ra = self.use_reg(a)?;
                let rb = self.use_reg(b)?;
                asm!(self.asm; mov rax, Rq(ra));
                match op {
                    BinOp::MulH => asm!(self.asm; imul Rq(rb)),
                    _ => asm!(self.asm; mul Rq(rb)),
                }
                if op == BinOp::MulHSU {
                    asm!(self.asm; mov rcx, Rq(ra) ; sar rcx, 63 ; and rcx, Rq(rb) ; sub rdx, rcx);
                }
                let d = self.new_dst(dst)?;
                asm!(self.asm; mov Rq(d), rdx);
            }
            BinOp::Div | BinOp::DivU | BinOp::Rem | BinOp::RemU => {
                self.vacate_rdx()?;
                let ra = self.use_reg(a)?;
                let rb = self.use_reg(b)?;
                let d = self.new_dst(dst)?;
                let zero = self.asm.new_dynamic_label();
                let norm = self.asm.new_dynamic_label();
                let done = self.asm.new_dynamic_label();
                asm!(self.asm; test Rq(rb), Rq(rb) ; jz =>zero);
                let signed = matches!(op, BinOp::Div | BinOp::Rem);
                if signed {
                    asm!(self.asm;
                        cmp Rq(rb), -1 ; jne =>norm
                        ; mov rax, QWORD i64::MIN ; cmp Rq(ra), rax ; jne =>norm
                    );
                    if op == BinOp::Div {
                        asm!(self.asm; mov Rq(d), Rq(ra));
                    } else {
                        asm!(self.asm; xor Rd(d), Rd(d));
                    }
                    asm!(self.asm; jmp =>done);
                }
                asm!(self.asm; =>norm ; mov rax, Rq(ra));
                if signed {
                    asm!(self.asm; cqo ; idiv Rq(rb));
                } else {
                    asm!(self.asm; xor edx, edx ; div Rq(rb));
                }
                match op {
                    BinOp::Div | BinOp::DivU => asm!(self.asm; mov Rq(d), rax),
                    _ => asm!(self.asm; mov Rq(d), rdx),
                }
                asm!(self.asm; jmp =>done ; =>zero);
                match op {
                    BinOp::Div | BinOp::DivU => asm!(self.asm; mov Rq(d), -1),
                    _ => asm!(self.asm; mov Rq(d), Rq(ra)),
                }
                asm!(self.asm; =>done);
            }
        }
        Ok(())
    }

    fn chain_jump(&mut self, target: u64, cond: Option<Cond>) {
        let label = self.asm.new_dynamic_label();
        match cond {
            None => asm!(self.asm; jmp =>label),
            Some(Cond::Eq) => asm!(self.asm; je =>label),
            Some(Cond::Ne) => asm!(self.asm; jne =>label),
            Some(Cond::Lt) => asm!(self.asm; jl =>label),
            Some(Cond::Ge) => asm!(self.asm; jge =>label),
            Some(Cond::Ltu) => asm!(self.asm; jb =>label),
            Some(Cond::Geu) => asm!(self.asm; jae =>label),
        }
        let jump_end = self.asm.offset().0;
        self.chains.push(ChainStub {
            label,
            target,
            jump_end,
        });
    }

    fn jcc(&mut self, cond: Cond, label: dynasmrt::DynamicLabel) {
        match cond {
            Cond::Eq => asm!(self.asm; je =>label),
            Cond::Ne => asm!(self.asm; jne =>label),
            Cond::Lt => asm!(self.asm; jl =>label),
            Cond::Ge => asm!(self.asm; jge =>label),
            Cond::Ltu => asm!(self.asm; jb =>label),
            Cond::Geu => asm!(self.asm; jae =>label),
        }
    }

    /// Loop back edge of a self-loop: count the iteration, move each carried
    /// global's new value into its head register, and jump to the body.
    fn back_edge(&mut self) -> Result<(), CodegenError> {
        let mut quantum = self.quantum.expect("prologue emitted");
        let body = self.body.expect("self-loop has a body label");
        let n = self.b.insn_count as i32;
        if self.deferred != 0 {
            // Leaving at the quantum must first write the deferred globals back.
            quantum = self.asm.new_dynamic_label();
            let wb = self.snapshot_deferred();
            self.quantum_stubs.push((quantum, wb));
        }
        asm!(self.asm;
            sub r13, 1
            ; jb =>quantum
            ; add r12, n
        );
        let mut reg_moves: Vec<(u8, u8)> = Vec::new();
        let mut other: Vec<(u8, Temp)> = Vec::new();
        for (k, &(_, _, tail)) in self.carried.iter().enumerate() {
            let dst = self.head_regs[k];
            match self.loc[tail as usize] {
                Loc::Reg(r) if r == dst => {}
                Loc::Reg(r) => reg_moves.push((r, dst)),
                _ => other.push((dst, tail)),
            }
        }
        // Parallel register moves; rax breaks cycles.
        while !reg_moves.is_empty() {
            let ready = (0..reg_moves.len())
                .find(|&i| !reg_moves.iter().any(|&(src, _)| src == reg_moves[i].1));
            match ready {
                Some(i) => {
                    let (src, dst) = reg_moves.remove(i);
                    asm!(self.asm; mov Rq(dst), Rq(src));
                }
                None => {
                    let (src, _) = reg_moves[0];
                    asm!(self.asm; mov rax, Rq(src));
                    for m in reg_moves.iter_mut() {
                        if m.0 == src {
                            m.0 = RAX;
                        }
                    }
                }
            }
        }
        // Values not in registers read memory or are constants: no conflicts.
        for (dst, tail) in other {
            self.copy_to(dst, tail);
        }
        asm!(self.asm; jmp =>body);
        Ok(())
    }

    fn terminator(&mut self) -> Result<(), CodegenError> {
        match self.b.term {
            Terminator::Jump(_) if self.body.is_some() => self.back_edge()?,
            Terminator::Jump(t) => self.chain_jump(t, None),
            Terminator::Branch {
                cond,
                a,
                b,
                fallthrough,
                ..
            } if self.body.is_some() => {
                let ra = self.use_reg(a)?;
                let ob = self.opnd(b)?;
                self.cmp(ra, ob);
                let back = self.asm.new_dynamic_label();
                self.jcc(cond, back);
                let wb = self.snapshot_deferred();
                self.emit_write_back(wb);
                self.chain_jump(fallthrough, None);
                asm!(self.asm; =>back);
                self.back_edge()?;
            }
            Terminator::Branch {
                cond,
                a,
                b,
                taken,
                fallthrough,
            } => {
                let ra = self.use_reg(a)?;
                let ob = self.opnd(b)?;
                self.cmp(ra, ob);
                self.chain_jump(taken, Some(cond));
                self.chain_jump(fallthrough, None);
            }
            Terminator::JumpIndirect(t) => {
                self.copy_to(RAX, t);
                let mask = (JMP_CACHE_ENTRIES - 1) as i32;
                let miss = self.asm.new_dynamic_label();
                asm!(self.asm;
                    mov [rbp + off::PC], rax
                    ; mov rcx, rax
                    ; shr rcx, 2
                    ; and ecx, mask
                    ; shl rcx, 4
                    ; add rcx, [rbp + off::JMP_CACHE]
                    ; cmp [rcx], rax
                    ; jne =>miss
                    ; jmp QWORD [rcx + 8]
                    ; =>miss
                );
                self.exit_with(exit_code::INDIRECT);
            }
            Terminator::Syscall { pc, next_pc } => {
                self.store_imm(off::EXIT_ARG, pc);
                self.store_imm(off::PC, next_pc);
                self.exit_with(exit_code::SYSCALL);
            }
            Terminator::Breakpoint { pc } => {
                // The trapping instruction does not retire.
                asm!(self.asm; sub r12, 1);
                self.store_imm(off::PC, pc);
                self.exit_with(exit_code::BREAKPOINT);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::riscv::{encode, translate_block, Inst, Op};

    fn ins(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> crate::frontend::riscv::Inst {
        crate::frontend::riscv::decode(encode(&Inst {
            op,
            rd,
            rs1,
            rs2,
            imm,
        }))
        .unwrap()
    }

    #[test]
    fn access_runs_share_one_probe_per_base_and_kind() {
        // sd ra,24(sp); addi t0,t0,1; sd s0,16(sp); ld a0,0(a1); ld a3,8(a1);
        // sd a0,0(a2); ld a4,300(a1) (beyond the run window); ebreak
        let insns = [
            ins(Op::Sd, 0, 2, 1, 24),
            ins(Op::Addi, 5, 5, 0, 1),
            ins(Op::Sd, 0, 2, 8, 16),
            ins(Op::Ld, 10, 11, 0, 0),
            ins(Op::Ld, 13, 11, 0, 8),
            ins(Op::Sd, 0, 12, 10, 0),
            ins(Op::Ld, 14, 11, 0, 300),
            ins(Op::Ebreak, 0, 0, 0, 0),
        ];
        let b = translate_block(0x1000, &insns);
        let mut plans = Vec::new();
        access_plans(&b, &mut plans);
        let plans: Vec<AccessPlan> = plans
            .into_iter()
            .zip(&b.ops)
            .filter(|(_, op)| matches!(op, IrOp::Load { .. } | IrOp::Store { .. }))
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            plans,
            vec![
                AccessPlan::Head { lo: 16, len: 16 },
                AccessPlan::Covered,
                AccessPlan::Head { lo: 0, len: 16 },
                AccessPlan::Covered,
                AccessPlan::Own,
                AccessPlan::Own,
            ]
        );
    }

    #[test]
    fn softmmu_blocks_reach_runtime_state_only_through_rbp() {
        // Two backends at different addresses produce identical code for
        // the same block apart from rel32 fields: no absolute addresses.
        let insns = [
            ins(Op::Ld, 10, 11, 0, 8),
            ins(Op::Sd, 0, 12, 10, 0),
            ins(Op::Ebreak, 0, 0, 0, 0),
        ];
        let mut ir = translate_block(0x1000, &insns);
        crate::opt::optimize(&mut ir);
        let code = |be: &mut X64Backend| {
            let c = be.compile(&ir).unwrap();
            // SAFETY: the block was just installed at `entry` with `size` bytes.
            unsafe { std::slice::from_raw_parts(c.entry as *const u8, c.size) }.to_vec()
        };
        let mut a = X64Backend::with_softmmu(1 << 16, true).unwrap();
        let mut b = X64Backend::with_softmmu(1 << 16, true).unwrap();
        let (ca, cb) = (code(&mut a), code(&mut b));
        assert_eq!(ca.len(), cb.len());
        // Region offsets are equal, so even rel32 fields must match.
        assert_eq!(
            a.miss_routine() - a.region_base(),
            b.miss_routine() - b.region_base()
        );
        assert_eq!(ca, cb, "softmmu code must be position independent");
        assert!(a.is_softmmu());
    }
}
