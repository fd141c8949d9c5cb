//! The chain as the server's `Service`: every request kind of the wire protocol.
//!
//! Outcome bodies (`BlockOutcome`, `TxOutcome`) are UTF-8 JSON of `keel_chain::BlockResult` and
//! `keel_chain::Receipt`; a state proof is JSON `{"height", "root", "proof"}` (hex), verifiable
//! with `keel state verify` or `keel_state::verify_proof`.

use keel_chain::{Block, Chain, SignedTx, TxKind, decode};
use keel_crypto::{PublicKey, Signature, SignatureVerifier, VerifyItem};
use keel_protocol::{ErrorCode, Request, Response, StatusReply};
use keel_server::{RequestContext, Service};
use serde_json::json;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Counters {
    blocks: AtomicU64,
    txs_ok: AtomicU64,
    txs_failed: AtomicU64,
    txs_rejected: AtomicU64,
    gas: [AtomicU64; 4],
    verify_requests: AtomicU64,
    verify_signatures: AtomicU64,
}

pub struct ChainService {
    chain: Mutex<Chain>,
    /// For `BlsBatchVerify` only: the client lane, never the one the chain's blocks use.
    client_verifier: Arc<dyn SignatureVerifier>,
    kernel: Option<Arc<keel_kernel_progs::KernelPrograms>>,
    counters: Counters,
}

fn rejected(message: impl std::fmt::Display) -> Response {
    Response::Error {
        code: ErrorCode::Rejected,
        message: message.to_string(),
    }
}

fn internal(message: impl std::fmt::Display) -> Response {
    Response::Error {
        code: ErrorCode::Internal,
        message: message.to_string(),
    }
}

impl ChainService {
    pub fn new(
        chain: Chain,
        client_verifier: Arc<dyn SignatureVerifier>,
        kernel: Option<Arc<keel_kernel_progs::KernelPrograms>>,
    ) -> Self {
        ChainService {
            chain: Mutex::new(chain),
            client_verifier,
            kernel,
            counters: Counters::default(),
        }
    }

    fn chain(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, r: &keel_chain::BlockResult) {
        let c = &self.counters;
        c.blocks.fetch_add(1, Ordering::Relaxed);
        for rc in &r.receipts {
            let slot = match rc.status {
                keel_chain::TxStatus::Success { .. } => &c.txs_ok,
                keel_chain::TxStatus::Failed { .. } => &c.txs_failed,
                keel_chain::TxStatus::Rejected { .. } => &c.txs_rejected,
            };
            slot.fetch_add(1, Ordering::Relaxed);
        }
        for (g, used) in c.gas.iter().zip(r.gas_used) {
            g.fetch_add(used, Ordering::Relaxed);
        }
    }

    fn status(&self) -> Response {
        let chain = self.chain();
        match chain.head() {
            Ok((height, state_root)) => {
                let next = chain
                    .block_result(height)
                    .ok()
                    .flatten()
                    .map(|r| r.next_prices);
                let detail = json!({
                    "next_prices": next,
                    "chain_id": chain.config().ok().map(|c| c.chain_id),
                    "timestamp": chain.head_timestamp().ok(),
                });
                Response::Status(StatusReply {
                    height,
                    state_root,
                    detail: detail.to_string().into_bytes(),
                })
            }
            Err(e) => internal(e),
        }
    }

    fn submit(&self, bytes: &[u8], commit: bool) -> Response {
        let block: Block = match decode("block", bytes) {
            Ok(b) => b,
            Err(e) => return rejected(e),
        };
        let mut chain = self.chain();
        let result = if commit {
            chain.execute_block(&block)
        } else {
            chain.simulate(&block.header, &block.txs)
        };
        match result {
            Ok(r) => {
                if commit {
                    self.count(&r);
                }
                Response::BlockOutcome {
                    output: serde_json::to_vec(&r).unwrap_or_default(),
                }
            }
            Err(
                e @ (keel_chain::ChainError::WrongHeight { .. }
                | keel_chain::ChainError::WrongParent { .. }
                | keel_chain::ChainError::Header(_)
                | keel_chain::ChainError::TooManyTransactions { .. }),
            ) => rejected(e),
            Err(e) => internal(e),
        }
    }

    /// Executes one transaction on the head without committing it: blocks come only from
    /// `SubmitBlock`, so `Deploy` and `GovernanceSubmit` are simulations (there is no mempool
    /// yet); their answer says so.
    fn one_tx(&self, bytes: &[u8], want: Want) -> Response {
        let tx: SignedTx = match decode("signed transaction", bytes) {
            Ok(t) => t,
            Err(e) => return rejected(e),
        };
        match want {
            Want::Deploy if !matches!(tx.tx.kind, TxKind::Deploy { .. }) => {
                return rejected("a Deploy request must carry a deploy transaction");
            }
            Want::Governance if !matches!(tx.tx.kind, TxKind::Governance(_)) => {
                return rejected("a GovernanceSubmit request must carry a governance transaction");
            }
            _ => {}
        }
        let chain = self.chain();
        let header = match chain.next_local_header() {
            Ok(h) => h,
            Err(e) => return internal(e),
        };
        match chain.simulate(&header, &[tx]) {
            Ok(r) => {
                let receipt = r.receipts.first();
                let output = match want {
                    Want::Any => serde_json::to_vec(&receipt),
                    // Not committed: say so, and how to commit it.
                    Want::Deploy | Want::Governance => serde_json::to_vec(&json!({
                        "committed": false,
                        "note": NOT_COMMITTED,
                        "receipt": receipt,
                        "governance": r.governance,
                    })),
                };
                Response::TxOutcome {
                    output: output.unwrap_or_default(),
                }
            }
            Err(e) => internal(e),
        }
    }

