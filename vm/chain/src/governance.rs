//! On-chain governance: stake-weighted proposals that activate eBPF routines, switch items off,
//! move feature gates, change the gas schedule or fee parameters, and hot-patch contracts.
//!
//! Life of a proposal (see `GOVERNANCE.md`):
//! 1. A validator (an address in the genesis validator set, with stake) sends a
//!    [`GovTx::Propose`] naming an [`Action`] and an activation height at least
//!    [`GovParams::min_delay`] blocks ahead. The action is validated in full at once (for a
//!    routine: the proof-carrying-code checker runs on its object and certificate), so a
//!    proposal that could never apply fails its transaction.
//! 2. Validators vote with [`GovTx::Vote`] until the block before the activation height; a
//!    later vote of the same validator replaces its earlier one.
//! 3. At the start of the activation block, before its transactions, the proposal is tallied:
//!    with `yes stake ≥ quorum` it is applied — validated again, so the checker re-runs on-chain
//!    at activation — and otherwise it expires. Either way it leaves a [`GovEvent`] in the block
//!    result, which the audit log records.
//!
//! Everything is state: proposals, the routine registry with every version ever activated
//! (`active_from..active_until`), the kill set, feature gates and the gas schedule. Replaying an
//! old block against its parent state therefore uses exactly the routines, kills and schedule
//! that were in force then; routine objects and old contract code are never deleted.

use crate::fees::FeeParams;
use crate::genesis_routines::{GenesisError, GenesisRoutine};
use crate::state_access::{Access, AccessError, ChainBase, system_key};
use crate::tx::{decode, encode};
use crate::types::Address;
use borsh::{BorshDeserialize, BorshSerialize};
use keel_ebpf_bridge::{CostModel, InputRule, Manifest, RoutineId};
use keel_vm::{GasSchedule, HostFn, KillSet, Killed, OpcodeClass, Vm};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Quorum is expressed in basis points of the total stake.
pub const QUORUM_DENOMINATOR: u64 = 10_000;
/// Longest routine or summary name accepted in a proposal.
const MAX_NAME: usize = 64;
const MAX_SUMMARY: usize = 256;

/// A validator: an address with voting stake.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Validator {
    #[serde(with = "crate::receipt::hex32")]
    pub address: Address,
    pub stake: u64,
}

/// Governance parameters, fixed at genesis.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct GovParams {
    /// Yes-stake needed, in basis points of the total stake (6667 = two thirds).
    pub quorum_bps: u64,
    /// Fewest blocks between a proposal and its activation.
    pub min_delay: u64,
    /// Most blocks between a proposal and its activation.
    pub max_delay: u64,
    /// Compute gas of a proposal, plus `per_byte_compute` per byte of its action.
    pub propose_compute: u64,
    pub per_byte_compute: u64,
    /// Compute gas of a vote.
    pub vote_compute: u64,
}

impl Default for GovParams {
    fn default() -> Self {
        GovParams {
            quorum_bps: 6_667,
            min_delay: 2,
            max_delay: 1_000_000,
            propose_compute: 50_000,
            per_byte_compute: 20,
            vote_compute: 5_000,
        }
    }
}

/// Input lengths a routine admits (the bridge's [`InputRule`], in an encodable form).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum InputSpec {
    Exact {
        len: u32,
    },
    Range {
        min: u32,
        max: u32,
    },
    Strided {
        base: u32,
        stride: u32,
        max_count: u32,
    },
}

/// A routine's manifest as a proposal carries it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RoutineSpec {
    pub id: RoutineId,
    pub name: String,
    pub version: u32,
    pub input: InputSpec,
    pub output_len: u32,
    /// Syscalls the routine may use; routines may use none today.
    pub syscalls: Vec<String>,
    /// Instruction bound `base + per_block * ceil(len / block_bytes)`: the gas ceiling.
    pub cost_base: u64,
    pub cost_block_bytes: u64,
    pub cost_per_block: u64,
    pub summary: String,
}

impl RoutineSpec {
    /// The spec of a bridge manifest.
    pub fn of(m: &Manifest) -> RoutineSpec {
        let input = match m.input {
            InputRule::Exact(n) => InputSpec::Exact { len: n as u32 },
            InputRule::Range { min, max } => InputSpec::Range {
                min: min as u32,
                max: max as u32,
            },
            InputRule::Strided {
                base,
                stride,
                max_count,
            } => InputSpec::Strided {
                base: base as u32,
                stride: stride as u32,
                max_count: max_count as u32,
            },
        };
        RoutineSpec {
            id: m.id,
            name: m.name.to_string(),
            version: m.version,
            input,
            output_len: m.output_len as u32,
            syscalls: m.syscalls.iter().map(|s| s.to_string()).collect(),
            cost_base: m.cost.base,
            cost_block_bytes: m.cost.block_bytes,
            cost_per_block: m.cost.per_block,
            summary: m.summary.to_string(),
        }
    }

