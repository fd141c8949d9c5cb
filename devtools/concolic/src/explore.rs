//! The exploration loop: run, record, negate, repeat, in a deterministic order.
//!
//! Generational search (SAGE): each run's facts are negated one at a time, from the first fact
//! its parent did not already negate, each under the prefix of facts before it; the new inputs
//! are queued in order (first in, first out). With the same module, configuration and solver
//! results the order of runs is always the same; only a solver timeout (`unknown`) or the time
//! budget can make two explorations differ.

use crate::engine::{ConcolicEngine, TraceSlot};
use crate::report::{Case, Finding, FindingKind, Report, Stopped};
use crate::solver::{PathSolver, SolverStats};
use crate::trace::{FactKind, Site, Trace};
use keel_vm::{
    CallContext, CallOutcome, CallRequest, GasVector, MemoryState, Vm, VmConfig, VmError,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// Exploration settings. Defaults: 256 runs, inputs up to 256 bytes, 1 s per solver query,
/// 60 s in all, a 10^9 compute-gas limit, the empty input as the only seed, empty storage.
#[derive(Debug, Clone)]
pub struct Config {
    /// Entry point to explore.
    pub entry: String,
    /// Compute gas limit of every call; running out of it is a finding.
    pub gas_limit: u64,
    /// Most runs (calls of the entry point).
    pub max_runs: u64,
    /// Longest input considered, in bytes.
    pub max_input_len: u32,
    /// Limit of one solver query, in milliseconds.
    pub solver_timeout_ms: u32,
    /// Limit of the whole exploration.
    pub time_budget: Duration,
    /// Inputs run first, in order.
    pub seeds: Vec<Vec<u8>>,
    /// Storage before every call.
    pub state: MemoryState,
    pub context: CallContext,
    /// How the replay command names the module file.
    pub file_label: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            entry: String::new(),
            gas_limit: 1_000_000_000,
            max_runs: 256,
            max_input_len: 256,
            solver_timeout_ms: 1000,
            time_budget: Duration::from_secs(60),
            seeds: vec![Vec::new()],
            state: MemoryState::default(),
            context: CallContext::default(),
            file_label: "FILE".into(),
        }
    }
}

/// Why an exploration could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error("no entry point `{0}` of type () -> ()")]
    NoSuchEntry(String),
    #[error("a seed is {len} bytes, over the {max}-byte input limit")]
    SeedTooLong { len: usize, max: u32 },
}

/// Findings (first input per kind, trap text and fault offset) and the gas maximum so far.
#[derive(Default)]
struct Tally {
    findings: BTreeMap<(FindingKind, String, Option<u32>), Finding>,
    max_gas: Option<Case>,
}

impl Tally {
    fn record(&mut self, ex: &Explorer<'_>, run: u64, input: &[u8], outcome: &CallOutcome) {
        if let Err(trap) = &outcome.result {
            let offset = outcome
                .faults
                .last()
                .and_then(|f| f.location.as_ref())
                .map(|l| l.offset);
            let kind = FindingKind::of(trap);
            self.findings
                .entry((kind, trap.to_string(), offset))
                .or_insert_with(|| Finding {
                    kind,
                    detail: trap.to_string(),
                    offset,
                    run,
                    case: ex.case(input, outcome),
                });
        }
        if self
            .max_gas
            .as_ref()
            .is_none_or(|m| outcome.gas_used.compute > m.gas_used)
        {
            self.max_gas = Some(ex.case(input, outcome));
        }
    }
}

/// One run, as an observer sees it.
pub struct Run<'a> {
    pub input: &'a [u8],
    pub outcome: &'a CallOutcome,
}

struct Explorer<'a> {
    cfg: &'a Config,
    vm: Vm,
    slot: TraceSlot,
    code: &'a [u8],
}

impl Explorer<'_> {
    fn run(&self, input: &[u8]) -> Result<(CallOutcome, Trace), VmError> {
        let request = CallRequest {
            entry: self.cfg.entry.clone(),
            input: input.to_vec(),
            context: self.cfg.context.clone(),
            limits: limits(self.cfg.gas_limit),
        };
        let outcome = self
            .vm
            .call(self.code, request, Box::new(self.cfg.state.clone()))?;
        let trace = self
            .slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        Ok((outcome, trace))
    }

    fn case(&self, input: &[u8], outcome: &CallOutcome) -> Case {
        let hex = hex::encode(input);
        Case {
            command: format!(
                "keel vm exec {} --call {} --args-hex '{hex}' --gas {}",
                self.cfg.file_label, self.cfg.entry, self.cfg.gas_limit
            ),
            input_hex: hex,
            gas_used: outcome.gas_used.compute,
            outcome: match &outcome.result {
                Ok(_) => "returned".into(),
                Err(t) => t.to_string(),
            },
        }
    }
}

