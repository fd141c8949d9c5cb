//! `keel bench crypto`: per-call time and gas of the cryptographic host functions, measured
//! through the VM (a contract calling the host function in a loop), with gas per microsecond
//! beside the same ratio for plain metered wasm, so prices can be compared with the schedule.
//! The beacon's VRF and VDF rows (not host functions) are in `bench_crypto_beacon.rs`.

use keel_vm::{CallContext, CallRequest, GasVector, StateError, StateView, Vm, VmConfig};
use keel_zk::Curve;
use serde::Serialize;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BenchCryptoArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measured rounds per row (the fastest is kept).
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
}

/// One row: a primitive and its per-call cost.
#[derive(Debug, Serialize)]
pub struct CryptoRow {
    /// `poseidon`, `groth16`, `bls`, `randomness`, `vrf`, `vdf` or `wasm` (the reference:
    /// metered contract code).
    pub primitive: &'static str,
    pub case: String,
    pub calls: u32,
    pub us_per_call: f64,
    /// `None` for work no contract is charged for (the beacon's VRF and VDF).
    pub gas_per_call: Option<u64>,
    pub gas_per_us: Option<f64>,
}

/// Contract storage is empty; every height has a final beacon value (for `randomness`).
struct BenchState;

impl StateView for BenchState {
    fn storage_get(&mut self, _: &[u8; 32], _: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(None)
    }
    fn beacon(&mut self, _: u64) -> Result<Option<[u8; 32]>, StateError> {
        Ok(Some([0x5a; 32]))
    }
}

/// Header (u32 LE): count, op, curve, n, a, a_len, b, c; then data. op 0 poseidon(curve, a, n,
/// out), 1 groth16_verify(curve, a, a_len, b, c, n), 2 bls_verify(a, b, n, c), 3 randomness(n,
/// curve, out).
const LOOP: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "poseidon" (func $pos (param i32 i32 i32 i32) (result i32)))
  (import "keel" "groth16_verify" (func $g16 (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "keel" "bls_verify" (func $bls (param i32 i32 i32 i32) (result i32)))
  (import "keel" "randomness" (func $rand (param i32 i32 i32) (result i32)))
  (memory 2 2)
  (func $one (result i32) (local $op i32)
    (local.set $op (i32.load (i32.const 4)))
    (if (result i32) (i32.eqz (local.get $op))
      (then (call $pos (i32.load (i32.const 8)) (i32.load (i32.const 16)) (i32.load (i32.const 12)) (i32.const 120000)))
      (else (if (result i32) (i32.eq (local.get $op) (i32.const 1))
        (then (call $g16 (i32.load (i32.const 8)) (i32.load (i32.const 16)) (i32.load (i32.const 20))
                         (i32.load (i32.const 24)) (i32.load (i32.const 28)) (i32.load (i32.const 12))))
        (else (if (result i32) (i32.eq (local.get $op) (i32.const 2))
          (then (call $bls (i32.load (i32.const 16)) (i32.load (i32.const 24)) (i32.load (i32.const 12))
                           (i32.load (i32.const 28))))
          (else (call $rand (i32.load (i32.const 12)) (i32.load (i32.const 8)) (i32.const 120000)))))))))
  (func (export "run") (local $i i32)
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (loop $l
      (if (i32.lt_s (call $one) (i32.const 0)) (then unreachable))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.load (i32.const 0)))))))"#;

const HEADER: usize = 32;

fn input(count: u32, op: u32, curve: u32, n: u32, parts: [&[u8]; 3]) -> Vec<u8> {
    let mut ptrs = [0u32; 3];
    let mut data = Vec::new();
    for (p, bytes) in ptrs.iter_mut().zip(parts) {
        *p = u32::try_from(HEADER + data.len()).unwrap_or(u32::MAX);
        data.extend_from_slice(bytes);
    }
    let a_len = u32::try_from(parts[0].len()).unwrap_or(u32::MAX);
    let mut v = Vec::new();
    for w in [count, op, curve, n, ptrs[0], a_len, ptrs[1], ptrs[2]] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(&data);
    v
}

