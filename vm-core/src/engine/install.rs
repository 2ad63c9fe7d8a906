//! Installing a validated AOT image: relocate its code into the backend's
//! code region and enter its blocks into the block cache, as if the JIT
//! had compiled and chained them.

use super::image_blocks::ImageBlocks;
use super::*;
use crate::aot::format::{reloc_kind, BlockRec, ImageView};
use crate::aot::InstallError;
use crate::backend::x86_64::ChainSite;

/// What installing an image did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AotInstall {
    /// Blocks the image holds (entered into the block cache when first
    /// needed, see `engine::image_blocks`).
    pub blocks: usize,
    /// Bytes of machine code placed in the code region.
    pub code_bytes: usize,
    /// Direct jumps linked to their target block at load time.
    pub prelinked: usize,
    /// Relocations applied.
    pub relocations: usize,
}

/// The little-endian rel32/imm32 `v` of the field at code offset `at`
/// (inlined: it runs once per relocation, the error path is cold).
#[inline(always)]
fn field_i32(at: u32, v: i64, what: &str) -> Result<(u32, [u8; 4]), InstallError> {
    match i32::try_from(v) {
        Ok(v) => Ok((at, v.to_le_bytes())),
        Err(_) => Err(out_of_range(what)),
    }
}

#[cold]
fn out_of_range(what: &str) -> InstallError {
    InstallError::Vm(VmError::Codegen(CodegenError::ExecMemory(format!(
        "{what} out of rel32 range"
    ))))
}

impl Vm {
    /// Fingerprint of this VM's code generator (see
    /// [`crate::aot::codegen_fingerprint_of`]); an image must carry the same.
    pub(crate) fn aot_codegen_fingerprint(&mut self) -> u64 {
        match self.backend.as_mut() {
            // A flat-memory backend generates exactly what the default one
            // does (relocatable code holds no addresses): reuse its
            // fingerprint, computed once per process, instead of compiling
            // the probe blocks again on every image load.
            Some(be) if !be.is_softmmu() => crate::aot::codegen_fingerprint(),
            Some(be) => crate::aot::codegen_fingerprint_of(be),
            None => crate::aot::codegen_fingerprint(),
        }
    }

