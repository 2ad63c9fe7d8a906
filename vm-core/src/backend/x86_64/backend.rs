//! The x86-64 JIT backend's public face: [`X64Backend`] owns the code
//! region and the entry/exit trampoline and runs the stages of code
//! generation (analysis, lowering with register allocation, encoding,
//! install) for each block; compiled-block and relocatable-block types.

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynasmApi, VecAssembler};

use super::analysis::{access_plans, AccessPlan};
use super::baseline::Baseline;
use super::codebuf::ExecMemory;
use super::lower::{ChainStub, Codegen, FaultStub};
use super::regalloc::{Loc, WbSrc, FRAME};
use super::softmmu::{MissStub, SlotStub};
use crate::backend::CodegenError;
use crate::frontend::riscv::Inst;
use crate::ir::{IrBlock, Temp};
use crate::state::{offsets as off, CpuState, NUM_GLOBALS};

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

/// Per-block code generation state kept between compilations so that
/// compiling a block neither allocates it anew (allocation dominated small
/// blocks) nor moves it: each block's [`Codegen`] borrows it.
pub(super) struct Scratch {
    /// One assembler for every block: relocations are all relative inside
    /// the block, so its base address never matters (absolute targets are
    /// encoded by hand from `Codegen::base`).
    pub(super) asm: VecAssembler<X64Relocation>,
    /// The last block's finished code.
    pub(super) code: Vec<u8>,
    /// Where each temp lives (see `regalloc`).
    pub(super) loc: Vec<Loc>,
    /// Index of each temp's last use (the op count for the terminator).
    pub(super) last_use: Vec<u32>,
    /// The global whose CPU-state slot holds each temp's value, if any.
    pub(super) home: Vec<Option<u8>>,
    /// Out-of-line exits of loads and stores, emitted after the body.
    pub(super) faults: Vec<FaultStub>,
    /// Out-of-line exits of direct jumps, emitted after the body.
    pub(super) chains: Vec<ChainStub>,
    /// Write-back lists of exits (see `FaultStub::wb`).
    pub(super) wb: Vec<(u8, WbSrc)>,
    /// Quantum exits on a self-loop back edge, with their write-back lists.
    pub(super) quantum_stubs: Vec<(dynasmrt::DynamicLabel, (u32, u32))>,
    /// For a block that jumps back to itself: the globals kept in host
    /// registers across iterations, as (global, temp read at the head,
    /// temp holding the value at the end of the body).
    pub(super) carried: Vec<(u8, Temp, Temp)>,
    /// TLB miss stubs, emitted after the block body.
    pub(super) misses: Vec<MissStub>,
    /// Softmmu probe plan per op (empty in flat mode).
    pub(super) plans: Vec<AccessPlan>,
    /// What is known of each temp's value: `lower::SEXT32`, `lower::ZEXT32` bits.
    pub(super) range: Vec<u8>,
    /// Full probes behind slot checks, emitted after the block body.
    pub(super) slot_stubs: Vec<SlotStub>,
    /// See `Codegen::loop_slot_sites`: (slot offset, addend register).
    pub(super) loop_slots: Vec<(i32, u8)>,
    /// The temp whose value each global's CPU-state slot holds (its home).
    pub(super) holder: Vec<Option<Temp>>,
    /// Temp holding each deferred global's current value.
    pub(super) cur_val: Vec<Option<Temp>>,
    /// Set (by [`X64Backend::compile_relocatable`]) to record the
    /// position-dependent fields of the next block.
    pub(super) fixups: Option<Fixups>,
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
            range: Vec::new(),
            slot_stubs: Vec::new(),
            loop_slots: Vec::new(),
            holder: vec![None; NUM_GLOBALS],
            cur_val: vec![None; NUM_GLOBALS],
            fixups: None,
        }
    }
}

pub(super) type EnterFn = unsafe extern "sysv64" fn(*mut CpuState, usize) -> u64;

