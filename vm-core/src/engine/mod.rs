//! Execution engine: the dispatcher that ties the block cache, the
//! interpreter and the JIT together, with hotspot tiering, an instruction
//! budget, and statistics.
//!
//! [`Vm::run_blocks`] runs a bounded quantum of blocks and returns, which
//! is the primitive a vCPU scheduler builds on; [`Vm::run`] loops it until
//! the guest exits.

mod config;
mod error;
mod exit;
mod image_blocks;
mod install;
mod jmp_cache;
mod stats;
mod tiering;

pub use config::{EngineKind, VmConfig};
pub use error::VmError;
pub use exit::Exit;
pub use install::AotInstall;
pub use stats::Stats;
pub use tiering::TierPolicy;

use std::io::Write;
use std::time::{Duration, Instant};

use crate::backend::x86_64::X64Backend;
use crate::backend::{exit_code, CodegenError};
use crate::cache::{BlockCache, BlockId, IncomingLink, PcMap, TranslatedBlock};
use crate::frontend::riscv::{
    decode_parcel, translate_block, translate_superblock, DecodeError, Inst,
};
use crate::guest::{
    apply_map_effect, initial_mappings, load_elf, load_elf_sv39, setup_stack, FsRoot,
    SyscallHandler, SyscallOutcome,
};
use crate::interp;
use crate::memory::{GuestAccess, GuestMemory, GuestMemoryMut, MemFault, PAGE_SHIFT};
use crate::mmu::runtime::{tlb_miss_handler, JitMmuContext};
use crate::mmu::{AccessType, Mmu, MmuBus, PageTableBuilder};
use crate::opt;
use crate::state::{CpuState, GuestState};
use image_blocks::ImageBlocks;
use jmp_cache::JmpCache;

/// Result of a bounded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The guest exited with this status.
    Exited(i32),
    /// The quantum was used up; call again to continue.
    QuantumExpired,
}

/// A virtual machine: one guest CPU, its memory, its block cache and engine.
pub struct Vm {
    cpu: Box<CpuState>,
    mem: GuestMemory,
    sys: SyscallHandler,
    cache: BlockCache,
    backend: Option<X64Backend>,
    jmp_cache: JmpCache,
    tier: TierPolicy,
    cfg: VmConfig,
    stats: Stats,
    exited: Option<i32>,
    /// Which block owns each chain site (patch address -> block).
    site_owner: PcMap<usize, BlockId>,
    /// Blocks of the installed AOT image not entered into the cache yet.
    image: Option<ImageBlocks>,
    /// Invalidations per guest page (self-modifying code).
    page_invalidations: std::collections::HashMap<u64, u32>,
    /// Sv39 MMU (None: flat memory model).
    mmu: Option<Mmu>,
    /// Page-table allocator of the address space (MMU mode).
    page_tables: Option<PageTableBuilder>,
    /// MMU mode: physical code page -> virtual pages decoded from it.
    code_virt: std::collections::HashMap<u64, Vec<u64>>,
    /// MMU mode: virtual code page -> its physical page.
    virt_code: std::collections::HashMap<u64, u64>,
    /// Tier-up counters of baseline-tier blocks, indexed by `BlockId`
    /// (`CpuState::tier_counters` points here; generated code decrements them).
    tier_counters: Vec<u32>,
}

/// Runs `$body` with `$bus` bound to the guest's view of memory: the MMU
/// bus when paging is on, the flat memory otherwise (monomorphized, so the
/// flat interpreter pays nothing for the MMU's existence).
macro_rules! with_bus {
    ($self:ident, $bus:ident => $body:expr) => {
        match $self.mmu.as_mut() {
            Some(mmu) => {
                let $bus = &mut MmuBus {
                    mem: &mut $self.mem,
                    mmu,
                };
                $body
            }
            None => {
                let $bus = &mut $self.mem;
                $body
            }
        }
    };
}

/// A page invalidated this often is treated as data that happens to be
/// executed: its blocks are interpreted instead of compiled again and again.
const SMC_THRASH_LIMIT: u32 = 32;

/// Bytes reserved at the top of guest memory for the initial stack region.
const STACK_RESERVE: u64 = 8 << 20;

/// MMU mode: guest physical memory below this holds the page tables; guest
/// virtual address `va` maps to physical `va + PAGE_TABLE_AREA`.
pub const PAGE_TABLE_AREA: u64 = 2 << 20;

