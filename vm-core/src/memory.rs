//! Guest address space: one bounds-checked, flat region of guest-physical
//! memory starting at guest address 0.
//!
//! Every guest access goes through this module: the interpreter calls
//! [`GuestMemory::load`]/[`GuestMemory::store`], and generated code uses the
//! same layout through [`GuestMemory::host_base`] plus an inline bounds check
//! against [`GuestMemory::len`]. A software TLB can later be placed in front
//! of these two entry points without touching either execution engine's
//! instruction semantics.
//!
//! The memory also keeps one byte per page saying whether translated code
//! was decoded from that page; stores into such pages must invalidate the
//! translations (self-modifying code).

use thiserror::Error;

/// log2 of the guest page size used for code tracking.
pub const PAGE_SHIFT: u32 = 12;
/// Guest page size in bytes.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// A guest access that cannot be satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MemFault {
    /// The access `[addr, addr + size)` is not inside guest memory.
    #[error("guest access of {size} bytes at {addr:#x} is outside guest memory")]
    OutOfRange {
        /// First guest address of the access.
        addr: u64,
        /// Access size in bytes.
        size: u64,
    },
    /// The MMU refused the access (Sv39 page fault).
    #[error(transparent)]
    Page(#[from] crate::mmu::PageFault),
    /// An atomic access (LR, SC, AMO) at an address not aligned to its
    /// size; Linux delivers SIGBUS, the VM stops with a guest fault.
    #[error("misaligned atomic access of {size} bytes at {addr:#x}")]
    Misaligned {
        /// Guest address of the access.
        addr: u64,
        /// Access size in bytes.
        size: u64,
    },
}

/// The guest's view of memory used by the interpreter, system calls and
/// the loader: flat ([`GuestMemory`] itself, guest address = physical
/// address) or translated ([`crate::mmu::MmuBus`]). Code-page effects name
/// *physical* pages.
pub trait GuestAccess {
    /// Loads `size` (1, 2, 4 or 8) bytes little-endian, zero-extended.
    fn load(&mut self, addr: u64, size: u64) -> Result<u64, MemFault>;
    /// Stores the low `size` bytes of `val` little-endian.
    fn store(&mut self, addr: u64, size: u64, val: u64) -> Result<StoreEffect, MemFault>;
    /// Fetches the instruction at `addr` (execute permission): a 32-bit
    /// word, or for a compressed instruction (low two bits not `11`) its
    /// halfword zero-extended, the next halfword not being fetched (it may
    /// lie on an inaccessible page). A 32-bit instruction whose second half
    /// is on an inaccessible page faults at that half.
    fn fetch_insn(&mut self, addr: u64) -> Result<u32, MemFault>;
    /// Copies guest bytes out.
    fn read_bytes(&mut self, addr: u64, out: &mut [u8]) -> Result<(), MemFault>;
    /// Copies bytes in; returns the first physical code page touched.
    fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<Option<u64>, MemFault>;
}

impl GuestAccess for GuestMemory {
    #[inline(always)]
    fn load(&mut self, addr: u64, size: u64) -> Result<u64, MemFault> {
        GuestMemory::load(self, addr, size)
    }
    #[inline(always)]
    fn store(&mut self, addr: u64, size: u64, val: u64) -> Result<StoreEffect, MemFault> {
        GuestMemory::store(self, addr, size, val)
    }
    #[inline(always)]
    fn fetch_insn(&mut self, addr: u64) -> Result<u32, MemFault> {
        GuestMemory::fetch_insn(self, addr)
    }
    fn read_bytes(&mut self, addr: u64, out: &mut [u8]) -> Result<(), MemFault> {
        GuestMemory::read_bytes(self, addr, out)
    }
    fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<Option<u64>, MemFault> {
        GuestMemory::write_bytes(self, addr, data)
    }
}

