//! Batch verification on pinned workers agrees with the reference path.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;

use blst::min_pk::{AggregateSignature, Signature as BlstSignature};
use keel_crypto::{
    EncodedItem, SecretKey, Signature, SignatureVerifier, SingleVerifier, Verdict, VerifyItem,
};
use keel_offload::{BatchVerifier, CpuBackend, PoolConfig, Priority, Topology};
use proptest::prelude::*;

fn verifier() -> BatchVerifier<CpuBackend> {
    BatchVerifier::new(CpuBackend::new(&Topology::discover(), &PoolConfig::default()).unwrap())
}

fn key(i: usize) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    SecretKey::from_seed(&seed).unwrap()
}

/// `n` valid items; every third one shares the message "common".
fn valid_items(n: usize) -> Vec<VerifyItem> {
    (0..n)
        .map(|i| {
            let sk = key(i);
            let msg = if i % 3 == 0 {
                b"common".to_vec()
            } else {
                format!("tx {i}").into_bytes()
            };
            let sig = sk.sign(&msg);
            VerifyItem::new(sk.public_key(), msg, sig)
        })
        .collect()
}

fn corrupt(item: &mut VerifyItem, how: usize) {
    match how % 3 {
        0 => item.msg.push(b'!'),                 // signature over another message
        1 => item.sig = key(999).sign(&item.msg), // signed by another key
        _ => item.pk = key(998).public_key(),     // claims another key
    }
}

fn add(a: &Signature, b: &Signature, negate_b: bool) -> Signature {
    // Point arithmetic through blst: a ± b.
    let mut acc = AggregateSignature::from_signature(a.as_blst());
    let b = if negate_b { negate(b) } else { *b.as_blst() };
    acc.add_signature(&b, false).unwrap();
    Signature::from_bytes(&acc.to_signature().to_bytes()).unwrap()
}

fn negate(s: &Signature) -> BlstSignature {
    // Negation flips the sign flag (bit 5) of the compressed encoding.
    let mut b = s.to_bytes();
    b[0] ^= 0x20;
    BlstSignature::from_bytes(&b).unwrap()
}

#[test]
fn a_valid_batch_is_accepted_in_full() {
    let v = verifier();
    for n in [1, 2, 7, 64] {
        let items = valid_items(n);
        assert_eq!(v.verify_batch(&items), vec![Verdict::Valid; n], "n = {n}");
    }
    assert!(v.verify_batch(&[]).is_empty());
}

#[test]
fn a_batch_of_signatures_on_one_message_is_accepted_and_a_bad_one_found() {
    let v = verifier();
    let mut items: Vec<VerifyItem> = (0..20)
        .map(|i| VerifyItem::new(key(i).public_key(), b"same".to_vec(), key(i).sign(b"same")))
        .collect();
    assert!(v.verify_batch(&items).iter().all(|v| v.is_valid()));
    items[13].sig = key(14).sign(b"same");
    let verdicts = v.verify_batch(&items);
    assert_eq!(verdicts.iter().filter(|v| !v.is_valid()).count(), 1);
    assert_eq!(verdicts[13], Verdict::Invalid);
}

#[test]
fn the_forged_pair_attack_is_rejected() {
    // S1' = S1 + S2, S2' = S2 - S2... generally: add X to one signature and subtract it from
    // another; the plain aggregate is unchanged, so only random weights catch it.
    let v = verifier();
    for same_message in [false, true] {
        let msg = |i: usize| {
            if same_message {
                b"m".to_vec()
            } else {
                format!("m{i}").into_bytes()
            }
        };
        let mut items: Vec<VerifyItem> = (0..6)
            .map(|i| VerifyItem::new(key(i).public_key(), msg(i), key(i).sign(&msg(i))))
            .collect();
        let x = key(77).sign(b"offset");
        items[1].sig = add(&items[1].sig, &x, false);
        items[4].sig = add(&items[4].sig, &x, true);
        // The unweighted aggregate still verifies: the attack is real.
        let agg = AggregateSignature::aggregate(
            &items.iter().map(|i| i.sig.as_blst()).collect::<Vec<_>>(),
            true,
        )
        .unwrap()
        .to_signature();
        let honest = AggregateSignature::aggregate(
            &(0..6)
                .map(|i| key(i).sign(&msg(i)))
                .collect::<Vec<_>>()
                .iter()
                .map(|s| s.as_blst())
                .collect::<Vec<_>>(),
            true,
        )
        .unwrap()
        .to_signature();
        assert_eq!(agg, honest);
        let verdicts = v.verify_batch(&items);
        let expected: Vec<Verdict> = (0..6)
            .map(|i| {
                if i == 1 || i == 4 {
                    Verdict::Invalid
                } else {
                    Verdict::Valid
                }
            })
            .collect();
        assert_eq!(verdicts, expected, "same_message = {same_message}");
    }
}

