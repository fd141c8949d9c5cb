//! The lottery contract on chain: it draws from the beacon of the block after sales close,
//! which no transaction can read until that value is final — not even in the block that
//! carries its VDF output — and the draw is the same on the sequential and parallel executors.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::*;
use std::num::NonZeroUsize;

const CLOSE: u64 = 4;
const NOT_FINAL: &str = "beacon of the draw height is not final yet";

fn ok(rc: &Receipt) -> Vec<u8> {
    match &rc.status {
        TxStatus::Success { return_data } => return_data.clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

fn aborted(rc: &Receipt, needle: &str) {
    let text = format!("{:?}", rc.status);
    assert!(text.contains(needle), "expected {needle:?}, got {text}");
}

/// Nonces per account, so each block can add calls without counting by hand.
struct Caller {
    nonces: [u64; 4],
    lottery: Address,
}

impl Caller {
    fn call(&mut self, from: u32, entry: &str, args: Vec<u8>) -> SignedTx {
        let n = &mut self.nonces[from as usize];
        *n += 1;
        call(from, *n - 1, self.lottery, entry, args)
    }
}

/// Runs the whole lottery on `chain`; returns the draw's output and the tickets' buyers.
fn play(chain: &mut Chain) -> (Vec<u8>, Vec<Address>) {
    let lag = ChainConfig::demo().beacon.lag;
    assert_eq!(lag, 2, "the block plan below assumes the demo lag");
    let r = block(chain, vec![deploy(0, 0, keel_contracts::LOTTERY.wasm)]);
    let mut c = Caller {
        nonces: [1, 0, 0, 0],
        lottery: r.receipts[0].contract.unwrap(),
    };
    // Block 2: open (sales until block 4 inclusive), three tickets.
    let mut txs = vec![c.call(0, "open", CLOSE.to_le_bytes().to_vec())];
    txs.extend((1..=3).map(|i| c.call(i, "buy", vec![])));
    let r = block(chain, txs);
    ok(&r.receipts[0]);
    let mut buyers: Vec<Address> = (1..=3).map(addr).collect();
    for (i, rc) in r.receipts[1..].iter().enumerate() {
        assert_eq!(ok(rc), (i as u32).to_le_bytes());
    }
    // Block 3: a fourth ticket; drawing now is refused.
    let r = block(
        chain,
        vec![c.call(1, "buy", vec![]), c.call(0, "draw", vec![])],
    );
    assert_eq!(ok(&r.receipts[0]), 3u32.to_le_bytes());
    buyers.push(addr(1));
    aborted(&r.receipts[1], NOT_FINAL);
    // Block 4 (the last of sales): a fifth ticket. Block 5: sales are closed.
    let r = block(chain, vec![c.call(2, "buy", vec![])]);
    assert_eq!(ok(&r.receipts[0]), 4u32.to_le_bytes());
    buyers.push(addr(2));
    let r = block(
        chain,
        vec![c.call(3, "buy", vec![]), c.call(0, "draw", vec![])],
    );
    aborted(&r.receipts[0], "sales are closed");
    aborted(&r.receipts[1], NOT_FINAL);
    // Block 6; then block 7 carries the VDF output of height 5, yet its own transactions
    // cannot read it: it is final only once block 7 has committed.
    let r = block(chain, vec![c.call(0, "draw", vec![])]);
    aborted(&r.receipts[0], NOT_FINAL);
    let r = block(chain, vec![c.call(0, "draw", vec![])]);
    aborted(&r.receipts[0], NOT_FINAL);
    let carried = chain.block_record(7).unwrap().unwrap();
    assert_eq!(
        carried
            .block()
            .unwrap()
            .unwrap()
            .header
            .beacon
            .unwrap()
            .height,
        CLOSE + 1
    );
    // Block 8: the draw succeeds, once.
    let r = block(
        chain,
        vec![c.call(0, "draw", vec![]), c.call(0, "draw", vec![])],
    );
    let drawn = ok(&r.receipts[0]);
    aborted(&r.receipts[1], "already drawn");
    assert_eq!(r.receipts[0].events.len(), 1);
    assert_eq!(r.receipts[0].events[0].data, drawn);
    let r = block(chain, vec![c.call(1, "winner", vec![])]);
    let record = ok(&r.receipts[0]);
    assert_eq!(record[..36], drawn[..]);
    let beacon: [u8; 32] = record[36..].try_into().unwrap();
    assert_eq!(Some(beacon), chain.beacon_value(CLOSE + 1).unwrap());
    (drawn, buyers)
}

#[test]
fn the_lottery_draws_the_ticket_the_final_beacon_of_the_block_after_closing_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let (drawn, buyers) = play(&mut chain);
    // Recomputed outside the contract from the consensus value.
    let value = chain.beacon_value(CLOSE + 1).unwrap().unwrap();
    let pick = u64::from_le_bytes(value[..8].try_into().unwrap()) % buyers.len() as u64;
    assert_eq!(drawn[..4], (pick as u32).to_le_bytes());
    assert_eq!(drawn[4..36], buyers[pick as usize]);
}

#[test]
fn the_draw_and_every_root_are_the_same_on_the_parallel_executor() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut sequential = new_chain(a.path());
    sequential.set_exec_mode(ExecMode::Sequential);
    let mut parallel = new_chain(b.path());
    parallel.set_exec_mode(ExecMode::Parallel(NonZeroUsize::new(4).unwrap()));
    assert_eq!(play(&mut sequential), play(&mut parallel));
    assert_eq!(sequential.head().unwrap(), parallel.head().unwrap());
}
