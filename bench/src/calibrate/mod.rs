//! `keel gas calibrate`: measure this machine, fit a cost model, propose a gas schedule.
//!
//! 1. **Workloads** ([`workloads`], [`kernels`]): the macro contracts plus generated
//!    microbenchmarks, one per instruction class of the metering pass and per host function.
//! 2. **Counts** ([`counts`]): per workload, executed instructions per class, host calls and
//!    bytes, calls and code bytes, counted exactly by running under perturbed schedules (gas
//!    is linear in prices), off the consensus path.
//! 3. **Time** ([`timing`]): median over repeats on the production VM configuration.
//! 4. **Fit** ([`fit`], [`boosted`]): non-negative least squares of time on counts (relative
//!    residuals), and gradient-boosted trees on its relative error; k-fold cross-validation
//!    picks the model that predicts held-out workloads better.
//! 5. **Prices** ([`prices`]): the chosen model's costs at the rate of gas per ns whose
//!    integer prices spread ns/gas least on the training rows; a boosted model is first
//!    projected onto per-unit prices (a schedule is linear) by fitting NNLS to its predictions.
//!
//! Accuracy is reported on held-out workloads: within each fold, every held-out workload's
//! ns/gas is divided by the training rows' mean ns/gas under the same schedule (folds may pick
//! different rates), and the coefficient of variation of those ratios over all folds is
//! `current_cv` (the current schedule) or `proposed_cv` (the fold's proposed schedule).
//! Nothing here changes a chain: the output is a schedule file to put to a governance vote.

pub mod boosted;
pub mod counts;
pub mod fit;
pub mod kernels;
pub mod prices;
pub mod timing;
pub mod workload;
pub mod workloads;

use boosted::{BoostParams, Boosted};
use counts::{CountError, Counts};
use fit::{Design, FitError, coefficient_of_variation, complement, dot, nnls_relative};
use keel_vm::{GasSchedule, Vm, VmConfig};
use prices::{COLUMNS, PriceError, best_schedule, features};
use serde::Serialize;
use std::time::Duration;
use timing::TimingPlan;
use workload::{Kind, RunError, Workload};

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The schedule in force (the one the proposal replaces).
    pub current: GasSchedule,
    /// Loop lengths (iterations) of the microbenchmarks: one kernel per class and host
    /// function at each length (two lengths separate per-call from per-instruction cost).
    pub kernel_iters: Vec<u32>,
    /// Multiplier of the macro kernels' loop counts.
    pub macro_scale: u32,
    pub timing: TimingPlan,
    /// Cross-validation folds.
    pub folds: usize,
    /// Ridge term of the linear fit (on unit-scaled columns).
    pub ridge: f64,
    pub boost: BoostParams,
}

impl Options {
    /// The full calibration: long kernels, many repeats (minutes on a release build).
    pub fn full(current: GasSchedule) -> Options {
        Options {
            current,
            kernel_iters: vec![400, 4_000],
            macro_scale: 5,
            timing: TimingPlan {
                repeats: 9,
                min_sample: Duration::from_millis(20),
                max_batch: 2_000,
            },
            folds: 5,
            ridge: 1e-6,
            boost: BoostParams::default(),
        }
    }

    /// A quick pass for tests and smoke runs: same pipeline, tiny kernels, few repeats. Its
    /// numbers are noisy; its shape is the full run's.
    pub fn quick(current: GasSchedule) -> Options {
        Options {
            kernel_iters: vec![8],
            macro_scale: 1,
            timing: TimingPlan {
                repeats: 3,
                min_sample: Duration::from_micros(500),
                max_batch: 50,
            },
            folds: 3,
            ..Options::full(current)
        }
    }
}

