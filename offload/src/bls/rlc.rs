//! Random-linear-combination arithmetic on one thread: accumulate a share of a batch into a
//! pairing context, then merge shares and run the final check.
//!
//! For items `(pkᵢ, mᵢ, Sᵢ)` and scalars `rᵢ` (derived from the committed batch, see
//! [`super::commit`]) the batch holds iff
//! `e(Σ rᵢ·Sᵢ, g₁) = Π_m e(Σ_{mᵢ=m} rᵢ·pkᵢ, H(m))`. Items that share a message cost one
//! hash-to-G2 and one Miller loop together; the signature side is one multi-scalar
//! multiplication per share instead of one scalar multiplication per item.

use std::collections::BTreeMap;

use blst::min_pk::{AggregatePublicKey, AggregateSignature, PublicKey, Signature};
use blst::{BLST_ERROR, MultiPoint, Pairing, blst_fp12, blst_p1_affine, blst_p2_affine};
use keel_crypto::{SIGNATURE_DST, VerifyItem};

use super::commit::{RANDOM_SCALAR_BITS, SCALAR_BYTES, Scalar};

/// Groups the indices of `subset` by message: one group per distinct message, groups ordered
/// by message bytes and indices kept in `subset` order (deterministic).
pub fn group_by_message(items: &[VerifyItem], subset: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    for &i in subset {
        if let Some(item) = items.get(i) {
            groups.entry(item.msg.as_slice()).or_default().push(i);
        }
    }
    groups.into_values().collect()
}

/// One thread's share of a combined check.
pub(crate) struct Share {
    pairing: Pairing<'static>,
    /// `Σ rᵢ·Sᵢ` over the share; `None` when the share is empty.
    sig_sum: Option<AggregateSignature>,
}

/// Accumulates `groups` (each a set of item indices sharing one message), item `i` weighted by
/// `scalars[i]` (the committed batch's scalars). `None` if blst rejects an input (for example an
/// aggregate public key at infinity) or an index has no item or scalar, which the caller treats
/// as a failed check.
pub(crate) fn accumulate(
    items: &[VerifyItem],
    scalars: &[Scalar],
    groups: &[Vec<usize>],
) -> Option<Share> {
    let mut pairing = Pairing::new(true, SIGNATURE_DST);
    let n: usize = groups.iter().map(Vec::len).sum();
    let mut sigs: Vec<Signature> = Vec::with_capacity(n);
    let mut sig_scalars: Vec<u8> = Vec::with_capacity(n.saturating_mul(SCALAR_BYTES));
    let mut group_pks: Vec<PublicKey> = Vec::new();
    let mut group_scalars: Vec<u8> = Vec::new();
    for group in groups {
        let Some(first) = group.first().and_then(|&i| items.get(i)) else {
            continue;
        };
        group_pks.clear();
        group_scalars.clear();
        for &i in group {
            let (item, r) = (items.get(i)?, scalars.get(i)?);
            sigs.push(*item.sig.as_blst());
            sig_scalars.extend_from_slice(r);
            group_pks.push(*item.pk.as_blst());
            group_scalars.extend_from_slice(r);
        }
        // No signature is passed to the pairing (`&()`): signatures are summed by one
        // multi-scalar multiplication below. Keys were validated when decoded.
        let status = if group_pks.len() == 1 {
            let pk = blst_p1_affine::from(group_pks[0]);
            pairing.mul_n_aggregate(
                &pk,
                false,
                &(),
                false,
                &group_scalars,
                RANDOM_SCALAR_BITS,
                &first.msg,
                &[],
            )
        } else {
            let sum: AggregatePublicKey = group_pks.mult(&group_scalars, RANDOM_SCALAR_BITS);
            let pk = blst_p1_affine::from(PublicKey::from_aggregate(&sum));
            pairing.aggregate(&pk, false, &(), false, &first.msg, &[])
        };
        if status != BLST_ERROR::BLST_SUCCESS {
            return None;
        }
    }
    pairing.commit();
    // `mult` needs at least one point.
    let sig_sum = (!sigs.is_empty()).then(|| sigs.mult(&sig_scalars, RANDOM_SCALAR_BITS));
    Some(Share { pairing, sig_sum })
}

