//! The daemon's mempool: `SubmitTx` admission, `BuildBlock` packing, pruning after a commit.
//!
//! Admission runs the checks that need no execution, in order of cost: the per-client rate
//! (clients that are not allowlisted writers), decoding, the chain's stateless rules (chain id,
//! intrinsic gas, limits within a block's, a representable maximum cost), a duplicate check,
//! then the signature on the client lane of the batching service (batched with other
//! clients' requests), then the sender's nonce window on the head. A valid signature is
//! recorded in the [`VerdictCache`] that the chain's verifier consults, so a block built here
//! is not verified twice. Node-local policy: nothing here changes a block's outcome.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use keel_chain::state_access::prices_key;
use keel_chain::{Address, Block, Chain, ChainConfig, SignedTx, decode, encode};
use keel_crypto::{SignatureVerifier, VerifyItem};
use keel_mempool::{AdmitError, BlockLimits, Mempool, VerdictCache};
use keel_protocol::{BuildRequest, ErrorCode, Response};
use keel_server::RequestContext;
use serde_json::json;

use super::rate::VerifyRate;

/// Why a submitted transaction is invalid (it can never be admitted as it is): metric labels.
const INVALID: [&str; 5] = [
    "malformed",
    "wrong_chain",
    "gas_limit",
    "bad_signature",
    "stale_nonce",
];

#[derive(Default)]
struct Counters {
    admitted: AtomicU64,
    replaced: AtomicU64,
    evicted: AtomicU64,
    expired: AtomicU64,
    included: AtomicU64,
    rate_limited: AtomicU64,
    /// By [`INVALID`] label.
    invalid: [AtomicU64; 5],
    /// Refusals of the pool's policy (full, underpriced, …), by reason.
    refused: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    built: AtomicU64,
    built_txs: AtomicU64,
}

/// The mempool as the daemon serves it.
pub struct DaemonPool {
    pool: Mutex<Mempool>,
    cache: Arc<VerdictCache>,
    /// The client lane of the batching service (never the one blocks use).
    verifier: Arc<dyn SignatureVerifier>,
    rate: VerifyRate,
    started: Instant,
    counters: Counters,
}

fn error(code: ErrorCode, message: impl std::fmt::Display) -> Response {
    Response::Error {
        code,
        message: message.to_string(),
    }
}

fn refusal_name(e: &AdmitError) -> &'static str {
    match e {
        AdmitError::AlreadyKnown => "already_known",
        AdmitError::TooLarge { .. } => "too_large",
        AdmitError::NonceTooLow { .. } => "stale_nonce",
        AdmitError::NonceTooFar { .. } => "nonce_too_far",
        AdmitError::Underpriced { .. } => "underpriced",
        AdmitError::SenderFull { .. } => "sender_full",
        AdmitError::PoolFull { .. } => "pool_full",
    }
}