/// Why calibration failed.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("current schedule: {0}")]
    Schedule(#[from] keel_vm::ScheduleError),
    #[error("building a microbenchmark: {0}")]
    Kernel(#[from] wat::Error),
    #[error("VM: {0}")]
    Vm(#[from] keel_vm::VmError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Count(#[from] CountError),
    #[error("fit: {0}")]
    Fit(#[from] FitError),
    #[error("prices: {0}")]
    Price(#[from] PriceError),
    #[error("too few workloads ({0}) for {1}-fold cross-validation")]
    TooFew(usize, usize),
    #[error(
        "workload {name}: the proposed schedule charges {vm} gas on the VM, {predicted} by the counts"
    )]
    Verify {
        name: String,
        vm: u64,
        predicted: u64,
    },
}

/// One workload measured.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub name: String,
    pub kind: Kind,
    pub counts: Counts,
    /// Median ns of one call.
    pub time_ns: f64,
    /// Compute gas under the current schedule (as the VM charged it).
    pub current_gas: u64,
}

/// Every workload of a calibration, in report order: the macro workloads, then the
/// microbenchmarks.
pub fn workload_list(opts: &Options) -> Result<Vec<Workload>, CalibrateError> {
    let mut all = workloads::macro_workloads(opts.macro_scale);
    all.extend(kernels::microbenchmarks(&opts.kernel_iters)?);
    Ok(all)
}

/// Measures every workload: counts, then time.
pub fn measure(
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Sample>, CalibrateError> {
    opts.current.validate()?;
    let all = workload_list(opts)?;
    let vm = Vm::new(VmConfig {
        schedule: opts.current.clone(),
        ..VmConfig::default()
    })?;
    let mut out = Vec::with_capacity(all.len());
    for (i, w) in all.iter().enumerate() {
        progress(&format!("[{}/{}] {}: counting", i + 1, all.len(), w.name));
        let counts = counts::count(w, &opts.current)?;
        let current_gas = w.gas_under(&opts.current)?;
        let time_ns = timing::time_call(&vm, w, &opts.timing)?;
        progress(&format!(
            "[{}/{}] {}: {:.0} ns, {} gas",
            i + 1,
            all.len(),
            w.name,
            time_ns,
            current_gas
        ));
        out.push(Sample {
            name: w.name.clone(),
            kind: w.kind,
            counts,
            time_ns,
            current_gas,
        });
    }
    Ok(out)
}

/// Which model priced the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Nnls,
    BoostedTrees,
}

/// One workload in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub kind: Kind,
    pub time_ns: f64,
    pub current_gas: u64,
    pub proposed_gas: u64,
    /// ns per gas under each schedule.
    pub current_ns_per_gas: f64,
    pub proposed_ns_per_gas: f64,
}

/// The calibration's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Held-out coefficient of variation of ns/gas under the current schedule.
    pub current_cv: f64,
    /// Held-out coefficient of variation of ns/gas under the proposed schedules of the folds.
    pub proposed_cv: f64,
    /// The same two figures over the macro workloads only.
    pub current_macro_cv: Option<f64>,
    pub proposed_macro_cv: Option<f64>,
    /// Held-out prediction error of time (RMS of ln(predicted/actual)) of each model.
    pub nnls_error: f64,
    pub boosted_error: f64,
    /// The model the proposal comes from (the one with the smaller held-out error).
    pub model: Model,
    pub folds: usize,
    pub workloads: usize,
    /// Gas per ns: the current schedule's (median over workloads) and the proposal's.
    pub current_gas_per_ns: f64,
    pub proposed_gas_per_ns: f64,
    /// ns/gas spread of the proposal on all workloads (in sample, for reference).
    pub fitted_cv: f64,
    /// The proposed schedule: passes `GasSchedule::validate`, version above the current one.
    pub proposed: GasSchedule,
    pub rows: Vec<Row>,
}

fn median_rate(samples: &[&Sample]) -> f64 {
    let rates: Vec<f64> = samples
        .iter()
        .map(|s| s.current_gas as f64 / s.time_ns.max(1.0))
        .collect();
    fit::median(&rates).unwrap_or(1.0).max(1e-9)
}

