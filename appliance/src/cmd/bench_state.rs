//! `keel bench state`: one block of signed token transfers on a fresh on-disk chain.

use super::bench::BenchStateArgs;
use keel_chain::genesis::{self, demo_key};
use keel_chain::{Amount, Block, Chain, TxKind, TxStatus, address_of};
use keel_crypto::{SignatureVerifier, SingleVerifier, VerifyItem};
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(a: BenchStateArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let senders = a.senders.max(2);
    let g = genesis::demo(senders, Amount::from_u128(10u128.pow(30)))?;
    let mut chain = Chain::init(dir.path(), &g, super::chain::verifier()?)?;
    if !a.json {
        eprintln!("signing {} transfers from {senders} accounts…", a.txs);
    }
    let keys: Vec<_> = (0..senders).map(demo_key).collect();
    let addrs: Vec<_> = keys
        .iter()
        .map(|k| address_of(&k.public_key().to_bytes()))
        .collect();
    let started = Instant::now();
    let txs: Vec<_> = std::thread::scope(|s| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (keys, addrs) = (&keys, &addrs);
                s.spawn(move || {
                    (t..a.txs)
                        .step_by(threads as usize)
                        .map(|i| {
                            let from = (i % senders) as usize;
                            let to = addrs[(from + 1) % addrs.len()];
                            let nonce = u64::from(i / senders);
                            (
                                i,
                                super::chain::demo_tx(
                                    &keys[from],
                                    nonce,
                                    TxKind::Transfer {
                                        to,
                                        amount: Amount::from_u128(1),
                                    },
                                ),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, t)| t).collect()
    });
    let signing = started.elapsed();
    // The one-by-one reference path on a sample, for the per-signature comparison.
    let sample: Vec<VerifyItem> = txs
        .iter()
        .take(a.single_sample as usize)
        .filter_map(|t| {
            t.parts()
                .ok()
                .map(|(pk, sig)| VerifyItem::new(pk, t.tx.signing_message(), sig))
        })
        .collect();
    let started = Instant::now();
    let single_ok = SingleVerifier
        .verify_batch(&sample)
        .iter()
        .all(|v| v.is_valid());
    let single_per_sig = started.elapsed().as_secs_f64() / sample.len().max(1) as f64;
    anyhow::ensure!(single_ok, "the sample did not verify");

    if !a.json {
        eprintln!("executing and committing the block…");
    }
    let header = chain.next_local_header()?;
    let started = Instant::now();
    let r = chain.execute_block(&Block { header, txs })?;
    let total = started.elapsed();
    let t = chain.last_timings();
    let ok = r
        .receipts
        .iter()
        .filter(|rc| matches!(rc.status, TxStatus::Success { .. }))
        .count();
    anyhow::ensure!(
        ok == a.txs as usize,
        "only {ok} of {} transfers succeeded",
        a.txs
    );
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let batch_per_sig = t.verify_signatures.as_secs_f64() / f64::from(a.txs.max(1));
    let report = json!({
        "bench": "state",
        "transfers": a.txs,
        "senders": senders,
        "signing_ms": ms(signing),
        "verify_batch_ms": ms(t.verify_signatures),
        "verify_batch_us_per_sig": batch_per_sig * 1e6,
        "verify_single_us_per_sig": single_per_sig * 1e6,
        "batch_speedup_over_single": single_per_sig / batch_per_sig.max(1e-12),
        "execute_ms": ms(t.execute),
        "execute_us_per_tx": ms(t.execute) * 1e3 / f64::from(a.txs.max(1)),
        "commit_ms": ms(t.commit),
        "state_writes": t.writes,
        "commit_us_per_write": ms(t.commit) * 1e3 / t.writes.max(1) as f64,
        "block_total_ms": ms(total),
        "state_root": hex::encode(r.state_root),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        super::bench::compared(
            "batch signature verification",
            "one-by-one verification",
            "lower ms and µs are better",
        );
        println!(
            "block of {} transfers from {senders} accounts (signing took {:.0} ms, not counted)",
            a.txs,
            ms(signing)
        );
        println!(
            "  verify signatures (batch, pinned workers): {:>9.1} ms  ({:.1} µs/sig; one-by-one {:.1} µs/sig, speedup {:.2}x)",
            ms(t.verify_signatures),
            batch_per_sig * 1e6,
            single_per_sig * 1e6,
            single_per_sig / batch_per_sig.max(1e-12)
        );
        println!(
            "  execute:                                   {:>9.1} ms  ({:.1} µs/tx)",
            ms(t.execute),
            ms(t.execute) * 1e3 / f64::from(a.txs.max(1))
        );
        println!(
            "  commit (JMT + redb, fsync):                {:>9.1} ms  ({} writes, {:.1} µs/write)",
            ms(t.commit),
            t.writes,
            ms(t.commit) * 1e3 / t.writes.max(1) as f64
        );
        println!(
            "  whole block:                               {:>9.1} ms",
            ms(total)
        );
    }
    Ok(ExitCode::SUCCESS)
}
