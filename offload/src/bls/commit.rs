//! The committed batch: the random-linear-combination scalars are derived from a hash of the
//! whole batch (Fiat–Shamir), never from host randomness.
//!
//! Why this is sound: the digest commits to every `(pk, msg, sig)` triple before any scalar
//! exists, and each scalar is a hash output of that digest. An adversary who wants invalid
//! signatures to cancel (`Σ rᵢ·δᵢ = 0` for the errors `δᵢ` it planted) must fix the `δᵢ` first;
//! changing any byte of the batch afterwards changes every scalar. So each attempt is one fresh
//! draw that succeeds with probability about 2^-128 for 128-bit scalars, and grinding offline
//! costs about 2^128 hashes. (With interactive randomness 64 bits gave 2^-64 per *online* try;
//! offline grinding is why the deterministic scalars are twice as wide.)
//!
//! Determinism: the same batch (same triples in the same order) yields the same scalars on every
//! node, run, thread count and backend, so the same verdicts — even for a batch ground to fool
//! the check, every batch-verifying node is fooled alike (only the single-signature reference
//! path would then disagree, which is what the 2^-128 bounds).

use std::sync::Arc;

use keel_crypto::VerifyItem;
use sha2::{Digest, Sha256};

use crate::pool::Priority;

/// Bits of each scalar: 128, so that grinding a batch to make invalid signatures cancel costs
/// about 2^128 hash evaluations (see the module comment).
pub const RANDOM_SCALAR_BITS: usize = 128;
/// Bytes of one scalar.
pub const SCALAR_BYTES: usize = RANDOM_SCALAR_BITS / 8;
/// A non-zero scalar, little-endian (blst's scalar byte order).
pub type Scalar = [u8; SCALAR_BYTES];

/// Domain separation of the batch digest (versioned: a change is a consensus change).
const COMMIT_DST: &[u8] = b"KEEL-BLS-BATCH-COMMIT-V1";
/// Domain separation of the scalar expansion.
const EXPAND_DST: &[u8] = b"KEEL-BLS-BATCH-SCALARS-V1";

/// SHA-256 over the tag, the item count and every item as `pk[48] ‖ len(msg) u64 LE ‖ msg ‖
/// sig[96]` (compressed encodings; the message length prefix keeps item boundaries unambiguous).
pub fn batch_digest(items: &[VerifyItem]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((COMMIT_DST.len() as u64).to_le_bytes());
    h.update(COMMIT_DST);
    h.update((items.len() as u64).to_le_bytes());
    for item in items {
        h.update(item.pk.to_bytes());
        h.update((item.msg.len() as u64).to_le_bytes());
        h.update(&item.msg);
        h.update(item.sig.to_bytes());
    }
    h.finalize().into()
}

/// The scalar of item `index`: the first 16 bytes of `SHA-256(tag ‖ digest ‖ index u64 LE)`
/// (SHA-256 in counter mode), with the all-zero value (probability 2^-128) replaced by 1.
fn expand(digest: &[u8; 32], index: u64) -> Scalar {
    let block: [u8; 32] = Sha256::new()
        .chain_update((EXPAND_DST.len() as u64).to_le_bytes())
        .chain_update(EXPAND_DST)
        .chain_update(digest)
        .chain_update(index.to_le_bytes())
        .finalize()
        .into();
    let mut scalar = Scalar::default();
    scalar.copy_from_slice(&block[..SCALAR_BYTES]);
    if scalar == Scalar::default() {
        scalar[0] = 1;
    }
    scalar
}

/// One non-zero scalar per item, in item order, derived from [`batch_digest`] of `items`.
/// A pure function of the items: equal batches give equal scalars.
pub fn derive_scalars(items: &[VerifyItem]) -> Vec<Scalar> {
    let digest = batch_digest(items);
    (0..items.len() as u64)
        .map(|i| expand(&digest, i))
        .collect()
}

