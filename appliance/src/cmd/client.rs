//! `keel client …`: talk to a running daemon.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keel_chain::{Block, BlockHeader, SignedTx, decode, encode};
use keel_client::{Client, Endpoint};
use keel_protocol::{Request, Response};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct Conn {
    /// Daemon address: host:port for TCP, or a path for the Unix socket.
    #[arg(long, default_value = "127.0.0.1:7411", env = "KEEL_ENDPOINT")]
    pub endpoint: String,
    /// Keystore to authenticate from.
    #[arg(long, default_value = "./keel-data/keystore.json")]
    pub keystore: PathBuf,
    /// Keystore index of the key to authenticate with; omit to stay unauthenticated (reads only,
    /// where the daemon allows it).
    #[arg(long)]
    pub key: Option<usize>,
}

#[derive(Subcommand)]
pub enum ClientCmd {
    /// Height, state root and details of the daemon's chain.
    Status {
        #[command(flatten)]
        conn: Conn,
    },
    /// Submit signed transactions (hex, from `keel tx sign`) as the next block, proposed by
    /// `--key` (a validator).
    Submit {
        #[command(flatten)]
        conn: Conn,
        txs: Vec<String>,
    },
    /// Submit a signed governance transaction (hex or @FILE, from `keel gov … --print`) as the
    /// next block (proposed by `--key`, a validator); prints its receipt and governance events.
    Gov {
        #[command(flatten)]
        conn: Conn,
        tx: String,
    },
    /// Read a state value with its proof (KEY as in `keel state get`).
    Query {
        #[command(flatten)]
        conn: Conn,
        #[arg(value_name = "KEY")]
        state_key: String,
    },
}

fn connect(conn: &Conn) -> anyhow::Result<Client> {
    let endpoint = match conn.endpoint.parse() {
        Ok(addr) => Endpoint::Tcp(addr),
        Err(_) => Endpoint::Unix(PathBuf::from(&conn.endpoint)),
    };
    let mut c = Client::connect(&endpoint)
        .with_context(|| format!("cannot connect to {}", conn.endpoint))?;
    if let Some(i) = conn.key {
        let keys = super::chain::keystore_secrets(&conn.keystore)?;
        let key = keys
            .get(i)
            .with_context(|| format!("no key {i} in {}", conn.keystore.display()))?;
        c.handshake(key, None).context("handshake failed")?;
    }
    Ok(c)
}

fn status(c: &mut Client) -> anyhow::Result<keel_protocol::StatusReply> {
    match c.call(&Request::Status)? {
        Response::Status(s) => Ok(s),
        other => bail!("unexpected answer: {other:?}"),
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
    let s = status(&mut c)?;
    let detail: serde_json::Value = serde_json::from_slice(&s.detail).unwrap_or_default();
    let parent_time = detail["timestamp"].as_u64().unwrap_or(s.height);
    let block = Block {
        header: BlockHeader {
            height: s.height + 1,
            parent_root: s.state_root,
            timestamp: parent_time + 1,
            proposer,
        },
        txs,
    };
    match c.call(&Request::SubmitBlock {
        block: encode(&block),
    })? {
        Response::BlockOutcome { output } => Ok(output),
        other => bail!("unexpected answer: {other:?}"),
    }
}

pub fn run(cmd: ClientCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ClientCmd::Status { conn } => {
            let s = status(&mut connect(&conn)?)?;
            println!(
                "height {}\nstate root {}\n{}",
                s.height,
                hex::encode(s.state_root),
                String::from_utf8_lossy(&s.detail)
            );
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
            println!("{}", String::from_utf8_lossy(&output));
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
        }
        ClientCmd::Query { conn, state_key } => {
            let raw = super::chain::parse_key(&state_key)?;
            match connect(&conn)?.call(&Request::QueryState {
                key: raw.clone(),
                with_proof: true,
            })? {
                Response::StateValue { value, proof } => {
                    let p: serde_json::Value = serde_json::from_slice(&proof.unwrap_or_default())?;
                    let root: [u8; 32] = hex::decode(p["root"].as_str().unwrap_or_default())?
                        .try_into()
                        .map_err(|_| anyhow::anyhow!("bad root"))?;
                    let sp =
                        keel_state::StateProof::from_hex(p["proof"].as_str().unwrap_or_default())?;
                    keel_state::verify_proof(
                        keel_state::RootHash(root),
                        &raw,
                        value.as_deref(),
                        &sp,
                    )
                    .context("the daemon's proof does not verify")?;
                    match value {
                        Some(v) => println!("0x{}", hex::encode(v)),
                        None => println!("absent"),
                    }
                    println!(
                        "proof verified against root {} at height {}",
                        hex::encode(root),
                        p["height"]
                    );
                }
                other => bail!("unexpected answer: {other:?}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
