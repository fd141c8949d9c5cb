//! A bounded cache of validated public keys, keyed by their compressed encoding.
//!
//! Decoding a [`PublicKey`] decompresses a G1 point and checks it is not the point at infinity
//! and lies in the prime-order subgroup (a scalar multiplication): tens of microseconds, paid
//! by every transaction of a sender whose key never changes. This cache memoises successful
//! decodings.
//!
//! Why this is sound: [`PublicKey::from_bytes`] is a pure function of its 48 input bytes (blst
//! rejects non-canonical field elements and wrong flag bits, so one encoding names one point),
//! and only keys that passed *all* of its checks — on the curve, not infinity, in the subgroup —
//! are inserted, under exactly the bytes they were decoded from. A hit therefore returns the key
//! the full decoding would return; a miss (including every invalid key) runs that decoding. The
//! cache never holds a signature: signatures are still decoded per transaction and their
//! subgroup membership is still checked by every verification path.
//!
//! Beside each key the cache can keep one more value derived from the same 48 bytes (`T`,
//! e.g. the account address a chain derives from a sender key), computed once per key by the
//! caller's pure function. The same soundness argument holds: the value is a function of
//! the bytes it is kept under.
//!
//! Node-local: its contents change speed, never a verdict.

use crate::{CryptoError, PUBLIC_KEY_LEN, PublicKey};
use std::collections::HashMap;

/// Validated keys, at most `2 × capacity` of them (two generations: when the current one is
/// full it becomes the previous one and the old previous one is dropped, so keys in use keep
/// being promoted and memory stays bounded without a per-entry recency list).
/// `T`: the value derived from a key's bytes kept beside it (`()`: none).
#[derive(Debug)]
pub struct KeyCache<T = ()> {
    capacity: usize,
    current: HashMap<[u8; PUBLIC_KEY_LEN], (PublicKey, T)>,
    previous: HashMap<[u8; PUBLIC_KEY_LEN], (PublicKey, T)>,
    hits: u64,
    misses: u64,
}

/// Counters of a [`KeyCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