/// A fitted proposal from some rows.
struct Proposal {
    schedule: GasSchedule,
    /// Per-unit ns of the linear model and the boosted predictions (for the error report).
    linear: Vec<f64>,
    boosted: Boosted,
}

fn design(samples: &[&Sample]) -> Design {
    Design {
        x: samples.iter().map(|s| features(&s.counts)).collect(),
        y: samples.iter().map(|s| s.time_ns).collect(),
    }
}

/// Fits both models on `train` and prices the one chosen by `model`.
fn propose(train: &[&Sample], model: Model, opts: &Options) -> Result<Proposal, CalibrateError> {
    let d = design(train);
    let linear = nnls_relative(&d, opts.ridge)?;
    let boosted = Boosted::fit(&d, &linear, opts.boost);
    let weights = match model {
        Model::Nnls => linear.clone(),
        Model::BoostedTrees => {
            let smoothed = Design {
                x: d.x.clone(),
                y: boosted.predict(&d.x),
            };
            nnls_relative(&smoothed, opts.ridge)?
        }
    };
    let supported: Vec<bool> = (0..COLUMNS)
        .map(|j| d.x.iter().any(|r| r.get(j).is_some_and(|v| *v > 0.0)))
        .collect();
    let rows: Vec<(&Counts, f64)> = train.iter().map(|s| (&s.counts, s.time_ns)).collect();
    let schedule = best_schedule(
        &weights,
        &supported,
        &opts.current,
        median_rate(train),
        &rows,
    )?;
    Ok(Proposal {
        schedule,
        linear,
        boosted,
    })
}

/// Mean ns/gas of `rows` under `gas`.
fn mean_ns_per_gas(rows: &[&Sample], gas: impl Fn(&Sample) -> u64) -> f64 {
    let v: Vec<f64> = rows
        .iter()
        .map(|s| s.time_ns / gas(s).max(1) as f64)
        .collect();
    v.iter().sum::<f64>() / (v.len().max(1) as f64)
}

/// Out-of-fold results of one model choice.
#[derive(Default)]
struct HeldOut {
    /// (row index, normalised ns/gas under the current and the proposed schedule).
    ratios: Vec<(usize, f64, f64)>,
    nnls_pred: Vec<(usize, f64)>,
    boosted_pred: Vec<(usize, f64)>,
}

fn cross_validate(
    samples: &[Sample],
    model: Model,
    opts: &Options,
) -> Result<HeldOut, CalibrateError> {
    let n = samples.len();
    let mut out = HeldOut::default();
    for held in fit::folds(n, opts.folds) {
        let train: Vec<&Sample> = complement(n, &held).iter().map(|&i| &samples[i]).collect();
        let p = propose(&train, model, opts)?;
        let cur_mean = mean_ns_per_gas(&train, |s| s.current_gas);
        let new_mean = mean_ns_per_gas(&train, |s| counts::gas_of(&s.counts, &p.schedule));
        let test: Vec<&Sample> = held.iter().map(|&i| &samples[i]).collect();
        let preds = p.boosted.predict(&design(&test).x);
        for ((&i, s), bp) in held.iter().zip(&test).zip(preds) {
            let cur = s.time_ns / s.current_gas.max(1) as f64 / cur_mean;
            let gas = counts::gas_of(&s.counts, &p.schedule).max(1);
            let new = s.time_ns / gas as f64 / new_mean;
            out.ratios.push((i, cur, new));
            out.nnls_pred
                .push((i, dot(&features(&s.counts), &p.linear)));
            out.boosted_pred.push((i, bp));
        }
    }
    Ok(out)
}

fn error_of(pred: &[(usize, f64)], samples: &[Sample]) -> f64 {
    let p: Vec<f64> = pred.iter().map(|(_, v)| *v).collect();
    let a: Vec<f64> = pred.iter().map(|(i, _)| samples[*i].time_ns).collect();
    fit::rms_log_error(&p, &a).unwrap_or(f64::INFINITY)
}

