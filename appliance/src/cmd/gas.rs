//! `keel gas calibrate`: measure this machine, fit a cost model and propose a gas schedule
//! (keel-bench's `calibrate` module does the work). The proposal is only a file: the chain's
//! schedule changes when validators vote for `keel gov propose set-gas-schedule FILE`.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use keel_bench::calibrate::{self, Options, Report};
use keel_vm::GasSchedule;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum GasCmd {
    /// Run instruction-class, host-function and macro-contract benchmarks, fit time on counts
    /// (non-negative least squares and gradient-boosted trees, k-fold cross-validated) and
    /// write a proposed schedule (integer prices ≥ 1, version bumped) with the governance
    /// command that submits it. Reports the held-out coefficient of variation of ns/gas for
    /// the current and the proposed schedule. Takes minutes on a release build; progress goes
    /// to stderr. Exit 0 with a proposal, 1 on error.
    Calibrate(CalibrateArgs),
}

#[derive(Args)]
pub struct CalibrateArgs {
    /// The schedule in force (JSON, as `keel gov propose set-gas-schedule` takes); default:
    /// the built-in schedule v1.
    #[arg(long)]
    pub current: Option<PathBuf>,
    /// Where to write the proposed schedule (JSON); default: gas-schedule-v<VERSION>.json in
    /// the working directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tiny kernels and few repeats: checks the pipeline end to end in seconds (its numbers
    /// are noise).
    #[arg(long)]
    pub quick: bool,
    /// Cross-validation folds (default 5, 3 with --quick).
    #[arg(long)]
    pub folds: Option<usize>,
    /// Print the report as JSON (`current_cv`, `proposed_cv`, `proposed`, `rows`, ...).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: GasCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GasCmd::Calibrate(a) => calibrate_cmd(a),
    }
}

/// Largest schedule file read.
const MAX_SCHEDULE_BYTES: u64 = 1 << 20;

fn current_schedule(path: Option<&Path>) -> anyhow::Result<GasSchedule> {
    let Some(path) = path else {
        return Ok(GasSchedule::v1());
    };
    // A schedule is a few KiB: refuse anything far larger before reading it.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(
                &mut std::io::Read::take(f, MAX_SCHEDULE_BYTES + 1),
                &mut bytes,
            )
        })
        .with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_SCHEDULE_BYTES,
        "{} is over {MAX_SCHEDULE_BYTES} bytes: not a gas schedule",
        path.display()
    );
    let s: GasSchedule = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a gas schedule", path.display()))?;
    s.validate()
        .with_context(|| format!("{} is not a valid gas schedule", path.display()))?;
    Ok(s)
}

fn calibrate_cmd(a: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let current = current_schedule(a.current.as_deref())?;
    let mut opts = if a.quick {
        Options::quick(current)
    } else {
        Options::full(current)
    };
    if let Some(k) = a.folds {
        anyhow::ensure!(k >= 2, "--folds must be at least 2");
        opts.folds = k;
    }
    let started = std::time::Instant::now();
    let mut progress = |m: &str| eprintln!("calibrate: {m}");
    let samples = calibrate::measure(&opts, &mut progress)?;
    let report = calibrate::calibrate(&samples, &opts, &mut progress)?;
    calibrate::verify(&report, &opts, &mut progress)?;
    let out = a.out.unwrap_or_else(|| {
        PathBuf::from(format!("gas-schedule-v{}.json", report.proposed.version))
    });
    let json = serde_json::to_vec_pretty(&report.proposed)?;
    std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
    let command = format!(
        "keel gov propose --from <VALIDATOR> set-gas-schedule {}",
        out.display()
    );
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("schedule_file".into(), out.display().to_string().into());
            o.insert("gov_command".into(), command.into());
            o.insert("seconds".into(), seconds.into());
            o.insert("quick".into(), a.quick.into());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_text(&report, &out, &command, seconds);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(r: &Report, out: &Path, command: &str, seconds: f64) {
    println!(
        "{:<34} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "workload", "ns", "gas now", "gas new", "ns/g now", "ns/g new"
    );
    for row in &r.rows {
        println!(
            "{:<34} {:>12.0} {:>12} {:>12} {:>9.4} {:>9.4}",
            row.name,
            row.time_ns,
            row.current_gas,
            row.proposed_gas,
            row.current_ns_per_gas,
            row.proposed_ns_per_gas
        );
    }
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    println!(
        "held-out CV of ns/gas ({} folds, {} workloads): current v{} {:.3}, proposed v{} {:.3} \
         (macro workloads only: {} → {})",
        r.folds,
        r.workloads,
        r.proposed.version.saturating_sub(1),
        r.current_cv,
        r.proposed.version,
        r.proposed_cv,
        opt(r.current_macro_cv),
        opt(r.proposed_macro_cv),
    );
    println!(
        "model: {:?} (held-out time error: nnls {:.3}, boosted trees {:.3}); gas per ns: \
         current {:.3}, proposed {:.3}",
        r.model, r.nnls_error, r.boosted_error, r.current_gas_per_ns, r.proposed_gas_per_ns
    );
    println!("proposed schedule written to {}", out.display());
    println!("submit it for a vote: {command}");
    println!("took {seconds:.1} s");
}