impl<T: Copy> KeyCache<T> {
    /// A cache of at most `2 × capacity` keys; `0` disables it (every lookup decodes).
    pub fn new(capacity: usize) -> Self {
        KeyCache {
            capacity,
            current: HashMap::new(),
            previous: HashMap::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// The validated key encoded by `bytes` and `derive(bytes)`: from the cache, or decoded
    /// with [`PublicKey::from_bytes`] and derived (and cached if the key is valid). `derive`
    /// must be a pure function of the bytes. Errors: those of `from_bytes`.
    pub fn get_with(
        &mut self,
        bytes: &[u8],
        derive: impl FnOnce(&[u8]) -> T,
    ) -> Result<(PublicKey, T), CryptoError> {
        let compressed = match <[u8; PUBLIC_KEY_LEN]>::try_from(bytes) {
            Ok(compressed) if self.capacity > 0 => compressed,
            // Off, or not a compressed key's length: decoded (and refused) every time.
            _ => return Ok((PublicKey::from_bytes(bytes)?, derive(bytes))),
        };
        if let Some(kept) = self.current.get(&compressed) {
            self.hits = self.hits.saturating_add(1);
            return Ok(*kept);
        }
        let kept = match self.previous.remove(&compressed) {
            Some(kept) => {
                self.hits = self.hits.saturating_add(1);
                kept
            }
            None => {
                self.misses = self.misses.saturating_add(1);
                (PublicKey::from_bytes(bytes)?, derive(bytes))
            }
        };
        if self.current.len() >= self.capacity {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(compressed, kept);
        Ok(kept)
    }

    /// Hit and miss counters and the number of keys held.
    pub fn stats(&self) -> KeyCacheStats {
        KeyCacheStats {
            hits: self.hits,
            misses: self.misses,
            entries: self.current.len().saturating_add(self.previous.len()),
        }
    }
}

impl KeyCache {
    /// Keys kept by default per generation (≈ 150 bytes each and the derived value: at most
    /// ≈ 6 MB in all with a 32-byte one).
    pub const DEFAULT_CAPACITY: usize = 16_384;

    /// The validated key encoded by `bytes` ([`KeyCache::get_with`] with nothing derived).
    /// Errors: those of [`PublicKey::from_bytes`].
    pub fn get(&mut self, bytes: &[u8]) -> Result<PublicKey, CryptoError> {
        self.get_with(bytes, |_| ()).map(|(pk, ())| pk)
    }
}

impl<T: Copy> Default for KeyCache<T> {
    fn default() -> Self {
        KeyCache::new(KeyCache::<()>::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::SecretKey;

    fn key(i: u8) -> [u8; PUBLIC_KEY_LEN] {
        SecretKey::from_seed(&[i; 32])
            .unwrap()
            .public_key()
            .to_bytes()
    }

    #[test]
    fn a_hit_returns_the_key_a_full_decoding_returns() {
        let mut c = KeyCache::new(4);
        let bytes = key(1);
        let first = c.get(&bytes).unwrap();
        let second = c.get(&bytes).unwrap();
        assert_eq!(first.to_bytes(), bytes);
        assert_eq!(
            second.to_bytes(),
            PublicKey::from_bytes(&bytes).unwrap().to_bytes()
        );
        assert_eq!(c.stats().hits, 1);
        assert_eq!(c.stats().misses, 1);
    }

    #[test]
    fn invalid_keys_fail_every_time_and_are_never_cached() {
        let mut c = KeyCache::new(4);
        // The point at infinity (compressed flag + infinity flag), then a non-curve point.
        let mut infinity = [0u8; PUBLIC_KEY_LEN];
        infinity[0] = 0xc0;
        let mut garbage = key(2);
        garbage[PUBLIC_KEY_LEN - 1] ^= 1;
        for bad in [infinity, garbage] {
            for _ in 0..2 {
                assert_eq!(
                    c.get(&bad).unwrap_err(),
                    PublicKey::from_bytes(&bad).unwrap_err()
                );
            }
        }
        assert!(c.get(&[0u8; 10]).is_err());
        assert_eq!(c.stats().entries, 0);
    }

    #[test]
    fn the_cache_holds_at_most_two_generations() {
        let mut c = KeyCache::new(3);
        for i in 0..20 {
            c.get(&key(i)).unwrap();
            assert!(c.stats().entries <= 6);
        }
        // A key used in every round stays cached across generation turns.
        let hot = key(100);
        c.get(&hot).unwrap();
        for i in 20..40 {
            c.get(&key(i)).unwrap();
            let misses = c.stats().misses;
            assert_eq!(c.get(&hot).unwrap().to_bytes(), hot);
            assert_eq!(c.stats().misses, misses, "hot key evicted at {i}");
        }
    }

    #[test]
    fn a_derived_value_is_computed_once_per_key_and_kept_beside_it() {
        let mut c: KeyCache<u8> = KeyCache::new(4);
        let mut calls = 0;
        let mut derive = |b: &[u8]| {
            calls += 1;
            b[1] ^ b[47]
        };
        let bytes = key(4);
        let want = bytes[1] ^ bytes[47];
        assert_eq!(c.get_with(&bytes, &mut derive).unwrap().1, want);
        let (pk, got) = c.get_with(&bytes, &mut derive).unwrap();
        assert_eq!((pk.to_bytes(), got), (bytes, want));
        let mut bad = key(5);
        bad[PUBLIC_KEY_LEN - 1] ^= 1;
        assert!(c.get_with(&bad, &mut derive).is_err());
        assert_eq!(calls, 1, "a hit or an invalid key derives nothing");
        let mut off: KeyCache<u8> = KeyCache::new(0);
        assert_eq!(off.get_with(&bytes, |b| b[1] ^ b[47]).unwrap().1, want);
    }

    #[test]
    fn capacity_zero_disables_the_cache() {
        let mut c = KeyCache::new(0);
        let bytes = key(3);
        c.get(&bytes).unwrap();
        c.get(&bytes).unwrap();
        assert_eq!(c.stats(), KeyCacheStats::default());
    }
}
