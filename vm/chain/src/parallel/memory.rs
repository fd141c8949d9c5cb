//! Multi-version memory: for every state key, what each transaction of the block wrote to it,
//! by transaction index. Transaction `k` reads the latest entry of a transaction before `k`
//! (or the block's base), never anything a later transaction wrote.
//!
//! Besides plain writes an entry can be a **credit** (a commutative delta on the account
//! record under the key: the proposer's tip) or an **estimate** (the writer is being
//! re-executed; a reader waits for its new entries instead of reading a value about to change).
//! Credits of different transactions never conflict with each other: a reader that needs the
//! exact value materializes it (latest write, then every credit after it in block order, each
//! checked exactly as the sequential executor's `credit` checks it).
//!
//! Sharded by key hash so workers rarely contend on one lock. The maps are only looked up by key,
//! never iterated, so their order cannot reach a result.

use crate::tx::{decode, encode};
use crate::types::{Account, Amount};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

/// What one transaction left under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The value written (`None` = deleted).
    Write(Option<Vec<u8>>),
    /// A credit of this amount to the account record stored under the key.
    Credit(Amount),
    /// The writer is being re-executed: its next entries replace this one.
    Estimate,
}

/// The answer to a read of transaction `k`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The latest write before `k` (`None`: no transaction before `k` wrote the key, read the
    /// block's base) and the credits after it, oldest first.
    Found {
        write: Option<Option<Vec<u8>>>,
        credits: Vec<Amount>,
    },
    /// Transaction `j < k` is being re-executed and may write the key: wait for it.
    Estimate(usize),
}

/// A credit to an account record would overflow its balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CreditOverflow;

/// Versions of one key: (transaction index, entry), ascending by index. Most keys have one or
/// two writers in a block, so a sorted vector beats a tree (no node allocation per version).
type Versions = Vec<(usize, Entry)>;

/// Enough shards that two workers rarely meet on one lock, few enough to stay small.
const SHARDS: usize = 64;

/// The shard map: seeded per process; only looked up by key, never iterated.
type Shard = HashMap<Vec<u8>, Versions, foldhash::fast::RandomState>;

pub(crate) struct MvMemory {
    shards: Vec<Mutex<Shard>>,
    /// Picks a key's shard (any fixed spread will do: it decides only which lock is taken).
    spread: foldhash::fast::FixedState,
}

impl MvMemory {
    pub fn new() -> Self {
        MvMemory {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            spread: foldhash::fast::FixedState::default(),
        }
    }

    fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        let h = self.spread.hash_one(key);
        // `SHARDS` is a non-zero constant: the remainder always indexes `shards`.
        let i = usize::try_from(h.checked_rem(SHARDS as u64).unwrap_or(0)).unwrap_or(0);
        let shard = self.shards.get(i).unwrap_or_else(|| &self.shards[0]);
        shard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What transaction `reader` sees under `key`.
    pub fn lookup(&self, key: &[u8], reader: usize) -> Lookup {
        let shard = self.shard(key);
        let Some(versions) = shard.get(key) else {
            return Lookup::Found {
                write: None,
                credits: Vec::new(),
            };
        };
        let before = versions.partition_point(|(writer, _)| *writer < reader);
        let mut credits = Vec::new();
        for (writer, entry) in versions.get(..before).unwrap_or_default().iter().rev() {
            match entry {
                Entry::Write(v) => {
                    credits.reverse();
                    return Lookup::Found {
                        write: Some(v.clone()),
                        credits,
                    };
                }
                Entry::Credit(c) => credits.push(*c),
                Entry::Estimate => return Lookup::Estimate(*writer),
            }
        }
        credits.reverse();
        Lookup::Found {
            write: None,
            credits,
        }
    }

    /// Replaces what transaction `tx` left: its entries under `old` keys go, `new` ones come.
    pub fn publish<'k>(
        &self,
        tx: usize,
        old: impl IntoIterator<Item = &'k [u8]>,
        new: impl IntoIterator<Item = (&'k [u8], Entry)>,
    ) {
        for key in old {
            if let Some(versions) = self.shard(key).get_mut(key) {
                versions.retain(|(writer, _)| *writer != tx);
            }
        }
        for (key, entry) in new {
            let mut shard = self.shard(key);
            match shard.get_mut(key) {
                Some(versions) => {
                    let at = versions.partition_point(|(writer, _)| *writer < tx);
                    match versions.get_mut(at) {
                        Some((writer, slot)) if *writer == tx => *slot = entry,
                        _ => versions.insert(at, (tx, entry)),
                    }
                }
                None => {
                    shard.insert(key.to_vec(), vec![(tx, entry)]);
                }
            }
        }
    }

