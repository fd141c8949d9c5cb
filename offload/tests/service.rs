//! The batching service returns each caller its own verdicts and closes batches by size or
//! deadline.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use keel_crypto::{SecretKey, SignatureVerifier, SingleVerifier, Verdict, VerifyItem};
use keel_offload::service::ServiceStats;
use keel_offload::{
    BatchPolicy, BatchService, BatchVerifier, CpuBackend, PoolConfig, Priority, PriorityVerifier,
    ServiceError, Topology,
};

fn item(i: usize, valid: bool) -> VerifyItem {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let sk = SecretKey::from_seed(&seed).unwrap();
    let msg = format!("request item {i}").into_bytes();
    let signed = if valid {
        msg.clone()
    } else {
        b"something else".to_vec()
    };
    let sig = sk.sign(&signed);
    VerifyItem::new(sk.public_key(), msg, sig)
}

fn batch_verifier() -> Arc<dyn PriorityVerifier> {
    Arc::new(BatchVerifier::new(
        CpuBackend::new(&Topology::discover(), &PoolConfig::default()).unwrap(),
    ))
}

/// Generous bound so that a missed trigger fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn concurrent_callers_each_get_their_own_verdicts() {
    let policy = BatchPolicy {
        max_batch_items: 16,
        max_delay: Duration::from_millis(5),
        queue_capacity: 4,
    };
    let service = Arc::new(BatchService::start(batch_verifier(), policy).unwrap());
    let callers: Vec<_> = (0..6)
        .map(|c| {
            let service = Arc::clone(&service);
            thread::spawn(move || {
                for r in 0..3 {
                    let items: Vec<VerifyItem> = (0..5)
                        .map(|k| item(c * 100 + r * 10 + k, (c + r + k) % 4 != 0))
                        .collect();
                    let expected = SingleVerifier.verify_batch(&items);
                    assert!(expected.contains(&Verdict::Valid));
                    let got = service
                        .submit(Priority::Client, items)
                        .unwrap()
                        .wait_timeout(PATIENCE)
                        .unwrap();
                    assert_eq!(got, expected, "caller {c} request {r}");
                }
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
    let stats = service.stats();
    assert_eq!((stats.requests, stats.items), (18, 90));
    assert!(stats.batches <= 18);
}

#[test]
fn a_lone_small_request_is_answered_when_the_deadline_passes() {
    let policy = BatchPolicy {
        max_batch_items: 1_000_000,
        max_delay: Duration::from_millis(20),
        queue_capacity: 8,
    };
    let service = BatchService::start(Arc::new(SingleVerifier), policy).unwrap();
    let got = service
        .submit(Priority::Client, vec![item(1, true), item(2, false)])
        .unwrap()
        .wait_timeout(PATIENCE);
    assert_eq!(got, Ok(vec![Verdict::Valid, Verdict::Invalid]));
    assert_eq!(
        service.stats(),
        ServiceStats {
            requests: 1,
            items: 2,
            batches: 1
        }
    );
}

#[test]
fn requests_arriving_within_the_deadline_share_one_batch() {
    let policy = BatchPolicy {
        max_batch_items: 1_000_000,
        max_delay: Duration::from_millis(500),
        queue_capacity: 8,
    };
    let service = BatchService::start(Arc::new(SingleVerifier), policy).unwrap();
    let tickets: Vec<_> = (0..3)
        .map(|i| {
            service
                .submit(Priority::Client, vec![item(i, true)])
                .unwrap()
        })
        .collect();
    for t in tickets {
        assert_eq!(t.wait_timeout(PATIENCE), Ok(vec![Verdict::Valid]));
    }
    assert_eq!(service.stats().batches, 1);
}

#[test]
fn a_full_batch_is_run_without_waiting_for_the_deadline() {
    // The deadline is far beyond the test's patience: only the size trigger can answer in time.
    let policy = BatchPolicy {
        max_batch_items: 4,
        max_delay: Duration::from_secs(3600),
        queue_capacity: 8,
    };
    let service = BatchService::start(Arc::new(SingleVerifier), policy).unwrap();
    let tickets: Vec<_> = (0..4)
        .map(|i| {
            service
                .submit(Priority::Client, vec![item(i, i != 2)])
                .unwrap()
        })
        .collect();
    let verdicts: Vec<Verdict> = tickets
        .into_iter()
        .flat_map(|t| t.wait_timeout(PATIENCE).unwrap())
        .collect();
    assert_eq!(
        verdicts,
        vec![
            Verdict::Valid,
            Verdict::Valid,
            Verdict::Invalid,
            Verdict::Valid
        ]
    );
    assert_eq!(service.stats().batches, 1);
}

#[test]
fn a_stopped_service_refuses_requests_but_still_verifies_as_a_verifier() {
    let service =
        Arc::new(BatchService::start(Arc::new(SingleVerifier), BatchPolicy::default()).unwrap());
    service.shutdown();
    assert_eq!(
        service
            .submit(Priority::Client, vec![item(1, true)])
            .unwrap_err(),
        ServiceError::Stopped
    );
    assert_eq!(
        service
            .lane(Priority::Block)
            .verify_batch(&[item(1, true), item(2, false)]),
        vec![Verdict::Valid, Verdict::Invalid]
    );
}

#[test]
fn unusable_policies_are_rejected() {
    let zero = BatchPolicy {
        max_batch_items: 0,
        ..BatchPolicy::default()
    };
    assert!(matches!(
        BatchService::start(Arc::new(SingleVerifier), zero),
        Err(ServiceError::Policy(_))
    ));
}
