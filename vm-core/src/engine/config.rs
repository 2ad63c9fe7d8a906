//! Engine selection and VM limits.

use super::VmError;

/// Which execution strategy the dispatcher uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// Interpreter only.
    Interp,
    /// Every block compiled before its first execution.
    Jit,
    /// Interpret until a block is hot, then compile it.
    Tiered,
}

impl std::str::FromStr for EngineKind {
    type Err = VmError;
    fn from_str(s: &str) -> Result<Self, VmError> {
        match s {
            "interp" => Ok(EngineKind::Interp),
            "jit" => Ok(EngineKind::Jit),
            "tiered" => Ok(EngineKind::Tiered),
            _ => Err(VmError::Config(format!(
                "unknown engine {s:?} (interp|jit|tiered)"
            ))),
        }
    }
}

/// VM configuration.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Execution strategy.
    pub engine: EngineKind,
    /// Guest memory size in bytes (multiple of 4 KiB).
    pub mem_size: u64,
    /// Stop with [`VmError::BudgetExhausted`] once exactly this many
    /// instructions have retired (on every engine; a guest that exits
    /// earlier is not affected).
    pub insn_budget: Option<u64>,
    /// Executions after which the tiered engine compiles a block.
    pub tier_threshold: u32,
    /// JIT engine, flat memory model: compile a block first with the
    /// baseline tier (host code straight from the decoded instructions,
    /// no IR), and recompile it with the optimizing tier once it is hot
    /// (see `tier_up_threshold`). Off: the optimizing tier compiles every
    /// block at once (as it always does under the MMU and in the tiered engine).
    ///
    /// On by default: a block's first compile is about 4x cheaper with it
    /// (issue 13's RV64 JIT goals are met by the default configuration).
    /// It was off until the AOT load got fast enough that a cold JIT start
    /// stays 3.5x slower than an AOT image's with it on
    /// (`aot::bench_aot_startup_vs_jit`, seed bound 3x; vm-core/ARCHITECTURE.md,
    /// "Baseline tier"). `vm run --no-baseline` turns it off (the
    /// optimizing tier compiles every block first).
    pub baseline: bool,
    /// Executions (entries, chained ones included) of a baseline-tier block
    /// after which the optimizing tier recompiles it; 0 = never (blocks
    /// stay baseline code).
    pub tier_up_threshold: u32,
    /// Longest block in guest instructions.
    pub max_block_insns: usize,
    /// Size of the executable code region in bytes.
    pub code_cache_bytes: usize,
    /// Whether direct jumps between compiled blocks are patched into
    /// straight jumps (disable to measure the dispatcher alone).
    pub chaining: bool,
    /// Memory model: `None` = flat guest-physical memory (no translation);
    /// `Some` = Sv39 paging with a software TLB on every access.
    pub mmu: Option<crate::mmu::MmuConfig>,
    /// An unknown system call stops the VM with
    /// [`VmError::UnknownSyscall`] instead of returning `-ENOSYS` to the
    /// guest (the default, as Linux does).
    pub strict_syscalls: bool,
    /// Host directory the guest may read files below (its `/`; the CLI's
    /// `--fs-root`). `None` (the default): no host file is reachable,
    /// every `openat` fails with `-ENOENT`.
    pub fs_root: Option<std::path::PathBuf>,
}

impl Default for VmConfig {
    fn default() -> Self {
        Self {
            engine: EngineKind::Jit,
            mem_size: 256 << 20,
            insn_budget: None,
            tier_threshold: 50,
            baseline: true,
            tier_up_threshold: 64,
            max_block_insns: 64,
            code_cache_bytes: 64 << 20,
            chaining: true,
            mmu: None,
            strict_syscalls: false,
            fs_root: None,
        }
    }
}
