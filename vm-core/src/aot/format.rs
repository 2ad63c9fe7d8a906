//! The AOT image file format (documented in `docs/aot-image.md`): writing
//! it, and validating untrusted bytes into an [`ImageView`].
//!
//! All integers are little-endian. Layout: a fixed header, the function
//! table, the block table (sorted by guest pc: the pc -> code-offset map),
//! the relocation table, the guest words the blocks were compiled from,
//! the code section (16-byte aligned), and a CRC-32C
//! trailer over every preceding byte. Records are read field by field with
//! bounds-checked slicing, so no input can cause an unaligned or
//! out-of-bounds read.

use super::hash::crc32c;
use crate::backend::x86_64::RelocatableBlock;

/// First 8 bytes of every image.
pub const MAGIC: [u8; 8] = *b"VMAOTIMG";
/// Version of the layout below; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 5;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 192;
/// Size of one function-table record (entry pc).
pub const FUNC_REC: usize = 8;
/// Size of one block-table record.
pub const BLOCK_REC: usize = 32;
/// Size of one relocation record.
pub const RELOC_REC: usize = 16;
/// Size of one unit of the guest-code section: a halfword (instructions
/// are 2 bytes, compressed, or 4; format version 3 on).
pub const WORD_REC: usize = 2;
/// Size of the checksum trailer.
pub const TRAILER_LEN: usize = 4;
/// Alignment of the code section and of every block's code in it.
pub const CODE_ALIGN: usize = 16;
/// The image's exit thunk as stored (since format 4): `jmp rel32` to the shared
/// exit routine, its rel32 zero in the file and written by the loader.
/// Every block's jumps to the exit routine lead here instead (their rel32
/// fields are image-relative, written at build time), so they need no
/// relocation record each.
pub const EXIT_THUNK: [u8; 5] = [0xe9, 0, 0, 0, 0];

// Relocation records (format 5): one per chain exit, see [`RelocRec`].
// Format 4 had two kinds, a chain field and a site field per chain exit,
// one record each; format 3 a third kind, the rel32 of each jump to the
// shared exit routine (those lead to the image's exit thunk since format
// 4, see [`EXIT_THUNK`]).

/// The build facts an image must share with the VM loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// VM version (crate version).
    pub vm_version: String,
    /// Host architecture (`std::env::consts::ARCH`).
    pub host_arch: String,
    /// Host OS (`std::env::consts::OS`).
    pub host_os: String,
    /// Fingerprint of the code generator: backend ABI, CPU-state layout and
    /// the memory model (how loads and stores are emitted).
    pub codegen_fingerprint: u64,
    /// Longest block in guest instructions the blocks were formed with.
    pub max_block_insns: u32,
}

/// One compiled block to be written.
#[derive(Debug, Clone)]
pub struct ImageBlock {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// Guest address one past the last instruction.
    pub end: u64,
    /// Its relocatable machine code.
    pub code: RelocatableBlock,
    /// The guest instructions `[pc, end)` it was compiled from, one
    /// element each: a 32-bit word, or a compressed instruction's halfword
    /// (zero-extended; its low two bits are not `11`).
    pub words: Vec<u32>,
}

/// Everything an image holds besides the build facts.
#[derive(Debug, Clone)]
pub struct ImageContents {
    /// Guest entry point.
    pub entry: u64,
    /// Function entry pcs, sorted, unique.
    pub functions: Vec<u64>,
    /// Blocks, sorted by pc, unique.
    pub blocks: Vec<ImageBlock>,
}

/// Which validation step rejected an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageCheck {
    /// Shorter than the header or than the sizes it declares.
    Truncated,
    /// Wrong magic bytes: not an image.
    Magic,
    /// Unsupported format version.
    FormatVersion,
    /// Declared file length differs from the actual length.
    Length,
    /// CRC-32C over the file does not match the trailer.
    Checksum,
    /// Built for another host architecture or OS.
    HostTarget,
    /// Built by another VM version.
    VmVersion,
    /// Built by a code generator with another ABI or memory model.
    CodegenAbi,
    /// Built with another block-formation configuration.
    BuildConfig,
    /// Built from another guest program: another entry point, or other
    /// guest instruction words at a block's pcs.
    Program,
    /// Section offsets or sizes are inconsistent.
    Layout,
    /// Function table is malformed.
    FunctionTable,
    /// Block table is malformed.
    BlockTable,
    /// A relocation is malformed.
    Relocations,
    /// A block does not match the guest instructions at its pc.
    GuestCode,
}

impl std::fmt::Display for ImageCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageCheck::Truncated => "truncation",
            ImageCheck::Magic => "magic",
            ImageCheck::FormatVersion => "format-version",
            ImageCheck::Length => "file-length",
            ImageCheck::Checksum => "checksum",
            ImageCheck::HostTarget => "host-target",
            ImageCheck::VmVersion => "vm-version",
            ImageCheck::CodegenAbi => "codegen-abi/memory-model",
            ImageCheck::BuildConfig => "build-config",
            ImageCheck::Program => "guest-program",
            ImageCheck::Layout => "section-layout",
            ImageCheck::FunctionTable => "function-table",
            ImageCheck::BlockTable => "block-table",
            ImageCheck::Relocations => "relocations",
            ImageCheck::GuestCode => "guest-code",
        })
    }
}

