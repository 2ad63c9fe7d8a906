//! Static RV64 ELF executable loader.
//!
//! Parsing uses the `object` crate's low-level ELF reader; validation of what
//! this VM can run (class, endianness, machine, type, segment sanity) is ours
//! and produces a typed [`ElfError`].

use object::elf::{
    FileHeader64, ELFCLASS64, ELFDATA2LSB, EM_RISCV, ET_DYN, ET_EXEC, PT_INTERP, PT_LOAD,
};
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;
use thiserror::Error;

use crate::memory::{GuestMemory, PAGE_SIZE};

/// Why an ELF file cannot be loaded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ElfError {
    /// Too short to hold an ELF header, or a header/table points past the end.
    #[error("truncated ELF file: {0}")]
    Truncated(String),
    /// Missing `\x7fELF` magic.
    #[error("not an ELF file (bad magic)")]
    BadMagic,
    /// Not ELFCLASS64.
    #[error("wrong ELF class {0} (expected ELFCLASS64)")]
    WrongClass(u8),
    /// Not little-endian.
    #[error("wrong ELF data encoding {0} (expected little-endian)")]
    WrongEndian(u8),
    /// Not EM_RISCV.
    #[error("wrong ELF machine {0} (expected EM_RISCV = 243)")]
    WrongMachine(u16),
    /// Not a static executable.
    #[error("unsupported ELF type {0} (expected ET_EXEC static executable)")]
    WrongType(u16),
    /// A dynamically linked executable (it names a program interpreter).
    #[error(
        "dynamically linked executable (PT_INTERP {0}): the VM runs static executables only \
         (no dynamic linking); build with -static"
    )]
    Dynamic(String),
    /// A position-independent executable (`-static-pie` or `-pie`).
    #[error(
        "position-independent executable (ET_DYN): the VM loads fixed-address static \
         executables only; build with -static -no-pie (not -static-pie)"
    )]
    PositionIndependent,
    /// No PT_LOAD segment.
    #[error("ELF has no loadable segment")]
    NoSegments,
    /// A segment's file size exceeds its memory size.
    #[error("segment at {vaddr:#x}: file size {filesz:#x} exceeds memory size {memsz:#x}")]
    FileSizeExceedsMemSize {
        /// Segment address.
        vaddr: u64,
        /// p_filesz.
        filesz: u64,
        /// p_memsz.
        memsz: u64,
    },
    /// Two loadable segments overlap in memory.
    #[error("segments overlap: [{a_start:#x}, {a_end:#x}) and [{b_start:#x}, {b_end:#x})")]
    OverlappingSegments {
        /// First segment start.
        a_start: u64,
        /// First segment end.
        a_end: u64,
        /// Second segment start.
        b_start: u64,
        /// Second segment end.
        b_end: u64,
    },
    /// A segment does not fit in guest memory.
    #[error("segment [{start:#x}, {end:#x}) does not fit in guest memory of {mem:#x} bytes")]
    SegmentOutOfMemory {
        /// Segment start.
        start: u64,
        /// Segment end.
        end: u64,
        /// Guest memory size.
        mem: u64,
    },
    /// The page tables for the image could not be built.
    #[error("cannot map the image: {0}")]
    Map(#[from] crate::mmu::MapError),
    /// Entry point outside every executable segment.
    #[error("entry point {0:#x} is not inside a loaded segment")]
    BadEntry(u64),
    /// The header's `e_flags` ask for an extension or ABI this VM does not
    /// implement (it runs RV64GC with the soft, single or double float ABI).
    #[error("ELF e_flags {flags:#x} need {missing}, which this VM does not support (it runs RV64GC: soft, single or double float ABI)")]
    UnsupportedFlags {
        /// The header's `e_flags`.
        flags: u32,
        /// What is missing, in words (e.g. "the C extension (compressed
        /// instructions, EF_RISCV_RVC)").
        missing: String,
    },
}

/// `e_flags` bit: the code uses compressed (C extension) instructions.
pub const EF_RISCV_RVC: u32 = 0x1;
/// `e_flags` mask of the floating-point ABI (0 = soft-float).
pub const EF_RISCV_FLOAT_ABI: u32 = 0x6;
/// `e_flags` bit: the RV32E/RV64E base (16 registers).
pub const EF_RISCV_RVE: u32 = 0x8;

