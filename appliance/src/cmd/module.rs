//! `keel module …` and `keel bench pcc`: proof-carrying code for native routines.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct Object {
    /// The routine's relocatable eBPF object (clang -target bpf -mcpu=v1).
    #[arg(required_unless_present = "builtin")]
    pub object: Option<PathBuf>,
    /// Use a built-in routine's object and manifest instead (e.g. modmul_bls12_381_fr).
    #[arg(long, conflicts_with = "object")]
    pub builtin: Option<String>,
    /// Input length range and output length the routine is certified for (default: the
    /// built-in routine's manifest).
    #[arg(long)]
    pub input_min: Option<u64>,
    #[arg(long)]
    pub input_max: Option<u64>,
    #[arg(long)]
    pub output_len: Option<u64>,
}

#[derive(Subcommand)]
pub enum ModuleCmd {
    /// Compute a certificate (invariants, loop bounds, worst-case instructions), or say
    /// precisely why the routine cannot be certified.
    Certify {
        #[command(flatten)]
        object: Object,
        /// Where to write the certificate.
        #[arg(short, long)]
        output: PathBuf,
        /// Print `{"certified", …}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a certificate against its object in one linear pass (the trusted checker).
    /// Exit status 0 if it holds, 2 if it is refused.
    Check {
        /// ROUTINE.o CERT, or just CERT with --builtin.
        #[arg(num_args = 1..=2, value_names = ["ROUTINE.o", "CERT"], required = true)]
        files: Vec<PathBuf>,
        /// Check against a built-in routine's object (e.g. modmul_bls12_381_fr).
        #[arg(long)]
        builtin: Option<String>,
        /// Print `{"holds", …}` as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Prints `answer` (with `--json`) or `text`, and exits with `code`.
fn say(json: bool, answer: serde_json::Value, text: String, code: u8) -> ExitCode {
    if json {
        println!("{answer}");
    } else {
        println!("{text}");
    }
    ExitCode::from(code)
}

fn load(o: &Object) -> anyhow::Result<(Vec<u8>, keel_pcc::Params)> {
    let (elf, manifest_params) = match (&o.object, &o.builtin) {
        (Some(p), _) => (
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
            None,
        ),
        (None, Some(name)) => {
            let all = keel_pcc::objects::builtin_routines().map_err(|e| anyhow::anyhow!(e))?;
            let r = all
                .into_iter()
                .find(|r| r.name == name)
                .with_context(|| format!("no built-in routine {name} (see `keel bridge list`)"))?;
            (r.elf.to_vec(), Some(r.params))
        }
        (None, None) => bail!("give an object file or --builtin NAME"),
    };
    let base = manifest_params.unwrap_or(keel_pcc::Params {
        input_min: 0,
        input_max: 0,
        output_len: 0,
    });
    let params = keel_pcc::Params {
        input_min: o.input_min.unwrap_or(base.input_min),
        input_max: o.input_max.unwrap_or(base.input_max),
        output_len: o.output_len.unwrap_or(base.output_len),
    };
    if manifest_params.is_none() && (o.input_max.is_none() || o.output_len.is_none()) {
        bail!(
            "for an object file, give --input-max and --output-len (the lengths the certificate covers)"
        );
    }
    Ok((elf, params))
}

pub fn run(cmd: ModuleCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ModuleCmd::Certify {
            object,
            output,
            json,
        } => {
            let (elf, params) = load(&object)?;
            match keel_pcc::certify_object(&elf, &params) {
                Ok(cert) => {
                    std::fs::write(&output, cert.to_bytes())
                        .with_context(|| format!("cannot write {}", output.display()))?;
                    let answer = serde_json::json!({
                        "certified": true,
                        "max_instructions": cert.max_instructions,
                        "loops": cert.loops.len(),
                        "certificate": output,
                    });
                    let text = format!(
                        "certified: worst case {} instructions; {} loops; certificate {}",
                        cert.max_instructions,
                        cert.loops.len(),
                        output.display()
                    );
                    Ok(say(json, answer, text, 0))
                }
                Err(e) => {
                    let answer = serde_json::json!({ "certified": false, "error": e.to_string() });
                    Ok(say(json, answer, format!("cannot certify: {e}"), 2))
                }
            }
        }
        ModuleCmd::Check {
            files,
            builtin,
            json,
        } => {
            let (object, certificate) = match (files.as_slice(), &builtin) {
                ([cert], Some(_)) => (None, cert.clone()),
                ([obj, cert], None) => (Some(obj.clone()), cert.clone()),
                _ => bail!("give ROUTINE.o CERT, or --builtin NAME CERT"),
            };
            // The checker needs only the program; the certificate carries its parameters.
            let object = Object {
                object,
                builtin,
                input_min: Some(0),
                input_max: Some(0),
                output_len: Some(0),
            };
            let (elf, _) = load(&object)?;
            let bytes = std::fs::read(&certificate)
                .with_context(|| format!("cannot read {}", certificate.display()))?;
            // Decoded for this program: a certificate of another size is refused like any
            // certificate that does not hold for it.
            let cert = match keel_pcc::decode_for_object(&elf, &bytes) {
                Ok(cert) => cert,
                Err(e) => {
                    let why = format!("the certificate does not decode for this program: {e}");
                    let answer = serde_json::json!({ "holds": false, "error": why });
                    return Ok(say(json, answer, format!("REFUSED: {why}"), 2));
                }
            };
            match keel_pcc::check_object(&elf, &cert) {
                Ok(r) => {
                    let answer = serde_json::json!({
                        "holds": true,
                        "instructions": r.instructions,
                        "reachable": r.reachable,
                        "loops": r.loops,
                        "worst_case_instructions": r.worst_case_instructions,
                        "declared_bound": r.declared_bound,
                    });
                    let text = format!(
                        "certificate holds: {} instructions ({} reachable), {} loops bounded, worst case {} ≤ declared {}",
                        r.instructions,
                        r.reachable,
                        r.loops,
                        r.worst_case_instructions,
                        r.declared_bound
                    );
                    Ok(say(json, answer, text, 0))
                }
                Err(e) => {
                    let answer = serde_json::json!({ "holds": false, "error": e.to_string() });
                    Ok(say(json, answer, format!("REFUSED: {e}"), 2))
                }
            }
        }
    }
}

#[derive(Args)]
pub struct BenchPccArgs {
    /// Rounds per measurement (the fastest is kept).
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// Print the rows as JSON (times in microseconds).
    #[arg(long)]
    pub json: bool,
}

/// One row of `keel bench pcc --json`.
fn row_json(r: &keel_pcc::bench::BenchRow) -> serde_json::Value {
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    serde_json::json!({
        "routine": r.name,
        "slots": r.slots,
        "certify_us": us(r.certify),
        "refused": r.certified.as_ref().err(),
        "check_us": r.check.map(us),
        "check_slots_per_sec": r.check_slots_per_sec,
        "speedup": r.speedup_x100.map(|x| x as f64 / 100.0),
        "kernel_load_us": r.kernel_load.as_ref().ok().map(|d| us(*d)),
        "kernel_load_error": r.kernel_load.as_ref().err(),
    })
}

pub fn bench(a: BenchPccArgs) -> anyhow::Result<ExitCode> {
    let rows = keel_pcc::bench::bench_pcc_with_progress(a.rounds, &mut |name, i, n| {
        eprintln!(
            "bench pcc: [{i}/{n}] {name}: certify, check and load, {} rounds",
            a.rounds
        );
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    if a.json {
        let rows: Vec<_> = rows.iter().map(row_json).collect();
        let report = serde_json::json!({ "bench": "pcc", "rows": rows });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    super::bench::compared(
        "the one-pass certificate checker",
        "the certifier (abstract interpretation)",
        "lower times and higher slots/s are better",
    );
    print!("{}", keel_pcc::bench::render(&rows));
    Ok(ExitCode::SUCCESS)
}
