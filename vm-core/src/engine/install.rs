//! Installing a validated AOT image: relocate its code into the backend's
//! code region and enter its blocks into the block cache, as if the JIT
//! had compiled and chained them.

use super::image_blocks::{ImageBlocks, TableBuffers};
use super::*;
use crate::aot::format::{
    self, BlockRec, ImageCheck, ImageView, Rejection, RELOC_REC,
};
use crate::aot::InstallError;
use crate::backend::x86_64::ChainSite;
use crate::frontend::riscv::is_straight_line_block;

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

/// Block index by guest pc, for finding the targets of an image's chain
/// jumps: a binary search per jump (about 280 for fib's 102 blocks) was
/// the largest part of the relocation pass, each step waiting on the
/// previous step's load. Where the image's guest code span is dense
/// enough, one table slot per guest instruction address holds the index
/// (plus one) of the block starting there; otherwise binary search.
/// The slots are kept between installs (see [`InstallScratch`]): only the
/// slots an install set are cleared again, not the whole span.
#[derive(Default)]
struct BlockIndex {
    base: u64,
    /// All zero between installs.
    slots: Vec<u32>,
    dense: bool,
}

impl BlockIndex {
    /// Slots (one per 2-byte instruction address) allowed per block before
    /// the table is not worth its memory.
    const MAX_SLOTS_PER_BLOCK: usize = 64;

    /// Indexes `recs` (sorted by pc, non-overlapping).
    fn fill(&mut self, recs: &[BlockRec]) {
        self.dense = false;
        let (Some(first), Some(last)) = (recs.first(), recs.last()) else {
            return;
        };
        let span = ((last.end - first.pc) / 2) as usize;
        if span > recs.len() * Self::MAX_SLOTS_PER_BLOCK {
            return;
        }
        if self.slots.len() < span {
            self.slots.resize(span, 0);
        }
        self.base = first.pc;
        self.dense = true;
        for (i, b) in recs.iter().enumerate() {
            self.slots[((b.pc - first.pc) / 2) as usize] = i as u32 + 1;
        }
    }

    /// Clears the slots `fill` set for `recs`.
    fn clear(&mut self, recs: &[BlockRec]) {
        if self.dense {
            for b in recs {
                self.slots[((b.pc - self.base) / 2) as usize] = 0;
            }
        }
    }

    /// The block of `recs` starting at guest `pc`.
    #[inline]
    fn find(&self, recs: &[BlockRec], pc: u64) -> Option<usize> {
        if !self.dense {
            return recs.binary_search_by_key(&pc, |r| r.pc).ok();
        }
        let at = pc.wrapping_sub(self.base);
        if !at.is_multiple_of(2) {
            return None;
        }
        match self.slots.get((at / 2) as usize) {
            Some(&s) if s != 0 => Some(s as usize - 1),
            _ => None,
        }
    }
}

/// The install's temporary vectors, kept per thread between installs: a
/// short-lived VM that starts from an image (tests, a scheduler's guests,
/// start-up benchmarks) otherwise allocates and frees about ten of them per
/// load, a few KB each. Taken out for one install (a nested or failed one
/// just starts from empty vectors) and put back cleared.
#[derive(Default)]
struct InstallScratch {
    recs: Vec<BlockRec>,
    fields: Vec<(u32, [u8; 4])>,
    site_ranges: Vec<(u32, u32)>,
    links_in: Vec<(u32, u32)>,
    index: BlockIndex,
}

thread_local! {
    static INSTALL_SCRATCH: std::cell::Cell<InstallScratch> =
        std::cell::Cell::new(InstallScratch::default());
}

impl InstallScratch {
    fn take() -> Self {
        INSTALL_SCRATCH.with(|c| c.take())
    }

    /// Clears the vectors (keeping their memory) and keeps them for the
    /// next install on this thread.
    fn give(mut self) {
        // Vectors grown by a huge image are freed rather than kept.
        const MAX_KEPT: usize = 1 << 16;
        if self.fields.capacity() > MAX_KEPT || self.index.slots.len() > MAX_KEPT {
            return;
        }
        self.index.clear(&self.recs);
        self.recs.clear();
        self.fields.clear();
        self.site_ranges.clear();
        self.links_in.clear();
        INSTALL_SCRATCH.with(|c| c.set(self));
    }
}

