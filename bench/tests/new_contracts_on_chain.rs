//! The suite's new contracts (`lending.c`, `nft.c`) deployed and called through the chain
//! executor (the path a block takes), on both engine tiers: every receipt equal across tiers,
//! successes succeed, and the contracts' own rules reject what they must.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_chain::genesis::{self, demo_key};
use keel_chain::routines::RoutineCache;
use keel_chain::{
    Address, Amount, BlockHeader, CallData, ChainConfig, Executor, Receipt, SignedTx, Transaction,
    TxKind, TxStatus, address_of, contract_address, genesis_writes,
};
use keel_crypto::{KeyCache, SingleVerifier};
use keel_vm::engine::choice::EngineChoice;
use keel_vm::{Vm, VmConfig};
use std::collections::BTreeMap;
use std::sync::Mutex;

type Base = BTreeMap<Vec<u8>, Vec<u8>>;

struct Chain {
    vm: Vm,
    routines: RoutineCache,
    keys: Mutex<keel_chain::SenderKeys>,
    base: Base,
    nonces: [u64; 4],
    height: u64,
}

impl Chain {
    fn new(tier: EngineChoice) -> Self {
        let g = genesis::demo(4, Amount::from_u128(10u128.pow(30))).unwrap();
        let mut base = Base::new();
        for (k, v) in genesis_writes(&g).unwrap() {
            if let Some(v) = v {
                base.insert(k, v);
            }
        }
        Chain {
            vm: Vm::with_choice(VmConfig::default(), tier, None).unwrap(),
            routines: RoutineCache::new(keel_ebpf_bridge::Engine::Interpreter).unwrap(),
            keys: Mutex::new(KeyCache::default()),
            base,
            nonces: [0; 4],
            height: 0,
        }
    }

    fn tx(&mut self, who: usize, kind: TxKind) -> SignedTx {
        let key = demo_key(who as u32);
        let nonce = self.nonces[who];
        self.nonces[who] += 1;
        Transaction {
            chain_id: ChainConfig::demo().chain_id,
            sender: key.public_key().to_bytes(),
            nonce,
            gas_limits: [50_000_000, 100_000, 64, 100_000],
            max_fee_per_unit: [1_000; 4],
            priority_fee: 1,
            kind,
        }
        .sign(&key)
    }

    fn call(&mut self, who: usize, contract: Address, entry: &str, args: Vec<u8>) -> SignedTx {
        let kind = TxKind::Call {
            contract,
            call: CallData {
                entry: entry.into(),
                args,
            },
            value: Amount::ZERO,
        };
        self.tx(who, kind)
    }

    /// Executes `txs` as the next block and commits it.
    fn block(&mut self, txs: &[SignedTx]) -> Vec<Receipt> {
        self.height += 1;
        let exec = Executor {
            vm: &self.vm,
            verifier: &SingleVerifier,
            routines: &self.routines,
            keys: &self.keys,
        };
        let header = BlockHeader {
            height: self.height,
            parent_root: [0; 32],
            timestamp: self.height,
            proposer: addr(0),
            // Executed directly (no header check): the VRF and beacon fields are not verified.
            vrf: Default::default(),
            beacon: None,
        };
        let done = exec.execute(self.base.clone(), &header, txs).unwrap();
        for (k, v) in done.writes {
            match v {
                Some(v) => self.base.insert(k, v),
                None => self.base.remove(&k),
            };
        }
        done.result.receipts
    }

    fn deploy(&mut self, code: &[u8]) -> Address {
        let deployer = addr(0);
        let nonce = self.nonces[0];
        let tx = self.tx(
            0,
            TxKind::Deploy {
                code: code.to_vec(),
                constructor: None,
            },
        );
        let r = self.block(&[tx]);
        assert!(ok(&r[0]).is_some(), "{:?}", r[0].status);
        contract_address(&deployer, nonce)
    }
}

fn addr(who: usize) -> Address {
    address_of(&demo_key(who as u32).public_key().to_bytes())
}

fn ok(r: &Receipt) -> Option<&[u8]> {
    match &r.status {
        TxStatus::Success { return_data } => Some(return_data),
        _ => None,
    }
}

