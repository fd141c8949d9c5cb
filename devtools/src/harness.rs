//! `keel contract test`: every exported `test_*` function is a unit test, every `prop_*` a
//! property test fed generated inputs (read with `keel.input_size`/`input_copy`). A test fails
//! by trapping. Each case runs on fresh, empty contract state.
//!
//! Property inputs come from proptest with a ChaCha RNG seeded from the run's seed and the
//! test's name, so a seed replays exactly; a failure is shrunk to a minimal input, reported as
//! hex with the gas that input used.

use crate::error::DevError;
use keel_vm::{CallContext, CallRequest, GasVector, MemoryState, Prepared, Vm};
use proptest::collection::vec;
use proptest::prelude::any;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::cell::Cell;

/// Knobs of a run. Defaults: seed 0, 256 cases, inputs up to 256 bytes, 10^9 compute gas.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub seed: u64,
    pub cases: u32,
    pub max_input: usize,
    /// Per-call limits.
    pub limits: GasVector,
    /// Run only tests whose name contains this.
    pub filter: Option<String>,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            seed: 0,
            cases: 256,
            max_input: 256,
            limits: GasVector {
                compute: 1_000_000_000,
                storage_bytes: 1 << 20,
                memory_pages: 256,
                bandwidth: 1 << 20,
            },
            filter: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Unit,
    Property,
}

/// The outcome of one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestResult {
    pub name: String,
    pub kind: Kind,
    pub passed: bool,
    /// Cases run (1 for a unit test).
    pub cases: u32,
    /// Gas of the failing case, or the most any passing case used.
    pub gas: GasVector,
    /// The run's seed (replay with `--seed`).
    pub seed: u64,
    /// The minimal failing input, hex (property tests).
    pub counterexample_hex: Option<String>,
    /// Why it failed (the trap).
    pub failure: Option<String>,
}

/// Runs the tests of the test module `wasm`.
///
/// # Errors
/// The module is not admitted or cannot be instantiated.
pub fn run(vm: &Vm, wasm: &[u8], cfg: &TestConfig) -> Result<Vec<TestResult>, DevError> {
    let prepared = vm.prepare(wasm)?;
    let mut names: Vec<&String> = prepared.entries.keys().collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        if cfg
            .filter
            .as_ref()
            .is_some_and(|f| !name.contains(f.as_str()))
        {
            continue;
        }
        if name.starts_with("test_") {
            out.push(unit(vm, &prepared, name, cfg)?);
        } else if name.starts_with("prop_") {
            out.push(property(vm, &prepared, name, cfg)?);
        }
    }
    Ok(out)
}

/// One call on fresh state: the gas used and the trap, if any.
fn call(
    vm: &Vm,
    prepared: &Prepared,
    entry: &str,
    input: Vec<u8>,
    cfg: &TestConfig,
) -> Result<(GasVector, Option<String>), DevError> {
    let out = vm.call_prepared(
        prepared,
        CallRequest {
            entry: entry.to_owned(),
            input,
            context: CallContext::default(),
            limits: cfg.limits,
        },
        Box::new(MemoryState::default()),
    )?;
    Ok((out.gas_used, out.result.err().map(|t| t.to_string())))
}

fn unit(vm: &Vm, p: &Prepared, name: &str, cfg: &TestConfig) -> Result<TestResult, DevError> {
    let (gas, failure) = call(vm, p, name, Vec::new(), cfg)?;
    Ok(TestResult {
        name: name.to_owned(),
        kind: Kind::Unit,
        passed: failure.is_none(),
        cases: 1,
        gas,
        seed: cfg.seed,
        counterexample_hex: None,
        failure,
    })
}

/// The RNG seed of one property test: the run's seed and the test's name, hashed.
fn rng_seed(seed: u64, name: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(name.as_bytes());
    h.finalize().into()
}

fn property(vm: &Vm, p: &Prepared, name: &str, cfg: &TestConfig) -> Result<TestResult, DevError> {
    let config = Config {
        cases: cfg.cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(cfg.seed, name));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let most_gas = Cell::new(GasVector::default());
    let ran = Cell::new(0u32);
    let vm_error: Cell<Option<DevError>> = Cell::new(None);
    let verdict = runner.run(&vec(any::<u8>(), 0..=cfg.max_input), |input| {
        ran.set(ran.get().saturating_add(1));
        match call(vm, p, name, input, cfg) {
            Ok((gas, None)) => {
                let m = most_gas.get();
                if gas.compute > m.compute {
                    most_gas.set(gas);
                }
                Ok(())
            }
            Ok((_, Some(trap))) => Err(TestCaseError::fail(trap)),
            Err(e) => {
                vm_error.set(Some(e));
                Err(TestCaseError::fail("vm error"))
            }
        }
    });
    if let Some(e) = vm_error.take() {
        return Err(e);
    }
    let mut r = TestResult {
        name: name.to_owned(),
        kind: Kind::Property,
        passed: true,
        cases: ran.get(),
        gas: most_gas.get(),
        seed: cfg.seed,
        counterexample_hex: None,
        failure: None,
    };
    if let Err(e) = verdict {
        r.passed = false;
        match e {
            TestError::Fail(why, input) => {
                // Re-run the minimal input alone for its own gas figure.
                let (gas, trap) = call(vm, p, name, input.clone(), cfg)?;
                r.gas = gas;
                r.failure = Some(trap.unwrap_or_else(|| why.to_string()));
                r.counterexample_hex = Some(hex::encode(input));
            }
            TestError::Abort(why) => r.failure = Some(format!("aborted: {why}")),
        }
    }
    Ok(r)
}
