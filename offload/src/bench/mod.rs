//! `keel bench bls`: per-signature cost of three ways to verify the same signatures —
//! the naive loop (one blst verify each, one thread), Keel's pinned workers
//! ([`BatchVerifier`] over [`CpuBackend`]) and blst's own thread-pooled
//! `verify_multiple_aggregate_signatures` (a separate binary, see [`PooledBaseline`]).
//!
//! Inputs are generated once per run (deterministic demo keys) and decoded before timing; every
//! path gets the same items and must call all of them valid. Timings are medians of
//! repetitions. Wall-clock timing and floats are fine here: nothing in a report is consensus data.

mod pooled;
mod report;

use std::sync::Arc;
use std::time::Instant;

use keel_crypto::{SecretKey, VerifyItem, verify};
use thiserror::Error;

pub use pooled::PooledBaseline;
pub use report::{BenchRow, BlsBenchReport, SetKind};

use crate::bls::{BatchVerifier, CpuBackend};
use crate::file::HexTriple;
use crate::pool::Priority;
use crate::pool::{PoolConfig, PoolError};
use crate::topology::Topology;

/// What to measure. Defaults: distinct-message sets of 1, 64, 256 and 1024 signatures, a
/// same-message set of 256 and one of 1024, at least 3 repetitions and 1024 signatures per
/// measurement, all CPUs, baseline from [`PooledBaseline::from_env`].
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Sizes of the distinct-message sets.
    pub distinct_sizes: Vec<usize>,
    /// Sizes of the same-message sets (one message signed by every key).
    pub same_message_sizes: Vec<usize>,
    /// Minimum repetitions of each measurement.
    pub min_reps: usize,
    /// Repeat small sets until at least this many signatures were verified.
    pub min_signatures: usize,
    /// Keel's workers.
    pub pool: PoolConfig,
    /// blst's pooled baseline.
    pub pooled: PooledBaseline,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            distinct_sizes: vec![1, 64, 256, 1024],
            same_message_sizes: vec![256, 1024],
            min_reps: 3,
            min_signatures: 1024,
            pool: PoolConfig::default(),
            pooled: PooledBaseline::from_env(),
        }
    }
}