    /// The bridge manifest, after checking the spec is well formed.
    pub fn manifest(&self) -> Result<Manifest, String> {
        if self.name.is_empty()
            || self.name.len() > MAX_NAME
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!(
                "routine name {:?} must be 1..={MAX_NAME} ASCII letters, digits or '_'",
                self.name
            ));
        }
        if self.summary.len() > MAX_SUMMARY {
            return Err(format!("routine summary longer than {MAX_SUMMARY} bytes"));
        }
        if !self.syscalls.is_empty() {
            return Err(format!(
                "routine requests syscalls {:?}; routines may use none",
                self.syscalls
            ));
        }
        let input = match self.input {
            InputSpec::Exact { len } => InputRule::Exact(len as usize),
            InputSpec::Range { min, max } if min <= max => InputRule::Range {
                min: min as usize,
                max: max as usize,
            },
            InputSpec::Range { min, max } => {
                return Err(format!("input range {min}..={max} is empty"));
            }
            InputSpec::Strided {
                base,
                stride,
                max_count,
            } if stride > 0 => InputRule::Strided {
                base: base as usize,
                stride: stride as usize,
                max_count: max_count as usize,
            },
            InputSpec::Strided { .. } => return Err("input stride must be positive".into()),
        };
        Ok(Manifest {
            id: self.id,
            name: intern(&self.name),
            version: self.version,
            input,
            output_len: self.output_len as usize,
            syscalls: &[],
            cost: CostModel {
                base: self.cost_base,
                block_bytes: self.cost_block_bytes,
                per_block: self.cost_per_block,
            },
            summary: intern(&self.summary),
        })
    }
}

/// Bridge manifests hold `&'static str` names. Names and summaries of governance-activated
/// routines are interned: each distinct string is allocated once for the life of the process
/// (a handful of short strings, bounded by the proposals that passed).
fn intern(s: &str) -> &'static str {
    use std::sync::{Mutex, OnceLock};
    static STRINGS: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    let mut set = STRINGS
        .get_or_init(|| Mutex::new(BTreeSet::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(found) = set.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// What a kill switch (or its reversal) targets.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum KillTarget {
    /// A WebAssembly opcode class ([`OpcodeClass::name`]).
    Opcode(String),
    /// A host function of the `keel` module, by import name.
    HostFn(String),
    /// A native routine, by id.
    Routine(RoutineId),
}

impl std::fmt::Display for KillTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KillTarget::Opcode(n) => write!(f, "opcode class {n}"),
            KillTarget::HostFn(n) => write!(f, "host function keel.{n}"),
            KillTarget::Routine(id) => write!(f, "routine {id}"),
        }
    }
}

impl KillTarget {
    /// Parses what `keel gov kill` accepts: an opcode class name, a host function name, or
    /// `routine:ID`.
    pub fn parse(s: &str) -> Result<KillTarget, String> {
        if let Some(id) = s.strip_prefix("routine:") {
            return id
                .parse()
                .map(KillTarget::Routine)
                .map_err(|_| format!("{id:?} is not a routine id"));
        }
        if OpcodeClass::by_name(s).is_some() {
            return Ok(KillTarget::Opcode(s.into()));
        }
        if HostFn::by_name(s).is_some() {
            return Ok(KillTarget::HostFn(s.into()));
        }
        let classes: Vec<_> = OpcodeClass::ALL.iter().map(|c| c.name()).collect();
        Err(format!(
            "{s:?} is neither an opcode class ({}), a host function name, nor routine:ID",
            classes.join(", ")
        ))
    }

    fn vm_item(&self) -> Result<Option<Killed>, String> {
        Ok(match self {
            KillTarget::Opcode(n) => Some(Killed::Opcode(
                OpcodeClass::by_name(n).ok_or_else(|| format!("unknown opcode class {n:?}"))?,
            )),
            KillTarget::HostFn(n) => Some(Killed::HostFn(
                HostFn::by_name(n).ok_or_else(|| format!("unknown host function {n:?}"))?,
            )),
            KillTarget::Routine(_) => None,
        })
    }
}

/// Feature gates and the versions this binary implements. A gate can only move to a version
/// the binary supports; the first entry is the genesis version (written to the state at genesis).
/// `isa.wasm` selects the admission profile and `pcc.checker` the checker's rules, so a node
/// replays old blocks under the rules in force then.
pub const FEATURES: &[(&str, &[u32], &str)] = &[
    (
        "isa.wasm",
        keel_vm::Profile::SUPPORTED_VERSIONS,
        "admission profile of contract WebAssembly (keel-vm Profile::by_version)",
    ),
    ("abi.host", &[1], "host ABI of the `keel` import module"),
    (
        "isa.sbpf",
        &[0],
        "sBPF version of native routines (solana-sbpf SBPF v0)",
    ),
    (
        "pcc.checker",
        keel_pcc::CheckerRules::SUPPORTED,
        "rules of the proof-carrying-code checker that gates routine activation (keel-pcc)",
    ),
];

/// The version of gate `name` at genesis (the first supported version).
pub fn genesis_feature_version(name: &str) -> Option<u32> {
    FEATURES
        .iter()
        .find(|(n, _, _)| *n == name)
        .and_then(|(_, versions, _)| versions.first().copied())
}

