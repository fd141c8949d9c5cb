//! `keel client submit-tx` and `keel client build-block`: the mempool through the daemon.

use super::client_conn::{Conn, ask, connect};
use super::exit;
use anyhow::{Context, bail};
use clap::Args;
use keel_chain::{Block, SignedTx, decode, encode};
use keel_protocol::{BuildRequest, ErrorCode, Request, Response};
use serde_json::json;
use std::process::ExitCode;

/// `keel client submit-tx`.
#[derive(Args)]
pub struct SubmitTxArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Signed transactions: hex (from `keel tx sign`) or @FILE holding the hex.
    #[arg(required = true)]
    pub txs: Vec<String>,
    /// One JSON object per transaction: `{"tx_hash", "admitted", "ready", "replaced",
    /// "error": {"code", "message"}}`.
    #[arg(long)]
    pub json: bool,
}

/// `keel client build-block`.
#[derive(Args)]
pub struct BuildBlockArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Block timestamp (default: the head's + 1).
    #[arg(long, default_value_t = 0)]
    pub timestamp: u64,
    /// Per-dimension gas caps `compute,storage,memory,bandwidth`, summed over the
    /// transactions' limits; each is lowered to the chain's block limit (0: the chain's).
    #[arg(long, value_delimiter = ',', num_args = 4, default_values_t = [0u64, 0, 0, 0])]
    pub gas_limits: Vec<u64>,
    /// Most transactions (0: the chain's limit).
    #[arg(long, default_value_t = 0)]
    pub max_txs: u32,
    /// Submit the built block with SubmitBlock and print its result (the proposer's loop:
    /// mempool → build → submit).
    #[arg(long)]
    pub submit: bool,
    /// JSON: `{"block": hex, "detail": {...}}`, and with `--submit` `"result"`: BlockResult.
    #[arg(long)]
    pub json: bool,
}

/// Submits each transaction to the mempool. Exit 0 if all were admitted, 2 if any was refused
/// or rejected (each is reported; the others are still submitted).
pub fn submit_tx(a: SubmitTxArgs) -> anyhow::Result<ExitCode> {
    let mut c = connect(&a.conn)?;
    let mut all_ok = true;
    for arg in &a.txs {
        let text = super::chain::tx_hex(arg)?;
        let bytes = hex::decode(text.trim().trim_start_matches("0x"))
            .with_context(|| format!("transaction {arg:?} is not hex"))?;
        let tx: SignedTx = decode("signed transaction", &bytes)?;
        let hash = hex::encode(tx.hash());
        let refused = |e: &anyhow::Error| match e.downcast_ref::<keel_client::ClientError>() {
            Some(keel_client::ClientError::Server { code, message }) if per_tx(*code) => {
                Some((*code, message.clone()))
            }
            _ => None,
        };
        match ask(&mut c, &a.conn, &Request::SubmitTx { tx: bytes }) {
            Ok(Response::TxAdmitted {
                tx_hash,
                replaced,
                ready,
            }) => print_admitted(a.json, &tx_hash, replaced, ready),
            Ok(other) => bail!("unexpected answer to SubmitTx: {:?}", other.kind()),
            Err(e) => {
                let Some((code, message)) = refused(&e) else {
                    return Err(e);
                };
                all_ok = false;
                print_refused(a.json, &hash, code, &message);
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::TX_NOT_APPLIED)
    })
}

/// Errors about one transaction (the next may still be admitted); others end the command.
fn per_tx(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Rejected
            | ErrorCode::MempoolRefused
            | ErrorCode::Overloaded
            | ErrorCode::RequestTooLarge
    )
}

fn print_admitted(as_json: bool, hash: &[u8; 32], replaced: Option<[u8; 32]>, ready: bool) {
    if as_json {
        let out = json!({
            "tx_hash": hex::encode(hash), "admitted": true, "ready": ready,
            "replaced": replaced.map(hex::encode),
        });
        println!("{out}");
        return;
    }
    let state = if ready {
        "ready for the next block"
    } else {
        "waiting for earlier nonces"
    };
    print!("admitted {} ({state})", hex::encode(hash));
    match replaced {
        Some(old) => println!(", replaced {}", hex::encode(old)),
        None => println!(),
    }
}

fn print_refused(as_json: bool, hash: &str, code: ErrorCode, message: &str) {
    if as_json {
        let out = json!({
            "tx_hash": hash, "admitted": false,
            "error": {"code": code.name(), "message": message},
        });
        println!("{out}");
    } else {
        let what = match code {
            ErrorCode::MempoolRefused => "REFUSED (retry later or raise the priority fee)",
            ErrorCode::Overloaded => "RATE LIMITED (retry later)",
            _ => "REJECTED",
        };
        println!("{what} {hash}: {message}");
    }
}

/// Builds the next block from the mempool, proposed by `--key` (a validator); with `--submit`,
/// submits it. Exit 0, or 2 with `--submit` when a receipt is not a success.
pub fn build_block(a: BuildBlockArgs) -> anyhow::Result<ExitCode> {
    let Some(i) = a.conn.key else {
        bail!("a block needs a proposer: pass --key with the keystore index of a validator");
    };
    let keys = super::chain::keystore_secrets(&a.conn.keystore)?;
    let proposer = keys
        .get(i)
        .map(|k| keel_chain::address_of(&k.public_key().to_bytes()))
        .with_context(|| format!("no key {i} in {}", a.conn.keystore.display()))?;
    let mut gas_limits = [0u64; 4];
    for (g, v) in gas_limits.iter_mut().zip(&a.gas_limits) {
        *g = *v;
    }
    let req = BuildRequest {
        timestamp: a.timestamp,
        proposer,
        gas_limits,
        max_txs: a.max_txs,
    };
    let mut c = connect(&a.conn)?;
    let (block_bytes, detail) = match ask(&mut c, &a.conn, &Request::BuildBlock(req))? {
        Response::BlockBuilt { block, detail } => (block, detail),
        other => bail!("unexpected answer to BuildBlock: {:?}", other.kind()),
    };
    let block: Block = decode("block", &block_bytes)?;
    let detail: serde_json::Value = serde_json::from_slice(&detail).unwrap_or_default();
    let result = if a.submit {
        match ask(
            &mut c,
            &a.conn,
            &Request::SubmitBlock {
                block: encode(&block),
            },
        )? {
            Response::BlockOutcome { output } => Some(
                serde_json::from_slice::<keel_chain::BlockResult>(&output)
                    .context("the daemon's block result does not decode")?,
            ),
            other => bail!("unexpected answer to SubmitBlock: {:?}", other.kind()),
        }
    } else {
        None
    };
    if a.json {
        let out = json!({"block": hex::encode(&block_bytes), "detail": detail, "result": result});
        println!("{out}");
    } else {
        print_built(&block, &detail, a.submit);
        if let Some(r) = &result {
            super::chain::print_result(r, false);
        }
    }
    Ok(result.as_ref().map_or(ExitCode::SUCCESS, exit::of_receipts))
}

fn print_built(block: &Block, detail: &serde_json::Value, submitting: bool) {
    println!(
        "built block {} with {} transactions from the mempool ({} pending, {} ready ones left out)",
        block.header.height,
        block.txs.len(),
        detail["pending"],
        detail["left_out"],
    );
    println!(
        "gas limits packed {} of {}; priority fees up to {}",
        detail["gas"],
        detail["limits"],
        detail["priority_fees"].as_str().unwrap_or("?")
    );
    if !submitting {
        println!("block {}", hex::encode(encode(block)));
        println!("(not submitted: pass --submit, or send the hex with SubmitBlock)");
    }
}
