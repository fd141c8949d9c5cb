//! Keel's side: `contracts/c/token.c` deployed on an in-memory chain state and driven through
//! the chain executor (the path a block takes), plus the VM alone.

use anyhow::{Context as _, bail, ensure};
use keel_chain::genesis::{self, demo_key};
use keel_chain::routines::RoutineCache;
use keel_chain::tx::PerDimension;
use keel_chain::{
    Address, Amount, BlockHeader, CallData, ChainConfig, Executor, SignedTx, Transaction, TxKind,
    TxStatus, address_of, contract_address, genesis_writes,
};
use keel_crypto::{
    EncodedItem, KeyCache, SecretKey, Signature, SignatureVerifier, SingleVerifier, Verdict,
    VerifyItem,
};
use keel_vm::engine::choice::EngineChoice;
use keel_vm::{CallContext, CallRequest, GasLimits, MemoryState, Prepared, Vm, VmConfig};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Per-transaction gas limits and fee caps of the benchmark transactions (as the chain tests').
const LIMITS: PerDimension = [50_000_000, 100_000, 64, 100_000];
/// Compute limit of the benchmark chain's blocks: room for 100 000 transfers.
const BENCH_BLOCK_COMPUTE: u64 = 100_000 * 100_000;
const MAX_FEE: PerDimension = [1_000, 1_000, 1_000, 1_000];

/// Accepts every item. The benchmark checks every signature once with [`SingleVerifier`]
/// before timing; inside the timed blocks the signature phase then costs exactly its
/// non-pairing part on the executing thread (key lookup or decoding, message encoding, the
/// transaction hash). The signatures' decompression, which the chain's verifier runs on its
/// workers, is measured apart ([`KeelToken::decode_signatures`]).
struct PreVerified;

impl SignatureVerifier for PreVerified {
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        vec![Verdict::Valid; items.len()]
    }

    fn verify_encoded(&self, items: &[EncodedItem]) -> Vec<Verdict> {
        vec![Verdict::Valid; items.len()]
    }
}

/// The `n`-th recipient: distinct addresses, none of them an account of the genesis.
pub fn recipient(n: u32) -> Address {
    let mut a = [0xbe; 32];
    a[28..].copy_from_slice(&n.to_be_bytes());
    a
}

/// The token deployed at block 1 with the whole supply held by demo account 0.
pub struct KeelToken {
    pub vm: Vm,
    routines: RoutineCache,
    keys: Mutex<keel_chain::SenderKeys>,
    /// The reference path of the signature phase: every key decoded and validated.
    no_keys: Mutex<keel_chain::SenderKeys>,
    /// SHA-256 of the token's code, as its account stores it.
    code_hash: [u8; 32],
    /// State after block 1 (genesis + deployment), the base of every measured block.
    base: BTreeMap<Vec<u8>, Vec<u8>>,
    key: SecretKey,
    sender: Address,
    pub contract: Address,
    supply: [u8; 32],
}

/// What one measured block took.
pub struct BlockRun {
    /// The signature phase with every pairing skipped: its non-pairing cost.
    pub signatures: Duration,
    /// Execution of the transactions (receipts, fees, overlay), signatures excluded.
    pub execute: Duration,
    /// Compute gas of the first transfer (the same for every run).
    pub compute_gas: u64,
}

fn apply(base: &mut BTreeMap<Vec<u8>, Vec<u8>>, writes: keel_state::WriteSet) {
    for (k, v) in writes {
        match v {
            Some(v) => base.insert(k, v),
            None => base.remove(&k),
        };
    }
}

fn amount_le(v: u128) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&v.to_le_bytes());
    b
}

impl KeelToken {
    /// Genesis (demo accounts), then block 1 deploying the token and minting `supply` to
    /// demo account 0. Errors if any step does not succeed.
    pub fn deploy(supply: u128, vm_config: VmConfig, engine: EngineChoice) -> anyhow::Result<Self> {
        let mut g = genesis::demo(4, Amount::from_u128(10u128.pow(30)))?;
        // One measured block holds every `--txs` transfer; the demo's compute limit (a 1 s
        // block budget, about 600 transfers) would reject the rest as BlockFull.
        g.config.fees.limits[0] = g.config.fees.limits[0].max(BENCH_BLOCK_COMPUTE);
        let mut base = BTreeMap::new();
        apply(&mut base, genesis_writes(&g)?);
        let key = demo_key(0);
        let sender = address_of(&key.public_key().to_bytes());
        let mut t = KeelToken {
            vm: Vm::with_choice(vm_config, engine, None)?,
            routines: RoutineCache::new(keel_ebpf_bridge::Engine::Interpreter)
                .map_err(|e| anyhow::anyhow!("routines: {e}"))?,
            keys: Mutex::new(KeyCache::default()),
            no_keys: Mutex::new(keel_chain::SenderKeys::new(0)),
            code_hash: Sha256::digest(keel_contracts::TOKEN.wasm).into(),
            base,
            contract: contract_address(&sender, 0),
            key,
            sender,
            supply: amount_le(supply),
        };
        let deploy = t.tx(
            0,
            TxKind::Deploy {
                code: keel_contracts::TOKEN.wasm.to_vec(),
                constructor: Some(CallData {
                    entry: "init".into(),
                    args: t.supply.to_vec(),
                }),
            },
        );
        let exec = Executor {
            vm: &t.vm,
            verifier: &SingleVerifier,
            routines: &t.routines,
            keys: &t.keys,
        };
        let done = exec.execute(t.base.clone(), &t.header(1), &[deploy])?;
        let status = &done.result.receipts.first().context("no receipt")?.status;
        if !matches!(status, TxStatus::Success { .. }) {
            bail!("token deployment: {status:?}");
        }
        apply(&mut t.base, done.writes);
        Ok(t)
    }

