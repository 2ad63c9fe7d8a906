//! `vm`: run a static RV64IM Linux ELF, or compile one ahead of time.
//!
//! `vm run [OPTIONS] PROGRAM.elf [ARGS...]` exits with the guest's status;
//! `vm aot PROGRAM.elf -o PROGRAM.vmimg` compiles the program ahead of time
//! into a code image. `vm --help`, `vm run --help` and `vm aot --help`
//! describe every flag. Errors (bad flags, unreadable input, guest faults)
//! print one `vm: ...` line and exit with status 125, which no guest status
//! shares (guest statuses are reported modulo 256 like on Linux, but 125 is
//! also what qemu-user uses for its own failures).
//!
//! The argument parser is clap (derive): it gives every flag a help text,
//! checks numbers for range and overflow with errors that name the flag,
//! lists the accepted values of enumerated flags, and provides `--version`,
//! which the hand-written parser did not.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use vm_core::{
    build_image, load_image, write_image, AotLoad, BadImagePolicy, EngineKind, MmuConfig,
    PrefetchConfig, PrefetchPolicy, Vm, VmConfig,
};

/// Exit status of the `vm` command itself failing (bad flags, bad input,
/// guest faults).
const EXIT_VM_ERROR: u8 = 125;

/// Largest program file `vm` reads (the default guest memory is 256 MiB;
/// anything larger cannot be a program this VM runs). Bounds the read of
/// inputs like `/dev/zero`.
const MAX_INPUT_BYTES: u64 = 256 << 20;

/// Guest memory bounds of `--mem-mb`: the VM reserves 8 MiB of stack and
/// needs as much again for the program; Sv39 user space ends at 256 GiB.
const MIN_MEM_MB: u64 = 16;
const MAX_MEM_MB: u64 = 256 << 10;

/// Run static RV64IM Linux programs on the vm-core virtual machine
/// (interpreter, x86-64 JIT, tiered, or ahead-of-time images).
#[derive(Debug, Parser)]
#[command(name = "vm", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run PROGRAM.elf with ARGS; exits with the guest's exit status.
    Run(RunArgs),
    /// Compile PROGRAM.elf ahead of time into a code image for
    /// `vm run --engine aot --image`.
    Aot(AotArgs),
}

/// Execution engine of `vm run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// Interpret every instruction.
    Interp,
    /// Compile every block to x86-64 before its first execution.
    Jit,
    /// Interpret until a block is hot (--threshold), then compile it.
    Tiered,
    /// Install the blocks of an AOT image (--image) up front; the JIT
    /// compiles what the image lacks.
    Aot,
}

/// What `vm run --engine aot` does with an image that fails validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnBadImage {
    /// Report the rejection and run under the JIT.
    Jit,
    /// Report the rejection and stop without running.
    Stop,
}

/// Translation prefetcher of the software TLB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Prefetch {
    /// No prefetching.
    None,
    /// On a miss, also translate the next page.
    Next,
    /// Detect strided page sequences and translate ahead.
    Stride,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Execution engine.
    #[arg(long, value_enum, default_value_t = Engine::Jit)]
    engine: Engine,
    /// AOT image written by `vm aot` (required with --engine aot).
    #[arg(long, value_name = "IMG.vmimg")]
    image: Option<PathBuf>,
    /// What to do when the AOT image fails validation.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = OnBadImage::Jit)]
    on_bad_image: OnBadImage,
    /// Print execution statistics to stderr when the guest stops.
    #[arg(long)]
    stats: bool,
    /// Stop with an error once exactly N guest instructions have retired
    /// (1 to 2^64-1; exact on every engine).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    budget: Option<u64>,
    /// Guest memory size in MiB (16 to 262144).
    #[arg(long, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(MIN_MEM_MB..=MAX_MEM_MB))]
    mem_mb: Option<u64>,
    /// Executions after which the tiered engine compiles a block
    /// (1 to 4294967295; default 50).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threshold: Option<u32>,
    /// Do not patch direct jumps between compiled blocks (every block exit
    /// goes through the dispatcher).
    #[arg(long)]
    no_chain: bool,
    /// JIT: compile each block first with the baseline tier (host code
    /// straight from the decoded instructions) and recompile it with the
    /// optimizing tier after 64 entries (flat memory only). The default;
    /// accepted for scripts written when it was not.
    #[arg(long, conflicts_with = "no_baseline")]
    baseline: bool,
    /// JIT: compile every block with the optimizing tier first (no
    /// baseline tier).
    #[arg(long)]
    no_baseline: bool,
    /// Run the guest in an Sv39 address space behind a software TLB
    /// (the default is flat guest memory).
    #[arg(long)]
    mmu: bool,
    /// TLB entries, a power of two (1 to 1048576; implies --mmu).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1 << 20))]
    tlb_entries: Option<u32>,
    /// TLB ways per set, a power of two (1 to 1048576; implies --mmu).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1 << 20))]
    tlb_ways: Option<u32>,
    /// TLB translation prefetcher (implies --mmu).
    #[arg(long, value_enum)]
    prefetch: Option<Prefetch>,
    /// Stop on an unknown system call instead of returning -ENOSYS to the
    /// guest (the default, as Linux does).
    #[arg(long)]
    strict_syscalls: bool,
    /// Let the guest read the host files below DIR (read-only; DIR is the
    /// guest's `/`, `..` and symbolic links cannot leave it). Without it
    /// the guest can open no host file.
    #[arg(long, value_name = "DIR")]
    fs_root: Option<PathBuf>,
    /// The static RV64 ELF executable to run (at most 256 MiB), then the
    /// arguments passed to the guest: everything after PROGRAM.elf goes to
    /// the guest, flags included.
    #[arg(
        value_name = "PROGRAM.elf [ARGS]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,
}

