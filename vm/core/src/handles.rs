//! The per-call handle table: authority as unforgeable `u32` indices, never raw addresses.
//!
//! A handle names a contract and carries rights ([`RIGHT_CALL`], [`RIGHT_VALUE`],
//! [`RIGHT_COPY`]). Rights can only be removed ([`HandleTable::attenuate`]). Passing a handle to
//! a callee *moves* it (the caller's slot becomes [`Slot::Moved`]) unless it carries
//! [`RIGHT_COPY`]. Slots are never reused within a call, so a stale index can never name another
//! contract's authority. Every misuse is a typed [`Trap::Handle`].

use crate::error::{HandleFault, Trap};
use crate::host::Address;

/// May be the target of `call`.
pub const RIGHT_CALL: u32 = 1;
/// May carry a non-zero value on `call`.
pub const RIGHT_VALUE: u32 = 2;
/// Is copied, not moved, when passed to a callee.
pub const RIGHT_COPY: u32 = 4;
/// Every right a handle can have.
pub const ALL_RIGHTS: u32 = RIGHT_CALL | RIGHT_VALUE | RIGHT_COPY;
/// Most slots one call's table may hold (live or moved).
pub const MAX_HANDLES: usize = 256;

/// Authority over one contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    pub target: Address,
    pub rights: u32,
}

/// One slot of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Live(Handle),
    Moved,
}

/// The handles of one call frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandleTable {
    slots: Vec<Slot>,
}

fn trap(handle: u32, fault: HandleFault) -> Trap {
    Trap::Handle { handle, fault }
}

impl HandleTable {
    /// A table that starts with `handles` at indices `0..`.
    pub fn with(handles: Vec<Handle>) -> HandleTable {
        HandleTable {
            slots: handles.into_iter().map(Slot::Live).collect(),
        }
    }

    /// Number of slots (live or moved).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the table has no slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds a handle; traps when the table is full.
    pub fn insert(&mut self, h: Handle) -> Result<u32, Trap> {
        let index = self.slots.len() as u32;
        if self.slots.len() >= MAX_HANDLES {
            return Err(trap(index, HandleFault::TableFull));
        }
        self.slots.push(Slot::Live(h));
        Ok(index)
    }

    /// The live handle at `index`, which must hold every bit of `rights`.
    pub fn get(&self, index: u32, rights: u32) -> Result<Handle, Trap> {
        match self.slots.get(index as usize) {
            None => Err(trap(index, HandleFault::Invalid)),
            Some(Slot::Moved) => Err(trap(index, HandleFault::Moved)),
            Some(Slot::Live(h)) => {
                let missing = rights & !h.rights;
                if missing != 0 {
                    return Err(trap(index, HandleFault::MissingRight(missing)));
                }
                Ok(*h)
            }
        }
    }

    /// Narrows the handle at `index` to `rights`, which must be a subset of what it has.
    pub fn attenuate(&mut self, index: u32, rights: u32) -> Result<(), Trap> {
        let h = self.get(index, 0)?;
        if rights & !h.rights != 0 {
            return Err(trap(index, HandleFault::Amplify));
        }
        if let Some(slot) = self.slots.get_mut(index as usize) {
            *slot = Slot::Live(Handle { rights, ..h });
        }
        Ok(())
    }

    /// Takes the handles at `indices` for a callee: moved unless they carry [`RIGHT_COPY`].
    /// Validates every index before moving any, so a failed pass leaves the table unchanged.
    /// Passing the same non-copyable handle twice traps as a use after move.
    pub fn take_for_callee(&mut self, indices: &[u32]) -> Result<Vec<Handle>, Trap> {
        let mut scratch = self.clone();
        let mut out = Vec::with_capacity(indices.len());
        for &i in indices {
            let h = scratch.get(i, 0)?;
            if h.rights & RIGHT_COPY == 0
                && let Some(slot) = scratch.slots.get_mut(i as usize)
            {
                *slot = Slot::Moved;
            }
            out.push(h);
        }
        *self = scratch;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(rights: u32) -> Handle {
        Handle {
            target: [1; 32],
            rights,
        }
    }

    fn fault(r: Result<impl std::fmt::Debug, Trap>) -> HandleFault {
        match r {
            Err(Trap::Handle { fault, .. }) => fault,
            other => panic!("expected a handle trap, got {other:?}"),
        }
    }

    #[test]
    fn rights_can_be_removed_but_never_added() {
        let mut t = HandleTable::default();
        let i = t.insert(h(RIGHT_CALL | RIGHT_VALUE)).unwrap();
        t.attenuate(i, RIGHT_CALL).unwrap();
        assert_eq!(t.get(i, RIGHT_CALL).unwrap().rights, RIGHT_CALL);
        assert_eq!(
            fault(t.get(i, RIGHT_VALUE)),
            HandleFault::MissingRight(RIGHT_VALUE)
        );
        assert_eq!(
            fault(t.attenuate(i, RIGHT_CALL | RIGHT_VALUE)),
            HandleFault::Amplify
        );
    }

    #[test]
    fn passing_moves_a_handle_unless_it_has_the_copy_right() {
        let mut t = HandleTable::default();
        let linear = t.insert(h(RIGHT_CALL)).unwrap();
        let copyable = t.insert(h(RIGHT_CALL | RIGHT_COPY)).unwrap();
        let passed = t.take_for_callee(&[linear, copyable]).unwrap();
        assert_eq!(passed.len(), 2);
        assert_eq!(fault(t.get(linear, RIGHT_CALL)), HandleFault::Moved);
        assert!(t.get(copyable, RIGHT_CALL).is_ok());
    }

    #[test]
    fn a_failed_pass_moves_nothing_and_double_moves_trap() {
        let mut t = HandleTable::default();
        let a = t.insert(h(RIGHT_CALL)).unwrap();
        assert_eq!(fault(t.take_for_callee(&[a, 9])), HandleFault::Invalid);
        assert!(t.get(a, RIGHT_CALL).is_ok());
        assert_eq!(fault(t.take_for_callee(&[a, a])), HandleFault::Moved);
        assert!(t.get(a, RIGHT_CALL).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = HandleTable::default();
        for _ in 0..MAX_HANDLES {
            t.insert(h(RIGHT_CALL)).unwrap();
        }
        assert_eq!(fault(t.insert(h(RIGHT_CALL))), HandleFault::TableFull);
    }
}