/// A failed check and what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed the {check} check: {detail}")]
pub struct Rejection {
    /// The check.
    pub check: ImageCheck,
    /// Specifics (expected vs found).
    pub detail: String,
}

fn reject<T>(check: ImageCheck, detail: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        check,
        detail: detail.into(),
    })
}

// Header field offsets.
const H_MAGIC: usize = 0;
const H_VERSION: usize = 8;
const H_HEADER_LEN: usize = 12;
const H_FILE_LEN: usize = 16;
const H_VM_VERSION: usize = 24;
const H_ARCH: usize = 40;
const H_OS: usize = 56;
const H_FINGERPRINT: usize = 72;
const H_MAX_BLOCK: usize = 80;
const H_FLAGS: usize = 84;
const H_WORD_COUNT: usize = 88;
const H_WORD_OFF: usize = 92;
/// Zero bytes between the word-section fields and the entry point.
const H_RESERVED_LOW: usize = 96;
const H_ENTRY: usize = 128;
const H_FUNC_COUNT: usize = 136;
const H_FUNC_OFF: usize = 140;
const H_BLOCK_COUNT: usize = 144;
const H_BLOCK_OFF: usize = 148;
const H_RELOC_COUNT: usize = 152;
const H_RELOC_OFF: usize = 156;
const H_CODE_LEN: usize = 160;
const H_CODE_OFF: usize = 164;
/// Code-section offset of the exit thunk ([`EXIT_THUNK`]).
const H_EXIT_THUNK: usize = 168;
const H_RESERVED: usize = 172;
const STR_FIELD: usize = 16;

fn put_str(out: &mut [u8], at: usize, s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(STR_FIELD);
    out[at..at + n].copy_from_slice(&b[..n]);
}

fn put_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut [u8], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Whether the string field at `at` holds `s` (what [`str_at`] would
/// return equals `s`), without allocating.
fn str_is(b: &[u8], at: usize, s: &str) -> bool {
    let f = &b[at..at + STR_FIELD];
    let n = f.iter().position(|&c| c == 0).unwrap_or(STR_FIELD);
    &f[..n] == s.as_bytes()
}

fn str_at(b: &[u8], at: usize) -> String {
    let f = &b[at..at + STR_FIELD];
    let n = f.iter().position(|&c| c == 0).unwrap_or(STR_FIELD);
    String::from_utf8_lossy(&f[..n]).into_owned()
}

/// Why an image cannot be written (sizes beyond the format's 32-bit fields).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image too large: {0}")]
pub struct TooLarge(pub String);

/// Serializes an image.
pub fn serialize(build: &BuildInfo, c: &ImageContents) -> Result<Vec<u8>, TooLarge> {
    let func_off = HEADER_LEN;
    let block_off = func_off + c.functions.len() * FUNC_REC;
    let n_relocs: usize = c.blocks.iter().map(|b| b.code.sites.len()).sum();
    let reloc_off = block_off + c.blocks.len() * BLOCK_REC;
    let word_off = reloc_off + n_relocs * RELOC_REC;
    let n_words: usize = c
        .blocks
        .iter()
        .map(|b| ((b.end - b.pc) as usize) / WORD_REC)
        .sum();
    let code_off = (word_off + n_words * WORD_REC).next_multiple_of(CODE_ALIGN);
    let mut code_len = 0usize;
    for b in &c.blocks {
        code_len = code_len.next_multiple_of(CODE_ALIGN) + b.code.code.len();
    }
    // The exit thunk follows the last block.
    let thunk = code_len.next_multiple_of(CODE_ALIGN);
    let code_len = thunk + EXIT_THUNK.len();
    let file_len = code_off + code_len + TRAILER_LEN;
    if file_len > i32::MAX as usize {
        return Err(TooLarge(format!("{file_len} bytes")));
    }
    let mut out = vec![0u8; file_len];
    out[H_MAGIC..H_MAGIC + 8].copy_from_slice(&MAGIC);
    put_u32(&mut out, H_VERSION, FORMAT_VERSION);
    put_u32(&mut out, H_HEADER_LEN, HEADER_LEN as u32);
    put_u64(&mut out, H_FILE_LEN, file_len as u64);
    put_str(&mut out, H_VM_VERSION, &build.vm_version);
    put_str(&mut out, H_ARCH, &build.host_arch);
    put_str(&mut out, H_OS, &build.host_os);
    put_u64(&mut out, H_FINGERPRINT, build.codegen_fingerprint);
    put_u32(&mut out, H_MAX_BLOCK, build.max_block_insns);
    put_u32(&mut out, H_FLAGS, 0);
    put_u32(&mut out, H_WORD_COUNT, n_words as u32);
    put_u32(&mut out, H_WORD_OFF, word_off as u32);
    put_u64(&mut out, H_ENTRY, c.entry);
    put_u32(&mut out, H_FUNC_COUNT, c.functions.len() as u32);
    put_u32(&mut out, H_FUNC_OFF, func_off as u32);
    put_u32(&mut out, H_BLOCK_COUNT, c.blocks.len() as u32);
    put_u32(&mut out, H_BLOCK_OFF, block_off as u32);
    put_u32(&mut out, H_RELOC_COUNT, n_relocs as u32);
    put_u32(&mut out, H_RELOC_OFF, reloc_off as u32);
    put_u32(&mut out, H_CODE_LEN, code_len as u32);
    put_u32(&mut out, H_CODE_OFF, code_off as u32);
    put_u32(&mut out, H_EXIT_THUNK, thunk as u32);
    out[code_off + thunk..code_off + thunk + EXIT_THUNK.len()].copy_from_slice(&EXIT_THUNK);
    for (i, &f) in c.functions.iter().enumerate() {
        put_u64(&mut out, func_off + i * FUNC_REC, f);
    }
    let mut code_pos = 0usize;
    let mut reloc_idx = 0usize;
    let mut word_pos = word_off;
    for (i, b) in c.blocks.iter().enumerate() {
        code_pos = code_pos.next_multiple_of(CODE_ALIGN);
        let rec = block_off + i * BLOCK_REC;
        let first_reloc = reloc_idx;
        // One record per chain exit (chain field, site field, target),
        // sorted by chain field: the loader checks that fields do not
        // overlap by their order alone (chain fields in order, site fields
        // in order, every site field after every chain field).
        let mut relocs: Vec<(usize, usize, u64)> = b
            .code
            .sites
            .iter()
            .map(|s| (s.jump_rel32 as usize, s.site_imm32 as usize, s.target_pc))
            .collect();
        relocs.sort_unstable_by_key(|r| r.0);
        for (chain, site, target) in relocs {
            let r = reloc_off + reloc_idx * RELOC_REC;
            put_u32(&mut out, r, (code_pos + chain) as u32);
            put_u32(&mut out, r + 4, (code_pos + site) as u32);
            put_u64(&mut out, r + 8, target);
            reloc_idx += 1;
        }
        for &w in &b.words {
            let len = crate::frontend::riscv::insn_len(w as u16) as usize;
            out[word_pos..word_pos + len].copy_from_slice(&w.to_le_bytes()[..len]);
            word_pos += len;
        }
        put_u64(&mut out, rec, b.pc);
        put_u64(&mut out, rec + 8, b.end);
        put_u32(&mut out, rec + 16, code_pos as u32);
        put_u32(&mut out, rec + 20, b.code.code.len() as u32);
        put_u32(&mut out, rec + 24, first_reloc as u32);
        put_u32(&mut out, rec + 28, (reloc_idx - first_reloc) as u32);
        let at = code_off + code_pos;
        out[at..at + b.code.code.len()].copy_from_slice(&b.code.code);
        // Jumps to the exit routine lead to the exit thunk: image-relative,
        // so written now, with no relocation record.
        for &o in &b.code.exit_rel32 {
            let field = code_pos + o as usize;
            let rel = thunk as i64 - (field as i64 + 4);
            let rel = i32::try_from(rel).map_err(|_| TooLarge(format!("exit jump at {field}")))?;
            out[code_off + field..code_off + field + 4].copy_from_slice(&rel.to_le_bytes());
        }
        code_pos += b.code.code.len();
    }
    let crc = crc32c(&out[..file_len - TRAILER_LEN]);
    put_u32(&mut out, file_len - TRAILER_LEN, crc);
    Ok(out)
}

/// What the loading VM expects of an image.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Build facts of this VM.
    pub build: BuildInfo,
    /// Entry point of the guest program about to run. (That the image was
    /// built from this program is checked block by block at install: the
    /// guest words each block was compiled from must be the words in
    /// guest memory, see [`ImageView::block_words`].)
    pub entry: u64,
}