impl Vm {
    /// Creates a VM with empty memory; guest fd 1/2 go to the given writers.
    pub fn new(
        cfg: VmConfig,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Result<Self, VmError> {
        if cfg.max_block_insns == 0 {
            return Err(VmError::Config("max_block_insns must be at least 1".into()));
        }
        if cfg.mem_size < 2 * STACK_RESERVE {
            return Err(VmError::Config(format!(
                "guest memory must be at least {} bytes",
                2 * STACK_RESERVE
            )));
        }
        let phys_size = match cfg.mmu {
            Some(_) => cfg.mem_size.saturating_add(PAGE_TABLE_AREA),
            None => cfg.mem_size,
        };
        let mut mem = GuestMemory::new(phys_size)?;
        let (mmu, page_tables) = match cfg.mmu {
            Some(mc) => {
                let b = PageTableBuilder::new(&mut mem, 0, PAGE_TABLE_AREA)
                    .map_err(|e| VmError::Config(e.to_string()))?;
                let m = Mmu::new(mc, b.root(), &mem).map_err(|e| VmError::Config(e.to_string()))?;
                (Some(m), Some(b))
            }
            None => (None, None),
        };
        let mut cpu = Box::<CpuState>::default();
        let mut jmp_cache = JmpCache::new();
        cpu.attach_memory(mem.host_base(), mem.len(), mem.code_page_map());
        cpu.jmp_cache = jmp_cache.as_mut_ptr() as u64;
        if let Some(m) = &mmu {
            // The way-0 array is boxed inside the TLB: its address survives moves of the Vm.
            cpu.tlb_base = m.tlb().primary_ptr() as u64;
            cpu.tlb_mask = m.tlb().index_mask();
            cpu.tlb_miss_fn = tlb_miss_handler as *const () as usize as u64;
        }
        let backend = match cfg.engine {
            EngineKind::Interp => None,
            _ => Some(X64Backend::with_softmmu(
                cfg.code_cache_bytes,
                mmu.is_some(),
            )?),
        };
        let mut sys = SyscallHandler::new(stdout, stderr, 0, 0);
        sys.set_strict(cfg.strict_syscalls);
        if let Some(dir) = &cfg.fs_root {
            let root = FsRoot::open(dir)
                .map_err(|e| VmError::Config(format!("fs root {}: {e}", dir.display())))?;
            sys.set_fs_root(Some(root));
        }
        Ok(Self {
            cpu,
            mem,
            sys,
            cache: BlockCache::new(),
            backend,
            jmp_cache,
            tier: TierPolicy::new(cfg.tier_threshold),
            cfg,
            stats: Stats::default(),
            exited: None,
            site_owner: PcMap::default(),
            image: None,
            page_invalidations: std::collections::HashMap::new(),
            mmu,
            page_tables,
            code_virt: std::collections::HashMap::new(),
            virt_code: std::collections::HashMap::new(),
            tier_counters: Vec::new(),
        })
    }

    /// Loads a static RV64 ELF and prepares the initial stack with `args`
    /// (`args[0]` is the program name). Meant for a freshly created VM: it
    /// does not drop translations of code the image overwrites.
    pub fn load_elf(&mut self, elf: &[u8], args: &[String]) -> Result<(), VmError> {
        let va_limit = self.cfg.mem_size;
        let img = match self.page_tables.as_mut() {
            Some(b) => load_elf_sv39(elf, &mut self.mem, b, PAGE_TABLE_AREA, va_limit)?,
            None => load_elf(elf, &mut self.mem)?,
        };
        let stack_top = va_limit - 4096;
        let sp = with_bus!(self, bus => setup_stack(bus, stack_top, &img, args, &[]))
            .map_err(VmError::Stack)?;
        let brk_max = va_limit - STACK_RESERVE;
        if img.brk_start >= brk_max {
            return Err(VmError::Config(
                "program image overlaps the stack region".into(),
            ));
        }
        let maps = initial_mappings(&img, brk_max, va_limit);
        self.sys
            .init_address_space(va_limit, img.brk_start, brk_max, &maps, STACK_RESERVE);
        self.cpu.globals[2] = sp;
        self.cpu.pc = img.entry;
        Ok(())
    }

    /// The guest-visible CPU state: registers, pc, retired instructions.
    pub fn cpu(&self) -> &GuestState {
        self.cpu.guest()
    }

    /// The guest-visible CPU state, mutably (set up registers and the pc
    /// before a run). The host context generated code relies on (memory
    /// base, bounds, TLB and jump-cache pointers) is not reachable from here.
    pub fn cpu_mut(&mut self) -> &mut GuestState {
        self.cpu.guest_mut()
    }

    /// Guest memory (guest-physical when the MMU is on).
    pub fn memory(&self) -> &GuestMemory {
        &self.mem
    }

    /// Guest memory, for writes (guest-physical when the MMU is on). The
    /// handle cannot replace the memory the CPU state points into.
    pub fn memory_mut(&mut self) -> GuestMemoryMut<'_> {
        GuestMemoryMut::new(&mut self.mem)
    }

    /// The MMU, when the VM runs with paging (configuration, statistics).
    pub fn mmu(&self) -> Option<&Mmu> {
        self.mmu.as_ref()
    }

    /// Zeroes the MMU's statistics (TLB hits and misses, walks); no-op
    /// without the MMU. (The MMU itself is not handed out mutably: its TLB
    /// holds host addresses into this VM's memory.)
    pub fn reset_mmu_stats(&mut self) {
        if let Some(m) = self.mmu.as_mut() {
            m.reset_stats();
        }
    }

    /// Turns the translation prefetcher on or off (MMU mode; no-op otherwise).
    pub fn set_prefetch(&mut self, cfg: Option<crate::mmu::PrefetchConfig>) {
        if let Some(m) = self.mmu.as_mut() {
            m.set_prefetch(cfg);
        }
    }

    /// Copies bytes to guest *virtual* memory (through the MMU when paging
    /// is on) and drops translations of code they overwrite.
    pub fn write_guest(&mut self, addr: u64, data: &[u8]) -> Result<(), VmError> {
        let pc = self.cpu.pc;
        let r = with_bus!(self, bus => bus.write_bytes(addr, data));
        let code = r.map_err(|fault| VmError::MemFault {
            pc,
            fault,
            kind: "store",
        })?;
        if code.is_some() && !data.is_empty() {
            self.invalidate_written(addr, addr + data.len() as u64)?;
        }
        Ok(())
    }

