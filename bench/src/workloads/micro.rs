//! Micro rows: one host-function family per workload, each through a small contract so the
//! number includes what a contract pays to reach it (the crypto host functions BLS, Poseidon
//! and Groth16 are measured per call by `keel bench crypto`, whose rows the suite includes).

use super::{Call, CheckError, Domain, Query, Workload, ensure, player, read_u64};
use sha2::{Digest, Sha256};

fn no_setup() -> Vec<Call> {
    Vec::new()
}

fn increment(i: u32) -> Call {
    Call {
        caller: player(i % super::PLAYERS),
        entry: "increment",
        input: Vec::new(),
    }
}

/// The counter counted every call, and each call returned its own count.
fn storage_check(q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    for (i, out) in (1u64..).zip(outputs) {
        let v = read_u64(out, 0)?;
        ensure(v == i, || format!("call {i} returned {v}"))?;
    }
    let total = read_u64(&q.query("get", &[])?, 0)?;
    ensure(total == outputs.len() as u64, || {
        format!("counter {total} after {} calls", outputs.len())
    })
}

pub static STORAGE: Workload = Workload {
    name: "storage_rw",
    domain: Domain::Micro,
    contract: &keel_contracts::COUNTER,
    about: "one storage read and one write of 8 bytes (counter.wat increment)",
    setup: no_setup,
    tx: increment,
    check: storage_check,
};

/// Q64.64 from an integer and a fraction in millionths.
fn fx(int: u64, millionths: u64) -> [u8; 16] {
    let frac = (u128::from(millionths) << 64) / 1_000_000;
    ((u128::from(int) << 64) | frac).to_le_bytes()
}

fn fx_to_f64(b: &[u8]) -> Result<f64, CheckError> {
    let raw: [u8; 16] = b
        .try_into()
        .map_err(|_| CheckError::Violated(format!("Q64.64 output of {} bytes", b.len())))?;
    Ok(i128::from_le_bytes(raw) as f64 / 18_446_744_073_709_551_616.0)
}

fn interest_call(entry: &'static str, i: u32) -> Call {
    let mut input = fx(1_000, 0).to_vec();
    input.extend_from_slice(&fx(0, 100 * u64::from(1 + i % 10)));
    input.extend_from_slice(&fx(12 + u64::from(i % 24), 0));
    Call {
        caller: player(0),
        entry,
        input,
    }
}

/// `(rate, span)` of call `i` as floats, for the reference.
fn interest_params(i: u32) -> (f64, f64) {
    (1e-4 * f64::from(1 + i % 10), f64::from(12 + i % 24))
}

fn compound(i: u32) -> Call {
    interest_call("compound", i)
}

fn continuous(i: u32) -> Call {
    interest_call("continuous", i)
}

/// Each result within 10⁻⁹ (relative) of the same formula in f64.
fn interest_check(outputs: &[Vec<u8>], f: impl Fn(f64, f64) -> f64) -> Result<(), CheckError> {
    for (i, out) in (0u32..).zip(outputs) {
        let (rate, span) = interest_params(i);
        let want = 1_000.0 * f(rate, span);
        let got = fx_to_f64(out)?;
        ensure(((got - want) / want).abs() < 1e-9, || {
            format!("call {i}: {got}, reference {want}")
        })?;
    }
    Ok(())
}

fn compound_check(_q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    interest_check(outputs, |r, n| (1.0 + r).powf(n))
}

fn continuous_check(_q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    interest_check(outputs, |r, t| (r * t).exp())
}

pub static FX_POW: Workload = Workload {
    name: "fx_pow_mul",
    domain: Domain::Micro,
    contract: &keel_contracts::INTEREST,
    about: "Q64.64 compound interest: fx_pow then fx_mul (interest.c compound)",
    setup: no_setup,
    tx: compound,
    check: compound_check,
};

pub static FX_EXP: Workload = Workload {
    name: "fx_exp_mul",
    domain: Domain::Micro,
    contract: &keel_contracts::INTEREST,
    about: "Q64.64 continuous interest: fx_mul, fx_exp, fx_mul (interest.c continuous)",
    setup: no_setup,
    tx: continuous,
    check: continuous_check,
};

fn sha_input(i: u32) -> Vec<u8> {
    (0..256u32).map(|b| (b ^ i) as u8).collect()
}

fn sha_tx(i: u32) -> Call {
    Call {
        caller: player(0),
        entry: "sha256",
        input: sha_input(i),
    }
}

/// Every digest equals sha2's.
fn sha_check(_q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    for (i, out) in (0u32..).zip(outputs) {
        let want = Sha256::digest(sha_input(i));
        ensure(out.as_slice() == want.as_slice(), || {
            format!("digest {i} differs from sha2")
        })?;
    }
    Ok(())
}

pub static SHA256_WASM: Workload = Workload {
    name: "sha256_wasm",
    domain: Domain::Micro,
    contract: &keel_contracts::SHA256,
    about: "SHA-256 of 256 bytes computed in wasm (sha256.c), no host function",
    setup: no_setup,
    tx: sha_tx,
    check: sha_check,
};
