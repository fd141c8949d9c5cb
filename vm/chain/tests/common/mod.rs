// Shared helpers of the chain tests.
#![allow(clippy::unwrap_used)] // tests fail loudly by design
#![allow(dead_code)]

use keel_chain::genesis::{Genesis, demo_key};
use keel_chain::tx::PerDimension;
use keel_chain::*;
use keel_crypto::{SecretKey, SingleVerifier};
use std::path::Path;

pub const PRICES_MAX: PerDimension = [1_000, 1_000, 1_000, 1_000];
pub const LIMITS: PerDimension = [50_000_000, 100_000, 64, 100_000];
/// The tests' block proposer: a validator without stake and without a balance, so fee checks
/// read its balance alone and governance tallies are those of the four demo validators. Its
/// key ([`proposer_key`]) makes the blocks' VRF proofs.
pub static PROPOSER: std::sync::LazyLock<Address> =
    std::sync::LazyLock::new(|| address_of(&proposer_key().public_key().to_bytes()));

/// A VM with `config` on the engine tier `KEEL_VM_ENGINE` names (tiered when unset), as a
/// node opened in this process gets: CI runs the chain tests once more per tier.
pub fn node_tier_vm(config: keel_vm::VmConfig) -> keel_vm::Vm {
    let tier = keel_vm::engine::choice::EngineChoice::from_env().unwrap();
    keel_vm::Vm::with_choice(config, tier, None).unwrap()
}

/// The key of [`PROPOSER`].
pub fn proposer_key() -> SecretKey {
    SecretKey::from_seed(&[0xee; 32]).unwrap()
}

/// The demo genesis plus [`PROPOSER`] in the validator set (blocks need a validator proposer).
pub fn test_genesis() -> Genesis {
    let mut g = keel_chain::genesis::demo(4, Amount::from_u128(10u128.pow(30))).unwrap();
    g.validators.push(keel_chain::governance::Validator {
        address: *PROPOSER,
        stake: 0,
    });
    g
}

pub fn key(i: u32) -> SecretKey {
    demo_key(i)
}

pub fn addr(i: u32) -> Address {
    address_of(&key(i).public_key().to_bytes())
}

pub fn genesis_with(config: ChainConfig) -> Genesis {
    let mut g = test_genesis();
    g.config = config;
    g
}

pub fn new_chain(dir: &Path) -> Chain {
    let mut chain = init_chain(dir).unwrap();
    chain.add_proposer_key(proposer_key());
    chain
}

/// [`Chain::init`] on [`test_genesis`] in `dir`, its error kept (the environment tests check
/// what it refuses).
pub fn init_chain(dir: &Path) -> Result<Chain, ChainError> {
    Chain::init(dir, &test_genesis(), Box::new(SingleVerifier))
}

pub fn tx(from: u32, nonce: u64, kind: TxKind) -> SignedTx {
    Transaction {
        chain_id: ChainConfig::demo().chain_id,
        sender: key(from).public_key().to_bytes(),
        nonce,
        gas_limits: LIMITS,
        max_fee_per_unit: PRICES_MAX,
        priority_fee: 2,
        kind,
    }
    .sign(&key(from))
}

pub fn transfer(from: u32, nonce: u64, to: Address, amount: u128) -> SignedTx {
    tx(
        from,
        nonce,
        TxKind::Transfer {
            to,
            amount: Amount::from_u128(amount),
        },
    )
}

pub fn call(from: u32, nonce: u64, contract: Address, entry: &str, args: Vec<u8>) -> SignedTx {
    tx(
        from,
        nonce,
        TxKind::Call {
            contract,
            call: CallData {
                entry: entry.into(),
                args,
            },
            value: Amount::ZERO,
        },
    )
}

pub fn deploy(from: u32, nonce: u64, code: &[u8]) -> SignedTx {
    tx(
        from,
        nonce,
        TxKind::Deploy {
            code: code.to_vec(),
            constructor: None,
        },
    )
}

pub fn block(chain: &mut Chain, txs: Vec<SignedTx>) -> BlockResult {
    chain.add_proposer_key(proposer_key());
    let (h, _) = chain.head().unwrap();
    let header = chain.next_header(1_700_000_000 + h, *PROPOSER).unwrap();
    chain.execute_block(&Block { header, txs }).unwrap()
}

pub fn balance(chain: &Chain, a: &Address) -> u128 {
    let b = chain
        .account(a)
        .unwrap()
        .unwrap_or_default()
        .balance
        .to_u256();
    u128::try_from(b).unwrap()
}
