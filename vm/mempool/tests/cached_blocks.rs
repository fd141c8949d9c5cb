//! A chain whose verifier consults the verdict cache executes blocks exactly like one that
//! verifies every signature: same receipts and roots, with cached signatures not verified (nor
//! decompressed) again and a forged signature of a cached transaction still rejected.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_chain::genesis::demo_key;
use keel_chain::{
    Amount, Block, Chain, ChainConfig, RejectReason, SignedTx, Transaction, TxKind, TxStatus,
    address_of,
};
use keel_crypto::{EncodedItem, SignatureVerifier, SingleVerifier, Verdict, VerifyItem};
use keel_mempool::{CachedVerifier, VerdictCache};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the signatures it decodes (handed over compressed) and those it verifies.
struct Counting {
    decoded: Arc<AtomicUsize>,
    verified: Arc<AtomicUsize>,
}
impl SignatureVerifier for Counting {
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        self.verified.fetch_add(items.len(), Ordering::Relaxed);
        SingleVerifier.verify_batch(items)
    }
    fn verify_encoded(&self, items: &[EncodedItem]) -> Vec<Verdict> {
        self.decoded.fetch_add(items.len(), Ordering::Relaxed);
        let decoded = items.iter().map(EncodedItem::decode).collect();
        keel_crypto::verify_decoded(self, decoded)
    }
}

fn transfer(from: u32, nonce: u64) -> SignedTx {
    Transaction {
        chain_id: ChainConfig::demo().chain_id,
        sender: demo_key(from).public_key().to_bytes(),
        nonce,
        gas_limits: [1_000_000, 10_000, 16, 10_000],
        max_fee_per_unit: [1_000; 4],
        priority_fee: 1,
        kind: TxKind::Transfer {
            to: address_of(&demo_key(3).public_key().to_bytes()),
            amount: Amount::from_u128(7),
        },
    }
    .sign(&demo_key(from))
}

fn block(chain: &Chain, txs: Vec<SignedTx>) -> Block {
    let header = chain
        .next_header(
            chain.head_timestamp().unwrap() + 1,
            address_of(&demo_key(0).public_key().to_bytes()),
        )
        .unwrap();
    Block { header, txs }
}

#[test]
fn cached_verdicts_change_no_result_and_never_let_a_forged_signature_through() {
    let genesis = keel_chain::genesis::demo(4, Amount::from_u128(10u128.pow(24))).unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cache = Arc::new(VerdictCache::new(64));
    let verified = Arc::new(AtomicUsize::new(0));
    let decoded = Arc::new(AtomicUsize::new(0));
    let counting = Counting {
        decoded: decoded.clone(),
        verified: verified.clone(),
    };
    let cached_verifier = CachedVerifier::new(Box::new(counting), cache.clone());
    let mut cached = Chain::init(a.path(), &genesis, Box::new(cached_verifier)).unwrap();
    let mut reference = Chain::init(b.path(), &genesis, Box::new(SingleVerifier)).unwrap();
    cached.add_proposer_key(demo_key(0));
    reference.add_proposer_key(demo_key(0));

    // Two transactions went through the mempool (their verdicts are cached); a third did not.
    let pooled = [transfer(1, 0), transfer(1, 1)];
    for t in &pooled {
        cache.record_valid(t, t.hash());
    }
    // The first pooled transaction under a forged signature (someone else's), ahead of the
    // real one: the real one's verdict is cached, this one is still verified, and rejected.
    let mut forged = pooled[0].clone();
    forged.signature = demo_key(2).sign(&forged.tx.signing_message()).to_bytes();
    let txs = vec![forged, pooled[0].clone(), pooled[1].clone(), transfer(2, 0)];

    let got = cached.execute_block(&block(&cached, txs.clone())).unwrap();
    let want = reference.execute_block(&block(&reference, txs)).unwrap();
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        serde_json::to_string(&want).unwrap()
    );
    assert_eq!(
        verified.load(Ordering::Relaxed),
        2,
        "only the two uncached signatures"
    );
    assert_eq!(
        decoded.load(Ordering::Relaxed),
        2,
        "only the uncached signatures reach the wrapped verifier, still compressed"
    );
    assert_eq!((cache.hits(), cache.misses()), (2, 2));
    assert!(matches!(
        got.receipts[0].status,
        TxStatus::Rejected {
            reason: RejectReason::BadSignature
        }
    ));
    for i in 1..4 {
        assert!(
            matches!(got.receipts[i].status, TxStatus::Success { .. }),
            "{i}"
        );
    }
}
