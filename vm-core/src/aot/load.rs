//! Image files: atomic writing, and loading through `memmap2` with every
//! check passed before any byte is placed in executable memory.
//!
//! The mapping is read once, into private memory, before any check: a
//! file changed on disk while the VM loads it (by another process) can
//! therefore never make the VM execute bytes other than those it checked.
//! The copy costs little because the code has to be copied anyway: after
//! validation the code section is relocated into the VM's own W^X code
//! region (written through its writable view; the executable view is
//! never writable), so image blocks sit in the one region
//! the Backend ABI requires: their rel32 jumps reach the shared exit
//! routine and JIT-compiled blocks, chaining works in both directions, and
//! invalidation of self-modified code unlinks them like any JIT block.
//!
//! [`write_image`] never rewrites a file in place (it renames a new file
//! over the old one, so a mapped inode is never modified); a file truncated
//! by another process during the one copy would still fault the reader, as
//! with any mmap-based loader.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::compile::{AotCompiler, CompileStats};
use super::format::{self, Expectation, ImageCheck, ImageView, Rejection};
use super::hash::{crc32c_copy, crc32c_copy_from};
use super::{build_info, build_info_for, AotError};
use crate::engine::{AotInstall, Vm};

/// What to do when an image fails validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadImagePolicy {
    /// Report the rejection and run the program under the JIT.
    #[default]
    Jit,
    /// Report the rejection and do not run the program.
    Stop,
}

impl std::str::FromStr for BadImagePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jit" => Ok(Self::Jit),
            "stop" => Ok(Self::Stop),
            _ => Err(format!("unknown bad-image policy {s:?} (jit|stop)")),
        }
    }
}

/// An image file mapped read-only.
pub struct MappedImage {
    path: PathBuf,
    map: Option<Arc<memmap2::Mmap>>,
}

/// Identity of a mapped file: device, inode, length.
type FileKey = (u64, u64, u64);

/// Read-only mappings of recently loaded image files, reused by the next
/// load of the same file. Mapping a 47 KB image, faulting its pages in
/// and unmapping it again cost about 6 us (the unmap and its TLB flush
/// most of it), more than checking the image's CRC: short-lived VMs that
/// start from the same image (tests, a scheduler's guests, start-up
/// benchmarks) would pay it on every load. A reused mapping shows exactly
/// what a fresh one would: the file's current contents (a shared mapping
/// of its page cache; the inode cannot be reused while it is mapped, and
/// a file replaced by [`write_image`]'s rename is another inode, a
/// truncated one another length). The bytes are still copied once per
/// load before any check ([`MappedImage::snapshot`]).
struct MapCache;

/// Mappings kept (least recently used first out).
const MAP_CACHE_FILES: usize = 4;

static MAPS: Mutex<Vec<(FileKey, Arc<memmap2::Mmap>)>> = Mutex::new(Vec::new());

impl MapCache {
    /// The kept mapping of the file with identity `key`, if any (made most
    /// recently used).
    fn get(key: FileKey) -> Option<Arc<memmap2::Mmap>> {
        let mut maps = MAPS.lock().unwrap_or_else(|e| e.into_inner());
        let i = maps.iter().position(|(k, _)| *k == key)?;
        // Most recently used last.
        let e = maps.remove(i);
        let m = Arc::clone(&e.1);
        maps.push(e);
        Some(m)
    }

    fn get_or_map(key: FileKey, file: &std::fs::File) -> std::io::Result<Arc<memmap2::Mmap>> {
        if let Some(m) = Self::get(key) {
            return Ok(m);
        }
        // SAFETY: read-only shared mapping of an image file. The image
        // writer never modifies a file in place (see the module doc); the
        // bytes are only read through one bounds-checked copy.
        let m = Arc::new(unsafe { memmap2::Mmap::map(file) }?);
        let mut maps = MAPS.lock().unwrap_or_else(|e| e.into_inner());
        if maps.len() >= MAP_CACHE_FILES {
            maps.remove(0);
        }
        maps.push((key, Arc::clone(&m)));
        Ok(m)
    }
}

