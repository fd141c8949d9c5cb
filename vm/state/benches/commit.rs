//! Commit cost of a block of 10 000 writes (tree update + one durable redb transaction), and
//! the read paths, on a state that already holds ~100 000 keys.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keel_state::StateDb;
use keel_state::keys::account_key;
use keel_state::workload::pseudo_random_writes;

const SEED: u64 = 1;
const KEY_SPACE: u64 = 1_000_000;
const PREFILL_BLOCKS: u64 = 10;

fn prefilled(writes: usize) -> (tempfile::TempDir, StateDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::create(dir.path()).unwrap();
    for v in 0..PREFILL_BLOCKS {
        db.commit_block(v, pseudo_random_writes(SEED, v, writes, KEY_SPACE))
            .unwrap();
    }
    (dir, db)
}

fn commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_block");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for writes in [1_000usize, 10_000] {
        let (_dir, db) = prefilled(10_000);
        group.throughput(Throughput::Elements(writes as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(writes),
            &writes,
            |b, &writes| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let v = db.next_version().unwrap();
                        let block = pseudo_random_writes(SEED, v, writes, KEY_SPACE);
                        let start = Instant::now();
                        db.commit_block(v, block).unwrap();
                        total += start.elapsed();
                    }
                    total
                });
            },
        );
    }
    group.finish();
}

/// The tree update alone (hashing and node construction, in-memory node store): the state-root
/// cost per write, apart from persistence.
fn root_only(c: &mut Criterion) {
    use jmt::mock::MockTreeStore;
    let store = MockTreeStore::default();
    for v in 0..PREFILL_BLOCKS {
        let set = hashed(pseudo_random_writes(SEED, v, 10_000, KEY_SPACE));
        let (_, batch) = jmt::Sha256Jmt::new(&store).put_value_set(set, v).unwrap();
        store.write_tree_update_batch(batch).unwrap();
    }
    let block = hashed(pseudo_random_writes(
        SEED,
        PREFILL_BLOCKS,
        10_000,
        KEY_SPACE,
    ));
    let mut group = c.benchmark_group("root_only");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(block.len() as u64));
    group.bench_function("10000", |b| {
        b.iter(|| {
            jmt::Sha256Jmt::new(&store)
                .put_value_set(block.clone(), PREFILL_BLOCKS)
                .unwrap()
        })
    });
    group.finish();
}

fn hashed(writes: keel_state::WriteSet) -> Vec<(jmt::KeyHash, Option<Vec<u8>>)> {
    writes
        .into_iter()
        .map(|(k, v)| (keel_state::keys::key_hash(&k), v))
        .collect()
}

fn reads(c: &mut Criterion) {
    let (_dir, db) = prefilled(10_000);
    let latest = db.latest_version().unwrap().unwrap();
    let key = pseudo_random_writes(SEED, latest, 1, KEY_SPACE)
        .into_keys()
        .next()
        .unwrap_or_else(|| account_key(&[0; 32]));
    let view = db.view().unwrap();
    c.bench_function("get_latest_via_view", |b| {
        b.iter(|| view.get(&key).unwrap())
    });
    c.bench_function("get_at_version", |b| {
        b.iter(|| db.get_at(&key, latest).unwrap())
    });
    c.bench_function("prove", |b| b.iter(|| db.prove(&key, latest).unwrap()));
}

criterion_group!(benches, commit, root_only, reads);
criterion_main!(benches);
