//! The indirect-jump cache of a VM: guest pc -> host entry, probed inline
//! by generated code (`jalr`, returns) and filled by the dispatcher and the
//! AOT installer.
//!
//! An entry matches when its `pc` equals the jump's target. Empty entries
//! are all-zero bytes except in the one slot guest pc 0 maps to, which
//! holds `pc: u64::MAX` (no guest pc: targets are even): a zero `pc`
//! matches nothing else, because every other pc maps to another slot. So
//! an empty table is zeroed memory plus one store, instead of 4096
//! `u64::MAX` patterns written into 64 KB per VM (`Vm::new`'s largest
//! part, shared by the JIT and AOT starts).
//!
//! Tables are kept per thread when a VM is dropped and reused by the next
//! VM of the thread: every entry the VM wrote is recorded in a bitmap, and
//! only those are emptied again at drop (about a hundred for `fib 10`;
//! a code-region flush empties the whole table and the bitmap).

use std::cell::RefCell;
use std::mem::ManuallyDrop;

use crate::state::{JmpCacheEntry, JMP_CACHE_ENTRIES};

/// The slot of guest `pc`.
#[inline(always)]
pub(crate) fn slot_of(pc: u64) -> usize {
    (pc as usize >> 2) & (JMP_CACHE_ENTRIES - 1)
}

/// The empty value of the slot guest pc 0 maps to (and a valid empty value
/// of every slot).
const EMPTY_MARKED: JmpCacheEntry = JmpCacheEntry {
    pc: u64::MAX,
    host: 0,
};

/// The empty value of every other slot: all-zero bytes.
const EMPTY_ZERO: JmpCacheEntry = JmpCacheEntry { pc: 0, host: 0 };

/// Words of the written-entries bitmap.
const WRITTEN_WORDS: usize = JMP_CACHE_ENTRIES / 64;

/// The table and its written-entries bitmap (all zero when empty, but for
/// slot `slot_of(0)`'s marker).
#[repr(C)]
struct Table {
    /// Read by generated code through `CpuState::jmp_cache`.
    entries: [JmpCacheEntry; JMP_CACHE_ENTRIES],
    /// One bit per entry written since the table was last empty.
    written: [u64; WRITTEN_WORDS],
}

/// Tables kept per thread.
const POOL_TABLES: usize = 4;

thread_local! {
    static FREE_TABLES: RefCell<Vec<Box<Table>>> = const { RefCell::new(Vec::new()) };
}

/// A VM's indirect-jump cache (see the module doc).
pub(crate) struct JmpCache(ManuallyDrop<Box<Table>>);

impl JmpCache {
    /// An empty cache: a kept table of this thread, or a new zeroed one.
    pub(crate) fn new() -> Self {
        // (No kept table while the thread's locals are torn down.)
        if let Some(t) = FREE_TABLES.try_with(|f| f.borrow_mut().pop()).ok().flatten() {
            return Self(ManuallyDrop::new(t));
        }
        // SAFETY: `Table` is plain integers (`repr(C)`), for which all-zero
        // bytes are a valid value.
        let mut t: Box<Table> = unsafe { Box::<Table>::new_zeroed().assume_init() };
        t.entries[slot_of(0)] = EMPTY_MARKED;
        Self(ManuallyDrop::new(t))
    }

    /// Address of the entries (stable for the cache's life), for `CpuState`.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut JmpCacheEntry {
        self.0.entries.as_mut_ptr()
    }

    #[inline(always)]
    fn mark(&mut self, i: usize) {
        self.0.written[i / 64] |= 1 << (i % 64);
    }

    /// Maps guest `pc` to host code at `host`.
    #[inline]
    pub(crate) fn set(&mut self, pc: u64, host: u64) {
        let i = slot_of(pc);
        self.0.entries[i] = JmpCacheEntry { pc, host };
        self.mark(i);
    }

    /// Points `pc`'s entry, if it holds `pc`, at `host`.
    #[inline]
    pub(crate) fn repoint(&mut self, pc: u64, host: u64) {
        let i = slot_of(pc);
        if self.0.entries[i].pc == pc {
            self.0.entries[i].host = host;
            self.mark(i);
        }
    }

    /// Empties `pc`'s entry if it holds `pc`.
    #[inline]
    pub(crate) fn remove(&mut self, pc: u64) {
        let i = slot_of(pc);
        if self.0.entries[i].pc == pc {
            self.0.entries[i] = EMPTY_MARKED;
            self.mark(i);
        }
    }

    /// Empties every entry.
    pub(crate) fn clear(&mut self) {
        self.0.entries.fill(EMPTY_ZERO);
        self.0.entries[slot_of(0)] = EMPTY_MARKED;
        self.0.written = [0; WRITTEN_WORDS];
    }

    /// Empties the written entries (the table is then empty).
    fn empty_written(&mut self) {
        let t = &mut **self.0;
        for (w, word) in t.written.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                t.entries[i] = EMPTY_ZERO;
                bits &= bits - 1;
            }
        }
        t.entries[slot_of(0)] = EMPTY_MARKED;
    }
}

impl Drop for JmpCache {
    fn drop(&mut self) {
        self.empty_written();
        // SAFETY: `self.0` is not used again (this is the drop).
        let t = unsafe { ManuallyDrop::take(&mut self.0) };
        // A VM dropped while the thread's locals are torn down frees its table.
        let _ = FREE_TABLES.try_with(|f| {
            let mut f = f.borrow_mut();
            if f.len() < POOL_TABLES {
                f.push(t);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What generated code does: the slot of `pc` hits when it holds `pc`.
    fn probe(c: &mut JmpCache, pc: u64) -> Option<u64> {
        // SAFETY: the slot index is masked into the table.
        let e = unsafe { *c.as_mut_ptr().add(slot_of(pc)) };
        (e.pc == pc).then_some(e.host)
    }

    /// Every guest pc misses in an empty table (pc 0 and the other pcs
    /// of slot 0 included).
    fn assert_empty(c: &mut JmpCache) {
        for pc in (0..2 * JMP_CACHE_ENTRIES as u64 * 4).step_by(2) {
            assert_eq!(probe(c, pc), None, "pc {pc:#x}");
        }
    }

    #[test]
    fn empty_tables_miss_everywhere_also_when_reused() {
        for round in 0..6u64 {
            let mut caches: Vec<JmpCache> = (0..3).map(|_| JmpCache::new()).collect();
            for c in &mut caches {
                assert_empty(c);
                let pcs = [0, 2, 0x4000, 0x10010 + 8 * round, 0x3ffe];
                for (i, &pc) in pcs.iter().enumerate() {
                    c.set(pc, 0x1000 + i as u64);
                }
                for (i, &pc) in pcs.iter().enumerate().skip(3) {
                    assert_eq!(probe(c, pc), Some(0x1000 + i as u64));
                }
                // pc 0x4000 took slot 0 over from 0 and 2.
                assert_eq!(probe(c, 0x4000), Some(0x1002));
                assert_eq!(probe(c, 0), None);
                c.repoint(0x3ffe, 0x2000);
                assert_eq!(probe(c, 0x3ffe), Some(0x2000));
                c.remove(0x4000);
                assert_eq!(probe(c, 0x4000), None);
                assert_eq!(probe(c, 0), None);
                if round == 5 {
                    c.clear();
                    assert_empty(c);
                }
            }
        }
    }
}