/// A governance action.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Activate version `spec.version` of routine `spec.id` (replacing the active version at
    /// the activation height), with its sBPF object and PCC certificate.
    ActivateRoutine {
        spec: RoutineSpec,
        #[serde(with = "crate::tx::hex_serde")]
        object: Vec<u8>,
        #[serde(with = "crate::tx::hex_serde")]
        certificate: Vec<u8>,
    },
    /// Deactivate routine `id` (calls then fail as for an unknown routine).
    DeactivateRoutine { id: RoutineId },
    /// Switch an item off: admission rejects it and running code traps on reaching it.
    Kill { target: KillTarget },
    /// Lift a kill switch.
    Revive { target: KillTarget },
    /// Move a feature gate to another supported version.
    SetFeature { name: String, version: u32 },
    /// Replace the fee-market parameters.
    SetFeeParams { fees: FeeParams },
    /// Replace the VM gas schedule (JSON of `keel_vm::GasSchedule`, with a higher version).
    SetGasSchedule {
        #[serde(with = "crate::tx::hex_serde")]
        schedule_json: Vec<u8>,
    },
    /// Replace a contract's code (its storage and balance stay); old code stays for replay.
    UpgradeContract {
        #[serde(with = "crate::receipt::hex32")]
        contract: Address,
        #[serde(with = "crate::tx::hex_serde")]
        code: Vec<u8>,
    },
}

impl Action {
    /// One line for logs, status and the audit trail.
    pub fn describe(&self) -> String {
        match self {
            Action::ActivateRoutine { spec, object, .. } => format!(
                "activate routine {} ({}) version {} ({} byte object)",
                spec.id,
                spec.name,
                spec.version,
                object.len()
            ),
            Action::DeactivateRoutine { id } => format!("deactivate routine {id}"),
            Action::Kill { target } => format!("kill {target}"),
            Action::Revive { target } => format!("revive {target}"),
            Action::SetFeature { name, version } => format!("set feature {name} to v{version}"),
            Action::SetFeeParams { .. } => "replace the fee parameters".into(),
            Action::SetGasSchedule { schedule_json } => {
                match serde_json::from_slice::<GasSchedule>(schedule_json) {
                    Ok(s) => format!("switch to gas schedule v{}", s.version),
                    Err(_) => "switch the gas schedule (unparsable)".into(),
                }
            }
            Action::UpgradeContract { contract, code } => format!(
                "upgrade contract {} to code {}",
                hex::encode(contract),
                hex::encode(Sha256::digest(code))
            ),
        }
    }

    fn data_bytes(&self) -> u64 {
        encode(self).len() as u64
    }
}

/// A governance transaction (transaction kind tag 4).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "gov")]
pub enum GovTx {
    Propose {
        action: Action,
        activation_height: u64,
    },
    Vote {
        proposal: u64,
        approve: bool,
    },
}

/// Where a proposal stands.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ProposalStatus {
    Voting,
    Executed {
        height: u64,
    },
    Failed {
        height: u64,
        reason: String,
    },
    Expired {
        height: u64,
        yes_stake: u64,
        total_stake: u64,
    },
}

/// A proposal and its votes.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Proposal {
    pub id: u64,
    #[serde(with = "crate::receipt::hex32")]
    pub proposer: Address,
    pub action: Action,
    pub submitted_at: u64,
    pub activation_height: u64,
    /// One vote per validator (address, approve), in first-vote order.
    pub votes: Vec<(Address, bool)>,
    pub status: ProposalStatus,
}

/// Yes stake, no stake and total stake of a proposal's votes.
pub fn tally(p: &Proposal, validators: &[Validator]) -> (u64, u64, u64) {
    let stake: BTreeMap<Address, u64> = validators.iter().map(|v| (v.address, v.stake)).collect();
    let total = validators
        .iter()
        .fold(0u64, |t, v| t.saturating_add(v.stake));
    let (mut yes, mut no) = (0u64, 0u64);
    for (a, approve) in &p.votes {
        let s = stake.get(a).copied().unwrap_or(0);
        if *approve {
            yes = yes.saturating_add(s);
        } else {
            no = no.saturating_add(s);
        }
    }
    (yes, no, total)
}

/// Whether `yes` of `total` stake reaches the quorum.
pub fn reaches_quorum(yes: u64, total: u64, params: &GovParams) -> bool {
    // Products of two 64-bit numbers always fit a u128.
    total > 0
        && u128::from(yes).saturating_mul(u128::from(QUORUM_DENOMINATOR))
            >= u128::from(params.quorum_bps).saturating_mul(u128::from(total))
}

/// What happened to a proposal in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovEventKind {
    Proposed,
    Voted,
    Activated,
    Failed,
    Expired,
}

/// A governance event of a block (in its result and the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovEvent {
    pub proposal: u64,
    pub kind: GovEventKind,
    /// The transaction that caused it (propose, vote); `None` for activation and expiry.
    pub tx_index: Option<usize>,
    pub detail: String,
}

/// One version of a routine in the registry.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RoutineVersion {
    pub spec: RoutineSpec,
    /// SHA-256 of the sBPF object (kept in the state forever, under `gov/blob/`) and of the
    /// certificate it was activated with.
    #[serde(with = "crate::receipt::hex32")]
    pub object_hash: [u8; 32],
    #[serde(with = "crate::receipt::hex32")]
    pub certificate_hash: [u8; 32],
    /// The checker's worst-case instruction count, and the version of the checker's rules
    /// (the `pcc.checker` gate at activation) that derived it.
    pub worst_case_instructions: u64,
    pub checker_rules: u32,
    /// Active for blocks `active_from..active_until`.
    pub active_from: u64,
    pub active_until: Option<u64>,
    /// The proposal that activated it (`None` at genesis).
    pub proposal: Option<u64>,
}

/// Every version a routine id ever had, oldest first.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct RoutineHistory {
    pub versions: Vec<RoutineVersion>,
}

impl RoutineHistory {
    /// The version active now (the last, if still open).
    pub fn active(&self) -> Option<&RoutineVersion> {
        self.versions.last().filter(|v| v.active_until.is_none())
    }

