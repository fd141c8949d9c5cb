//! The same block on the same state gives byte-identical results: twice, in two databases, and
//! after closing and reopening.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Transfer { from: u32, to: u32, amount: u64 },
    Increment { from: u32 },
    Reset { from: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u32..4, 0u32..6, 0u64..1_000_000).prop_map(|(from, to, amount)| Op::Transfer {
            from,
            to,
            amount
        }),
        (0u32..4).prop_map(|from| Op::Increment { from }),
        (0u32..4).prop_map(|from| Op::Reset { from }),
    ]
}

fn build(ops: &[Op], counter: Address) -> Vec<SignedTx> {
    let mut nonces = [0u64; 4];
    nonces[0] = 1; // account 0 deployed the counter
    ops.iter()
        .map(|op| {
            let (from, t) = match op {
                Op::Transfer { from, to, amount } => (
                    *from,
                    transfer(
                        *from,
                        nonces[*from as usize],
                        addr(*to),
                        u128::from(*amount),
                    ),
                ),
                Op::Increment { from } => (
                    *from,
                    call(*from, nonces[*from as usize], counter, "increment", vec![]),
                ),
                Op::Reset { from } => (
                    *from,
                    call(*from, nonces[*from as usize], counter, "reset", vec![]),
                ),
            };
            nonces[from as usize] += 1;
            t
        })
        .collect()
}

fn run(dir: &std::path::Path, ops: &[Op]) -> (Vec<BlockResult>, Chain) {
    let mut chain = new_chain(dir);
    let r0 = block(&mut chain, vec![deploy(0, 0, keel_contracts::COUNTER.wasm)]);
    let counter = r0.receipts[0].contract.unwrap();
    let r1 = block(&mut chain, build(ops, counter));
    (vec![r0, r1], chain)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_same_random_block_gives_the_same_root_and_receipts_everywhere(ops in prop::collection::vec(op(), 1..24)) {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ra, chain_a) = run(a.path(), &ops);
        let (rb, _) = run(b.path(), &ops);
        prop_assert_eq!(&ra, &rb);
        let head = chain_a.head().unwrap();
        drop(chain_a);
        let reopened = Chain::open(a.path(), Box::new(keel_crypto::SingleVerifier)).unwrap();
        prop_assert_eq!(reopened.head().unwrap(), head);
        prop_assert_eq!(reopened.block_result(2).unwrap().unwrap(), ra[1].clone());
    }
}
