//! The pending transactions: admission, replacement, eviction, expiry and pruning.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use keel_chain::{Address, SignedTx, encode};

use crate::config::PoolConfig;
use crate::error::AdmitError;

/// SHA-256 of a signed transaction's canonical encoding ([`SignedTx::hash`]).
pub type TxHash = [u8; 32];

/// One pending transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolEntry {
    /// The transaction as submitted.
    pub tx: SignedTx,
    /// Its hash.
    pub hash: TxHash,
    /// Its sender's address.
    pub sender: Address,
    /// Its encoded size.
    pub bytes: usize,
    /// When it was admitted (caller's clock, milliseconds).
    pub admitted_ms: u64,
    /// Admission order: among equal fees, the newest is evicted first.
    seq: u64,
}

/// What [`Mempool::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The admitted transaction's hash.
    pub hash: TxHash,
    /// The pending transaction it replaced (same sender and nonce), if any.
    pub replaced: Option<TxHash>,
    /// Transactions evicted to make room (lowest-paying first, with their senders' later
    /// nonces, which could no longer execute).
    pub evicted: Vec<TxHash>,
    /// Whether the transaction can go into the next block (no nonce gap before it).
    pub ready: bool,
}

/// Counts for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Transactions pending.
    pub txs: usize,
    /// Encoded bytes pending.
    pub bytes: usize,
    /// Senders with something pending.
    pub senders: usize,
}

/// Bounded pending transactions, ordered per sender by nonce. See the crate docs.
#[derive(Debug, Clone)]
pub struct Mempool {
    config: PoolConfig,
    entries: BTreeMap<TxHash, PoolEntry>,
    senders: BTreeMap<Address, BTreeMap<u64, TxHash>>,
    /// Eviction order: lowest priority fee first, then the newest.
    by_fee: BTreeSet<(u64, Reverse<u64>, TxHash)>,
    /// Expiry order.
    by_age: BTreeSet<(u64, TxHash)>,
    bytes: usize,
    next_seq: u64,
}

/// The least priority fee that replaces one paying `pending`: `pending × (1 + bump %)`,
/// rounded up, and at least `pending + 1`.
pub fn replacement_fee(pending: u64, bump_percent: u64) -> u64 {
    let raised = u128::from(pending)
        .saturating_mul(u128::from(bump_percent).saturating_add(100))
        .saturating_add(99)
        / 100;
    let raised = u64::try_from(raised).unwrap_or(u64::MAX);
    raised.max(pending.saturating_add(1))
}

impl Mempool {
    /// An empty pool with these limits.
    pub fn new(config: PoolConfig) -> Mempool {
        Mempool {
            config,
            entries: BTreeMap::new(),
            senders: BTreeMap::new(),
            by_fee: BTreeSet::new(),
            by_age: BTreeSet::new(),
            bytes: 0,
            next_seq: 0,
        }
    }

