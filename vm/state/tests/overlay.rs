//! Forked state contexts: reads fall through, reverts leave no trace, commits keep writes.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;

use keel_state::{Overlay, StateDb, StateError, StateRead, WriteSet};
use proptest::prelude::*;

type Base = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Clone, Debug)]
enum Op {
    Set(u8, u8),
    /// A write that carries its decoded value (`Overlay::write_decoded`).
    SetDecoded(u8, u8),
    /// `Overlay::rewrite_decoded` of `len` copies of a byte (buffers of other lengths reused).
    Rewrite(u8, u8, usize),
    Delete(u8),
    Read(u8),
    /// A read through the kept decodings (`Overlay::get_decoded`).
    ReadDecoded(u8),
    Fork,
    Commit,
    Revert,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        2 => (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::SetDecoded(k, v)),
        3 => (0u8..6, any::<u8>(), 1usize..4).prop_map(|(k, v, n)| Op::Rewrite(k, v, n)),
        1 => (0u8..6).prop_map(Op::Delete),
        2 => (0u8..6).prop_map(Op::Read),
        3 => (0u8..6).prop_map(Op::ReadDecoded),
        2 => Just(Op::Fork),
        1 => Just(Op::Commit),
        1 => Just(Op::Revert),
    ]
}

/// The reference: one full copy of the pending writes per open context.
struct Model {
    stack: Vec<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl Model {
    fn get(&self, base: &Base, key: &[u8]) -> Option<Vec<u8>> {
        let top = self.stack.last().unwrap();
        match top.get(key) {
            Some(pending) => pending.clone(),
            None => base.get(key).cloned(),
        }
    }
}

/// The test's record type: a record's first byte.
fn first_byte(bytes: Option<&[u8]>) -> Result<Option<u8>, StateError> {
    Ok(bytes.and_then(|b| b.first().copied()))
}

fn base() -> Base {
    (0u8..3).map(|k| (vec![k], vec![100 + k])).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn overlay_matches_a_copy_per_context_model(ops in prop::collection::vec(op(), 0..60)) {
        let base = base();
        let mut overlay = Overlay::new(&base);
        let mut model = Model { stack: vec![BTreeMap::new()] };
        for op in ops {
            match op {
                Op::Set(k, v) => {
                    overlay.set(vec![k], vec![v]);
                    model.stack.last_mut().unwrap().insert(vec![k], Some(vec![v]));
                }
                Op::SetDecoded(k, v) => {
                    overlay.write_decoded(vec![k], Some(vec![v]), Some(v));
                    model.stack.last_mut().unwrap().insert(vec![k], Some(vec![v]));
                }
                Op::Rewrite(k, v, n) => {
                    overlay.rewrite_decoded(&[k], |out| out.extend(std::iter::repeat_n(v, n)), Some(v));
                    model.stack.last_mut().unwrap().insert(vec![k], Some(vec![v; n]));
                }
                Op::Delete(k) => {
                    overlay.delete(vec![k]);
                    model.stack.last_mut().unwrap().insert(vec![k], None);
                }
                Op::Read(k) => {
                    prop_assert_eq!(overlay.get(&[k]).unwrap(), model.get(&base, &[k]));
                }
                Op::ReadDecoded(k) => {
                    let expected = model.get(&base, &[k]).and_then(|v| v.first().copied());
                    prop_assert_eq!(overlay.get_decoded(&[k], first_byte).unwrap(), expected);
                }
                Op::Fork => {
                    let depth = overlay.fork();
                    let top = model.stack.last().unwrap().clone();
                    model.stack.push(top);
                    prop_assert_eq!(depth, model.stack.len() - 1);
                }
                Op::Commit => {
                    let result = overlay.commit_child();
                    if model.stack.len() == 1 {
                        prop_assert!(matches!(result, Err(StateError::NoOpenContext)));
                    } else {
                        prop_assert!(result.is_ok());
                        let top = model.stack.pop().unwrap();
                        *model.stack.last_mut().unwrap() = top;
                    }
                }
                Op::Revert => {
                    let result = overlay.revert_child();
                    if model.stack.len() == 1 {
                        prop_assert!(matches!(result, Err(StateError::NoOpenContext)));
                    } else {
                        prop_assert!(result.is_ok());
                        model.stack.pop();
                    }
                }
            }
            prop_assert_eq!(overlay.depth(), model.stack.len() - 1);
            prop_assert_eq!(&overlay.pending_writes(), model.stack.last().unwrap());
        }
        // Whatever is still open fails: revert it, then the write set is the root context's.
        while overlay.depth() > 0 {
            overlay.revert_child().unwrap();
            model.stack.pop();
        }
        prop_assert_eq!(overlay.into_writes().unwrap(), model.stack.pop().unwrap());
    }
}

/// Two-byte keys over a small alphabet, so prefixes of length 0, 1 and 2 all select something.
fn short_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..3, 2)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `merge_under` is the base's entries under the prefix with the pending writes applied,
    /// sorted — whatever order the writes (and a reverted child's writes) came in.
    #[test]
    fn merge_under_lists_the_base_with_pending_writes_applied(
        base in prop::collection::btree_map(short_key(), any::<u8>(), 0..9),
        writes in prop::collection::vec((short_key(), prop::option::of(any::<u8>())), 0..12),
        reverted in prop::collection::vec((short_key(), prop::option::of(any::<u8>())), 0..6),
        prefix in prop::collection::vec(0u8..3, 0..3),
    ) {
        let base: Base = base.into_iter().map(|(k, v)| (k, vec![v])).collect();
        let mut overlay = Overlay::new(&base);
        let mut model = base.clone();
        for (k, v) in writes {
            overlay.write(k.clone(), v.map(|v| vec![v]));
            match v {
                Some(v) => model.insert(k, vec![v]),
                None => model.remove(&k),
            };
        }
        overlay.fork();
        for (k, v) in reverted {
            overlay.write(k, v.map(|v| vec![v]));
        }
        overlay.revert_child().unwrap();
        let base_under: Vec<_> = base
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let expected: Vec<_> = model.into_iter().filter(|(k, _)| k.starts_with(&prefix)).collect();
        prop_assert_eq!(overlay.merge_under(&prefix, base_under), expected);
    }
}