/// Errors creating a guest address space.
#[derive(Debug, Error)]
pub enum MemoryError {
    /// The requested size is zero, not page aligned, or above the supported maximum.
    #[error(
        "invalid guest memory size {0:#x} (must be a non-zero multiple of 4 KiB, at most 16 GiB)"
    )]
    InvalidSize(u64),
    /// The host refused to reserve the memory.
    #[error("host mmap of {size:#x} bytes failed: {source}")]
    Mmap {
        /// Requested size.
        size: u64,
        /// OS error.
        source: std::io::Error,
    },
}

/// What a successful store touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEffect {
    /// Plain data store.
    Data,
    /// The store wrote into a page holding translated code: translations of
    /// that page are stale.
    CodePage(u64),
}

/// Write access to the guest memory of a running VM.
///
/// A VM's CPU state and TLB hold host addresses into its memory, so the
/// memory itself must never be replaced or swapped while the VM lives; a
/// `&mut GuestMemory` would allow exactly that (`std::mem::swap`). This
/// handle gives the writes (and, through `Deref`, every read) without
/// handing out the memory itself.
///
/// Writes through it are physical and do not drop translated code of the
/// pages they overwrite; to patch code, use `Vm::write_guest`.
pub struct GuestMemoryMut<'a>(&'a mut GuestMemory);

impl<'a> GuestMemoryMut<'a> {
    pub(crate) fn new(mem: &'a mut GuestMemory) -> Self {
        Self(mem)
    }

    /// See [`GuestMemory::store`].
    pub fn store(&mut self, addr: u64, size: u64, val: u64) -> Result<StoreEffect, MemFault> {
        self.0.store(addr, size, val)
    }

    /// See [`GuestMemory::write_bytes`].
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<Option<u64>, MemFault> {
        self.0.write_bytes(addr, data)
    }
}

impl std::ops::Deref for GuestMemoryMut<'_> {
    type Target = GuestMemory;
    fn deref(&self) -> &GuestMemory {
        self.0
    }
}

/// Bounds-checked guest memory backed by an anonymous host mapping.
pub struct GuestMemory {
    base: *mut u8,
    len: u64,
    /// One entry per page, plus a spare entry past the last page that
    /// stays zero (the JIT checks a store's page and the next in one
    /// 16-bit read).
    code_pages: Box<[u8]>,
    /// `[first, last]` page ever marked in `code_pages` (empty when
    /// first > last): all of `code_pages` outside it is zero, so a dropped
    /// memory's map is emptied by clearing this range only and is kept
    /// with its mapping for the next VM (see [`MappingPool`]).
    marked: (u64, u64),
    /// Pages written through [`Self::write_bytes`] (see [`WrittenPages`]).
    written: WrittenPages,
}

/// No page marked.
const NONE_MARKED: (u64, u64) = (u64::MAX, 0);

/// Ranges of pages written through the host-side write path
/// ([`GuestMemory::write_bytes`]: the ELF loader, the initial stack,
/// page tables, system calls), merged, at most [`WRITTEN_RANGES`] of them
/// (later writes that would need another range are not recorded).
///
/// Only a hint: when the memory is dropped, these pages are zeroed in
/// place and stay mapped, so that the next VM's loader, which most often
/// writes the same pages, does not take a page fault on each (see
/// [`MappingPool`]). Which pages are listed never affects what any guest
/// reads.
#[derive(Clone, Copy, Default)]
struct WrittenPages {
    /// `[first page, end page)` ranges; the first `len` are used.
    ranges: [(u64, u64); WRITTEN_RANGES],
    len: usize,
}

/// Page ranges a [`WrittenPages`] records.
const WRITTEN_RANGES: usize = 8;

