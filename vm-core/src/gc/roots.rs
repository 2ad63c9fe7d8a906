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

/// The shadow stack.
#[derive(Default)]
pub struct RootStack {
    objs: Vec<ObjIndex>,
    serials: Vec<u32>,
    next_serial: u32,
}

impl RootStack {
    /// Pushes `obj`, returning its handle.
    #[inline]
    pub fn push(&mut self, obj: ObjIndex) -> Handle {
        self.next_serial = self.next_serial.wrapping_add(1);
        let slot = self.objs.len() as u32;
        self.objs.push(obj);
        self.serials.push(self.next_serial);
        Handle {
            slot,
            serial: self.next_serial,
        }
    }

    /// The object behind `h`, or `None` if its slot was popped.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<ObjIndex> {
        match self.serials.get(h.slot as usize) {
            Some(&s) if s == h.serial => Some(self.objs[h.slot as usize]),
            _ => None,
        }
    }

    /// Points the live handle `h` at `obj`; false if `h` is stale.
    #[inline]
    pub fn set(&mut self, h: Handle, obj: ObjIndex) -> bool {
        match self.serials.get(h.slot as usize) {
            Some(&s) if s == h.serial => {
                self.objs[h.slot as usize] = obj;
                true
            }
            _ => false,
        }
    }

    /// The current depth.
    pub fn mark(&self) -> RootMark {
        RootMark(self.objs.len())
    }

    /// Pops every slot pushed after `m`.
    pub fn truncate(&mut self, m: RootMark) {
        self.objs.truncate(m.0);
        self.serials.truncate(m.0);
    }

    /// Every root (for marking and verification).
    pub fn objects(&self) -> &[ObjIndex] {
        &self.objs
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
        assert_eq!(r.objects(), &[9, 7]);
    }
}