impl MappedImage {
    /// Maps `path` read-only (reusing a mapping of the same file from a
    /// recent load, see `MapCache`).
    pub fn open(path: &Path) -> Result<Self, AotError> {
        use std::os::unix::fs::MetadataExt;
        let io = |source| AotError::Io {
            path: path.to_path_buf(),
            source,
        };
        // A kept mapping of the file the path names now needs no `open`:
        // it shows that inode's current contents, as a new mapping would.
        let meta = std::fs::metadata(path).map_err(io)?;
        let key = (meta.dev(), meta.ino(), meta.len());
        let map = match MapCache::get(key) {
            Some(m) if meta.len() > 0 => Some(m),
            _ => {
                let file = std::fs::File::open(path).map_err(io)?;
                // The identity of the file opened (the path may have been
                // replaced since the `stat`).
                let meta = file.metadata().map_err(io)?;
                // An empty file cannot be mapped; it fails validation as truncated.
                if meta.len() == 0 {
                    None
                } else {
                    let key = (meta.dev(), meta.ino(), meta.len());
                    Some(MapCache::get_or_map(key, &file).map_err(io)?)
                }
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            map,
        })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().map_or(&[], |m| &m[..])
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies the mapped bytes into private memory, once. Validation and
    /// installation then read only the copy, so what is checked is exactly
    /// what is relocated and executed, even if the file is modified while
    /// the VM loads it.
    pub fn snapshot(&self) -> ImageSnapshot {
        // SAFETY: no memory is given for the code section.
        unsafe { self.snapshot_with(|_| None) }
    }

    /// [`Self::snapshot`], with the code section copied to the memory
    /// `code_dst(len)` gives (if it gives any) instead of into the private
    /// copy: the loader copies it straight into the free end of the VM's
    /// code region, where the install relocates it in place (the code is
    /// then copied once per load, not into the copy and again into the
    /// region). The section is the one the copied header declares; the
    /// checksum still covers every byte of the file, in file order, from
    /// the values written, wherever they were written to.
    ///
    /// # Safety
    ///
    /// A pointer `code_dst(len)` returns must be valid for `len` bytes of
    /// writes and reads, not overlap the mapping or any Rust reference,
    /// and stay valid for the snapshot's lifetime (the views of it read the
    /// code there). Nothing but the install of this snapshot's own view may
    /// write those bytes while the snapshot lives, and only after its last
    /// read of the view's code (`Vm::install_aot_image` relocates them in
    /// place and reads nothing of the view's code after that).
    pub(crate) unsafe fn snapshot_with(
        &self,
        code_dst: impl FnOnce(usize) -> Option<*mut u8>,
    ) -> ImageSnapshot {
        let src = self.bytes();
        let mut bytes = SnapshotBuffers::take();
        // A kept buffer still holds its previous length: resizing writes
        // zeros only past it, and the copies below overwrite every byte
        // (but the code section's, when it goes elsewhere).
        bytes.resize(src.len(), 0);
        // The checksum of everything before the trailer is computed while
        // copying, from the copied values (one pass over the file): the
        // header first, then (the code section's place read from the
        // copied header) the rest.
        let body = src.len().saturating_sub(format::TRAILER_LEN);
        let head = body.min(format::HEADER_LEN);
        let crc = crc32c_copy(&src[..head], &mut bytes[..head]);
        let mut code = None;
        let split = format::declared_code_section(&bytes[..head], src.len())
            .and_then(|(off, len)| Some((off, len, code_dst(len)?)));
        let body_crc = match split {
            Some((off, len, dst)) => {
                let crc = crc32c_copy_from(crc, &src[head..off], &mut bytes[head..off]);
                // SAFETY: `dst` is valid for `len` bytes of writes and
                // aliases nothing (the caller's contract).
                let out = unsafe { std::slice::from_raw_parts_mut(dst, len) };
                let crc = crc32c_copy_from(crc, &src[off..off + len], out);
                code = Some((dst as *const u8, len));
                crc32c_copy_from(crc, &src[off + len..body], &mut bytes[off + len..body])
            }
            None => crc32c_copy_from(crc, &src[head..body], &mut bytes[head..body]),
        };
        bytes[body..].copy_from_slice(&src[body..]);
        ImageSnapshot {
            path: self.path.clone(),
            bytes,
            body_crc,
            code,
        }
    }
}

/// Buffers of dropped [`ImageSnapshot`]s, reused by the next snapshot.
/// A fresh 50 KB buffer per load comes from the top of the heap, and
/// freeing it with the VM's other memory let the allocator give those
/// pages back to the kernel (a `brk` to grow and two to shrink per load);
/// a kept buffer costs two lock operations instead. Bounded in count and
/// size; the bytes are overwritten by every snapshot before any check.
struct SnapshotBuffers;

/// Buffers kept.
const SNAPSHOT_BUFFERS: usize = 2;
/// Buffers larger than this are freed rather than kept.
const SNAPSHOT_BUFFER_MAX: usize = 4 << 20;

static FREE_SNAPSHOT_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

impl SnapshotBuffers {
    /// A buffer: a previous snapshot's (its bytes are stale: the next
    /// snapshot overwrites them), or a new empty one.
    fn take() -> Vec<u8> {
        let mut free = FREE_SNAPSHOT_BUFFERS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        free.pop().unwrap_or_default()
    }