impl Expectation {
    /// What a VM with build facts `build` running the static ELF `elf`
    /// expects (its entry point is the ELF header's `e_entry`; a file too
    /// short to have one expects entry 0, which no image records).
    pub fn for_elf(build: BuildInfo, elf: &[u8]) -> Self {
        let entry = elf
            .get(24..32)
            .map_or(0, |e| u64::from_le_bytes(e.try_into().expect("8 bytes")));
        Expectation { build, entry }
    }
}

/// One block-table record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRec {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// Guest address one past the last instruction.
    pub end: u64,
    /// Offset of the block's code in the code section.
    pub code_off: u32,
    /// Code size in bytes.
    pub code_len: u32,
    /// Index of the block's first relocation.
    pub reloc_start: u32,
    /// Number of relocations.
    pub reloc_count: u32,
}

impl BlockRec {
    /// Decodes one `BLOCK_REC`-byte record (`r.len() == BLOCK_REC`; the
    /// fixed length lets the compiler drop the per-field bounds checks).
    #[inline(always)]
    fn parse(r: &[u8]) -> Self {
        let r: &[u8; BLOCK_REC] = r.try_into().expect("one block record");
        BlockRec {
            pc: u64::from_le_bytes(r[0..8].try_into().expect("8")),
            end: u64::from_le_bytes(r[8..16].try_into().expect("8")),
            code_off: u32::from_le_bytes(r[16..20].try_into().expect("4")),
            code_len: u32::from_le_bytes(r[20..24].try_into().expect("4")),
            reloc_start: u32::from_le_bytes(r[24..28].try_into().expect("4")),
            reloc_count: u32::from_le_bytes(r[28..32].try_into().expect("4")),
        }
    }
}

/// One relocation record: one chain exit of a block (offsets are
/// code-section offsets, both fields inside the block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelocRec {
    /// The rel32 of the direct (chainable) jump, initially to its exit
    /// stub inside the block. The loader may link it to the block at
    /// `target` when the image holds one.
    pub chain: u32,
    /// The imm32 in the jump's stub that names the chain site to the
    /// dispatcher: zero in the file, the code-region offset of the `chain`
    /// field once loaded.
    pub site: u32,
    /// Guest pc the jump leads to (even).
    pub target: u64,
}

