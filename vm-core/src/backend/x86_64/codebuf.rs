//! Executable memory with W^X: no page is ever writable and executable
//! through the same mapping.
//!
//! The region is one memfd mapped twice (QEMU's split-wx layout): a
//! read-execute view whose addresses generated code and the dispatcher
//! use, and a read-write view of the same pages at another address where
//! code is written. Installing a block or patching a chained jump is then a
//! plain copy into the writable view: no system call, no page-table
//! change. x86 keeps instruction fetch coherent with stores to the same
//! physical memory (through either view), so no cache maintenance is
//! needed either.
//!
//! Where a memfd cannot be created or mapped executable (old kernels,
//! `vm.memfd_noexec`, seccomp), the region falls back to a single mapping
//! whose touched pages are flipped to RW for each write and back to RX
//! (two `mprotect` calls per write).

use crate::backend::CodegenError;

/// How code reaches the executable pages.
enum Views {
    /// `rw` maps the same memfd pages as the executable base, writable.
    Dual { rw: *mut u8 },
    /// One mapping; writes flip page permissions.
    Flip,
}

/// A bump-allocated region of executable memory.
pub struct ExecMemory {
    /// Executable (read-execute) view.
    base: *mut u8,
    views: Views,
    cap: usize,
    used: usize,
    /// Dual mode: bytes from the start whose pages are already allocated
    /// and mapped in both views (see [`Self::populate_to`]).
    populated: usize,
}

// SAFETY: the mappings are exclusively owned by this value.
unsafe impl Send for ExecMemory {}

const PAGE: usize = 4096;

/// Pages populated ahead of the bump pointer at a time (dual mode).
const POPULATE_CHUNK: usize = 64 << 10;

