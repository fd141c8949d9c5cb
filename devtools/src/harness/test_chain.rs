//! The chain a test runs on: a fresh demo chain in a temporary directory with the contract
//! under test and the test module deployed in block 1. Every case is simulated on top of that
//! block and never committed, so each case starts from the same state.

use crate::error::DevError;
use keel_chain::genesis::{demo, demo_key};
use keel_chain::tx::PerDimension;
use keel_chain::{
    Address, Amount, CallData, Chain, ChainConfig, Receipt, SignedTx, Transaction, TxKind,
    TxStatus, address_of, contract_address,
};
use keel_crypto::SingleVerifier;
use keel_vm::GasVector;

/// Per-transaction gas limits and fee caps of test transactions.
#[derive(Debug, Clone, Copy)]
pub struct TxBudget {
    pub limits: PerDimension,
    pub max_fee: PerDimension,
}

/// What one call did.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub gas: GasVector,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// A deployed contract and test module on a private chain.
pub struct TestChain {
    chain: Chain,
    /// Keeps the chain's directory alive.
    _dir: tempfile::TempDir,
    pub contract: Address,
    pub tests: Address,
    budget: TxBudget,
}

/// The demo key that deploys and calls (a funded demo account).
const SENDER: u32 = 0;

fn chain_error(e: impl std::fmt::Display) -> DevError {
    DevError::Chain(e.to_string())
}

impl TestChain {
    /// Creates the chain and deploys `contract` then `tests` in block 1.
    ///
    /// # Errors
    /// [`DevError::Chain`] if the chain cannot be created or either deploy fails (the reason,
    /// e.g. an admission error, is in the message).
    pub fn new(contract: &[u8], tests: &[u8], budget: TxBudget) -> Result<TestChain, DevError> {
        let dir = tempfile::tempdir().map_err(DevError::io(std::env::temp_dir()))?;
        let genesis = demo(1, Amount::from_u128(10u128.pow(30))).map_err(chain_error)?;
        let mut chain =
            Chain::init(dir.path(), &genesis, Box::new(SingleVerifier)).map_err(chain_error)?;
        for key in keel_chain::genesis::demo_validator_keys() {
            chain.add_proposer_key(key);
        }
        let me = address_of(&demo_key(SENDER).public_key().to_bytes());
        let deploy = |nonce, code: &[u8]| {
            sign(
                nonce,
                TxKind::Deploy {
                    code: code.to_vec(),
                    constructor: None,
                },
                budget,
            )
        };
        let header = chain.next_local_header().map_err(chain_error)?;
        let block = keel_chain::Block {
            header,
            txs: vec![deploy(0, contract), deploy(1, tests)],
        };
        let result = chain.execute_block(&block).map_err(chain_error)?;
        for (what, r) in ["contract", "test module"].iter().zip(&result.receipts) {
            if let Some(why) = failure(r) {
                return Err(DevError::Chain(format!(
                    "deploying the {what} failed: {why}"
                )));
            }
        }
        Ok(TestChain {
            chain,
            _dir: dir,
            contract: contract_address(&me, 0),
            tests: contract_address(&me, 1),
            budget,
        })
    }

    /// Calls `entry` of the test module with `input`, simulated on the post-deploy state.
    ///
    /// # Errors
    /// [`DevError::Chain`] if the chain cannot execute the block at all.
    pub fn call(&self, entry: &str, input: Vec<u8>) -> Result<CaseOutcome, DevError> {
        let tx = sign(
            2,
            TxKind::Call {
                contract: self.tests,
                call: CallData {
                    entry: entry.to_owned(),
                    args: input,
                },
                value: Amount::ZERO,
            },
            self.budget,
        );
        let header = self.chain.next_local_header().map_err(chain_error)?;
        let result = self.chain.simulate(&header, &[tx]).map_err(chain_error)?;
        let r = result
            .receipts
            .first()
            .ok_or_else(|| DevError::Chain("the simulated block has no receipt".into()))?;
        let [compute, storage_bytes, memory_pages, bandwidth] = r.gas_used;
        Ok(CaseOutcome {
            gas: GasVector {
                compute,
                storage_bytes,
                memory_pages,
                bandwidth,
            },
            failure: failure(r),
        })
    }
}

fn failure(r: &Receipt) -> Option<String> {
    match &r.status {
        TxStatus::Success { .. } => None,
        TxStatus::Failed { reason } => Some(reason.to_string()),
        TxStatus::Rejected { reason } => Some(format!("rejected: {reason}")),
    }
}

fn sign(nonce: u64, kind: TxKind, budget: TxBudget) -> SignedTx {
    let key = demo_key(SENDER);
    Transaction {
        chain_id: ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: budget.limits,
        max_fee_per_unit: budget.max_fee,
        priority_fee: 1,
        kind,
    }
    .sign(&key)
}