/// The `guest-program` rejection of block `b`, whose guest words in memory
/// (`mem`) differ from the words the image was built from.
#[cold]
#[inline(never)]
fn other_program(b: &BlockRec, mem: &[u8], built_from: &[u8]) -> InstallError {
    let word = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    let i = (0..mem.len())
        .step_by(4)
        .find(|&i| word(mem, i) != word(built_from, i))
        .unwrap_or(0);
    InstallError::Rejected(Rejection {
        check: ImageCheck::Program,
        detail: format!(
            "the image was built from another program: at {:#x} (block {:#x}) guest memory holds {:#010x}, the image was compiled from {:#010x}",
            b.pc + i as u64,
            b.pc,
            word(mem, i),
            word(built_from, i)
        ),
    })
}

#[cold]
fn out_of_range(what: &str) -> InstallError {
    InstallError::Vm(VmError::Codegen(CodegenError::ExecMemory(format!(
        "{what} out of rel32 range"
    ))))
}

impl Vm {
    /// The `guest-code` rejection of block `b`, which does not decode to a
    /// straight-line run of guest instructions: names the first offending
    /// address (found again here, out of the hot path).
    #[cold]
    #[inline(never)]
    fn bad_guest_code(&self, b: &BlockRec) -> InstallError {
        let mut pc = b.pc;
        while pc < b.end {
            match self.mem.fetch_insn(pc).ok().and_then(|w| decode_parcel(w).ok()) {
                None => {
                    return InstallError::guest_code(format!(
                        "block {:#x}: no valid instruction at {pc:#x}",
                        b.pc
                    ))
                }
                Some(inst) if inst.op.ends_block() && pc + inst.len as u64 != b.end => {
                    return InstallError::guest_code(format!(
                        "block {:#x}: control transfer at {pc:#x} inside the block",
                        b.pc
                    ))
                }
                Some(inst) => pc += inst.len as u64,
            }
        }
        InstallError::guest_code(format!(
            "block {:#x}: guest range [{:#x}, {:#x}) is not readable",
            b.pc, b.pc, b.end
        ))
    }