    /// The version that was active at `height`.
    pub fn at(&self, height: u64) -> Option<&RoutineVersion> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.active_from <= height && v.active_until.is_none_or(|u| height < u))
    }
}

/// The kill switches in force, as stored.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Kills {
    /// (target, height it took effect).
    pub items: Vec<(KillTarget, u64)>,
}

impl Kills {
    /// The VM's kill set (opcode classes and host functions).
    pub fn vm_kills(&self) -> KillSet {
        let mut k = KillSet::default();
        for (t, _) in &self.items {
            if let Ok(Some(item)) = t.vm_item() {
                k.insert(item);
            }
        }
        k
    }

    /// Killed routine ids.
    pub fn routines(&self) -> BTreeSet<RoutineId> {
        self.items
            .iter()
            .filter_map(|(t, _)| match t {
                KillTarget::Routine(id) => Some(*id),
                _ => None,
            })
            .collect()
    }
}

/// A contract's code history (hot patches), oldest first: (code hash, height it took effect).
#[derive(
    Debug, Clone, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct CodeHistory {
    pub versions: Vec<([u8; 32], u64)>,
}

// ---- State layout -------------------------------------------------------------------------

fn key(name: &str, suffix: &[u8]) -> Vec<u8> {
    let mut k = system_key(name);
    k.extend_from_slice(suffix);
    k
}

pub fn validators_key() -> Vec<u8> {
    system_key("gov/validators")
}
pub fn params_key() -> Vec<u8> {
    system_key("gov/params")
}
fn next_id_key() -> Vec<u8> {
    system_key("gov/next_proposal")
}
pub fn proposal_key(id: u64) -> Vec<u8> {
    key("gov/proposal/", &id.to_be_bytes())
}
fn pending_key(height: u64) -> Vec<u8> {
    key("gov/pending/", &height.to_be_bytes())
}
pub fn kills_key() -> Vec<u8> {
    system_key("gov/kills")
}
pub fn features_key() -> Vec<u8> {
    system_key("gov/features")
}
pub fn schedule_key() -> Vec<u8> {
    system_key("gov/schedule")
}
pub fn routine_ids_key() -> Vec<u8> {
    system_key("gov/routine_ids")
}
pub fn routine_key(id: RoutineId) -> Vec<u8> {
    key("gov/routine/", &id.to_be_bytes())
}
pub fn blob_key(hash: &[u8; 32]) -> Vec<u8> {
    key("gov/blob/", hash)
}
pub fn code_history_key(contract: &Address) -> Vec<u8> {
    key("gov/code_history/", contract)
}

/// Typed governance reads and writes over a block overlay.
pub struct Gov<'a, 'o, B> {
    pub a: &'a mut Access<'o, B>,
}

fn get<B: ChainBase, T: BorshDeserialize>(
    a: &Access<'_, B>,
    what: &'static str,
    k: &[u8],
) -> Result<Option<T>, AccessError> {
    match a.overlay.get(k)? {
        Some(b) => Ok(Some(decode(what, &b)?)),
        None => Ok(None),
    }
}

/// Read-only governance queries.
pub fn validators<B: ChainBase>(a: &Access<'_, B>) -> Result<Vec<Validator>, AccessError> {
    Ok(get(a, "validators", &validators_key())?.unwrap_or_default())
}
pub fn params<B: ChainBase>(a: &Access<'_, B>) -> Result<GovParams, AccessError> {
    Ok(get(a, "governance params", &params_key())?.unwrap_or_default())
}
pub fn proposal<B: ChainBase>(a: &Access<'_, B>, id: u64) -> Result<Option<Proposal>, AccessError> {
    get(a, "proposal", &proposal_key(id))
}
pub fn proposal_count<B: ChainBase>(a: &Access<'_, B>) -> Result<u64, AccessError> {
    Ok(get(a, "proposal counter", &next_id_key())?.unwrap_or(0))
}
pub fn kills<B: ChainBase>(a: &Access<'_, B>) -> Result<Kills, AccessError> {
    Ok(get(a, "kills", &kills_key())?.unwrap_or_default())
}
pub fn features<B: ChainBase>(a: &Access<'_, B>) -> Result<BTreeMap<String, u32>, AccessError> {
    let stored: BTreeMap<String, u32> = get(a, "features", &features_key())?.unwrap_or_default();
    let mut all: BTreeMap<String, u32> = FEATURES
        .iter()
        .map(|(n, v, _)| (n.to_string(), v.first().copied().unwrap_or(0)))
        .collect();
    all.extend(stored);
    Ok(all)
}
/// The first feature gate whose version this binary does not implement, if any. A node that
/// meets one must not execute the block (it would diverge from upgraded nodes): it stops with
/// an error telling the operator to upgrade.
pub fn unsupported_feature<B: ChainBase>(
    a: &Access<'_, B>,
) -> Result<Option<(String, u32)>, AccessError> {
    Ok(features(a)?.into_iter().find(|(name, version)| {
        !FEATURES
            .iter()
            .any(|(n, supported, _)| n == name && supported.contains(version))
    }))
}

