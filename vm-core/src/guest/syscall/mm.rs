//! The guest's address space as the system calls see it: which page ranges
//! are mapped with which protection (an interval map), the program break,
//! and `mmap`/`munmap`/`mprotect`/`mremap`/`madvise`/`brk`.
//!
//! This module only keeps the books and decides what Linux would return;
//! what changes in guest memory is queued as [`MapEffect`]s, which the
//! engine applies (zeroing pages, editing page tables under the MMU,
//! dropping translated code) right after the call.

use std::collections::BTreeMap;

use crate::memory::PAGE_SIZE;

/// `PROT_READ`.
pub const PROT_READ: u32 = 1;
/// `PROT_WRITE`.
pub const PROT_WRITE: u32 = 2;
/// `PROT_EXEC`.
pub const PROT_EXEC: u32 = 4;
const PROT_GROWSDOWN: u32 = 0x0100_0000;
const PROT_GROWSUP: u32 = 0x0200_0000;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
/// `MAP_ANONYMOUS`.
pub const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MREMAP_DONTUNMAP: u64 = 4;

const MADV_DONTNEED: u64 = 4;

use super::errno::{EEXIST, EINVAL, ENOMEM};

/// A change to guest memory a system call made, for the engine to apply
/// in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapEffect {
    /// `[start, end)` is now mapped with `prot` (`PROT_*` bits); when
    /// `zero`, its contents must read as zero (a fresh mapping), otherwise
    /// they are kept (`mprotect`).
    Map {
        /// First byte (page aligned).
        start: u64,
        /// End (page aligned).
        end: u64,
        /// `PROT_*` bits.
        prot: u32,
        /// Fresh pages: zero them.
        zero: bool,
    },
    /// `[start, end)` is no longer mapped.
    Unmap {
        /// First byte (page aligned).
        start: u64,
        /// End (page aligned).
        end: u64,
    },
    /// `[start, end)` stays mapped but reads as zero (`MADV_DONTNEED`).
    Zero {
        /// First byte (page aligned).
        start: u64,
        /// End (page aligned).
        end: u64,
    },
    /// Copy `len` bytes from `from` to `to` (both mapped: `mremap`
    /// moving a mapping, applied between mapping the new range and
    /// unmapping the old one).
    Copy {
        /// Source.
        from: u64,
        /// Destination.
        to: u64,
        /// Bytes.
        len: u64,
    },
}

/// The guest's mappings and program break.
#[derive(Debug, Clone, Default)]
pub struct AddressSpace {
    /// start -> (end, prot); disjoint, page aligned, adjacent ranges of
    /// equal protection merged.
    vmas: BTreeMap<u64, (u64, u32)>,
    /// Addresses at or above this are outside the guest (`TASK_SIZE`).
    limit: u64,
    /// `mmap` without `MAP_FIXED` places mappings below this (the stack
    /// region starts here), top down.
    mmap_top: u64,
    brk_start: u64,
    brk: u64,
    /// Effects not yet applied by the engine.
    effects: Vec<MapEffect>,
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

impl AddressSpace {
    /// An address space below `limit` whose program break starts (empty)
    /// at `brk_start`; `mmap` places mappings top down below `mmap_top`,
    /// which is also the most the break may grow to. No mapping yet.
    pub fn new(limit: u64, brk_start: u64, mmap_top: u64) -> Self {
        Self {
            vmas: BTreeMap::new(),
            limit,
            mmap_top: mmap_top.min(limit),
            brk_start,
            brk: brk_start,
            effects: Vec::new(),
        }
    }

    /// Records an existing mapping (image segments, the stack) without
    /// queueing an effect: the loader has already put it in place.
    pub fn add_existing(&mut self, start: u64, end: u64, prot: u32) {
        let (s, e) = (page_down(start), page_up(end).unwrap_or(self.limit));
        if e > s {
            self.insert(s, e, prot);
        }
    }

    /// Takes the effects of the calls since the last take.
    pub fn take_effects(&mut self) -> Vec<MapEffect> {
        std::mem::take(&mut self.effects)
    }

