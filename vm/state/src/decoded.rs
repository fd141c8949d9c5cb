//! Decoded values of records an [`Overlay`](crate::Overlay) holds, kept beside it so a record
//! read many times in a block is decoded once.
//!
//! A block reads the same few records over and over (a token transfer reads its sender's account
//! three times and the contract's three times, and writes each back in between). Each read was a
//! change-map lookup, a copy of the bytes and a decode. The overlay now keeps, per key, the value
//! its bytes decode to, under one rule: **a kept value is the decoding of exactly what the
//! overlay returns for that key now**. Every write to a key drops its value (a write that
//! carries its decoded value replaces it), and reverting a context drops the values of every
//! key the context wrote, so nothing a reverted context wrote can be read back through here.
//! Values are stored by type; asking for a key under another type is a miss.
//!
//! Node-local speed only: what a key holds, and so every root and result, is decided by the
//! overlay's bytes alone.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

/// Kept decodings by raw key. Interior mutability: a read through `&Overlay` may keep what it
/// decoded. Bounded by the keys the overlay holds or has read (one value per key).
#[derive(Default)]
pub(crate) struct Decoded {
    values: RefCell<HashMap<Vec<u8>, Box<dyn Any + Send>, foldhash::fast::RandomState>>,
}

impl Decoded {
    /// The value kept for `key`, if one of type `T` is kept.
    pub(crate) fn get<T: Any + Clone>(&self, key: &[u8]) -> Option<T> {
        self.values.borrow().get(key)?.downcast_ref::<T>().cloned()
    }

    /// Keeps `value` as the decoding of what `key` holds now.
    pub(crate) fn keep<T: Any + Send>(&self, key: &[u8], value: T) {
        let mut values = self.values.borrow_mut();
        match values.get_mut(key) {
            // The same type kept before: replaced in place, no new box.
            Some(kept) => match kept.downcast_mut::<T>() {
                Some(slot) => *slot = value,
                None => *kept = Box::new(value),
            },
            None => {
                values.insert(key.to_vec(), Box::new(value));
            }
        }
    }

    /// Drops the value kept for `key` (its bytes changed).
    pub(crate) fn forget(&mut self, key: &[u8]) {
        let values = self.values.get_mut();
        if !values.is_empty() {
            values.remove(key);
        }
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("values", &self.values.borrow().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_keeps_one_value_of_the_type_last_kept() {
        let mut d = Decoded::default();
        d.keep(b"k", 1u64);
        d.keep(b"k", 2u64); // replaced in place
        assert_eq!(d.get::<u64>(b"k"), Some(2));
        d.keep(b"k", String::from("s")); // another type replaces the box
        assert_eq!(d.get::<u64>(b"k"), None);
        assert_eq!(d.get::<String>(b"k"), Some("s".into()));
        d.forget(b"k");
        assert_eq!(d.get::<String>(b"k"), None);
    }
}