#[test]
fn signatures_outside_the_subgroup_are_invalid_in_a_batch() {
    let mut items = valid_items(8);
    let outside = (0u8..=255)
        .find_map(|x| {
            let mut b = [0u8; 96];
            b[0] = 0x80;
            b[95] = x;
            Signature::from_bytes(&b).ok()
        })
        .unwrap();
    assert!(!outside.in_subgroup());
    items[5].sig = outside;
    let verdicts = verifier().verify_batch(&items);
    assert_eq!(verdicts, SingleVerifier.verify_batch(&items));
    assert_eq!(verdicts[5], Verdict::Invalid);
}

#[test]
fn a_batch_where_every_item_is_invalid_is_rejected_item_by_item() {
    let mut items = valid_items(9);
    for (i, it) in items.iter_mut().enumerate() {
        corrupt(it, i);
    }
    assert_eq!(verifier().verify_batch(&items), vec![Verdict::Invalid; 9]);
}

#[test]
fn batch_verdicts_match_the_reference_on_one_worker_too() {
    let config = PoolConfig {
        max_workers: Some(1),
        ..PoolConfig::default()
    };
    let v = BatchVerifier::new(CpuBackend::new(&Topology::discover(), &config).unwrap());
    let mut items = valid_items(12);
    corrupt(&mut items[0], 0);
    corrupt(&mut items[11], 1);
    let shared: Arc<[VerifyItem]> = items.clone().into();
    assert_eq!(
        v.verify(&shared, Priority::Block).unwrap(),
        SingleVerifier.verify_batch(&items)
    );
}

/// `items` with compressed signatures; item `i` of `garbled` gets an encoding that does not
/// decode (a flipped low byte, infinity, or the compression flag cleared, in turn).
fn encoded(items: &[VerifyItem], garbled: &[usize]) -> Vec<EncodedItem> {
    let mut out: Vec<EncodedItem> = items
        .iter()
        .map(|it| EncodedItem {
            pk: it.pk,
            msg: it.msg.clone(),
            sig: it.sig.to_bytes(),
        })
        .collect();
    for (k, &i) in garbled.iter().enumerate() {
        let sig = &mut out[i].sig;
        match k % 3 {
            0 => sig[95] ^= 1,
            1 => {
                *sig = [0; 96];
                sig[0] = 0xc0;
            }
            _ => sig[0] &= 0x7f,
        }
    }
    out
}

#[test]
fn signatures_decoded_on_the_workers_give_the_reference_verdicts() {
    let mut items = valid_items(20);
    corrupt(&mut items[3], 0);
    corrupt(&mut items[7], 1);
    let enc = encoded(&items, &[1, 10, 19]);
    let want: Vec<Verdict> = enc.iter().map(EncodedItem::verify).collect();
    // Garbled bytes must really be undecodable for the test to mean anything.
    for i in [1, 10, 19] {
        assert!(enc[i].decode().is_none(), "item {i} still decodes");
    }
    assert_eq!(want.iter().filter(|v| v.is_valid()).count(), 15);
    assert_eq!(verifier().verify_encoded(&enc), want);
    assert_eq!(SingleVerifier.verify_encoded(&enc), want);
    assert!(verifier().verify_encoded(&[]).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn worker_decoding_matches_the_reference_for_any_mix(
        n in 1usize..24,
        bad in proptest::collection::btree_set(0usize..24, 0..4),
        garbled in proptest::collection::btree_set(0usize..24, 0..4),
    ) {
        let mut items = valid_items(n);
        for (k, &i) in bad.iter().filter(|&&i| i < n).enumerate() {
            corrupt(&mut items[i], k);
        }
        let garbled: Vec<usize> = garbled.into_iter().filter(|&i| i < n).collect();
        let enc = encoded(&items, &garbled);
        let want: Vec<Verdict> = enc.iter().map(EncodedItem::verify).collect();
        prop_assert_eq!(verifier().verify_encoded(&enc), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn bisection_finds_every_invalid_position(
        n in 1usize..40,
        bad in proptest::collection::btree_set(0usize..40, 0..6),
        how in 0usize..3,
    ) {
        let v = verifier();
        let mut items = valid_items(n);
        let bad: Vec<usize> = bad.into_iter().filter(|&i| i < n).collect();
        for (k, &i) in bad.iter().enumerate() {
            corrupt(&mut items[i], how + k);
        }
        let verdicts = v.verify_batch(&items);
        let expected: Vec<Verdict> =
            (0..n).map(|i| if bad.contains(&i) { Verdict::Invalid } else { Verdict::Valid }).collect();
        prop_assert_eq!(verdicts, expected);
    }
}