impl WrittenPages {
    /// Records a write to pages `[first, end)`.
    #[inline]
    fn record(&mut self, first: u64, end: u64) {
        // Most writes extend or repeat the last range (a segment, then the
        // stack's strings, each just below the previous one).
        for r in self.ranges[..self.len].iter_mut().rev() {
            if first <= r.1 && r.0 <= end {
                *r = (r.0.min(first), r.1.max(end));
                return;
            }
        }
        if self.len < WRITTEN_RANGES {
            self.ranges[self.len] = (first, end);
            self.len += 1;
        }
    }

    /// The recorded ranges sorted and merged, truncated to `max_pages`
    /// pages in total.
    fn kept(&self, max_pages: u64) -> Vec<(u64, u64)> {
        let mut r = self.ranges[..self.len].to_vec();
        r.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(r.len());
        for (a, b) in r {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        let mut budget = max_pages;
        out.retain_mut(|(a, b)| {
            *b = (*b).min(*a + budget);
            budget -= *b - *a;
            b > a
        });
        out
    }
}

// SAFETY: the mapping is owned exclusively by this value; all access goes
// through &self/&mut self.
unsafe impl Send for GuestMemory {}

const MAX_MEMORY: u64 = 16 << 30;

impl GuestMemory {
    /// Reserves `len` bytes of zeroed guest memory (lazily committed by the host).
    pub fn new(len: u64) -> Result<Self, MemoryError> {
        if len == 0 || !len.is_multiple_of(PAGE_SIZE) || len > MAX_MEMORY {
            return Err(MemoryError::InvalidSize(len));
        }
        if let Some(PooledMapping(p, _, code_pages)) = MappingPool::take(len) {
            return Ok(Self {
                base: p,
                len,
                code_pages,
                marked: NONE_MARKED,
                written: WrittenPages::default(),
            });
        }
        // SAFETY: anonymous private mapping, checked for MAP_FAILED below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(MemoryError::Mmap {
                size: len,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(Self {
            base: p as *mut u8,
            len,
            code_pages: vec![0u8; (len / PAGE_SIZE) as usize + 1].into_boxed_slice(),
            marked: NONE_MARKED,
            written: WrittenPages::default(),
        })
    }

    /// Size of the address space in bytes.
    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a guest memory has at least one page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Host address of guest address 0 (for generated code).
    pub fn host_base(&self) -> *mut u8 {
        self.base
    }

    /// Host address of the per-page "holds translated code" byte map.
    pub fn code_page_map(&self) -> *const u8 {
        self.code_pages.as_ptr()
    }

    #[inline(always)]
    fn check(&self, addr: u64, size: u64) -> Result<usize, MemFault> {
        if addr <= self.len - size {
            Ok(addr as usize)
        } else {
            Err(MemFault::OutOfRange { addr, size })
        }
    }

    /// Loads `size` (1, 2, 4 or 8) bytes little-endian, zero-extended.
    /// Misaligned accesses are allowed, as Linux user mode allows them.
    #[inline(always)]
    pub fn load(&self, addr: u64, size: u64) -> Result<u64, MemFault> {
        let off = self.check(addr, size)?;
        // SAFETY: [off, off+size) is inside the mapping (checked above).
        unsafe {
            let p = self.base.add(off);
            Ok(match size {
                1 => *p as u64,
                2 => u16::from_le(std::ptr::read_unaligned(p as *const u16)) as u64,
                4 => u32::from_le(std::ptr::read_unaligned(p as *const u32)) as u64,
                _ => u64::from_le(std::ptr::read_unaligned(p as *const u64)),
            })
        }
    }

