//! `keel gov …`: governance proposals and votes on the local chain, and its status.
//!
//! `propose`, `vote` and `kill` sign a governance transaction with a keystore key (a validator's)
//! and, like `keel tx send`, execute it as the next block of the chain in the data directory;
//! with `--print` they only print the signed transaction (hex) for `keel client gov`.

use super::chain::{DataDir, load_keys, open, parse_hex, print_result, secret};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keel_chain::governance::{self, Action, GovTx, KillTarget, ProposalStatus, RoutineSpec, tally};
use keel_chain::state_access::{Access, ChainBase};
use keel_chain::{Block, Transaction, TxKind, address_of, encode};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct Signer {
    #[command(flatten)]
    pub data: DataDir,
    /// Keystore index of the validator that signs.
    #[arg(long)]
    pub from: u32,
    /// Only print the signed transaction (hex), e.g. for `keel client gov`.
    #[arg(long)]
    pub print: bool,
    /// Nonce of the signer; default: read from the chain in the data directory (through the
    /// daemon when one holds it). With `--print`, giving --nonce (and --at for proposals)
    /// reads nothing at all.
    #[arg(long)]
    pub nonce: Option<u64>,
    /// Print the block result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct When {
    /// Activation height; default: head + 1 + max(min_delay, 10), which leaves validators ten
    /// blocks to vote.
    #[arg(long)]
    pub at: Option<u64>,
}

