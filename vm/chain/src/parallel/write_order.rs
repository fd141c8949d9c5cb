//! The block's write set from its committed state, sorted on the block's threads.
//!
//! Ordering the block's writes by key is the largest step left after the last commit: a
//! thousand-transaction block writes thousands of keys that share long prefixes. The sequential
//! executor sorts them on its one thread ([`keel_state::Overlay::into_writes`]); here each
//! thread sorts a share and the sorted shares are merged. Keys are unique, so the result is the
//! one sorted write set whatever the split.

use keel_state::{Overlay, PendingWrite, StateError, StateRead, WriteSet};

/// Fewer writes than this are sorted on one thread: a thread costs more than it saves.
const SPLIT_FROM: usize = 2048;

/// Most shares sorted at once (more only contend on the same cores).
const MAX_SHARES: usize = 8;

/// [`Overlay::into_writes`] of `o`, sorted on up to `threads` threads. Same write set.
///
/// # Errors
/// [`StateError::ContextsStillOpen`] if a child context of `o` is still open.
pub(crate) fn into_writes<B: StateRead>(
    o: Overlay<B>,
    threads: usize,
) -> Result<WriteSet, StateError> {
    if o.depth() != 0 {
        return Err(StateError::ContextsStillOpen { open: o.depth() });
    }
    let (_, mut writes) = o.into_parts();
    let shares = threads.clamp(1, MAX_SHARES);
    if shares > 1 && writes.len() >= SPLIT_FROM {
        sort_shares(&mut writes, shares);
    }
    // A stable sort of sorted runs is a merge of them; then the map is built from sorted keys.
    Ok(writes.into_iter().collect())
}

/// Sorts `shares` consecutive shares of `writes` by key, one per thread (the calling thread
/// sorts the last). A share whose thread cannot start stays unsorted: the final collect sorts
/// whatever it is given, so only time is lost.
fn sort_shares(writes: &mut [PendingWrite], shares: usize) {
    let size = writes.len().div_ceil(shares).max(1);
    std::thread::scope(|s| {
        let mut chunks = writes.chunks_mut(size);
        let last = chunks.next_back();
        for chunk in chunks {
            let spawned = std::thread::Builder::new()
                .name("keel-sort".into())
                .spawn_scoped(s, || sort_by_key(chunk));
            if let Err(e) = spawned {
                tracing::debug!("cannot spawn a sorting thread: {e}");
            }
        }
        if let Some(last) = last {
            sort_by_key(last);
        }
    });
}

fn sort_by_key(writes: &mut [PendingWrite]) {
    writes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn overlay(n: usize) -> Overlay<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut o = Overlay::new(BTreeMap::new());
        for i in 0..n {
            // Long shared prefixes, written out of order.
            let k = i.wrapping_mul(7919).checked_rem(n).unwrap_or(0) as u64;
            let mut key = vec![0xab; 40];
            key.extend_from_slice(&k.to_be_bytes());
            o.write(
                key,
                (!k.is_multiple_of(3)).then(|| k.to_le_bytes().to_vec()),
            );
        }
        o
    }

    #[test]
    fn the_write_set_is_the_sequential_one_for_every_thread_count() {
        for n in [0, 1, 5, SPLIT_FROM - 1, SPLIT_FROM, 3 * SPLIT_FROM + 7] {
            let want = overlay(n).into_writes().unwrap();
            for threads in [1, 2, 3, 4, 8, 64] {
                assert_eq!(
                    into_writes(overlay(n), threads).unwrap(),
                    want,
                    "{n} / {threads}"
                );
            }
        }
    }

    #[test]
    fn an_open_context_is_refused() {
        let mut o = overlay(3);
        o.fork();
        assert!(matches!(
            into_writes(o, 2),
            Err(StateError::ContextsStillOpen { open: 1 })
        ));
    }
}
