//! VM tiers: the same contracts on every tier give identical results and gas, and the results
//! equal a native Rust reference. Built today: wasmi (metered). The unmetered wasmi build is the result reference (instrumentation must not
//! change a result), and a second metered VM on another thread must charge identical gas.

use std::time::Instant;

use keel_vm::{CallRequest, GasVector, MemoryState, Vm, VmConfig};

use crate::paths::{Better, Curve, Metric, PathResult, Series};

/// A contract call used by the VM path, with its expected output computed natively
/// (`keel_contracts::reference`), so a tier is checked without trusting any VM.
struct Call {
    name: &'static str,
    code: &'static [u8],
    entry: &'static str,
    input: Vec<u8>,
    expected: Vec<u8>,
}

fn calls(scale: u32) -> Vec<Call> {
    use keel_contracts::reference::{
        expected_coremark, expected_fib, expected_sha256_iter, u32_input,
    };
    let n = |base: u32| base.saturating_mul(scale).max(1);
    let (fib, sha, core) = (n(20_000), n(40), n(2));
    vec![
        Call {
            name: "fib",
            code: keel_contracts::FIB.wasm,
            entry: "fib",
            input: u32_input(fib).to_vec(),
            expected: expected_fib(fib).to_le_bytes().to_vec(),
        },
        Call {
            name: "sha256",
            code: keel_contracts::SHA256.wasm,
            entry: "sha256_iter",
            input: u32_input(sha).to_vec(),
            expected: expected_sha256_iter(&u32_input(sha))
                .map(|d| d.to_vec())
                .unwrap_or_default(),
        },
        Call {
            name: "coremark",
            code: keel_contracts::COREMARK.wasm,
            entry: "coremark",
            input: u32_input(core).to_vec(),
            expected: expected_coremark(core).to_le_bytes().to_vec(),
        },
    ]
}

type Outcome = (Result<Vec<u8>, String>, String, f64);

fn call(vm: &Vm, c: &Call) -> Result<Outcome, String> {
    let prepared = vm.prepare(c.code).map_err(|e| e.to_string())?;
    let req = CallRequest {
        entry: c.entry.into(),
        input: c.input.clone(),
        limits: GasVector {
            compute: u64::MAX / 4,
            storage_bytes: 1 << 20,
            memory_pages: 256,
            bandwidth: 1 << 20,
        },
        ..CallRequest::default()
    };
    let start = Instant::now();
    let out = vm
        .call_prepared(&prepared, req, Box::new(MemoryState::default()))
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    Ok((
        out.result.map_err(|t| t.to_string()),
        format!("{:?}", out.gas_used),
        secs,
    ))
}

/// Runs every contract on every tier; `scale` sizes the workloads (1 for `--quick`).
pub fn run_vm(scale: u32) -> Vec<PathResult> {
    let mut r = PathResult::new("vm", "wasmi");
    r.conformance.note = Some("tiers built: wasmi (wasmtime not available yet)".into());
    let vms = (|| -> Result<(Vm, Vm), String> {
        let metered = Vm::new(VmConfig {
            cache_capacity: 0,
            ..VmConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let plain = Vm::new(VmConfig {
            metering: false,
            cache_capacity: 0,
            ..VmConfig::default()
        })
        .map_err(|e| e.to_string())?;
        Ok((metered, plain))
    })();
    let (metered, plain) = match vms {
        Ok(v) => v,
        Err(e) => {
            r.conformance.fail(format!("VM setup: {e}"));
            return vec![r];
        }
    };
    let mut series = Series {
        label: "wasmi (metered)".into(),
        points: Vec::new(),
    };
    for (x, c) in calls(scale).iter().enumerate() {
        let outcome = (|| -> Result<f64, String> {
            let (res, gas, secs) = call(&metered, c)?;
            let (plain_res, _, _) = call(&plain, c)?;
            let again = std::thread::scope(|s| {
                s.spawn(|| {
                    Vm::new(VmConfig::default())
                        .map_err(|e| e.to_string())
                        .and_then(|vm| call(&vm, c))
                })
                .join()
            })
            .map_err(|_| "second VM thread panicked".to_string())??;
            if res != plain_res {
                return Err(format!("metered result {res:?} != unmetered {plain_res:?}"));
            }
            match &res {
                Ok(out) if *out == c.expected => {}
                Ok(out) => {
                    return Err(format!(
                        "output {} != native reference {}",
                        hex::encode(out),
                        hex::encode(&c.expected)
                    ));
                }
                Err(trap) => return Err(format!("trapped: {trap}")),
            }
            if (&again.0, &again.1) != (&res, &gas) {
                return Err(format!("second VM differs: gas {} vs {gas}", again.1));
            }
            Ok(secs)
        })();
        match outcome {
            Ok(secs) => {
                r.conformance.check(Ok(()));
                series.points.push((x as f64, secs * 1e3));
                r.metrics.push(Metric::new(
                    format!("wasmi.{}.ms", c.name),
                    secs * 1e3,
                    "ms",
                    Better::Lower,
                ));
            }
            Err(e) => r.conformance.check(Err(format!("{}: {e}", c.name))),
        }
    }
    r.performance.checks = series.points.len() as u64;
    r.curves.push(Curve {
        title: "VM call time per contract (x: fib, sha256, coremark)".into(),
        x_label: "contract".into(),
        y_label: "ms".into(),
        log_x: false,
        series: vec![series],
    });
    vec![r]
}
