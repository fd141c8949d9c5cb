//! Roots depend only on the write sets; committed state survives reopening.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;

use keel_state::{StateDb, WriteSet};
use proptest::prelude::*;

/// Blocks over a small key space so that updates and deletes of existing keys are common.
fn blocks() -> impl Strategy<Value = Vec<WriteSet>> {
    let key = prop::collection::vec(0u8..4, 1..3);
    let value = prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..6));
    let block = prop::collection::btree_map(key, value, 0..24);
    prop::collection::vec(block, 1..6)
}

fn commit_all(db: &StateDb, blocks: &[WriteSet]) -> Vec<[u8; 32]> {
    blocks
        .iter()
        .enumerate()
        .map(|(v, w)| db.commit_block(v as u64, w.clone()).unwrap().0)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_same_blocks_give_the_same_roots_in_two_fresh_databases(blocks in blocks()) {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let roots_a = commit_all(&StateDb::create(a.path()).unwrap(), &blocks);
        let roots_b = commit_all(&StateDb::create(b.path()).unwrap(), &blocks);
        prop_assert_eq!(roots_a, roots_b);
    }

    #[test]
    fn the_root_depends_only_on_the_resulting_contents(blocks in blocks()) {
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for block in &blocks {
            for (k, v) in block {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
        }
        let incremental = tempfile::tempdir().unwrap();
        let last = *commit_all(&StateDb::create(incremental.path()).unwrap(), &blocks).last().unwrap();
        let one_shot = tempfile::tempdir().unwrap();
        let db = StateDb::create(one_shot.path()).unwrap();
        let final_state: WriteSet = model.into_iter().map(|(k, v)| (k, Some(v))).collect();
        prop_assert_eq!(db.commit_block(0, final_state).unwrap().0, last);
    }

    #[test]
    fn reopening_gives_the_same_roots_and_values_at_every_version(blocks in blocks()) {
        let dir = tempfile::tempdir().unwrap();
        let roots = commit_all(&StateDb::create(dir.path()).unwrap(), &blocks);
        let db = StateDb::open(dir.path()).unwrap();
        prop_assert_eq!(db.latest_version().unwrap(), Some(blocks.len() as u64 - 1));
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let keys: Vec<Vec<u8>> = blocks.iter().flat_map(|b| b.keys().cloned()).collect();
        for (version, block) in blocks.iter().enumerate() {
            for (k, v) in block {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
            prop_assert_eq!(db.root(version as u64).unwrap().0, roots[version]);
            for k in &keys {
                prop_assert_eq!(db.get_at(k, version as u64).unwrap(), model.get(k).cloned());
            }
        }
        for k in &keys {
            prop_assert_eq!(db.get(k).unwrap(), model.get(k).cloned());
        }
    }
}