    fn header(&self, height: u64) -> BlockHeader {
        BlockHeader {
            height,
            parent_root: [0; 32],
            timestamp: height,
            proposer: self.sender,
            // Executed directly (no header check): the VRF and beacon fields are not verified.
            vrf: Default::default(),
            beacon: None,
        }
    }

    fn tx(&self, nonce: u64, kind: TxKind) -> SignedTx {
        Transaction {
            chain_id: ChainConfig::demo().chain_id,
            sender: self.key.public_key().to_bytes(),
            nonce,
            gas_limits: LIMITS,
            max_fee_per_unit: MAX_FEE,
            priority_fee: 1,
            kind,
        }
        .sign(&self.key)
    }

    fn transfer_args(to: &Address) -> Vec<u8> {
        let mut args = to.to_vec();
        args.extend_from_slice(&amount_le(1));
        args
    }

    /// `n` signed transfers of 1 token to `recipients` distinct recipients, nonces 1..=n, each
    /// checked once with the reference verifier.
    pub fn transfers(&self, n: u32, recipients: u32) -> anyhow::Result<Vec<SignedTx>> {
        let txs: Vec<SignedTx> = (0..n)
            .map(|i| {
                self.tx(
                    u64::from(i) + 1,
                    TxKind::Call {
                        contract: self.contract,
                        call: CallData {
                            entry: "transfer".into(),
                            args: Self::transfer_args(&recipient(i % recipients.max(1))),
                        },
                        value: Amount::ZERO,
                    },
                )
            })
            .collect();
        let items: Vec<VerifyItem> = txs
            .iter()
            .map(|t| {
                let (pk, sig) = t.parts()?;
                Ok(VerifyItem::new(pk, t.tx.signing_message(), sig))
            })
            .collect::<Result<_, keel_crypto::CryptoError>>()?;
        ensure!(
            SingleVerifier
                .verify_batch(&items)
                .iter()
                .all(|v| v.is_valid()),
            "a benchmark signature does not verify"
        );
        Ok(txs)
    }

    /// Executes `txs` as block 2 on the post-deployment state (cloned outside the timing),
    /// with the validated-key cache or (`key_cache` false) decoding every sender key.
    pub fn run_block(&self, txs: &[SignedTx], key_cache: bool) -> anyhow::Result<BlockRun> {
        let exec = Executor {
            vm: &self.vm,
            verifier: &PreVerified,
            routines: &self.routines,
            keys: if key_cache { &self.keys } else { &self.no_keys },
        };
        let base = self.base.clone();
        let done = exec.execute(base, &self.header(2), txs)?;
        let mut compute_gas = 0;
        for (i, r) in done.result.receipts.iter().enumerate() {
            let TxStatus::Success { .. } = r.status else {
                bail!("transfer {i}: {:?}", r.status);
            };
            if i == 0 {
                compute_gas = r.gas_used[0];
            }
        }
        Ok(BlockRun {
            signatures: done.timings.verify_signatures,
            execute: done.timings.execute,
            compute_gas,
        })
    }

    /// Decompresses every signature of `txs` (the verifier's share of the non-pairing work,
    /// which the chain's batch verifier spreads over its workers). Returns how many decoded.
    pub fn decode_signatures(txs: &[SignedTx]) -> usize {
        txs.iter()
            .filter(|t| Signature::from_bytes(&t.signature).is_ok())
            .count()
    }

    /// The token's storage as the VM sees it: the sender holds the whole supply.
    pub fn memory_state(&self) -> MemoryState {
        let mut key = vec![b'b'];
        key.extend_from_slice(&self.sender);
        let mut s = MemoryState::default();
        s.entries.insert((self.contract, key), self.supply.to_vec());
        s
    }

    pub fn prepared(&self) -> anyhow::Result<Arc<Prepared>> {
        Ok(self.vm.prepare(keel_contracts::TOKEN.wasm)?)
    }

    fn request(&self, entry: &str, input: Vec<u8>) -> CallRequest {
        CallRequest {
            entry: entry.into(),
            input,
            context: CallContext {
                caller: self.sender,
                self_address: self.contract,
                block_height: 2,
                block_timestamp: 2,
            },
            limits: GasLimits {
                compute: LIMITS[0],
                storage_bytes: LIMITS[1],
                memory_pages: LIMITS[2],
                bandwidth: LIMITS[3],
            },
        }
    }

    /// Raw VM call: `transfer` on an already prepared module, writes returned, not applied.
    /// Returns the compute gas.
    pub fn raw_transfer(
        &self,
        prepared: &Prepared,
        state: MemoryState,
        to: &Address,
    ) -> anyhow::Result<u64> {
        let req = self.request("transfer", Self::transfer_args(to));
        let out = self.vm.call_prepared(prepared, req, Box::new(state))?;
        if let Err(t) = out.result {
            bail!("transfer trapped: {t}");
        }
        Ok(out.gas_used.compute)
    }

    /// Read-only call: `balance_of(sender)` as a query makes it: the module looked up by the
    /// account's code hash (compiled from the code on a miss), then called. Returns the balance.
    pub fn balance_of(&self, state: MemoryState) -> anyhow::Result<Vec<u8>> {
        let req = self.request("balance_of", self.sender.to_vec());
        let prepared = match self.vm.cached(&self.code_hash) {
            Some(p) => p,
            None => self.vm.prepare(keel_contracts::TOKEN.wasm)?,
        };
        let out = self.vm.call_prepared(&prepared, req, Box::new(state))?;
        out.result
            .map_err(|t| anyhow::anyhow!("balance_of trapped: {t}"))
    }
}
