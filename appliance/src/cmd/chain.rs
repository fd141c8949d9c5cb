//! `keel chain …`, `keel state …` and `keel tx …`: the chain on a local data directory.

use super::receipt_text;
use super::via_daemon;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keel_chain::genesis::{self, KeyEntry};
use keel_chain::tx::PerDimension;
use keel_chain::{
    Amount, Block, CallData, Chain, DEFAULT_DATA_DIR, SignedTx, Transaction, TxKind, address_of,
    decode, encode,
};
use keel_crypto::{SecretKey, SignatureVerifier};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// The data directory option shared by every chain command.
#[derive(Args, Clone)]
pub struct DataDir {
    /// Data directory (state database and keystore).
    #[arg(long = "data", env = "KEEL_DATA", default_value = DEFAULT_DATA_DIR)]
    pub dir: PathBuf,
}

impl DataDir {
    pub fn keystore(&self) -> PathBuf {
        self.dir.join("keystore.json")
    }
}

#[derive(Subcommand)]
pub enum ChainCmd {
    /// Create a chain: genesis with funded demo accounts, keys in DATA/keystore.json (0600).
    Init {
        #[command(flatten)]
        data: DataDir,
        /// Number of funded demo accounts.
        #[arg(long, default_value_t = 8)]
        accounts: u32,
        /// Balance of each demo account.
        #[arg(long, default_value = "1000000000000000000000000")]
        balance: String,
        /// Print the new chain's id, head and keystore path as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Height, state root and base prices of the head.
    Status {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        json: bool,
        /// Also the executor (sequential or parallel, threads) and the rollback log of the
        /// last block it executed: incarnations, aborts by reason, estimate waits. Through a
        /// running daemon, its `executor` detail.
        #[arg(long)]
        verbose: bool,
    },
    /// Execute and commit a block from a JSON file: {"txs": ["<signed tx hex>", …],
    /// "timestamp": N (greater than the head's), "proposer": "<a validator's address hex>",
    /// optional "height" and "parent_root" to check}. The chain refuses a timestamp that does
    /// not follow the head's and a proposer that is not a validator; the keystore must hold the
    /// proposer's key (the header carries its VRF proof). Exit 0: every transaction
    /// succeeded; 2: one FAILED or was REJECTED (the block is committed); 1: error.
    ExecBlock {
        /// The block file.
        file: PathBuf,
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        json: bool,
    },
    /// Commit blocks of signed demo transfers between the keystore accounts, printing
    /// `committed <height> <root>` once each block is durable (used by the crash test).
    Generate {
        #[command(flatten)]
        data: DataDir,
        /// Number of blocks.
        #[arg(long, default_value_t = 10)]
        blocks: u64,
        /// Transfers per block.
        #[arg(long, default_value_t = 16)]
        txs: u32,
    },
    /// The randomness beacon of HEIGHT (default: the newest final one): its value, the
    /// proposer's VRF proof and the VDF output and proof, re-verified. `--verify FILE` checks a
    /// record printed with `--json` (FILE, or - for stdin) without any database. Exit 0: final
    /// and verified; 2: it does not verify; 3: not final yet; 1: error.
    Beacon(super::beacon::BeaconArgs),
    /// Verify the pinned genesis routines (hashes and checker, as init does) and compare this
    /// machine's build of them with the pinned objects. Exit 0: all identical; 2: the local
    /// build differs (reported, not used: the chain runs the pinned objects); 1: error.
    GenesisCheck {
        /// A pinned directory to check instead of the embedded one (e.g. a fresh genesis-pin).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Maintainers: certify this machine's build of the built-in routines and write the pinned
    /// genesis files (manifest.json, objects, certificates) to OUT (see vm/chain/GENESIS.md).
    GenesisPin {
        /// Output directory (the repository's is vm/chain/genesis).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum StateCmd {
    /// Read a state value. KEY: `account:<address hex>`, `storage:<contract hex>:<key hex>`,
    /// `code:<hash hex>` or a raw key in hex.
    Get {
        key: String,
        #[command(flatten)]
        data: DataDir,
        /// Print `{"key", "present", "value"}` (an account decoded, anything else as hex).
        #[arg(long)]
        json: bool,
    },
    /// A value with its inclusion (or exclusion) proof against the head's state root.
    Proof {
        key: String,
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        json: bool,
    },
    /// Full integrity scan: every value, tree node and root of the head state re-checked
    /// against the stored root. Exit codes: 0 intact, 1 damaged, 2 could not check.
    Check(super::state_check::CheckArgs),
    /// Verify a proof without any database.
    Verify {
        /// State root (hex).
        #[arg(long)]
        root: String,
        /// The key, in the same forms as `state get`.
        #[arg(long)]
        key: String,
        /// The value (hex); omit to check an exclusion proof.
        #[arg(long)]
        value: Option<String>,
        /// The proof (hex), as printed by `state proof`.
        #[arg(long)]
        proof: String,
        /// Print `{"verified": bool, "error"}`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TxCmd {
    /// List the keystore's accounts: index, address and public key (never the secrets).
    Keys {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        json: bool,
    },
    /// Sign a transaction with a keystore key; prints the signed transaction as hex.
    Sign(Box<SignArgs>),
    /// Execute signed transactions (hex) as the next block of the local chain.
    Send {
        /// Signed transactions: hex, or @FILE holding the hex.
        txs: Vec<String>,
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Keystore index of the signer.
    #[arg(long)]
    pub from: u32,
    /// Nonce; default: the account's next nonce in the local state.
    #[arg(long)]
    pub nonce: Option<u64>,
    /// Transfer to this address (hex) …
    #[arg(long, requires = "amount")]
    pub to: Option<String>,
    /// … this amount.
    #[arg(long)]
    pub amount: Option<String>,
    /// Deploy this contract (.wasm or .wat) …
    #[arg(long, conflicts_with = "to")]
    pub deploy: Option<PathBuf>,
    /// Call this contract (address hex) …
    #[arg(long, conflicts_with_all = ["to", "deploy"], requires = "entry")]
    pub call: Option<String>,
    /// … entry point …
    #[arg(long)]
    pub entry: Option<String>,
    /// … with these arguments (hex).
    #[arg(long, default_value = "")]
    pub args_hex: String,
    /// Per-dimension gas limits: compute,storage,memory,bandwidth.
    #[arg(long, default_value = "50000000,100000,64,100000", value_parser = parse_dims)]
    pub gas: PerDimension,
    /// Per-dimension max fee per unit.
    #[arg(long, default_value = "100,100,100,100", value_parser = parse_dims)]
    pub max_fee: PerDimension,
    /// Priority fee per compute unit.
    #[arg(long, default_value_t = 1)]
    pub priority_fee: u64,
    /// Print `{"signed", "hash", "sender", "nonce"}` instead of the bare hex.
    #[arg(long)]
    pub json: bool,
}

fn parse_dims(s: &str) -> Result<PerDimension, String> {
    let v: Vec<u64> = s
        .split(',')
        .map(|x| x.trim().parse::<u64>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    v.try_into()
        .map_err(|_| "expected four comma-separated numbers".to_string())
}

/// The chain's signature verifier: batch verification on pinned workers (issue 9).
pub fn verifier() -> anyhow::Result<Box<dyn SignatureVerifier>> {
    let topology = keel_offload::Topology::discover();
    let backend = keel_offload::CpuBackend::new(&topology, &keel_offload::PoolConfig::default())
        .context("cannot start the BLS verification workers")?;
    Ok(Box::new(keel_offload::BatchVerifier::new(backend)))
}

pub fn open(data: &DataDir) -> anyhow::Result<Chain> {
    if !data.dir.join(keel_state::DB_FILE_NAME).exists() {
        bail!(
            "no chain in {} (run `keel chain init --data {}` first)",
            data.dir.display(),
            data.dir.display()
        );
    }
    if let Some(daemon) = crate::daemon::lock::running_daemon(&data.dir) {
        let endpoint = daemon
            .endpoint()
            .map(|e| format!(" --endpoint {e}"))
            .unwrap_or_default();
        bail!(
            "the chain in {} is open in a running keel daemon ({}); send blocks through it: \
             `keel client submit --key N{endpoint} TX…` (a validator's key), or stop it first",
            data.dir.display(),
            daemon.describe(),
        );
    }
    let mut chain = Chain::open(&data.dir, verifier()?)
        .with_context(|| format!("cannot open the chain in {}", data.dir.display()))?;
    add_keystore_proposers(&mut chain, &data.keystore())?;
    Ok(chain)
}

/// Lets `chain` propose blocks (sign their VRF proofs) for every key of the keystore at `path`,
/// if there is one: the keys of a node's own validators. A missing keystore adds none.
pub fn add_keystore_proposers(chain: &mut Chain, path: &std::path::Path) -> anyhow::Result<()> {
    if path.exists() {
        for key in keystore_secrets(path)? {
            chain.add_proposer_key(key);
        }
    }
    Ok(())
}

pub fn parse_hex<const N: usize>(what: &str, s: &str) -> anyhow::Result<[u8; N]> {
    let v =
        hex::decode(s.trim_start_matches("0x")).with_context(|| format!("{what} is not hex"))?;
    v.try_into()
        .map_err(|_| anyhow::anyhow!("{what} must be {N} bytes"))
}

/// Parses the KEY forms of `keel state`.
pub fn parse_key(s: &str) -> anyhow::Result<Vec<u8>> {
    use keel_state::keys;
    let parts: Vec<&str> = s.splitn(3, ':').collect();
    Ok(match parts.as_slice() {
        ["account", a] => keys::account_key(&parse_hex::<32>("address", a)?),
        ["code", h] => keys::code_key(&parse_hex::<32>("code hash", h)?),
        ["storage", c, k] => keys::storage_key(
            &parse_hex::<32>("contract", c)?,
            &hex::decode(k).context("storage key is not hex")?,
        ),
        [raw] => hex::decode(raw.trim_start_matches("0x")).context("raw key is not hex")?,
        _ => bail!("unknown key form `{s}`"),
    })
}

pub fn load_keys(data: &DataDir) -> anyhow::Result<Vec<KeyEntry>> {
    genesis::read_keystore(&data.keystore())
        .with_context(|| format!("cannot read the keystore {}", data.keystore().display()))
}

/// Every secret key of a keystore, in index order.
pub fn keystore_secrets(path: &std::path::Path) -> anyhow::Result<Vec<SecretKey>> {
    let entries = genesis::read_keystore(path)
        .with_context(|| format!("cannot read the keystore {}", path.display()))?;
    entries.iter().map(secret).collect()
}

pub fn secret(entry: &KeyEntry) -> anyhow::Result<SecretKey> {
    let bytes = hex::decode(&entry.secret_key).context("keystore secret is not hex")?;
    SecretKey::from_bytes(&bytes).context("keystore secret is not a BLS key")
}

pub fn run_chain(cmd: ChainCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ChainCmd::Init {
            data,
            accounts,
            balance,
            json,
        } => {
            let balance: Amount =
                serde_json::from_value(json!(balance)).context("--balance is not a number")?;
            if data.dir.join(keel_state::DB_FILE_NAME).exists() {
                bail!(
                    "{} already holds a chain; refusing to overwrite it",
                    data.dir.display()
                );
            }
            std::fs::create_dir_all(&data.dir)
                .with_context(|| format!("cannot create {}", data.dir.display()))?;
            let g = genesis::demo(accounts, balance)?;
            let chain = Chain::init(&data.dir, &g, verifier()?)?;
            genesis::write_keystore(&data.keystore(), accounts)
                .context("cannot write the keystore")?;
            let (h, root) = chain.head()?;
            if json {
                let answer = json!({
                    "chain_id": g.config.chain_id,
                    "data": data.dir,
                    "height": h,
                    "state_root": hex::encode(root),
                    "accounts": accounts,
                    "keystore": data.keystore(),
                });
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "initialized chain {} in {}",
                g.config.chain_id,
                data.dir.display()
            );
            println!("height {h}, state root {}", hex::encode(root));
            println!(
                "{accounts} demo accounts funded; keys in {} (mode 0600)",
                data.keystore().display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ChainCmd::Beacon(a) => super::beacon::run(&a),
        ChainCmd::GenesisCheck { dir, json } => super::genesis::check(dir.as_deref(), json),
        ChainCmd::GenesisPin { out } => super::genesis::pin(&out),
        ChainCmd::Status {
            data,
            json,
            verbose,
        } => {
            if let Some(conn) = via_daemon::daemon_conn(&data) {
                return super::client::run(super::client::ClientCmd::Status { conn, json });
            }
            let chain = open(&data)?;
            let (h, root) = chain.head()?;
            let detail = json!({
                "next_prices": chain.block_result(h)?.map(|r| r.next_prices),
                "chain_id": chain.config()?.chain_id,
                "timestamp": chain.head_timestamp()?,
                "executor": {
                    "threads": chain.exec_mode().threads(),
                    "last_block": chain.last_timings().exec,
                },
            });
            via_daemon::print_status(&via_daemon::status_json(h, root, &detail), json, verbose);
            Ok(ExitCode::SUCCESS)
        }
        ChainCmd::ExecBlock { file, data, json } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let spec: BlockFile = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a block file", file.display()))?;
            let chain = open(&data)?;
            // The proposer's VRF proof needs its key: the keystore must hold it.
            let proposer = parse_hex::<32>("proposer", &spec.proposer)?;
            let mut header = chain.next_header(spec.timestamp, proposer)?;
            if let Some(h) = spec.height {
                header.height = h;
            }
            if let Some(p) = &spec.parent_root {
                header.parent_root = parse_hex::<32>("parent_root", p)?;
            }
            let txs = spec
                .txs
                .iter()
                .enumerate()
                .map(|(i, t)| parse_tx(t).with_context(|| format!("transaction {i}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let r = chain.execute_block(&Block { header, txs })?;
            print_result_in(&r, json, Some(&chain));
            Ok(super::exit::of_receipts(&r))
        }
        ChainCmd::Generate { data, blocks, txs } => {
            let chain = open(&data)?;
            let keys = load_keys(&data)?;
            if keys.len() < 2 {
                bail!("the keystore needs at least two accounts");
            }
            let secrets = keys
                .iter()
                .map(secret)
                .collect::<anyhow::Result<Vec<_>>>()?;
            for _ in 0..blocks {
                let header = chain.next_local_header()?;
                let mut nonces: Vec<u64> = Vec::new();
                for s in &secrets {
                    let a = address_of(&s.public_key().to_bytes());
                    nonces.push(chain.account(&a)?.map_or(0, |acc| acc.nonce));
                }
                let mut block_txs = Vec::new();
                for i in 0..txs as usize {
                    let from = i % secrets.len();
                    let to =
                        address_of(&secrets[(from + 1) % secrets.len()].public_key().to_bytes());
                    let tx = demo_tx(
                        &secrets[from],
                        nonces[from],
                        TxKind::Transfer {
                            to,
                            amount: Amount::from_u128(1 + header.height as u128),
                        },
                    );
                    nonces[from] += 1;
                    block_txs.push(tx);
                }
                let r = chain.execute_block(&Block {
                    header,
                    txs: block_txs,
                })?;
                println!("committed {} {}", r.height, hex::encode(r.state_root));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn demo_tx(key: &SecretKey, nonce: u64, kind: TxKind) -> SignedTx {
    Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: [10_000, 200, 1, 1_000],
        max_fee_per_unit: [1_000, 1_000, 1_000, 1_000],
        priority_fee: 1,
        kind,
    }
    .sign(key)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockFile {
    txs: Vec<String>,
    /// Required: a block's time comes from its proposer, never a default.
    timestamp: u64,
    /// Required: the validator that proposes the block.
    proposer: String,
    height: Option<u64>,
    parent_root: Option<String>,
}

/// A signed transaction given as hex, or as `@FILE` holding the hex (large governance
/// transactions exceed the kernel's limit on one command-line argument).
pub fn tx_hex(arg: &str) -> anyhow::Result<String> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}")),
        None => Ok(arg.to_string()),
    }
}

/// The transaction `tx sign` describes, signed with the keystore key (also used by
/// `keel contract deploy|call`).
pub fn sign(a: &SignArgs) -> anyhow::Result<SignedTx> {
    let keys = load_keys(&a.data)?;
    let entry = keys
        .iter()
        .find(|k| k.index == a.from)
        .with_context(|| format!("no key {} in the keystore", a.from))?;
    let key = secret(entry)?;
    let me = address_of(&key.public_key().to_bytes());
    let nonce = match a.nonce {
        Some(n) => n,
        // While a daemon holds the data directory, its nonce is read through it.
        None => match via_daemon::daemon_conn(&a.data) {
            Some(conn) => super::client::query(&conn, &keel_state::keys::account_key(&me))?
                .value
                .map(|v| decode::<keel_chain::Account>("account", &v))
                .transpose()?
                .map_or(0, |acc| acc.nonce),
            None => open(&a.data)?.account(&me)?.map_or(0, |acc| acc.nonce),
        },
    };
    let kind = if let (Some(to), Some(amount)) = (&a.to, &a.amount) {
        let amount: Amount =
            serde_json::from_value(json!(amount)).context("--amount is not a number")?;
        TxKind::Transfer {
            to: parse_hex::<32>("--to", to)?,
            amount,
        }
    } else if let Some(path) = &a.deploy {
        TxKind::Deploy {
            code: super::read_module(path)?,
            constructor: None,
        }
    } else if let (Some(c), Some(entry)) = (&a.call, &a.entry) {
        let args =
            hex::decode(a.args_hex.trim_start_matches("0x")).context("--args-hex is not hex")?;
        TxKind::Call {
            contract: parse_hex::<32>("--call", c)?,
            call: CallData {
                entry: entry.clone(),
                args,
            },
            value: Amount::ZERO,
        }
    } else {
        bail!(
            "say what the transaction does: --to/--amount, --deploy FILE, or --call ADDR --entry NAME"
        );
    };
    let tx = Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: a.gas,
        max_fee_per_unit: a.max_fee,
        priority_fee: a.priority_fee,
        kind,
    }
    .sign(&key);
    Ok(tx)
}

fn parse_tx(arg: &str) -> anyhow::Result<SignedTx> {
    let hex_tx = tx_hex(arg)?;
    let bytes = hex::decode(hex_tx.trim().trim_start_matches("0x")).context("not hex")?;
    Ok(decode::<SignedTx>("signed transaction", &bytes)?)
}

pub fn print_result(r: &keel_chain::BlockResult, json: bool) {
    print_result_in(r, json, None);
}

/// [`print_result`], naming the functions of fault locations from the contracts' code in
/// `chain` (their name sections).
pub fn print_result_in(r: &keel_chain::BlockResult, json: bool, chain: Option<&Chain>) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    println!(
        "block {} committed, state root {}",
        r.height,
        hex::encode(r.state_root)
    );
    for (i, rc) in r.receipts.iter().enumerate() {
        let status = match &rc.status {
            keel_chain::TxStatus::Success { return_data } => {
                format!("ok return=0x{}", hex::encode(return_data))
            }
            keel_chain::TxStatus::Failed { reason } => format!("FAILED: {reason}"),
            keel_chain::TxStatus::Rejected { reason } => format!("REJECTED: {reason}"),
        };
        let contract = rc
            .contract
            .map(|c| format!(" contract={}", hex::encode(c)))
            .unwrap_or_default();
        println!(
            "  tx {i} {}: {status}; gas {}; fee {}{contract}",
            hex::encode(&rc.tx_hash[..8]),
            gas_text(&rc.gas_used),
            rc.fee
        );
        for e in &rc.events {
            println!(
                "    event from {}: topic {} data 0x{}",
                hex::encode(&e.contract[..8]),
                receipt_text::topic_text(&e.topic),
                hex::encode(&e.data)
            );
        }
        for f in &rc.faults {
            let at = f.location.as_ref().map_or(String::new(), |l| {
                let names = chain
                    .and_then(|c| contract_code(c, &f.contract))
                    .map(|code| receipt_text::function_names(&code))
                    .unwrap_or_default();
                format!(
                    ", {}",
                    receipt_text::location_text(l.func, l.offset, &names)
                )
            });
            println!(
                "    fault in {}.{} (depth {}){at}: {}",
                hex::encode(&f.contract[..8]),
                f.entry,
                f.depth,
                f.trap
            );
        }
    }
    for e in &r.governance {
        let tx = e.tx_index.map(|i| format!(" (tx {i})")).unwrap_or_default();
        println!(
            "  governance proposal {} {}{tx}: {}",
            e.proposal,
            receipt_text::name_of(&e.kind),
            e.detail
        );
    }
    println!(
        "gas used {}; next prices {}",
        gas_text(&r.gas_used),
        gas_text(&r.next_prices)
    );
}

/// The code of a deployed contract, if it can be read.
fn contract_code(chain: &Chain, contract: &[u8; 32]) -> Option<Vec<u8>> {
    chain
        .read(|a| {
            let Some(hash) = a.account(contract)?.and_then(|acc| acc.code_hash) else {
                return Ok(None);
            };
            a.code(&hash)
        })
        .ok()
        .flatten()
}

/// A per-dimension vector, labelled.
pub fn gas_text(g: &PerDimension) -> String {
    format!(
        "compute {} storage {} memory {} bandwidth {}",
        g[0], g[1], g[2], g[3]
    )
}

pub fn run_state(cmd: StateCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        StateCmd::Check(a) => super::state_check::run(a),
        StateCmd::Get { key, data, json } => {
            let raw = parse_key(&key)?;
            let value = match via_daemon::daemon_conn(&data) {
                Some(conn) => super::client::query(&conn, &raw)?.value,
                None => open(&data)?.get(&raw)?,
            };
            let shown = match &value {
                None => serde_json::Value::Null,
                Some(v) if key.starts_with("account:") => {
                    let acc: keel_chain::Account = decode("account", v)?;
                    serde_json::to_value(&acc)?
                }
                Some(v) => json!(format!("0x{}", hex::encode(v))),
            };
            if json {
                let answer = json!({ "key": key, "present": value.is_some(), "value": shown });
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else if value.is_none() {
                println!("absent");
            } else if let Some(text) = shown.as_str() {
                println!("{text}");
            } else {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            }
            Ok(match value {
                None => ExitCode::from(super::exit::ABSENT),
                Some(_) => ExitCode::SUCCESS,
            })
        }
        StateCmd::Proof { key, data, json } => {
            let raw = parse_key(&key)?;
            if let Some(conn) = via_daemon::daemon_conn(&data) {
                let proven = super::client::query(&conn, &raw)?;
                proven.print(json);
                return Ok(proven.exit_code());
            }
            let chain = open(&data)?;
            let (value, proof, h, root) = chain.prove(&raw)?;
            keel_state::verify_proof(keel_state::RootHash(root), &raw, value.as_deref(), &proof)
                .context("the proof does not verify")?;
            let proven = super::proven::Proven {
                key: raw,
                value,
                root,
                height: h,
                proof_hex: proof.to_hex()?,
            };
            proven.print(json);
            Ok(proven.exit_code())
        }
        StateCmd::Verify {
            root,
            key,
            value,
            proof,
            json,
        } => {
            let raw = parse_key(&key)?;
            let root = parse_hex::<32>("root", &root)?;
            let proof =
                keel_state::StateProof::from_hex(&proof).context("the proof is malformed")?;
            let value = value
                .map(|v| hex::decode(v.trim_start_matches("0x")))
                .transpose()
                .context("value is not hex")?;
            let verdict = keel_state::verify_proof(
                keel_state::RootHash(root),
                &raw,
                value.as_deref(),
                &proof,
            );
            match (&verdict, json) {
                (_, true) => println!(
                    "{}",
                    json!({
                        "verified": verdict.is_ok(),
                        "error": verdict.as_ref().err().map(ToString::to_string),
                    })
                ),
                (Ok(()), false) => println!("verified"),
                (Err(e), false) => println!("NOT verified: {e}"),
            }
            Ok(match verdict {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(1),
            })
        }
    }
}

pub fn run_tx(cmd: TxCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TxCmd::Keys { data, json } => {
            let keys = load_keys(&data)?;
            if json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| json!({"index": k.index, "address": k.address, "public_key": k.public_key}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for k in &keys {
                    println!(
                        "{:>3}  address {}  public key {}",
                        k.index, k.address, k.public_key
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TxCmd::Sign(a) => {
            let tx = sign(&a)?;
            let signed = hex::encode(encode(&tx));
            if a.json {
                let answer = json!({
                    "signed": signed,
                    "hash": hex::encode(tx.hash()),
                    "sender": hex::encode(tx.tx.sender_address()),
                    "nonce": tx.tx.nonce,
                });
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                println!("{signed}");
            }
            Ok(ExitCode::SUCCESS)
        }
        TxCmd::Send { txs, data, json } => {
            let chain = open(&data)?;
            let txs = txs
                .iter()
                .enumerate()
                .map(|(i, t)| parse_tx(t).with_context(|| format!("transaction {i}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let header = chain.next_local_header()?;
            let r = chain.execute_block(&Block { header, txs })?;
            print_result_in(&r, json, Some(&chain));
            Ok(super::exit::of_receipts(&r))
        }
    }
}