/// The x86-64 JIT backend: owns the code region and the entry/exit trampoline.
pub struct X64Backend {
    pub(super) mem: ExecMemory,
    pub(super) enter: EnterFn,
    pub(super) exit_addr: usize,
    /// Shared TLB-miss routine (saves caller-saved registers, calls the
    /// miss handler through `CpuState::tlb_miss_fn`).
    pub(super) miss_addr: usize,
    /// Guest accesses go through the software TLB (Sv39) instead of the
    /// flat bounds check.
    pub(super) softmmu: bool,
    pub(super) after_trampoline: usize,
    pub(super) install_time: std::time::Duration,
    /// Reused by every block (see [`Scratch`]).
    pub(super) scratch: Scratch,
    /// The baseline tier's reused buffers (see `baseline`).
    pub(super) baseline: Baseline,
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
            scratch: Scratch::default(),
            baseline: Baseline::default(),
        })
    }

    /// Runs generated code at `entry` until it exits; returns the exit word.
    ///
    /// # Safety
    /// `entry` must be the entry of a block compiled by this backend that is
    /// still installed, and `cpu` must be attached to live guest memory;
    /// when any baseline block compiled with a tier-up counter may run,
    /// `cpu.tier_counters` must point to a `u32` table covering its index.
    pub unsafe fn enter(&self, cpu: &mut CpuState, entry: usize) -> u64 {
        // SAFETY: the trampoline and `entry` are code of this backend's
        // region; the caller guarantees the block is installed and `cpu`
        // describes live guest memory.
        unsafe { (self.enter)(cpu as *mut CpuState, entry) }
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

    pub(super) fn scratch_mut(&mut self) -> &mut Scratch {
        &mut self.scratch
    }

    /// Analysis stage of code generation for `block` as if placed at
    /// `base`: liveness, self-loop carried globals, softmmu access plans,
    /// into the scratch state the returned `Codegen` borrows.
    #[inline(always)]
    pub(super) fn analyze<'b>(&'b mut self, block: &'b IrBlock, base: usize) -> Codegen<'b> {
        let softmmu = self.softmmu.then_some(self.miss_addr);
        let mut cg = Codegen::new(
            block,
            base,
            self.exit_addr,
            self.mem.base(),
            &mut self.scratch,
        );
        cg.softmmu = softmmu;
        if softmmu.is_some() {
            access_plans(block, cg.plans);
        }
        cg
    }

    /// Lowering stage: instruction selection with register allocation (one
    /// fused pass over the ops), then the out-of-line stubs, into the
    /// block's assembler, which goes back into the scratch state; returns
    /// the block's chain sites.
    pub(super) fn lower(&mut self, block: &IrBlock, base: usize) -> Result<Vec<ChainSite>, CodegenError> {
        let mut cg = self.analyze(block, base);
        let r = cg.block();
        let (asm, sites) = (cg.asm, cg.sites);
        self.scratch.asm = asm;
        r.map(|()| sites)
    }

    /// Encoding stage: resolves the labels of the lowered block and moves
    /// its bytes into `self.scratch.code`.
    pub(super) fn encode(&mut self) -> Result<(), CodegenError> {
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
    pub(super) fn generate(
        &mut self,
        block: &IrBlock,
        base: usize,
    ) -> Result<Vec<ChainSite>, CodegenError> {
        let r = self.lower(block, base);
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
            self.scratch.asm = cg.asm;
        }
        let analysis = since(t);
        let t = clock_ns();
        for b in blocks {
            std::hint::black_box(self.generate(b, base)?);
        }
        let full = since(t);
        let mut lowered = Vec::with_capacity(blocks.len());
        for b in blocks {
            self.lower(b, base)?;
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

    /// Baseline tier: compiles the decoded RV64IM block `insns` at guest
    /// `pc` straight to x86-64 (one template per instruction, no IR) and
    /// installs it. `counter`: index of the block's tier-up counter in the
    /// table at `CpuState::tier_counters` (which must cover it whenever the
    /// block runs); `None` compiles a block that never asks to tier up.
    /// Flat memory model only.
    pub fn compile_baseline(
        &mut self,
        pc: u64,
        insns: &[Inst],
        counter: Option<u32>,
    ) -> Result<CompiledBlock, CodegenError> {
        if self.softmmu {
            return Err(CodegenError::Assembler(
                "the baseline tier compiles for the flat memory model only".into(),
            ));
        }
        let base = self.mem.next_addr();
        // About 50 bytes of code per guest instruction: the lines arrive
        // while the code is generated.
        self.mem.prefetch_next(48 * insns.len() + 64);
        let mut sites = Vec::with_capacity(2);
        self.baseline.block(
            pc,
            insns,
            counter,
            (base, self.exit_addr, self.mem.base()),
            &mut sites,
        );
        let code = self.baseline.code();
        // Not timed into `install_time`: two clock reads would cost about a
        // sixth of a baseline compile (the copy is part of `translate_time`).
        let entry = self.mem.append(code)?;
        debug_assert_eq!(entry, base);
        Ok(CompiledBlock {
            entry,
            size: code.len(),
            sites,
        })
    }

    /// Baseline tier without installing (tests): the code
    /// [`Self::compile_baseline`] would install, emitted for placement at
    /// [`Self::next_code_addr`].
    pub fn baseline_code(&mut self, pc: u64, insns: &[Inst], counter: Option<u32>) -> &[u8] {
        let base = self.mem.next_addr();
        let mut sites = Vec::new();
        self.baseline.block(
            pc,
            insns,
            counter,
            (base, self.exit_addr, self.mem.base()),
            &mut sites,
        );
        self.baseline.code()
    }

    /// Compiles an optimized IR block and installs it.
    pub fn compile(&mut self, block: &IrBlock) -> Result<CompiledBlock, CodegenError> {
        let base = self.mem.next_addr();
        let sites = self.generate(block, base)?;
        let code = &self.scratch.code;
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

    /// Starts the next block on a multiple of `align` bytes.
    pub fn align_next(&mut self, align: usize) {
        self.mem.align_next(align);
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

    /// Installs `code` with the 4-byte `fields` (offset into `code`,
    /// value) replaced, in one copy into the code region (AOT images: the
    /// relocated fields are written into the region's copy, not into a
    /// relocated private copy first).
    pub fn install_code_patched(
        &mut self,
        code: &[u8],
        fields: &[(u32, [u8; 4])],
    ) -> Result<usize, CodegenError> {
        let t0 = std::time::Instant::now();
        let r = self.mem.append_patched(code, fields);
        self.install_time += t0.elapsed();
        r
    }

    /// Writable address of the next `len` bytes of code, where an AOT
    /// image's code can be copied in place before it is taken with
    /// [`Self::install_in_place`]; `None` when the region has one view only
    /// or too little room (see [`ExecMemory::writable_tail`]).
    pub fn writable_tail(&mut self, len: usize) -> Option<*mut u8> {
        self.mem.writable_tail(len)
    }

    /// Installs the `len` bytes of code written at [`Self::writable_tail`],
    /// with the 4-byte `fields` (offset, value) replaced; returns its
    /// address.
    pub fn install_in_place(
        &mut self,
        len: usize,
        fields: &[(u32, [u8; 4])],
    ) -> Result<usize, CodegenError> {
        let t0 = std::time::Instant::now();
        let r = self.mem.commit_tail(len, fields);
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

/// Position-dependent fields of one block, recorded for AOT relocation.
#[derive(Default)]
pub(super) struct Fixups {
    pub(super) exit_rel32: Vec<u32>,
    pub(super) site_imm32: Vec<u32>,
}
