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
    },
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
        ModuleCmd::Certify { object, output } => {
            let (elf, params) = load(&object)?;
            match keel_pcc::certify_object(&elf, &params) {
                Ok(cert) => {
                    std::fs::write(&output, cert.to_bytes())
                        .with_context(|| format!("cannot write {}", output.display()))?;
                    println!(
                        "certified: worst case {} instructions; {} loops; certificate {}",
                        cert.max_instructions,
                        cert.loops.len(),
                        output.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("cannot certify: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        ModuleCmd::Check { files, builtin } => {
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
                    println!("REFUSED: the certificate does not decode for this program: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            match keel_pcc::check_object(&elf, &cert) {
                Ok(r) => {
                    println!(
                        "certificate holds: {} instructions ({} reachable), {} loops bounded, worst case {} ≤ declared {}",
                        r.instructions,
                        r.reachable,
                        r.loops,
                        r.worst_case_instructions,
                        r.declared_bound
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("REFUSED: {e}");
                    Ok(ExitCode::from(2))
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
}

pub fn bench(a: BenchPccArgs) -> anyhow::Result<ExitCode> {
    let rows = keel_pcc::bench::bench_pcc_with_progress(a.rounds, &mut |name, i, n| {
        eprintln!(
            "bench pcc: [{i}/{n}] {name}: certify, check and load, {} rounds",
            a.rounds
        );
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    super::bench::compared(
        "the one-pass certificate checker",
        "the certifier (abstract interpretation)",
        "lower times and higher slots/s are better",
    );
    print!("{}", keel_pcc::bench::render(&rows));
    Ok(ExitCode::SUCCESS)
}