    /// Installs a validated image into a VM that has its program loaded
    /// but has not run yet. Every block's guest range is decoded from guest
    /// memory first (a mismatch rejects the image before anything is
    /// installed); then the code is relocated in a private buffer, written
    /// into the code region's writable view in one copy, and the blocks are entered
    /// into the cache with their direct jumps to other image blocks already
    /// linked and the indirect-jump cache filled.
    ///
    /// `img` must have been validated against this VM's build facts
    /// ([`crate::aot::build_info_for`]) and the SHA-256 of the loaded ELF,
    /// as [`crate::aot::load_image`] does; this method re-checks only that
    /// the blocks match the guest code in memory.
    pub(crate) fn install_aot_image(&mut self, img: &ImageView<'_>) -> Result<AotInstall, InstallError> {
        if self.backend.is_none() {
            return Err(VmError::Config(
                "AOT images need a code region (not the interpreter engine)".into(),
            )
            .into());
        }
        if self.mmu.is_some() {
            // Image code addresses guest memory flat ([r15 + addr]); under the
            // MMU every access must go through the TLB instead.
            return Err(VmError::Config(
                "AOT images hold flat-memory code; run them without the MMU".into(),
            )
            .into());
        }
        if !self.cache.is_empty() || self.cpu.icount != 0 {
            return Err(VmError::Config(
                "AOT images must be installed before the guest runs".into(),
            )
            .into());
        }
        if self.image.is_some() {
            return Err(VmError::Config("an AOT image is already installed".into()).into());
        }
        let n = img.block_count();
        // Block records decoded once (sorted by pc: validated).
        let recs: Vec<BlockRec> = (0..n).map(|i| img.block(i)).collect();
        // Every block's guest instructions, checked against guest memory
        // before anything is installed, kept in one vector for the blocks
        // registered later.
        let total_insns: usize = recs.iter().map(|b| ((b.end - b.pc) / 4) as usize).sum();
        let mut insns: Vec<Inst> = Vec::with_capacity(total_insns);
        let mut insn_ranges: Vec<(u32, u32)> = Vec::with_capacity(n);
        for b in &recs {
            let first = insns.len() as u32;
            let mut pc = b.pc;
            while pc < b.end {
                let inst = self
                    .mem
                    .fetch32(pc)
                    .ok()
                    .and_then(|w| decode(w).ok())
                    .ok_or_else(|| {
                        InstallError::guest_code(format!(
                            "block {:#x}: no valid instruction at {pc:#x}",
                            b.pc
                        ))
                    })?;
                if inst.op.ends_block() && pc + 4 != b.end {
                    return Err(InstallError::guest_code(format!(
                        "block {:#x}: control transfer at {pc:#x} inside the block",
                        b.pc
                    )));
                }
                insns.push(inst);
                pc += 4;
            }
            insn_ranges.push((first, insns.len() as u32));
        }
        let code = img.code();
        let (used, cap) = self.backend.as_ref().map_or((0, 0), |b| b.code_usage());
        if used.next_multiple_of(16) + code.len() > cap {
            self.flush_code();
            let (used, cap) = self.backend.as_ref().map_or((0, 0), |b| b.code_usage());
            if used.next_multiple_of(16) + code.len() > cap {
                return Err(VmError::Codegen(CodegenError::CodeRegionFull).into());
            }
        }
        let backend = self.backend.as_mut().expect("checked above");
        let base = backend.next_code_addr();
        let region_off = base - backend.region_base();
        let exit = backend.exit_routine();
        // Relocated field values, computed before anything is written; the
        // code is then copied into the region once with them in place.
        let mut fields: Vec<(u32, [u8; 4])> = Vec::with_capacity(img.reloc_count());
        // Chain sites come with a site field each: at most half the relocations.
        let mut sites: Vec<ChainSite> = Vec::with_capacity(img.reloc_count() / 2);
        let mut site_ranges: Vec<(u32, u32)> = Vec::with_capacity(n);
        // (target block index, patched field, its stub)
        let mut links: Vec<(u32, usize, usize)> = Vec::with_capacity(img.reloc_count() / 2);
        let mut relocations = 0;
        for (i, b) in recs.iter().enumerate() {
            let first = sites.len() as u32;
            for r in b.reloc_start as usize..(b.reloc_start + b.reloc_count) as usize {
                let rr = img.reloc(r);
                let o = rr.offset as usize;
                let field = base + o;
                relocations += 1;
                match rr.kind {
                    reloc_kind::EXIT_REL32 => fields.push(field_i32(
                        rr.offset,
                        exit as i64 - (field as i64 + 4),
                        "exit jump",
                    )?),
                    reloc_kind::SITE_IMM32 => fields.push(field_i32(
                        rr.offset,
                        (region_off + rr.target as usize) as i64,
                        "site",
                    )?),
                    reloc_kind::CHAIN_REL32 => {
                        let rel = code
                            .get(o..o + 4)
                            .map(|f| i32::from_le_bytes(f.try_into().expect("4 bytes")))
                            .ok_or_else(|| {
                                InstallError::guest_code("chain field outside the code".into())
                            })?;
                        let stub = (field as i64 + 4 + rel as i64) as usize;
                        sites.push(ChainSite {
                            patch_addr: field,
                            stub_addr: stub,
                            target_pc: rr.target,
                        });
                        if self.cfg.chaining {
                            // Most chain jumps fall through to the next block.
                            let t = match recs.get(i + 1) {
                                Some(n) if n.pc == rr.target => Ok(i + 1),
                                _ => recs.binary_search_by_key(&rr.target, |r| r.pc),
                            };
                            if let Ok(t) = t {
                                let entry = base + recs[t].code_off as usize;
                                fields.push(field_i32(
                                    rr.offset,
                                    entry as i64 - (field as i64 + 4),
                                    "chain",
                                )?);
                                links.push((t as u32, field, stub));
                            }
                        }
                    }
                    k => {
                        return Err(InstallError::guest_code(format!(
                            "unknown relocation kind {k}"
                        )))
                    }
                }
            }
            site_ranges.push((first, sites.len() as u32));
        }
        let addr = backend
            .install_code_patched(code, &fields)
            .map_err(VmError::from)?;
        debug_assert_eq!(addr, base);
        // Prelinked jumps grouped by target block (counting sort).
        let mut link_start = vec![0u32; n + 1];
        for &(t, _, _) in &links {
            link_start[t as usize + 1] += 1;
        }
        for i in 0..n {
            link_start[i + 1] += link_start[i];
        }
        let mut next = link_start.clone();
        let mut incoming = vec![
            IncomingLink {
                patch_addr: 0,
                stub_addr: 0
            };
            links.len()
        ];
        for &(t, patch_addr, stub_addr) in &links {
            let k = &mut next[t as usize];
            incoming[*k as usize] = IncomingLink {
                patch_addr,
                stub_addr,
            };
            *k += 1;
        }
        // The blocks run before the cache knows them (prelinked jumps, the
        // indirect-jump cache): their pages must be code pages from now on.
        let mut table = Vec::with_capacity(n);
        let mut last_page = u64::MAX;
        for (i, b) in recs.iter().enumerate() {
            let entry = base + b.code_off as usize;
            for p in (b.pc >> PAGE_SHIFT)..=((b.end - 1) >> PAGE_SHIFT) {
                if p != last_page {
                    self.mem.mark_code_page(p);
                    last_page = p;
                }
            }
            self.jmp_cache[(b.pc as usize >> 2) & (JMP_CACHE_ENTRIES - 1)] = JmpCacheEntry {
                pc: b.pc,
                host: entry as u64,
            };
            table.push(ImageBlocks::block(
                b.pc,
                b.end,
                entry,
                b.code_len,
                insn_ranges[i],
                site_ranges[i],
                (link_start[i], link_start[i + 1]),
            ));
        }
        self.image = Some(ImageBlocks::new(table, insns, sites, incoming));
        Ok(AotInstall {
            blocks: n,
            code_bytes: code.len(),
            prelinked: links.len(),
            relocations,
        })
    }
}
