//! `keel client …`: talk to a running daemon.

//!
//! Exit codes: 0 success; 1 error; 2 a submitted transaction FAILED or was REJECTED (`submit`,
//! `gov`, `build-block --submit`) or was not admitted to the mempool (`submit-tx`); 3 the value
//! asked for is absent (`query`, `account`).

use super::client_conn::{Conn, ask, connect};
use super::exit;
use super::proven::Proven;
use anyhow::{Context, bail};
use clap::Subcommand;
use keel_chain::{Block, SignedTx, decode, encode};
use keel_client::Client;
use keel_protocol::{Request, Response};
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ClientCmd {
    /// Height, state root and details of the daemon's chain.
    Status {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        json: bool,
    },
    /// An account's nonce and balance, proven against the daemon's state root (exit 3 if the
    /// account does not exist).
    Account {
        #[command(flatten)]
        conn: Conn,
        /// Address (64 hex digits) or keystore index.
        who: String,
        #[arg(long)]
        json: bool,
    },
    /// Call a contract read-only (SimulateTx: executed against the head, never committed),
    /// signed by keystore key --from.
    Call {
        #[command(flatten)]
        conn: Conn,
        /// Contract address (hex).
        contract: String,
        /// Exported function.
        entry: String,
        /// Arguments (hex).
        #[arg(long, default_value = "")]
        args_hex: String,
        /// Keystore index of the caller (default: --key, else 0).
        #[arg(long)]
        from: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Submit signed transactions (hex, from `keel tx sign`) as the next block, proposed by
    /// `--key` (a validator).
    Submit {
        #[command(flatten)]
        conn: Conn,
        txs: Vec<String>,
    },
    /// Send signed transactions (hex or @FILE, from `keel tx sign`) to the daemon's mempool
    /// (SubmitTx). The daemon checks each (chain id, intrinsic gas, signature — verified once,
    /// the verdict kept so the block is not verified again — and the nonce window) and keeps it
    /// until a block includes it, it is replaced by a higher priority fee, evicted or expires.
    /// Any client may submit; clients that are not allowlisted writers are rate limited.
    /// Exit 2 if one was not admitted.
    SubmitTx(super::client_pool::SubmitTxArgs),
    /// Pack the next block from the mempool (BuildBlock), proposed by `--key` (a validator):
    /// the highest priority fee per unit of the scarcest gas dimension first, each sender's
    /// transactions in nonce order, within every per-dimension limit. Prints the block (hex)
    /// or, with `--submit`, submits it (SubmitBlock) and prints its receipts.
    BuildBlock(super::client_pool::BuildBlockArgs),
    /// Submit a signed governance transaction (hex or @FILE, from `keel gov … --print`) as the
    /// next block (proposed by `--key`, a validator); prints its receipt and governance events.
    Gov {
        #[command(flatten)]
        conn: Conn,
        tx: String,
    },
    /// Governance through the daemon: validators, parameters, proposals and their tallies,
    /// routines, kill switches (the same output as `keel gov status`; every value proven).
    GovStatus {
        #[command(flatten)]
        conn: Conn,
        /// One proposal in detail.
        #[arg(long)]
        proposal: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Read a state value with its proof, checked here before it is printed (KEY as in
    /// `keel state get`). `--json` gives the fields `keel state verify` takes. Exit 3: absent
    /// (the exclusion proof is still checked and printed).
    Query {
        #[command(flatten)]
        conn: Conn,
        #[arg(value_name = "KEY")]
        state_key: String,
        #[arg(long)]
        json: bool,
    },
}

fn status(c: &mut Client, conn: &Conn) -> anyhow::Result<keel_protocol::StatusReply> {
    match ask(c, conn, &Request::Status)? {
        Response::Status(s) => Ok(s),
        other => bail!("unexpected answer: {}", kind(&other)),
    }
}

/// Submits `txs` as the next block, proposed by the authenticating key (`--key`, which must
/// be a validator's), with the head's timestamp + 1. Returns the BlockResult JSON.
fn submit_block(conn: &Conn, txs: Vec<SignedTx>) -> anyhow::Result<Vec<u8>> {
    let Some(i) = conn.key else {
        bail!("a block needs a proposer: pass --key with the keystore index of a validator");
    };
    let keys = super::chain::keystore_secrets(&conn.keystore)?;
    let proposer = keys
        .get(i)
        .map(|k| keel_chain::address_of(&k.public_key().to_bytes()))
        .with_context(|| format!("no key {i} in {}", conn.keystore.display()))?;
    let mut c = connect(conn)?;
    // The daemon makes the header (the proposer's VRF proof, the due VDF output; its keystore
    // must hold the proposer's key); its packed transactions are replaced by `txs`.
    let request = keel_protocol::BuildRequest {
        proposer,
        ..keel_protocol::BuildRequest::default()
    };
    let header = match ask(&mut c, conn, &Request::BuildBlock(request))? {
        Response::BlockBuilt { block, .. } => keel_chain::decode::<Block>("block", &block)?.header,
        other => bail!("unexpected answer: {}", kind(&other)),
    };
    let block = Block { header, txs };
    match ask(
        &mut c,
        conn,
        &Request::SubmitBlock {
            block: encode(&block),
        },
    )? {
        Response::BlockOutcome { output } => Ok(output),
        other => bail!("unexpected answer: {}", kind(&other)),
    }
}

pub fn run(cmd: ClientCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ClientCmd::Status { conn, json } => {
            let s = status(&mut connect(&conn)?, &conn)?;
            let detail: serde_json::Value = serde_json::from_slice(&s.detail).unwrap_or_default();
            if json {
                let out = json!({"height": s.height, "state_root": hex::encode(s.state_root), "detail": detail});
                println!("{out}");
            } else {
                println!(
                    "height {}\nstate root {}",
                    s.height,
                    hex::encode(s.state_root)
                );
                if let Some(map) = detail.as_object() {
                    for (k, v) in map {
                        println!(
                            "{k} {}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_string)
                        );
                    }
                }
            }
        }
        ClientCmd::Submit { conn, txs } => {
            let txs = txs
                .iter()
                .map(|t| -> anyhow::Result<SignedTx> {
                    Ok(decode(
                        "signed transaction",
                        &hex::decode(t.trim().trim_start_matches("0x"))?,
                    )?)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let output = submit_block(&conn, txs)?;
            let r: keel_chain::BlockResult = serde_json::from_slice(&output)
                .context("the daemon's block result does not decode")?;
            super::chain::print_result(&r, true);
            return Ok(exit::of_receipts(&r));
        }
        ClientCmd::Gov { conn, tx } => {
            let tx = super::chain::tx_hex(&tx)?;
            let bytes = hex::decode(tx.trim().trim_start_matches("0x"))
                .context("the transaction is not hex")?;
            let tx: SignedTx = decode("signed transaction", &bytes)?;
            if !matches!(tx.tx.kind, keel_chain::TxKind::Governance(_)) {
                bail!("`keel client gov` needs a governance transaction");
            }
            let output = submit_block(&conn, vec![tx])?;
            let r: keel_chain::BlockResult = serde_json::from_slice(&output)?;
            // The proposal id or tally is in the governance events.
            let answer = serde_json::json!({
                "receipt": r.receipts.first(),
                "governance": r.governance,
                "height": r.height,
            });
            println!("{answer}");
            return Ok(exit::of_receipts(&r));
        }
        ClientCmd::Query {
            conn,
            state_key,
            json,
        } => {
            let raw = super::chain::parse_key(&state_key)?;
            let proven = query(&conn, &raw)?;
            proven.print(json);
            return Ok(proven.exit_code());
        }
        ClientCmd::Account { conn, who, json } => return account(&conn, &who, json),
        ClientCmd::SubmitTx(a) => return super::client_pool::submit_tx(a),
        ClientCmd::BuildBlock(a) => return super::client_pool::build_block(a),
        ClientCmd::GovStatus {
            conn,
            proposal,
            json,
        } => {
            let mut c = connect(&conn)?;
            let height = status(&mut c, &conn)?.height;
            let remote = super::client_state::RemoteState::new(c, &conn.endpoint);
            let mut overlay = keel_state::Overlay::new(remote);
            let access = keel_chain::state_access::Access {
                overlay: &mut overlay,
            };
            return super::gov::status(height, &access, proposal, json);
        }
        ClientCmd::Call {
            conn,
            contract,
            entry,
            args_hex,
            from,
            json,
        } => return call(&conn, &contract, entry, &args_hex, from, json),
    }
    Ok(ExitCode::SUCCESS)
}

/// A proven read through the daemon, checked here against the root it names.
pub fn query(conn: &Conn, raw: &[u8]) -> anyhow::Result<Proven> {
    let mut c = connect(conn)?;
    let (value, proof) = match ask(
        &mut c,
        conn,
        &Request::QueryState {
            key: raw.to_vec(),
            with_proof: true,
        },
    )? {
        Response::StateValue { value, proof } => (value, proof),
        other => bail!("unexpected answer to a state query: {}", kind(&other)),
    };
    let p: serde_json::Value =
        serde_json::from_slice(&proof.unwrap_or_default()).context("the daemon sent no proof")?;
    let root = super::chain::parse_hex::<32>("root", p["root"].as_str().unwrap_or_default())?;
    let proof_hex = p["proof"].as_str().unwrap_or_default().to_string();
    let sp = keel_state::StateProof::from_hex(&proof_hex).context("the proof is malformed")?;
    keel_state::verify_proof(keel_state::RootHash(root), raw, value.as_deref(), &sp)
        .context("the daemon's proof does not verify")?;
    Ok(Proven {
        key: raw.to_vec(),
        value,
        root,
        height: p["height"].as_u64().unwrap_or_default(),
        proof_hex,
    })
}

/// An address in hex, or a keystore index.
fn address(conn: &Conn, who: &str) -> anyhow::Result<[u8; 32]> {
    if who.len() < 8
        && let Ok(i) = who.parse::<usize>()
    {
        let keys = super::chain::keystore_secrets(&conn.keystore)?;
        let key = keys
            .get(i)
            .with_context(|| format!("no key {i} in {}", conn.keystore.display()))?;
        return Ok(keel_chain::address_of(&key.public_key().to_bytes()));
    }
    super::chain::parse_hex::<32>("address", who)
}

fn account(conn: &Conn, who: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let addr = address(conn, who)?;
    let proven = query(conn, &keel_state::keys::account_key(&addr))?;
    let acc: Option<keel_chain::Account> = proven
        .value
        .as_deref()
        .map(|v| decode("account", v))
        .transpose()?;
    if as_json {
        let out = json!({"address": hex::encode(addr), "account": acc, "proof": proven.to_json()});
        println!("{out}");
    } else {
        println!("address {}", hex::encode(addr));
        match &acc {
            Some(a) => {
                println!("nonce {}\nbalance {}", a.nonce, a.balance);
                if let Some(h) = a.code_hash {
                    println!("contract code {}", hex::encode(h));
                }
            }
            None => println!("absent"),
        }
        println!(
            "proof verified against root {} at height {}",
            hex::encode(proven.root),
            proven.height
        );
    }
    Ok(proven.exit_code())
}

fn call(
    conn: &Conn,
    contract: &str,
    entry: String,
    args_hex: &str,
    from: Option<usize>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let from = from.or(conn.key).unwrap_or(0);
    let keys = super::chain::keystore_secrets(&conn.keystore)?;
    let key = keys
        .get(from)
        .with_context(|| format!("no key {from} in {}", conn.keystore.display()))?;
    let me = keel_chain::address_of(&key.public_key().to_bytes());
    let nonce = match query(conn, &keel_state::keys::account_key(&me))?.value {
        Some(v) => decode::<keel_chain::Account>("account", &v)?.nonce,
        None => 0,
    };
    let tx = keel_chain::Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: [50_000_000, 100_000, 64, 100_000],
        max_fee_per_unit: [100, 100, 100, 100],
        priority_fee: 1,
        kind: keel_chain::TxKind::Call {
            contract: super::chain::parse_hex::<32>("contract", contract)?,
            call: keel_chain::CallData {
                entry,
                args: hex::decode(args_hex.trim_start_matches("0x"))
                    .context("--args-hex is not hex")?,
            },
            value: keel_chain::Amount::ZERO,
        },
    }
    .sign(key);
    let mut c = connect(conn)?;
    let output = match ask(&mut c, conn, &Request::SimulateTx { tx: encode(&tx) })? {
        Response::TxOutcome { output } => output,
        other => bail!("unexpected answer to SimulateTx: {}", kind(&other)),
    };
    // A SimulateTx outcome is the receipt itself.
    let receipt: keel_chain::Receipt =
        serde_json::from_slice(&output).context("the daemon's receipt does not decode")?;
    if as_json {
        println!("{}", serde_json::to_string(&receipt)?);
    } else {
        let gas = receipt.gas_used;
        match &receipt.status {
            keel_chain::TxStatus::Success { return_data } => {
                println!("ok, returned 0x{}", hex::encode(return_data))
            }
            keel_chain::TxStatus::Failed { reason } => println!("FAILED: {reason}"),
            keel_chain::TxStatus::Rejected { reason } => println!("REJECTED: {reason}"),
        }
        println!(
            "gas compute {} storage {} memory {} bandwidth {} (simulated, not committed)",
            gas[0], gas[1], gas[2], gas[3]
        );
    }
    Ok(match receipt.status {
        keel_chain::TxStatus::Success { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(exit::TX_NOT_APPLIED),
    })
}

/// A response's kind, for "unexpected answer" errors (never its Debug dump).
fn kind(r: &Response) -> &'static str {
    match r {
        Response::Error { .. } => "an error",
        Response::Status(_) => "Status",
        Response::StateValue { .. } => "StateValue",
        Response::TxOutcome { .. } => "TxOutcome",
        Response::BlockOutcome { .. } => "BlockOutcome",
        _ => "another response",
    }
}
