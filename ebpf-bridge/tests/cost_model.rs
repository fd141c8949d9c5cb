//! Every built-in stays within its manifest's cost bound, and the meter is exact: a budget of
//! exactly the instruction count succeeds, one less fails, on both engines.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use common::*;
use keel_ebpf_bridge::{
    BridgeError, Engine, KECCAK256, MERKLE_SHA256, MODMUL_BLS12_381_FR, SHA256,
    gas_for_instructions,
};
use proptest::prelude::*;
use ruint::aliases::U256;

fn assert_within_bound_and_exactly_metered(id: u32, input: &[u8], out_len: usize) -> u64 {
    let routine = routine(id);
    let bound = routine.manifest().cost.max_instructions(input.len());
    let run = routine
        .run(input, out_len, Engine::Interpreter, BUDGET)
        .unwrap();
    assert!(
        run.instructions <= bound,
        "{}: {} instructions for {} bytes exceed the bound {bound}",
        routine.manifest().name,
        run.instructions,
        input.len()
    );
    assert_eq!(run.gas, gas_for_instructions(run.instructions));
    for engine in [Engine::Interpreter, Engine::Jit] {
        let exact = routine.run(input, out_len, engine, run.gas).unwrap();
        assert_eq!(exact, run, "{engine} with an exact budget");
        let short = routine.run(input, out_len, engine, run.gas - 1);
        assert_eq!(
            short,
            Err(BridgeError::BudgetExhausted {
                routine: id,
                budget: run.gas - 1
            })
        );
    }
    run.instructions
}

#[test]
fn the_largest_inputs_stay_within_the_cost_bound() {
    let big = vec![0xA5u8; 4096];
    let sha = assert_within_bound_and_exactly_metered(SHA256, &big, 32);
    let kec = assert_within_bound_and_exactly_metered(KECCAK256, &big, 32);
    let siblings = [[7u8; 32]; 32];
    let root = merkle_root_ref([1; 32], u32::MAX, &siblings);
    let proof = merkle_input(root, [1; 32], u32::MAX, &siblings);
    let merkle = assert_within_bound_and_exactly_metered(MERKLE_SHA256, &proof, 1);
    let r1 = fr_modulus() - U256::from(1u8);
    let modmul =
        assert_within_bound_and_exactly_metered(MODMUL_BLS12_381_FR, &modmul_input(r1, r1), 32);
    eprintln!(
        "max-input instructions: sha256 {sha}, keccak256 {kec}, merkle(32) {merkle}, modmul {modmul}"
    );
}

#[test]
fn hashes_at_block_boundaries_stay_within_the_cost_bound() {
    for len in (0..=140).chain(4095..=4096) {
        let data = vec![0x5Au8; len];
        assert_within_bound_and_exactly_metered(SHA256, &data, 32);
        assert_within_bound_and_exactly_metered(KECCAK256, &data, 32);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn hashes_of_any_length_stay_within_the_cost_bound(len in 0usize..=4096, byte in any::<u8>()) {
        let data = vec![byte; len];
        assert_within_bound_and_exactly_metered(SHA256, &data, 32);
        assert_within_bound_and_exactly_metered(KECCAK256, &data, 32);
    }

    #[test]
    fn merkle_proofs_of_any_depth_stay_within_the_cost_bound(depth in 0usize..=32) {
        let siblings = vec![[9u8; 32]; depth];
        let proof = merkle_input([0; 32], [1; 32], 0, &siblings);
        assert_within_bound_and_exactly_metered(MERKLE_SHA256, &proof, 1);
    }
}
