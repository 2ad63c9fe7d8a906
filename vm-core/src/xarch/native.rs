//! Runs natively compiled x86-64 code of a guest image in this process: the
//! reference the translators are checked and compared against.

use crate::frontend::CodeImage;

/// An x86-64 code image mapped executable (relative layout preserved, so
/// position-independent code runs at any base).
pub struct NativeImage {
    map: *mut u8,
    len: usize,
    base: u64,
}

// SAFETY: the mapping is owned exclusively and immutable after creation.
unsafe impl Send for NativeImage {}

impl NativeImage {
    /// Maps `img` read+execute.
    pub fn new(img: &CodeImage) -> std::io::Result<Self> {
        let len = img.bytes.len().max(1).next_multiple_of(4096);
        // SAFETY: a fresh anonymous mapping, filled before it becomes executable.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if map == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            std::ptr::copy_nonoverlapping(img.bytes.as_ptr(), map as *mut u8, img.bytes.len());
            if libc::mprotect(map, len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                let e = std::io::Error::last_os_error();
                libc::munmap(map, len);
                return Err(e);
            }
            Ok(Self {
                map: map as *mut u8,
                len,
                base: img.base,
            })
        }
    }

    /// Calls the function at guest address `pc` as `u64 f(u64, u64, u64)`.
    ///
    /// # Safety
    /// `pc` must be the entry of a function of the image with a compatible
    /// signature whose code does not depend on its load address, and
    /// pointer arguments must be valid for what the function does with them.
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn call3(&self, pc: u64, a: u64, b: u64, c: u64) -> u64 {
        type F = unsafe extern "C" fn(u64, u64, u64) -> u64;
        // SAFETY: the caller guarantees `pc` is a position-independent
        // function of this mapped, executable image with this signature and
        // that the arguments are valid for it.
        unsafe {
            let f: F = std::mem::transmute::<*mut u8, F>(self.map.add((pc - self.base) as usize));
            f(a, b, c)
        }
    }
}

impl Drop for NativeImage {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.len) };
    }
}