#[derive(Debug, Args)]
struct AotArgs {
    /// The static RV64IM ELF executable to compile (at most 256 MiB).
    #[arg(value_name = "PROGRAM.elf")]
    program: PathBuf,
    /// Where to write the image (written atomically; must not be the program).
    #[arg(short = 'o', value_name = "IMG.vmimg")]
    output: PathBuf,
    /// Print compilation statistics to stderr.
    #[arg(long)]
    stats: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() { EXIT_VM_ERROR } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let r = match cli.command {
        Command::Run(a) => run_main(a),
        Command::Aot(a) => aot_main(a),
    };
    match r {
        Ok(code) => ExitCode::from(code as u8),
        Err(msg) => {
            eprintln!("vm: {msg}");
            ExitCode::from(EXIT_VM_ERROR)
        }
    }
}

/// Reads a program file: a regular file of at most [`MAX_INPUT_BYTES`].
fn read_input(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if meta.is_dir() {
        return Err(format!("{shown}: is a directory, not an ELF file"));
    }
    if !meta.is_file() {
        return Err(format!(
            "{shown}: not a regular file (devices and pipes are not read)"
        ));
    }
    let too_large = || {
        format!(
            "{shown}: larger than the {} MiB input limit",
            MAX_INPUT_BYTES >> 20
        )
    };
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_large());
    }
    // The file may grow between the check and the read: read one byte past
    // the limit at most.
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{shown}: {e}"))?;
    if data.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_large());
    }
    Ok(data)
}

/// Whether `a` and `b` name the same existing file (also through links).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn run_main(a: RunArgs) -> Result<i32, String> {
    let mut cfg = VmConfig {
        // AOT runs on the JIT engine with the image's blocks installed up
        // front; blocks not in the image are JIT-compiled.
        engine: match a.engine {
            Engine::Interp => EngineKind::Interp,
            Engine::Jit | Engine::Aot => EngineKind::Jit,
            Engine::Tiered => EngineKind::Tiered,
        },
        insn_budget: a.budget,
        chaining: !a.no_chain,
        baseline: a.baseline || !a.no_baseline,
        strict_syscalls: a.strict_syscalls,
        fs_root: a.fs_root.clone(),
        ..VmConfig::default()
    };
    if let Some(mb) = a.mem_mb {
        // In range (checked by the parser), so this cannot overflow.
        cfg.mem_size = mb << 20;
    }
    if let Some(t) = a.threshold {
        cfg.tier_threshold = t;
    }
    if a.mmu || a.tlb_entries.is_some() || a.tlb_ways.is_some() || a.prefetch.is_some() {
        let m = cfg.mmu.get_or_insert_with(MmuConfig::default);
        if let Some(n) = a.tlb_entries {
            m.tlb.entries = n as usize;
        }
        if let Some(n) = a.tlb_ways {
            m.tlb.ways = n as usize;
        }
        if let Some(p) = a.prefetch {
            let policy = match p {
                Prefetch::None => None,
                Prefetch::Next => Some(PrefetchPolicy::NextPage),
                Prefetch::Stride => Some(PrefetchPolicy::Stride),
            };
            m.prefetch = policy.map(|policy| PrefetchConfig {
                policy,
                ..PrefetchConfig::default()
            });
        }
    }
    let aot = a.engine == Engine::Aot;
    if a.image.is_some() && !aot {
        return Err("--image needs --engine aot".into());
    }
    let image = match (&a.image, aot) {
        (Some(img), _) if img.is_dir() => {
            return Err(format!(
                "--image {}: is a directory, not an image file written by `vm aot`",
                img.display()
            ))
        }
        (None, true) => return Err("--engine aot needs --image PROGRAM.vmimg".into()),
        (img, _) => img.clone(),
    };
    let program = a.command[0].clone();
    if program.starts_with('-') && program.len() > 1 {
        return Err(format!(
            "unknown option {program} (see `vm run --help`; use ./{program} for a program of that name)"
        ));
    }
    let elf = read_input(Path::new(&program))?;
    let guest_args = a.command;
    let mut vm = Vm::new(
        cfg,
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
    )
    .map_err(|e| e.to_string())?;
    vm.load_elf(&elf, &guest_args).map_err(|e| e.to_string())?;
    let mut aot_load = None;
    if let Some(image) = image {
        let policy = match a.on_bad_image {
            OnBadImage::Jit => BadImagePolicy::Jit,
            OnBadImage::Stop => BadImagePolicy::Stop,
        };
        // SAFETY: the user named this image on the command line, and running its
        // code is what `--engine aot` asks for; the loader's checks reject damaged,
        // truncated and mismatched images (docs/vm-cli.md: use only images you built).
        let load =
            unsafe { load_image(&mut vm, &image, &elf, policy) }.map_err(|e| e.to_string())?;
        if let Some(e) = &load.rejected {
            eprintln!("vm: {e}; running under the JIT instead");
        }
        aot_load = Some(load);
    }
    let result = vm.run();
    if a.stats {
        print_run_stats(&vm, a.engine, aot_load.as_ref());
    }
    result.map_err(|e| e.to_string())
}