    /// Drops translations of code in the guest virtual range `[start, end)`
    /// that was just written behind the engine's back (loader, syscalls).
    /// Under the MMU the written pages are resolved to physical pages, so
    /// code reached through another virtual alias is found too.
    fn invalidate_written(&mut self, start: u64, end: u64) -> Result<(), VmError> {
        if end <= start {
            return Ok(());
        }
        for page in (start >> PAGE_SHIFT)..=((end - 1) >> PAGE_SHIFT) {
            match self.mmu.as_mut() {
                None => {
                    if self.mem.is_code_page(page) {
                        self.invalidate_page(page)?;
                    }
                }
                Some(mmu) => {
                    let va = page << PAGE_SHIFT;
                    let Ok(addend) = mmu.translate(&mut self.mem, va, AccessType::Read) else {
                        continue;
                    };
                    let pp = mmu.phys(va, addend) >> PAGE_SHIFT;
                    if self.mem.is_code_page(pp) {
                        self.invalidate_phys_page(pp)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies the memory changes of a system call (`mmap` family, `brk`):
    /// zeroes or copies pages, edits the page tables under the MMU, and
    /// drops cached translations and translated code of the changed range.
    fn apply_map_effects(&mut self) -> Result<(), VmError> {
        for effect in self.sys.take_map_effects() {
            let ((start, end), changed) =
                apply_map_effect(&mut self.mem, self.page_tables.as_mut(), PAGE_TABLE_AREA, effect)
                    .map_err(|e| VmError::Config(format!("system call memory change: {e}")))?;
            let Some(m) = self.mmu.as_mut() else {
                self.invalidate_written(start, end)?;
                continue;
            };
            let (first, last) = (start >> PAGE_SHIFT, end.div_ceil(1 << PAGE_SHIFT));
            if changed {
                if last - first > 64 {
                    m.sfence_vma(None);
                } else {
                    (first..last).for_each(|p| m.sfence_vma(Some(p << PAGE_SHIFT)));
                }
            }
            let vps: Vec<u64> = (self.virt_code.keys().copied())
                .filter(|vp| (first..last).contains(vp))
                .collect();
            for vp in vps {
                self.invalidate_page(vp)?;
            }
            // Code reached through another virtual page of the same physical pages.
            let off = PAGE_TABLE_AREA >> PAGE_SHIFT;
            for pp in first + off..last + off {
                if self.mem.is_code_page(pp) {
                    self.invalidate_phys_page(pp)?;
                }
            }
        }
        Ok(())
    }

    /// MMU mode: maps guest virtual `[va, va + len)` onto guest physical
    /// `[pa, pa + len)` with leaf PTE `flags` (`crate::mmu::pte::PTE_*`;
    /// V and U are added), using superpages where alignment allows. For
    /// embedders and tests that place code and data without an ELF image.
    pub fn map_guest(&mut self, va: u64, pa: u64, len: u64, flags: u64) -> Result<(), VmError> {
        use crate::mmu::pte::{PTE_U, PTE_V};
        let Some(b) = self.page_tables.as_mut() else {
            return Err(VmError::Config(
                "map_guest needs the MMU (VmConfig::mmu)".into(),
            ));
        };
        b.map_range(&mut self.mem, va, pa, len, flags | PTE_V | PTE_U)
            .map_err(|e| VmError::Config(e.to_string()))?;
        // New mappings may replace nothing cached, but a remap must not
        // leave stale entries behind.
        self.sfence_vma(None)
    }

    /// Copies guest *virtual* memory out (through the MMU when paging is on).
    pub fn read_guest(&mut self, addr: u64, out: &mut [u8]) -> Result<(), MemFault> {
        with_bus!(self, bus => bus.read_bytes(addr, out))
    }

    /// `sfence.vma`: after the page tables changed, drop cached
    /// translations of the page containing `va` (or of everything) and the
    /// translated code decoded through the old mapping.
    pub fn sfence_vma(&mut self, va: Option<u64>) -> Result<(), VmError> {
        let Some(m) = self.mmu.as_mut() else {
            return Ok(());
        };
        m.sfence_vma(va);
        let pages: Vec<u64> = match va {
            Some(va) => vec![va >> PAGE_SHIFT],
            None => self.virt_code.keys().copied().collect(),
        };
        for p in pages {
            if self.virt_code.contains_key(&p) {
                self.invalidate_page(p)?;
            }
        }
        Ok(())
    }

    /// Records that code was decoded from virtual page `vp`: marks its
    /// physical page (stores there must invalidate) and takes direct write
    /// access to it away from the TLB.
    fn mark_code_vpage(&mut self, vp: u64) {
        let Some(mmu) = self.mmu.as_mut() else {
            self.mem.mark_code_page(vp);
            return;
        };
        let va = vp << PAGE_SHIFT;
        // The page was just fetched from, so this cannot fault.
        let Ok(addend) = mmu.translate(&mut self.mem, va, AccessType::Execute) else {
            return;
        };
        let pp = mmu.phys(va, addend) >> PAGE_SHIFT;
        self.mem.mark_code_page(pp);
        mmu.revoke_write(pp);
        let vps = self.code_virt.entry(pp).or_default();
        if !vps.contains(&vp) {
            vps.push(vp);
        }
        self.virt_code.insert(vp, pp);
    }

    /// Virtual page `vp` holds no more blocks: forget it as a code page.
    fn release_code_vpage(&mut self, vp: u64) {
        if self.mmu.is_none() {
            self.mem.clear_code_page(vp);
            return;
        }
        let Some(pp) = self.virt_code.remove(&vp) else {
            return;
        };
        if let Some(vps) = self.code_virt.get_mut(&pp) {
            vps.retain(|&v| v != vp);
            if vps.is_empty() {
                self.code_virt.remove(&pp);
                self.mem.clear_code_page(pp);
            }
        }
    }

    /// A store modified physical page `pp`: drop the blocks of every
    /// virtual page decoded from it.
    fn invalidate_phys_page(&mut self, pp: u64) -> Result<(), VmError> {
        if self.mmu.is_none() {
            return self.invalidate_page(pp);
        }
        let vps = self.code_virt.get(&pp).cloned().unwrap_or_default();
        for vp in vps {
            self.invalidate_page(vp)?;
        }
        Ok(())
    }

    /// Generated code declined an access (page fault, store to a code
    /// page, split access): replay the instruction at `pc` in the interpreter.
    fn replay_access(&mut self) -> Result<Option<RunOutcome>, VmError> {
        self.stats.mmu_replays += 1;
        self.interpret_at_pc()
    }

    /// Generated code left its block before an instruction without a
    /// native lowering ([`exit_code::INTERPRET`]): interpret exactly that
    /// instruction.
    fn interpret_one(&mut self) -> Result<Option<RunOutcome>, VmError> {
        self.stats.fallback_insns += 1;
        self.interpret_at_pc()
    }

    /// Generated code of a superblock left before it ran, with the rest
    /// of the quantum (one block, charged) too short for all its basic
    /// blocks ([`exit_code::INTERPRET_BLOCK`]): interprets the basic
    /// block at `cpu.pc`.
    fn interpret_block_at_pc(&mut self) -> Result<Option<RunOutcome>, VmError> {
        let pc = self.cpu.pc;
        let Some(id) = self.cache.peek(pc) else {
            return Ok(None);
        };
        self.stats.interp_blocks += 1;
        let n = self.cache.get(id).insns.len();
        match self.interpret_cached(id, n, pc) {
            Exit::Next(_) => Ok(None),
            e => self.handle_exit(e),
        }
    }

    /// Interprets the first `n` instructions of cached block `id`, which
    /// starts at `pc`. The block is only borrowed while it runs;
    /// invalidation (from the exit's handling) happens after.
    #[inline(always)]
    fn interpret_cached(&mut self, id: BlockId, n: usize, pc: u64) -> Exit {
        let insns: *const [Inst] = &self.cache.get(id).insns[..n];
        // SAFETY: `insns` points into a boxed slice owned by the cache that
        // is not touched until `exec_block` returns.
        let (exit, _) = with_bus!(self, bus => interp::exec_block(
            &mut self.cpu,
            bus,
            unsafe { &*insns },
            pc
        ));
        exit
    }

    /// Interprets the one instruction at `cpu.pc`, fetched and decoded
    /// again through the guest's view of memory (so this is right under
    /// the MMU and after self-modifying stores).
    fn interpret_at_pc(&mut self) -> Result<Option<RunOutcome>, VmError> {
        let pc = self.cpu.pc;
        let word =
            with_bus!(self, bus => bus.fetch_insn(pc)).map_err(|_| VmError::FetchFault { pc })?;
        let inst =
            decode_parcel(word).map_err(|_| VmError::IllegalInstruction { pc, bits: word })?;
        let (exit, _) = with_bus!(self, bus => interp::exec_block(&mut self.cpu, bus, &[inst], pc));
        match exit {
            Exit::Next(_) => Ok(None),
            e => self.handle_exit(e),
        }
    }

    /// Statistics so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.cache_hits = self.cache.stats.hits;
        s.cache_misses = self.cache.stats.misses;
        s.insns_executed = self.cpu.icount;
        s.install_time = self
            .backend
            .as_ref()
            .map_or(Duration::ZERO, |b| b.install_time());
        if let Some(m) = &self.mmu {
            s.mmu = m.stats();
        }
        s
    }

    /// The block cache (for inspection by tests and benchmarks).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn cache(&self) -> &BlockCache {
        &self.cache
    }

    /// The configuration.
    pub fn config(&self) -> &VmConfig {
        &self.cfg
    }

    /// Runs until the guest exits; returns its exit status. With
    /// [`VmConfig::insn_budget`] `Some(n)`, a guest still running after
    /// exactly `n` retired instructions stops with
    /// [`VmError::BudgetExhausted`] (pc = the next instruction), on every
    /// engine.
    pub fn run(&mut self) -> Result<i32, VmError> {
        const QUANTUM: u64 = 1 << 16;
        loop {
            match self.run_blocks(QUANTUM)? {
                RunOutcome::Exited(code) => return Ok(code),
                RunOutcome::QuantumExpired => {}
            }
        }
    }

    /// Runs at most `max_blocks` blocks, then returns.
    pub fn run_blocks(&mut self, max_blocks: u64) -> Result<RunOutcome, VmError> {
        if let Some(code) = self.exited {
            return Ok(RunOutcome::Exited(code));
        }
        let start = Instant::now();
        let r = self.dispatch(max_blocks);
        self.stats.total_time += start.elapsed();
        self.sys.flush();
        if let Ok(RunOutcome::Exited(code)) = r {
            self.exited = Some(code);
        }
        r
    }

    /// Instructions the budget still allows (`None`: no budget); an error
    /// once it is used up.
    fn check_budget(&self) -> Result<Option<u64>, VmError> {
        match self.cfg.insn_budget {
            Some(budget) if self.cpu.icount >= budget => Err(VmError::BudgetExhausted {
                budget,
                pc: self.cpu.pc,
            }),
            Some(budget) => Ok(Some(budget - self.cpu.icount)),
            None => Ok(None),
        }
    }

    fn dispatch(&mut self, max_blocks: u64) -> Result<RunOutcome, VmError> {
        let mut left = max_blocks;
        // Block the interpreter just left through a plain control transfer.
        let mut prev: Option<BlockId> = None;
        while left > 0 {
            let budget_left = self.check_budget()?;
            let pc = self.cpu.pc;
            let linked = prev.and_then(|p| self.cache.successor(p, pc));
            let id = match linked {
                Some(id) => id,
                None => {
                    let id = match self.cache.lookup(pc) {
                        Some(id) => id,
                        None => match self.pending_image_block(pc) {
                            Some(i) => self.register_image_block(i),
                            None => self.decode_new_block(pc)?,
                        },
                    };
                    if let Some(p) = prev {
                        self.cache.link_successor(p, pc, id);
                    }
                    id
                }
            };
            prev = None;
            let want_jit = match self.cfg.engine {
                EngineKind::Interp => false,
                EngineKind::Jit => true,
                EngineKind::Tiered => {
                    let b = self.cache.get_mut(id);
                    b.jit.is_some() || self.tier.record_execution(&mut b.exec_count)
                }
            };
            // Exact budget: a compiled block retires at most max_block_insns
            // instructions per quantum unit, so generated code gets only as
            // many blocks as surely fit; the last partial stretch is
            // interpreted instruction-exactly below.
            let jit_blocks = match budget_left {
                Some(r) => left.min(r / self.cfg.max_block_insns as u64),
                None => left,
            };
            if want_jit && jit_blocks > 0 {
                if let Some(entry) = self.ensure_compiled(id)? {
                    self.jmp_cache.set(pc, entry as u64);
                    self.cpu.quantum = jit_blocks;
                    let backend = self.backend.as_ref().expect("jit engine has a backend");
                    if let Some(m) = &self.mmu {
                        // Per-site translation slots die with the TLB entries they copy.
                        if self.cpu.tlb_slot_gen != m.generation() {
                            self.cpu.clear_tlb_slots();
                            self.cpu.tlb_slot_gen = m.generation();
                        }
                    }
                    let ctx = JitMmuContext {
                        mem: &mut self.mem,
                        mmu: self
                            .mmu
                            .as_mut()
                            .map_or(std::ptr::null_mut(), |m| m as *mut Mmu),
                    };
                    self.cpu.mmu_ctx = &ctx as *const JitMmuContext as u64;
                    // SAFETY: `entry` belongs to a live block of this backend, the
                    // CPU state is attached to `self.mem`, and `ctx` (the miss
                    // handler's view of memory and MMU) outlives the call, during
                    // which nothing else touches them; `tier_counters` covers the
                    // id of every baseline block compiled with a counter (grown
                    // in `compile_baseline` before the block exists).
                    let word = unsafe { backend.enter(&mut self.cpu, entry) };
                    self.cpu.mmu_ctx = 0;
                    self.stats.jit_entries += 1;
                    let ran = jit_blocks - self.cpu.quantum;
                    self.stats.blocks_executed += ran;
                    left -= ran;
                    if let Some(done) = self.handle_jit_exit(word)? {
                        return Ok(done);
                    }
                    continue;
                }
            }
            let b = self.cache.get(id);
            self.stats.interp_blocks += 1;
            self.stats.blocks_executed += 1;
            // Under a budget, only the instructions it still allows.
            let n = budget_left.map_or(b.insns.len(), |r| b.insns.len().min(r as usize));
            let truncated = n < b.insns.len();
            let exit = self.interpret_cached(id, n, pc);
            left -= 1;
            // Plain control transfers are the hot path: keep the rest out of line.
            if matches!(exit, Exit::Next(_)) {
                // A truncated block's successor is not its real successor.
                prev = (!truncated).then_some(id);
                continue;
            }
            if let Some(done) = self.handle_exit(exit)? {
                return Ok(done);
            }
        }
        Ok(RunOutcome::QuantumExpired)
    }

    #[cold]
    #[inline(never)]
    fn handle_exit(&mut self, exit: Exit) -> Result<Option<RunOutcome>, VmError> {
        match exit {
            Exit::Next(_) | Exit::Quantum => Ok(None),
            Exit::Syscall { pc } => {
                let outcome = with_bus!(self, bus => self.sys.handle(&mut self.cpu, bus, pc))?;
                if let Some((start, end)) = self.sys.take_written() {
                    self.invalidate_written(start, end)?;
                }
                if self.sys.has_map_effects() {
                    self.apply_map_effects()?;
                }
                match outcome {
                    SyscallOutcome::Continue => Ok(None),
                    SyscallOutcome::Exit(code) => Ok(Some(RunOutcome::Exited(code))),
                }
            }
            Exit::Fault { pc, fault, store } => Err(VmError::MemFault {
                pc,
                fault,
                kind: if store { "store" } else { "load" },
            }),
            Exit::CodeModified { page, .. } => {
                // The page a store reports is physical (equal to virtual when flat).
                self.invalidate_phys_page(page)?;
                Ok(None)
            }
            Exit::Breakpoint { pc } => Err(VmError::Breakpoint { pc }),
            Exit::Illegal { pc, bits } => Err(VmError::IllegalInstruction { pc, bits }),
        }
    }

    fn handle_jit_exit(&mut self, word: u64) -> Result<Option<RunOutcome>, VmError> {
        let arg = self.cpu.exit_arg;
        let pc = self.cpu.pc;
        let size = 1u64 << ((word >> 8) & 3);
        match word & 0xff {
            exit_code::CHAIN => {
                if self.cfg.chaining {
                    self.try_chain(arg as usize, pc)?;
                }
                Ok(None)
            }
            exit_code::INDIRECT | exit_code::QUANTUM => Ok(None),
            exit_code::TIER_UP => {
                self.tier_up(pc)?;
                Ok(None)
            }
            exit_code::MMU_SLOW => self.replay_access(),
            exit_code::INTERPRET => self.interpret_one(),
            exit_code::INTERPRET_BLOCK => self.interpret_block_at_pc(),
            exit_code::SYSCALL => self.handle_exit(Exit::Syscall { pc: arg }),
            exit_code::BREAKPOINT => Err(VmError::Breakpoint { pc }),
            exit_code::FAULT_LOAD | exit_code::FAULT_STORE => Err(VmError::MemFault {
                pc,
                fault: MemFault::OutOfRange { addr: arg, size },
                kind: if word & 0xff == exit_code::FAULT_STORE {
                    "store"
                } else {
                    "load"
                },
            }),
            exit_code::CODE_MODIFIED => {
                self.invalidate_page(arg >> PAGE_SHIFT)?;
                let last = arg.saturating_add(7) >> PAGE_SHIFT;
                if last != arg >> PAGE_SHIFT {
                    self.invalidate_page(last)?;
                }
                Ok(None)
            }
            other => Err(VmError::Codegen(CodegenError::ExecMemory(format!(
                "unknown exit code {other}"
            )))),
        }
    }

    /// Patches the jump at code-region offset `site` to go straight to the
    /// compiled block at `target_pc`, if there is one.
    fn try_chain(&mut self, site: usize, target_pc: u64) -> Result<(), VmError> {
        let tid = match self.cache.peek(target_pc) {
            Some(id) => id,
            None => match self.pending_image_block(target_pc) {
                Some(i) => self.register_image_block(i),
                None => return Ok(()),
            },
        };
        let Some(entry) = self.cache.get(tid).jit.as_ref().map(|c| c.entry) else {
            return Ok(());
        };
        let patch_addr = self
            .backend
            .as_ref()
            .expect("jit exit implies backend")
            .region_base()
            + site;
        // The stub address is recorded by the source block; find it there
        // (an image block that reached this exit through prelinked jumps
        // only is entered into the cache now).
        if !self.site_owner.contains_key(&patch_addr) {
            if let Some(i) = self.image.as_ref().and_then(|m| m.site_owner(patch_addr)) {
                self.register_image_block(i);
            }
        }
        let Some(stub_addr) = self.find_stub(patch_addr) else {
            return Ok(());
        };
        let backend = self.backend.as_mut().expect("jit exit implies backend");
        backend.patch_jump(patch_addr, entry)?;
        self.cache.get_mut(tid).incoming.push(IncomingLink {
            patch_addr,
            stub_addr,
        });
        self.stats.chains_patched += 1;
        Ok(())
    }

    /// The original exit stub of the chain site at `patch_addr`, looked up
    /// in the block that owns the site.
    fn find_stub(&self, patch_addr: usize) -> Option<usize> {
        let owner = self.site_owner.get(&patch_addr).copied()?;
        self.cache
            .get(owner)
            .jit
            .as_ref()?
            .sites
            .iter()
            .find(|s| s.patch_addr == patch_addr)
            .map(|s| s.stub_addr)
    }

    /// The installed image's block at `pc`, if it is not in the cache yet.
    #[inline]
    fn pending_image_block(&self, pc: u64) -> Option<usize> {
        self.image.as_ref()?.find(pc)
    }

    /// Enters pending image block `i` into the block cache, with its
    /// machine code, chain sites and the prelinked jumps into it (its
    /// pages were marked as code at install).
    #[cold]
    fn register_image_block(&mut self, i: usize) -> BlockId {
        let image = self.image.as_mut().expect("pending block of an image");
        let tb = image.take(i, &self.mem);
        if image.is_exhausted() {
            self.image = None;
        }
        let id = self.cache.insert(tb);
        if let Some(c) = &self.cache.get(id).jit {
            for s in &c.sites {
                self.site_owner.insert(s.patch_addr, id);
            }
        }
        self.stats.aot_blocks_registered += 1;
        id
    }

    fn decode_new_block(&mut self, pc: u64) -> Result<BlockId, VmError> {
        // With the C extension, instruction addresses are 2-byte aligned
        // (jump and branch offsets are even and JALR clears bit 0, so only
        // an odd entry point can get here).
        if !pc.is_multiple_of(2) {
            return Err(VmError::FetchFault { pc });
        }
        let t0 = Instant::now();
        let mut insns = Vec::with_capacity(16);
        let mut cur = pc;
        while insns.len() < self.cfg.max_block_insns {
            let word = match with_bus!(self, bus => bus.fetch_insn(cur)) {
                Ok(w) => w,
                Err(_) if insns.is_empty() => return Err(VmError::FetchFault { pc }),
                Err(_) => break,
            };
            let inst = match decode_parcel(word) {
                Ok(i) => i,
                Err(DecodeError::Illegal(bits)) if insns.is_empty() => {
                    return Err(VmError::IllegalInstruction { pc, bits })
                }
                Err(_) => break,
            };
            insns.push(inst);
            cur = cur.wrapping_add(inst.len as u64);
            if inst.op.ends_block() {
                break;
            }
        }
        let thrashing = ((pc >> PAGE_SHIFT)..=((cur - 1) >> PAGE_SHIFT)).any(|p| {
            self.page_invalidations
                .get(&p)
                .is_some_and(|&n| n >= SMC_THRASH_LIMIT)
        });
        let mut block = TranslatedBlock::new(pc, cur, insns.into_boxed_slice());
        block.interp_only = thrashing;
        for p in block.pages() {
            self.mark_code_vpage(p);
        }
        let id = self.cache.insert(block);
        self.stats.blocks_decoded += 1;
        self.stats.translate_time += t0.elapsed();
        Ok(id)
    }

    /// Compiles block `id` if needed; returns its entry, or None if the
    /// block must be interpreted.
    fn ensure_compiled(&mut self, id: BlockId) -> Result<Option<usize>, VmError> {
        let b = self.cache.get(id);
        if let Some(c) = &b.jit {
            return Ok(Some(c.entry));
        }
        if b.interp_only {
            return Ok(None);
        }
        let t0 = Instant::now();
        if self.baseline_tier() {
            return self.compile_baseline(id, t0).map(Some);
        }
        let mut ir = self.optimizing_ir(id);
        opt::optimize_built(&mut ir);
        let backend = self.backend.as_mut().expect("jit engine has a backend");
        let compiled = match backend.compile(&ir) {
            Ok(c) => c,
            Err(CodegenError::CodeRegionFull) => {
                self.flush_code();
                let backend = self.backend.as_mut().expect("jit engine has a backend");
                backend.compile(&ir)?
            }
            Err(CodegenError::TooManySpills(_)) => {
                self.cache.get_mut(id).interp_only = true;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let entry = compiled.entry;
        for s in &compiled.sites {
            self.site_owner.insert(s.patch_addr, id);
        }
        self.stats.blocks_compiled += 1;
        self.stats.insns_compiled += ir.insn_count as u64;
        self.cache.get_mut(id).jit = Some(compiled);
        self.stats.translate_time += t0.elapsed();
        Ok(Some(entry))
    }

    /// The optimizing tier's IR of block `id`: with the flat memory model a
    /// superblock (the block extended past a final forward branch, within
    /// its pages: see [`translate_superblock`]).
    fn optimizing_ir(&self, id: BlockId) -> crate::ir::IrBlock {
        let b = self.cache.get(id);
        if self.mmu.is_some() {
            return translate_block(b.pc, &b.insns);
        }
        translate_superblock(b.pc, &b.insns, self.cfg.max_block_insns, |a| {
            self.mem.fetch_insn(a).ok()
        })
    }

    /// Whether blocks are compiled first by the baseline tier (JIT engine,
    /// flat memory model, [`VmConfig::baseline`]).
    #[inline]
    fn baseline_tier(&self) -> bool {
        self.cfg.baseline && self.cfg.engine == EngineKind::Jit && self.mmu.is_none()
    }

    /// Compiles block `id` with the baseline tier and arms its tier-up
    /// counter; returns its entry.
    fn compile_baseline(&mut self, id: BlockId, t0: Instant) -> Result<usize, VmError> {
        let threshold = self.cfg.tier_up_threshold;
        let counter = (threshold > 0).then_some(id);
        if let Some(k) = counter {
            let k = k as usize;
            if k >= self.tier_counters.len() {
                self.tier_counters.resize((k + 1).next_power_of_two().max(1024), 0);
                self.cpu.tier_counters = self.tier_counters.as_mut_ptr() as u64;
            }
            self.tier_counters[k] = threshold;
        }
        let b = self.cache.get(id);
        let n_insns = b.insns.len() as u64;
        let backend = self.backend.as_mut().expect("jit engine has a backend");
        let compiled = match backend.compile_baseline(b.pc, &b.insns, counter) {
            Err(CodegenError::CodeRegionFull) => {
                self.flush_code();
                let b = self.cache.get(id);
                let backend = self.backend.as_mut().expect("jit engine has a backend");
                backend.compile_baseline(b.pc, &b.insns, counter)?
            }
            r => r?,
        };
        let entry = compiled.entry;
        for s in &compiled.sites {
            self.site_owner.insert(s.patch_addr, id);
        }
        self.stats.blocks_compiled += 1;
        self.stats.blocks_baseline += 1;
        self.stats.insns_compiled += n_insns;
        self.cache.get_mut(id).jit = Some(compiled);
        self.stats.translate_time += t0.elapsed();
        Ok(entry)
    }

    /// The baseline-tier block at `pc` is hot: recompiles it with the
    /// optimizing tier and swaps the new code in (block cache entry,
    /// chained jumps into it, its jump-cache entry). The old code is left
    /// unreachable in the region until the next flush.
    #[cold]
    fn tier_up(&mut self, pc: u64) -> Result<(), VmError> {
        let Some(id) = self.cache.peek(pc) else {
            return Ok(());
        };
        let b = self.cache.get(id);
        if b.jit.is_none() || b.interp_only {
            return Ok(());
        }
        let t0 = Instant::now();
        let mut ir = self.optimizing_ir(id);
        opt::optimize_built(&mut ir);
        let backend = self.backend.as_mut().expect("jit engine has a backend");
        // Hot code starts on a 32-byte boundary (a decoded-icache window):
        // with the 16-byte alignment of first compiles, matmul's tiered-up
        // loop ran 8-10 % slower than the same code compiled first
        // (placement, not baseline execution: it was as slow with a tier-up
        // threshold of 1). Few blocks tier up, so the padding is cheap.
        backend.align_next(32);
        let compiled = match backend.compile(&ir) {
            Ok(c) => c,
            Err(CodegenError::CodeRegionFull) => {
                // Everything is recompiled on demand (baseline first).
                self.flush_code();
                return Ok(());
            }
            // The block stays baseline code (its counter has passed zero).
            Err(CodegenError::TooManySpills(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let entry = compiled.entry;
        for s in &compiled.sites {
            self.site_owner.insert(s.patch_addr, id);
        }
        let tb = self.cache.get_mut(id);
        let old = tb.jit.replace(compiled);
        let incoming = std::mem::take(&mut tb.incoming);
        let backend = self.backend.as_mut().expect("jit engine has a backend");
        for link in &incoming {
            backend.patch_jump(link.patch_addr, entry)?;
        }
        self.cache.get_mut(id).incoming = incoming;
        // The old code's own chain sites are dead: forget them.
        if let Some(old) = old {
            for s in &old.sites {
                self.site_owner.remove(&s.patch_addr);
                if let Some(t) = self.cache.peek(s.target_pc) {
                    self.cache
                        .get_mut(t)
                        .incoming
                        .retain(|l| l.patch_addr != s.patch_addr);
                }
            }
        }
        self.jmp_cache.repoint(pc, entry as u64);
        self.stats.blocks_compiled += 1;
        self.stats.blocks_tiered_up += 1;
        self.stats.insns_compiled += ir.insn_count as u64;
        self.stats.translate_time += t0.elapsed();
        Ok(())
    }

    /// Drops all machine code (the code region is full).
    fn flush_code(&mut self) {
        for id in self.cache.ids() {
            let b = self.cache.get_mut(id);
            b.jit = None;
            b.incoming.clear();
        }
        self.site_owner.clear();
        // Pending image blocks lose their code: forget them, and their
        // pages unless cached blocks still live there.
        if let Some(image) = self.image.take() {
            for p in image.pending_pages() {
                if self.cache.blocks_in_page(p).is_empty() {
                    self.release_code_vpage(p);
                }
            }
        }
        self.jmp_cache.clear();
        if let Some(be) = self.backend.as_mut() {
            be.flush();
        }
    }

    /// Removes every block overlapping guest page `page` and unlinks jumps into them.
    pub(crate) fn invalidate_page(&mut self, page: u64) -> Result<(), VmError> {
        *self.page_invalidations.entry(page).or_insert(0) += 1;
        if let Some(image) = self.image.as_mut() {
            let mut failed = None;
            let (backend, jmp_cache, stats) =
                (&mut self.backend, &mut self.jmp_cache, &mut self.stats);
            image.drop_page(page, |b, links| {
                stats.invalidations += 1;
                if let Some(be) = backend.as_mut() {
                    for link in links {
                        if let Err(e) = be.patch_jump(link.patch_addr, link.stub_addr) {
                            failed.get_or_insert(e);
                        }
                    }
                }
                jmp_cache.remove(b.pc);
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
        for id in self.cache.blocks_in_page(page) {
            let b = self.cache.remove(id);
            self.stats.invalidations += 1;
            if let Some(be) = self.backend.as_mut() {
                for link in &b.incoming {
                    be.patch_jump(link.patch_addr, link.stub_addr)?;
                }
            }
            if let Some(c) = &b.jit {
                for s in &c.sites {
                    self.site_owner.remove(&s.patch_addr);
                }
            }
            self.jmp_cache.remove(b.pc);
            for p in b.pages() {
                if self.cache.blocks_in_page(p).is_empty()
                    && !self.image.as_ref().is_some_and(|m| m.pending_in_page(p))
                {
                    self.release_code_vpage(p);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod atomics_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_can_move_between_threads() {
        // A vCPU scheduler runs quanta of different VMs on worker threads.
        fn assert_send<T: Send>() {}
        assert_send::<Vm>();
    }

    #[test]
    fn run_blocks_is_resumable_and_counts_blocks() {
        use crate::frontend::riscv::{encode, Inst, Op};
        for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
            let cfg = VmConfig {
                engine,
                mem_size: 32 << 20,
                tier_threshold: 3,
                ..VmConfig::default()
            };
            let mut vm =
                Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
            // addi a0, a0, 1 ; jal zero, -4 : one block per iteration.
            let code: Vec<u8> = [
                encode(&Inst {
                    op: Op::Addi,
                    rd: 10,
                    rs1: 10,
                    rs2: 0,
                    imm: 1, rs3: 0, rm: 0, len: 4,
                }),
                encode(&Inst {
                    op: Op::Jal,
                    rd: 0,
                    rs1: 0,
                    rs2: 0,
                    imm: -4, rs3: 0, rm: 0, len: 4,
                }),
            ]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
            vm.memory_mut().write_bytes(0x10000, &code).unwrap();
            vm.cpu_mut().pc = 0x10000;
            let mut total = 0;
            for q in [1u64, 5, 100, 7] {
                assert_eq!(vm.run_blocks(q).unwrap(), RunOutcome::QuantumExpired);
                total += q;
                assert_eq!(
                    vm.cpu().globals[10],
                    total,
                    "{engine:?} after {total} blocks"
                );
                assert_eq!(vm.stats().blocks_executed, total, "{engine:?}");
            }
        }
    }

    #[test]
    fn unmapped_then_remapped_memory_reads_zero_on_every_engine() {
        // mmap 8 MiB, write every 512th byte, munmap, mmap the same length
        // again (top down: the same place, whose pages the host still has
        // resident until the mapping zeroes them), OR together every 8th doubleword of
        // it and exit with (OR != 0) | (moved << 1): 0 when the range came
        // back in place and all zero. Flat memory and the MMU, each
        // engine, two rounds per VM.
        use crate::frontend::riscv::{encode, Inst, Op};
        let i = |op, rd: u8, rs1: u8, rs2: u8, imm: i32| Inst {
            op,
            rd,
            rs1,
            rs2,
            imm,
            rs3: 0,
            rm: 0,
            len: 4,
        };
        let (a0, a1, a2, a3, a4, a5, a7) = (10, 11, 12, 13, 14, 15, 17);
        let (s0, s1, s2, s3, t0, t1) = (8, 9, 18, 19, 5, 6);
        let mmap = |v: &mut Vec<Inst>| {
            v.extend([
                i(Op::Addi, a7, 0, 0, 222),
                i(Op::Addi, a0, 0, 0, 0),
                i(Op::Lui, a1, 0, 0, 0x80_0000),
                i(Op::Addi, a2, 0, 0, 3),
                i(Op::Addi, a3, 0, 0, 0x22),
                i(Op::Addi, a4, 0, 0, -1),
                i(Op::Addi, a5, 0, 0, 0),
                i(Op::Ecall, 0, 0, 0, 0),
            ])
        };
        let mut p = Vec::new();
        p.push(i(Op::Addi, s3, 0, 0, 2)); // rounds
        let round = p.len();
        mmap(&mut p);
        p.extend([
            i(Op::Addi, s0, a0, 0, 0),
            i(Op::Add, s2, s0, a1, 0),
            i(Op::Addi, s1, s0, 0, 0),
            i(Op::Addi, t0, 0, 0, -1),
            // fill: sd t0, 0(s1) ; addi s1, s1, 512 ; bltu s1, s2, fill
            i(Op::Sd, 0, s1, t0, 0),
            i(Op::Addi, s1, s1, 0, 512),
            i(Op::Bltu, 0, s1, s2, -8),
            // munmap(s0, 8 MiB)
            i(Op::Addi, a7, 0, 0, 215),
            i(Op::Addi, a0, s0, 0, 0),
            i(Op::Ecall, 0, 0, 0, 0),
        ]);
        mmap(&mut p);
        p.extend([
            i(Op::Add, s2, a0, a1, 0),
            i(Op::Addi, s1, a0, 0, 0),
            i(Op::Addi, t1, 0, 0, 0),
            // check: ld t0, 0(s1) ; or t1, t1, t0 ; addi s1, s1, 64 ; bltu
            i(Op::Ld, t0, s1, 0, 0),
            i(Op::Or, t1, t1, t0, 0),
            i(Op::Addi, s1, s1, 0, 64),
            i(Op::Bltu, 0, s1, s2, -12),
            i(Op::Sltu, t1, 0, t1, 0),
            i(Op::Xor, t0, a0, s0, 0),
            i(Op::Sltu, t0, 0, t0, 0),
            i(Op::Slli, t0, t0, 0, 1),
            i(Op::Or, t1, t1, t0, 0),
            // munmap the second mapping too, then the next round.
            i(Op::Addi, a7, 0, 0, 215),
            i(Op::Ecall, 0, 0, 0, 0),
            i(Op::Bne, 0, t1, 0, 12),
            i(Op::Addi, s3, s3, 0, -1),
        ]);
        let back = -4 * (p.len() - round) as i32;
        p.extend([
            i(Op::Bne, 0, s3, 0, back),
            i(Op::Addi, a0, t1, 0, 0),
            i(Op::Addi, a7, 0, 0, 94),
            i(Op::Ecall, 0, 0, 0, 0),
        ]);
        let code: Vec<u8> = p.iter().flat_map(|x| encode(x).to_le_bytes()).collect();
        let elf = crate::guest::elf::tests::tiny_elf(&[(0x10000, &code, code.len() as u64)], 0x10000);
        for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
            for mmu in [false, true] {
                let cfg = VmConfig {
                    engine,
                    mem_size: 64 << 20,
                    mmu: mmu.then(crate::mmu::MmuConfig::default),
                    strict_syscalls: true,
                    ..VmConfig::default()
                };
                let mut vm =
                    Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
                vm.load_elf(&elf, &["remap".to_string()]).unwrap();
                assert_eq!(vm.run().unwrap(), 0, "{engine:?}, mmu {mmu}");
                // Both rounds ran their loops (16 Ki stores, 128 Ki loads each).
                assert!(vm.stats().insns_executed > 2 * 4 * (128 << 10), "{engine:?}, mmu {mmu}");
            }
        }
    }

    #[test]
    fn committed_workloads_agree_on_every_tier() {
        // Output, exit status and final guest state of each committed
        // workload: interpreter = baseline tier alone = baseline with
        // (early and default) tier-up = optimizing tier = tiered engine.
        #[derive(Clone, Default)]
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/bin");
        let configs = [
            ("interp", EngineKind::Interp, true, 64),
            ("baseline only", EngineKind::Jit, true, 0),
            ("baseline, tier-up after 2", EngineKind::Jit, true, 2),
            ("baseline, default tier-up", EngineKind::Jit, true, 64),
            ("optimizing", EngineKind::Jit, false, 64),
            ("tiered", EngineKind::Tiered, true, 64),
        ];
        for name in ["sieve", "matmul", "qsort", "crc32", "fib", "strings", "smc"] {
            let elf = std::fs::read(dir.join(format!("{name}.elf"))).unwrap();
            let mut want = None;
            for (label, engine, baseline, tier_up_threshold) in configs {
                let cfg = VmConfig {
                    engine,
                    baseline,
                    tier_up_threshold,
                    ..VmConfig::default()
                };
                let out = Sink::default();
                let mut vm =
                    Vm::new(cfg, Box::new(out.clone()), Box::new(std::io::sink())).unwrap();
                vm.load_elf(&elf, &[name.to_string()]).unwrap();
                let code = vm.run().unwrap();
                let stats = vm.stats();
                if engine == EngineKind::Jit && baseline {
                    assert!(stats.blocks_baseline > 0, "{name} ({label})");
                    match tier_up_threshold {
                        0 => assert_eq!(stats.blocks_tiered_up, 0, "{name} ({label})"),
                        // smc's code keeps changing under it: nothing gets hot.
                        _ if name == "smc" => {}
                        _ => assert!(stats.blocks_tiered_up > 0, "{name} ({label})"),
                    }
                }
                let got = (
                    out.0.lock().unwrap().clone(),
                    code,
                    *vm.cpu(),
                );
                match &want {
                    None => want = Some(got),
                    Some(w) => {
                        assert_eq!(w.0, got.0, "{name}: {label}: stdout");
                        assert_eq!(w.1, got.1, "{name}: {label}: exit status");
                        assert_eq!(w.2, got.2, "{name}: {label}: guest state");
                    }
                }
            }
        }
    }

}