    fn query(&self, key: &[u8], with_proof: bool) -> Response {
        let chain = self.chain();
        if !with_proof {
            return match chain.get(key) {
                Ok(value) => Response::StateValue { value, proof: None },
                Err(e) => internal(e),
            };
        }
        match chain.prove(key) {
            Ok((value, proof, height, root)) => {
                let proof = match proof.to_hex() {
                    Ok(p) => p,
                    Err(e) => return internal(e),
                };
                let p = json!({ "height": height, "root": hex::encode(root), "proof": proof });
                Response::StateValue {
                    value,
                    proof: Some(p.to_string().into_bytes()),
                }
            }
            Err(e) => internal(e),
        }
    }

    fn verify(&self, items: Vec<keel_protocol::BlsItem>) -> Response {
        let n = items.len();
        let mut parsed = Vec::with_capacity(n);
        let mut index = Vec::with_capacity(n);
        for (i, (pk, msg, sig)) in items.into_iter().enumerate() {
            if let (Ok(pk), Ok(sig)) = (PublicKey::from_bytes(&pk), Signature::from_bytes(&sig)) {
                parsed.push(VerifyItem::new(pk, msg, sig));
                index.push(i);
            }
        }
        let verdicts = self.client_verifier.verify_batch(&parsed);
        let mut valid = vec![false; n];
        for (i, v) in index.into_iter().zip(verdicts) {
            if let Some(slot) = valid.get_mut(i) {
                *slot = v.is_valid();
            }
        }
        self.counters
            .verify_requests
            .fetch_add(1, Ordering::Relaxed);
        self.counters
            .verify_signatures
            .fetch_add(n as u64, Ordering::Relaxed);
        Response::VerifyResult { valid }
    }
}

/// What a `Deploy` or `GovernanceSubmit` answer carries besides the simulated receipt.
const NOT_COMMITTED: &str = "simulated on the head, not committed: blocks come only from \
     SubmitBlock; include the transaction in a block (there is no mempool yet)";

/// Which transaction kind a single-transaction request must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Any,
    Deploy,
    Governance,
}

impl Service for ChainService {
    fn handle(&self, _ctx: &RequestContext, request: Request) -> Response {
        match request {
            Request::Status => self.status(),
            Request::SubmitBlock { block } => self.submit(&block, true),
            Request::ExecuteBlock { block } => self.submit(&block, false),
            Request::SimulateTx { tx } => self.one_tx(&tx, Want::Any),
            Request::Deploy { tx } => self.one_tx(&tx, Want::Deploy),
            Request::QueryState { key, with_proof } => self.query(&key, with_proof),
            Request::BlsBatchVerify { items } => self.verify(items),
            Request::GovernanceSubmit { tx } => self.one_tx(&tx, Want::Governance),
            // The server answers these itself.
            Request::Hello { .. } | Request::AuthProof { .. } | Request::Ping { .. } => {
                Response::Error {
                    code: ErrorCode::Unsupported,
                    message: "handled by the transport".into(),
                }
            }
        }
    }

    fn shutdown(&self) {
        // Every committed block was fsync'ed by its redb transaction; nothing is pending.
        if let Ok((h, root)) = self.chain().head() {
            tracing::info!(height = h, root = %hex::encode(root), "chain closed cleanly");
        }
    }

    fn write_metrics(&self, out: &mut String) {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# TYPE keel_blocks_total counter\nkeel_blocks_total {}",
            g(&c.blocks)
        );
        let _ = writeln!(out, "# TYPE keel_transactions_total counter");
        for (status, v) in [
            ("success", &c.txs_ok),
            ("failed", &c.txs_failed),
            ("rejected", &c.txs_rejected),
        ] {
            let _ = writeln!(
                out,
                "keel_transactions_total{{status=\"{status}\"}} {}",
                g(v)
            );
        }
        let _ = writeln!(out, "# TYPE keel_gas_used_total counter");
        for (d, v) in keel_vm::Dimension::ALL.iter().zip(&c.gas) {
            let _ = writeln!(out, "keel_gas_used_total{{dimension=\"{d}\"}} {}", g(v));
        }
        let _ = writeln!(
            out,
            "# TYPE keel_verify_requests_total counter\nkeel_verify_requests_total {}",
            g(&c.verify_requests)
        );
        let _ = writeln!(
            out,
            "# TYPE keel_verify_signatures_total counter\nkeel_verify_signatures_total {}",
            g(&c.verify_signatures)
        );
        if let Ok((h, _)) = self.chain().head() {
            let _ = writeln!(out, "# TYPE keel_chain_height gauge\nkeel_chain_height {h}");
        }
        if let Some(k) = &self.kernel {
            out.push_str(&k.metrics_text());
        }
    }
}