/// A batch as a [`crate::bls::Backend`] receives it: the items, the scalars derived from them
/// (there is no way to build one with other scalars) and the pool lane its work runs on.
#[derive(Debug, Clone)]
pub struct CommittedBatch {
    items: Arc<[VerifyItem]>,
    scalars: Arc<[Scalar]>,
    priority: Priority,
}

impl CommittedBatch {
    /// Commits to `items` and derives their scalars.
    pub fn new(items: Arc<[VerifyItem]>, priority: Priority) -> Self {
        let scalars = derive_scalars(&items).into();
        Self {
            items,
            scalars,
            priority,
        }
    }

    /// The items, in submission order.
    pub fn items(&self) -> &Arc<[VerifyItem]> {
        &self.items
    }

    /// One scalar per item, same order.
    pub fn scalars(&self) -> &Arc<[Scalar]> {
        &self.scalars
    }

    /// The lane the batch's work runs on.
    pub fn priority(&self) -> Priority {
        self.priority
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use keel_crypto::{SecretKey, Signature};

    fn item(seed: u8, msg: &[u8]) -> VerifyItem {
        let sk = SecretKey::from_seed(&[seed; 32]).unwrap();
        VerifyItem::new(sk.public_key(), msg.to_vec(), sk.sign(msg))
    }

    fn batch() -> Vec<VerifyItem> {
        vec![item(1, b"block 7"), item(2, b"block 7"), item(3, b"tx 12")]
    }

    #[test]
    fn the_same_batch_always_gets_the_same_scalars() {
        let a = derive_scalars(&batch());
        assert_eq!(a, derive_scalars(&batch()));
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|s| *s != Scalar::default()));
        assert_ne!(a[0], a[1]);
        // Pinned: a change in the encoding or the expansion is a consensus change.
        assert_eq!(hex::encode(a[0]), "c571ad2f63775b45b53f79fd1fb833e9");
    }

    #[test]
    fn changing_any_byte_of_the_batch_changes_every_scalar() {
        let base = batch();
        let scalars = derive_scalars(&base);
        let mut variants: Vec<Vec<VerifyItem>> = Vec::new();
        // Every byte of a message, a flipped bit each.
        for pos in 0..base[2].msg.len() {
            let mut b = base.clone();
            b[2].msg[pos] ^= 1;
            variants.push(b);
        }
        // A different key, a different (valid) signature, a longer message, an item fewer,
        // the order swapped.
        let mut b = base.clone();
        b[0].pk = SecretKey::from_seed(&[9; 32]).unwrap().public_key();
        variants.push(b);
        let mut b = base.clone();
        b[1].sig = SecretKey::from_seed(&[2; 32]).unwrap().sign(b"other");
        variants.push(b);
        let mut b = base.clone();
        b[2].msg.push(0);
        variants.push(b);
        variants.push(base[..2].to_vec());
        let mut b = base.clone();
        b.swap(0, 1);
        variants.push(b);
        for v in variants {
            let other = derive_scalars(&v);
            for (x, y) in scalars.iter().zip(&other) {
                assert_ne!(x, y, "a changed batch kept a scalar");
            }
        }
    }

    #[test]
    fn message_boundaries_are_part_of_the_commitment() {
        // Moving a byte from one message to the next must not give the same digest.
        let sig = |s: u8| -> Signature { SecretKey::from_seed(&[s; 32]).unwrap().sign(b"m") };
        let pk = SecretKey::from_seed(&[1; 32]).unwrap().public_key();
        let a = [
            VerifyItem::new(pk, b"ab".to_vec(), sig(1)),
            VerifyItem::new(pk, b"c".to_vec(), sig(1)),
        ];
        let b = [
            VerifyItem::new(pk, b"a".to_vec(), sig(1)),
            VerifyItem::new(pk, b"bc".to_vec(), sig(1)),
        ];
        assert_ne!(batch_digest(&a), batch_digest(&b));
    }
}
