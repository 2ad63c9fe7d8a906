//! The AOT compiler: every discovered block through the frontend, the full
//! optimizer and the backend's relocatable code generator.
//!
//! Compared with the JIT, nothing here is on the guest's critical path, so
//! every block is compiled up front; the loader then links direct jumps
//! between image blocks before the first instruction runs (the JIT only
//! links a jump after taking it once through the dispatcher) and fills the
//! indirect-jump cache with every block, so returns and calls through
//! registers find their target without a dispatcher round trip.

use std::time::{Duration, Instant};

use super::discover::{discover, GuestFunction, Program};
use super::format::{ImageBlock, ImageContents};
use super::AotError;
use crate::backend::x86_64::X64Backend;
use crate::backend::CodegenError;
use crate::frontend::riscv::translate_block;
use crate::opt;

/// What a compilation produced.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CompileStats {
    /// Functions discovered.
    pub functions: usize,
    /// Blocks compiled into the image.
    pub blocks: usize,
    /// Blocks left to the JIT (code generation refused them).
    pub skipped_blocks: usize,
    /// Guest instructions covered by compiled blocks.
    pub guest_insns: usize,
    /// Bytes of machine code.
    pub code_bytes: usize,
    /// Discovery time.
    pub discover_time: Duration,
    /// Translation + optimization + code generation time.
    pub compile_time: Duration,
}

/// Compiles guest blocks to relocatable x86-64 code.
pub struct AotCompiler {
    backend: X64Backend,
    max_block_insns: usize,
}

impl AotCompiler {
    /// A compiler forming blocks of at most `max_block_insns` instructions
    /// (must match the VM that loads the image).
    pub fn new(max_block_insns: usize) -> Result<Self, AotError> {
        // The backend's code region is unused here (nothing is installed)
        // but holds the trampoline the generator is defined against.
        Ok(Self {
            backend: X64Backend::new(4096)?,
            max_block_insns,
        })
    }

    /// Block length limit.
    pub fn max_block_insns(&self) -> usize {
        self.max_block_insns
    }

    /// Discovers the functions and blocks of `elf`.
    pub fn discover(&self, elf: &[u8]) -> Result<Program, AotError> {
        Ok(discover(elf, self.max_block_insns)?)
    }

    /// Compiles every block of function `f`, appending to `out`; returns
    /// how many blocks were left to the JIT.
    pub fn compile_function(
        &mut self,
        prog: &Program,
        f: &GuestFunction,
        out: &mut Vec<ImageBlock>,
    ) -> Result<usize, AotError> {
        let mut skipped = 0;
        for &i in &f.blocks {
            let b = &prog.blocks[i];
            // F/D/Zicsr: not lowered by the code generator; the engine
            // interprets such blocks.
            if b.insns.iter().any(|i| i.op.is_fp_or_csr()) {
                skipped += 1;
                continue;
            }
            let mut ir = translate_block(b.pc, &b.insns);
            opt::optimize(&mut ir);
            match self.backend.compile_relocatable(&ir) {
                Ok(code) => out.push(ImageBlock {
                    pc: b.pc,
                    end: b.end,
                    code,
                    words: b.words.clone(),
                }),
                // The JIT would interpret such a block too.
                Err(CodegenError::TooManySpills(_)) => skipped += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(skipped)
    }

    /// Discovers and compiles a whole program into image contents.
    pub fn compile_program(
        &mut self,
        elf: &[u8],
    ) -> Result<(ImageContents, CompileStats), AotError> {
        let t0 = Instant::now();
        let prog = self.discover(elf)?;
        let discover_time = t0.elapsed();
        let t1 = Instant::now();
        let mut blocks = Vec::with_capacity(prog.blocks.len());
        let mut skipped = 0;
        for f in &prog.functions {
            skipped += self.compile_function(&prog, f, &mut blocks)?;
        }
        let compile_time = t1.elapsed();
        blocks.sort_unstable_by_key(|b| b.pc);
        let mut functions: Vec<u64> = prog
            .functions
            .iter()
            .map(|f| f.entry)
            .filter(|e| blocks.binary_search_by_key(e, |b| b.pc).is_ok())
            .collect();
        functions.sort_unstable();
        let stats = CompileStats {
            functions: prog.functions.len(),
            blocks: blocks.len(),
            skipped_blocks: skipped,
            guest_insns: blocks.iter().map(|b| ((b.end - b.pc) / 4) as usize).sum(),
            code_bytes: blocks.iter().map(|b| b.code.code.len()).sum(),
            discover_time,
            compile_time,
        };
        let contents = ImageContents {
            entry: prog.entry,
            functions,
            blocks,
        };
        Ok((contents, stats))
    }
}
