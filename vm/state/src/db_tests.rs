//! Opening, format checks and commit bookkeeping of [`StateDb`].
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use super::*;
use crate::keys::account_key;

fn writes(pairs: &[(&[u8], Option<&[u8]>)]) -> WriteSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect()
}

fn set_format(dir: &Path, format: u32) {
    let db = Database::open(dir.join(DB_FILE_NAME)).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(META)
        .unwrap()
        .insert(META_FORMAT, format.to_be_bytes().as_slice())
        .unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_newer_format_is_refused_with_an_operator_message_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(StateDb::create(dir.path()).unwrap());
    set_format(dir.path(), FORMAT_VERSION + 1);
    let before = fs::read(dir.path().join(DB_FILE_NAME)).unwrap();

    let err = StateDb::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StateError::FormatTooNew { found, supported, .. }
            if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("newer") || message.contains("only understands"),
        "{message}"
    );
    assert!(message.contains("upgrade keel"), "{message}");
    assert!(message.contains("not modified"), "{message}");
    assert!(message.contains(DB_FILE_NAME), "{message}");

    let untouched = fs::read(dir.path().join(DB_FILE_NAME)).unwrap() == before;
    assert!(untouched, "the refused database file was modified");
    // Also refused through open_or_create, which must not recreate it.
    assert!(matches!(
        StateDb::open_or_create(dir.path()),
        Err(StateError::FormatTooNew { .. })
    ));
}

#[test]
fn an_older_format_is_refused_as_needing_migration() {
    let dir = tempfile::tempdir().unwrap();
    drop(StateDb::create(dir.path()).unwrap());
    set_format(dir.path(), FORMAT_VERSION - 1);
    let err = StateDb::open(dir.path()).unwrap_err();
    assert!(matches!(err, StateError::FormatTooOld { .. }), "{err:?}");
    assert!(err.to_string().contains("migration"));
}

#[test]
fn a_redb_file_without_keel_tables_is_an_unrecognized_layout() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::create(dir.path().join(DB_FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        let other: TableDefinition<u64, u64> = TableDefinition::new("something_else");
        txn.open_table(other).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    let err = StateDb::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StateError::UnrecognizedLayout { .. }),
        "{err:?}"
    );
}

#[test]
fn a_meta_table_of_the_wrong_types_is_an_unrecognized_layout() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::create(dir.path().join(DB_FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        let wrong: TableDefinition<u64, u64> = TableDefinition::new("meta");
        txn.open_table(wrong).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    let err = StateDb::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StateError::UnrecognizedLayout { .. }),
        "{err:?}"
    );
}

#[test]
fn open_without_a_database_is_not_found_and_create_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        StateDb::open(dir.path()),
        Err(StateError::NotFound { .. })
    ));
    drop(StateDb::create(dir.path()).unwrap());
    assert!(matches!(
        StateDb::create(dir.path()),
        Err(StateError::AlreadyExists { .. })
    ));
    assert!(!dir.path().join(format!("{DB_FILE_NAME}.init")).exists());
}

#[test]
fn versions_must_start_at_zero_and_be_consecutive() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let w = writes(&[(b"k", Some(b"v"))]);
    assert!(matches!(
        db.commit_block(1, w.clone()),
        Err(StateError::VersionOutOfOrder {
            expected: 0,
            got: 1
        })
    ));
    db.commit_block(0, w.clone()).unwrap();
    assert!(matches!(
        db.commit_block(0, w.clone()),
        Err(StateError::VersionOutOfOrder {
            expected: 1,
            got: 0
        })
    ));
    assert!(matches!(
        db.commit_block(2, w.clone()),
        Err(StateError::VersionOutOfOrder {
            expected: 1,
            got: 2
        })
    ));
    db.commit_block(1, w).unwrap();
    assert_eq!(db.latest_version().unwrap(), Some(1));
    assert_eq!(db.next_version().unwrap(), 2);
}

#[test]
fn a_refused_commit_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    db.commit_block(0, writes(&[(b"k", Some(b"v0"))])).unwrap();
    assert!(db.commit_block(5, writes(&[(b"k", Some(b"v5"))])).is_err());
    assert_eq!(db.get(b"k").unwrap(), Some(b"v0".to_vec()));
    assert_eq!(db.latest_version().unwrap(), Some(0));
}

#[test]
fn reads_at_uncommitted_versions_are_unknown_version_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    assert!(matches!(
        db.root(0),
        Err(StateError::UnknownVersion {
            version: 0,
            latest: None
        })
    ));
    db.commit_block(0, WriteSet::new()).unwrap();
    assert!(matches!(
        db.get_at(b"k", 1),
        Err(StateError::UnknownVersion { .. })
    ));
    assert!(matches!(
        db.prove(b"k", 1),
        Err(StateError::UnknownVersion { .. })
    ));
    assert!(matches!(
        db.block_aux(1),
        Err(StateError::UnknownVersion { .. })
    ));
}