fn os_error(what: &str) -> CodegenError {
    CodegenError::ExecMemory(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// Maps `cap` bytes of `fd` (or anonymous memory when `fd` is -1) with `prot`.
fn map(cap: usize, prot: libc::c_int, fd: libc::c_int) -> Result<*mut u8, CodegenError> {
    let flags = if fd < 0 {
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE
    } else {
        libc::MAP_SHARED
    };
    // SAFETY: a fresh mapping chosen by the kernel; the result is checked.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), cap, prot, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(os_error("mmap"));
    }
    Ok(p as *mut u8)
}

/// Maps a fresh memfd of `cap` bytes twice: (executable view, writable view).
fn map_dual(cap: usize) -> Result<(*mut u8, *mut u8), CodegenError> {
    // SAFETY: the name is a NUL-terminated literal; the result is checked.
    let fd = unsafe { libc::memfd_create(c"vm-core-jit".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(os_error("memfd_create"));
    }
    let mapped = (|| {
        // SAFETY: `fd` is the memfd just created; the result is checked.
        if unsafe { libc::ftruncate(fd, cap as libc::off_t) } != 0 {
            return Err(os_error("ftruncate"));
        }
        let rx = map(cap, libc::PROT_READ | libc::PROT_EXEC, fd)?;
        match map(cap, libc::PROT_READ | libc::PROT_WRITE, fd) {
            Ok(rw) => Ok((rx, rw)),
            Err(e) => {
                // SAFETY: exactly the mapping made above.
                unsafe { libc::munmap(rx as *mut libc::c_void, cap) };
                Err(e)
            }
        }
    })();
    // The mappings keep the memory alive; the descriptor is not needed.
    // SAFETY: `fd` is ours and closed exactly once.
    unsafe { libc::close(fd) };
    mapped
}

impl ExecMemory {
    /// Reserves `cap` bytes (rounded up to pages) of executable memory:
    /// a dual-mapped memfd where possible, else one read-execute mapping
    /// whose pages are flipped for writes.
    pub fn new(cap: usize) -> Result<Self, CodegenError> {
        let cap = cap.div_ceil(PAGE) * PAGE;
        if let Some(r) = RegionPool::take(cap) {
            return Ok(Self {
                base: r.rx,
                views: Views::Dual { rw: r.rw },
                cap,
                used: 0,
                populated: r.populated,
            });
        }
        let (base, views) = match map_dual(cap) {
            Ok((rx, rw)) => (rx, Views::Dual { rw }),
            Err(_) => (
                map(cap, libc::PROT_READ | libc::PROT_EXEC, -1)?,
                Views::Flip,
            ),
        };
        Ok(Self {
            base,
            views,
            cap,
            used: 0,
            populated: 0,
        })
    }

    /// Reserves a region that always uses the per-write `mprotect` flip
    /// (the fallback of [`Self::new`]; kept reachable for tests and for
    /// measuring what the dual mapping saves).
    pub fn new_flipping(cap: usize) -> Result<Self, CodegenError> {
        let cap = cap.div_ceil(PAGE) * PAGE;
        Ok(Self {
            base: map(cap, libc::PROT_READ | libc::PROT_EXEC, -1)?,
            views: Views::Flip,
            cap,
            used: 0,
            populated: 0,
        })
    }

    /// Whether writes go through a second, writable view (no system call
    /// per install or patch).
    pub fn is_dual_mapped(&self) -> bool {
        matches!(self.views, Views::Dual { .. })
    }

    /// Prefetches the `len` bytes the next [`Self::append`] will write
    /// (through the view it writes), so that a caller that prefetches
    /// before generating the code finds those cache lines present when it
    /// copies: writes into the region otherwise miss all the way to memory.
    #[inline]
    pub fn prefetch_next(&self, len: usize) {
        let start = self.used.next_multiple_of(16);
        let end = (start + len).min(self.populated.max(self.used)).min(self.cap);
        let view = match self.views {
            Views::Dual { rw } => rw,
            Views::Flip => return,
        };
        let mut off = start & !63;
        while off < end {
            // SAFETY: `off < end <= cap`: inside the mapping; a prefetch
            // neither faults nor changes memory.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    view.add(off) as *const i8,
                )
            };
            off += 64;
        }
    }

    /// Host address where the next allocation (16-byte aligned) will start.
    pub fn next_addr(&self) -> usize {
        self.base as usize + self.used.next_multiple_of(16)
    }

    /// Host address of the start of the region.
    pub fn base(&self) -> usize {
        self.base as usize
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Moves the allocation point up to a multiple of `align` bytes (the
    /// bytes skipped are never executed).
    pub fn align_next(&mut self, align: usize) {
        self.used = self.used.next_multiple_of(align).min(self.cap);
    }

    /// Forgets everything allocated after `mark` bytes (used to flush all blocks).
    pub fn truncate(&mut self, mark: usize) {
        self.used = mark.min(self.used);
    }

    /// Appends `code` at [`Self::next_addr`] (which it must have been assembled
    /// for) and returns its address.
    pub fn append(&mut self, code: &[u8]) -> Result<usize, CodegenError> {
        let start = self.used.next_multiple_of(16);
        if start + code.len() > self.cap {
            return Err(CodegenError::CodeRegionFull);
        }
        self.populate_to(start + code.len());
        self.write_at(start, code)?;
        self.used = start + code.len();
        Ok(self.base as usize + start)
    }

    /// Appends `code` like [`Self::append`], with the 4-byte fields listed
    /// in `fields` (offset into `code`, value) replaced: the relocated copy
    /// of an AOT image is written once, without a private relocated copy
    /// first. Every offset must leave room for its 4 bytes in `code`
    /// (checked: a bad offset is an error and nothing is appended).
    pub fn append_patched(
        &mut self,
        code: &[u8],
        fields: &[(u32, [u8; 4])],
    ) -> Result<usize, CodegenError> {
        if let Some(&(o, _)) = fields.iter().find(|f| f.0 as usize + 4 > code.len()) {
            return Err(CodegenError::ExecMemory(format!(
                "field at {o} outside {} bytes of code",
                code.len()
            )));
        }
        let start = self.used.next_multiple_of(16);
        if start + code.len() > self.cap {
            return Err(CodegenError::CodeRegionFull);
        }
        match self.views {
            Views::Dual { rw } => {
                self.populate_to(start + code.len());
                // SAFETY: [start, start + len) is inside the writable view
                // (checked against `cap`), past `used`: no block runs
                // there yet, and no Rust reference aliases the view. Every
                // field lies inside `code` (checked above).
                unsafe {
                    let dst = rw.add(start);
                    std::ptr::copy_nonoverlapping(code.as_ptr(), dst, code.len());
                    for &(o, v) in fields {
                        std::ptr::copy_nonoverlapping(v.as_ptr(), dst.add(o as usize), 4);
                    }
                }
            }
            Views::Flip => {
                // One permission flip for the whole image: patch a copy.
                let mut buf = code.to_vec();
                for &(o, v) in fields {
                    buf[o as usize..o as usize + 4].copy_from_slice(&v);
                }
                self.write_at(start, &buf)?;
            }
        }
        self.used = start + code.len();
        Ok(self.base as usize + start)
    }

    /// Dual mode: the writable-view address of [`Self::next_addr`] if
    /// `len` bytes fit there (their pages populated), for code written in
    /// place before it is taken with [`Self::commit_tail`] (an AOT image's
    /// code section, copied there straight from the file with its
    /// checksum). `None` in flip mode or when the region is too full.
    /// Bytes written there are never executed until committed, and
    /// anything appended first overwrites them.
    pub fn writable_tail(&mut self, len: usize) -> Option<*mut u8> {
        let Views::Dual { rw } = self.views else {
            return None;
        };
        let start = self.used.next_multiple_of(16);
        if start.checked_add(len).is_none_or(|end| end > self.cap) {
            return None;
        }
        self.populate_to(start + len);
        // SAFETY: `start + len <= cap`: inside the writable mapping.
        Some(unsafe { rw.add(start) })
    }

    /// Takes the `len` bytes written in place at [`Self::writable_tail`] as
    /// code, with the 4-byte `fields` (offset, value) written over them
    /// first, like [`Self::append_patched`] without the copy. Every offset
    /// must leave room for its 4 bytes in `len` (checked: a bad offset is
    /// an error and nothing is taken).
    pub fn commit_tail(
        &mut self,
        len: usize,
        fields: &[(u32, [u8; 4])],
    ) -> Result<usize, CodegenError> {
        if let Some(&(o, _)) = fields.iter().find(|f| f.0 as usize + 4 > len) {
            return Err(CodegenError::ExecMemory(format!(
                "field at {o} outside {len} bytes of code"
            )));
        }
        let Some(dst) = self.writable_tail(len) else {
            return Err(CodegenError::CodeRegionFull);
        };
        // SAFETY: `dst` is valid for `len` bytes (`writable_tail`), past
        // `used`: no block runs there yet. Every field lies inside `len`
        // bytes (checked above).
        unsafe {
            for &(o, v) in fields {
                std::ptr::copy_nonoverlapping(v.as_ptr(), dst.add(o as usize), 4);
            }
        }
        let start = self.used.next_multiple_of(16);
        self.used = start + len;
        Ok(self.base as usize + start)
    }

    /// Overwrites bytes at host address `addr` inside the used region.
    pub fn patch(&mut self, addr: usize, bytes: &[u8]) -> Result<(), CodegenError> {
        let off = addr.wrapping_sub(self.base as usize);
        if off
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.used)
        {
            return Err(CodegenError::ExecMemory(format!(
                "patch at {addr:#x} outside used code"
            )));
        }
        self.write_at(off, bytes)
    }

    /// Dual mode: allocates the pages up to `end` (rounded up to
    /// [`POPULATE_CHUNK`]) and maps them in both views with one
    /// `madvise` per view and chunk. A first write to a fresh memfd page
    /// otherwise costs a page fault each (about 3 us on a virtualized
    /// host: shmem allocation), and a first execution a second one.
    /// Failure (kernels before 5.14) only means the faults happen later.
    fn populate_to(&mut self, end: usize) {
        let Views::Dual { rw } = self.views else {
            return;
        };
        if end <= self.populated {
            return;
        }
        let from = self.populated;
        let to = end.next_multiple_of(POPULATE_CHUNK).min(self.cap);
        // SAFETY: [from, to) lies inside both mappings; populating only
        // pre-faults pages, it changes no contents.
        unsafe {
            libc::madvise(
                rw.add(from) as *mut libc::c_void,
                to - from,
                libc::MADV_POPULATE_WRITE,
            );
            libc::madvise(
                self.base.add(from) as *mut libc::c_void,
                to - from,
                libc::MADV_POPULATE_READ,
            );
        }
        self.populated = to;
    }

    fn protect(&self, start: usize, end: usize, prot: libc::c_int) -> Result<(), CodegenError> {
        let ps = start / PAGE * PAGE;
        let pe = end.div_ceil(PAGE) * PAGE;
        // SAFETY: the page range lies inside our mapping.
        let r = unsafe { libc::mprotect(self.base.add(ps) as *mut libc::c_void, pe - ps, prot) };
        if r != 0 {
            return Err(os_error("mprotect"));
        }
        Ok(())
    }

    fn write_at(&mut self, off: usize, bytes: &[u8]) -> Result<(), CodegenError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.views {
            Views::Dual { rw } => {
                // SAFETY: [off, off + len) is inside the writable view
                // (callers checked it against `cap`), which no Rust
                // reference aliases; executing code only reads the pages
                // through the other view.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), rw.add(off), bytes.len()) };
                Ok(())
            }
            Views::Flip => {
                let end = off + bytes.len();
                self.protect(off, end, libc::PROT_READ | libc::PROT_WRITE)?;
                // SAFETY: [off, end) is inside the mapping and now writable.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(off), bytes.len())
                };
                self.protect(off, end, libc::PROT_READ | libc::PROT_EXEC)
            }
        }
    }
}