#[derive(Subcommand)]
pub enum GovCmd {
    /// Propose an action, activated at a future height if validators holding a quorum of the
    /// stake vote yes before it.
    Propose {
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        when: When,
        #[command(subcommand)]
        action: ProposeAction,
    },
    /// Vote on a proposal (a later vote of the same validator replaces the earlier one).
    Vote {
        #[command(flatten)]
        signer: Signer,
        /// Proposal id (see `keel gov status`).
        proposal: u64,
        /// yes or no.
        #[arg(value_parser = parse_vote, action = clap::ArgAction::Set)]
        vote: bool,
    },
    /// Propose a kill switch: an opcode class (division, call_indirect, memory_grow, br_table,
    /// sign_extension, multiplication), a host function (e.g. native_call) or routine:ID.
    /// From its height, deploys using it are refused and running code traps on reaching it.
    Kill {
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        when: When,
        target: String,
    },
    /// Validators, proposals, routines, kill switches, feature gates and the gas schedule.
    Status {
        #[command(flatten)]
        data: DataDir,
        /// Show one proposal in full.
        proposal: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ProposeAction {
    /// Activate a routine version: its sBPF object, its certificate (`keel module certify`) and
    /// its manifest (JSON: id, name, version, input, output_len, syscalls, cost_base,
    /// cost_block_bytes, cost_per_block, summary).
    ActivateRoutine {
        object: PathBuf,
        certificate: PathBuf,
        #[arg(long)]
        manifest: PathBuf,
    },
    /// Activate a built-in routine's object under a manifest of the built-in, certified now;
    /// optionally under another id and version (e.g. a new version of an active routine).
    ActivateBuiltin {
        name: String,
        /// Routine id to activate it under (default: the built-in's).
        #[arg(long)]
        id: Option<u32>,
        /// Routine version (default: the built-in's); must exceed any earlier version of the id.
        #[arg(long)]
        routine_version: Option<u32>,
    },
    /// Deactivate a routine.
    DeactivateRoutine { id: u32 },
    /// Lift a kill switch (same TARGET forms as `keel gov kill`).
    Revive { target: String },
    /// Move a feature gate to another version this node implements.
    SetFeature {
        name: String,
        #[arg(value_name = "VERSION")]
        feature_version: u32,
    },
    /// Replace the fee-market parameters (JSON like the chain config's `fees`).
    SetFees { file: PathBuf },
    /// Replace the VM gas schedule (JSON of a schedule with a higher version).
    SetGasSchedule { file: PathBuf },
    /// Replace a contract's code (.wasm or .wat); storage and balance stay.
    UpgradeContract {
        /// Contract address (hex).
        contract: String,
        code: PathBuf,
    },
}

fn parse_vote(s: &str) -> Result<bool, String> {
    match s {
        "yes" | "y" | "approve" => Ok(true),
        "no" | "n" | "reject" => Ok(false),
        _ => Err("say yes or no".into()),
    }
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn action_of(a: ProposeAction) -> anyhow::Result<Action> {
    Ok(match a {
        ProposeAction::ActivateRoutine {
            object,
            certificate,
            manifest,
        } => {
            let spec: RoutineSpec = serde_json::from_slice(&read(&manifest)?)
                .with_context(|| format!("{} is not a routine manifest", manifest.display()))?;
            Action::ActivateRoutine {
                spec,
                object: read(&object)?,
                certificate: read(&certificate)?,
            }
        }
        ProposeAction::ActivateBuiltin {
            name,
            id,
            routine_version: version,
        } => {
            let registry = keel_ebpf_bridge::Registry::builtin()?;
            let routine = registry
                .find_by_name(&name)
                .with_context(|| format!("no built-in routine {name} (see `keel bridge list`)"))?;
            let objects = keel_pcc::objects::builtin_routines().map_err(|e| anyhow::anyhow!(e))?;
            let object = objects
                .iter()
                .find(|o| o.name == name)
                .with_context(|| format!("no object for {name}"))?;
            let mut spec = RoutineSpec::of(routine.manifest());
            if let Some(id) = id {
                spec.id = id;
            }
            if let Some(v) = version {
                spec.version = v;
            }
            eprintln!("certifying {name}…");
            let cert =
                keel_pcc::certify_object(object.elf, &keel_pcc::params_of(routine.manifest()))
                    .with_context(|| format!("{name} cannot be certified"))?;
            Action::ActivateRoutine {
                spec,
                object: object.elf.to_vec(),
                certificate: cert.to_bytes(),
            }
        }
        ProposeAction::DeactivateRoutine { id } => Action::DeactivateRoutine { id },
        ProposeAction::Revive { target } => Action::Revive {
            target: KillTarget::parse(&target).map_err(|e| anyhow::anyhow!(e))?,
        },
        ProposeAction::SetFeature {
            name,
            feature_version: version,
        } => Action::SetFeature { name, version },
        ProposeAction::SetFees { file } => Action::SetFeeParams {
            fees: serde_json::from_slice(&read(&file)?)
                .with_context(|| format!("{} is not fee parameters", file.display()))?,
        },
        ProposeAction::SetGasSchedule { file } => {
            let bytes = read(&file)?;
            serde_json::from_slice::<keel_vm::GasSchedule>(&bytes)
                .with_context(|| format!("{} is not a gas schedule", file.display()))?;
            Action::SetGasSchedule {
                schedule_json: bytes,
            }
        }
        ProposeAction::UpgradeContract { contract, code } => Action::UpgradeContract {
            contract: parse_hex::<32>("contract", &contract)?,
            code: super::read_module(&code)?,
        },
    })
}

/// Signs `g` with the signer's key and executes it as the next block (or prints it).
fn submit(signer: &Signer, g: GovTx) -> anyhow::Result<ExitCode> {
    let keys = load_keys(&signer.data)?;
    let entry = keys
        .iter()
        .find(|k| k.index == signer.from)
        .with_context(|| format!("no key {} in the keystore", signer.from))?;
    let key = secret(entry)?;
    let me = address_of(&key.public_key().to_bytes());
    // --print only signs: with --nonce nothing is read, otherwise the nonce and chain id come
    // from the chain (or the daemon holding it). Without --print the block executes here.
    let offline = signer.print && signer.nonce.is_some();
    let chain = if signer.print {
        None
    } else {
        Some(open(&signer.data)?)
    };
    let (nonce, chain_id) = match &chain {
        Some(c) => (
            match signer.nonce {
                Some(n) => n,
                None => c.account(&me)?.map_or(0, |a| a.nonce),
            },
            c.config()?.chain_id,
        ),
        None if offline => (
            signer.nonce.unwrap_or(0),
            keel_chain::ChainConfig::demo().chain_id,
        ),
        None => {
            let f = facts(&signer.data, Some(&me))?;
            (signer.nonce.unwrap_or(f.nonce), f.chain_id)
        }
    };
    let size = encode(&g).len() as u64;
    let tx = Transaction {
        chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        // A governance transaction may use its whole block (the demo chain's compute limit).
        gas_limits: [
            keel_chain::fees::BLOCK_COMPUTE_LIMIT,
            1_000,
            1,
            size.saturating_add(1_000),
        ],
        max_fee_per_unit: [1_000, 1_000, 1_000, 1_000],
        priority_fee: 0,
        kind: TxKind::Governance(g),
    }
    .sign(&key);
    if signer.print {
        println!("{}", hex::encode(encode(&tx)));
        return Ok(ExitCode::SUCCESS);
    }
    let Some(chain) = chain else {
        bail!("no chain to send to");
    };
    let header = chain.next_local_header()?;
    let r = chain.execute_block(&Block {
        header,
        txs: vec![tx],
    })?;
    print_result(&r, signer.json);
    Ok(match r.receipts.first().map(|rc| &rc.status) {
        Some(keel_chain::TxStatus::Success { .. }) => ExitCode::SUCCESS,
        _ => ExitCode::from(super::exit::TX_NOT_APPLIED),
    })
}

/// Blocks left for voting when no `--at` is given.
const DEFAULT_VOTING_BLOCKS: u64 = 10;

fn activation(data: &DataDir, when: &When) -> anyhow::Result<u64> {
    if let Some(h) = when.at {
        return Ok(h);
    }
    let f = facts(data, None)?;
    Ok(f.head + 1 + f.min_delay.max(DEFAULT_VOTING_BLOCKS))
}

/// What signing a governance transaction needs from the chain.
struct Facts {
    head: u64,
    chain_id: u64,
    min_delay: u64,
    nonce: u64,
}

/// [`Facts`] from the daemon holding `data` when there is one (proven reads), else from the
/// local chain. `me`: whose nonce (0 without).
fn facts(data: &DataDir, me: Option<&keel_chain::Address>) -> anyhow::Result<Facts> {
    if let Some(conn) = super::via_daemon::daemon_conn(data) {
        let mut c = super::client_conn::connect(&conn)?;
        let status = match super::client_conn::ask(&mut c, &conn, &keel_protocol::Request::Status)?
        {
            keel_protocol::Response::Status(s) => s,
            _ => bail!("unexpected answer to Status"),
        };
        let detail: serde_json::Value = serde_json::from_slice(&status.detail).unwrap_or_default();
        let chain_id = detail["chain_id"]
            .as_u64()
            .context("the daemon's status names no chain id")?;
        let remote = super::client_state::RemoteState::new(c, &conn.endpoint);
        let mut overlay = keel_state::Overlay::new(remote);
        return gather(
            status.height,
            chain_id,
            me,
            &Access {
                overlay: &mut overlay,
            },
        );
    }
    let chain = open(data)?;
    let (head, _) = chain.head()?;
    let chain_id = chain.config()?.chain_id;
    chain.read(|a| Ok(gather(head, chain_id, me, a)))?
}

fn gather<B: ChainBase>(
    head: u64,
    chain_id: u64,
    me: Option<&keel_chain::Address>,
    a: &Access<'_, B>,
) -> anyhow::Result<Facts> {
    Ok(Facts {
        head,
        chain_id,
        min_delay: governance::params(a)?.min_delay,
        nonce: match me {
            Some(m) => a.account(m)?.map_or(0, |acc| acc.nonce),
            None => 0,
        },
    })
}

pub fn run(cmd: GovCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GovCmd::Propose {
            signer,
            when,
            action,
        } => {
            let at = activation(&signer.data, &when)?;
            let action = action_of(action)?;
            submit(
                &signer,
                GovTx::Propose {
                    action,
                    activation_height: at,
                },
            )
        }
        GovCmd::Kill {
            signer,
            when,
            target,
        } => {
            let target = KillTarget::parse(&target).map_err(|e| anyhow::anyhow!(e))?;
            let at = activation(&signer.data, &when)?;
            submit(
                &signer,
                GovTx::Propose {
                    action: Action::Kill { target },
                    activation_height: at,
                },
            )
        }
        GovCmd::Vote {
            signer,
            proposal,
            vote,
        } => submit(
            &signer,
            GovTx::Vote {
                proposal,
                approve: vote,
            },
        ),
        GovCmd::Status {
            data,
            proposal,
            json,
        } => {
            if let Some(conn) = super::via_daemon::daemon_conn(&data) {
                return super::client::run(super::client::ClientCmd::GovStatus {
                    conn,
                    proposal,
                    json,
                });
            }
            let chain = open(&data)?;
            let (height, _) = chain.head()?;
            chain.read(|a| Ok(status(height, a, proposal, json)))?
        }
    }
}

/// Where a proposal stands, in words.
fn status_text(p: &governance::Proposal, yes: u64, total: u64) -> String {
    match &p.status {
        ProposalStatus::Voting => {
            format!("voting until {} (yes {yes}/{total})", p.activation_height)
        }
        ProposalStatus::Executed { height } => format!("activated at {height}"),
        ProposalStatus::Failed { height, reason } => format!("failed at {height}: {reason}"),
        ProposalStatus::Expired { height, .. } => {
            format!("expired at {height} (yes {yes}/{total})")
        }
    }
}

/// Prints the governance state read through `a` (the local chain, or a daemon through
/// `keel client gov-status`) at `height`.
pub fn status<B: ChainBase>(
    height: u64,
    a: &Access<'_, B>,
    one: Option<u64>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let validators = governance::validators(a)?;
    let params = governance::params(a)?;
    if let Some(id) = one {
        let p = governance::proposal(a, id)?.with_context(|| format!("no proposal {id}"))?;
        let (yes, no, total) = tally(&p, &validators);
        if as_json {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({ "proposal": p, "yes_stake": yes, "no_stake": no, "total_stake": total })
                )?
            );
        } else {
            println!(
                "proposal {id}: {}\n  proposer {}\n  submitted at {}, activates at {}\n  status {}\n  votes: yes {yes}, no {no} of {total} stake (quorum {} bps)",
                p.action.describe(),
                hex::encode(p.proposer),
                p.submitted_at,
                p.activation_height,
                status_text(&p, yes, total),
                params.quorum_bps
            );
            for (a, v) in &p.votes {
                println!("    {} {}", hex::encode(a), if *v { "yes" } else { "no" });
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let count = governance::proposal_count(a)?;
    let mut proposals = Vec::new();
    for id in 0..count {
        if let Some(p) = governance::proposal(a, id)? {
            proposals.push(p);
        }
    }
    let mut routines = Vec::new();
    for id in governance::routine_ids(a)? {
        routines.push((id, governance::routine_history(a, id)?));
    }
    let kills = governance::kills(a)?;
    let features = governance::features(a)?;
    let schedule =
        governance::schedule(a)?.map_or(keel_vm::GasSchedule::v1().version, |s| s.version);
    if as_json {
        let v = json!({
            "height": height,
            "params": params,
            "validators": validators,
            "proposals": proposals,
            "routines": routines.iter().map(|(id, h)| json!({"id": id, "versions": h.versions})).collect::<Vec<_>>(),
            "kills": kills.items,
            "features": features,
            "gas_schedule_version": schedule,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "height {height}; quorum {} bps; activation delay {}..={} blocks",
        params.quorum_bps, params.min_delay, params.max_delay
    );
    println!("validators:");
    for v in &validators {
        println!("  {} stake {}", hex::encode(v.address), v.stake);
    }
    println!("proposals:");
    if proposals.is_empty() {
        println!("  (none)");
    }
    for p in &proposals {
        let (yes, _, total) = tally(p, &validators);
        println!(
            "  {} {}: {}",
            p.id,
            p.action.describe(),
            status_text(p, yes, total)
        );
    }
    println!("routines:");
    for (id, h) in &routines {
        for v in &h.versions {
            let until = v.active_until.map_or("now".to_string(), |u| u.to_string());
            println!(
                "  {id} {} v{} active {}..{until}, worst case {} instructions, object {}",
                v.spec.name,
                v.spec.version,
                v.active_from,
                v.worst_case_instructions,
                hex::encode(&v.object_hash[..8])
            );
        }
    }
    println!("kill switches:");
    if kills.items.is_empty() {
        println!("  (none)");
    }
    for (t, h) in &kills.items {
        println!("  {t} since {h}");
    }
    println!("features:");
    for (name, version) in &features {
        println!("  {name} v{version}");
    }
    println!("gas schedule v{schedule}");
    if !validators.is_empty() && validators.iter().all(|v| v.stake == 0) {
        bail!("no validator has stake: governance cannot pass anything");
    }
    Ok(ExitCode::SUCCESS)
}