impl RelocRec {
    /// Decodes one `RELOC_REC`-byte record (`r.len() == RELOC_REC`).
    #[inline(always)]
    pub(crate) fn parse(r: &[u8]) -> Self {
        let r: &[u8; RELOC_REC] = r.try_into().expect("one relocation record");
        RelocRec {
            chain: u32::from_le_bytes(r[0..4].try_into().expect("4")),
            site: u32::from_le_bytes(r[4..8].try_into().expect("4")),
            target: u64::from_le_bytes(r[8..16].try_into().expect("8")),
        }
    }
}

/// A validated image: every table is consistent and every offset is
/// in bounds, so the accessors cannot fail. From [`validate`] every
/// relocation record's contents are checked too; the loader's own view
/// (`validate_for_install`) leaves those to the install's relocation pass,
/// which checks them all before it writes anything.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    bytes: &'a [u8],
    entry: u64,
    funcs: (usize, usize),
    blocks: (usize, usize),
    relocs: (usize, usize),
    words: (usize, usize),
    /// The code section: in `bytes`, or where the loader copied it (the
    /// code region, see [`crate::aot::MappedImage::snapshot_with`]).
    code: &'a [u8],
    /// Code-section offset of the exit thunk (validated: after every
    /// block's code, the last [`EXIT_THUNK`]`.len()` bytes of the section).
    exit_thunk: usize,
    /// The largest block (in 32-bit instructions) the image may hold: the
    /// expected build's, for [`check_tables`].
    max_block_insns: u32,
}

impl<'a> ImageView<'a> {
    /// Code-section offset of the `jmp rel32` to the shared exit routine
    /// that every block's exit jumps lead to (its rel32 is relocated).
    #[inline]
    pub fn exit_thunk(&self) -> usize {
        self.exit_thunk
    }

    /// Guest entry point recorded at build time.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// Number of blocks.
    #[inline]
    pub fn block_count(&self) -> usize {
        self.blocks.1
    }

    /// Number of functions.
    #[inline]
    pub fn function_count(&self) -> usize {
        self.funcs.1
    }

    /// Number of relocations.
    #[inline]
    pub fn reloc_count(&self) -> usize {
        self.relocs.1
    }

    /// Block record `i` (`i < block_count`).
    #[inline]
    pub fn block(&self, i: usize) -> BlockRec {
        let r = self.blocks.0 + i * BLOCK_REC;
        let b = self.bytes;
        BlockRec {
            pc: u64_at(b, r),
            end: u64_at(b, r + 8),
            code_off: u32_at(b, r + 16),
            code_len: u32_at(b, r + 20),
            reloc_start: u32_at(b, r + 24),
            reloc_count: u32_at(b, r + 28),
        }
    }

    /// Relocation record `i` (`i < reloc_count`).
    #[inline]
    pub fn reloc(&self, i: usize) -> RelocRec {
        let r = self.relocs.0 + i * RELOC_REC;
        let b = self.bytes;
        RelocRec {
            chain: u32_at(b, r),
            site: u32_at(b, r + 4),
            target: u64_at(b, r + 8),
        }
    }

    /// Every block record, decoded, in table order (sorted by pc).
    pub fn blocks(&self) -> impl ExactSizeIterator<Item = BlockRec> + 'a {
        self.bytes[self.blocks.0..self.blocks.0 + self.blocks.1 * BLOCK_REC]
            .chunks_exact(BLOCK_REC)
            .map(BlockRec::parse)
    }

    /// Relocation records `start..start + count` (in bounds: validated),
    /// decoded.
    #[inline]
    pub fn relocs(&self, start: u32, count: u32) -> impl Iterator<Item = RelocRec> + 'a {
        let from = self.relocs.0 + start as usize * RELOC_REC;
        self.bytes[from..from + count as usize * RELOC_REC]
            .chunks_exact(RELOC_REC)
            .map(RelocRec::parse)
    }

    /// The raw records `start..start + count` of the relocation table
    /// (in bounds: validated), `RELOC_REC` bytes each.
    #[inline]
    pub(crate) fn reloc_bytes(&self, start: u32, count: u32) -> &'a [u8] {
        let from = self.relocs.0 + start as usize * RELOC_REC;
        &self.bytes[from..from + count as usize * RELOC_REC]
    }

    /// The little-endian guest code block `b` was compiled from
    /// (`b.end - b.pc` bytes), given the index `first` of its first
    /// halfword: blocks' code follows each other in table order.
    #[inline]
    pub fn block_words(&self, first: usize, b: &BlockRec) -> &'a [u8] {
        let from = self.words.0 + first * WORD_REC;
        &self.bytes[from..from + (b.end - b.pc) as usize]
    }

    /// Function entry `i`.
    #[inline]
    pub fn function(&self, i: usize) -> u64 {
        u64_at(self.bytes, self.funcs.0 + i * FUNC_REC)
    }

    /// The code section.
    #[inline]
    pub fn code(&self) -> &'a [u8] {
        self.code
    }

    /// Index of the block starting at guest `pc` (binary search).
    #[inline]
    pub fn find_block(&self, pc: u64) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.blocks.1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let p = u64_at(self.bytes, self.blocks.0 + mid * BLOCK_REC);
            match p.cmp(&pc) {
                std::cmp::Ordering::Equal => return Some(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }
}