/// The gas schedule set by governance, if any (otherwise the VM's built-in one).
pub fn schedule<B: ChainBase>(a: &Access<'_, B>) -> Result<Option<GasSchedule>, AccessError> {
    match a.overlay.get(&schedule_key())? {
        Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            AccessError::Decode(crate::tx::DecodeError {
                what: "gas schedule",
                message: e.to_string(),
            })
        }),
        None => Ok(None),
    }
}
pub fn routine_ids<B: ChainBase>(a: &Access<'_, B>) -> Result<Vec<RoutineId>, AccessError> {
    Ok(get(a, "routine ids", &routine_ids_key())?.unwrap_or_default())
}
pub fn routine_history<B: ChainBase>(
    a: &Access<'_, B>,
    id: RoutineId,
) -> Result<RoutineHistory, AccessError> {
    Ok(get(a, "routine history", &routine_key(id))?.unwrap_or_default())
}
pub fn blob<B: ChainBase>(
    a: &Access<'_, B>,
    hash: &[u8; 32],
) -> Result<Option<Vec<u8>>, AccessError> {
    Ok(a.overlay.get(&blob_key(hash))?)
}
pub fn code_history<B: ChainBase>(
    a: &Access<'_, B>,
    contract: &Address,
) -> Result<CodeHistory, AccessError> {
    Ok(get(a, "code history", &code_history_key(contract))?.unwrap_or_default())
}

/// The checker's rules the state selects (gate `pcc.checker`); `Err(version)` when this binary
/// does not implement that version (the node must stop: see [`unsupported_feature`]).
pub fn checker_rules<B: ChainBase>(
    a: &Access<'_, B>,
) -> Result<Result<keel_pcc::CheckerRules, u32>, AccessError> {
    let version = features(a)?.get("pcc.checker").copied().unwrap_or(0);
    Ok(keel_pcc::CheckerRules::new(version).ok_or(version))
}

/// The admission profile the state selects (gate `isa.wasm`); `Err(version)` when this binary
/// does not implement that version.
pub fn admission_profile<B: ChainBase>(
    a: &Access<'_, B>,
) -> Result<Result<keel_vm::Profile, u32>, AccessError> {
    let version = features(a)?.get("isa.wasm").copied().unwrap_or(0);
    Ok(keel_vm::Profile::by_version(version).ok_or(version))
}

/// A routine that passed the checker: its manifest, what the checker proved, and under which
/// rules.
pub struct CheckedRoutine {
    pub manifest: Manifest,
    pub worst_case_instructions: u64,
    pub rules: keel_pcc::CheckerRules,
}

/// Runs the proof-carrying-code checker (under `rules`, the version the chain has in force) on
/// a routine and ties the proof to the manifest: the certificate must be for this object, for
/// exactly the manifest's input and output lengths, and its instruction bound must fit the
/// manifest's cost model (the gas ceiling). The sBPF loader must also accept the object. This
/// is the trusted gate of activation.
pub fn check_routine(
    rules: keel_pcc::CheckerRules,
    spec: &RoutineSpec,
    object: &[u8],
    certificate: &[u8],
) -> Result<CheckedRoutine, String> {
    let manifest = spec.manifest()?;
    // Linked once: its slot count bounds the decoding work before any expansion, and the
    // checker reads the same image.
    let decode_err = |e: keel_pcc::DecodeError| format!("certificate does not decode: {e}");
    let image =
        keel_pcc::link(object).map_err(|e| decode_err(keel_pcc::DecodeError::Program(e)))?;
    let cert =
        keel_pcc::Certificate::from_bytes_for(certificate, image.slots()).map_err(decode_err)?;
    let expected = keel_pcc::params_of(&manifest);
    if cert.params != expected {
        return Err(format!(
            "certificate is for inputs {}..={} and output {}, the manifest says {}..={} and {}",
            cert.params.input_min,
            cert.params.input_max,
            cert.params.output_len,
            expected.input_min,
            expected.input_max,
            expected.output_len
        ));
    }
    let report = checked(rules, object, certificate, &image, &cert)?;
    let ceiling = manifest.cost.max_instructions(manifest.input.max_len());
    if report.declared_bound > ceiling {
        return Err(format!(
            "certified bound of {} instructions exceeds the manifest's gas ceiling of {ceiling}",
            report.declared_bound
        ));
    }
    keel_ebpf_bridge::Routine::from_objects(manifest.clone(), object, None)
        .map_err(|e| format!("sBPF loader: {e}"))?;
    Ok(CheckedRoutine {
        manifest,
        worst_case_instructions: report.worst_case_instructions,
        rules,
    })
}

/// The checker's report under `rules` on `cert` (decoded from `certificate`) for `object`
/// (linked as `image`). The
/// checker is a pure function of those, so a process remembers the triples it accepted (by
/// their sha256) and does not check the same one twice: every chain created in a process
/// activates the genesis routines again, and a proposal is checked at submission and at
/// activation. Refusals are not remembered (they are cheap and rare).
fn checked(
    rules: keel_pcc::CheckerRules,
    object: &[u8],
    certificate: &[u8],
    image: &keel_pcc::Image,
    cert: &keel_pcc::Certificate,
) -> Result<keel_pcc::CheckReport, String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static ACCEPTED: Mutex<Option<HashMap<[u8; 32], keel_pcc::CheckReport>>> = Mutex::new(None);
    const MAX_REMEMBERED: usize = 256;
    let mut h = Sha256::new();
    h.update(rules.version().to_le_bytes());
    h.update((object.len() as u64).to_le_bytes());
    h.update(object);
    h.update(certificate);
    let key: [u8; 32] = h.finalize().into();
    if let Some(report) = ACCEPTED
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&key).cloned()))
    {
        return Ok(report);
    }
    let report = keel_pcc::check_under(rules, image, cert)
        .map_err(|e| format!("checker (rules v{}): {e}", rules.version()))?;
    if let Ok(mut m) = ACCEPTED.lock() {
        let m = m.get_or_insert_with(HashMap::new);
        if m.len() >= MAX_REMEMBERED {
            m.clear();
        }
        m.insert(key, report.clone());
    }
    Ok(report)
}

