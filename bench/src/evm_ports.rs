//! The EVM peer of every macro workload: the Solidity port in `evm/` (compiled by the pinned
//! solc, bytecode checked in) run on revm with an in-memory database, each transaction
//! committed. Keel calls are translated field by field (Keel's little-endian layouts ⇄ ABI
//! words), so the workload's own transaction sequence and its own invariant check run
//! unchanged on revm.

use crate::workloads::{self, Call, CheckError, Query, Workload};
use anyhow::{Context as _, bail, ensure};
use revm::context::TxEnv;
use revm::database::{CacheDB, EmptyDB};
use revm::handler::MainnetContext;
use revm::primitives::{Address, Bytes, TxKind, U256, keccak256};
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetEvm};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How one field of a Keel input or output maps to an ABI word.
#[derive(Clone, Copy)]
enum Field {
    /// u64 LE (8 bytes) ⇄ uint64.
    U64,
    /// u256 LE (32 bytes) ⇄ uint256.
    U256,
    /// Q64.64 LE (16 bytes, non-negative here) ⇄ uint256 raw value.
    Fx,
    /// 32-byte Keel address ⇄ address (its last 20 bytes; see [`keel_address`]).
    Addr,
    /// 1 byte (0/1) ⇄ bool.
    Bool,
}

impl Field {
    fn keel_len(self) -> usize {
        match self {
            Field::U64 => 8,
            Field::U256 | Field::Addr => 32,
            Field::Fx => 16,
            Field::Bool => 1,
        }
    }
}

/// One Keel entry point and its Solidity function.
struct Entry {
    keel: &'static str,
    /// Solidity signature; `None` for the constructor.
    sol: Option<&'static str>,
    input: &'static [Field],
    output: &'static [Field],
}

/// A workload's Solidity port.
pub struct Port {
    pub workload: &'static str,
    /// Creation code, hex.
    init_hex: &'static str,
    /// Solidity source (for line counts).
    pub source: &'static str,
    entries: &'static [Entry],
}

use Field::{Addr, Bool, Fx, U64, U256 as W256};

const fn e(
    keel: &'static str,
    sol: Option<&'static str>,
    input: &'static [Field],
    output: &'static [Field],
) -> Entry {
    Entry {
        keel,
        sol,
        input,
        output,
    }
}

pub static PORTS: [Port; 5] = [
    Port {
        workload: "token_transfer",
        init_hex: include_str!("../evm/Token.init.hex"),
        source: include_str!("../evm/Token.sol"),
        entries: &[
            e("init", None, &[W256], &[]),
            e(
                "transfer",
                Some("transfer(address,uint256)"),
                &[Addr, W256],
                &[],
            ),
            e("balance_of", Some("balanceOf(address)"), &[Addr], &[W256]),
            e("total_supply", Some("totalSupply()"), &[], &[W256]),
        ],
    },
    Port {
        workload: "amm_swap",
        init_hex: include_str!("../evm/Amm.init.hex"),
        source: include_str!("../evm/Amm.sol"),
        entries: &[
            e(
                "init",
                Some("init(uint64,uint64,uint64)"),
                &[U64, U64, U64],
                &[],
            ),
            e(
                "swap",
                Some("swap(uint64,uint64,uint64)"),
                &[U64, U64, U64],
                &[U64],
            ),
            e("pool", Some("pools(uint64)"), &[U64], &[U64, U64]),
        ],
    },
    Port {
        workload: "lending",
        init_hex: include_str!("../evm/Lending.init.hex"),
        source: include_str!("../evm/Lending.sol"),
        entries: &[
            e("init", None, &[Fx], &[]),
            e("deposit", Some("depositFunds(uint64)"), &[U64], &[]),
            e("borrow", Some("borrow(uint64)"), &[U64], &[]),
            e("repay", Some("repay(uint64)"), &[U64], &[U64]),
            e("account", Some("account(address)"), &[Addr], &[U64, U64]),
            e("market", Some("market()"), &[], &[Fx, U64, U64]),
        ],
    },
    Port {
        workload: "game_moves",
        init_hex: include_str!("../evm/Game.init.hex"),
        source: include_str!("../evm/Game.sol"),
        entries: &[
            e("play", Some("play(uint64,bool)"), &[U64, Bool], &[U64]),
            e("score", Some("scoreOf(address)"), &[Addr], &[U64]),
        ],
    },
    Port {
        workload: "nft_mint_transfer",
        init_hex: include_str!("../evm/Nft.init.hex"),
        source: include_str!("../evm/Nft.sol"),
        entries: &[
            e("mint", Some("mint(address)"), &[Addr], &[U64]),
            e(
                "transfer",
                Some("transfer(uint64,address)"),
                &[U64, Addr],
                &[],
            ),
            e("owner_of", Some("ownerOf(uint64)"), &[U64], &[Addr]),
            e("balance", Some("balance(address)"), &[Addr], &[U64]),
            e("supply", Some("supply()"), &[], &[U64]),
        ],
    },
];