/// Section `(offset, count)` of `rec`-byte records, checked against the file.
fn section(
    bytes: &[u8],
    off_field: usize,
    count_field: usize,
    rec: usize,
    name: &str,
) -> Result<(usize, usize), Rejection> {
    let off = u32_at(bytes, off_field) as usize;
    let count = u32_at(bytes, count_field) as usize;
    let end = count
        .checked_mul(rec)
        .and_then(|n| n.checked_add(off))
        .filter(|&e| off >= HEADER_LEN && e <= bytes.len() - TRAILER_LEN);
    match end {
        Some(_) => Ok((off, count)),
        None => reject(
            ImageCheck::Layout,
            format!(
                "{name} section at {off} with {count} records of {rec} bytes exceeds the file ({} bytes)",
                bytes.len()
            ),
        ),
    }
}

/// Validates `bytes` as an image for `expect`. Checks run in this order,
/// the first failure wins: truncation, magic, format version, file length,
/// checksum, host target, VM version, codegen ABI, build config, program,
/// then the structure of every table and relocation.
pub fn validate<'a>(bytes: &'a [u8], expect: &Expectation) -> Result<ImageView<'a>, Rejection> {
    validate_checked(bytes, expect, None)
}

/// [`validate`], with the CRC-32C of `bytes` without its trailer already
/// computed (by the copy that made `bytes`, see
/// [`crate::aot::MappedImage::snapshot`]).
/// `code_elsewhere` as for [`validate_for_install`].
pub(crate) fn validate_with_crc<'a>(
    bytes: &'a [u8],
    code_elsewhere: Option<&'a [u8]>,
    expect: &Expectation,
    body_crc: u32,
) -> Result<ImageView<'a>, Rejection> {
    validate_inner(bytes, code_elsewhere, expect, Some(body_crc), true)
}

/// [`validate_with_crc`] without the per-record relocation checks, for a
/// view that goes straight to [`crate::engine::Vm::install_aot_image`]:
/// install checks every relocation record in its own relocation pass,
/// before anything is written (each record is read once per load, not
/// once to validate and again to relocate). The tables (functions, block
/// records, each block's relocations a contiguous in-bounds range of the
/// table, the exit thunk) are checked by the install too, by
/// [`check_tables`] in the pass that decodes the block records, before it
/// writes anything: the returned view's tables are unchecked until then.
/// Everything else is checked here.
///
/// `code_elsewhere`: the code section's bytes, when the loader copied them
/// elsewhere than into `bytes` (whose code section then holds anything):
/// the section the header of `bytes` declares, copied from the same file
/// in the same pass as the rest, its bytes part of `body_crc`.
pub(crate) fn validate_for_install<'a>(
    bytes: &'a [u8],
    code_elsewhere: Option<&'a [u8]>,
    expect: &Expectation,
    body_crc: u32,
) -> Result<ImageView<'a>, Rejection> {
    validate_inner(bytes, code_elsewhere, expect, Some(body_crc), false)
}

/// The code section's (file offset, length) as the header `header` (the
/// file's first [`HEADER_LEN`] bytes) declares it, if it lies after the
/// header and before the trailer of a `file_len`-byte file: where a loader
/// may copy the section elsewhere than the rest of the file. Not a check
/// (validation checks the layout).
pub(crate) fn declared_code_section(header: &[u8], file_len: usize) -> Option<(usize, usize)> {
    if header.len() < HEADER_LEN || file_len < HEADER_LEN + TRAILER_LEN {
        return None;
    }
    // Only what claims to be an image of this format (the checksum and the
    // other checks come later) gets its code section copied elsewhere.
    if header[H_MAGIC..H_MAGIC + 8] != MAGIC || u32_at(header, H_VERSION) != FORMAT_VERSION {
        return None;
    }
    let (off, len) = (
        u32_at(header, H_CODE_OFF) as usize,
        u32_at(header, H_CODE_LEN) as usize,
    );
    (off >= HEADER_LEN && len > 0 && off + len <= file_len - TRAILER_LEN).then_some((off, len))
}

fn validate_checked<'a>(
    bytes: &'a [u8],
    expect: &Expectation,
    body_crc: Option<u32>,
) -> Result<ImageView<'a>, Rejection> {
    validate_inner(bytes, None, expect, body_crc, true)
}