/// Why a governance transaction failed (its writes are reverted; it pays for gas used).
pub type GovFailure = String;

impl<B: ChainBase> Gov<'_, '_, B> {
    fn put<T: BorshSerialize>(&mut self, k: Vec<u8>, v: &T) {
        self.a.overlay.set(k, encode(v));
    }

    /// Writes the genesis governance state: validators, parameters, every feature gate at its
    /// genesis version (so the rules in force are state from block 0), and the routines
    /// activated at height 0 — each verified against its pinned hashes, then by the checker
    /// under the genesis rules, like any activation. Errors: the first routine that fails.
    pub fn genesis(
        &mut self,
        validators: &[Validator],
        params: &GovParams,
        routines: &[GenesisRoutine],
    ) -> Result<(), GenesisError> {
        self.put(validators_key(), &validators.to_vec());
        self.put(params_key(), params);
        let gates: BTreeMap<String, u32> = FEATURES
            .iter()
            .filter_map(|(n, _, _)| Some((n.to_string(), genesis_feature_version(n)?)))
            .collect();
        self.put(features_key(), &gates);
        let rules = crate::genesis_routines::genesis_rules()?;
        for r in routines {
            let checked = r.verify(rules)?;
            self.activate_routine(&r.spec, &r.object, &r.certificate, &checked, 0, None)
                .map_err(|e| GenesisError::State(e.to_string()))?;
        }
        Ok(())
    }

    /// Compute gas a governance transaction costs.
    pub fn compute_cost(params: &GovParams, tx: &GovTx) -> u64 {
        match tx {
            GovTx::Propose { action, .. } => params
                .propose_compute
                .saturating_add(params.per_byte_compute.saturating_mul(action.data_bytes())),
            GovTx::Vote { .. } => params.vote_compute,
        }
    }

    /// Applies a governance transaction of `sender` in block `height`. `Ok(Err(_))` is a failed
    /// transaction (bad proposal or vote); `Err` a state failure.
    pub fn apply_tx(
        &mut self,
        vm: &Vm,
        height: u64,
        sender: &Address,
        tx: &GovTx,
        tx_index: usize,
    ) -> Result<Result<GovEvent, GovFailure>, AccessError> {
        let validators = validators(self.a)?;
        if !validators
            .iter()
            .any(|v| v.address == *sender && v.stake > 0)
        {
            return Ok(Err(format!(
                "sender {} is not a validator with stake",
                hex::encode(sender)
            )));
        }
        let params = params(self.a)?;
        match tx {
            GovTx::Propose {
                action,
                activation_height,
            } => {
                let earliest = height.saturating_add(params.min_delay);
                let latest = height.saturating_add(params.max_delay);
                if *activation_height < earliest || *activation_height > latest {
                    return Ok(Err(format!(
                        "activation height {activation_height} must be in {earliest}..={latest}"
                    )));
                }
                if let Err(e) = self.validate(vm, action) {
                    return Ok(Err(e));
                }
                let id = proposal_count(self.a)?;
                let Some(next_id) = id.checked_add(1) else {
                    return Ok(Err("proposal ids are exhausted".into()));
                };
                self.put(next_id_key(), &next_id);
                let p = Proposal {
                    id,
                    proposer: *sender,
                    action: action.clone(),
                    submitted_at: height,
                    activation_height: *activation_height,
                    votes: Vec::new(),
                    status: ProposalStatus::Voting,
                };
                self.put(proposal_key(id), &p);
                let mut pending: Vec<u64> = get(
                    self.a,
                    "pending proposals",
                    &pending_key(*activation_height),
                )?
                .unwrap_or_default();
                pending.push(id);
                self.put(pending_key(*activation_height), &pending);
                Ok(Ok(GovEvent {
                    proposal: id,
                    kind: GovEventKind::Proposed,
                    tx_index: Some(tx_index),
                    detail: format!(
                        "{} at height {activation_height}, by {}",
                        action.describe(),
                        hex::encode(sender)
                    ),
                }))
            }
            GovTx::Vote {
                proposal: id,
                approve,
            } => {
                let Some(mut p) = proposal(self.a, *id)? else {
                    return Ok(Err(format!("no proposal {id}")));
                };
                if p.status != ProposalStatus::Voting || height >= p.activation_height {
                    return Ok(Err(format!("proposal {id} is closed for voting")));
                }
                match p.votes.iter_mut().find(|(a, _)| a == sender) {
                    Some(v) => v.1 = *approve,
                    None => p.votes.push((*sender, *approve)),
                }
                let (yes, no, total) = tally(&p, &validators);
                self.put(proposal_key(*id), &p);
                Ok(Ok(GovEvent {
                    proposal: *id,
                    kind: GovEventKind::Voted,
                    tx_index: Some(tx_index),
                    detail: format!(
                        "{} votes {}; yes {yes}, no {no} of {total} stake",
                        hex::encode(sender),
                        if *approve { "yes" } else { "no" }
                    ),
                }))
            }
        }
    }