    /// Whether effects are waiting.
    pub fn has_effects(&self) -> bool {
        !self.effects.is_empty()
    }

    /// The end of the guest's addresses (`TASK_SIZE`).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The current program break.
    pub fn brk(&self) -> u64 {
        self.brk
    }

    /// The mappings, in address order: `(start, end, prot)`.
    pub fn mappings(&self) -> Vec<(u64, u64, u32)> {
        self.vmas.iter().map(|(&s, &(e, p))| (s, e, p)).collect()
    }

    /// The protection of the mapping holding `addr`, if any.
    pub fn prot_at(&self, addr: u64) -> Option<u32> {
        let (_, &(e, p)) = self.vmas.range(..=addr).next_back()?;
        (addr < e).then_some(p)
    }

    /// Whether no mapping intersects `[s, e)`.
    fn is_free(&self, s: u64, e: u64) -> bool {
        match self.vmas.range(..e).next_back() {
            Some((_, &(end, _))) => end <= s,
            None => true,
        }
    }

    /// Whether mappings cover all of `[s, e)`.
    fn is_covered(&self, s: u64, e: u64) -> bool {
        let mut at = s;
        // The mapping holding `s`, then those following without a gap.
        let Some((&first, _)) = self.vmas.range(..=s).next_back() else {
            return false;
        };
        for (&vs, &(ve, _)) in self.vmas.range(first..) {
            if vs > at {
                return false;
            }
            at = at.max(ve);
            if at >= e {
                return true;
            }
        }
        false
    }

    /// Splits the mapping that strictly contains `at` (if any) in two.
    fn split_at(&mut self, at: u64) {
        let Some((&s, &(e, p))) = self.vmas.range(..at).next_back() else {
            return;
        };
        if s < at && at < e {
            self.vmas.insert(s, (at, p));
            self.vmas.insert(at, (e, p));
        }
    }

    /// Removes every mapping of `[s, e)`.
    fn remove(&mut self, s: u64, e: u64) {
        self.split_at(s);
        self.split_at(e);
        let inside: Vec<u64> = self.vmas.range(s..e).map(|(&k, _)| k).collect();
        for k in inside {
            self.vmas.remove(&k);
        }
    }

    /// Maps `[s, e)` with `prot`, replacing whatever was there, and merges
    /// it with neighbours of the same protection.
    fn insert(&mut self, s: u64, e: u64, prot: u32) {
        self.remove(s, e);
        let (mut s, mut e) = (s, e);
        if let Some((&ps, &(pe, pp))) = self.vmas.range(..s).next_back() {
            if pe == s && pp == prot {
                self.vmas.remove(&ps);
                s = ps;
            }
        }
        if let Some(&(ne, np)) = self.vmas.get(&e) {
            if np == prot {
                self.vmas.remove(&e);
                e = ne;
            }
        }
        self.vmas.insert(s, (e, prot));
    }

    /// Highest free, page-aligned range of `len` bytes in `[lo, hi)`.
    fn find_free(&self, len: u64, lo: u64, hi: u64) -> Option<u64> {
        let mut top = hi;
        for (&s, &(e, _)) in self.vmas.range(..hi).rev() {
            if e < top && top - e.max(lo) >= len && top - len >= lo {
                return Some(top - len);
            }
            top = top.min(s);
            if top <= lo {
                return None;
            }
        }
        (top >= lo && top - lo >= len).then(|| top - len)
    }

    /// `brk(addr)`: moves the break when `addr` lies in
    /// `[brk_start, mmap_top]` and the new pages are free; returns the
    /// (new or unchanged) break, as Linux does.
    pub fn set_brk(&mut self, addr: u64) -> u64 {
        if addr < self.brk_start || addr > self.mmap_top {
            return self.brk;
        }
        let (old_end, new_end) = (
            page_up(self.brk).unwrap_or(self.limit),
            page_up(addr).unwrap_or(self.limit),
        );
        if new_end > old_end {
            if !self.is_free(old_end, new_end) {
                return self.brk;
            }
            self.insert(old_end, new_end, PROT_READ | PROT_WRITE);
            self.effects.push(MapEffect::Map {
                start: old_end,
                end: new_end,
                prot: PROT_READ | PROT_WRITE,
                zero: true,
            });
        } else if new_end < old_end {
            self.remove(new_end, old_end);
            self.effects.push(MapEffect::Unmap {
                start: new_end,
                end: old_end,
            });
        }
        self.brk = addr;
        addr
    }