fn validate_inner<'a>(
    bytes: &'a [u8],
    code_elsewhere: Option<&'a [u8]>,
    expect: &Expectation,
    body_crc: Option<u32>,
    full: bool,
) -> Result<ImageView<'a>, Rejection> {
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        if bytes.len() >= 8 && bytes[..8] != MAGIC {
            return reject(ImageCheck::Magic, "not an AOT image (bad magic)");
        }
        return reject(
            ImageCheck::Truncated,
            format!(
                "{} bytes, shorter than the {}-byte header and trailer",
                bytes.len(),
                HEADER_LEN + TRAILER_LEN
            ),
        );
    }
    if bytes[H_MAGIC..H_MAGIC + 8] != MAGIC {
        return reject(ImageCheck::Magic, "not an AOT image (bad magic)");
    }
    let version = u32_at(bytes, H_VERSION);
    if version != FORMAT_VERSION
        || u32_at(bytes, H_HEADER_LEN) as usize != HEADER_LEN
        || bytes[H_RESERVED..HEADER_LEN].iter().any(|&b| b != 0)
        || bytes[H_RESERVED_LOW..H_ENTRY].iter().any(|&b| b != 0)
    {
        return reject(
            ImageCheck::FormatVersion,
            format!("format version {version}, this VM reads version {FORMAT_VERSION}"),
        );
    }
    let declared = u64_at(bytes, H_FILE_LEN);
    if declared != bytes.len() as u64 {
        let check = if declared > bytes.len() as u64 {
            ImageCheck::Truncated
        } else {
            ImageCheck::Length
        };
        return reject(
            check,
            format!("header declares {declared} bytes, file has {}", bytes.len()),
        );
    }
    let stored = u32_at(bytes, bytes.len() - TRAILER_LEN);
    let actual = body_crc.unwrap_or_else(|| crc32c(&bytes[..bytes.len() - TRAILER_LEN]));
    if stored != actual {
        return reject(
            ImageCheck::Checksum,
            format!("CRC-32C stored {stored:#010x}, computed {actual:#010x}"),
        );
    }
    let b = &expect.build;
    if !str_is(bytes, H_ARCH, &b.host_arch) || !str_is(bytes, H_OS, &b.host_os) {
        let (arch, os) = (str_at(bytes, H_ARCH), str_at(bytes, H_OS));
        return reject(
            ImageCheck::HostTarget,
            format!(
                "built for {arch}-{os}, this host is {}-{}",
                b.host_arch, b.host_os
            ),
        );
    }
    if !str_is(bytes, H_VM_VERSION, &b.vm_version) {
        let vmv = str_at(bytes, H_VM_VERSION);
        return reject(
            ImageCheck::VmVersion,
            format!("built by VM {vmv}, this is VM {}", b.vm_version),
        );
    }
    let fp = u64_at(bytes, H_FINGERPRINT);
    if fp != b.codegen_fingerprint {
        return reject(
            ImageCheck::CodegenAbi,
            format!(
                "code generator fingerprint {fp:#018x}, this VM's is {:#018x} (different backend ABI or memory model)",
                b.codegen_fingerprint
            ),
        );
    }
    let mb = u32_at(bytes, H_MAX_BLOCK);
    if mb != b.max_block_insns || u32_at(bytes, H_FLAGS) != 0 {
        return reject(
            ImageCheck::BuildConfig,
            format!(
                "blocks of at most {mb} instructions, this VM uses {}",
                b.max_block_insns
            ),
        );
    }
    let entry = u64_at(bytes, H_ENTRY);
    if entry != expect.entry {
        return reject(
            ImageCheck::Program,
            format!(
                "built from a program entered at {entry:#x}, this program's entry is {:#x}",
                expect.entry
            ),
        );
    }
    let funcs = section(bytes, H_FUNC_OFF, H_FUNC_COUNT, FUNC_REC, "function")?;
    let blocks = section(bytes, H_BLOCK_OFF, H_BLOCK_COUNT, BLOCK_REC, "block")?;
    let relocs = section(bytes, H_RELOC_OFF, H_RELOC_COUNT, RELOC_REC, "relocation")?;
    let words = section(bytes, H_WORD_OFF, H_WORD_COUNT, WORD_REC, "guest word")?;
    let code = section(bytes, H_CODE_OFF, H_CODE_LEN, 1, "code")?;
    if code.0 % CODE_ALIGN != 0 {
        return reject(
            ImageCheck::Layout,
            format!(
                "code section at {} is not {CODE_ALIGN}-byte aligned",
                code.0
            ),
        );
    }
    let tables = [
        (funcs.0, funcs.1 * FUNC_REC),
        (blocks.0, blocks.1 * BLOCK_REC),
        (relocs.0, relocs.1 * RELOC_REC),
        (words.0, words.1 * WORD_REC),
        (code.0, code.1),
    ];
    for (i, a) in tables.iter().enumerate() {
        for c in &tables[i + 1..] {
            if a.1 > 0 && c.1 > 0 && a.0 < c.0 + c.1 && c.0 < a.0 + a.1 {
                return reject(ImageCheck::Layout, "sections overlap");
            }
        }
    }
    let view = ImageView {
        bytes,
        entry,
        funcs,
        blocks,
        relocs,
        words,
        code: match code_elsewhere {
            None => &bytes[code.0..code.0 + code.1],
            Some(c) if c.len() == code.1 => c,
            Some(c) => {
                return reject(
                    ImageCheck::Layout,
                    format!("code section of {} bytes, {} bytes copied", code.1, c.len()),
                )
            }
        },
        exit_thunk: u32_at(bytes, H_EXIT_THUNK) as usize,
        max_block_insns: b.max_block_insns,
    };
    if full {
        validate_tables(&view, b.max_block_insns, true)?;
    }
    Ok(view)
}