fn failed_with(r: &Receipt, msg: &str) -> bool {
    matches!(&r.status, TxStatus::Failed { .. }) && format!("{:?}", r.status).contains(msg)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn lending_run(tier: EngineChoice) -> Vec<Receipt> {
    let mut c = Chain::new(tier);
    let m = c.deploy(keel_contracts::LENDING.wasm);
    let rate = ((1u128 << 64) / 1_000).to_le_bytes().to_vec(); // 0.1 % per block
    let txs = [
        c.call(0, m, "init", rate),
        c.call(1, m, "deposit", 10_000u64.to_le_bytes().to_vec()),
        c.call(2, m, "deposit", 40_000u64.to_le_bytes().to_vec()),
        c.call(1, m, "borrow", 7_500u64.to_le_bytes().to_vec()),
        c.call(1, m, "borrow", 1u64.to_le_bytes().to_vec()),
    ];
    let mut receipts = c.block(&txs);
    // Ten blocks later the debt has grown by 0.1 % a block, compounded.
    for _ in 0..10 {
        c.block(&[]);
    }
    let txs = [
        c.call(1, m, "account", addr(1).to_vec()),
        c.call(1, m, "repay", 100_000u64.to_le_bytes().to_vec()),
        c.call(1, m, "account", addr(1).to_vec()),
        c.call(3, m, "repay", 1u64.to_le_bytes().to_vec()),
        c.call(3, m, "market", Vec::new()),
    ];
    receipts.extend(c.block(&txs));
    receipts
}

#[test]
fn lending_accrues_interest_and_enforces_collateral_on_both_tiers() {
    let r = lending_run(EngineChoice::Wasmi);
    for i in [0, 1, 2, 3, 5, 6, 7, 9] {
        assert!(ok(&r[i]).is_some(), "receipt {i}: {:?}", r[i].status);
    }
    // 7 500 is exactly 3/4 of the deposit; one more unit is not.
    assert!(
        failed_with(&r[4], "undercollateralised"),
        "{:?}",
        r[4].status
    );
    assert!(failed_with(&r[8], "no debt"), "{:?}", r[8].status);
    let before = ok(&r[5]).unwrap();
    let debt = u64_at(before, 8);
    // 7 500 · 1.001^11 (the borrow was at block 2, the query at block 13) ≈ 7 583.
    let expected = 7_500.0 * 1.001f64.powi(11);
    assert!(
        (debt as f64 - expected).abs() <= 1.0,
        "debt {debt}, expected {expected}"
    );
    let paid = u64_at(ok(&r[6]).unwrap(), 0);
    assert_eq!(paid, debt, "repaying more than owed pays exactly the debt");
    assert_eq!(u64_at(ok(&r[7]).unwrap(), 8), 0, "no debt left");
    let market = ok(&r[9]).unwrap();
    assert_eq!(u64_at(market, 16), 50_000 - 7_500 + paid, "cash conserved");
    assert_eq!(u64_at(market, 24), 50_000);
    assert_eq!(lending_run(EngineChoice::Wasmtime), r, "tiers disagree");
}

fn nft_run(tier: EngineChoice) -> Vec<Receipt> {
    let mut c = Chain::new(tier);
    let n = c.deploy(keel_contracts::NFT.wasm);
    let transfer = |id: u64, to: usize| {
        let mut a = id.to_le_bytes().to_vec();
        a.extend_from_slice(&addr(to));
        a
    };
    let txs = [
        c.call(0, n, "mint", addr(1).to_vec()),
        c.call(0, n, "mint", addr(1).to_vec()),
        c.call(1, n, "transfer", transfer(0, 2)),
        c.call(1, n, "transfer", transfer(0, 3)),
        c.call(2, n, "transfer", transfer(0, 2)),
        c.call(2, n, "transfer", transfer(7, 3)),
        c.call(0, n, "owner_of", 0u64.to_le_bytes().to_vec()),
        c.call(0, n, "balance", addr(1).to_vec()),
        c.call(0, n, "balance", addr(2).to_vec()),
        c.call(0, n, "supply", Vec::new()),
    ];
    c.block(&txs)
}

#[test]
fn nft_mints_and_moves_only_by_its_owner_on_both_tiers() {
    let r = nft_run(EngineChoice::Wasmi);
    assert_eq!(ok(&r[0]).unwrap(), 0u64.to_le_bytes());
    assert_eq!(ok(&r[1]).unwrap(), 1u64.to_le_bytes());
    assert!(ok(&r[2]).is_some(), "{:?}", r[2].status);
    assert!(failed_with(&r[3], "not the owner"), "{:?}", r[3].status);
    assert!(failed_with(&r[4], "transfer to self"), "{:?}", r[4].status);
    assert!(failed_with(&r[5], "no such id"), "{:?}", r[5].status);
    assert_eq!(ok(&r[6]).unwrap(), addr(2));
    assert_eq!(ok(&r[7]).unwrap(), 1u64.to_le_bytes());
    assert_eq!(ok(&r[8]).unwrap(), 1u64.to_le_bytes());
    assert_eq!(ok(&r[9]).unwrap(), 2u64.to_le_bytes());
    assert_eq!(nft_run(EngineChoice::Wasmtime), r, "tiers disagree");
}