fn print_run_stats(vm: &Vm, engine: Engine, aot_load: Option<&AotLoad>) {
    let s = vm.stats();
    let name = engine
        .to_possible_value()
        .map_or_else(|| format!("{engine:?}"), |v| v.get_name().to_string());
    eprintln!("vm stats: engine={name}");
    if let Some(l) = aot_load {
        match &l.installed {
            Some(i) => eprintln!(
                "  aot image             : {} blocks, {} code bytes, {} jumps prelinked, {} relocations; load {:?} (map {:?}, validate {:?}, install {:?})",
                i.blocks, i.code_bytes, i.prelinked, i.relocations,
                l.total_time(), l.map_time, l.validate_time, l.install_time
            ),
            None => eprintln!("  aot image             : rejected, ran under the JIT"),
        }
    }
    eprintln!("  instructions executed : {}", s.insns_executed);
    eprintln!("  blocks decoded        : {}", s.blocks_decoded);
    eprintln!(
        "  blocks compiled       : {} ({} guest insns)",
        s.blocks_compiled, s.insns_compiled
    );
    eprintln!(
        "  baseline / tiered up  : {} / {}",
        s.blocks_baseline, s.blocks_tiered_up
    );
    eprintln!("  blocks executed       : {}", s.blocks_executed);
    eprintln!(
        "  cache hits / misses   : {} / {} (dispatcher hit rate {:.4}, per-block-execution hit rate {:.6})",
        s.cache_hits,
        s.cache_misses,
        s.hit_rate(),
        s.block_hit_rate()
    );
    eprintln!("  chains patched        : {}", s.chains_patched);
    eprintln!("  invalidations         : {}", s.invalidations);
    eprintln!(
        "  interpreted fallbacks : {} (instructions without a native lowering)",
        s.fallback_insns
    );
    eprintln!(
        "  interp blocks / jit entries : {} / {}",
        s.interp_blocks, s.jit_entries
    );
    eprintln!(
        "  translation time      : {:?} (of which W^X install {:?})",
        s.translate_time, s.install_time
    );
    eprintln!("  execution time        : {:?}", s.exec_time());
    if let Some(m) = vm.config().mmu {
        let t = s.mmu.tlb;
        eprintln!(
            "  mmu                   : Sv39, TLB {} entries x {} ways, prefetch {:?}",
            m.tlb.entries, m.tlb.ways, m.prefetch
        );
        eprintln!(
            "  tlb hits / misses     : load {}/{} store {}/{} fetch {}/{} (inline hits of generated code are not counted)",
            t.read.hits, t.read.misses, t.write.hits, t.write.misses, t.exec.hits, t.exec.misses
        );
        eprintln!(
            "  walks / prefetch      : {} walks, {} prefetch fills, {} evictions, {} replays",
            s.mmu.walks, t.prefetch_fills, t.evictions, s.mmu_replays
        );
    }
    if s.insns_compiled > 0 {
        let n = s.insns_compiled.max(1) as f64;
        eprintln!(
            "  translation per guest insn : {:.1} ns total, {:.1} ns without W^X install",
            s.translate_time.as_nanos() as f64 / n,
            s.translate_time.saturating_sub(s.install_time).as_nanos() as f64 / n
        );
    }
}

fn aot_main(a: AotArgs) -> Result<i32, String> {
    let program = a.program.display().to_string();
    if same_file(&a.program, &a.output) {
        return Err(format!(
            "-o {}: is the input program; choose another output path",
            a.output.display()
        ));
    }
    if a.output.is_dir() {
        return Err(format!("-o {}: is a directory", a.output.display()));
    }
    let elf = read_input(&a.program)?;
    let max_block_insns = VmConfig::default().max_block_insns;
    let (bytes, s) = build_image(&elf, max_block_insns).map_err(|e| format!("{program}: {e}"))?;
    write_image(&a.output, &bytes).map_err(|e| e.to_string())?;
    if a.stats {
        eprintln!(
            "vm aot: {} functions, {} blocks ({} guest insns, {} left to the JIT), {} code bytes, image {} bytes",
            s.functions, s.blocks, s.guest_insns, s.skipped_blocks, s.code_bytes, bytes.len()
        );
        eprintln!(
            "  discovery {:?}, compilation {:?} ({:.1} us per function)",
            s.discover_time,
            s.compile_time,
            s.compile_time.as_secs_f64() * 1e6 / s.functions.max(1) as f64
        );
    }
    Ok(0)
}