    /// `mmap(addr, len, prot, flags, -1, off)` of anonymous memory: the
    /// address of the new mapping, or a negative errno. The caller has
    /// checked `MAP_ANONYMOUS` (file mappings are not supported).
    pub fn mmap(&mut self, addr: u64, len: u64, prot: u64, flags: u64, off: u64) -> i64 {
        if len == 0 || !off.is_multiple_of(PAGE_SIZE) {
            return -EINVAL;
        }
        if !matches!(
            flags & MAP_TYPE,
            MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE
        ) {
            return -EINVAL;
        }
        if prot & !u64::from(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
            return -EINVAL;
        }
        let Some(len) = page_up(len).filter(|&l| l <= self.limit) else {
            return -ENOMEM;
        };
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let start = if fixed {
            if !addr.is_multiple_of(PAGE_SIZE) {
                return -EINVAL;
            }
            if addr < PAGE_SIZE || addr > self.limit - len {
                return -ENOMEM;
            }
            if flags & MAP_FIXED == 0 && !self.is_free(addr, addr + len) {
                return -EEXIST;
            }
            addr
        } else {
            let hint = page_down(addr);
            let lo = page_up(self.brk).unwrap_or(self.limit);
            if hint >= PAGE_SIZE && hint <= self.limit - len && self.is_free(hint, hint + len) {
                hint
            } else {
                match self.find_free(len, lo, self.mmap_top) {
                    Some(a) => a,
                    None => return -ENOMEM,
                }
            }
        };
        let prot = prot as u32;
        self.insert(start, start + len, prot);
        self.effects.push(MapEffect::Map {
            start,
            end: start + len,
            prot,
            zero: true,
        });
        start as i64
    }

    /// `munmap(addr, len)`: 0 or a negative errno. Unmapping pages that
    /// are not mapped is not an error.
    pub fn munmap(&mut self, addr: u64, len: u64) -> i64 {
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 || addr > self.limit {
            return -EINVAL;
        }
        let Some(len) = page_up(len).filter(|&l| l <= self.limit - addr) else {
            return -EINVAL;
        };
        self.remove(addr, addr + len);
        self.effects.push(MapEffect::Unmap {
            start: addr,
            end: addr + len,
        });
        0
    }

    /// `mprotect(addr, len, prot)`: 0 or a negative errno (`-ENOMEM` when
    /// part of the range is not mapped, and then nothing changes).
    pub fn mprotect(&mut self, addr: u64, len: u64, prot: u64) -> i64 {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return -EINVAL;
        }
        if prot & !u64::from(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP)
            != 0
            || prot & u64::from(PROT_GROWSDOWN | PROT_GROWSUP) == u64::from(PROT_GROWSDOWN | PROT_GROWSUP)
        {
            return -EINVAL;
        }
        let Some(len) = page_up(len) else {
            return -ENOMEM;
        };
        if len == 0 {
            return 0;
        }
        let Some(end) = addr.checked_add(len).filter(|&e| e <= self.limit) else {
            return -ENOMEM;
        };
        if !self.is_covered(addr, end) {
            return -ENOMEM;
        }
        let prot = (prot as u32) & (PROT_READ | PROT_WRITE | PROT_EXEC);
        self.insert(addr, end, prot);
        self.effects.push(MapEffect::Map {
            start: addr,
            end,
            prot,
            zero: false,
        });
        0
    }

