//! eBPF engines: interpreter = JIT = kernel on every built-in routine over random inputs and
//! the edge sizes of each routine's input rule; instructions per second per engine.

use std::time::{Duration, Instant};

use keel_ebpf_bridge::differential::compare_engines;
use keel_ebpf_bridge::{Engine, InputRule, Registry, Routine};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::paths::{Better, Curve, Metric, PathResult, Series};

/// Budget generous enough for every built-in routine's cost bound.
const BUDGET: u64 = 10_000_000;

/// How much to run.
#[derive(Debug, Clone, Copy)]
pub struct EbpfPlan {
    /// Random inputs per routine, besides the edge sizes.
    pub random_inputs: usize,
    /// Measuring time per routine and engine.
    pub time_per_engine: Duration,
    /// Seed.
    pub seed: u64,
}

/// Input lengths at the edges of a rule.
fn edge_lengths(rule: &InputRule) -> Vec<usize> {
    let mut v = match *rule {
        InputRule::Exact(n) => vec![n],
        InputRule::Range { min, max } => vec![
            min,
            min.saturating_add(1),
            max.saturating_sub(1),
            max,
            55,
            56,
            63,
            64,
            65,
            135,
            136,
            137,
        ],
        InputRule::Strided {
            base,
            stride,
            max_count,
        } => (0..=max_count.min(3))
            .chain([max_count])
            .map(|k| base.saturating_add(stride.saturating_mul(k)))
            .collect(),
    };
    v.retain(|&n| rule.admits(n));
    v.sort_unstable();
    v.dedup();
    v
}

fn random_length(rule: &InputRule, rng: &mut StdRng) -> usize {
    match *rule {
        InputRule::Exact(n) => n,
        InputRule::Range { min, max } => rng.random_range(min..=max),
        InputRule::Strided {
            base,
            stride,
            max_count,
        } => base.saturating_add(stride.saturating_mul(rng.random_range(0..=max_count))),
    }
}

/// Runs the eBPF path over every routine of `registry`.
pub fn run_ebpf(registry: &Registry, plan: &EbpfPlan) -> Vec<PathResult> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut r = PathResult::new("ebpf", "interp=jit=kernel");
    let mut curve: Vec<Series> = Engine::ALL
        .iter()
        .map(|e| Series {
            label: e.to_string(),
            points: Vec::new(),
        })
        .collect();
    for (x, manifest) in registry.list().into_iter().enumerate() {
        let Ok(routine) = registry.get(manifest.id) else {
            continue;
        };
        let kernel = routine
            .engine_available(Engine::Kernel)
            .err()
            .map(|e| e.to_string());
        if let Some(why) = &kernel {
            r.conformance.note = Some(format!("kernel engine unavailable: {why}"));
        }
        let mut lengths = edge_lengths(&manifest.input);
        lengths.extend((0..plan.random_inputs).map(|_| random_length(&manifest.input, &mut rng)));
        // The timed input: the longest accepted one that every engine can take (up to 1 KiB).
        let cap = routine.kernel_max_input().unwrap_or(1024).min(1024);
        let mut timed: Option<Vec<u8>> = None;
        for len in lengths {
            let mut input = vec![0u8; len];
            rng.fill(&mut input[..]);
            let outcome = agree(routine, &input, kernel.is_none());
            let accepted = routine
                .run(&input, manifest.output_len, Engine::Interpreter, BUDGET)
                .is_ok();
            if accepted && len <= cap && timed.as_ref().is_none_or(|t| t.len() < len) {
                timed = Some(input);
            }
            r.conformance
                .check(outcome.map_err(|e| format!("{} ({len} B): {e}", manifest.name)));
        }
        if timed.is_none() {
            // Structured inputs (a length field inside) reject random bytes; zeros often pass.
            timed = edge_lengths(&manifest.input)
                .into_iter()
                .filter(|&n| n <= cap)
                .map(|n| vec![0u8; n])
                .filter(|z| {
                    routine
                        .run(z, manifest.output_len, Engine::Interpreter, BUDGET)
                        .is_ok()
                })
                .max_by_key(Vec::len);
        }
        let Some(input) = timed else {
            r.performance.note = Some(format!(
                "{}: no random input was accepted, not timed",
                manifest.name
            ));
            continue;
        };
        for (engine, series) in Engine::ALL.iter().zip(curve.iter_mut()) {
            if *engine == Engine::Kernel && kernel.is_some() {
                continue;
            }
            match speed(routine, &input, *engine, plan.time_per_engine) {
                Ok(ips) => {
                    series.points.push((x as f64, ips));
                    r.metrics.push(Metric::new(
                        format!("{}.{engine}.insn_per_s", manifest.name),
                        ips,
                        "insn/s",
                        Better::Higher,
                    ));
                }
                Err(e) => r
                    .performance
                    .fail(format!("{} on {engine}: {e}", manifest.name)),
            }
            r.performance.checks = r.performance.checks.saturating_add(1);
        }
    }
    r.curves.push(Curve {
        title: "eBPF instructions/s per engine (x = routine id order)".into(),
        x_label: "routine".into(),
        y_label: "sBPF instructions/s".into(),
        log_x: false,
        series: curve,
    });
    vec![r]
}

/// The bridge's differential check (interpreter = JIT = kernel), as a phase outcome.
fn agree(routine: &Routine, input: &[u8], kernel: bool) -> Result<(), String> {
    compare_engines(routine, input, BUDGET, kernel)
        .map(|_| ())
        .map_err(|d| d.to_string())
}

/// Instructions per second on `engine` (the interpreter's count is the work measure, since the
/// kernel reports none).
fn speed(routine: &Routine, input: &[u8], engine: Engine, time: Duration) -> Result<f64, String> {
    let out_len = routine.manifest().output_len;
    let insns = routine
        .run(input, out_len, Engine::Interpreter, BUDGET)
        .map_err(|e| e.to_string())?
        .instructions;
    let start = Instant::now();
    let mut runs = 0u64;
    while runs < 3 || start.elapsed() < time {
        routine
            .run(input, out_len, engine, BUDGET)
            .map_err(|e| e.to_string())?;
        runs = runs.saturating_add(1);
    }
    Ok(insns as f64 * runs as f64 / start.elapsed().as_secs_f64().max(1e-9))
}