    /// The pool's limits.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Counts for metrics.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            txs: self.entries.len(),
            bytes: self.bytes,
            senders: self.senders.len(),
        }
    }

    /// The pending transaction with this hash.
    pub fn get(&self, hash: &TxHash) -> Option<&PoolEntry> {
        self.entries.get(hash)
    }

    /// Whether a transaction with this hash is pending.
    pub fn contains(&self, hash: &TxHash) -> bool {
        self.entries.contains_key(hash)
    }

    /// A sender's pending transactions by nonce (hashes).
    pub(crate) fn sender_queue(&self, sender: &Address) -> Option<&BTreeMap<u64, TxHash>> {
        self.senders.get(sender)
    }

    /// Every sender with something pending, in address order.
    pub fn senders(&self) -> impl Iterator<Item = &Address> {
        self.senders.keys()
    }

    /// Admits `tx` whose sender's next nonce on the head is `account_nonce`, at `now_ms`.
    /// The caller has checked the signature and the chain's stateless rules; the pool checks
    /// its own: size, nonce window, replacement bump, per-sender and total bounds. On error
    /// nothing changed.
    pub fn insert(
        &mut self,
        tx: SignedTx,
        account_nonce: u64,
        now_ms: u64,
    ) -> Result<Admission, AdmitError> {
        let bytes = encode(&tx).len();
        let hash = tx.hash();
        if self.entries.contains_key(&hash) {
            return Err(AdmitError::AlreadyKnown);
        }
        self.check_stateless(&tx, bytes, account_nonce)?;
        let sender = tx.tx.sender_address();
        let nonce = tx.tx.nonce;
        let fee = tx.tx.priority_fee;
        let replaced = self.replacement_of(&sender, nonce, fee)?;
        let queue_len = self.senders.get(&sender).map_or(0, BTreeMap::len);
        if replaced.is_none() && queue_len >= self.config.max_per_sender {
            return Err(AdmitError::SenderFull {
                max: self.config.max_per_sender,
            });
        }
        let evicted = self.plan_eviction(&sender, nonce, fee, bytes, replaced)?;
        if let Some(old) = replaced {
            self.remove(&old);
        }
        for h in &evicted {
            self.remove(h);
        }
        self.add(PoolEntry {
            tx,
            hash,
            sender,
            bytes,
            admitted_ms: now_ms,
            seq: self.next_seq,
        });
        self.next_seq = self.next_seq.saturating_add(1);
        Ok(Admission {
            hash,
            replaced,
            evicted,
            ready: self.is_ready(&sender, nonce, account_nonce),
        })
    }

    fn check_stateless(
        &self,
        tx: &SignedTx,
        bytes: usize,
        account_nonce: u64,
    ) -> Result<(), AdmitError> {
        if bytes > self.config.max_tx_bytes {
            return Err(AdmitError::TooLarge {
                bytes,
                max: self.config.max_tx_bytes,
            });
        }
        let nonce = tx.tx.nonce;
        if nonce < account_nonce {
            return Err(AdmitError::NonceTooLow {
                expected: account_nonce,
                got: nonce,
            });
        }
        if nonce.saturating_sub(account_nonce) > self.config.max_nonce_gap {
            return Err(AdmitError::NonceTooFar {
                expected: account_nonce,
                got: nonce,
                max_gap: self.config.max_nonce_gap,
            });
        }
        Ok(())
    }

    /// The pending transaction this one would replace, or why it may not.
    fn replacement_of(
        &self,
        sender: &Address,
        nonce: u64,
        fee: u64,
    ) -> Result<Option<TxHash>, AdmitError> {
        let Some(old) = self.senders.get(sender).and_then(|q| q.get(&nonce)) else {
            return Ok(None);
        };
        let pending = self.entries.get(old).map_or(0, |e| e.tx.tx.priority_fee);
        let min = replacement_fee(pending, self.config.min_bump_percent);
        if fee < min {
            return Err(AdmitError::Underpriced { pending, min });
        }
        Ok(Some(*old))
    }

    /// Which pending transactions must go so one of `bytes` paying `fee` fits: the
    /// lowest-paying, each with its sender's later nonces. Refuses if a victim would pay as
    /// much as the newcomer, or if only the newcomer's own earlier nonces are left to evict.
    fn plan_eviction(
        &self,
        sender: &Address,
        nonce: u64,
        fee: u64,
        bytes: usize,
        replaced: Option<TxHash>,
    ) -> Result<Vec<TxHash>, AdmitError> {
        let freed_by_replace = replaced
            .and_then(|h| self.entries.get(&h))
            .map_or(0, |e| e.bytes);
        let mut count = self
            .entries
            .len()
            .saturating_sub(usize::from(replaced.is_some()))
            .saturating_add(1);
        let mut total = self
            .bytes
            .saturating_sub(freed_by_replace)
            .saturating_add(bytes);
        let mut victims: BTreeSet<TxHash> = BTreeSet::new();
        let mut order = Vec::new();
        let mut candidates = self.by_fee.iter();
        while count > self.config.max_txs || total > self.config.max_bytes {
            let Some((low_fee, _, h)) = candidates.next() else {
                return Err(AdmitError::PoolFull { lowest: fee });
            };
            if victims.contains(h) || Some(*h) == replaced {
                continue;
            }
            if *low_fee >= fee {
                return Err(AdmitError::PoolFull { lowest: *low_fee });
            }
            let Some(victim) = self.entries.get(h) else {
                continue;
            };
            if victim.sender == *sender && victim.tx.tx.nonce < nonce {
                // Evicting our own earlier nonce would leave the newcomer behind a gap.
                continue;
            }
            let later = self
                .senders
                .get(&victim.sender)
                .into_iter()
                .flat_map(|q| q.range(victim.tx.tx.nonce..).map(|(_, h)| *h));
            for v in later {
                if Some(v) == replaced || !victims.insert(v) {
                    continue;
                }
                if let Some(e) = self.entries.get(&v) {
                    count = count.saturating_sub(1);
                    total = total.saturating_sub(e.bytes);
                    order.push(v);
                }
            }
        }
        Ok(order)
    }

    fn is_ready(&self, sender: &Address, nonce: u64, account_nonce: u64) -> bool {
        let Some(q) = self.senders.get(sender) else {
            return false;
        };
        let mut expected = account_nonce;
        for n in q.range(account_nonce..=nonce).map(|(n, _)| *n) {
            if n != expected {
                return false;
            }
            expected = expected.saturating_add(1);
        }
        expected > nonce
    }

    fn add(&mut self, e: PoolEntry) {
        self.bytes = self.bytes.saturating_add(e.bytes);
        self.senders
            .entry(e.sender)
            .or_default()
            .insert(e.tx.tx.nonce, e.hash);
        self.by_fee
            .insert((e.tx.tx.priority_fee, Reverse(e.seq), e.hash));
        self.by_age.insert((e.admitted_ms, e.hash));
        self.entries.insert(e.hash, e);
    }

    /// Removes one transaction (and nothing else); `None` if it was not pending.
    pub fn remove(&mut self, hash: &TxHash) -> Option<PoolEntry> {
        let e = self.entries.remove(hash)?;
        self.bytes = self.bytes.saturating_sub(e.bytes);
        if let Some(q) = self.senders.get_mut(&e.sender) {
            q.remove(&e.tx.tx.nonce);
            if q.is_empty() {
                self.senders.remove(&e.sender);
            }
        }
        self.by_fee
            .remove(&(e.tx.tx.priority_fee, Reverse(e.seq), e.hash));
        self.by_age.remove(&(e.admitted_ms, e.hash));
        Some(e)
    }

    /// Drops every transaction admitted `ttl_ms` or more before `now_ms`. A sender's later
    /// nonces stay (held back by the gap) until they expire themselves or the gap is filled.
    pub fn expire(&mut self, now_ms: u64) -> Vec<TxHash> {
        let cutoff = now_ms.saturating_sub(self.config.ttl_ms);
        let mut gone = Vec::new();
        while let Some(&(at, h)) = self.by_age.first() {
            if at > cutoff || now_ms < self.config.ttl_ms {
                break;
            }
            self.remove(&h);
            gone.push(h);
        }
        gone
    }

    /// Drops `sender`'s transactions with nonces below `next_nonce` (used by a committed
    /// block, or otherwise spent).
    pub fn prune_sender(&mut self, sender: &Address, next_nonce: u64) -> Vec<TxHash> {
        let stale: Vec<TxHash> = self
            .senders
            .get(sender)
            .map(|q| q.range(..next_nonce).map(|(_, h)| *h).collect())
            .unwrap_or_default();
        for h in &stale {
            self.remove(h);
        }
        stale
    }

    /// Checks every internal index against the entries and every bound of the config.
    /// For tests and debugging; `Err` names the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        let c = &self.config;
        if self.entries.len() > c.max_txs {
            return Err(format!("{} txs > max {}", self.entries.len(), c.max_txs));
        }
        if self.bytes > c.max_bytes {
            return Err(format!("{} bytes > max {}", self.bytes, c.max_bytes));
        }
        let bytes: usize = self.entries.values().map(|e| e.bytes).sum();
        if bytes != self.bytes {
            return Err(format!("byte total {} != sum {bytes}", self.bytes));
        }
        if self.by_fee.len() != self.entries.len() || self.by_age.len() != self.entries.len() {
            return Err("index sizes differ from the entries".into());
        }
        let mut queued = 0usize;
        for (sender, q) in &self.senders {
            if q.is_empty() || q.len() > c.max_per_sender {
                return Err(format!("sender queue of {} entries", q.len()));
            }
            for (n, h) in q {
                let e = self.entries.get(h).ok_or("queue names a missing entry")?;
                if e.sender != *sender || e.tx.tx.nonce != *n {
                    return Err("queue entry under the wrong sender or nonce".into());
                }
            }
            queued = queued.saturating_add(q.len());
        }
        if queued != self.entries.len() {
            return Err("entries missing from the sender queues".into());
        }
        Ok(())
    }
}