fn validate_tables(
    v: &ImageView<'_>,
    max_block_insns: u32,
    check_relocs: bool,
) -> Result<(), Rejection> {
    let mut prev = None;
    for i in 0..v.function_count() {
        let f = v.function(i);
        if prev.is_some_and(|p| p >= f) || v.find_block(f).is_none() && v.block_count() > 0 {
            return reject(
                ImageCheck::FunctionTable,
                format!("function {i} at {f:#x} is out of order or has no block"),
            );
        }
        prev = Some(f);
    }
    let code = v.code();
    let reloc_table = &v.bytes[v.relocs.0..v.relocs.0 + v.relocs.1 * RELOC_REC];
    let mut prev_pc = None;
    let mut code_end = 0usize;
    let mut next_reloc = 0usize;
    let mut guest_words = 0u64;
    for (i, b) in v.blocks().enumerate() {
        let bad = |d: String| {
            reject(
                ImageCheck::BlockTable,
                format!("block {i} at {:#x}: {d}", b.pc),
            )
        };
        if prev_pc.is_some_and(|p| p >= b.pc) {
            return bad("blocks not sorted by pc".into());
        }
        prev_pc = Some(b.pc);
        // In halfwords: at most `max_block_insns` 32-bit instructions.
        let insns = b.end.wrapping_sub(b.pc) / 2;
        if !b.pc.is_multiple_of(2)
            || b.end <= b.pc
            || !(b.end - b.pc).is_multiple_of(2)
            || insns > 2 * max_block_insns as u64
        {
            return bad(format!("bad guest range [{:#x}, {:#x})", b.pc, b.end));
        }
        guest_words += insns;
        let (co, cl) = (b.code_off as usize, b.code_len as usize);
        if co % CODE_ALIGN != 0 || co < code_end || cl == 0 || co + cl > code.len() {
            return bad(format!(
                "bad code range {co}+{cl} (section {} bytes)",
                code.len()
            ));
        }
        code_end = co + cl;
        if b.reloc_start as usize != next_reloc
            || next_reloc + b.reloc_count as usize > v.reloc_count()
        {
            return bad("relocation range not contiguous or out of the table".into());
        }
        let relocs = &reloc_table[next_reloc * RELOC_REC..][..b.reloc_count as usize * RELOC_REC];
        next_reloc += b.reloc_count as usize;
        if !check_relocs {
            continue;
        }
        if !relocs_ok(&code[co..co + cl], co, relocs) {
            return Err(describe_bad_reloc(v, i, &b));
        }
    }
    // The exit thunk: the last bytes of the code section, after every
    // block's code, with a zero rel32.
    let t = v.exit_thunk;
    if !t.is_multiple_of(CODE_ALIGN)
        || t < code_end
        || t.checked_add(EXIT_THUNK.len()) != Some(code.len())
        || code[t..] != EXIT_THUNK
    {
        return reject(
            ImageCheck::Relocations,
            format!(
                "exit thunk at code offset {t} is not a zero jmp rel32 ending the code section ({} bytes, blocks end at {code_end})",
                code.len()
            ),
        );
    }
    if guest_words != v.words.1 as u64 {
        return reject(
            ImageCheck::BlockTable,
            format!(
                "blocks span {guest_words} guest halfwords, the image holds {}",
                v.words.1
            ),
        );
    }
    if next_reloc != v.reloc_count() {
        return reject(
            ImageCheck::Relocations,
            format!(
                "{} relocations belong to no block",
                v.reloc_count() - next_reloc
            ),
        );
    }
    Ok(())
}

/// The table checks of [`validate_tables`] (all but the relocation
/// records' contents) for an image validated by [`validate_for_install`],
/// made by the install in the pass that decodes the block records into
/// `recs` (cleared first): the function table, every block record (sorted,
/// its guest range, code range and relocation range), the exit thunk and
/// the totals. The hot loop only tells good from bad; on a bad table,
/// [`validate_tables`] names the first offence with its usual rejection.
/// Nothing is installed before this returns `Ok`.
pub(crate) fn check_tables(v: &ImageView<'_>, recs: &mut Vec<BlockRec>) -> Result<(), Rejection> {
    recs.clear();
    recs.extend(v.blocks());
    let code_len = v.code.len();
    let max_len = 4 * v.max_block_insns as u64;
    let nr = v.reloc_count();
    let funcs = &v.bytes[v.funcs.0..v.funcs.0 + v.funcs.1 * FUNC_REC];
    let mut funcs = funcs
        .chunks_exact(FUNC_REC)
        .map(|r| u64::from_le_bytes(r.try_into().expect("8")));
    // The next function not yet matched to a block (`None`: all matched).
    let mut next_func = funcs.next();
    let mut code_end = 0usize;
    let mut next_reloc = 0usize;
    let mut guest_len = 0u64;
    let mut prev_pc = 0u64;
    let mut ok = true;
    for (i, b) in recs.iter().enumerate() {
        // Functions are sorted (strictly) and each is some block's pc:
        // walked along the (sorted) blocks, a function not above this
        // block's pc must be its pc, and only one may be.
        if let Some(f) = next_func.filter(|&f| f <= b.pc) {
            next_func = funcs.next();
            ok &= (f == b.pc) & next_func.is_none_or(|g| g > b.pc);
        }
        let len = b.end.wrapping_sub(b.pc);
        let (co, cl) = (b.code_off as usize, b.code_len as usize);
        let (rs, rc) = (b.reloc_start as usize, b.reloc_count as usize);
        ok &= ((i == 0) | (b.pc > prev_pc))
            & (b.pc & 1 == 0)
            & (b.end > b.pc)
            & (len & 1 == 0)
            & (len <= max_len)
            & co.is_multiple_of(CODE_ALIGN)
            & (co >= code_end)
            & (cl != 0)
            & (co + cl <= code_len)
            & (rs == next_reloc)
            & (next_reloc + rc <= nr);
        prev_pc = b.pc;
        guest_len = guest_len.wrapping_add(len);
        code_end = co + cl;
        next_reloc += rc;
    }
    if recs.is_empty() {
        // No blocks: the functions need only be sorted.
        let mut prev = None;
        for f in next_func.into_iter().chain(funcs) {
            ok &= prev.is_none_or(|p| p < f);
            prev = Some(f);
        }
    } else {
        ok &= next_func.is_none();
    }
    let t = v.exit_thunk;
    ok = ok
        && t.is_multiple_of(CODE_ALIGN)
        && t >= code_end
        && t.checked_add(EXIT_THUNK.len()) == Some(code_len)
        && v.code[t..] == EXIT_THUNK
        && guest_len / 2 == v.words.1 as u64
        && next_reloc == nr;
    if ok {
        Ok(())
    } else {
        Err(describe_bad_tables(v))
    }
}