/// Why a benchmark run failed.
#[derive(Debug, Error)]
pub enum BenchError {
    /// Keel's workers could not start.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A path rejected a valid signature: the numbers would be meaningless.
    #[error("{path} rejected a valid signature in set {set}")]
    WrongVerdict {
        /// naive, keel or blst-pool.
        path: &'static str,
        /// The set's name.
        set: String,
    },
    /// The pooled baseline could not be built or run.
    #[error("blst-pooled baseline: {0}")]
    Baseline(String),
    /// Key generation failed (cannot happen with 32-byte seeds; kept typed).
    #[error(transparent)]
    Crypto(#[from] keel_crypto::CryptoError),
}

struct Set {
    name: String,
    kind: SetKind,
    reps: usize,
    items: Arc<[VerifyItem]>,
    hex: Vec<HexTriple>,
}

fn make_set(kind: SetKind, n: usize, opts: &BenchOptions) -> Result<Set, BenchError> {
    let items = (0..n)
        .map(|i| {
            let mut seed = [0x5au8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let sk = SecretKey::from_seed(&seed)?;
            let msg = match kind {
                SetKind::Distinct => format!("keel bench tx {i:08}").into_bytes(),
                SetKind::SameMessage => b"keel bench block 00000001".to_vec(),
            };
            let sig = sk.sign(&msg);
            Ok(VerifyItem::new(sk.public_key(), msg, sig))
        })
        .collect::<Result<Vec<_>, BenchError>>()?;
    let hex = items
        .iter()
        .map(|it| HexTriple {
            pk: hex::encode(it.pk.to_bytes()),
            msg: hex::encode(&it.msg),
            sig: hex::encode(it.sig.to_bytes()),
        })
        .collect();
    Ok(Set {
        name: format!("{}-{n}", kind.label()),
        kind,
        reps: opts.min_reps.max(opts.min_signatures.div_ceil(n.max(1))),
        items: items.into(),
        hex,
    })
}

/// Median of nanosecond samples (the mean of the two middle ones for an even count).
fn median_ns(samples: &mut [u64]) -> u64 {
    samples.sort_unstable();
    match samples.len() {
        0 => 0,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2,
    }
}

fn time_reps(reps: usize, mut run: impl FnMut() -> bool) -> (u64, bool) {
    let mut samples = Vec::with_capacity(reps);
    let mut ok = true;
    for _ in 0..reps {
        let start = Instant::now();
        ok &= run();
        samples.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    (median_ns(&mut samples), ok)
}

/// Runs the benchmark: generates the sets, then for each set times the naive loop and Keel's
/// workers in this process and the blst-pooled baseline on the same set in its own process.
///
/// # Errors
/// [`BenchError`] when the workers cannot start, any path rejects a valid signature, or the
/// baseline cannot be built or run (use [`PooledBaseline::Skip`] to run without it).
pub fn bench_bls(opts: &BenchOptions) -> Result<BlsBenchReport, BenchError> {
    let topology = Topology::discover();
    let verifier = BatchVerifier::new(CpuBackend::new(&topology, &opts.pool)?);
    let mut sets = Vec::new();
    for &n in &opts.distinct_sizes {
        sets.push(make_set(SetKind::Distinct, n, opts)?);
    }
    for &n in &opts.same_message_sizes {
        sets.push(make_set(SetKind::SameMessage, n, opts)?);
    }

    let pooled_bin = pooled::binary(&opts.pooled)?;
    let mut pooled_threads = None;
    let mut rows = Vec::with_capacity(sets.len());
    // The three paths run back to back on each set, so that they see similar machine load.
    for set in &sets {
        tracing::info!(set = %set.name, reps = set.reps, "timing naive, keel and blst-pool paths");
        let (naive, naive_ok) = time_reps(set.reps, || {
            set.items.iter().all(|it| verify(&it.pk, &it.msg, &it.sig))
        });
        if !naive_ok {
            return Err(BenchError::WrongVerdict {
                path: "naive",
                set: set.name.clone(),
            });
        }
        let (keel, keel_ok) = time_reps(set.reps, || {
            verifier
                .verify(&set.items, Priority::Client)
                .is_ok_and(|v| v.iter().all(|v| v.is_valid()))
        });
        if !keel_ok {
            return Err(BenchError::WrongVerdict {
                path: "keel",
                set: set.name.clone(),
            });
        }
        let mut row = BenchRow::new(&set.name, set.kind, set.items.len(), set.reps, naive, keel);
        if let Some(bin) = &pooled_bin {
            let input = pooled::InputSet {
                name: &set.name,
                reps: set.reps,
                items: &set.hex,
            };
            let out = pooled::run(bin, vec![input])?;
            pooled_threads = Some(out.threads);
            for mut result in out.results {
                if result.name != set.name || result.n != set.items.len() {
                    return Err(BenchError::Baseline(format!(
                        "answered for {} (n = {}) instead of {}",
                        result.name, result.n, set.name
                    )));
                }
                if !result.all_valid {
                    return Err(BenchError::WrongVerdict {
                        path: "blst-pool",
                        set: result.name,
                    });
                }
                row.set_pooled(median_ns(&mut result.samples_ns));
            }
        }
        rows.push(row);
    }
    Ok(BlsBenchReport::new(
        topology,
        verifier.backend().workers(),
        pooled_threads,
        rows,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn medians_use_the_middle_samples() {
        assert_eq!(median_ns(&mut [5, 1, 3]), 3);
        assert_eq!(median_ns(&mut [4, 1, 3, 2]), 2);
        assert_eq!(median_ns(&mut []), 0);
    }

    #[test]
    fn a_small_run_without_the_baseline_reports_every_set() {
        let opts = BenchOptions {
            distinct_sizes: vec![1, 4],
            same_message_sizes: vec![4],
            min_reps: 1,
            min_signatures: 1,
            pool: PoolConfig::default(),
            pooled: PooledBaseline::Skip,
        };
        let report = bench_bls(&opts).unwrap();
        assert_eq!(report.rows.len(), 3);
        assert!(report.rows.iter().all(|r| r.pooled_ns_per_sig.is_none()));
        assert!(report.to_string().contains("same-message-4"));
        assert!(
            serde_json::to_string(&report)
                .unwrap()
                .contains("keel_ns_per_sig")
        );
    }
}
