//! A bounded cache of prepared Groth16 verifying keys, keyed by the SHA-256 of the key bytes.
//!
//! Preparing a key decodes and subgroup-checks its points and computes `e(alpha, beta)` and the
//! G2 line coefficients: more work than the verification it enables. Contracts verify against
//! the same few keys again and again, so the prepared form is memoised.
//!
//! Why this is sound: preparation is a pure function of the curve and the key bytes, and only
//! keys whose preparation succeeded are inserted, under the hash of exactly those bytes (a
//! SHA-256 collision would be needed to serve another key). A hit returns what a fresh
//! preparation would; a miss runs it. Node-local: contents change speed, never a verdict or gas.

use crate::groth16::Groth16Error;
use ark_ec::pairing::Pairing;
use ark_groth16::PreparedVerifyingKey;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Default number of prepared keys kept per generation and curve.
pub const DEFAULT_CAPACITY: usize = 64;

/// Two generations of at most `capacity` entries: when the current one fills it becomes the
/// previous one (the old previous is dropped); a hit in the previous one is promoted. Memory
/// stays bounded without a per-entry recency list.
#[derive(Debug)]
pub struct Generations<V> {
    capacity: usize,
    current: HashMap<[u8; 32], V>,
    previous: HashMap<[u8; 32], V>,
}

impl<V: Clone> Generations<V> {
    fn new(capacity: usize) -> Self {
        Generations {
            capacity: capacity.max(1),
            current: HashMap::new(),
            previous: HashMap::new(),
        }
    }

    fn get(&mut self, key: &[u8; 32]) -> Option<V> {
        if let Some(v) = self.current.get(key) {
            return Some(v.clone());
        }
        let v = self.previous.remove(key)?;
        self.insert(*key, v.clone());
        Some(v)
    }

    fn insert(&mut self, key: [u8; 32], v: V) {
        if self.current.len() >= self.capacity {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, v);
    }

    fn len(&self) -> usize {
        self.current.len().saturating_add(self.previous.len())
    }
}

type Slot<E> = Mutex<Generations<Arc<PreparedVerifyingKey<E>>>>;

/// Prepared keys of both curves, at most `2 × capacity` per curve.
#[derive(Debug)]
pub struct VkCache {
    bn254: Slot<ark_bn254::Bn254>,
    bls12_381: Slot<ark_bls12_381::Bls12_381>,
}

/// A pairing whose prepared keys [`VkCache`] holds.
pub trait Cached: Pairing {
    fn slot(cache: &VkCache) -> &Slot<Self>;
}

impl Cached for ark_bn254::Bn254 {
    fn slot(cache: &VkCache) -> &Slot<Self> {
        &cache.bn254
    }
}

impl Cached for ark_bls12_381::Bls12_381 {
    fn slot(cache: &VkCache) -> &Slot<Self> {
        &cache.bls12_381
    }
}

impl VkCache {
    /// An empty cache keeping at most `2 × capacity` prepared keys per curve.
    pub fn new(capacity: usize) -> VkCache {
        VkCache {
            bn254: Mutex::new(Generations::new(capacity)),
            bls12_381: Mutex::new(Generations::new(capacity)),
        }
    }

    /// The process-wide cache the VM's host functions use.
    pub fn shared() -> &'static VkCache {
        static CACHE: OnceLock<VkCache> = OnceLock::new();
        CACHE.get_or_init(|| VkCache::new(DEFAULT_CAPACITY))
    }

    /// The prepared form of `vk`, from the cache or from `prepare` (inserted only on success).
    pub fn get_or_prepare<E: Cached>(
        &self,
        vk: &[u8],
        prepare: impl FnOnce() -> Result<PreparedVerifyingKey<E>, Groth16Error>,
    ) -> Result<Arc<PreparedVerifyingKey<E>>, Groth16Error> {
        let key: [u8; 32] = Sha256::digest(vk).into();
        // A poisoned lock only means another thread panicked mid-insert; the maps stay valid.
        let hit = E::slot(self)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key);
        if let Some(pvk) = hit {
            return Ok(pvk);
        }
        let pvk = Arc::new(prepare()?);
        E::slot(self)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, pvk.clone());
        Ok(pvk)
    }

    /// Prepared keys held for `E` (both generations).
    pub fn held<E: Cached>(&self) -> usize {
        E::slot(self)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}
