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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::store::{Health, Opener, Store};

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

/// What one request may cost, beyond the wire protocol's own limits.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Most compute gas (summed over its transactions' limits) a simulation from a read-only
    /// client may ask for: simulations run beside block execution and must stay short.
    pub simulate_compute: u64,
    /// Most items in one `BlsBatchVerify` request (at most the protocol's 1 024).
    pub verify_max_items: usize,
    /// `BlsBatchVerify` signatures per second one client may have verified (0: no limit).
    pub verify_rate: u64,
}

pub struct ChainService {
    /// Reads and simulations run on snapshots of the head; only commits are serialized (inside
    /// `Chain`), so no read waits for a block and no block waits for a read.
    store: Store,
    limits: RequestLimits,
    verify_rate: super::rate::VerifyRate,
    /// For `BlsBatchVerify` only: the client lane, never the one the chain's blocks use.
    client_verifier: Arc<dyn SignatureVerifier>,
    kernel: Option<Arc<keel_kernel_progs::KernelPrograms>>,
    counters: Counters,
    /// `SubmitTx` and `BuildBlock`; its verdict cache is the one the chain's verifier consults.
    pool: super::mempool::DaemonPool,
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
    /// `reopen` opens the chain again after a disk error (see `store`); without it the
    /// daemon keeps answering reads from nothing and reports itself down.
    pub fn new(
        chain: Chain,
        reopen: Option<Opener>,
        client_verifier: Arc<dyn SignatureVerifier>,
        kernel: Option<Arc<keel_kernel_progs::KernelPrograms>>,
        limits: RequestLimits,
        pool: super::mempool::DaemonPool,
    ) -> Self {
        ChainService {
            pool,
            store: Store::new(chain, reopen),
            verify_rate: super::rate::VerifyRate::new(limits.verify_rate),
            limits,
            client_verifier,
            kernel,
            counters: Counters::default(),
        }
    }

    fn chain(&self) -> Result<Arc<Chain>, Response> {
        self.store.get().map_err(internal)
    }

