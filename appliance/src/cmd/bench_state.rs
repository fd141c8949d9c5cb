//! `keel bench state`: one block of signed token transfers on a fresh on-disk chain.

use super::bench::BenchStateArgs;
use keel_chain::genesis::{self, demo_key};
use keel_chain::{
    Address, Amount, Block, BlockResult, CallData, Chain, SignedTx, Transaction, TxKind, TxStatus,
    address_of, contract_address,
};
use keel_crypto::SecretKey;
use keel_crypto::{SignatureVerifier, SingleVerifier, VerifyItem};
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(a: BenchStateArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let senders = a.senders.max(2);
    let g = genesis::demo(senders, Amount::from_u128(10u128.pow(30)))?;
    let mut chain = Chain::init(dir.path(), &g, super::chain::verifier()?)?;
    for key in genesis::demo_validator_keys() {
        chain.add_proposer_key(key);
    }
    if !a.json {
        eprintln!("signing {} transfers from {senders} accounts…", a.txs);
    }
    let keys: Vec<_> = (0..senders).map(demo_key).collect();
    let addrs: Vec<_> = keys
        .iter()
        .map(|k| address_of(&k.public_key().to_bytes()))
        .collect();
    let started = Instant::now();
    let txs = sign_parallel(a.txs, |i| {
        let from = (i % senders) as usize;
        let to = addrs[(from + 1) % addrs.len()];
        super::chain::demo_tx(
            &keys[from],
            u64::from(i / senders),
            TxKind::Transfer {
                to,
                amount: Amount::from_u128(1),
            },
        )
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
    if !a.json {
        eprintln!("deploying the token and executing a block of token transfers…");
    }
    let token = token_block(&chain, &keys, &addrs, a.txs)?;
    let mut report = report;
    report["token_execute_ms"] = json!(ms(token.execute));
    report["token_execute_us_per_tx"] = json!(ms(token.execute) * 1e3 / f64::from(a.txs.max(1)));
    report["token_compute_gas_per_transfer"] = json!(token.compute_gas);
    report["token_state_root"] = json!(hex::encode(token.state_root));
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
        println!(
            "block of {} token.c transfers through the VM: execute {:.1} ms ({:.1} µs/tx, {} compute gas each)",
            a.txs,
            ms(token.execute),
            ms(token.execute) * 1e3 / f64::from(a.txs.max(1)),
            token.compute_gas
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs transactions `0..n` on every core; `make(i)` builds and signs transaction `i`.
pub(crate) fn sign_parallel(n: u32, make: impl Fn(u32) -> SignedTx + Sync) -> Vec<SignedTx> {
    std::thread::scope(|s| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let make = &make;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads as usize)
                        .map(|i| (i, make(i)))
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
    })
}

/// What the token block measured.
struct TokenRun {
    execute: std::time::Duration,
    compute_gas: u64,
    state_root: [u8; 32],
}

/// Gas limits of a token transaction (a transfer uses a small part of them).
const TOKEN_LIMITS: keel_chain::tx::PerDimension = [2_000_000, 10_000, 4, 10_000];

fn token_tx(key: &SecretKey, nonce: u64, kind: TxKind) -> SignedTx {
    Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: TOKEN_LIMITS,
        max_fee_per_unit: [1_000, 1_000, 1_000, 1_000],
        priority_fee: 1,
        kind,
    }
    .sign(key)
}

fn token_call(key: &SecretKey, nonce: u64, token: Address, entry: &str, args: Vec<u8>) -> SignedTx {
    token_tx(
        key,
        nonce,
        TxKind::Call {
            contract: token,
            call: CallData {
                entry: entry.into(),
                args,
            },
            value: Amount::ZERO,
        },
    )
}

fn transfer_args(to: &Address, amount: u64) -> Vec<u8> {
    let mut args = to.to_vec();
    let mut v = [0u8; 32];
    v[..8].copy_from_slice(&amount.to_le_bytes());
    args.extend_from_slice(&v);
    args
}

/// Executes `block` and checks every transaction succeeded.
fn run_all(chain: &Chain, txs: Vec<SignedTx>, what: &str) -> anyhow::Result<BlockResult> {
    let header = chain.next_local_header()?;
    let r = chain.execute_block(&Block { header, txs })?;
    for (i, rc) in r.receipts.iter().enumerate() {
        anyhow::ensure!(
            matches!(rc.status, TxStatus::Success { .. }),
            "{what}: transaction {i}: {:?}",
            rc.status
        );
    }
    Ok(r)
}

/// Deploys `contracts/c/token.c` from sender 0, gives every sender tokens, then executes a
/// block of `n` token transfers (each sender to the next) through the VM.
fn token_block(
    chain: &Chain,
    keys: &[SecretKey],
    addrs: &[Address],
    n: u32,
) -> anyhow::Result<TokenRun> {
    let nonces: Vec<u64> = addrs
        .iter()
        .map(|a| Ok(chain.account(a)?.unwrap_or_default().nonce))
        .collect::<anyhow::Result<_>>()?;
    let (Some(key0), Some(&nonce0)) = (keys.first(), nonces.first()) else {
        anyhow::bail!("no senders");
    };
    let sender0 = address_of(&key0.public_key().to_bytes());
    let token = contract_address(&sender0, nonce0);
    let mut supply = [0u8; 32];
    supply[..16].copy_from_slice(&u128::MAX.to_le_bytes());
    let deploy = token_tx(
        key0,
        nonce0,
        TxKind::Deploy {
            code: keel_contracts::TOKEN.wasm.to_vec(),
            constructor: Some(CallData {
                entry: "init".into(),
                args: supply.to_vec(),
            }),
        },
    );
    let mut setup = vec![deploy];
    for (i, to) in addrs.iter().enumerate().skip(1) {
        let nonce = nonce0.saturating_add(i as u64);
        setup.push(token_call(
            key0,
            nonce,
            token,
            "transfer",
            transfer_args(to, 1 << 40),
        ));
    }
    run_all(chain, setup, "token setup")?;
    let senders = keys.len() as u32;
    let skip = (senders as u64).saturating_sub(1);
    let txs = sign_parallel(n, |i| {
        let from = (i % senders) as usize;
        let to = addrs[(from + 1) % addrs.len()];
        let mut nonce = nonces[from].saturating_add(u64::from(i / senders));
        if from == 0 {
            nonce = nonce.saturating_add(1).saturating_add(skip);
        }
        token_call(&keys[from], nonce, token, "transfer", transfer_args(&to, 1))
    });
    let r = run_all(chain, txs, "token transfers")?;
    Ok(TokenRun {
        execute: chain.last_timings().execute,
        compute_gas: r.receipts.first().map_or(0, |rc| rc.gas_used[0]),
        state_root: r.state_root,
    })
}