/// The Solidity port of `workload`, if there is one.
pub fn port(workload: &str) -> Option<&'static Port> {
    PORTS.iter().find(|p| p.workload == workload)
}

/// The EVM address of a Keel address: its last 20 bytes.
fn evm_address(keel: &[u8]) -> Address {
    Address::from_slice(&keel[12..32])
}

/// The Keel address of an EVM address the workloads use: every workload address is a
/// [`workloads::player`], whose first 12 bytes are the players' common prefix.
fn keel_address(evm: &[u8]) -> Vec<u8> {
    let mut a = workloads::player(0)[..12].to_vec();
    a.extend_from_slice(evm);
    a
}

/// Keel input bytes → ABI words.
fn encode(fields: &[Field], input: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(32 * fields.len());
    let mut at = 0usize;
    for &f in fields {
        let end = at + f.keel_len();
        let b = input
            .get(at..end)
            .context("Keel input shorter than its layout")?;
        let word: [u8; 32] = match f {
            U64 | W256 | Fx | Bool => U256::from_le_slice(b).to_be_bytes(),
            Addr => {
                let mut w = [0u8; 32];
                w[12..].copy_from_slice(evm_address(b).as_slice());
                w
            }
        };
        out.extend_from_slice(&word);
        at = end;
    }
    ensure!(at == input.len(), "Keel input longer than its layout");
    Ok(out)
}

/// ABI words → Keel output bytes.
fn decode(fields: &[Field], words: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (i, &f) in fields.iter().enumerate() {
        let w = words
            .get(32 * i..32 * (i + 1))
            .context("EVM output shorter than its layout")?;
        match f {
            Addr => out.extend_from_slice(&keel_address(&w[12..])),
            _ => {
                let le = U256::from_be_slice(w).to_le_bytes::<32>();
                out.extend_from_slice(&le[..f.keel_len()]);
            }
        }
    }
    Ok(out)
}

/// A port deployed on revm, the workload's setup committed.
pub struct EvmDeployed {
    port: &'static Port,
    workload: &'static Workload,
    evm: MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>,
    contract: Address,
    nonces: BTreeMap<Address, u64>,
    height: u64,
}

/// One measured EVM transaction.
pub struct EvmSample {
    pub elapsed: Duration,
    pub gas: u64,
    pub output: Vec<u8>,
}

const GAS_LIMIT: u64 = 10_000_000;