    /// `mremap(old, old_len, new_len, flags, new_addr)`: the (possibly
    /// moved) address or a negative errno. Shrinks in place, grows in
    /// place when the pages above are free, else moves with
    /// `MREMAP_MAYMOVE`. `MREMAP_DONTUNMAP` is not supported (`-EINVAL`).
    pub fn mremap(&mut self, old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> i64 {
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
            || flags & MREMAP_DONTUNMAP != 0
            || (flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0)
            || !old.is_multiple_of(PAGE_SIZE)
        {
            return -EINVAL;
        }
        let (Some(old_len), Some(new_len)) = (page_up(old_len), page_up(new_len)) else {
            return -EINVAL;
        };
        // old_len == 0 duplicates a shared mapping; there are none.
        if new_len == 0 || old_len == 0 || new_len > self.limit {
            return -EINVAL;
        }
        let Some(old_end) = old.checked_add(old_len).filter(|&e| e <= self.limit) else {
            return -EFAULT_MREMAP;
        };
        // The old address must be mapped (Linux checks the single
        // mapping only for growing and moving, after a shrink).
        let Some((_, &(ve, prot))) = self.vmas.range(..=old).next_back() else {
            return -EFAULT_MREMAP;
        };
        if ve <= old {
            return -EFAULT_MREMAP;
        }
        let one_mapping = ve >= old_end;
        let moved = |this: &mut Self, to: u64| {
            this.insert(to, to + new_len, prot);
            this.effects.push(MapEffect::Map {
                start: to,
                end: to + new_len,
                prot,
                zero: true,
            });
            this.effects.push(MapEffect::Copy {
                from: old,
                to,
                len: old_len.min(new_len),
            });
            this.remove(old, old_end);
            this.effects.push(MapEffect::Unmap {
                start: old,
                end: old_end,
            });
            to as i64
        };
        if flags & MREMAP_FIXED != 0 {
            if !new_addr.is_multiple_of(PAGE_SIZE) {
                return -EINVAL;
            }
            if new_addr < PAGE_SIZE || new_addr > self.limit - new_len {
                return -EINVAL;
            }
            if new_addr < old_end && old < new_addr + new_len {
                return -EINVAL;
            }
            if !one_mapping {
                return -EFAULT_MREMAP;
            }
            self.remove(new_addr, new_addr + new_len);
            self.effects.push(MapEffect::Unmap {
                start: new_addr,
                end: new_addr + new_len,
            });
            return moved(self, new_addr);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.remove(old + new_len, old_end);
                self.effects.push(MapEffect::Unmap {
                    start: old + new_len,
                    end: old_end,
                });
            }
            return old as i64;
        }
        if !one_mapping {
            return -EFAULT_MREMAP;
        }
        let grow_end = old + new_len;
        if grow_end <= self.limit && self.is_free(old_end, grow_end) {
            self.insert(old_end, grow_end, prot);
            self.effects.push(MapEffect::Map {
                start: old_end,
                end: grow_end,
                prot,
                zero: true,
            });
            return old as i64;
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return -ENOMEM;
        }
        let lo = page_up(self.brk).unwrap_or(self.limit);
        match self.find_free(new_len, lo, self.mmap_top) {
            Some(to) => moved(self, to),
            None => -ENOMEM,
        }
    }

    /// `madvise(addr, len, advice)`: `MADV_DONTNEED` makes mapped pages
    /// read as zero; other advice is accepted and ignored.
    pub fn madvise(&mut self, addr: u64, len: u64, advice: u64) -> i64 {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return -EINVAL;
        }
        let Some(len) = page_up(len) else {
            return -EINVAL;
        };
        let Some(end) = addr.checked_add(len).filter(|&e| e <= self.limit) else {
            return -EINVAL;
        };
        if len == 0 {
            return 0;
        }
        if !self.is_covered(addr, end) {
            return -ENOMEM;
        }
        if advice == MADV_DONTNEED {
            self.effects.push(MapEffect::Zero { start: addr, end });
        }
        0
    }
}

/// `mremap`'s errno for an old range that is not one mapping.
const EFAULT_MREMAP: i64 = super::errno::EFAULT;