/// A dual-mapped region given back by a dropped [`ExecMemory`].
struct FreeRegion {
    rx: *mut u8,
    rw: *mut u8,
    cap: usize,
    populated: usize,
}

// SAFETY: a pooled region is owned by the pool alone (no code runs in it).
unsafe impl Send for FreeRegion {}

/// Released dual-mapped regions, reused by the next [`ExecMemory::new`]
/// of the same size. A VM's code region is created and dropped with the
/// VM; mapping a memfd twice, populating its first pages and unmapping
/// them again cost about 20 us, as much as compiling 20 blocks, and
/// short-lived VMs (tests, a scheduler's guests, AOT start-up) pay it
/// every time. Bounded in count and in populated bytes kept per region.
struct RegionPool;

/// Regions kept for reuse.
const POOL_REGIONS: usize = 8;
/// Regions with more populated memory than this are unmapped instead of
/// pooled (their pages would stay resident while unused).
const POOL_MAX_POPULATED: usize = 4 << 20;

static FREE_REGIONS: std::sync::Mutex<Vec<FreeRegion>> = std::sync::Mutex::new(Vec::new());

impl RegionPool {
    fn take(cap: usize) -> Option<FreeRegion> {
        let mut free = FREE_REGIONS.lock().unwrap_or_else(|e| e.into_inner());
        let i = free.iter().position(|r| r.cap == cap)?;
        Some(free.swap_remove(i))
    }

