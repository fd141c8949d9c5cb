//! The benchmark workloads, in one table shared by `keel bench suite`, `keel bench peers` and
//! `keel gas calibrate`: which contract, what setup, the `i`-th measured transaction, and the
//! invariant the contract must keep (checked through read-only queries after the run).
//!
//! Every transaction is a pure function of its index, so any runner (any engine tier, any
//! repetition count) replays the same sequence and the checks know what to expect.

use keel_contracts::Contract;
use thiserror::Error;

/// A 32-byte Keel address.
pub type Address = [u8; 32];

/// One contract call: who calls which entry with what input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub caller: Address,
    pub entry: &'static str,
    pub input: Vec<u8>,
}

/// What a workload stands for in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// One host function or intrinsic family per row.
    Micro,
    Defi,
    Gaming,
    Token,
}

/// Why a workload's invariant does not hold (or could not be queried).
#[derive(Debug, Error)]
pub enum CheckError {
    #[error("query {entry}: {reason}")]
    Query { entry: &'static str, reason: String },
    #[error("{0}")]
    Violated(String),
}

/// Read-only calls on the deployed contract, at the state after the measured transactions.
pub trait Query {
    /// Calls `entry` with `input` (caller: [`player`]`(0)`) without committing anything.
    fn query(&mut self, entry: &'static str, input: &[u8]) -> Result<Vec<u8>, CheckError>;
}

/// Checks a workload's invariant after transactions `0..outputs.len()` returned `outputs`.
pub type Check = fn(&mut dyn Query, &[Vec<u8>]) -> Result<(), CheckError>;

/// A benchmark workload on one contract.
pub struct Workload {
    /// Unique, stable name (JSON key, CLI filter).
    pub name: &'static str,
    pub domain: Domain,
    pub contract: &'static Contract,
    /// What a row measures, for people.
    pub about: &'static str,
    /// Calls committed once before measuring (at block height 1).
    pub setup: fn() -> Vec<Call>,
    /// The `i`-th measured transaction (committed at block height `2 + i`).
    pub tx: fn(u32) -> Call,
    pub check: Check,
}

/// Players the workloads spread their transactions over.
pub const PLAYERS: u32 = 16;

/// The `k`-th player: distinct addresses, none a genesis account of the demo chain.
pub fn player(k: u32) -> Address {
    let mut a = [0x50; 32];
    a[28..].copy_from_slice(&k.to_be_bytes());
    a
}

fn u64_le(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

fn read_u64(b: &[u8], at: usize) -> Result<u64, CheckError> {
    b.get(at..at.saturating_add(8))
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| CheckError::Violated(format!("short output ({} bytes)", b.len())))
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), CheckError> {
    if ok {
        Ok(())
    } else {
        Err(CheckError::Violated(what()))
    }
}

pub mod defi;
pub mod gaming;
pub mod micro;
pub mod token;

/// Every workload, micro rows first, in a fixed order.
pub fn all() -> Vec<&'static Workload> {
    vec![
        &micro::STORAGE,
        &micro::FX_POW,
        &micro::FX_EXP,
        &micro::SHA256_WASM,
        &token::TRANSFER,
        &defi::AMM_SWAP,
        &defi::LENDING,
        &gaming::GAME_MOVES,
        &gaming::NFT,
    ]
}

/// The workloads of one domain class: `macro_only` keeps DeFi, Gaming and Token rows.
pub fn macros() -> Vec<&'static Workload> {
    all()
        .into_iter()
        .filter(|w| w.domain != Domain::Micro)
        .collect()
}

/// The workload called `name`.
pub fn get(name: &str) -> Option<&'static Workload> {
    all().into_iter().find(|w| w.name == name)
}
