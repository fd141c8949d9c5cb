//! Signature verdicts of admitted transactions, and the verifier that consults them.
//!
//! The daemon verifies a transaction's signature once, at admission, and records it here under
//! the hash of the whole **signed** transaction (the transaction and its signature) together
//! with the sender key. [`CachedVerifier`] wraps the chain's verifier (the executor's signature
//! phase calls it for every block): an item whose key, message and signature are exactly those
//! of a recorded transaction is valid without another pairing; every other item goes to the
//! wrapped verifier. A forged signature, a changed transaction or another key gives another
//! hash or fails the key comparison, so it is verified like any block from elsewhere. Only valid
//! verdicts are recorded, so the cache can only spare work, never change a verdict: a node's
//! cache state changes its speed, never a block's outcome.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use keel_chain::SignedTx;
use keel_chain::tx::signed_hash_and_size;
use keel_crypto::{EncodedItem, SignatureVerifier, Verdict, VerifyItem};

use crate::pool::TxHash;

#[derive(Debug, Default)]
struct Entries {
    /// Signed-transaction hash → (sender key, insertion number).
    by_hash: HashMap<TxHash, ([u8; 48], u64)>,
    /// Insertion number → hash: the oldest goes first when full.
    order: BTreeMap<u64, TxHash>,
    next: u64,
}