/// Checks a RISC-V ELF header's `e_flags` against what the VM runs
/// (RV64GC: compressed instructions, the soft, single or double float
/// calling convention; not quad float, not RV64E) and names what is missing.
pub fn check_riscv_flags(flags: u32) -> Result<(), ElfError> {
    // EF_RISCV_RVC is accepted: the C extension is implemented.
    let mut missing = Vec::new();
    if flags & EF_RISCV_FLOAT_ABI == 0x6 {
        missing.push("the quad-precision float ABI (Q extension, EF_RISCV_FLOAT_ABI_QUAD)");
    }
    if flags & EF_RISCV_RVE != 0 {
        missing.push("the RV64E base (EF_RISCV_RVE)");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ElfError::UnsupportedFlags {
            flags,
            missing: missing.join(" and "),
        })
    }
}

/// What the loader placed in guest memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// Entry point.
    pub entry: u64,
    /// Guest address of the program header table (for AT_PHDR), or 0.
    pub phdr: u64,
    /// Number of program headers.
    pub phnum: u64,
    /// Size of one program header.
    pub phent: u64,
    /// First page-aligned address above every segment: the initial program break.
    pub brk_start: u64,
    /// The loadable segments: `(vaddr, memsz, p_flags)` (PF_X = 1,
    /// PF_W = 2, PF_R = 4), in file order.
    pub segments: Vec<(u64, u64, u32)>,
}

fn trunc(e: object::Error) -> ElfError {
    ElfError::Truncated(e.to_string())
}

/// Validates `data` as a static RV64 executable and copies its segments into `mem`.
pub fn load_elf(data: &[u8], mem: &mut GuestMemory) -> Result<LoadedImage, ElfError> {
    let len = mem.len();
    load_segments(data, len, |s| {
        mem.write_bytes(s.vaddr, s.bytes)
            .map(|_| ())
            .map_err(|_| ElfError::SegmentOutOfMemory {
                start: s.vaddr,
                end: s.vaddr + s.memsz,
                mem: len,
            })
    })
}

/// One loadable segment handed to the placement callback of [`load_segments`].
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Virtual address.
    pub vaddr: u64,
    /// Size in memory (the bytes past `bytes.len()` are zero).
    pub memsz: u64,
    /// File contents.
    pub bytes: &'a [u8],
    /// ELF `p_flags` (PF_X = 1, PF_W = 2, PF_R = 4).
    pub flags: u32,
}