#[test]
fn values_are_readable_at_every_committed_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let k = account_key(&[1; 32]);
    db.commit_block(0, [(k.clone(), Some(b"a".to_vec()))].into())
        .unwrap();
    db.commit_block(1, WriteSet::new()).unwrap();
    db.commit_block(2, [(k.clone(), Some(b"b".to_vec()))].into())
        .unwrap();
    db.commit_block(3, [(k.clone(), None)].into()).unwrap();
    db.commit_block(4, [(k.clone(), Some(vec![]))].into())
        .unwrap();
    let history: Vec<_> = (0..=4).map(|v| db.get_at(&k, v).unwrap()).collect();
    assert_eq!(
        history,
        vec![
            Some(b"a".to_vec()),
            Some(b"a".to_vec()),
            Some(b"b".to_vec()),
            None,
            Some(vec![])
        ]
    );
    assert_eq!(db.get(&k).unwrap(), Some(vec![]));
}

#[test]
fn an_empty_block_keeps_the_root_and_deleting_everything_gives_the_empty_root() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let empty = db.commit_block(0, WriteSet::new()).unwrap();
    let one = db.commit_block(1, writes(&[(b"a", Some(b"1"))])).unwrap();
    assert_ne!(empty, one);
    assert_eq!(db.commit_block(2, WriteSet::new()).unwrap(), one);
    assert_eq!(db.commit_block(3, writes(&[(b"a", None)])).unwrap(), empty);
}

#[test]
fn deleting_an_absent_key_or_restating_a_value_changes_no_root() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let root = db
        .commit_block(0, writes(&[(b"a", Some(b"1")), (b"b", Some(b"2"))]))
        .unwrap();
    let again = db
        .commit_block(1, writes(&[(b"a", Some(b"1")), (b"zz", None)]))
        .unwrap();
    assert_eq!(root, again);
    assert_eq!(db.get(b"zz").unwrap(), None);
}

#[test]
fn block_aux_is_stored_atomically_with_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    db.commit_block_with_aux(0, writes(&[(b"a", Some(b"1"))]), b"header-0")
        .unwrap();
    db.commit_block(1, WriteSet::new()).unwrap();
    assert_eq!(db.block_aux(0).unwrap(), Some(b"header-0".to_vec()));
    assert_eq!(db.block_aux(1).unwrap(), None);
}

#[test]
fn a_view_is_a_snapshot_unaffected_by_later_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let r0 = db.commit_block(0, writes(&[(b"a", Some(b"1"))])).unwrap();
    let view = db.view().unwrap();
    db.commit_block(1, writes(&[(b"a", Some(b"2"))])).unwrap();
    assert_eq!(view.version(), Some(0));
    assert_eq!(view.root().unwrap(), Some(r0));
    assert_eq!(view.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(b"a").unwrap(), Some(b"2".to_vec()));
}

#[test]
fn scan_prefix_returns_only_matching_keys_in_order_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let c = [5u8; 32];
    let mut w = WriteSet::new();
    for slot in [3u8, 1, 2] {
        w.insert(crate::keys::storage_key(&c, &[slot]), Some(vec![slot]));
    }
    w.insert(crate::keys::storage_key(&[6u8; 32], &[0]), Some(vec![9]));
    w.insert(account_key(&c), Some(vec![7]));
    db.commit_block(0, w).unwrap();
    let view = db.view().unwrap();
    let prefix = crate::keys::storage_prefix(&c);
    let all = view.scan_prefix(&prefix, 10).unwrap();
    let values: Vec<_> = all.iter().map(|(_, v)| v[0]).collect();
    assert_eq!(values, vec![1, 2, 3]);
    assert_eq!(view.scan_prefix(&prefix, 2).unwrap().len(), 2);
}

#[test]
fn the_rightmost_leaf_is_the_largest_key_hash() {
    use jmt::storage::TreeReader;
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let keys: Vec<Vec<u8>> = (0u8..20).map(|i| vec![i]).collect();
    db.commit_block(0, keys.iter().map(|k| (k.clone(), Some(vec![1]))).collect())
        .unwrap();
    let txn = db.db.begin_read().unwrap();
    let tree = TreeTables {
        nodes: txn.open_table(NODES).unwrap(),
        values: txn.open_table(VALUES).unwrap(),
    };
    let (_, leaf) = tree.get_rightmost_leaf().unwrap().unwrap();
    let max = keys.iter().map(|k| key_hash(k)).max().unwrap();
    assert_eq!(leaf.key_hash(), max);
}
