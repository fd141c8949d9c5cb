//! Verdicts and the scalars behind them are a function of the batch alone, and a block's batch
//! never contains a client's items.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_crypto::{SecretKey, SignatureVerifier, SingleVerifier, Verdict, VerifyItem};
use keel_offload::bls::{CommittedBatch, Scalar, derive_scalars};
use keel_offload::{
    Backend, BackendError, BatchPolicy, BatchService, BatchVerifier, CpuBackend, PoolConfig,
    Priority, Topology,
};

/// One combined check as a backend saw it.
#[derive(Debug, Clone, PartialEq)]
struct Check {
    priority: Priority,
    items: Vec<VerifyItem>,
    scalars: Vec<Scalar>,
    subset: Vec<usize>,
    passed: bool,
}

/// The CPU backend, with a log of every combined check it ran.
#[derive(Debug)]
struct Recording {
    cpu: CpuBackend,
    log: Mutex<Vec<Check>>,
}

impl Recording {
    fn verifier() -> Arc<BatchVerifier<Recording>> {
        let cpu = CpuBackend::new(&Topology::discover(), &PoolConfig::default()).unwrap();
        Arc::new(BatchVerifier::new(Recording {
            cpu,
            log: Mutex::new(Vec::new()),
        }))
    }
}

fn log(v: &BatchVerifier<Recording>) -> Vec<Check> {
    v.backend().log.lock().unwrap().clone()
}

impl Backend for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn subgroup_checks(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
    ) -> Result<Vec<bool>, BackendError> {
        self.cpu.subgroup_checks(batch, subset)
    }

    fn combined_check(
        &self,
        batch: &CommittedBatch,
        subset: &[usize],
    ) -> Result<bool, BackendError> {
        let passed = self.cpu.combined_check(batch, subset)?;
        self.log.lock().unwrap().push(Check {
            priority: batch.priority(),
            items: batch.items().to_vec(),
            scalars: batch.scalars().to_vec(),
            subset: subset.to_vec(),
            passed,
        });
        Ok(passed)
    }
}

