//! Differential tests: interpreter = JIT = kernel = Rust reference, on random inputs, for every
//! built-in routine. Interpreter and JIT must also agree on instruction count and gas.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use common::*;
use keel_ebpf_bridge::{KECCAK256, MERKLE_SHA256, MODMUL_BLS12_381_FR, SHA256};
use proptest::prelude::*;
use ruint::aliases::U256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

/// Lengths around the block boundaries matter most; the rest are uniform up to the maximum.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=300),
        proptest::collection::vec(any::<u8>(), 0..=4096),
    ]
}

fn scalar() -> impl Strategy<Value = U256> {
    let r = fr_modulus();
    prop_oneof![
        Just(U256::ZERO),
        Just(U256::from(1u8)),
        Just(r - U256::from(1u8)),
        any::<[u8; 32]>().prop_map(move |b| U256::from_le_bytes(b) % r),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sha256_agrees_with_the_sha2_crate_on_every_engine(data in message()) {
        check_all_engines(SHA256, &data, &sha256_ref(&data));
    }

    #[test]
    fn keccak256_agrees_with_the_sha3_crate_on_every_engine(data in message()) {
        check_all_engines(KECCAK256, &data, &keccak256_ref(&data));
    }

    #[test]
    fn modmul_agrees_with_ruint_on_every_engine(a in scalar(), b in scalar()) {
        check_all_engines(MODMUL_BLS12_381_FR, &modmul_input(a, b), &modmul_ref(a, b));
    }

    #[test]
    fn merkle_accepts_valid_proofs_and_rejects_tampered_ones_on_every_engine(
        depth in 0usize..=32,
        leaf in any::<[u8; 32]>(),
        index_seed in any::<u32>(),
        siblings_seed in proptest::collection::vec(any::<[u8; 32]>(), 32),
        tamper in 0usize..4,
        flip in any::<u8>().prop_filter("non-zero", |b| *b != 0),
    ) {
        let index = if depth == 32 { index_seed } else { index_seed & ((1u32 << depth) - 1) };
        let siblings = &siblings_seed[..depth];
        let root = merkle_root_ref(leaf, index, siblings);
        let mut input = merkle_input(root, leaf, index, siblings);
        // tamper: 0 = valid proof, 1 = root byte, 2 = leaf byte, 3 = a sibling byte (if any).
        match tamper {
            1 => input[usize::from(flip) % 32] ^= flip,
            2 => input[32 + usize::from(flip) % 32] ^= flip,
            3 if depth > 0 => input[72 + usize::from(flip) % (32 * depth)] ^= flip,
            _ => {}
        }
        let root_in_input: [u8; 32] = input[..32].try_into().unwrap();
        let leaf_in_input: [u8; 32] = input[32..64].try_into().unwrap();
        let siblings_in_input: Vec<[u8; 32]> =
            input[72..].chunks(32).map(|c| c.try_into().unwrap()).collect();
        let valid = merkle_root_ref(leaf_in_input, index, &siblings_in_input) == root_in_input;
        prop_assert_eq!(valid, tamper == 0 || (tamper == 3 && depth == 0));
        check_all_engines(MERKLE_SHA256, &input, &[u8::from(valid)]);
    }
}

#[test]
fn sha256_of_the_empty_message_and_of_exactly_one_block_match_known_digests() {
    check_all_engines(
        SHA256,
        b"",
        &hex::decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").unwrap(),
    );
    check_all_engines(
        KECCAK256,
        b"",
        &hex::decode("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470").unwrap(),
    );
    for len in [55, 56, 63, 64, 65, 119, 120, 135, 136, 137, 4096] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        check_all_engines(SHA256, &data, &sha256_ref(&data));
        check_all_engines(KECCAK256, &data, &keccak256_ref(&data));
    }
}
