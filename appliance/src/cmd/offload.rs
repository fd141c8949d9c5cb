//! `keel offload …`: the BLS verification workers.

use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum OffloadCmd {
    /// NUMA nodes and CPUs the verification workers can be pinned to.
    Topology {
        #[arg(long)]
        json: bool,
    },
    /// Batch-verify a JSON (or .yaml/.yml YAML) list of {pk, msg, sig} hex triples; prints one
    /// verdict each.
    /// Exit status 0 if all are valid, 2 if any is invalid, 1 if the file is unusable.
    Verify {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: OffloadCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OffloadCmd::Topology { json } => {
            let t = keel_offload::Topology::discover();
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                println!("{t}");
            }
            Ok(ExitCode::SUCCESS)
        }
        OffloadCmd::Verify { file, json } => {
            let verifier = super::chain::verifier()?;
            let report = keel_offload::file::verify_file(&file, verifier.as_ref())
                .context("cannot verify the file")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for (i, ok) in report.verdicts.iter().enumerate() {
                    println!("{i}: {}", if *ok { "valid" } else { "INVALID" });
                }
                println!("{} valid, {} invalid", report.valid, report.invalid);
            }
            Ok(if report.invalid == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
    }
}