fn item(tag: &str, i: usize, valid: bool) -> VerifyItem {
    let mut seed = [3u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let sk = SecretKey::from_seed(&seed).unwrap();
    let msg = format!("{tag} {i}").into_bytes();
    let sig = sk.sign(if valid { &msg } else { b"forged" });
    VerifyItem::new(sk.public_key(), msg, sig)
}

/// Eight block transactions, the sixth one badly signed.
fn block_items() -> Vec<VerifyItem> {
    (0..8).map(|i| item("block tx", i, i != 5)).collect()
}

/// Client requests with bad signatures of their own.
fn client_items(request: usize) -> Vec<VerifyItem> {
    (0..6)
        .map(|i| item("client", request * 100 + i, i % 3 != 1))
        .collect()
}

#[test]
fn the_same_batch_gets_the_same_scalars_checks_and_verdicts_on_two_verifiers_and_runs() {
    let items: Arc<[VerifyItem]> = block_items().into();
    let (a, b) = (Recording::verifier(), Recording::verifier());
    let first = a.verify(&items, Priority::Block).unwrap();
    let again = a.verify(&items, Priority::Block).unwrap();
    let other = b.verify(&items, Priority::Block).unwrap();
    assert_eq!(first, SingleVerifier.verify_batch(&items));
    assert_eq!((&first, &first), (&again, &other));
    let (log_a, log_b) = (log(&a), log(&b));
    // The bad item forces a bisection: several checks, each with the same scalars.
    assert!(log_b.len() > 1);
    assert_eq!(log_a.len(), 2 * log_b.len());
    assert_eq!(log_a[..log_b.len()], log_b[..]);
    assert_eq!(log_a[log_b.len()..], log_b[..]);
    assert!(log_b.iter().all(|c| c.scalars == derive_scalars(&items)));
}

#[test]
fn two_service_instances_derive_the_same_scalars_for_a_block() {
    let runs: Vec<(Vec<Verdict>, Vec<Check>)> = (0..2)
        .map(|_| {
            let verifier = Recording::verifier();
            let service = BatchService::start(verifier.clone(), BatchPolicy::default()).unwrap();
            let verdicts = service.verify(Priority::Block, block_items()).unwrap();
            (verdicts, log(&verifier))
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0].0, SingleVerifier.verify_batch(&block_items()));
}

#[test]
fn a_blocks_verdicts_and_checks_are_unaffected_by_concurrent_client_requests() {
    // The block verified alone: the reference log.
    let alone = Recording::verifier();
    let expected = alone
        .verify(&block_items().into(), Priority::Block)
        .unwrap();
    let alone_log = log(&alone);

    let verifier = Recording::verifier();
    let policy = BatchPolicy {
        max_batch_items: 64,
        max_delay: Duration::from_millis(50),
        queue_capacity: 16,
    };
    let service = Arc::new(BatchService::start(verifier.clone(), policy).unwrap());
    let clients: Vec<_> = (0..4)
        .map(|r| service.submit(Priority::Client, client_items(r)).unwrap())
        .collect();
    let block = service.lane(Priority::Block).verify_batch(&block_items());
    for (r, ticket) in clients.into_iter().enumerate() {
        let got = ticket.wait_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(got, SingleVerifier.verify_batch(&client_items(r)));
    }

    assert_eq!(block, expected);
    assert_eq!(block, SingleVerifier.verify_batch(&block_items()));
    let all = log(&verifier);
    let block_log: Vec<Check> = all
        .iter()
        .filter(|c| c.priority == Priority::Block)
        .cloned()
        .collect();
    // Exactly the checks of the block alone: no client item entered the block's batch, so its
    // scalars and its bisection path are the same.
    assert_eq!(block_log, alone_log);
    let client_log = all.iter().filter(|c| c.priority == Priority::Client);
    assert!(client_log.clone().count() > 0);
    for check in client_log {
        assert!(check.items.iter().all(|i| !block_items().contains(i)));
    }
}

/// A backend whose workers are always gone.
#[derive(Debug)]
struct Broken;

impl Backend for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }

    fn subgroup_checks(&self, _: &CommittedBatch, _: &[usize]) -> Result<Vec<bool>, BackendError> {
        Err(BackendError::Pool(keel_offload::PoolError::WorkerGone(0)))
    }

    fn combined_check(&self, _: &CommittedBatch, _: &[usize]) -> Result<bool, BackendError> {
        Err(BackendError::Pool(keel_offload::PoolError::WorkerGone(0)))
    }
}

#[test]
fn a_failed_backend_falls_back_to_the_exact_verdicts() {
    let v = BatchVerifier::new(Broken);
    let items = block_items();
    let exact = SingleVerifier.verify_batch(&items);
    assert_eq!(v.verify_batch(&items), exact);
    assert_eq!(v.verify_or_fallback(&items, Priority::Client), exact);
}

#[test]
fn a_batch_of_bad_signatures_costs_a_bounded_number_of_checks_and_keeps_exact_verdicts() {
    // Every second item bad: the unbounded bisection checks n + (n/2)·log₂ n = 1 280 items,
    // over the bound of 4n = 1 024.
    let n = 256;
    let items: Arc<[VerifyItem]> = (0..n).map(|i| item("flood", i, i % 2 == 0)).collect();
    let v = Recording::verifier();
    let verdicts = v.verify(&items, Priority::Block).unwrap();
    assert_eq!(verdicts, SingleVerifier.verify_batch(&items));
    let checked: usize = log(&v).iter().map(|c| c.subset.len()).sum();
    let bound = (1 + keel_offload::BISECTION_BUDGET) * n + n;
    assert!(checked <= bound, "{checked} items checked, bound {bound}");
    // The same batch decides the same way on a second verifier (the switch point is a
    // function of the batch alone).
    let again = Recording::verifier();
    assert_eq!(again.verify(&items, Priority::Block).unwrap(), verdicts);
    assert_eq!(log(&again), log(&v));
}