fn call(vm: &Vm, code: &[u8], entry: &str, input: Vec<u8>) -> anyhow::Result<(Duration, u64)> {
    let prepared = vm.prepare(code)?;
    let req = CallRequest {
        entry: entry.into(),
        input,
        // Past block 1, so `randomness(1)` is final.
        context: CallContext {
            block_height: 2,
            ..CallContext::default()
        },
        limits: GasVector {
            compute: u64::MAX / 4,
            storage_bytes: 0,
            memory_pages: 2,
            bandwidth: 1 << 20,
        },
    };
    let start = Instant::now();
    let out = vm.call_prepared(&prepared, req, Box::new(BenchState))?;
    let elapsed = start.elapsed();
    if let Err(trap) = out.result {
        anyhow::bail!("bench contract trapped: {trap}");
    }
    Ok((elapsed, out.gas_used.compute))
}

struct Case {
    primitive: &'static str,
    case: String,
    calls: u32,
    code: &'static [u8],
    entry: &'static str,
    input: Vec<u8>,
}

/// A Groth16 test vector in the ABI encoding.
struct Vector {
    vk: Vec<u8>,
    proof: Vec<u8>,
    inputs: Vec<u8>,
    n: u32,
}

fn vector(file: &str) -> anyhow::Result<Vector> {
    let v: serde_json::Value = serde_json::from_str(file)?;
    let field = |k: &str| -> anyhow::Result<Vec<u8>> {
        Ok(hex::decode(v[k].as_str().unwrap_or_default())?)
    };
    let mut inputs = Vec::new();
    for s in v["inputs"].as_array().into_iter().flatten() {
        inputs.extend(hex::decode(s.as_str().unwrap_or_default())?);
    }
    let n = u32::try_from(inputs.len() / 32)?;
    Ok(Vector {
        vk: field("vk")?,
        proof: field("proof")?,
        inputs,
        n,
    })
}

fn cases(loop_wasm: &'static [u8]) -> anyhow::Result<Vec<Case>> {
    let mut out = Vec::new();
    let mut push = |primitive, case: String, calls, input| {
        out.push(Case {
            primitive,
            case,
            calls,
            code: loop_wasm,
            entry: "run",
            input,
        })
    };
    for (curve, name) in [(Curve::Bn254, "bn254"), (Curve::Bls12_381, "bls12_381")] {
        for arity in [2u32, 16] {
            let calls = if arity == 2 { 400 } else { 20 };
            let words = vec![1u8; 32 * arity as usize];
            let inp = input(calls, 0, curve as u32, arity, [&words, &[], &[]]);
            push("poseidon", format!("{name} arity {arity}"), calls, inp);
        }
    }
    for (curve, name, file) in [
        (
            Curve::Bn254,
            "bn254",
            include_str!("../../../vm/zk/vectors/groth16_bn254.json"),
        ),
        (
            Curve::Bls12_381,
            "bls12_381",
            include_str!("../../../vm/zk/vectors/groth16_bls12_381.json"),
        ),
    ] {
        let Vector {
            vk,
            proof,
            inputs,
            n,
        } = vector(file)?;
        let inp = input(10, 1, curve as u32, n, [&vk, &proof, &inputs]);
        push(
            "groth16",
            format!("{name}, {n} public inputs, key cached"),
            10,
            inp,
        );
    }
    let sk = keel_crypto::SecretKey::from_seed(&[7; 32])?;
    let msg = [0x42u8; 32];
    let sig = sk.sign(&msg).to_bytes();
    let pk = sk.public_key().to_bytes();
    let inp = input(20, 2, 0, 32, [&pk, &msg, &sig]);
    push("bls", "bls_verify, 32-byte message".into(), 20, inp);
    let inp = input(400, 3, 0, 1, [&[], &[], &[]]);
    push(
        "randomness",
        "final beacon value of height 1".into(),
        400,
        inp,
    );
    out.push(Case {
        primitive: "wasm",
        case: "fib (metered contract code, the schedule's reference)".into(),
        calls: 1,
        code: keel_contracts::FIB.wasm,
        entry: "fib",
        input: 1_000_000u32.to_le_bytes().to_vec(),
    });
    Ok(out)
}