/// Validates `data` as a static RV64 executable whose segments fit below
/// `limit` and hands each loadable segment to `place` (which copies it into
/// flat memory, or maps and copies it through page tables).
pub fn load_segments<'d>(
    data: &'d [u8],
    limit: u64,
    mut place: impl FnMut(&Segment<'d>) -> Result<(), ElfError>,
) -> Result<LoadedImage, ElfError> {
    if data.len() < 16 {
        return Err(ElfError::Truncated(format!(
            "{} bytes, need at least 64",
            data.len()
        )));
    }
    if &data[0..4] != b"\x7fELF" {
        return Err(ElfError::BadMagic);
    }
    if data[4] != ELFCLASS64 {
        return Err(ElfError::WrongClass(data[4]));
    }
    if data[5] != ELFDATA2LSB {
        return Err(ElfError::WrongEndian(data[5]));
    }
    let hdr = FileHeader64::<Endianness>::parse(data).map_err(trunc)?;
    let e = hdr.endian().map_err(trunc)?;
    let machine = hdr.e_machine(e);
    if machine != EM_RISCV {
        return Err(ElfError::WrongMachine(machine));
    }
    let ty = hdr.e_type(e);
    if ty != ET_EXEC && ty != ET_DYN {
        return Err(ElfError::WrongType(ty));
    }
    check_riscv_flags(hdr.e_flags(e))?;
    let phdrs = hdr.program_headers(e, data).map_err(trunc)?;
    if let Some(ph) = phdrs.iter().find(|p| p.p_type(e) == PT_INTERP) {
        let interp = ph
            .data(e, data)
            .ok()
            .map(|b| String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(b)).into_owned())
            .unwrap_or_else(|| "?".into());
        return Err(ElfError::Dynamic(interp));
    }
    if ty == ET_DYN {
        return Err(ElfError::PositionIndependent);
    }
    let mut segs: Vec<(u64, u64, u64, u64, u32)> = Vec::new(); // vaddr, memsz, offset, filesz, flags
    for ph in phdrs.iter().filter(|p| p.p_type(e) == PT_LOAD) {
        let (vaddr, memsz, off, filesz) =
            (ph.p_vaddr(e), ph.p_memsz(e), ph.p_offset(e), ph.p_filesz(e));
        if filesz > memsz {
            return Err(ElfError::FileSizeExceedsMemSize {
                vaddr,
                filesz,
                memsz,
            });
        }
        let end = vaddr.checked_add(memsz).filter(|&end| end <= limit).ok_or(
            ElfError::SegmentOutOfMemory {
                start: vaddr,
                end: vaddr.wrapping_add(memsz),
                mem: limit,
            },
        )?;
        let _ = end;
        if off
            .checked_add(filesz)
            .is_none_or(|x| x > data.len() as u64)
        {
            return Err(ElfError::Truncated(format!(
                "segment at {vaddr:#x} needs file bytes [{off:#x}, +{filesz:#x}) but file has {:#x}",
                data.len()
            )));
        }
        if memsz > 0 {
            segs.push((vaddr, memsz, off, filesz, ph.p_flags(e)));
        }
    }
    if segs.is_empty() {
        return Err(ElfError::NoSegments);
    }
    let mut sorted = segs.clone();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.0 + a.1 > b.0 {
            return Err(ElfError::OverlappingSegments {
                a_start: a.0,
                a_end: a.0 + a.1,
                b_start: b.0,
                b_end: b.0 + b.1,
            });
        }
    }
    let entry = hdr.e_entry(e);
    if !segs.iter().any(|s| entry >= s.0 && entry < s.0 + s.1) {
        return Err(ElfError::BadEntry(entry));
    }
    let mut brk = 0u64;
    let phoff = hdr.e_phoff(e);
    let mut phdr = 0;
    for &(vaddr, memsz, off, filesz, flags) in &segs {
        // In range: checked against `limit` above.
        place(&Segment {
            vaddr,
            memsz,
            bytes: &data[off as usize..(off + filesz) as usize],
            flags,
        })?;
        brk = brk.max(vaddr + memsz);
        if phoff >= off && phoff < off + filesz {
            phdr = vaddr + (phoff - off);
        }
    }
    Ok(LoadedImage {
        entry,
        phdr,
        phnum: hdr.e_phnum(e) as u64,
        phent: hdr.e_phentsize(e) as u64,
        brk_start: brk.div_ceil(PAGE_SIZE) * PAGE_SIZE,
        segments: segs.iter().map(|s| (s.0, s.1, s.4)).collect(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a minimal valid static RV64 ELF with the given segments
    /// `(vaddr, file bytes, memsz)`.
    pub fn tiny_elf(segs: &[(u64, &[u8], u64)], entry: u64) -> Vec<u8> {
        let phoff = 64u64;
        let mut data_off = phoff + 56 * segs.len() as u64;
        let mut out = vec![0u8; 64];
        out[0..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        out[16..18].copy_from_slice(&2u16.to_le_bytes());
        out[18..20].copy_from_slice(&243u16.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[24..32].copy_from_slice(&entry.to_le_bytes());
        out[32..40].copy_from_slice(&phoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[54..56].copy_from_slice(&56u16.to_le_bytes());
        out[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        let mut payload = Vec::new();
        for (vaddr, bytes, memsz) in segs {
            let mut ph = vec![0u8; 56];
            ph[0..4].copy_from_slice(&1u32.to_le_bytes());
            ph[4..8].copy_from_slice(&5u32.to_le_bytes());
            ph[8..16].copy_from_slice(&data_off.to_le_bytes());
            ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
            ph[24..32].copy_from_slice(&vaddr.to_le_bytes());
            ph[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
            out.extend_from_slice(&ph);
            payload.extend_from_slice(bytes);
            data_off += bytes.len() as u64;
        }
        out.extend_from_slice(&payload);
        out
    }

    fn mem() -> GuestMemory {
        GuestMemory::new(1 << 20).unwrap()
    }

    #[test]
    fn loads_a_valid_image() {
        let code = [0x73u8, 0, 0, 0];
        let elf = tiny_elf(&[(0x1000, &code, 0x2000)], 0x1000);
        let mut m = mem();
        let img = load_elf(&elf, &mut m).unwrap();
        assert_eq!(img.entry, 0x1000);
        assert_eq!(img.brk_start, 0x3000);
        assert_eq!(img.segments, vec![(0x1000, 0x2000, 5)]);
        assert_eq!(m.load(0x1000, 4).unwrap(), 0x73);
    }

    #[test]
    fn rejects_malformed_images() {
        let code = [0u8; 8];
        let good = tiny_elf(&[(0x1000, &code, 8)], 0x1000);
        let mut m = mem();
        assert!(matches!(
            load_elf(&good[..10], &mut m),
            Err(ElfError::Truncated(_))
        ));
        assert!(matches!(
            load_elf(&good[..40], &mut m),
            Err(ElfError::Truncated(_))
        ));
        assert!(matches!(
            load_elf(&good[..good.len() - 4], &mut m),
            Err(ElfError::Truncated(_))
        ));
        let mut bad = good.clone();
        bad[4] = 1;
        assert_eq!(load_elf(&bad, &mut m), Err(ElfError::WrongClass(1)));
        let mut bad = good.clone();
        bad[18] = 62;
        assert_eq!(load_elf(&bad, &mut m), Err(ElfError::WrongMachine(62)));
        let mut bad = good.clone();
        bad[16] = 4;
        assert_eq!(load_elf(&bad, &mut m), Err(ElfError::WrongType(4)));
        // ET_DYN (-static-pie) and PT_INTERP (dynamic linking): clear refusals.
        let mut pie = good.clone();
        pie[16] = 3;
        let e = load_elf(&pie, &mut m).unwrap_err();
        assert_eq!(e, ElfError::PositionIndependent);
        assert!(e.to_string().contains("-static -no-pie"), "{e}");
        let mut dynamic = tiny_elf(&[(0x1000, &code, 8), (0x2000, b"/lib/ld.so\0", 11)], 0x1000);
        dynamic[64 + 56] = 3; // second program header: PT_INTERP
        let e = load_elf(&dynamic, &mut m).unwrap_err();
        assert_eq!(e, ElfError::Dynamic("/lib/ld.so".into()));
        assert!(e.to_string().contains("no dynamic linking"), "{e}");
        dynamic[16] = 3;
        assert_eq!(
            load_elf(&dynamic, &mut m),
            Err(ElfError::Dynamic("/lib/ld.so".into()))
        );
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(load_elf(&bad, &mut m), Err(ElfError::BadMagic));
        let overlap = tiny_elf(&[(0x1000, &code, 0x100), (0x1080, &code, 8)], 0x1000);
        assert!(matches!(
            load_elf(&overlap, &mut m),
            Err(ElfError::OverlappingSegments { .. })
        ));
        let huge = tiny_elf(&[(0xff000, &code, 0x2000)], 0xff000);
        assert!(matches!(
            load_elf(&huge, &mut m),
            Err(ElfError::SegmentOutOfMemory { .. })
        ));
        let bad_entry = tiny_elf(&[(0x1000, &code, 8)], 0x5000);
        assert_eq!(
            load_elf(&bad_entry, &mut m),
            Err(ElfError::BadEntry(0x5000))
        );
        // RV64GC images load: RVC with the soft, single or double float ABI.
        for flags in [0x1u8, 0x3, 0x5, 0x4, 0x2] {
            let mut gc = good.clone();
            gc[48] = flags;
            load_elf(&gc, &mut m).unwrap();
        }
        let mut quad = good.clone();
        quad[48] = 0x7; // EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_QUAD
        let e = load_elf(&quad, &mut m).unwrap_err();
        assert_eq!(
            e,
            ElfError::UnsupportedFlags {
                flags: 7,
                missing: "the quad-precision float ABI (Q extension, EF_RISCV_FLOAT_ABI_QUAD)".into()
            }
        );
        assert!(e.to_string().contains("e_flags 0x7 need the quad-precision"));
        for (flags, what) in [(6u8, "quad-precision"), (8, "RV64E")] {
            let mut bad = good.clone();
            bad[48] = flags;
            let e = load_elf(&bad, &mut m).unwrap_err().to_string();
            assert!(e.contains(what), "{flags:#x}: {e}");
        }
        // TSO (0x10) is stronger than RVWMO and runs as is.
        let mut tso = good.clone();
        tso[48] = 0x10;
        load_elf(&tso, &mut m).unwrap();
        let wrap = tiny_elf(&[(u64::MAX - 2, &code, 8)], 0);
        assert!(matches!(
            load_elf(&wrap, &mut m),
            Err(ElfError::SegmentOutOfMemory { .. })
        ));
    }
}