/// A bounded set of signed transactions whose signatures verified. Thread-safe.
#[derive(Debug)]
pub struct VerdictCache {
    capacity: usize,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl VerdictCache {
    /// A cache holding at most `capacity` verdicts (the oldest is forgotten first).
    pub fn new(capacity: usize) -> VerdictCache {
        VerdictCache {
            capacity,
            entries: Mutex::new(Entries::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `tx`'s signature verified under its sender key. The caller must have
    /// verified it: this is the trusted input of the cache.
    pub fn record_valid(&self, tx: &SignedTx, hash: TxHash) {
        if self.capacity == 0 {
            return;
        }
        let mut e = self.lock();
        while e.by_hash.len() >= self.capacity {
            let Some((_, old)) = e.order.pop_first() else {
                break;
            };
            e.by_hash.remove(&old);
        }
        let n = e.next;
        e.next = n.saturating_add(1);
        if let Some((_, old_n)) = e.by_hash.insert(hash, (tx.tx.sender, n)) {
            e.order.remove(&old_n);
        }
        e.order.insert(n, hash);
    }

    /// Forgets one transaction's verdict (it left the pool).
    pub fn forget(&self, hash: &TxHash) {
        let mut e = self.lock();
        if let Some((_, n)) = e.by_hash.remove(hash) {
            e.order.remove(&n);
        }
    }

    /// Whether the signed transaction with this hash verified under `sender`.
    pub fn is_valid(&self, hash: &TxHash, sender: &[u8; 48]) -> bool {
        self.lock()
            .by_hash
            .get(hash)
            .is_some_and(|(k, _)| k == sender)
    }

    /// Verdicts held.
    pub fn len(&self) -> usize {
        self.lock().by_hash.len()
    }

    /// Whether no verdict is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Signatures a block did not verify again because their verdict was here.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Signatures a block verified because their verdict was not here.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

/// The signed-transaction hash ([`SignedTx::hash`]) a signature check stands for, if its
/// message is a transaction's signing message.
fn tx_hash_of(msg: &[u8], sig: &[u8]) -> Option<TxHash> {
    signed_hash_and_size(msg, sig).map(|(hash, _)| hash)
}

fn item_tx_hash(item: &VerifyItem) -> Option<TxHash> {
    tx_hash_of(&item.msg, &item.sig.to_bytes())
}

/// A [`SignatureVerifier`] that answers cached transactions from a [`VerdictCache`] and sends
/// everything else to the verifier it wraps. Same verdicts as the wrapped verifier (only valid
/// verdicts are cached, and a hit needs the same key, message and signature).
pub struct CachedVerifier {
    inner: Box<dyn SignatureVerifier>,
    cache: Arc<VerdictCache>,
}

impl CachedVerifier {
    /// Wraps `inner`, consulting `cache`.
    pub fn new(inner: Box<dyn SignatureVerifier>, cache: Arc<VerdictCache>) -> CachedVerifier {
        CachedVerifier { inner, cache }
    }

    /// Verdicts for `items`: hits from the cache (`key`: an item's transaction hash, `None`
    /// for one that is not a transaction, and its public key), the rest from `inner`, which
    /// gets only those.
    fn answer<T: Clone>(
        &self,
        items: &[T],
        key: impl Fn(&T) -> (Option<TxHash>, [u8; 48]),
        inner: impl FnOnce(&[T]) -> Vec<Verdict>,
    ) -> Vec<Verdict> {
        let mut verdicts = vec![Verdict::Invalid; items.len()];
        let rest = self.answer_hits(items.iter().map(key), &mut verdicts);
        if !rest.is_empty() {
            let todo: Vec<T> = rest.iter().filter_map(|&i| items.get(i).cloned()).collect();
            fill(&mut verdicts, rest, inner(&todo));
        }
        verdicts
    }

    /// Splits `keys` (one per item, `None`: not a transaction) into the indices answered from
    /// the cache and the rest, counting both; `verdicts` gets `Valid` at every hit.
    fn answer_hits(
        &self,
        keys: impl Iterator<Item = (Option<TxHash>, [u8; 48])>,
        verdicts: &mut [Verdict],
    ) -> Vec<usize> {
        let mut rest = Vec::new();
        for (i, (hash, pk)) in keys.enumerate() {
            let cached = hash.is_some_and(|h| self.cache.is_valid(&h, &pk));
            match (cached, verdicts.get_mut(i)) {
                (true, Some(slot)) => *slot = Verdict::Valid,
                _ => rest.push(i),
            }
        }
        let hits = verdicts.len().saturating_sub(rest.len()) as u64;
        self.cache.hits.fetch_add(hits, Ordering::Relaxed);
        self.cache
            .misses
            .fetch_add(rest.len() as u64, Ordering::Relaxed);
        rest
    }
}

/// Puts `found` (the verdicts of the items at `rest`) back in place.
fn fill(verdicts: &mut [Verdict], rest: Vec<usize>, found: Vec<Verdict>) {
    for (i, v) in rest.into_iter().zip(found) {
        if let Some(slot) = verdicts.get_mut(i) {
            *slot = v;
        }
    }
}

impl SignatureVerifier for CachedVerifier {
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        self.answer(
            items,
            |it| (item_tx_hash(it), it.pk.to_bytes()),
            |todo| self.inner.verify_batch(todo),
        )
    }

    /// A hit is answered from the cache before its signature is decoded (the decompression
    /// and subgroup check cost more than the rest of a transaction's execution); the misses
    /// go to the wrapped verifier still compressed, so it decodes them on its workers.
    fn verify_encoded(&self, items: &[EncodedItem]) -> Vec<Verdict> {
        self.answer(
            items,
            |it| (tx_hash_of(&it.msg, &it.sig), it.pk.to_bytes()),
            |todo| self.inner.verify_encoded(todo),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_chain::{Transaction, TxKind};
    use keel_crypto::{SecretKey, SingleVerifier};
    use std::sync::atomic::AtomicUsize;

    /// Counts the items it is asked to verify, then verifies them for real.
    struct Counting(Arc<AtomicUsize>);
    impl SignatureVerifier for Counting {
        fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
            self.0.fetch_add(items.len(), Ordering::Relaxed);
            SingleVerifier.verify_batch(items)
        }
    }

    /// Counts the compressed items it is handed (each one it would decode), then checks them
    /// for real.
    struct CountingEncoded(Arc<AtomicUsize>);
    impl SignatureVerifier for CountingEncoded {
        fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
            SingleVerifier.verify_batch(items)
        }
        fn verify_encoded(&self, items: &[EncodedItem]) -> Vec<Verdict> {
            self.0.fetch_add(items.len(), Ordering::Relaxed);
            SingleVerifier.verify_encoded(items)
        }
    }

    fn encoded(stx: &SignedTx) -> EncodedItem {
        EncodedItem {
            pk: stx.parts().expect("parts").0,
            msg: stx.tx.signing_message(),
            sig: stx.signature,
        }
    }

    #[test]
    fn a_cached_signature_is_not_even_decoded_and_the_verdicts_are_the_reference_ones() {
        let cache = Arc::new(VerdictCache::new(16));
        let decoded = Arc::new(AtomicUsize::new(0));
        let v = CachedVerifier::new(Box::new(CountingEncoded(decoded.clone())), cache.clone());
        let a = signed(&key(1), 0);
        let b = signed(&key(2), 0);
        cache.record_valid(&a, a.hash());
        // a's transaction under b's signature bytes: another hash, checked for real.
        let mut swapped = a.clone();
        swapped.signature = b.signature;
        // a with its signature garbled so that it does not decode: another hash, invalid.
        let mut garbled = a.clone();
        garbled.signature[0] ^= 0x20;
        let items = [
            encoded(&a),
            encoded(&b),
            encoded(&swapped),
            encoded(&garbled),
        ];
        let got = v.verify_encoded(&items);
        assert_eq!(got, SingleVerifier.verify_encoded(&items));
        assert_eq!(
            got,
            [
                Verdict::Valid,
                Verdict::Valid,
                Verdict::Invalid,
                Verdict::Invalid
            ]
        );
        assert_eq!(
            decoded.load(Ordering::Relaxed),
            3,
            "a was answered before decoding"
        );
        assert_eq!((cache.hits(), cache.misses()), (1, 3));
        // The item's tx hash is the signed transaction's hash, whichever form it arrives in.
        assert_eq!(tx_hash_of(&items[0].msg, &items[0].sig), Some(a.hash()));
    }

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed(&[seed; 32]).expect("seed")
    }

    fn signed(k: &SecretKey, nonce: u64) -> SignedTx {
        Transaction {
            chain_id: 7,
            sender: k.public_key().to_bytes(),
            nonce,
            gas_limits: [10_000, 0, 0, 1_000],
            max_fee_per_unit: [1; 4],
            priority_fee: 1,
            kind: TxKind::Transfer {
                to: [9; 32],
                amount: keel_chain::Amount::ZERO,
            },
        }
        .sign(k)
    }

    /// The item the executor's signature phase builds for a transaction.
    fn item(stx: &SignedTx) -> VerifyItem {
        let (pk, sig) = stx.parts().expect("parts");
        VerifyItem::new(pk, stx.tx.signing_message(), sig)
    }

    fn setup() -> (Arc<VerdictCache>, Arc<AtomicUsize>, CachedVerifier) {
        let cache = Arc::new(VerdictCache::new(16));
        let count = Arc::new(AtomicUsize::new(0));
        let v = CachedVerifier::new(Box::new(Counting(count.clone())), cache.clone());
        (cache, count, v)
    }

    #[test]
    fn the_item_hash_is_the_signed_transaction_hash() {
        let stx = signed(&key(1), 0);
        assert_eq!(item_tx_hash(&item(&stx)), Some(stx.hash()));
    }

    #[test]
    fn a_cached_transaction_is_not_verified_again_and_others_are() {
        let (cache, count, v) = setup();
        let a = signed(&key(1), 0);
        let b = signed(&key(2), 0);
        cache.record_valid(&a, a.hash());
        let verdicts = v.verify_batch(&[item(&a), item(&b)]);
        assert_eq!(verdicts, vec![Verdict::Valid, Verdict::Valid]);
        assert_eq!(
            count.load(Ordering::Relaxed),
            1,
            "only b reached the verifier"
        );
        assert_eq!((cache.hits(), cache.misses()), (1, 1));
    }

    #[test]
    fn a_forged_signature_never_passes_because_of_the_cache() {
        let (cache, count, v) = setup();
        let honest = signed(&key(1), 0);
        cache.record_valid(&honest, honest.hash());
        // Same transaction, someone else's signature over it: another signed-tx hash.
        let mut forged = honest.clone();
        forged.signature = key(2).sign(&honest.tx.signing_message()).to_bytes();
        // Same signature, a changed transaction (a higher nonce): another hash as well.
        let mut altered = honest.clone();
        altered.tx.nonce = 1;
        // The honest message and signature, offered under another key.
        let mut other_key = item(&honest);
        other_key.pk = key(2).public_key();
        let verdicts = v.verify_batch(&[item(&forged), item(&altered), other_key]);
        assert_eq!(verdicts, vec![Verdict::Invalid; 3]);
        assert_eq!(
            count.load(Ordering::Relaxed),
            3,
            "all three verified for real"
        );
        assert_eq!(cache.hits(), 0);
    }

    #[test]
    fn the_cache_keeps_its_capacity_and_forgets_the_oldest_first() {
        let cache = VerdictCache::new(2);
        let txs: Vec<SignedTx> = (0..3).map(|n| signed(&key(1), n)).collect();
        for t in &txs {
            cache.record_valid(t, t.hash());
        }
        assert_eq!(cache.len(), 2);
        let sender = key(1).public_key().to_bytes();
        assert!(!cache.is_valid(&txs[0].hash(), &sender));
        assert!(cache.is_valid(&txs[2].hash(), &sender));
        cache.forget(&txs[2].hash());
        assert!(!cache.is_valid(&txs[2].hash(), &sender));
        assert_eq!(cache.len(), 1);
    }
}