impl EvmDeployed {
    /// Deploys the port (the constructor takes the setup's constructor call, if any) from
    /// player 0 at block 1 and commits the rest of the setup.
    pub fn new(workload: &'static Workload) -> anyhow::Result<Self> {
        let port =
            port(workload.name).with_context(|| format!("no EVM port of {}", workload.name))?;
        let mut evm = Context::mainnet()
            .with_db(CacheDB::<EmptyDB>::default())
            .build_mainnet();
        evm.ctx.block.number = U256::from(1);
        let mut setup = (workload.setup)();
        let ctor = port.entries.iter().find(|e| e.sol.is_none());
        let mut code = hex::decode(port.init_hex.trim()).context("init hex")?;
        if let Some(ctor) = ctor {
            let pos = setup
                .iter()
                .position(|c| c.entry == ctor.keel)
                .context("setup has no constructor call")?;
            let call = setup.remove(pos);
            code.extend_from_slice(&encode(ctor.input, &call.input)?);
        }
        let deployer = evm_address(&workloads::player(0));
        let tx = TxEnv::builder()
            .caller(deployer)
            .kind(TxKind::Create)
            .data(Bytes::from(code))
            .gas_limit(GAS_LIMIT)
            .nonce(0)
            .build_fill();
        let r = evm
            .transact_commit(tx)
            .map_err(|e| anyhow::anyhow!("deploy: {e:?}"))?;
        let Some(contract) = r.created_address() else {
            bail!("{}: deploy failed: {r:?}", workload.name);
        };
        let mut d = EvmDeployed {
            port,
            workload,
            evm,
            contract,
            nonces: BTreeMap::from([(deployer, 1)]),
            height: 1,
        };
        for call in setup {
            d.commit(&call)?;
        }
        Ok(d)
    }

    fn entry(&self, keel: &str) -> anyhow::Result<&'static Entry> {
        self.port
            .entries
            .iter()
            .find(|e| e.keel == keel && e.sol.is_some())
            .with_context(|| format!("{}: no EVM entry for {keel}", self.workload.name))
    }

    fn tx(&mut self, call: &Call, commit: bool) -> anyhow::Result<TxEnv> {
        let entry = self.entry(call.entry)?;
        let mut data = keccak256(entry.sol.unwrap_or_default().as_bytes())[..4].to_vec();
        data.extend_from_slice(&encode(entry.input, &call.input)?);
        let caller = evm_address(&call.caller);
        let nonce = self.nonces.entry(caller).or_insert(0);
        let tx = TxEnv::builder()
            .caller(caller)
            .kind(TxKind::Call(self.contract))
            .data(Bytes::from(data))
            .gas_limit(GAS_LIMIT)
            .nonce(*nonce)
            .build_fill();
        if commit {
            *nonce = nonce.saturating_add(1);
        }
        Ok(tx)
    }

    fn commit(&mut self, call: &Call) -> anyhow::Result<EvmSample> {
        let entry = self.entry(call.entry)?;
        let tx = self.tx(call, true)?;
        let started = Instant::now();
        let r = self
            .evm
            .transact_commit(tx)
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", call.entry))?;
        let elapsed = started.elapsed();
        ensure!(
            r.is_success(),
            "{}: {} failed: {r:?}",
            self.workload.name,
            call.entry
        );
        let output = decode(
            entry.output,
            r.output().map(|b| b.as_ref()).unwrap_or_default(),
        )?;
        Ok(EvmSample {
            elapsed,
            gas: r.tx_gas_used(),
            output,
        })
    }

    /// The workload's transaction `index`, at block `2 + index`, committed.
    pub fn run_tx(&mut self, index: u32) -> anyhow::Result<EvmSample> {
        self.height = 2u64.saturating_add(u64::from(index));
        self.evm.ctx.block.number = U256::from(self.height);
        let call = (self.workload.tx)(index);
        self.commit(&call)
    }

    /// The workload's own invariant, through the translated read-only entries.
    pub fn check(&mut self, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
        let workload = self.workload;
        (workload.check)(self, outputs)
    }
}

impl Query for EvmDeployed {
    fn query(&mut self, entry: &'static str, input: &[u8]) -> Result<Vec<u8>, CheckError> {
        let q = |reason: String| CheckError::Query { entry, reason };
        let call = Call {
            caller: workloads::player(0),
            entry,
            input: input.to_vec(),
        };
        let fields = self.entry(entry).map_err(|e| q(e.to_string()))?.output;
        let tx = self.tx(&call, false).map_err(|e| q(e.to_string()))?;
        let r = self.evm.transact(tx).map_err(|e| q(format!("{e:?}")))?;
        if !r.result.is_success() {
            return Err(q(format!("{:?}", r.result)));
        }
        let out = r.result.output().map(|b| b.as_ref()).unwrap_or_default();
        decode(fields, out).map_err(|e| q(e.to_string()))
    }
}