    /// Stores the low `size` (1, 2, 4 or 8) bytes of `val` little-endian.
    #[inline(always)]
    pub fn store(&mut self, addr: u64, size: u64, val: u64) -> Result<StoreEffect, MemFault> {
        let off = self.check(addr, size)?;
        // SAFETY: [off, off+size) is inside the mapping (checked above).
        unsafe {
            let p = self.base.add(off);
            match size {
                1 => *p = val as u8,
                2 => std::ptr::write_unaligned(p as *mut u16, (val as u16).to_le()),
                4 => std::ptr::write_unaligned(p as *mut u32, (val as u32).to_le()),
                _ => std::ptr::write_unaligned(p as *mut u64, val.to_le()),
            }
        }
        let page = addr >> PAGE_SHIFT;
        // An access may straddle two pages; the second is checked too.
        let last = (addr + size - 1) >> PAGE_SHIFT;
        if self.code_pages[page as usize] != 0 {
            Ok(StoreEffect::CodePage(page))
        } else if last != page && self.code_pages[last as usize] != 0 {
            Ok(StoreEffect::CodePage(last))
        } else {
            Ok(StoreEffect::Data)
        }
    }

    /// Fetches a 32-bit instruction word.
    #[inline]
    pub fn fetch32(&self, addr: u64) -> Result<u32, MemFault> {
        self.load(addr, 4).map(|v| v as u32)
    }

    /// Fetches the instruction at `addr` (as `GuestAccess::fetch_insn`):
    /// one 4-byte load when it fits, so a compressed instruction in the last
    /// two bytes of memory is fetched by its halfword alone.
    #[inline]
    pub fn fetch_insn(&self, addr: u64) -> Result<u32, MemFault> {
        match self.load(addr, 4) {
            Ok(w) if w & 3 == 3 => Ok(w as u32),
            Ok(w) => Ok(w as u32 & 0xffff),
            Err(e) => match self.load(addr, 2) {
                Ok(h) if h & 3 != 3 => Ok(h as u32),
                _ => Err(e),
            },
        }
    }