    /// Resolves the proposals whose activation height is `height`, before the block's
    /// transactions: applied with a quorum, expired without.
    pub fn begin_block(&mut self, vm: &Vm, height: u64) -> Result<Vec<GovEvent>, AccessError> {
        let pending: Vec<u64> =
            get(self.a, "pending proposals", &pending_key(height))?.unwrap_or_default();
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        self.a.overlay.write(pending_key(height), None);
        let validators = validators(self.a)?;
        let params = params(self.a)?;
        let mut events = Vec::new();
        for id in pending {
            let Some(mut p) = proposal(self.a, id)? else {
                continue;
            };
            if p.status != ProposalStatus::Voting {
                continue;
            }
            let (yes, _, total) = tally(&p, &validators);
            let event = if !reaches_quorum(yes, total, &params) {
                p.status = ProposalStatus::Expired {
                    height,
                    yes_stake: yes,
                    total_stake: total,
                };
                GovEvent {
                    proposal: id,
                    kind: GovEventKind::Expired,
                    tx_index: None,
                    detail: format!(
                        "{}: yes stake {yes} of {total} is below the quorum of {} bps",
                        p.action.describe(),
                        params.quorum_bps
                    ),
                }
            } else {
                match self.execute(vm, &p.action, height, id)? {
                    Ok(()) => {
                        p.status = ProposalStatus::Executed { height };
                        GovEvent {
                            proposal: id,
                            kind: GovEventKind::Activated,
                            tx_index: None,
                            detail: format!("{} (yes stake {yes} of {total})", p.action.describe()),
                        }
                    }
                    Err(reason) => {
                        p.status = ProposalStatus::Failed {
                            height,
                            reason: reason.clone(),
                        };
                        GovEvent {
                            proposal: id,
                            kind: GovEventKind::Failed,
                            tx_index: None,
                            detail: format!("{}: {reason}", p.action.describe()),
                        }
                    }
                }
            };
            tracing::info!(proposal = id, height, kind = ?event.kind, "{}", event.detail);
            self.put(proposal_key(id), &p);
            events.push(event);
        }
        Ok(events)
    }

    /// Checks that routine `spec` can be activated with `object` and `certificate` now; the
    /// checker's report on it.
    fn validate_activation(
        &mut self,
        spec: &RoutineSpec,
        object: &[u8],
        certificate: &[u8],
    ) -> Result<CheckedRoutine, String> {
        let st = |e: AccessError| e.to_string();
        let rules = checker_rules(self.a).map_err(st)?.map_err(|v| {
            format!("the chain selects checker rules v{v}, which this node does not implement")
        })?;
        let checked = check_routine(rules, spec, object, certificate)?;
        let feature = features(self.a).map_err(st)?;
        if feature.get("isa.sbpf").copied() != Some(0) {
            return Err(
                "feature isa.sbpf is not at version 0, the only sBPF version this node runs".into(),
            );
        }
        let history = routine_history(self.a, spec.id).map_err(st)?;
        if let Some(last) = history.versions.last()
            && spec.version <= last.spec.version
        {
            return Err(format!(
                "routine {} already had version {}; a new version must be higher",
                spec.id, last.spec.version
            ));
        }
        Ok(checked)
    }

    /// Checks that `action` can be applied to the current state.
    fn validate(&mut self, vm: &Vm, action: &Action) -> Result<(), String> {
        let st = |e: AccessError| e.to_string();
        match action {
            Action::ActivateRoutine {
                spec,
                object,
                certificate,
            } => self
                .validate_activation(spec, object, certificate)
                .map(|_| ()),
            Action::DeactivateRoutine { id } => {
                if routine_history(self.a, *id).map_err(st)?.active().is_none() {
                    return Err(format!("routine {id} is not active"));
                }
                Ok(())
            }
            Action::Kill { target } | Action::Revive { target } => {
                target.vm_item()?;
                let killed = kills(self.a)
                    .map_err(st)?
                    .items
                    .iter()
                    .any(|(t, _)| t == target);
                match (action, killed) {
                    (Action::Kill { .. }, true) => Err(format!("{target} is already killed")),
                    (Action::Revive { .. }, false) => Err(format!("{target} is not killed")),
                    _ => {
                        if let KillTarget::Routine(id) = target
                            && routine_history(self.a, *id)
                                .map_err(st)?
                                .versions
                                .is_empty()
                        {
                            return Err(format!("no routine {id}"));
                        }
                        Ok(())
                    }
                }
            }
            Action::SetFeature { name, version } => {
                let Some((_, supported, _)) = FEATURES.iter().find(|(n, _, _)| n == name) else {
                    return Err(format!("unknown feature gate {name:?}"));
                };
                if !supported.contains(version) {
                    return Err(format!(
                        "this node implements {name} versions {supported:?}, not {version}"
                    ));
                }
                Ok(())
            }
            Action::SetFeeParams { fees } => {
                if fees.eta_den == 0 {
                    return Err("fee step denominator must be positive".into());
                }
                for i in 0..4 {
                    if fees.targets[i] == 0 || fees.targets[i] > fees.limits[i] {
                        return Err(format!(
                            "dimension {i}: target must be in 1..=limit ({})",
                            fees.limits[i]
                        ));
                    }
                    if fees.min_prices[i] == 0 {
                        return Err(format!("dimension {i}: minimum price must be positive"));
                    }
                }
                Ok(())
            }
            Action::SetGasSchedule { schedule_json } => {
                let s: GasSchedule = serde_json::from_slice(schedule_json)
                    .map_err(|e| format!("gas schedule does not parse: {e}"))?;
                // Every price >= 1, at submission and again at activation (both come here).
                s.validate()
                    .map_err(|e| format!("gas schedule refused: {e}"))?;
                let current = schedule(self.a)
                    .map_err(st)?
                    .map_or(vm.config().schedule.version, |c| c.version);
                if s.version <= current {
                    return Err(format!(
                        "gas schedule version {} must be higher than the current {current}",
                        s.version
                    ));
                }
                Ok(())
            }
            Action::UpgradeContract { contract, code } => {
                let acc = self.a.account(contract).map_err(st)?;
                if acc.as_ref().and_then(|a| a.code_hash).is_none() {
                    return Err(format!("no contract at {}", hex::encode(contract)));
                }
                if acc.is_some_and(|a| a.evicted.is_some()) {
                    return Err("the contract is evicted; restore it first".into());
                }
                vm.prepare_for_deploy(code)
                    .map(|_| ())
                    .map_err(|e| format!("new code rejected: {e}"))
            }
        }
    }

