//! Aggregate signatures (for the VM's BLS host functions): aggregation, `FastAggregateVerify`
//! (one message, many keys) and `AggregateVerify` (one message per key).
//!
//! Safe against rogue-key attacks only because every key went through a proof of possession at
//! registration (the POP ciphersuite); these functions do not check possession themselves.

use blst::BLST_ERROR;
use blst::min_pk;

use crate::{PublicKey, SIGNATURE_DST, Signature};

/// Sums signatures into one. `None` for an empty list or an aggregate at infinity (which
/// [`Signature`] cannot hold). Each input is subgroup-checked; `None` if one fails.
pub fn aggregate_signatures(sigs: &[Signature]) -> Option<Signature> {
    let refs: Vec<&min_pk::Signature> = sigs.iter().map(Signature::as_blst).collect();
    let agg = min_pk::AggregateSignature::aggregate(&refs, true).ok()?;
    Signature::from_bytes(&agg.to_signature().to_bytes()).ok()
}

/// `FastAggregateVerify`: `sig` is the aggregate of signatures by every key in `pks` on the same
/// `msg`. `false` for an empty key list. Deterministic.
pub fn fast_aggregate_verify(pks: &[PublicKey], msg: &[u8], sig: &Signature) -> bool {
    if pks.is_empty() {
        return false;
    }
    let refs: Vec<&min_pk::PublicKey> = pks.iter().map(PublicKey::as_blst).collect();
    sig.as_blst()
        .fast_aggregate_verify(true, msg, SIGNATURE_DST, &refs)
        == BLST_ERROR::BLST_SUCCESS
}

/// `AggregateVerify`: `sig` is the aggregate of signatures by `pks[i]` on `msgs[i]`.
/// `false` when the lists are empty or of different lengths. Deterministic.
pub fn aggregate_verify(pks: &[PublicKey], msgs: &[&[u8]], sig: &Signature) -> bool {
    if pks.is_empty() || pks.len() != msgs.len() {
        return false;
    }
    let refs: Vec<&min_pk::PublicKey> = pks.iter().map(PublicKey::as_blst).collect();
    sig.as_blst()
        .aggregate_verify(true, msgs, SIGNATURE_DST, &refs, false)
        == BLST_ERROR::BLST_SUCCESS
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use crate::SecretKey;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32]).unwrap()
    }

    #[test]
    fn fast_aggregate_verify_accepts_the_sum_of_signatures_on_one_message() {
        let sks = [key(1), key(2), key(3)];
        let pks: Vec<PublicKey> = sks.iter().map(SecretKey::public_key).collect();
        let sigs: Vec<Signature> = sks.iter().map(|s| s.sign(b"block 9")).collect();
        let agg = aggregate_signatures(&sigs).unwrap();
        assert!(fast_aggregate_verify(&pks, b"block 9", &agg));
        assert!(!fast_aggregate_verify(&pks[..2], b"block 9", &agg));
        assert!(!fast_aggregate_verify(&pks, b"block 8", &agg));
        assert!(!fast_aggregate_verify(&[], b"block 9", &agg));
    }

    #[test]
    fn aggregate_verify_pairs_each_key_with_its_message() {
        let sks = [key(1), key(2)];
        let pks: Vec<PublicKey> = sks.iter().map(SecretKey::public_key).collect();
        let msgs: [&[u8]; 2] = [b"a", b"b"];
        let agg = aggregate_signatures(&[sks[0].sign(b"a"), sks[1].sign(b"b")]).unwrap();
        assert!(aggregate_verify(&pks, &msgs, &agg));
        assert!(!aggregate_verify(&pks, &[b"b", b"a"], &agg));
        assert!(!aggregate_verify(&pks, &msgs[..1], &agg));
    }

    #[test]
    fn aggregating_nothing_or_a_signature_and_its_negation_gives_none() {
        assert!(aggregate_signatures(&[]).is_none());
        let s = key(1).sign(b"m");
        let mut neg = s.to_bytes();
        neg[0] ^= 0x20; // flip the sign of y
        let neg = Signature::from_bytes(&neg).unwrap();
        assert!(aggregate_signatures(&[s, neg]).is_none());
    }
}
