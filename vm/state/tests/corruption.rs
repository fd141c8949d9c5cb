//! A flipped byte in `state.redb` is never read as a different value: reads return the honest
//! value or fail, `open` refuses a damaged head, and the full check finds every damage a read or
//! proof can observe. Bytes are flipped exactly where value bytes (and leaf value hashes) sit in
//! the file, found by searching it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests fail loudly by design

use std::path::Path;

use keel_state::keys::account_key;
use keel_state::{DB_FILE_NAME, StateDb, StateError, WriteSet, verify_proof};
use sha2::Digest;

const ACCOUNTS: u8 = 24;

/// Every key ever written and its value at the head (`None`: deleted).
type Honest = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn value(i: u8, round: u8) -> Vec<u8> {
    format!("<keel value {i:03} round {round} : 10^24 wei>").into_bytes()
}

/// Three blocks: create every account, update a third of them, delete one.
fn build(dir: &Path) -> Honest {
    let db = StateDb::create(dir).unwrap();
    let mut honest: WriteSet = (0..ACCOUNTS)
        .map(|i| (account_key(&[i; 32]), Some(value(i, 0))))
        .collect();
    db.commit_block(0, honest.clone()).unwrap();
    let updates: WriteSet = (0..ACCOUNTS)
        .step_by(3)
        .map(|i| (account_key(&[i; 32]), Some(value(i, 1))))
        .collect();
    db.commit_block(1, updates.clone()).unwrap();
    let delete: WriteSet = [(account_key(&[1; 32]), None)].into_iter().collect();
    db.commit_block(2, delete.clone()).unwrap();
    honest.extend(updates);
    honest.extend(delete);
    honest.into_iter().collect()
}