/// The rejection for an image whose tables [`check_tables`] found bad.
#[cold]
#[inline(never)]
fn describe_bad_tables(v: &ImageView<'_>) -> Rejection {
    match validate_tables(v, v.max_block_insns, false) {
        Err(r) => r,
        // Not reached: the two check the same rules.
        Ok(()) => Rejection {
            check: ImageCheck::BlockTable,
            detail: "malformed block table".to_string(),
        },
    }
}

/// Whether the relocation records `relocs` of a block whose code is
/// `block_code`, at code-section offset `co`, are well formed: both fields
/// of each inside the block, chain fields sorted and not overlapping, site
/// fields sorted, not overlapping and after every chain field, site fields
/// zero, chain jumps leading to a stub inside the block, targets even. The
/// install's relocation pass applies the same rules as it relocates (see
/// `Vm::install_aot_image`); [`describe_bad_reloc`] names the first
/// offence.
fn relocs_ok(block_code: &[u8], co: usize, relocs: &[u8]) -> bool {
    let cl = block_code.len();
    let field = |at: usize| u32::from_le_bytes(block_code[at..at + 4].try_into().expect("4"));
    let (mut chain_free, mut site_free, mut first_site) = (0usize, 0usize, usize::MAX);
    for r in relocs.chunks_exact(RELOC_REC) {
        let rec = RelocRec::parse(r);
        // Offsets within the block; below the block wraps to a huge value.
        let at = (rec.chain as usize).wrapping_sub(co);
        let st = (rec.site as usize).wrapping_sub(co);
        if at >= cl || cl - at < 4 || at < chain_free || st >= cl || cl - st < 4 || st < site_free {
            return false;
        }
        chain_free = at + 4;
        site_free = st + 4;
        first_site = first_site.min(st);
        let stub = at as i64 + 4 + field(at) as i32 as i64;
        if field(st) != 0 || stub < 0 || stub >= cl as i64 || !rec.target.is_multiple_of(2) {
            return false;
        }
    }
    relocs.is_empty() || first_site >= chain_free
}

/// The rejection for the first malformed relocation record of block `i`
/// (which `validate_tables` found to have one), naming the record and what
/// is wrong with it.
#[cold]
#[inline(never)]
pub(crate) fn describe_bad_reloc(v: &ImageView<'_>, i: usize, b: &BlockRec) -> Rejection {
    let code = v.code();
    let (co, cl) = (b.code_off as usize, b.code_len as usize);
    let first = b.reloc_start as usize;
    let (mut chain_free, mut site_free) = (co, co);
    let outside = |o: usize| o < co || o + 4 > co + cl;
    let reject = |what: String, detail: String| Rejection {
        check: ImageCheck::Relocations,
        detail: format!("{what} of block {i} at {:#x}: {detail}", b.pc),
    };
    for (r, rr) in (first..).zip(v.relocs(b.reloc_start, b.reloc_count)) {
        let (o, s) = (rr.chain as usize, rr.site as usize);
        let detail = if outside(o) {
            format!("chain field at {o} outside the block's code")
        } else if outside(s) {
            format!("site field at {s} outside the block's code")
        } else if o < chain_free {
            format!(
                "chain field at {o} overlaps the previous one or is out of order (a block's records are sorted by offset)"
            )
        } else if s < site_free {
            format!(
                "site field at {s} overlaps the previous one or is out of order (a block's records are sorted by offset)"
            )
        } else if code[s..s + 4] != [0; 4] {
            format!("site field at {s} is not zero")
        } else {
            chain_free = o + 4;
            site_free = s + 4;
            let rel = i32::from_le_bytes(code[o..o + 4].try_into().expect("4")) as i64;
            let stub = o as i64 + 4 + rel;
            if stub < co as i64 || stub >= (co + cl) as i64 {
                "chain jump does not lead to a stub inside the block".to_string()
            } else if !rr.target.is_multiple_of(2) {
                format!("misaligned chain target {:#x}", rr.target)
            } else {
                continue;
            }
        };
        return reject(format!("relocation {r}"), detail);
    }
    if let Some(s) = v.relocs(b.reloc_start, b.reloc_count).map(|r| r.site).min() {
        if (s as usize) < chain_free {
            return reject(
                "a relocation".to_string(),
                format!("site field at {s} lies before a chain field (site fields follow every chain field)"),
            );
        }
    }
    reject("a relocation".to_string(), "malformed".to_string())
}
