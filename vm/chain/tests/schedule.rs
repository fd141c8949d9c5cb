//! Gas schedules price every executed instruction and host call at 1 or more: a schedule that
//! makes work free (an empty loop would then hang every node) is refused at proposal.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::governance::{Action, GovTx};
use keel_chain::*;

fn propose_schedule(nonce: u64, schedule: &keel_vm::GasSchedule, at: u64) -> SignedTx {
    Transaction {
        chain_id: ChainConfig::demo().chain_id,
        sender: key(0).public_key().to_bytes(),
        nonce,
        gas_limits: [50_000_000, 100_000, 64, 8_000_000],
        max_fee_per_unit: PRICES_MAX,
        priority_fee: 0,
        kind: TxKind::Governance(GovTx::Propose {
            action: Action::SetGasSchedule {
                schedule_json: serde_json::to_vec(schedule).unwrap(),
            },
            activation_height: at,
        }),
    }
    .sign(&key(0))
}

#[test]
fn a_schedule_proposal_with_free_instructions_or_host_calls_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let at = chain.head().unwrap().0 + 4;
    let mut free_loop = keel_vm::GasSchedule::v1();
    free_loop.version = 2;
    free_loop.instructions.branch = 0;
    free_loop.instructions.simple = 0;
    let mut free_host = keel_vm::GasSchedule::v1();
    free_host.version = 2;
    for c in &mut free_host.host {
        c.base = 0;
    }
    let mut fine = keel_vm::GasSchedule::v1();
    fine.version = 2;
    let r = block(
        &mut chain,
        vec![
            propose_schedule(0, &free_loop, at),
            propose_schedule(1, &free_host, at),
            propose_schedule(2, &fine, at),
        ],
    );
    for (i, what) in [(0, "costs 0"), (1, "base cost 0")] {
        match &r.receipts[i].status {
            TxStatus::Failed {
                reason: FailReason::Governance(m),
            } => assert!(m.contains(what), "tx {i}: {m}"),
            other => panic!("tx {i}: a free schedule was not refused: {other:?}"),
        }
    }
    assert!(
        matches!(r.receipts[2].status, TxStatus::Success { .. }),
        "{:?}",
        r.receipts[2]
    );
}