fn positions_of(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Offsets to flip: first, middle and last byte of every copy of every needle in the file.
fn flip_offsets(file: &[u8], needles: &[Vec<u8>]) -> Vec<usize> {
    let mut out: Vec<usize> = needles
        .iter()
        .flat_map(|n| {
            positions_of(file, n)
                .into_iter()
                .flat_map(move |p| [p, p + n.len() / 2, p + n.len() - 1])
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn flipped_copy(original: &[u8], offset: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = original.to_vec();
    bytes[offset] ^= 0x04;
    std::fs::write(dir.path().join(DB_FILE_NAME), bytes).unwrap();
    dir
}

/// What the reads of a damaged copy showed. Panics if any read returned a wrong value.
#[derive(Default)]
struct Observed {
    read_failed: bool,
    proof_failed: bool,
    /// redb itself reported an error (rather than serving the damaged bytes).
    redb_failed: bool,
}

impl Observed {
    fn failed(&mut self, e: &StateError) {
        self.read_failed = true;
        self.redb_failed |= matches!(e, StateError::Storage(_));
    }
}

fn read_everything(db: &StateDb, honest: &Honest, root: [u8; 32]) -> Observed {
    let mut seen = Observed::default();
    let latest = 2;
    for (key, want) in honest {
        match db.get(key) {
            Ok(got) => assert_eq!(&got, want, "get returned a different value"),
            Err(e) => seen.failed(&e),
        }
        match db.get_at(key, latest) {
            Ok(got) => assert_eq!(&got, want, "get_at returned a different value"),
            Err(e) => seen.failed(&e),
        }
        let proved = db.prove(key, latest).map_err(|_| ()).and_then(|(v, p)| {
            verify_proof(keel_state::RootHash(root), key, v.as_deref(), &p).map_err(|_| ())
        });
        seen.proof_failed |= proved.is_err();
    }
    let live: Vec<(Vec<u8>, Vec<u8>)> = honest
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    match db.view().and_then(|v| v.scan_prefix(&[], usize::MAX)) {
        Ok(all) => assert_eq!(all, live, "scan returned different values"),
        Err(e) => seen.failed(&e),
    }
    seen
}

fn healthy() -> (tempfile::TempDir, Vec<u8>, Honest, [u8; 32]) {
    let dir = tempfile::tempdir().unwrap();
    let honest = build(dir.path());
    let root = StateDb::open(dir.path()).unwrap().root(2).unwrap().0;
    let file = std::fs::read(dir.path().join(DB_FILE_NAME)).unwrap();
    (dir, file, honest, root)
}

#[test]
fn a_flipped_value_byte_reads_as_the_honest_value_or_an_error_never_another_value() {
    let (_dir, file, honest, root) = healthy();
    let needles: Vec<Vec<u8>> = honest.iter().filter_map(|(_, v)| v.clone()).collect();
    let offsets = flip_offsets(&file, &needles);
    assert!(
        offsets.len() > 40,
        "too few value bytes found: {}",
        offsets.len()
    );
    let mut refused_or_failed = 0;
    for offset in offsets {
        let copy = flipped_copy(&file, offset);
        let Ok(db) = StateDb::open(copy.path()) else {
            refused_or_failed += 1;
            continue;
        };
        if read_everything(&db, &honest, root).read_failed {
            refused_or_failed += 1;
        }
    }
    eprintln!("flips refused or failing a read: {refused_or_failed}");
    // The live copies of the values were hit: damage is visible, not silently absorbed.
    assert!(refused_or_failed > 0);
}

#[test]
fn state_check_finds_every_flip_that_a_read_or_proof_can_observe() {
    let (_dir, file, honest, root) = healthy();
    let mut needles: Vec<Vec<u8>> = honest.iter().filter_map(|(_, v)| v.clone()).collect();
    // Leaf nodes hold sha256(value): flip those too.
    let hashes: Vec<Vec<u8>> = needles
        .iter()
        .map(|v| sha2::Sha256::digest(v).to_vec())
        .collect();
    needles.extend(hashes);
    let (mut refused_at_open, mut found_by_check, mut unseen_by_redb) = (0, 0, 0);
    for offset in flip_offsets(&file, &needles) {
        let copy = flipped_copy(&file, offset);
        let db = match StateDb::open(copy.path()) {
            Ok(db) => db,
            Err(StateError::IntegrityFailed { .. }) => {
                refused_at_open += 1;
                continue;
            }
            Err(_) => continue, // redb itself refused the file
        };
        let seen = read_everything(&db, &honest, root);
        let report = db.check_integrity(&mut |_| {}).unwrap();
        if seen.read_failed || seen.proof_failed {
            assert!(
                !report.is_ok(),
                "flip at {offset} is observable but the check passed"
            );
        }
        if !report.is_ok() {
            found_by_check += 1;
            // redb opened the file and served every read without complaint: only our checks
            // (the proof-verified reads and the scan) saw the damage.
            unseen_by_redb += usize::from(!seen.redb_failed);
            assert!(report.problems_total >= report.problems.len() as u64);
        }
    }
    eprintln!(
        "flips refused at open: {refused_at_open}, found by the check: {found_by_check} \
         (redb raised no error on {unseen_by_redb} of them)"
    );
    assert!(
        refused_at_open > 0,
        "no flip in the top of the tree was refused at open"
    );
    assert!(found_by_check > 0, "the check never found anything");
    assert!(
        unseen_by_redb > 0,
        "no damaged node slipped past redb: the test lost its point"
    );
}

#[test]
fn a_healthy_state_passes_the_full_check_with_every_key_and_node_counted() {
    let (dir, _, honest, root) = healthy();
    let db = StateDb::open(dir.path()).unwrap();
    let mut calls = 0;
    let report = db.check_integrity(&mut |_| calls += 1).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let live = honest.iter().filter(|(_, v)| v.is_some()).count() as u64;
    assert_eq!(report.keys_checked, live);
    // At least the leaves plus one root per version.
    assert!(report.nodes_checked >= live + 3);
    assert_eq!(report.root, Some(hex::encode(root)));
    assert_eq!(calls, 0, "progress is only reported on long scans");
}

/// jmt's hash of the leaf for `key` holding `value`: what its parent node records.
fn leaf_hash(key: &[u8], value: &[u8]) -> Vec<u8> {
    jmt::storage::LeafNode::new(
        keel_state::keys::key_hash(key),
        jmt::ValueHash::with::<sha2::Sha256>(value),
    )
    .hash::<sha2::Sha256>()
    .to_vec()
}

#[test]
fn a_damaged_interior_node_fails_the_next_commit_instead_of_forking_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    let state: WriteSet = (0u16..3000)
        .map(|i| {
            (
                account_key(
                    &[(i >> 8) as u8, i as u8, 7].repeat(11)[..32]
                        .try_into()
                        .unwrap(),
                ),
                Some(i.to_be_bytes().repeat(9)),
            )
        })
        .collect();
    db.commit_block(0, state.clone()).unwrap();
    let next: WriteSet = (0u16..1000)
        .map(|i| {
            (
                account_key(
                    &[(i >> 8) as u8, i as u8, 9].repeat(11)[..32]
                        .try_into()
                        .unwrap(),
                ),
                Some(vec![1; 40]),
            )
        })
        .collect();
    drop(db);
    let file = std::fs::read(dir.path().join(DB_FILE_NAME)).unwrap();
    let honest_next = {
        let copy = flipped_copy(&file, 0);
        let mut bytes = std::fs::read(copy.path().join(DB_FILE_NAME)).unwrap();
        bytes[0] ^= 0x04; // undo: an exact copy
        std::fs::write(copy.path().join(DB_FILE_NAME), bytes).unwrap();
        let db = StateDb::open(copy.path()).unwrap();
        db.commit_block(1, next.clone()).unwrap()
    };
    // The hashes parents record for 30 of the leaves: bytes of interior nodes.
    let needles: Vec<Vec<u8>> = state
        .iter()
        .take(30)
        .map(|(k, v)| leaf_hash(k, v.as_deref().unwrap()))
        .collect();
    let (mut refused_at_open, mut refused_at_commit) = (0, 0);
    for offset in flip_offsets(&file, &needles) {
        let copy = flipped_copy(&file, offset);
        let Ok(db) = StateDb::open(copy.path()) else {
            refused_at_open += 1;
            continue;
        };
        match db.commit_block(1, next.clone()) {
            Ok(root) => assert_eq!(root, honest_next, "flip at {offset} forked the root"),
            Err(_) => refused_at_commit += 1,
        }
    }
    eprintln!("interior flips refused at open: {refused_at_open}, at commit: {refused_at_commit}");
    assert!(
        refused_at_commit > 0,
        "no flip reached a commit: the test lost its point"
    );
}
