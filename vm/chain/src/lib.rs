//! Keel's chain execution engine: accounts and native balances, BLS-signed transactions with a
//! canonical encoding (`ENCODING.md`), deterministic block execution over the authenticated
//! state, a multi-dimensional fee market and lazily charged state rent with eviction/restore.
//! Each block commits a receipts root (`receipts_root`), is kept with its result and the genesis
//! (`blocks`), and can be re-executed and compared from genesis (`replay`).

// Consensus code: every overflow is a typed outcome or a documented saturation, never a wrap.
#![deny(clippy::arithmetic_side_effects)]

pub mod audit;
pub mod beacon;
pub mod beacon_record;
pub mod blocks;
pub mod chain;
pub mod config;
pub mod executor;
pub mod fees;
pub mod genesis;
pub mod genesis_pin;
pub mod genesis_routines;
pub mod governance;
pub mod native;
mod nested;
pub mod parallel;
pub mod receipt;
pub mod receipts_root;
pub mod rent;
mod rent_settlement;
pub mod replay;
pub mod routines;
pub mod state_access;
mod transaction;
pub mod tx;
mod tx_kinds;
pub mod types;

pub use chain::{Chain, DEFAULT_DATA_DIR, genesis_writes};
pub use config::ChainConfig;
pub use executor::{Block, BlockHeader, BlockTimings, ChainError, Executor};
pub use parallel::{ExecMode, ExecStats};
pub use receipt::{BlockResult, FailReason, Receipt, RejectReason, TxStatus};
pub use tx::{CallData, SenderKeys, SignedTx, Transaction, TxKind, decode, encode};
pub use types::{Account, Address, Amount, BlockContext, address_of, contract_address};