    /// Applies a passed proposal at `height`. `Ok(Err)` means the action no longer applies
    /// (e.g. the checker now refuses it); nothing is written then.
    fn execute(
        &mut self,
        vm: &Vm,
        action: &Action,
        height: u64,
        proposal: u64,
    ) -> Result<Result<(), String>, AccessError> {
        if let Action::ActivateRoutine {
            spec,
            object,
            certificate,
        } = action
        {
            let checked = match self.validate_activation(spec, object, certificate) {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            self.activate_routine(spec, object, certificate, &checked, height, Some(proposal))?;
            return Ok(Ok(()));
        }
        if let Err(e) = self.validate(vm, action) {
            return Ok(Err(e));
        }
        match action {
            // Handled above.
            Action::ActivateRoutine { .. } => {}
            Action::DeactivateRoutine { id } => {
                let mut h = routine_history(self.a, *id)?;
                if let Some(v) = h.versions.last_mut() {
                    v.active_until = Some(height);
                }
                self.put(routine_key(*id), &h);
            }
            Action::Kill { target } => {
                let mut k = kills(self.a)?;
                k.items.push((target.clone(), height));
                self.put(kills_key(), &k);
            }
            Action::Revive { target } => {
                let mut k = kills(self.a)?;
                k.items.retain(|(t, _)| t != target);
                self.put(kills_key(), &k);
            }
            Action::SetFeature { name, version } => {
                let stored: Option<BTreeMap<String, u32>> =
                    get(self.a, "features", &features_key())?;
                let mut f = stored.unwrap_or_default();
                f.insert(name.clone(), *version);
                self.put(features_key(), &f);
            }
            Action::SetFeeParams { fees } => {
                let mut c = self.a.config()?;
                c.fees = fees.clone();
                self.a
                    .overlay
                    .set(crate::state_access::config_key(), encode(&c));
            }
            Action::SetGasSchedule { schedule_json } => {
                self.a.overlay.set(schedule_key(), schedule_json.clone());
            }
            Action::UpgradeContract { contract, code } => {
                let Some(mut acc) = self.a.account(contract)? else {
                    return Ok(Err("the contract disappeared".into()));
                };
                let hash: [u8; 32] = Sha256::digest(code).into();
                if self.a.code(&hash)?.is_none() {
                    self.a.put_code(&hash, code);
                }
                let mut h = code_history(self.a, contract)?;
                if h.versions.is_empty()
                    && let Some(old) = acc.code_hash
                {
                    h.versions.push((old, 0));
                }
                h.versions.push((hash, height));
                self.put(code_history_key(contract), &h);
                acc.code_hash = Some(hash);
                self.a.put_account(contract, &acc);
            }
        }
        Ok(Ok(()))
    }

    fn activate_routine(
        &mut self,
        spec: &RoutineSpec,
        object: &[u8],
        certificate: &[u8],
        checked: &CheckedRoutine,
        height: u64,
        proposal: Option<u64>,
    ) -> Result<(), AccessError> {
        let object_hash: [u8; 32] = Sha256::digest(object).into();
        let certificate_hash: [u8; 32] = Sha256::digest(certificate).into();
        // The object is needed to run the routine (and to replay old blocks); the certificate
        // only to activate it, so the registry keeps its hash — certificates of the hash
        // routines run to megabytes. A proposal's record still holds its certificate.
        self.a.overlay.set(blob_key(&object_hash), object.to_vec());
        let mut h = routine_history(self.a, spec.id)?;
        if let Some(v) = h.versions.last_mut()
            && v.active_until.is_none()
        {
            v.active_until = Some(height);
        }
        h.versions.push(RoutineVersion {
            spec: spec.clone(),
            object_hash,
            certificate_hash,
            worst_case_instructions: checked.worst_case_instructions,
            checker_rules: checked.rules.version(),
            active_from: height,
            active_until: None,
            proposal,
        });
        self.put(routine_key(spec.id), &h);
        let mut ids = routine_ids(self.a)?;
        if !ids.contains(&spec.id) {
            ids.push(spec.id);
            ids.sort_unstable();
            self.put(routine_ids_key(), &ids);
        }
        Ok(())
    }
}