#[test]
fn a_kept_decoding_is_served_without_decoding_and_dropped_when_its_bytes_change() {
    let base = base();
    let mut overlay = Overlay::new(&base);
    let decodes = std::cell::Cell::new(0);
    let counted = |bytes: Option<&[u8]>| {
        decodes.set(decodes.get() + 1);
        first_byte(bytes)
    };
    assert_eq!(overlay.get_decoded(&[0], counted).unwrap(), Some(100));
    assert_eq!(overlay.get_decoded(&[0], counted).unwrap(), Some(100));
    assert_eq!(
        decodes.get(),
        1,
        "the second read is served from the kept decoding"
    );
    // Another type under the same key is a miss, not a wrong value.
    let len = overlay
        .get_decoded(&[0], |b| Ok::<_, StateError>(b.map_or(0, <[u8]>::len)))
        .unwrap();
    assert_eq!(len, 1);
    overlay.fork();
    overlay.write_decoded(vec![0], Some(vec![7]), Some(7u8));
    assert_eq!(overlay.get_decoded(&[0], counted).unwrap(), Some(7));
    assert_eq!(decodes.get(), 1);
    overlay.revert_child().unwrap();
    assert_eq!(overlay.get_decoded(&[0], counted).unwrap(), Some(100));
    assert_eq!(
        decodes.get(),
        2,
        "a reverted write's decoding is not served"
    );
    overlay.set(vec![0], vec![9]);
    assert_eq!(overlay.get_decoded(&[0], counted).unwrap(), Some(9));
    assert_eq!(decodes.get(), 3, "a raw write drops the kept decoding");
}

#[test]
fn into_writes_refuses_while_a_child_is_open() {
    let base = base();
    let mut overlay = Overlay::new(&base);
    overlay.fork();
    overlay.set(b"k".to_vec(), b"v".to_vec());
    assert!(matches!(
        overlay.into_writes(),
        Err(StateError::ContextsStillOpen { open: 1 })
    ));
}

#[test]
fn reverting_an_outer_context_undoes_its_committed_children() {
    let base = base();
    let mut overlay = Overlay::new(&base);
    overlay.set(vec![0], vec![1]);
    overlay.fork();
    overlay.set(vec![0], vec![2]);
    overlay.fork();
    overlay.delete(vec![1]);
    overlay.commit_child().unwrap();
    assert_eq!(overlay.get(&[1]).unwrap(), None);
    overlay.revert_child().unwrap();
    assert_eq!(overlay.get(&[0]).unwrap(), Some(vec![1]));
    assert_eq!(overlay.get(&[1]).unwrap(), Some(vec![101]));
    assert_eq!(
        overlay.into_writes().unwrap(),
        WriteSet::from([(vec![0], Some(vec![1]))])
    );
}

#[test]
fn a_block_executed_in_an_overlay_over_a_view_commits_only_successful_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    db.commit_block(0, [(b"alice".to_vec(), Some(vec![10]))].into())
        .unwrap();

    let view = db.view().unwrap();
    let mut block = Overlay::new(&view);
    // tx 1 succeeds, tx 2 fails after writing, tx 3 succeeds reading tx 1's write.
    block.fork();
    block.set(b"bob".to_vec(), vec![5]);
    block.commit_child().unwrap();
    block.fork();
    block.set(b"alice".to_vec(), vec![0]);
    block.set(b"carol".to_vec(), vec![1]);
    block.revert_child().unwrap();
    block.fork();
    let bob = block.read(b"bob").unwrap().unwrap();
    block.set(b"dave".to_vec(), bob);
    block.commit_child().unwrap();
    let writes = block.into_writes().unwrap();
    drop(view);

    db.commit_block(1, writes).unwrap();
    assert_eq!(db.get(b"alice").unwrap(), Some(vec![10]));
    assert_eq!(db.get(b"bob").unwrap(), Some(vec![5]));
    assert_eq!(db.get(b"carol").unwrap(), None);
    assert_eq!(db.get(b"dave").unwrap(), Some(vec![5]));
}

#[test]
fn written_in_child_lists_the_innermost_childs_surviving_writes() {
    let base = base();
    let mut o = Overlay::new(&base);
    o.set(b"a".to_vec(), vec![1]);
    assert_eq!(o.written_in_child().count(), 0);
    o.fork();
    o.set(b"b".to_vec(), vec![2]);
    o.fork();
    o.set(b"c".to_vec(), vec![3]);
    o.revert_child().unwrap();
    o.fork();
    o.delete(b"d".to_vec());
    o.commit_child().unwrap();
    o.set(b"b".to_vec(), vec![4]);
    let keys: Vec<&[u8]> = o.written_in_child().collect();
    assert_eq!(keys, [&b"b"[..], b"d", b"b"]);
}
