//! Where the time of one signature in a same-message batch goes, on one thread: decompression
//! (done when a transaction is decoded), the G2 subgroup check every signature needs, and its
//! share of the 64-bit random-linear-combination multi-scalar multiplications (needed so that a
//! forged pair S+Δ, S′−Δ cannot cancel). Explains the floor of `keel bench bls`'s same-message
//! rows: `cargo run --release -p keel-offload --example sig_costs`.
#![allow(clippy::unwrap_used)] // a measurement tool: fail loudly
use blst::MultiPoint;
use blst::min_pk::{AggregatePublicKey, AggregateSignature, Signature};
use std::time::Instant;

fn main() {
    let n = 256;
    let msg = b"same message for everyone";
    let dst = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    let mut pks = Vec::new();
    let mut sig_bytes = Vec::new();
    for i in 0..n {
        let mut ikm = [0u8; 32];
        ikm[0] = i as u8;
        ikm[1] = (i >> 8) as u8 + 1;
        let sk = blst::min_pk::SecretKey::key_gen(&ikm, &[]).unwrap();
        pks.push(sk.sk_to_pk());
        sig_bytes.push(sk.sign(msg, dst, &[]).compress());
    }
    let t = Instant::now();
    let sigs: Vec<Signature> = sig_bytes
        .iter()
        .map(|b| Signature::uncompress(b).unwrap())
        .collect();
    let decompress = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    let ok = sigs.iter().all(|s| s.subgroup_check());
    let subgroup = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    assert!(ok);
    let scalars: Vec<u8> = (0..n * 8).map(|i| (i * 37 + 11) as u8 | 1).collect();
    let t = Instant::now();
    let _s: AggregateSignature = sigs.mult(&scalars, 64);
    let msm_g2 = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    let _p: AggregatePublicKey = pks.mult(&scalars, 64);
    let msm_g1 = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let refs: Vec<&Signature> = sigs.iter().collect();
    let t = Instant::now();
    let _a = AggregateSignature::aggregate(&refs, false).unwrap();
    let plain_sum = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "per signature (µs, 1 thread, n={n}): decompress {decompress:.1}, subgroup check {subgroup:.1}, G2 MSM 64-bit {msm_g2:.1}, G1 MSM 64-bit {msm_g1:.1}, plain G2 sum {plain_sum:.2}"
    );
}