    /// Keeps `buf` for the next snapshot (or frees it).
    fn give(buf: Vec<u8>) {
        if buf.capacity() > SNAPSHOT_BUFFER_MAX {
            return;
        }
        let mut free = FREE_SNAPSHOT_BUFFERS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if free.len() < SNAPSHOT_BUFFERS {
            free.push(buf);
        }
    }
}

/// A private copy of an image file's bytes (see [`MappedImage::snapshot`]).
pub struct ImageSnapshot {
    path: PathBuf,
    bytes: Vec<u8>,
    /// CRC-32C of the file without the trailer, computed by the copy.
    body_crc: u32,
    /// Where the code section was copied, if not into `bytes` (see
    /// [`MappedImage::snapshot_with`]).
    code: Option<(*const u8, usize)>,
}

// SAFETY: `code` is `Some` only for the snapshot `load_image` makes and
// drops inside itself (the public `MappedImage::snapshot` copies everything
// into `bytes`); the bytes it points to are only read through it, so
// sending or sharing a snapshot is as sound as for the `Vec` it otherwise
// holds. The raw pointer alone removed the auto traits.
unsafe impl Send for ImageSnapshot {}
// SAFETY: see `Send` above: through a shared snapshot the code bytes are
// only read.
unsafe impl Sync for ImageSnapshot {}

impl Drop for ImageSnapshot {
    fn drop(&mut self) {
        SnapshotBuffers::give(std::mem::take(&mut self.bytes));
    }
}

impl ImageSnapshot {
    /// The code section's bytes, if they were copied elsewhere than into
    /// `bytes`.
    fn code_elsewhere(&self) -> Option<&[u8]> {
        // SAFETY: `snapshot_with`'s contract: valid for reads of `len`
        // bytes, written by nothing else while the snapshot lives.
        self.code
            .map(|(p, len)| unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// Validates the image against `expect`; the error names the file.
    pub fn validate(&self, expect: &Expectation) -> Result<ImageView<'_>, AotError> {
        format::validate_with_crc(&self.bytes, self.code_elsewhere(), expect, self.body_crc)
            .map_err(|rejection| AotError::Rejected {
                path: self.path.clone(),
                rejection,
            })
    }

    /// [`Self::validate`] but for the relocation records' contents, which
    /// [`Vm::install_aot_image`] checks in its relocation pass before it
    /// writes anything (see `format::validate_for_install`).
    fn validate_for_install(&self, expect: &Expectation) -> Result<ImageView<'_>, AotError> {
        format::validate_for_install(&self.bytes, self.code_elsewhere(), expect, self.body_crc)
            .map_err(|rejection| AotError::Rejected {
                path: self.path.clone(),
                rejection,
            })
    }
}

/// Compiles `elf` into image bytes for VMs forming blocks of at most
/// `max_block_insns` instructions.
///
/// The finished image is validated with the loader's own checks before it
/// is returned: an image the loader would reject is an
/// [`AotError::Unloadable`] here, and nothing is written.
pub fn build_image(
    elf: &[u8],
    max_block_insns: usize,
) -> Result<(Vec<u8>, CompileStats), AotError> {
    let mut c = AotCompiler::new(max_block_insns)?;
    let (contents, stats) = c.compile_program(elf)?;
    let build = build_info(max_block_insns);
    let bytes = format::serialize(&build, &contents)?;
    // Refuse at build time what the loader would refuse at run time (for
    // instance chain targets that are not 4-byte aligned, from code built
    // for the C extension): the same checks, against the same expectation.
    let expect = Expectation {
        build,
        entry: contents.entry,
    };
    format::validate(&bytes, &expect).map_err(|rejection| AotError::Unloadable { rejection })?;
    Ok((bytes, stats))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, then renamed over `path`.
pub fn write_image(path: &Path, bytes: &[u8]) -> Result<(), AotError> {
    let io = |p: &Path, source| AotError::Io {
        path: p.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path, e)
    })
}