    /// Refuses a simulation from a read-only client asking for more compute than its budget
    /// (writers dry-run whole blocks and get the block's limit).
    fn check_budget(&self, ctx: &RequestContext, txs: &[SignedTx]) -> Result<(), Response> {
        if !ctx.read_only {
            return Ok(());
        }
        let asked = txs
            .iter()
            .fold(0u64, |sum, t| sum.saturating_add(t.tx.gas_limits[0]));
        if asked > self.limits.simulate_compute {
            return Err(rejected(format!(
                "simulation asks for {asked} compute gas; read-only clients may simulate at \
                 most {} (lower the transaction's compute limit)",
                self.limits.simulate_compute
            )));
        }
        Ok(())
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

    /// The head and the node's health. While the store is closed after a disk error, the
    /// last head seen with `"healthy": false` and the error: the validator must know.
    fn status(&self) -> Response {
        let chain = self.store.get().ok();
        let store_error = match self.store.health() {
            Health::Ok => None,
            Health::Failed { error } => Some(error),
        };
        let Some(chain) = chain else {
            let (height, state_root) = self.store.last_head();
            let detail = json!({ "healthy": false, "store_error": store_error });
            return Response::Status(StatusReply {
                height,
                state_root,
                detail: detail.to_string().into_bytes(),
            });
        };
        // Reads take no lock, so a block may commit between them: read until the head is the
        // same before and after, so height, root and timestamp belong to one block.
        let mut tries = 0;
        loop {
            let (height, state_root) = match chain.head() {
                Ok(h) => h,
                Err(e) => return internal(e),
            };
            let detail = json!({
                "next_prices": chain.block_result(height).ok().flatten().map(|r| r.next_prices),
                "chain_id": chain.config().ok().map(|c| c.chain_id),
                "timestamp": chain.head_timestamp().ok(),
                "healthy": store_error.is_none(),
                "store_error": store_error,
                // Node-local observability: the executor and the last block's rollback log.
                "executor": {
                    "threads": chain.exec_mode().threads(),
                    "last_block": chain.last_timings().exec,
                },
            });
            tries += 1;
            if tries >= 8 || chain.head().is_ok_and(|h| h.0 == height) {
                return Response::Status(StatusReply {
                    height,
                    state_root,
                    detail: detail.to_string().into_bytes(),
                });
            }
        }
    }

    fn submit(&self, ctx: &RequestContext, bytes: &[u8], commit: bool) -> Response {
        let block: Block = match decode("block", bytes) {
            Ok(b) => b,
            Err(e) => return rejected(e),
        };
        if !commit && let Err(refusal) = self.check_budget(ctx, &block.txs) {
            return refusal;
        }
        let chain = match self.chain() {
            Ok(c) => c,
            Err(r) => return r,
        };
        let result = if commit {
            chain.execute_block(&block)
        } else {
            chain.simulate(&block.header, &block.txs)
        };
        match result {
            Ok(r) => {
                if commit {
                    self.count(&r);
                    self.store.committed((block.header.height, r.state_root));
                    self.pool.committed(&chain, &block);
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
            Err(e) => {
                let response = internal(&e);
                self.store.check(chain, &e);
                response
            }
        }
    }

    /// Executes one transaction on the head without committing it: blocks come only from
    /// `SubmitBlock`, so `Deploy` and `GovernanceSubmit` are simulations (`SubmitTx` puts a
    /// transaction in the mempool); their answer says so.
    fn one_tx(&self, ctx: &RequestContext, bytes: &[u8], want: Want) -> Response {
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
        if let Err(refusal) = self.check_budget(ctx, std::slice::from_ref(&tx)) {
            return refusal;
        }
        let chain = match self.chain() {
            Ok(c) => c,
            Err(r) => return r,
        };
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
        let chain = match self.chain() {
            Ok(c) => c,
            Err(r) => return r,
        };
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

    fn verify(&self, ctx: &RequestContext, items: Vec<keel_protocol::BlsItem>) -> Response {
        let n = items.len();
        if n > self.limits.verify_max_items {
            return Response::Error {
                code: ErrorCode::RequestTooLarge,
                message: format!(
                    "{n} items in one BlsBatchVerify; this node takes at most {} \
                     (verify_max_items): split the request",
                    self.limits.verify_max_items
                ),
            };
        }
        if !self.verify_rate.admit(ctx, n, std::time::Instant::now()) {
            return Response::Error {
                code: ErrorCode::Overloaded,
                message: format!(
                    "BlsBatchVerify rate: at most {} signatures per second per client",
                    self.limits.verify_rate
                ),
            };
        }
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
     SubmitBlock; send the transaction with SubmitTx (the mempool) or include it in a block";

/// Which transaction kind a single-transaction request must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Any,
    Deploy,
    Governance,
}

impl Service for ChainService {
    fn handle(&self, ctx: &RequestContext, request: Request) -> Response {
        match request {
            Request::Status => self.status(),
            Request::SubmitBlock { block } => self.submit(ctx, &block, true),
            Request::ExecuteBlock { block } => self.submit(ctx, &block, false),
            Request::SimulateTx { tx } => self.one_tx(ctx, &tx, Want::Any),
            Request::Deploy { tx } => self.one_tx(ctx, &tx, Want::Deploy),
            Request::QueryState { key, with_proof } => self.query(&key, with_proof),
            Request::BlsBatchVerify { items } => self.verify(ctx, items),
            Request::GovernanceSubmit { tx } => self.one_tx(ctx, &tx, Want::Governance),
            Request::SubmitTx { tx } => match self.chain() {
                Ok(chain) => self.pool.submit(ctx, &chain, &tx),
                Err(r) => r,
            },
            Request::BuildBlock(req) => match self.chain() {
                Ok(chain) => self.pool.build(&chain, &req),
                Err(r) => r,
            },
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
        if let Ok(Ok((h, root))) = self.store.get().map(|c| c.head()) {
            tracing::info!(height = h, root = %hex::encode(root), "chain closed cleanly");
        }
    }

    fn write_metrics(&self, out: &mut String) {
        keel_sandbox::write_metrics(out);
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
        // The last head seen: no lock, no database read, so a scrape never waits for a block.
        let (h, _) = self.store.last_head();
        let _ = writeln!(out, "# TYPE keel_chain_height gauge\nkeel_chain_height {h}");
        let up = u8::from(self.store.health() == Health::Ok);
        let _ = writeln!(
            out,
            "# HELP keel_up 1 while the node can commit blocks; 0 after a disk error until the \
             state store is reopened.\n# TYPE keel_up gauge\nkeel_up {up}"
        );
        if self.store.health() == Health::Ok
            && let Ok(chain) = self.store.get()
            && let Some(j) = chain.vm().jit_stats()
        {
            write_jit_metrics(out, &j);
        }
        self.pool.write_metrics(out);
        if let Some(k) = &self.kernel {
            out.push_str(&k.metrics_text());
        }
    }
}

/// The contract JIT tier's counters (present when `KEEL_VM_ENGINE` selects a JIT tier).
fn write_jit_metrics(out: &mut String, j: &keel_vm::engine::JitStats) {
    let _ = writeln!(
        out,
        "# HELP keel_vm_jit_cache_total Compiled-artifact cache lookups, by result.\n\
         # TYPE keel_vm_jit_cache_total counter\n\
         keel_vm_jit_cache_total{{result=\"hit\"}} {}\n\
         keel_vm_jit_cache_total{{result=\"miss\"}} {}",
        j.hits, j.misses
    );
    let _ = writeln!(
        out,
        "# HELP keel_vm_jit_compile_seconds_total Time spent compiling contracts with Cranelift.\n\
         # TYPE keel_vm_jit_compile_seconds_total counter\n\
         keel_vm_jit_compile_seconds_total {:.6}",
        j.compile_micros as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "# HELP keel_vm_jit_modules_total Modules by JIT outcome (interpreted ones give the same results).\n\
         # TYPE keel_vm_jit_modules_total counter\n\
         keel_vm_jit_modules_total{{outcome=\"compiled\"}} {}\n\
         keel_vm_jit_modules_total{{outcome=\"over_budget\"}} {}\n\
         keel_vm_jit_modules_total{{outcome=\"failed\"}} {}\n\
         keel_vm_jit_modules_total{{outcome=\"refused\"}} {}",
        j.compiled, j.over_budget, j.failed, j.refused
    );
}