    /// Copies guest bytes out.
    pub fn read_bytes(&self, addr: u64, out: &mut [u8]) -> Result<(), MemFault> {
        let n = out.len() as u64;
        if n == 0 {
            return Ok(());
        }
        let off = self
            .check(addr, n)
            .map_err(|_| MemFault::OutOfRange { addr, size: n })?;
        // SAFETY: range checked above.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(off), out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Borrows a guest byte range (for syscalls such as `write`).
    pub fn slice(&self, addr: u64, len: u64) -> Result<&[u8], MemFault> {
        if len == 0 {
            return Ok(&[]);
        }
        if len > self.len {
            return Err(MemFault::OutOfRange { addr, size: len });
        }
        let off = self.check(addr, len)?;
        // SAFETY: range checked above; lifetime tied to &self.
        Ok(unsafe { std::slice::from_raw_parts(self.base.add(off), len as usize) })
    }

    /// Copies bytes into guest memory (loader, syscalls). Returns the first
    /// code page touched, if any, so callers can invalidate translations.
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<Option<u64>, MemFault> {
        let n = data.len() as u64;
        if n == 0 {
            return Ok(None);
        }
        if n > self.len {
            return Err(MemFault::OutOfRange { addr, size: n });
        }
        let off = self.check(addr, n)?;
        // SAFETY: range checked above.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(off), data.len()) };
        self.written
            .record(addr >> PAGE_SHIFT, ((addr + n - 1) >> PAGE_SHIFT) + 1);
        Ok(((addr >> PAGE_SHIFT)..=((addr + n - 1) >> PAGE_SHIFT))
            .find(|&p| self.code_pages[p as usize] != 0))
    }

    /// Makes guest bytes `[addr, addr + len)` read as zero (system calls
    /// that map fresh anonymous memory). Whole pages are handed back to
    /// the host with `MADV_DONTNEED` (a private anonymous mapping reads as
    /// zero afterwards, and the host memory is freed); partial pages at the
    /// edges are overwritten. Code-page marks are not changed: the caller
    /// drops translations of the range.
    pub fn zero(&mut self, addr: u64, len: u64) -> Result<(), MemFault> {
        if len == 0 {
            return Ok(());
        }
        if len > self.len {
            return Err(MemFault::OutOfRange { addr, size: len });
        }
        let off = self.check(addr, len)? as u64;
        let end = off + len;
        let (first, last) = (off.next_multiple_of(PAGE_SIZE), end & !(PAGE_SIZE - 1));
        let base = self.base;
        let fill = |a: u64, b: u64| {
            if b > a {
                // SAFETY: [a, b) lies inside the mapping (range checked above).
                unsafe { std::ptr::write_bytes(base.add(a as usize), 0, (b - a) as usize) };
            }
        };
        if first >= last {
            fill(off, end);
            return Ok(());
        }
        fill(off, first);
        fill(last, end);
        // SAFETY: [first, last) are whole pages of this VM's private
        // anonymous mapping; after MADV_DONTNEED they read as zero.
        let r = unsafe {
            libc::madvise(
                self.base.add(first as usize) as *mut libc::c_void,
                (last - first) as usize,
                libc::MADV_DONTNEED,
            )
        };
        if r != 0 {
            fill(first, last);
        }
        Ok(())
    }

    /// Records that translated code was decoded from `page`.
    pub fn mark_code_page(&mut self, page: u64) {
        let pages = self.code_pages.len() - 1;
        if let Some(b) = self.code_pages[..pages].get_mut(page as usize) {
            *b = 1;
            self.marked = (self.marked.0.min(page), self.marked.1.max(page));
        }
    }

    /// Forgets that `page` holds translated code.
    pub fn clear_code_page(&mut self, page: u64) {
        if let Some(b) = self.code_pages.get_mut(page as usize) {
            *b = 0;
        }
    }

    /// Whether `page` is marked as holding translated code.
    pub fn is_code_page(&self, page: u64) -> bool {
        self.code_pages.get(page as usize).is_some_and(|b| *b != 0)
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // The code-page map goes back all zero (only `marked` can be set:
        // the generated code only reads the map).
        let mut code_pages = std::mem::take(&mut self.code_pages);
        let (first, last) = self.marked;
        if first <= last {
            code_pages[first as usize..=last as usize].fill(0);
        }
        // SAFETY: base/len are exactly the mapping created in `new` (or
        // taken from the pool): nothing else refers to it any more.
        unsafe { MappingPool::give(self.base, self.len, code_pages, &self.written) };
    }
}

/// Guest memory mappings of dropped VMs, reused by the next
/// [`GuestMemory::new`] of the same size. Short-lived VMs (tests, a
/// scheduler's guests, start-up benchmarks) otherwise pay an `mmap` and a
/// `munmap` of their whole address space each, and a page fault for every
/// page their loader writes (about 2 us each on a virtualized host: 4 of
/// fib's 5 page faults per VM, more than the rest of `Vm::new`).
///
/// A released mapping is made to read as zero everywhere, exactly like a
/// fresh anonymous mapping, in two parts that together cover every page:
/// the pages the dropped VM wrote through [`GuestMemory::write_bytes`]
/// ([`WrittenPages`], at most [`KEEP_PAGES`] of them) are overwritten
/// with zeros and stay mapped, and every other page is dropped with
/// `MADV_DONTNEED` (which frees it, swapped or not, so that it reads as
/// zero again). The zeroing happens after the last reference to the
/// memory is gone, so no guest observes it. If a `madvise` fails, the
/// mapping is unmapped instead of kept.
struct MappingPool;

/// Mappings kept.
const POOL_MAPPINGS: usize = 4;
/// Larger mappings are unmapped rather than kept.
const POOL_MAX_LEN: u64 = 1 << 30;
/// Pages of a released mapping zeroed in place and kept mapped (at most;
/// 256 KB: zeroing a page costs a tenth of faulting it in again).
const KEEP_PAGES: u64 = 64;
/// Gaps between kept pages (or after the last) of at most this many pages
/// are zeroed in place like kept pages instead of dropped with a
/// `madvise`: one `MADV_DONTNEED` costs about 0.4 us however small its
/// range (measured on the development host), zeroing a page about 0.05 us.
/// fib's stack page sits one page below the top of its memory: the page
/// above it cost a third `madvise` per VM. A zeroed page that was never
/// touched is faulted in once, then stays mapped with its VM's pool entry.
const ZERO_GAP_PAGES: u64 = 2;

/// A kept mapping's address and length (owned by the pool alone while
/// kept), and its all-zero code-page map.
struct PooledMapping(*mut u8, u64, Box<[u8]>);

// SAFETY: a pooled mapping is referenced by nothing but the pool.
unsafe impl Send for PooledMapping {}

static FREE_MAPPINGS: std::sync::Mutex<Vec<PooledMapping>> = std::sync::Mutex::new(Vec::new());

impl MappingPool {
    fn take(len: u64) -> Option<PooledMapping> {
        let mut free = FREE_MAPPINGS.lock().unwrap_or_else(|e| e.into_inner());
        let i = free.iter().position(|m| m.1 == len)?;
        Some(free.swap_remove(i))
    }