fn measure(vm: &Vm, c: &Case, rounds: u32) -> anyhow::Result<CryptoRow> {
    let (_, gas) = call(vm, c.code, c.entry, c.input.clone())?; // warm-up: caches, compilation
    let mut best = Duration::MAX;
    for _ in 0..rounds.max(1) {
        best = best.min(call(vm, c.code, c.entry, c.input.clone())?.0);
    }
    let us = best.as_secs_f64() * 1e6 / f64::from(c.calls);
    let gas_per_call = gas / u64::from(c.calls);
    Ok(CryptoRow {
        primitive: c.primitive,
        case: c.case.clone(),
        calls: c.calls,
        us_per_call: us,
        gas_per_call: Some(gas_per_call),
        gas_per_us: Some(gas_per_call as f64 / us.max(1e-9)),
    })
}

/// Groth16 with a key the cache has never seen: what the price is set for.
fn groth16_cold(rounds: u32) -> anyhow::Result<Vec<CryptoRow>> {
    let mut rows = Vec::new();
    for (curve, name, file) in [
        (
            Curve::Bn254,
            "bn254",
            include_str!("../../../vm/zk/vectors/groth16_bn254.json"),
        ),
        (
            Curve::Bls12_381,
            "bls12_381",
            include_str!("../../../vm/zk/vectors/groth16_bls12_381.json"),
        ),
    ] {
        let Vector {
            vk,
            proof,
            inputs,
            n,
        } = vector(file)?;
        let mut best = Duration::MAX;
        for _ in 0..rounds.max(1) {
            let cache = keel_zk::vk_cache::VkCache::new(1);
            let start = Instant::now();
            let ok = keel_zk::verify_groth16(&cache, curve, &vk, &proof, &inputs, n as usize)?;
            best = best.min(start.elapsed());
            anyhow::ensure!(ok, "the {name} vector does not verify");
        }
        let gas =
            keel_vm::GasSchedule::v1().host_cost(keel_vm::HostFn::Groth16Verify, 32 * u64::from(n));
        let us = best.as_secs_f64() * 1e6;
        rows.push(CryptoRow {
            primitive: "groth16",
            case: format!("{name}, {n} public inputs, key not cached (host function only)"),
            calls: 1,
            us_per_call: us,
            gas_per_call: Some(gas),
            gas_per_us: Some(gas as f64 / us.max(1e-9)),
        });
    }
    Ok(rows)
}

/// Every row, fastest of `rounds` each (`progress`: name each case on stderr as it starts).
/// Also the crypto micro rows of `keel bench suite`.
pub fn rows(rounds: u32, progress: bool) -> anyhow::Result<Vec<CryptoRow>> {
    let loop_wasm: &'static [u8] = Box::leak(wat::parse_str(LOOP)?.into_boxed_slice());
    let vm = Vm::new(VmConfig::default())?;
    let mut rows = Vec::new();
    for c in cases(loop_wasm)? {
        if progress {
            eprintln!("running {} {}…", c.primitive, c.case);
        }
        rows.push(measure(&vm, &c, rounds)?);
    }
    rows.extend(groth16_cold(rounds)?);
    Ok(rows)
}

pub fn run(a: BenchCryptoArgs) -> anyhow::Result<ExitCode> {
    let mut rows = rows(a.rounds, !a.json)?;
    // Block validation and node-local work, not host functions: here, not in the suite's rows.
    if !a.json {
        eprintln!("running the beacon's VRF and VDF…");
    }
    rows.extend(super::bench_crypto_beacon::beacon_rows(a.rounds)?);
    if a.json {
        let report = serde_json::json!({ "bench": "crypto", "rows": rows });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "per-call time and gas of each host function, through the VM; gas/µs should sit near \
         the wasm row (the schedule's calibration); vrf and vdf are block validation and \
         node-local work, charged to no contract (gas -)"
    );
    println!(
        "{:<10} {:<62} {:>12} {:>14} {:>9}",
        "primitive", "case", "µs/call", "gas/call", "gas/µs"
    );
    for r in &rows {
        let gas = r.gas_per_call.map_or("-".into(), |g| g.to_string());
        let ratio = r.gas_per_us.map_or("-".into(), |g| format!("{g:.0}"));
        println!(
            "{:<10} {:<62} {:>12.1} {:>14} {:>9}",
            r.primitive, r.case, r.us_per_call, gas, ratio
        );
    }
    Ok(ExitCode::SUCCESS)
}
