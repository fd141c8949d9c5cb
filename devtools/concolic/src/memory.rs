//! Linear memory: the concrete bytes, and a byte-granular symbolic shadow of the bytes that
//! depend on the input.

use crate::expr::{self, E};
use crate::numeric::Val;
use crate::ops::Access;
use std::collections::BTreeMap;

pub const PAGE: u64 = 65536;

/// Concrete bytes plus the expressions of the symbolic ones (8 bits each).
#[derive(Debug, Default)]
pub struct Memory {
    pub bytes: Vec<u8>,
    /// Largest size, in pages, `memory.grow` may reach.
    pub max_pages: u64,
    pub shadow: BTreeMap<u32, E>,
}

impl Memory {
    pub fn pages(&self) -> u64 {
        self.bytes.len() as u64 / PAGE
    }

    /// Whether `[ea, ea + n)` lies inside memory.
    pub fn in_bounds(&self, ea: u64, n: u64) -> bool {
        ea.checked_add(n)
            .is_some_and(|end| end <= self.bytes.len() as u64)
    }

    /// Loads `acc` at the effective address `ea` (checked by the caller).
    pub fn load(&self, ea: u64, acc: &Access) -> Val {
        let start = ea as usize;
        let n = acc.bytes as usize;
        let mut bits = 0u64;
        for i in (0..n).rev() {
            let b = self
                .bytes
                .get(start.saturating_add(i))
                .copied()
                .unwrap_or(0);
            bits = (bits << 8) | u64::from(b);
        }
        let w = acc.w.bits();
        let from = acc.bytes.saturating_mul(8);
        let bits = if acc.signed && from < 64 {
            let shift = 64 - from;
            (((bits << shift) as i64 >> shift) as u64) & expr::mask(w)
        } else {
            bits
        };
        let any = (0..acc.bytes).any(|i| self.shadow.contains_key(&(ea as u32).wrapping_add(i)));
        let sym = if any {
            self.load_sym(ea as u32, acc)
        } else {
            None
        };
        Val { bits, sym }
    }

    fn load_sym(&self, addr: u32, acc: &Access) -> Option<E> {
        let e = self.word(addr, acc.bytes)?;
        let by = acc.w.bits().saturating_sub(acc.bytes.saturating_mul(8));
        expr::extend(acc.signed, by, e)
    }

    /// Whether any byte of `[addr, addr + n)` is symbolic.
    pub fn has_shadow(&self, addr: u32, n: u32) -> bool {
        let end = u64::from(addr).saturating_add(u64::from(n));
        self.shadow
            .range(addr..)
            .next()
            .is_some_and(|(k, _)| u64::from(*k) < end)
    }

    /// The `n` bytes at `addr` as one little-endian expression (constants where concrete);
    /// `None` when out of bounds or too deep.
    pub fn word(&self, addr: u32, n: u32) -> Option<E> {
        let mut e: Option<E> = None;
        for i in 0..n {
            let at = addr.checked_add(i)?;
            let byte = match self.shadow.get(&at) {
                Some(s) => s.clone(),
                None => expr::konst(8, u64::from(*self.bytes.get(at as usize)?)),
            };
            e = Some(match e {
                None => byte,
                Some(low) => expr::concat(byte, low)?,
            });
        }
        e
    }

    /// Stores the low `acc.bytes` bytes of `v` at `ea` (checked by the caller).
    pub fn store(&mut self, ea: u64, acc: &Access, v: &Val) {
        let start = ea as usize;
        for i in 0..acc.bytes {
            let a = (ea as u32).wrapping_add(i);
            if let Some(b) = self.bytes.get_mut(start.saturating_add(i as usize)) {
                *b = (v.bits >> (8 * i)) as u8;
            }
            let byte = v
                .sym
                .as_ref()
                .and_then(|s| expr::extract(8 * i + 7, 8 * i, s.clone()));
            match byte {
                Some(b) => {
                    self.shadow.insert(a, b);
                }
                None => {
                    self.shadow.remove(&a);
                }
            }
        }
    }

    /// `memory.grow`: the old size in pages, or `u32::MAX` (-1) when the limit forbids it.
    pub fn grow(&mut self, delta: u64) -> u64 {
        let old = self.pages();
        let Some(new) = old.checked_add(delta) else {
            return u64::from(u32::MAX);
        };
        if new > self.max_pages || new > 65536 {
            return u64::from(u32::MAX);
        }
        self.bytes.resize((new * PAGE) as usize, 0);
        old
    }

    /// Forgets the symbolic bytes in `[start, start + len)` (written concretely by the host).
    pub fn forget(&mut self, start: u32, len: u32) {
        let end = u64::from(start).saturating_add(u64::from(len));
        let keys: Vec<u32> = self
            .shadow
            .range(start..)
            .map(|(k, _)| *k)
            .take_while(|k| u64::from(*k) < end)
            .collect();
        for k in keys {
            self.shadow.remove(&k);
        }
    }
}