/// Merges the shares and runs the final exponentiation check. `false` if any share is missing
/// (`None`), the merge fails, or the equation does not hold; `true` for no shares at all.
pub(crate) fn finish(shares: Vec<Option<Share>>) -> bool {
    let mut acc: Option<Share> = None;
    for share in shares {
        let Some(share) = share else { return false };
        match acc.as_mut() {
            None => acc = Some(share),
            Some(a) => {
                if a.pairing.merge(&share.pairing) != BLST_ERROR::BLST_SUCCESS {
                    return false;
                }
                a.sig_sum = match (a.sig_sum.take(), share.sig_sum) {
                    (Some(mut x), Some(y)) => {
                        x.add_aggregate(&y);
                        Some(x)
                    }
                    (x, y) => x.or(y),
                };
            }
        }
    }
    let Some(acc) = acc else { return true };
    let Some(sig_sum) = acc.sig_sum else {
        return true; // shares without items
    };
    let sig = blst_p2_affine::from(Signature::from_aggregate(&sig_sum));
    let mut gt = blst_fp12::default();
    Pairing::aggregated(&mut gt, &sig);
    acc.pairing.finalverify(Some(&gt))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use crate::bls::commit::derive_scalars;
    use keel_crypto::SecretKey;

    /// The combined check of `subset` on the calling thread (one share).
    fn check_on_this_thread(items: &[VerifyItem], subset: &[usize]) -> bool {
        let groups = group_by_message(items, subset);
        finish(vec![accumulate(items, &derive_scalars(items), &groups)])
    }

    /// `Σ rᵢ·Sᵢ` of a one-share accumulation, compressed.
    fn combined_signature(items: &[VerifyItem], scalars: &[Scalar]) -> [u8; 96] {
        let all: Vec<usize> = (0..items.len()).collect();
        let share = accumulate(items, scalars, &group_by_message(items, &all)).unwrap();
        Signature::from_aggregate(&share.sig_sum.unwrap()).compress()
    }

    fn item(seed: u8, msg: &[u8]) -> VerifyItem {
        let sk = SecretKey::from_seed(&[seed; 32]).unwrap();
        VerifyItem::new(sk.public_key(), msg.to_vec(), sk.sign(msg))
    }

    #[test]
    fn messages_are_grouped_in_byte_order_keeping_item_order() {
        let items = vec![item(1, b"b"), item(2, b"a"), item(3, b"b"), item(4, b"c")];
        assert_eq!(
            group_by_message(&items, &[0, 1, 2, 3]),
            vec![vec![1], vec![0, 2], vec![3]]
        );
        assert_eq!(group_by_message(&items, &[2, 3]), vec![vec![2], vec![3]]);
    }

    #[test]
    fn the_combined_signature_of_a_batch_is_the_same_on_every_run() {
        let items = vec![item(1, b"x"), item(2, b"x"), item(3, b"y")];
        let first = combined_signature(&items, &derive_scalars(&items));
        for _ in 0..3 {
            assert_eq!(combined_signature(&items, &derive_scalars(&items)), first);
        }
    }

    #[test]
    fn a_missing_scalar_fails_the_check_instead_of_panicking() {
        let items = vec![item(1, b"x"), item(2, b"y")];
        let groups = group_by_message(&items, &[0, 1]);
        let short = derive_scalars(&items[..1]);
        assert!(accumulate(&items, &short, &groups).is_none());
    }

    #[test]
    fn mixed_distinct_and_shared_messages_pass_when_all_valid() {
        let items = vec![item(1, b"x"), item(2, b"x"), item(3, b"y"), item(4, b"x")];
        assert!(check_on_this_thread(&items, &[0, 1, 2, 3]));
        assert!(check_on_this_thread(&items, &[2]));
        assert!(check_on_this_thread(&items, &[]));
    }

    #[test]
    fn a_wrong_signature_in_a_shared_message_group_fails_the_check() {
        let mut items = vec![item(1, b"x"), item(2, b"x"), item(3, b"x")];
        items[1].sig = items[0].sig;
        assert!(!check_on_this_thread(&items, &[0, 1, 2]));
    }

    #[test]
    fn shares_split_across_threads_merge_to_the_same_answer() {
        let items = vec![item(1, b"x"), item(2, b"y"), item(3, b"x"), item(4, b"z")];
        let groups = group_by_message(&items, &[0, 1, 2, 3]);
        let (a, b) = groups.split_at(1);
        let r = derive_scalars(&items);
        assert!(finish(vec![
            accumulate(&items, &r, a),
            accumulate(&items, &r, b)
        ]));
        let mut bad = items.clone();
        bad[3].msg = b"w".to_vec();
        let groups = group_by_message(&bad, &[0, 1, 2, 3]);
        let (a, b) = groups.split_at(2);
        let r = derive_scalars(&bad);
        assert!(!finish(vec![
            accumulate(&bad, &r, a),
            accumulate(&bad, &r, b)
        ]));
    }
}
