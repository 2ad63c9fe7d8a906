//! Object header layout.
//!
//! Every heap chunk (live object or free run) starts with one header word:
//! bits 0..32 total size in words (header included), bits 32..48 the number
//! of reference fields, bit 62 FREE (a free run, not an object), bit 63 MARK.
//! Reference fields follow the header, then raw data words. A reference is the
//! word index of the target's header; index 0 is reserved and means null.

/// Word index of an object header inside the heap arena (0 = null).
pub type ObjIndex = u32;

/// Mark bit: set by the marker, cleared by the sweeper.
pub const MARK_BIT: u64 = 1 << 63;
/// Free bit: the chunk is a free run owned by the allocator.
pub const FREE_BIT: u64 = 1 << 62;
const SIZE_MASK: u64 = 0xffff_ffff;
const NREFS_SHIFT: u32 = 32;
const NREFS_MASK: u64 = 0xffff;

/// Largest number of reference fields an object may have.
pub const MAX_REFS: usize = NREFS_MASK as usize;

/// Encodes the header of a live object.
pub fn object_header(size_words: usize, nrefs: usize) -> u64 {
    debug_assert!(size_words as u64 <= SIZE_MASK && nrefs <= MAX_REFS);
    size_words as u64 | ((nrefs as u64) << NREFS_SHIFT)
}

/// Encodes the header of a free run.
pub fn free_header(size_words: usize) -> u64 {
    size_words as u64 | FREE_BIT
}

/// Total size of the chunk in words, header included.
pub fn size_words(header: u64) -> usize {
    (header & SIZE_MASK) as usize
}

/// Number of reference fields of the object.
pub fn nrefs(header: u64) -> usize {
    ((header >> NREFS_SHIFT) & NREFS_MASK) as usize
}

/// Whether the chunk is a free run.
pub fn is_free(header: u64) -> bool {
    header & FREE_BIT != 0
}

/// Whether the object is marked.
pub fn is_marked(header: u64) -> bool {
    header & MARK_BIT != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = object_header(12, 3);
        assert_eq!(size_words(h), 12);
        assert_eq!(nrefs(h), 3);
        assert!(!is_free(h) && !is_marked(h));
        assert!(is_marked(h | MARK_BIT));
        assert_eq!(size_words(h | MARK_BIT), 12);
        let f = free_header(7);
        assert!(is_free(f));
        assert_eq!(size_words(f), 7);
    }
}