impl DaemonPool {
    /// A pool with `config`'s bounds, recording verdicts in `cache` (shared with the chain's
    /// verifier), verifying on `verifier`, and admitting at most `submit_rate` transactions
    /// per second per non-writer client (0: no limit).
    pub fn new(
        config: keel_mempool::PoolConfig,
        cache: Arc<VerdictCache>,
        verifier: Arc<dyn SignatureVerifier>,
        submit_rate: u64,
    ) -> DaemonPool {
        DaemonPool {
            pool: Mutex::new(Mempool::new(config)),
            cache,
            verifier,
            rate: VerifyRate::new(submit_rate),
            started: Instant::now(),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mempool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn invalid(&self, label: &str, message: impl std::fmt::Display) -> Response {
        if let Some(i) = INVALID.iter().position(|l| *l == label)
            && let Some(c) = self.counters.invalid.get(i)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        error(ErrorCode::Rejected, message)
    }

    /// Forgets verdicts of transactions that left the pool.
    fn dropped(&self, hashes: &[[u8; 32]], counter: &AtomicU64) {
        for h in hashes {
            self.cache.forget(h);
        }
        counter.fetch_add(hashes.len() as u64, Ordering::Relaxed);
    }

    /// `SubmitTx`: see the module docs for the order of the checks.
    pub fn submit(&self, ctx: &RequestContext, chain: &Chain, bytes: &[u8]) -> Response {
        // Allowlisted writers (the validators) are not limited; everyone else is.
        let writer = !ctx.read_only && ctx.public_key.is_some();
        if !writer && !self.rate.admit(ctx, 1, Instant::now()) {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return error(
                ErrorCode::Overloaded,
                "SubmitTx rate: this client may submit at most [mempool] submit_rate \
                 transactions per second; retry later",
            );
        }
        let tx: SignedTx = match decode("signed transaction", bytes) {
            Ok(t) => t,
            Err(e) => return self.invalid("malformed", e),
        };
        let config = match chain.config() {
            Ok(c) => c,
            Err(e) => return error(ErrorCode::Internal, e),
        };
        if let Err((label, why)) = stateless_check(&tx, bytes.len(), &config) {
            return self.invalid(label, why);
        }
        let hash = tx.hash();
        if self.lock().contains(&hash) {
            return self.refused(&AdmitError::AlreadyKnown);
        }
        if !self.signature_valid(&tx) {
            return self.invalid(
                "bad_signature",
                "the signature does not verify under the sender key",
            );
        }
        let account_nonce = match chain.account(&tx.tx.sender_address()) {
            Ok(a) => a.map_or(0, |a| a.nonce),
            Err(e) => return error(ErrorCode::Internal, e),
        };
        self.admit(tx, hash, account_nonce)
    }

    /// Verifies on the client lane (batched with other clients' signatures).
    fn signature_valid(&self, tx: &SignedTx) -> bool {
        let Ok((pk, sig)) = tx.parts() else {
            return false;
        };
        let item = VerifyItem::new(pk, tx.tx.signing_message(), sig);
        self.verifier
            .verify_batch(std::slice::from_ref(&item))
            .first()
            .is_some_and(|v| v.is_valid())
    }

    fn admit(&self, tx: SignedTx, hash: [u8; 32], account_nonce: u64) -> Response {
        let now = self.now_ms();
        let mut pool = self.lock();
        let expired = pool.expire(now);
        self.dropped(&expired, &self.counters.expired);
        // Recorded before the pool lock is released, so a block built from the pool always
        // finds its verdicts (unless the cache is smaller than the pool).
        let outcome = pool.insert(tx.clone(), account_nonce, now);
        match outcome {
            Ok(a) => {
                self.cache.record_valid(&tx, hash);
                drop(pool);
                self.counters.admitted.fetch_add(1, Ordering::Relaxed);
                if let Some(old) = a.replaced {
                    self.dropped(&[old], &self.counters.replaced);
                }
                self.dropped(&a.evicted, &self.counters.evicted);
                Response::TxAdmitted {
                    tx_hash: hash,
                    replaced: a.replaced,
                    ready: a.ready,
                }
            }
            Err(AdmitError::NonceTooLow { expected, got }) => self.invalid(
                "stale_nonce",
                format!("nonce {got} was already used (the account's next nonce is {expected})"),
            ),
            Err(e) => self.refused(&e),
        }
    }

    fn refused(&self, e: &AdmitError) -> Response {
        let mut r = self
            .counters
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let n = r.entry(refusal_name(e)).or_insert(0);
        *n = n.saturating_add(1);
        error(ErrorCode::MempoolRefused, e)
    }

    /// `BuildBlock`: the next block on the head from the ready transactions, packed within
    /// the request's caps (each lowered to the chain's limit; 0 means the chain's limit).
    pub fn build(&self, chain: &Chain, req: &BuildRequest) -> Response {
        let built = (|| -> Result<(Block, serde_json::Value), keel_chain::ChainError> {
            let config = chain.config()?;
            let (height, _) = chain.head()?;
            let prices = match chain.get(&prices_key())? {
                Some(b) => decode("prices", &b)
                    .map_err(|e| keel_chain::ChainError::Record(format!("stored prices: {e}")))?,
                None => config.fees.min_prices,
            };
            let limits = block_limits(req, &config);
            let timestamp = match req.timestamp {
                0 => chain.head_timestamp()?.saturating_add(1),
                t => t,
            };
            let nonce_of = |a: &Address| chain.account(a).ok().flatten().map_or(0, |a| a.nonce);
            let packed = {
                let mut pool = self.lock();
                // Nothing expired goes into a block, even when no submission came lately.
                let expired = pool.expire(self.now_ms());
                self.dropped(&expired, &self.counters.expired);
                pool.build(&limits, &prices, nonce_of)
            };
            let detail = json!({
                "height": height.saturating_add(1),
                "txs": packed.txs.len(),
                "gas": packed.gas,
                "limits": limits.gas,
                "prices": prices,
                "priority_fees": packed.priority_fees.to_string(),
                "left_out": packed.left_out,
                "pending": self.lock().stats().txs,
            });
            // The proposer's VRF proof and the due VDF output (`ChainError::NoProposerKey` if
            // this node holds no key for the proposer).
            let header = chain.next_header(timestamp, req.proposer)?;

            Ok((
                Block {
                    header,
                    txs: packed.txs,
                },
                detail,
            ))
        })();
        match built {
            Ok((block, detail)) => {
                self.counters.built.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .built_txs
                    .fetch_add(block.txs.len() as u64, Ordering::Relaxed);
                Response::BlockBuilt {
                    block: encode(&block),
                    detail: detail.to_string().into_bytes(),
                }
            }
            Err(e) => error(ErrorCode::Internal, e),
        }
    }

    /// After `block` committed: drops what its senders' new nonces spent.
    pub fn committed(&self, chain: &Chain, block: &Block) {
        let senders: BTreeSet<Address> = block.txs.iter().map(|t| t.tx.sender_address()).collect();
        let mut pool = self.lock();
        for s in senders {
            let nonce = chain.account(&s).ok().flatten().map_or(0, |a| a.nonce);
            let gone = pool.prune_sender(&s, nonce);
            self.dropped(&gone, &self.counters.included);
        }
    }

    /// Prometheus lines of the mempool and the verdict cache.
    pub fn write_metrics(&self, out: &mut String) {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = self.lock().stats();
        for (name, help, v) in [
            ("keel_mempool_transactions", "Transactions pending.", s.txs),
            (
                "keel_mempool_bytes",
                "Bytes of pending transactions.",
                s.bytes,
            ),
            (
                "keel_mempool_senders",
                "Senders with something pending.",
                s.senders,
            ),
            (
                "keel_signature_cache_entries",
                "Signature verdicts held.",
                self.cache.len(),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters = [
            (
                "keel_mempool_admitted_total",
                "Transactions admitted by SubmitTx.",
                g(&c.admitted),
            ),
            (
                "keel_mempool_replaced_total",
                "Pending transactions replaced by a higher priority fee.",
                g(&c.replaced),
            ),
            (
                "keel_mempool_evicted_total",
                "Pending transactions evicted for higher-paying ones.",
                g(&c.evicted),
            ),
            (
                "keel_mempool_expired_total",
                "Pending transactions expired.",
                g(&c.expired),
            ),
            (
                "keel_mempool_included_total",
                "Pending transactions dropped because a committed block used their nonce.",
                g(&c.included),
            ),
            (
                "keel_mempool_rate_limited_total",
                "SubmitTx requests refused by the per-client rate.",
                g(&c.rate_limited),
            ),
            (
                "keel_build_block_total",
                "BuildBlock requests answered.",
                g(&c.built),
            ),
            (
                "keel_build_block_transactions_total",
                "Transactions put into built blocks.",
                g(&c.built_txs),
            ),
            (
                "keel_signature_cache_hits_total",
                "Block signatures not verified again: their verdict was cached at admission.",
                self.cache.hits(),
            ),
            (
                "keel_signature_cache_misses_total",
                "Block signatures verified because no verdict was cached.",
                self.cache.misses(),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP keel_mempool_invalid_total SubmitTx transactions rejected as invalid, by reason.\n\
             # TYPE keel_mempool_invalid_total counter"
        );
        for (label, v) in INVALID.iter().zip(&c.invalid) {
            let _ = writeln!(
                out,
                "keel_mempool_invalid_total{{reason=\"{label}\"}} {}",
                g(v)
            );
        }
        let _ = writeln!(
            out,
            "# HELP keel_mempool_refused_total SubmitTx transactions the pool's policy refused, by reason.\n\
             # TYPE keel_mempool_refused_total counter"
        );
        let refused = c.refused.lock().unwrap_or_else(|p| p.into_inner());
        for (label, v) in refused.iter() {
            let _ = writeln!(out, "keel_mempool_refused_total{{reason=\"{label}\"}} {v}");
        }
    }
}

/// The chain's rules a transaction must meet whatever the state: the chain id, the intrinsic
/// gas (base compute, its own bytes of bandwidth), limits no block could exceed, and a maximum
/// cost that fits in 128 bits. `Err((metric label, reason))`.
fn stateless_check(
    tx: &SignedTx,
    encoded_len: usize,
    config: &ChainConfig,
) -> Result<(), (&'static str, String)> {
    let t = &tx.tx;
    if t.chain_id != config.chain_id {
        return Err((
            "wrong_chain",
            format!(
                "chain id {} is not this chain's {}",
                t.chain_id, config.chain_id
            ),
        ));
    }
    // The executor charges the signed transaction's encoded size as intrinsic bandwidth.
    let bytes = encoded_len as u64;
    if t.gas_limits[0] < config.tx_base_compute || t.gas_limits[3] < bytes {
        return Err((
            "gas_limit",
            format!(
                "gas limits must cover the intrinsic cost: compute ≥ {}, bandwidth ≥ {bytes}",
                config.tx_base_compute
            ),
        ));
    }
    if t.gas_limits
        .iter()
        .zip(&config.fees.limits)
        .any(|(l, cap)| l > cap)
    {
        return Err(("gas_limit", "a gas limit exceeds the block's limit".into()));
    }
    if t.max_gas_cost().is_none() {
        return Err(("gas_limit", "the maximum gas cost overflows".into()));
    }
    Ok(())
}

/// The request's caps, each lowered to the chain's block limit (0: the chain's limit).
fn block_limits(req: &BuildRequest, config: &ChainConfig) -> BlockLimits {
    let mut gas = config.fees.limits;
    for (g, asked) in gas.iter_mut().zip(req.gas_limits) {
        if asked != 0 {
            *g = (*g).min(asked);
        }
    }
    let chain_max = config.max_block_txs as usize;
    let max_txs = match req.max_txs as usize {
        0 => chain_max,
        n => n.min(chain_max),
    };
    BlockLimits { gas, max_txs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_caps_are_lowered_to_the_chain_limits_and_zero_means_the_chain_limit() {
        let config = ChainConfig::demo();
        let req = BuildRequest {
            gas_limits: [0, 5, u64::MAX, 0],
            max_txs: 0,
            ..BuildRequest::default()
        };
        let l = block_limits(&req, &config);
        let chain = config.fees.limits;
        assert_eq!(l.gas, [chain[0], 5, chain[2], chain[3]]);
        assert_eq!(l.max_txs, config.max_block_txs as usize);
        let few = BuildRequest {
            max_txs: 7,
            ..BuildRequest::default()
        };
        assert_eq!(block_limits(&few, &config).max_txs, 7);
    }

    #[test]
    fn transactions_no_block_could_execute_are_rejected_before_verification() {
        let config = ChainConfig::demo();
        let key = keel_chain::genesis::demo_key(1);
        let tx = |f: &dyn Fn(&mut keel_chain::Transaction)| {
            let mut t = keel_chain::Transaction {
                chain_id: config.chain_id,
                sender: key.public_key().to_bytes(),
                nonce: 0,
                gas_limits: [100_000, 0, 0, 10_000],
                max_fee_per_unit: [1; 4],
                priority_fee: 1,
                kind: keel_chain::TxKind::Transfer {
                    to: [0; 32],
                    amount: keel_chain::Amount::ZERO,
                },
            };
            f(&mut t);
            let s = t.sign(&key);
            let len = encode(&s).len();
            stateless_check(&s, len, &config).map_err(|(label, _)| label)
        };
        assert_eq!(tx(&|_| {}), Ok(()));
        assert_eq!(tx(&|t| t.chain_id += 1), Err("wrong_chain"));
        assert_eq!(tx(&|t| t.gas_limits[0] = 1), Err("gas_limit"));
        assert_eq!(tx(&|t| t.gas_limits[3] = 10), Err("gas_limit"), "own bytes");
        assert_eq!(tx(&|t| t.gas_limits[2] = u64::MAX), Err("gas_limit"));
    }
}
