//! Random nested call trees with random traps never leave a partial write visible: the chain's
//! storage always equals a reference model in which a frame's writes (and those of the callees
//! it kept) survive only if the frame itself completes.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "common/calls_wat.rs"]
mod calls_wat;
mod common;

use common::*;
use keel_chain::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Write(u8, u8),
    Call(usize, Vec<Op>),
    Trap,
    Abort,
}

fn script() -> impl Strategy<Value = Vec<Op>> {
    let leaf = prop_oneof![
        6 => (0u8..4, any::<u8>()).prop_map(|(k, v)| Op::Write(k, v)),
        1 => Just(Op::Trap),
        1 => Just(Op::Abort),
    ];
    let op = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            3 => inner.clone(),
            2 => (0usize..3, prop::collection::vec(inner, 0..4)).prop_map(|(t, s)| Op::Call(t, s)),
        ]
    });
    prop::collection::vec(op, 0..6)
}

fn encode(ops: &[Op], nodes: &[Address]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Write(k, v) => out.extend_from_slice(&[1, *k, *v]),
            Op::Call(t, s) => {
                let inner = encode(s, nodes);
                out.push(2);
                out.extend_from_slice(&nodes[*t]);
                out.extend_from_slice(&(inner.len() as u16).to_le_bytes());
                out.extend_from_slice(&inner);
            }
            Op::Trap => out.push(3),
            Op::Abort => out.push(4),
        }
    }
    out
}

type Model = BTreeMap<(usize, u8), u8>;

/// Runs `ops` as contract `me`; on success `state` holds the frame's effects.
fn model(me: usize, ops: &[Op], state: &mut Model) -> bool {
    let mut local = state.clone();
    for op in ops {
        match op {
            Op::Write(k, v) => {
                local.insert((me, *k), *v);
            }
            Op::Call(t, s) => {
                let mut inner = local.clone();
                if model(*t, s, &mut inner) {
                    local = inner;
                }
            }
            Op::Trap | Op::Abort => return false,
        }
    }
    *state = local;
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_call_trees_never_leave_a_partial_write_visible(
        scripts in prop::collection::vec((0usize..3, script()), 1..4)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = new_chain(dir.path());
        let nodes: Vec<Address> = {
            let txs = (0..3).map(|n| deploy(0, n, &wat::parse_str(calls_wat::node()).unwrap()));
            block(&mut chain, txs.collect()).receipts.iter().map(|r| r.contract.unwrap()).collect()
        };
        let mut expected = Model::new();
        let mut succeeds = Vec::new();
        let txs: Vec<SignedTx> = scripts
            .iter()
            .enumerate()
            .map(|(i, (target, ops))| {
                succeeds.push(model(*target, ops, &mut expected));
                call(0, 3 + i as u64, nodes[*target], "run", encode(ops, &nodes))
            })
            .collect();
        let r = block(&mut chain, txs);
        for (rc, ok) in r.receipts.iter().zip(&succeeds) {
            prop_assert_eq!(matches!(rc.status, TxStatus::Success { .. }), *ok, "{:?}", rc.status);
            // Every trap in the tree is a recorded fault; a failed transaction has at least one.
            prop_assert!(*ok || !rc.faults.is_empty());
        }
        for (n, node) in nodes.iter().enumerate() {
            for k in 0u8..4 {
                let got = chain.get(&keel_state::keys::storage_key(node, &[k])).unwrap();
                prop_assert_eq!(got, expected.get(&(n, k)).map(|v| vec![*v]), "node {} key {}", n, k);
            }
        }
    }
}