    /// Writable address of the next `len` bytes of the code region, where
    /// the loader copies an image's code section for
    /// [`Self::install_aot_image`] to relocate in place (see
    /// `Backend::writable_tail`); `None` if there is no room or no second
    /// view (the install then copies the code).
    pub(crate) fn aot_code_tail(&mut self, len: usize) -> Option<*mut u8> {
        self.backend.as_mut()?.writable_tail(len)
    }

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
    /// installed); then the code is relocated: in place, when the loader
    /// copied it into the code region's free end (`aot_code_tail`), else
    /// in a private buffer written into the region's writable view in one
    /// copy; and the blocks are entered into the cache with their direct
    /// jumps to other image blocks already linked and the indirect-jump
    /// cache filled.
    ///
    /// `img` must have been validated against this VM's build facts
    /// ([`crate::aot::build_info_for`]) and the SHA-256 of the loaded ELF,
    /// as [`crate::aot::load_image`] does (without the tables and the
    /// relocation records, which this method checks before it writes
    /// anything: `format::check_tables` and the relocation pass), and the
    /// blocks against the guest code in memory.
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
        let mut scratch = InstallScratch::take();
        let InstallScratch {
            recs,
            fields,
            site_ranges,
            links_in,
            index,
        } = &mut scratch;
        // The tables are checked here, in the pass that decodes the block
        // records, before anything is installed (see
        // `format::validate_for_install`).
        format::check_tables(img, recs)?;
        // Every block's guest words: the ones the image was compiled from,
        // and a straight-line run of valid instructions, checked before
        // anything is installed; decoded from guest memory only when a
        // block is entered into the cache (see `ImageBlocks::take`).
        // The table's vectors, kept from the last image dropped on this thread.
        let TableBuffers {
            blocks: mut table,
            mut sites,
            mut site_block,
        } = TableBuffers::take();
        // Index of the next block's first word in the image's word section.
        let mut next_word = 0usize;
        // Blocks that follow each other in guest memory are checked as one
        // run (one guest slice, one comparison, one copy); each block of it
        // is still checked to be a straight-line run of its own.
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            while j < n && recs[j].pc == recs[j - 1].end {
                j += 1;
            }
            let run = &recs[i..j];
            let first = next_word;
            let span = BlockRec {
                end: run[run.len() - 1].end,
                ..run[0]
            };
            let Ok(mem) = self.mem.slice(span.pc, span.end - span.pc) else {
                let bad = run
                    .iter()
                    .find(|b| self.mem.slice(b.pc, b.end - b.pc).is_err())
                    .unwrap_or(&run[0]);
                return Err(self.bad_guest_code(bad));
            };
            // The image was built from this program: every block's guest
            // words are the ones in guest memory.
            let built_from = img.block_words(first, &span);
            if mem != built_from {
                let (mut at, mut w) = (0usize, first);
                for b in run {
                    let len = (b.end - b.pc) as usize;
                    let built_from = img.block_words(w, b);
                    if mem[at..at + len] != *built_from {
                        return Err(other_program(b, &mem[at..at + len], built_from));
                    }
                    at += len;
                    w += len / 2;
                }
            }
            let mut at = 0usize;
            for b in run {
                let len = (b.end - b.pc) as usize;
                if !is_straight_line_block(&mem[at..at + len]) {
                    return Err(self.bad_guest_code(b));
                }
                at += len;
            }
            next_word += mem.len() / 2;
            i = j;
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
        fields.reserve(2 * img.reloc_count() + 1);
        // The exit thunk (validated: the last bytes of the code section,
        // after every block), the one jump to the exit routine: every
        // block's exit jumps lead to it (image-relative, written at build).
        let thunk_field = img.exit_thunk() + 1;
        fields.push(field_i32(
            thunk_field as u32,
            exit as i64 - ((base + thunk_field) as i64 + 4),
            "exit jump",
        )?);
        // One chain site per relocation record.
        sites.reserve(img.reloc_count());
        site_block.reserve(img.reloc_count());
        site_ranges.reserve(n);
        // Per target block: its first prelinked jump's site index, and how many.
        links_in.resize(n, (0, 0));
        // Chain jumps linked to an image block.
        let mut prelinked = 0usize;
        let chaining = self.cfg.chaining;
        index.fill(recs);
        // Range checked once per load instead of per field: a chain rel32
        // is the distance between two addresses inside the image's code
        // (less than `code.len()`), a site imm32 is `region_off` plus a
        // code offset (less than `region_off + code.len()`).
        if region_off
            .checked_add(code.len())
            .is_none_or(|end| end > i32::MAX as usize)
        {
            return Err(out_of_range("image code"));
        }
        // Every relocation record (one per chain exit: chain field, site
        // field, target) is checked here, in the pass that applies it,
        // before anything is written (the loader's validation leaves the
        // records' contents to this pass, see
        // `format::validate_for_install`; the rules are `format::relocs_ok`'s):
        // both fields inside the block, chain fields sorted and not
        // overlapping, site fields sorted, not overlapping and after every
        // chain field, site fields zero, chain jumps leading to a stub
        // inside the block and to an even guest pc. The hot loop only
        // tells good from bad, with one range check per field; the cold
        // function of `format` names the first bad record, with the
        // messages `format::validate` gives.
        for (i, b) in recs.iter().enumerate() {
            let first = sites.len() as u32;
            // In the code section: validated.
            let (co, cl) = (b.code_off as usize, b.code_len as usize);
            let block_code = &code[co..co + cl];
            // A field at block offset `at` fits iff `at < fits_below`.
            let fits_below = cl.saturating_sub(3);
            let (mut chain_free, mut site_free, mut first_site) = (0usize, 0usize, usize::MAX);
            let mut bad = false;
            for r in img
                .reloc_bytes(b.reloc_start, b.reloc_count)
                .chunks_exact(RELOC_REC)
            {
                let r: &[u8; RELOC_REC] = r.try_into().expect("one record");
                let chain = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
                let site = u32::from_le_bytes([r[4], r[5], r[6], r[7]]);
                let target = u64::from_le_bytes(r[8..16].try_into().expect("8"));
                // Offsets within the block; below the block wraps to a huge value.
                let at = (chain as usize).wrapping_sub(co);
                let st = (site as usize).wrapping_sub(co);
                if (at >= fits_below) | (at < chain_free) | (st >= fits_below) | (st < site_free) {
                    bad = true;
                    break;
                }
                chain_free = at + 4;
                site_free = st + 4;
                first_site = first_site.min(st);
                // SAFETY: `at + 4 <= cl` and `st + 4 <= cl` (both below
                // `cl - 3`, checked above): the fields lie inside `block_code`.
                let (value, site_value) = unsafe {
                    let p = block_code.as_ptr();
                    (
                        u32::from_le_bytes(p.add(at).cast::<[u8; 4]>().read_unaligned()),
                        u32::from_le_bytes(p.add(st).cast::<[u8; 4]>().read_unaligned()),
                    )
                };
                let rel = (at as i64 + 4 + value as i32 as i64) as u64;
                if (site_value != 0) | (rel >= cl as u64) | (target & 1 != 0) {
                    bad = true;
                    break;
                }
                let field = base + chain as usize;
                sites.push(ChainSite {
                    patch_addr: field,
                    stub_addr: base + co + rel as usize,
                    target_pc: target,
                });
                // The site field names the chain field by its region
                // offset (in imm32 range: checked once above).
                fields.push((site, ((region_off + chain as usize) as i32).to_le_bytes()));
                let mut linked_to = u32::MAX;
                if chaining {
                    if let Some(t) = index.find(recs, target) {
                        let entry = base + recs[t].code_off as usize;
                        // In rel32 range: both inside the image's code.
                        fields.push((chain, (entry.wrapping_sub(field + 4) as i32).to_le_bytes()));
                        prelinked += 1;
                        linked_to = t as u32;
                        let l = &mut links_in[t];
                        if l.1 == 0 {
                            l.0 = site_block.len() as u32;
                        }
                        l.1 += 1;
                    }
                }
                site_block.push(linked_to);
            }
            // Site fields follow every chain field (so no site field
            // overlaps a chain field).
            if bad || first_site != usize::MAX && first_site < chain_free {
                return Err(format::describe_bad_reloc(img, i, b).into());
            }
            site_ranges.push((first, sites.len() as u32));
        }
        let relocations = img.reloc_count();
        let code_bytes = code.len();
        // The loader copied the code section into the region's free end
        // (`aot_code_tail`) if it could: then only the fields are written.
        let in_place = backend
            .writable_tail(code_bytes)
            .is_some_and(|p| std::ptr::eq(p.cast_const(), code.as_ptr()));
        let addr = if in_place {
            // `code` is not read after this (the fields are written
            // through the region's writable view, where it lies).
            backend.install_in_place(code_bytes, fields)
        } else {
            backend.install_code_patched(code, fields)
        }
        .map_err(VmError::from)?;
        debug_assert_eq!(addr, base);
        // The blocks run before the cache knows them (prelinked jumps, the
        // indirect-jump cache): their pages must be code pages from now on.
        table.reserve(n);
        let mut last_page = u64::MAX;
        for (i, b) in recs.iter().enumerate() {
            let entry = base + b.code_off as usize;
            for p in (b.pc >> PAGE_SHIFT)..=((b.end - 1) >> PAGE_SHIFT) {
                if p != last_page {
                    self.mem.mark_code_page(p);
                    last_page = p;
                }
            }
            self.jmp_cache.set(b.pc, entry as u64);
            table.push(ImageBlocks::block(
                b.pc,
                b.end,
                entry,
                b.code_len,
                site_ranges[i],
                links_in[i],
            ));
        }
        // The prelinked jumps into a block are found from `sites` when it
        // is entered into the cache or dropped (`ImageBlocks::incoming`).
        self.image = Some(ImageBlocks::new(table, sites, site_block));
        scratch.give();
        Ok(AotInstall {
            blocks: n,
            code_bytes,
            prelinked,
            relocations,
        })
    }
}