    /// Empties the mapping `[base, base + len)` and keeps it, or unmaps it.
    ///
    /// # Safety
    ///
    /// `base`/`len` must be an anonymous private mapping made by
    /// [`GuestMemory::new`] that nothing refers to any more; `written`
    /// lists pages inside it; `code_pages` is its code-page map, all zero.
    unsafe fn give(base: *mut u8, len: u64, code_pages: Box<[u8]>, written: &WrittenPages) {
        if len <= POOL_MAX_LEN && !Self::full() {
            // SAFETY: the caller owns the mapping and nothing refers to it.
            if unsafe { Self::zero(base, len, written) } {
                let mut free = FREE_MAPPINGS.lock().unwrap_or_else(|e| e.into_inner());
                if free.len() < POOL_MAPPINGS {
                    free.push(PooledMapping(base, len, code_pages));
                    return;
                }
            }
        }
        // SAFETY: the caller owns the mapping.
        unsafe { libc::munmap(base as *mut libc::c_void, len as usize) };
    }

    fn full() -> bool {
        FREE_MAPPINGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
            >= POOL_MAPPINGS
    }

    /// Makes every byte of the mapping read as zero: the kept written
    /// pages by overwriting them, all others (the gaps between them,
    /// which together with them cover the mapping) by `MADV_DONTNEED`.
    /// False if a `madvise` failed (the mapping must then not be reused).
    ///
    /// # Safety
    ///
    /// As for [`Self::give`].
    unsafe fn zero(base: *mut u8, len: u64, written: &WrittenPages) -> bool {
        let pages = len / PAGE_SIZE;
        let mut from = 0;
        let mut ok = true;
        let mut drop_pages = |a: u64, b: u64| {
            if b > a && b - a <= ZERO_GAP_PAGES {
                // A gap this small is cheaper to zero in place than to drop
                // (see `ZERO_GAP_PAGES`).
                // SAFETY: [a, b) are pages of the caller's mapping, which
                // nothing else refers to.
                unsafe {
                    std::ptr::write_bytes(
                        base.add((a * PAGE_SIZE) as usize),
                        0,
                        ((b - a) * PAGE_SIZE) as usize,
                    )
                };
            } else if b > a {
                // SAFETY: [a, b) are pages of the caller's mapping.
                ok &= unsafe {
                    libc::madvise(
                        base.add((a * PAGE_SIZE) as usize) as *mut libc::c_void,
                        ((b - a) * PAGE_SIZE) as usize,
                        libc::MADV_DONTNEED,
                    )
                } == 0;
            }
        };
        for (a, b) in written.kept(KEEP_PAGES) {
            let (a, b) = (a.min(pages), b.min(pages));
            drop_pages(from, a);
            // SAFETY: [a, b) are pages of the caller's mapping, which
            // nothing else refers to.
            unsafe {
                std::ptr::write_bytes(
                    base.add((a * PAGE_SIZE) as usize),
                    0,
                    ((b - a) * PAGE_SIZE) as usize,
                )
            };
            from = from.max(b);
        }
        drop_pages(from, pages);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_mappings_read_as_zero() {
        // Memories of one odd size (no other test uses it), written all
        // over, dropped and created again: every byte of a reused mapping
        // is zero, like a fresh one.
        let len = 3 * PAGE_SIZE + (13 << 20);
        for round in 0..6u8 {
            let mut mems: Vec<GuestMemory> = (0..3).map(|_| GuestMemory::new(len).unwrap()).collect();
            for m in &mut mems {
                let mut buf = vec![0u8; len as usize];
                m.read_bytes(0, &mut buf).unwrap();
                assert!(buf.iter().all(|&b| b == 0), "round {round}");
                assert!((0..len / PAGE_SIZE).all(|p| !m.is_code_page(p)));
                for at in (0..len).step_by(4093) {
                    m.store(at, 1, 0xa5 ^ round as u64).unwrap();
                }
                // Host-side writes, whose pages are zeroed in place and
                // kept: more ranges than are recorded, one longer than
                // the kept budget, one straddling a page boundary, one at
                // the very end.
                let fill = vec![0x5a ^ round; 100 * PAGE_SIZE as usize];
                m.write_bytes(5 * PAGE_SIZE, &fill).unwrap();
                for i in 0..12u64 {
                    m.write_bytes((300 + 7 * i) * PAGE_SIZE - 3, &fill[..10])
                        .unwrap();
                }
                m.write_bytes(len - 8, &fill[..8]).unwrap();
                m.mark_code_page(1);
            }
        }
    }

    #[test]
    fn written_pages_merge_and_respect_the_budget() {
        let mut w = WrittenPages::default();
        w.record(10, 12);
        w.record(11, 13);
        w.record(13, 14);
        w.record(2, 3);
        assert_eq!(w.kept(100), vec![(2, 3), (10, 14)]);
        assert_eq!(w.kept(3), vec![(2, 3), (10, 12)]);
        for i in 0..20 {
            w.record(100 + 2 * i, 101 + 2 * i);
        }
        assert_eq!(w.len, WRITTEN_RANGES);
        assert_eq!(w.kept(0), vec![]);
    }

    #[test]
    fn load_store_round_trip_and_bounds() {
        let mut m = GuestMemory::new(2 * PAGE_SIZE).unwrap();
        m.store(3, 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.load(3, 8).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(m.load(3, 1).unwrap(), 0x88);
        assert_eq!(m.load(4, 2).unwrap(), 0x6677);
        assert!(m.load(2 * PAGE_SIZE - 8, 8).is_ok());
        assert_eq!(
            m.load(2 * PAGE_SIZE - 7, 8),
            Err(MemFault::OutOfRange {
                addr: 2 * PAGE_SIZE - 7,
                size: 8
            })
        );
        assert!(m.load(u64::MAX, 1).is_err());
        assert!(m.store(u64::MAX - 3, 8, 0).is_err());
    }

    #[test]
    fn store_reports_code_pages_including_straddling_ones() {
        let mut m = GuestMemory::new(4 * PAGE_SIZE).unwrap();
        m.mark_code_page(1);
        assert_eq!(
            m.store(PAGE_SIZE + 8, 4, 1).unwrap(),
            StoreEffect::CodePage(1)
        );
        assert_eq!(
            m.store(PAGE_SIZE - 2, 4, 1).unwrap(),
            StoreEffect::CodePage(1)
        );
        assert_eq!(m.store(8, 4, 1).unwrap(), StoreEffect::Data);
        m.clear_code_page(1);
        assert_eq!(m.store(PAGE_SIZE + 8, 4, 1).unwrap(), StoreEffect::Data);
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(GuestMemory::new(0).is_err());
        assert!(GuestMemory::new(100).is_err());
    }
}