    /// Turns transaction `tx`'s entries under `keys` into estimates (it is re-executing).
    pub fn mark_estimates<'k>(&self, tx: usize, keys: impl IntoIterator<Item = &'k [u8]>) {
        for key in keys {
            let mut shard = self.shard(key);
            let Some(versions) = shard.get_mut(key) else {
                continue;
            };
            if let Some((_, entry)) = versions.iter_mut().find(|(writer, _)| *writer == tx) {
                *entry = Entry::Estimate;
            }
        }
    }
}

/// The account record `value` after `credits`, applied in order with the sequential executor's
/// check (a missing record is a default account, as `credit` creates it).
///
/// # Errors
/// [`CreditOverflow`] when a balance would exceed a u256, or the record does not decode (the
/// sequential executor fails the block there too; a speculative reader re-runs at commit).
pub(crate) fn materialize(
    value: Option<Vec<u8>>,
    credits: &[Amount],
) -> Result<Option<Vec<u8>>, CreditOverflow> {
    if credits.is_empty() {
        return Ok(value);
    }
    let mut account: Account = match &value {
        Some(bytes) => decode("account", bytes).map_err(|_| CreditOverflow)?,
        None => Account::default(),
    };
    for c in credits {
        account.balance = account.balance.checked_add(*c).ok_or(CreditOverflow)?;
    }
    Ok(Some(encode(&account)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_the_latest_write_before_it_and_the_credits_after() {
        let m = MvMemory::new();
        m.publish(6, [], [(&b"a"[..], Entry::Write(None))]);
        m.publish(1, [], [(&b"a"[..], Entry::Write(Some(vec![1])))]);
        m.publish(4, [], [(&b"a"[..], Entry::Credit(Amount::from_u128(7)))]);
        m.publish(3, [], [(&b"a"[..], Entry::Credit(Amount::from_u128(5)))]);
        assert_eq!(
            m.lookup(b"a", 1),
            Lookup::Found {
                write: None,
                credits: vec![]
            }
        );
        assert_eq!(
            m.lookup(b"a", 6),
            Lookup::Found {
                write: Some(Some(vec![1])),
                credits: vec![Amount::from_u128(5), Amount::from_u128(7)]
            }
        );
        assert_eq!(
            m.lookup(b"a", 9),
            Lookup::Found {
                write: Some(None),
                credits: vec![]
            }
        );
    }

    #[test]
    fn an_estimate_makes_later_readers_wait_and_a_republish_clears_it() {
        let m = MvMemory::new();
        m.publish(2, [], [(&b"a"[..], Entry::Write(Some(vec![1])))]);
        m.publish(1, [], [(&b"a"[..], Entry::Write(Some(vec![0])))]);
        m.mark_estimates(2, [&b"a"[..]]);
        assert_eq!(m.lookup(b"a", 3), Lookup::Estimate(2));
        // The new incarnation no longer writes `a`.
        m.publish(2, [&b"a"[..]], [(&b"b"[..], Entry::Write(None))]);
        assert_eq!(
            m.lookup(b"a", 3),
            Lookup::Found {
                write: Some(Some(vec![0])),
                credits: vec![]
            }
        );
    }

    #[test]
    fn a_republish_replaces_the_entry_of_the_same_transaction() {
        let m = MvMemory::new();
        m.publish(2, [], [(&b"a"[..], Entry::Write(Some(vec![1])))]);
        m.publish(2, [], [(&b"a"[..], Entry::Write(Some(vec![2])))]);
        assert_eq!(
            m.lookup(b"a", 3),
            Lookup::Found {
                write: Some(Some(vec![2])),
                credits: vec![]
            }
        );
    }

    #[test]
    fn credits_materialize_like_sequential_credits_and_refuse_overflow() {
        let start = Account {
            balance: Amount::from_u128(10),
            ..Account::default()
        };
        let got = materialize(Some(encode(&start)), &[Amount::from_u128(1)]);
        let want = Account {
            balance: Amount::from_u128(11),
            ..Account::default()
        };
        assert_eq!(got, Ok(Some(encode(&want))));
        assert_eq!(
            materialize(None, &[Amount::ZERO]),
            Ok(Some(encode(&Account::default())))
        );
        let max = Amount([0xff; 32]);
        assert_eq!(
            materialize(None, &[max, Amount::from_u128(1)]),
            Err(CreditOverflow)
        );
        assert_eq!(materialize(Some(vec![9]), &[]), Ok(Some(vec![9])));
    }
}