    /// Keeps `r` for reuse; gives it back to the caller when the pool is full.
    fn give(r: FreeRegion) -> Option<FreeRegion> {
        if r.populated > POOL_MAX_POPULATED {
            return Some(r);
        }
        let mut free = FREE_REGIONS.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() >= POOL_REGIONS {
            return Some(r);
        }
        free.push(r);
        None
    }
}

impl Drop for ExecMemory {
    fn drop(&mut self) {
        if let Views::Dual { rw } = self.views {
            let r = FreeRegion {
                rx: self.base,
                rw,
                cap: self.cap,
                populated: self.populated,
            };
            if let Some(r) = RegionPool::give(r) {
                // SAFETY: exactly the two mappings of this region.
                unsafe {
                    libc::munmap(r.rx as *mut libc::c_void, r.cap);
                    libc::munmap(r.rw as *mut libc::c_void, r.cap);
                }
            }
            return;
        }
        // SAFETY: exactly the mapping from `new_flipping` (or the fallback of `new`).
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.cap) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reach_the_executable_view_without_it_being_writable() {
        for mut m in [
            ExecMemory::new(8192).unwrap(),
            ExecMemory::new_flipping(8192).unwrap(),
        ] {
            // mov eax, 42 ; ret
            let code = [0xb8, 42, 0, 0, 0, 0xc3];
            let at = m.append(&code).unwrap();
            // SAFETY: `at` is the start of the 6 bytes just installed.
            let seen = unsafe { std::slice::from_raw_parts(at as *const u8, code.len()) };
            assert_eq!(seen, code);
            // SAFETY: the bytes form a complete function with this ABI.
            let f: extern "C" fn() -> u32 = unsafe { std::mem::transmute(at) };
            assert_eq!(f(), 42);
            m.patch(at + 1, &[7]).unwrap();
            assert_eq!(f(), 7);
            assert!(m.patch(at + 6, &[0]).is_err(), "patch past the used code");
            assert!(m.patch(usize::MAX - 1, &[0, 0, 0]).is_err());
        }
        assert!(ExecMemory::new(4096).unwrap().is_dual_mapped());
    }

