//! Example and benchmark contracts for the Keel VM (WAT and C compiled to wasm32).
//!
//! `build.rs` compiles every contract when this crate is built, so the bytes here always match
//! the sources under `c/` and `wat/`. Every module targets Keel's integer-only profile (MVP +
//! sign-extension + mutable-globals + multi-value; no float, SIMD, threads, bulk-memory or
//! reference types), imports only from the `keel` namespace declared in `include/keel.h`, and
//! exports `memory` plus entry points of type `() -> ()`. The build is deterministic: the same
//! sources and toolchain give the same bytes.
//!
//! [`reference`] computes the expected output of each benchmark kernel in Rust so VM tests can
//! check results without trusting the VM.

pub mod reference;
pub mod toolchain;

/// A compiled contract and what it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    /// Short name, equal to the source file's stem (`"token"` for `c/token.c`).
    pub name: &'static str,
    /// The Wasm module bytes as compiled by `build.rs`.
    pub wasm: &'static [u8],
    /// Source path relative to the crate root (`contracts/`), e.g. `"c/token.c"`.
    pub source: &'static str,
    /// Exported entry points, each of type `() -> ()`. Input/output layouts are documented at
    /// the top of the source file.
    pub entries: &'static [&'static str],
}

macro_rules! contract {
    ($name:literal, $source:literal, [$($entry:literal),* $(,)?]) => {
        Contract {
            name: $name,
            wasm: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".wasm")),
            source: $source,
            entries: &[$($entry),*],
        }
    };
}

/// u64 counter under key `"count"`: `increment`, `get`, `reset` (each returns the value, 8 bytes LE).
pub const COUNTER: Contract =
    contract!("counter", "wat/counter.wat", ["increment", "get", "reset"]);

/// ERC-20-style token with u256 balances (see `c/token.c` for input layouts and events).
pub const TOKEN: Contract = contract!(
    "token",
    "c/token.c",
    [
        "init",
        "transfer",
        "balance_of",
        "total_supply",
        "approve",
        "transfer_from",
        "allowance"
    ]
);

/// Q64.64 interest calculator: `compound` (via `fx_pow`) and `continuous` (via `fx_exp`).
pub const INTEREST: Contract = contract!("interest", "c/interest.c", ["compound", "continuous"]);

/// Benchmark kernel: iterative Fibonacci; see [`reference::expected_fib`].
pub const FIB: Contract = contract!("fib", "wat/fib.wat", ["fib"]);

/// Benchmark kernel: SHA-256 in Wasm; see [`reference::expected_sha256`] and
/// [`reference::expected_sha256_iter`].
pub const SHA256: Contract = contract!("sha256", "c/sha256.c", ["sha256", "sha256_iter"]);

/// Benchmark kernel: CoreMark-like integer workload; see [`reference::expected_coremark`].
pub const COREMARK: Contract = contract!("coremark", "c/coremark.c", ["coremark"]);

/// Poseidon Merkle membership (BN254, circom-compatible): `set_root`, `is_member`.
pub const MERKLE: Contract = contract!("merkle", "c/merkle.c", ["set_root", "is_member"]);

/// Private ballot verified with Groth16 (BN254 circom/snarkjs circuit): `setup`, `cast`, `tally`.
pub const VOTE: Contract = contract!("vote", "c/vote.c", ["setup", "cast", "tally"]);

/// Constant-product AMM with many pools (see `c/amm.c`): the parallel executor's high-conflict
/// benchmark (every swap on one pool touches the same reserves).
pub const AMM: Contract = contract!("amm", "c/amm.c", ["init", "swap", "pool"]);

/// Storage-heavy game moves, one set of records per player (see `c/game.c`): the parallel
/// executor's many-independent-accounts benchmark.
pub const GAME: Contract = contract!("game", "c/game.c", ["play", "score"]);

/// Lending market with Q64.64 interest accrual on a global borrow index (see `c/lending.c`).
pub const LENDING: Contract = contract!(
    "lending",
    "c/lending.c",
    ["init", "deposit", "borrow", "repay", "account", "market"]
);

/// Non-fungible token: open mint of sequential ids, owner-only transfer (see `c/nft.c`).
pub const NFT: Contract = contract!(
    "nft",
    "c/nft.c",
    ["mint", "transfer", "owner_of", "balance", "supply"]
);

/// A lottery drawn from the randomness beacon (`keel.randomness`): `open`, `buy`, `draw`,
/// `winner` (see `c/lottery.c`).
pub const LOTTERY: Contract =
    contract!("lottery", "c/lottery.c", ["open", "buy", "draw", "winner"]);

static ALL: [Contract; 13] = [
    COUNTER, TOKEN, INTEREST, FIB, SHA256, COREMARK, MERKLE, VOTE, AMM, GAME, LENDING, NFT, LOTTERY,
];

/// Every contract, in a fixed order (the order above).
pub fn all() -> &'static [Contract] {
    &ALL
}

/// The contract called `name`, or `None` if there is none.
pub fn get(name: &str) -> Option<&'static Contract> {
    ALL.iter().find(|c| c.name == name)
}
