//! Times blst's `verify_multiple_aggregate_signatures` (with blst's own thread pool) on the
//! sets in a JSON file written by `keel_offload::bench`, and prints the timings as JSON.
//!
//! Usage: `keel-bench-pooled INPUT.json` (the input format is `PooledInput` below).
//! Keys and signatures are decoded before timing; public keys are validated then, and
//! signatures are subgroup-checked inside the timed call, exactly like Keel's path.

use std::time::Instant;

use blst::BLST_ERROR;
use blst::blst_scalar;
use blst::min_pk::{PublicKey, Signature};
use rand::Rng;
use serde::{Deserialize, Serialize};

const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
const RAND_BITS: usize = 64;

#[derive(Deserialize)]
struct PooledInput {
    sets: Vec<InputSet>,
}

#[derive(Deserialize)]
struct InputSet {
    name: String,
    reps: usize,
    items: Vec<Triple>,
}

#[derive(Deserialize)]
struct Triple {
    pk: String,
    msg: String,
    sig: String,
}

#[derive(Serialize)]
struct PooledOutput {
    threads: usize,
    results: Vec<SetResult>,
}

#[derive(Serialize)]
struct SetResult {
    name: String,
    n: usize,
    reps: usize,
    /// Every repetition, in nanoseconds.
    samples_ns: Vec<u64>,
    all_valid: bool,
}

fn fail(msg: String) -> ! {
    eprintln!("keel-bench-pooled: {msg}");
    std::process::exit(2)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| fail(format!("bad hex: {e}")))
}

fn run(set: &InputSet) -> SetResult {
    let pks: Vec<PublicKey> = set
        .items
        .iter()
        .map(|t| {
            PublicKey::key_validate(&unhex(&t.pk)).unwrap_or_else(|e| fail(format!("pk: {e:?}")))
        })
        .collect();
    let sigs: Vec<Signature> = set
        .items
        .iter()
        .map(|t| {
            Signature::from_bytes(&unhex(&t.sig)).unwrap_or_else(|e| fail(format!("sig: {e:?}")))
        })
        .collect();
    let msgs: Vec<Vec<u8>> = set.items.iter().map(|t| unhex(&t.msg)).collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    let pk_refs: Vec<&PublicKey> = pks.iter().collect();
    let sig_refs: Vec<&Signature> = sigs.iter().collect();
    let mut samples_ns = Vec::with_capacity(set.reps);
    let mut all_valid = true;
    let mut rng = rand::rng();
    for _ in 0..set.reps {
        let start = Instant::now();
        // Fresh non-zero 64-bit scalars per run, as Lighthouse does.
        let rands: Vec<blst_scalar> = (0..pks.len())
            .map(|_| {
                let mut s = blst_scalar::default();
                let mut r = 0u64;
                while r == 0 {
                    r = rng.random();
                }
                s.b[..8].copy_from_slice(&r.to_le_bytes());
                s
            })
            .collect();
        let status = Signature::verify_multiple_aggregate_signatures(
            &msg_refs, DST, &pk_refs, false, &sig_refs, true, &rands, RAND_BITS,
        );
        samples_ns.push(start.elapsed().as_nanos() as u64);
        all_valid &= status == BLST_ERROR::BLST_SUCCESS;
    }
    SetResult {
        name: set.name.clone(),
        n: pks.len(),
        reps: set.reps,
        samples_ns,
        all_valid,
    }
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| fail("usage: keel-bench-pooled INPUT.json".into()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let input: PooledInput =
        serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let results = input.sets.iter().map(run).collect();
    let out = PooledOutput {
        // blst's pool is `ThreadPool::default()`: one thread per logical CPU.
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        results,
    };
    println!(
        "{}",
        serde_json::to_string(&out).unwrap_or_else(|e| fail(e.to_string()))
    );
}