fn cv_of(h: &HeldOut, samples: &[Sample], only_macro: bool) -> (Option<f64>, Option<f64>) {
    let keep = |i: &usize| !only_macro || samples[*i].kind == Kind::Macro;
    let cur: Vec<f64> = h
        .ratios
        .iter()
        .filter(|r| keep(&r.0))
        .map(|r| r.1)
        .collect();
    let new: Vec<f64> = h
        .ratios
        .iter()
        .filter(|r| keep(&r.0))
        .map(|r| r.2)
        .collect();
    (
        coefficient_of_variation(&cur),
        coefficient_of_variation(&new),
    )
}

/// Fits, cross-validates and proposes a schedule from measured samples.
pub fn calibrate(
    samples: &[Sample],
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, CalibrateError> {
    let n = samples.len();
    if n < opts.folds.max(2) {
        return Err(CalibrateError::TooFew(n, opts.folds));
    }
    progress(&format!("cross-validating ({} folds)", opts.folds));
    // The folds fit both models; their out-of-fold predictions pick the model.
    let probe = cross_validate(samples, Model::Nnls, opts)?;
    let nnls_error = error_of(&probe.nnls_pred, samples);
    let boosted_error = error_of(&probe.boosted_pred, samples);
    let model = if boosted_error < nnls_error {
        Model::BoostedTrees
    } else {
        Model::Nnls
    };
    let held = match model {
        Model::Nnls => probe,
        Model::BoostedTrees => cross_validate(samples, model, opts)?,
    };
    let (current_cv, proposed_cv) = cv_of(&held, samples, false);
    let (current_macro_cv, proposed_macro_cv) = cv_of(&held, samples, true);
    progress("fitting the proposal on every workload");
    let all: Vec<&Sample> = samples.iter().collect();
    let p = propose(&all, model, opts)?;
    let rows: Vec<Row> = samples
        .iter()
        .map(|s| {
            let proposed_gas = counts::gas_of(&s.counts, &p.schedule);
            Row {
                name: s.name.clone(),
                kind: s.kind,
                time_ns: s.time_ns,
                current_gas: s.current_gas,
                proposed_gas,
                current_ns_per_gas: s.time_ns / s.current_gas.max(1) as f64,
                proposed_ns_per_gas: s.time_ns / proposed_gas.max(1) as f64,
            }
        })
        .collect();
    let fitted: Vec<f64> = rows.iter().map(|r| r.proposed_ns_per_gas).collect();
    let proposed_rates: Vec<f64> = fitted.iter().map(|v| 1.0 / v.max(1e-12)).collect();
    Ok(Report {
        current_cv: current_cv.unwrap_or(f64::NAN),
        proposed_cv: proposed_cv.unwrap_or(f64::NAN),
        current_macro_cv,
        proposed_macro_cv,
        nnls_error,
        boosted_error,
        model,
        folds: opts.folds,
        workloads: n,
        current_gas_per_ns: median_rate(&all),
        proposed_gas_per_ns: fit::median(&proposed_rates).unwrap_or(f64::NAN),
        fitted_cv: coefficient_of_variation(&fitted).unwrap_or(f64::NAN),
        proposed: p.schedule,
        rows,
    })
}

/// Checks on the VM itself that the proposal charges every workload what the report says
/// (computed from the counts): the counts are exact, so the held-out figures are the
/// schedule's real ones.
///
/// Errors: a workload fails, or the VM charges a different figure.
pub fn verify(
    report: &Report,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<(), CalibrateError> {
    progress("verifying the proposal's gas on the VM");
    for (w, row) in workload_list(opts)?.iter().zip(&report.rows) {
        let vm = w.gas_under(&report.proposed)?;
        if vm != row.proposed_gas {
            return Err(CalibrateError::Verify {
                name: w.name.clone(),
                vm,
                predicted: row.proposed_gas,
            });
        }
    }
    Ok(())
}
