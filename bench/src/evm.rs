//! The EVM peer: revm (pinned in Cargo.toml) running OpenZeppelin's ERC-20 (`evm/Token.sol`,
//! compiled by `evm/compile.sh` into the checked-in `evm/Token.init.hex`) on an in-memory
//! `CacheDB`, one transaction at a time, as an execution engine is used by a client.

use anyhow::{Context as _, bail, ensure};
use revm::context::TxEnv;
use revm::database::{CacheDB, EmptyDB};
use revm::handler::MainnetContext;
use revm::primitives::{Address, Bytes, TxKind, U256};
use revm::state::AccountInfo;
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetEvm};

/// Creation code of `Token(uint256 supply)`, hex, as `evm/compile.sh` writes it.
const TOKEN_INIT_HEX: &str = include_str!("../evm/Token.init.hex");

/// `transfer(address,uint256)` and `balanceOf(address)` selectors.
const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
const BALANCE_OF: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];

/// Gas limit of every benchmark transaction: far above what a transfer needs.
const GAS_LIMIT: u64 = 1_000_000;

/// A deployed ERC-20 with all supply held by `caller`.
pub struct EvmToken {
    evm: MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>,
    token: Address,
    caller: Address,
    nonce: u64,
}

fn word_address(a: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

/// The `n`-th recipient: distinct addresses, none of them the caller or the token.
pub fn recipient(n: u32) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0xbe;
    a[16..].copy_from_slice(&n.to_be_bytes());
    Address::from(a)
}

impl EvmToken {
    /// Deploys the token with `supply` minted to the caller. Gas is free (price 0, base fee 0)
    /// as in Keel's execution-only measurement; nonces are still checked.
    pub fn deploy(supply: u128) -> anyhow::Result<Self> {
        let caller = Address::from([0xca; 20]);
        let mut db = CacheDB::<EmptyDB>::default();
        db.insert_account_info(
            caller,
            AccountInfo {
                balance: U256::from(u128::MAX),
                ..AccountInfo::default()
            },
        );
        let mut evm = Context::mainnet().with_db(db).build_mainnet();
        let mut data = hex::decode(TOKEN_INIT_HEX.trim()).context("Token.init.hex")?;
        data.extend_from_slice(&U256::from(supply).to_be_bytes::<32>());
        let tx = TxEnv::builder()
            .caller(caller)
            .kind(TxKind::Create)
            .data(Bytes::from(data))
            .gas_limit(10_000_000)
            .nonce(0)
            .build_fill();
        let result = evm
            .transact_commit(tx)
            .map_err(|e| anyhow::anyhow!("deploy: {e:?}"))?;
        let Some(token) = result.created_address() else {
            bail!("deploy failed: {result:?}");
        };
        Ok(EvmToken {
            evm,
            token,
            caller,
            nonce: 1,
        })
    }

    fn tx(&self, data: Vec<u8>, nonce: u64) -> TxEnv {
        TxEnv::builder()
            .caller(self.caller)
            .kind(TxKind::Call(self.token))
            .data(Bytes::from(data))
            .gas_limit(GAS_LIMIT)
            .nonce(nonce)
            .build_fill()
    }

    fn transfer_data(to: &Address, amount: u64) -> Vec<u8> {
        let mut d = TRANSFER.to_vec();
        d.extend_from_slice(&word_address(to));
        d.extend_from_slice(&U256::from(amount).to_be_bytes::<32>());
        d
    }

    /// Full transaction: `transfer(to, 1)` with `transact_commit`. Returns the gas used.
    pub fn transfer_commit(&mut self, to: &Address) -> anyhow::Result<u64> {
        let tx = self.tx(Self::transfer_data(to, 1), self.nonce);
        let r = self
            .evm
            .transact_commit(tx)
            .map_err(|e| anyhow::anyhow!("transfer: {e:?}"))?;
        ensure!(r.is_success(), "transfer failed: {r:?}");
        self.nonce = self.nonce.saturating_add(1);
        Ok(r.tx_gas_used())
    }

    /// Raw call: the same `transfer` executed (`transact`) without committing its state.
    pub fn transfer_uncommitted(&mut self, to: &Address) -> anyhow::Result<u64> {
        let tx = self.tx(Self::transfer_data(to, 1), self.nonce);
        let r = self
            .evm
            .transact(tx)
            .map_err(|e| anyhow::anyhow!("transfer: {e:?}"))?;
        ensure!(r.result.is_success(), "transfer failed: {:?}", r.result);
        Ok(r.result.tx_gas_used())
    }

    /// Read-only call: `balanceOf(owner)` executed without committing. Returns the balance.
    pub fn balance_of(&mut self, owner: &Address) -> anyhow::Result<U256> {
        let mut d = BALANCE_OF.to_vec();
        d.extend_from_slice(&word_address(owner));
        let tx = self.tx(d, self.nonce);
        let r = self
            .evm
            .transact(tx)
            .map_err(|e| anyhow::anyhow!("balanceOf: {e:?}"))?;
        let out = r.result.output().context("balanceOf: no output")?;
        ensure!(out.len() == 32, "balanceOf returned {} bytes", out.len());
        Ok(U256::from_be_slice(out))
    }
}
