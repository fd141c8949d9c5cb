//! The macro workloads calibration fits on: the benchmark suite's macro workloads
//! ([`crate::workloads`], the one table `keel bench suite` and `keel bench peers` run), then
//! the other bundled contracts (`keel_contracts`) on inputs that make them do their typical
//! work.

use super::workload::{CALLER, Call, Kind, Workload};

fn u32le(n: u32) -> Vec<u8> {
    n.to_le_bytes().to_vec()
}

fn u64s(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A Q64.64 value `num / den` as 16 bytes LE (the `keel_fx` layout).
fn q64(num: u64, den: u64) -> [u8; 16] {
    let raw = (u128::from(num) << 64) / u128::from(den.max(1));
    raw.to_le_bytes()
}

fn u256(v: u128) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&v.to_le_bytes());
    b
}

fn call(entry: &'static str, input: Vec<u8>) -> Call {
    Call {
        caller: CALLER,
        entry,
        input,
    }
}

fn macro_workload(
    name: &str,
    contract: &keel_contracts::Contract,
    setup: Vec<Call>,
    measured: Call,
) -> Workload {
    Workload {
        name: name.into(),
        kind: Kind::Macro,
        code: contract.wasm.into(),
        setup,
        call: measured,
    }
}

/// The suite's call converted to calibration's.
fn from_suite(c: crate::workloads::Call) -> Call {
    Call {
        caller: c.caller,
        entry: c.entry,
        input: c.input,
    }
}

/// The suite's macro workloads: the setup, then its first measured transaction.
fn suite_workloads() -> Vec<Workload> {
    crate::workloads::macros()
        .into_iter()
        .map(|w| Workload {
            name: w.name.replace('_', " "),
            kind: Kind::Macro,
            code: w.contract.wasm.into(),
            setup: (w.setup)().into_iter().map(from_suite).collect(),
            call: from_suite((w.tx)(0)),
        })
        .collect()
}

/// The macro workloads; `scale` (≥ 1) multiplies the loop counts of the compute kernels.
pub fn macro_workloads(scale: u32) -> Vec<Workload> {
    let mut all = suite_workloads();
    all.extend(contract_workloads(scale));
    all
}

/// The bundled contracts the suite does not run.
fn contract_workloads(scale: u32) -> Vec<Workload> {
    use keel_contracts as c;
    let s = scale.max(1);
    let token_init = || call("init", u256(10u128.pow(24)).to_vec());
    let mut approve = [0x55u8; 32].to_vec();
    approve.extend_from_slice(&u256(5));
    let interest = |periods: u64| {
        let mut v = q64(1_000, 1).to_vec();
        v.extend_from_slice(&q64(5, 100));
        v.extend_from_slice(&q64(periods, 1));
        v
    };
    let mut membership = vec![0u8; 32];
    membership.extend_from_slice(&u32le(5));
    membership.extend_from_slice(&u32le(8));
    membership.extend_from_slice(&[0u8; 8 * 32]);
    vec![
        macro_workload(
            "token approve",
            &c::TOKEN,
            vec![token_init()],
            call("approve", approve),
        ),
        macro_workload(
            "token balance_of",
            &c::TOKEN,
            vec![token_init()],
            call("balance_of", CALLER.to_vec()),
        ),
        macro_workload(
            "game play (later move)",
            &c::GAME,
            vec![call("play", [u64s(&[41]), vec![1]].concat())],
            call("play", [u64s(&[42]), vec![0]].concat()),
        ),
        macro_workload(
            "interest compound",
            &c::INTEREST,
            Vec::new(),
            call("compound", interest(12)),
        ),
        macro_workload(
            "interest continuous",
            &c::INTEREST,
            Vec::new(),
            call("continuous", interest(3)),
        ),
        macro_workload(
            "merkle is_member (depth 8)",
            &c::MERKLE,
            vec![call("set_root", vec![0u8; 32])],
            call("is_member", membership),
        ),
        macro_workload(
            "counter increment",
            &c::COUNTER,
            Vec::new(),
            call("increment", Vec::new()),
        ),
        macro_workload(
            "coremark",
            &c::COREMARK,
            Vec::new(),
            call("coremark", u32le(s.saturating_mul(2))),
        ),
        macro_workload(
            "sha256 chain",
            &c::SHA256,
            Vec::new(),
            call("sha256_iter", u32le(s.saturating_mul(40))),
        ),
        macro_workload(
            "sha256 of 4 KiB",
            &c::SHA256,
            Vec::new(),
            call("sha256", vec![0xab; 4096]),
        ),
        macro_workload(
            "fib",
            &c::FIB,
            Vec::new(),
            call("fib", u32le(s.saturating_mul(20_000))),
        ),
    ]
}
