//! Precise roots: a shadow stack of object references owned by the mutator.
//!
//! Safe code never sees a raw object index: every reference it holds is a
//! [`Handle`], a slot in this stack, so everything it can name is a root at
//! every safepoint. A handle carries the serial number of the push that made
//! it; once its slot is popped (by [`RootStack::truncate`]) the serial no
//! longer matches and using it is a typed error, not a dangling reference.

use super::object::ObjIndex;

/// A rooted reference to a heap object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle {
    slot: u32,
    serial: u32,
}

/// A position in the shadow stack, to pop back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootMark(usize);

/// The shadow stack. Each slot is one word: the serial number of the push
/// that made it in the high half, the object index in the low half, so
/// resolving a handle is one load and one compare, and a push is one store.
#[derive(Default)]
pub struct RootStack {
    slots: Vec<u64>,
    next_serial: u32,
}

#[inline]
fn slot_word(serial: u32, obj: ObjIndex) -> u64 {
    (u64::from(serial) << 32) | u64::from(obj)
}

impl RootStack {
    /// Pushes `obj`, returning its handle.
    #[inline]
    pub fn push(&mut self, obj: ObjIndex) -> Handle {
        self.next_serial = self.next_serial.wrapping_add(1);
        let slot = self.slots.len() as u32;
        self.slots.push(slot_word(self.next_serial, obj));
        Handle {
            slot,
            serial: self.next_serial,
        }
    }

    /// The object behind `h`, or `None` if its slot was popped.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<ObjIndex> {
        match self.slots.get(h.slot as usize) {
            Some(&w) if (w >> 32) as u32 == h.serial => Some(w as ObjIndex),
            _ => None,
        }
    }

    /// Points the live handle `h` at `obj`; false if `h` is stale.
    #[inline]
    pub fn set(&mut self, h: Handle, obj: ObjIndex) -> bool {
        match self.slots.get_mut(h.slot as usize) {
            Some(w) if (*w >> 32) as u32 == h.serial => {
                *w = slot_word(h.serial, obj);
                true
            }
            _ => false,
        }
    }

    /// The current depth.
    #[inline]
    pub fn mark(&self) -> RootMark {
        RootMark(self.slots.len())
    }

    /// Pops every slot pushed after `m`.
    #[inline]
    pub fn truncate(&mut self, m: RootMark) {
        self.slots.truncate(m.0);
    }

    /// Number of live slots.
    #[inline]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no slot is live.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every root (for marking and verification).
    pub fn objects(&self) -> impl ExactSizeIterator<Item = ObjIndex> + Clone + '_ {
        self.slots.iter().map(|&w| w as ObjIndex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popped_handles_go_stale_even_if_the_slot_is_reused() {
        let mut r = RootStack::default();
        let a = r.push(5);
        let m = r.mark();
        let b = r.push(6);
        assert_eq!(r.get(b), Some(6));
        r.truncate(m);
        assert_eq!(r.get(b), None);
        let c = r.push(7);
        assert_eq!(r.get(b), None);
        assert_eq!(r.get(c), Some(7));
        assert!(r.set(a, 9));
        assert_eq!(r.objects().collect::<Vec<_>>(), vec![9, 7]);
    }
}