/// The limits of every explored call: `gas` compute, generous elsewhere (the defaults of
/// `keel vm exec`, so its replay sees the same outcome).
pub fn limits(gas: u64) -> GasVector {
    GasVector {
        compute: gas,
        storage_bytes: 1 << 20,
        memory_pages: 256,
        bandwidth: 1 << 20,
    }
}

/// Explores `cfg.entry` of `code` (wasm or the bytes of an admitted module).
pub fn explore(code: &[u8], cfg: &Config) -> Result<Report, ExploreError> {
    explore_observed(code, cfg, |_| {})
}

/// [`explore`], calling `observe` after every run (tests check properties over all runs).
pub fn explore_observed(
    code: &[u8],
    cfg: &Config,
    mut observe: impl FnMut(&Run<'_>),
) -> Result<Report, ExploreError> {
    let started = Instant::now();
    let engine = ConcolicEngine::new(true);
    let slot = engine.slot();
    let vm = Vm::with_engine(VmConfig::default(), Box::new(engine));
    let prepared = vm.prepare(code)?;
    if !prepared.entries.contains_key(&cfg.entry) {
        return Err(ExploreError::NoSuchEntry(cfg.entry.clone()));
    }
    for s in &cfg.seeds {
        if s.len() > cfg.max_input_len as usize {
            return Err(ExploreError::SeedTooLong {
                len: s.len(),
                max: cfg.max_input_len,
            });
        }
    }
    let ex = Explorer {
        cfg,
        vm,
        slot,
        code,
    };
    let ctx = z3::Context::new(&z3::Config::new());
    let deadline = started.checked_add(cfg.time_budget);
    let out_of_time = || deadline.is_some_and(|d| Instant::now() >= d);
    let mut queue: VecDeque<(Vec<u8>, usize)> = VecDeque::new();
    let mut seen_inputs = BTreeSet::new();
    for s in &cfg.seeds {
        if seen_inputs.insert(s.clone()) {
            queue.push_back((s.clone(), 0));
        }
    }
    let mut seen_paths: BTreeSet<Vec<(Site, u32)>> = BTreeSet::new();
    let mut tally = Tally::default();
    let mut stats = SolverStats::default();
    let (mut runs, mut truncated) = (0u64, 0u64);
    let stopped = loop {
        let Some((input, bound)) = queue.pop_front() else {
            break Stopped::Exhausted;
        };
        if runs >= cfg.max_runs {
            break Stopped::PathBudget;
        }
        if out_of_time() {
            break Stopped::TimeBudget;
        }
        let (outcome, trace) = ex.run(&input)?;
        runs = runs.saturating_add(1);
        observe(&Run {
            input: &input,
            outcome: &outcome,
        });
        tally.record(&ex, runs, &input, &outcome);
        truncated = truncated.saturating_add(u64::from(trace.truncated));
        if !seen_paths.insert(trace.signature()) {
            continue;
        }
        let mut ps = PathSolver::new(&ctx, cfg.max_input_len, cfg.solver_timeout_ms);
        for (j, fact) in trace.facts.iter().enumerate() {
            if j >= bound && fact.kind != FactKind::Pin && !out_of_time() {
                let budget_left = cfg.max_runs.saturating_sub(runs) as usize;
                if queue.len() < budget_left.saturating_mul(4)
                    && let Some(next) = ps.negate(fact, &input, &mut stats)
                    && seen_inputs.insert(next.clone())
                {
                    queue.push_back((next, j.saturating_add(1)));
                }
            }
            ps.assume(fact);
        }
    };
    Ok(Report {
        entry: cfg.entry.clone(),
        runs,
        paths: seen_paths.len() as u64,
        stopped,
        findings: tally.findings.into_values().collect(),
        max_gas: tally.max_gas,
        solver: stats,
        truncated_traces: truncated,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}
