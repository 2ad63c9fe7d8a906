//! W^X executable memory: one reserved region, pages are either writable or
//! executable, never both. Writing code flips the touched pages to RW,
//! copies, and flips them back to RX.

use crate::backend::CodegenError;

/// A bump-allocated region of executable memory.
pub struct ExecMemory {
    base: *mut u8,
    cap: usize,
    used: usize,
}

// SAFETY: exclusively owned mapping.
unsafe impl Send for ExecMemory {}

const PAGE: usize = 4096;

impl ExecMemory {
    /// Reserves `cap` bytes (rounded up to pages), initially inaccessible... then read-exec.
    pub fn new(cap: usize) -> Result<Self, CodegenError> {
        let cap = cap.div_ceil(PAGE) * PAGE;
        // SAFETY: anonymous mapping checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                cap,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(CodegenError::ExecMemory(
                std::io::Error::last_os_error().to_string(),
            ));
        }
        Ok(Self {
            base: p as *mut u8,
            cap,
            used: 0,
        })
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
        self.write_at(start, code)?;
        self.used = start + code.len();
        Ok(self.base as usize + start)
    }

    /// Overwrites bytes at host address `addr` inside the used region.
    pub fn patch(&mut self, addr: usize, bytes: &[u8]) -> Result<(), CodegenError> {
        let off = addr.wrapping_sub(self.base as usize);
        if off + bytes.len() > self.used {
            return Err(CodegenError::ExecMemory(format!(
                "patch at {addr:#x} outside used code"
            )));
        }
        self.write_at(off, bytes)
    }

    fn protect(&self, start: usize, end: usize, prot: libc::c_int) -> Result<(), CodegenError> {
        let ps = start / PAGE * PAGE;
        let pe = end.div_ceil(PAGE) * PAGE;
        // SAFETY: the page range lies inside our mapping.
        let r = unsafe { libc::mprotect(self.base.add(ps) as *mut libc::c_void, pe - ps, prot) };
        if r != 0 {
            return Err(CodegenError::ExecMemory(
                std::io::Error::last_os_error().to_string(),
            ));
        }
        Ok(())
    }

    fn write_at(&mut self, off: usize, bytes: &[u8]) -> Result<(), CodegenError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let end = off + bytes.len();
        self.protect(off, end, libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: [off, end) is inside the mapping and now writable.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(off), bytes.len()) };
        self.protect(off, end, libc::PROT_READ | libc::PROT_EXEC)
    }
}

impl Drop for ExecMemory {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping from `new`.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.cap) };
    }
}