/// Outcome of [`load_image`].
#[derive(Debug)]
pub struct AotLoad {
    /// What was installed, when the image passed every check.
    pub installed: Option<AotInstall>,
    /// Why the image was rejected, when the policy let the run continue
    /// under the JIT.
    pub rejected: Option<AotError>,
    /// Time to open and map the file.
    pub map_time: Duration,
    /// Time to validate it (checksum, identity, every table).
    pub validate_time: Duration,
    /// Time to relocate the code and install the blocks.
    pub install_time: Duration,
}

impl AotLoad {
    /// Map + validate + install.
    pub fn total_time(&self) -> Duration {
        self.map_time + self.validate_time + self.install_time
    }
}

/// Maps, validates and installs the image at `path` into `vm`, which must
/// have `elf` loaded and not have run yet. A rejected image is an error
/// under [`BadImagePolicy::Stop`]; under [`BadImagePolicy::Jit`] it is
/// returned in [`AotLoad::rejected`] and `vm` is left untouched (the JIT
/// compiles everything on demand).
///
/// # Safety
///
/// An image is host machine code that `vm` will execute. The checks (CRC,
/// identity of program, build and code generator, every table, relocation
/// and guest instruction) catch damage, truncation and images of another
/// program or build, but no check can tell a deliberately crafted image from
/// a genuine one. The caller must trust the file: it was written by
/// [`write_image`] from [`build_image`] output, or comes from a source as
/// trusted as the running program itself.
pub unsafe fn load_image(
    vm: &mut Vm,
    path: &Path,
    elf: &[u8],
    policy: BadImagePolicy,
) -> Result<AotLoad, AotError> {
    let t0 = Instant::now();
    let mapped = MappedImage::open(path);
    let map_time = t0.elapsed();
    let t1 = Instant::now();
    let expect = Expectation::for_elf(build_info_for(vm), elf);
    let validated = mapped.and_then(|m| {
        // The code section goes straight into the free end of the code
        // region (where the install relocates it in place), if it fits.
        // SAFETY: the tail is `len` writable bytes past the region's used
        // part, which nothing writes or runs until the install takes them
        // (nothing installs code between here and the install, which
        // writes them only after its last read of the view's code, and the
        // VM outlives the snapshot, dropped at the end of this closure).
        let snapshot = unsafe { m.snapshot_with(|len| vm.aot_code_tail(len)) };
        // Relocation records are checked by the install, before it writes
        // anything: each is read once.
        let v = snapshot.validate_for_install(&expect)?;
        let validate_time = t1.elapsed();
        let t2 = Instant::now();
        let installed = vm.install_aot_image(&v).map_err(|e| match e {
            InstallError::Rejected(rejection) => AotError::Rejected {
                path: path.to_path_buf(),
                rejection,
            },
            InstallError::Vm(e) => AotError::Vm(e),
        })?;
        Ok((installed, validate_time, t2.elapsed()))
    });
    match validated {
        Ok((installed, validate_time, install_time)) => Ok(AotLoad {
            installed: Some(installed),
            rejected: None,
            map_time,
            validate_time,
            install_time,
        }),
        Err(e @ (AotError::Rejected { .. } | AotError::Io { .. }))
            if policy == BadImagePolicy::Jit =>
        {
            Ok(AotLoad {
                installed: None,
                rejected: Some(e),
                map_time,
                validate_time: t1.elapsed(),
                install_time: Duration::ZERO,
            })
        }
        Err(e) => Err(e),
    }
}

/// Why installing a validated image failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A block does not match the guest code it claims to translate.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The VM cannot take an image (no code region, already running, ...).
    #[error(transparent)]
    Vm(#[from] crate::engine::VmError),
}

impl InstallError {
    pub(crate) fn guest_code(detail: String) -> Self {
        InstallError::Rejected(Rejection {
            check: ImageCheck::GuestCode,
            detail,
        })
    }
}