    #[test]
    fn append_patched_writes_the_fields_into_the_copy() {
        for mut m in [
            ExecMemory::new(8192).unwrap(),
            ExecMemory::new_flipping(8192).unwrap(),
        ] {
            // mov eax, imm32 ; ret, with the immediate patched to 99.
            let code = [0xb8, 0, 0, 0, 0, 0xc3];
            let at = m
                .append_patched(&code, &[(1, 99u32.to_le_bytes())])
                .unwrap();
            // SAFETY: the bytes form a complete function with this ABI.
            let f: extern "C" fn() -> u32 = unsafe { std::mem::transmute(at) };
            assert_eq!(f(), 99);
            let used = m.used();
            assert!(m.append_patched(&code, &[(3, [0; 4])]).is_err());
            assert_eq!(m.used(), used, "a bad field appends nothing");
        }
    }

    #[test]
    fn commit_tail_takes_code_written_in_place() {
        let mut m = ExecMemory::new(8192).unwrap();
        if !m.is_dual_mapped() {
            assert!(m.writable_tail(6).is_none());
            return;
        }
        m.append(&[0xc3]).unwrap();
        // mov eax, imm32 ; ret, written in place, the immediate patched to 7.
        let p = m.writable_tail(6).unwrap();
        // SAFETY: `writable_tail` gave 6 writable bytes.
        unsafe { std::ptr::copy_nonoverlapping([0xb8, 0, 0, 0, 0, 0xc3].as_ptr(), p, 6) };
        assert!(m.commit_tail(6, &[(3, [0; 4])]).is_err());
        let at = m.commit_tail(6, &[(1, 7u32.to_le_bytes())]).unwrap();
        assert_eq!(at, m.base() + 16);
        assert_eq!(m.used(), 22);
        // SAFETY: the bytes form a complete function with this ABI.
        let f: extern "C" fn() -> u32 = unsafe { std::mem::transmute(at) };
        assert_eq!(f(), 7);
        assert!(m.writable_tail(8192).is_none(), "does not fit");
    }

    #[test]
    fn full_region_reports_full() {
        let mut m = ExecMemory::new(4096).unwrap();
        m.append(&[0x90; 4000]).unwrap();
        assert_eq!(m.append(&[0x90; 200]), Err(CodegenError::CodeRegionFull));
        m.truncate(0);
        assert!(m.append(&[0x90; 200]).is_ok());
    }
}
