//! `keel chain beacon [HEIGHT] [--verify FILE]`: a final beacon value with its VRF and VDF
//! evidence, re-verified; or a printed record checked without any database.

use super::chain::{DataDir, open};
use super::exit::{ABSENT, NOT_VERIFIED};
use anyhow::Context;
use clap::Args;
use keel_chain::beacon_record::BeaconRecord;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct BeaconArgs {
    /// The height (default: the newest final one, head − lag).
    #[arg(conflicts_with = "verify")]
    pub height: Option<u64>,
    #[command(flatten)]
    pub data: DataDir,
    /// Check a record printed by `keel chain beacon --json` (a file, or - for stdin), with no
    /// database: VRF proof, VDF proof, schedule and value.
    #[arg(long)]
    pub verify: Option<PathBuf>,
    /// Print `{"height", "final", "verified", "error", "record"}`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &BeaconArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &a.verify {
        let record = read_record(path)?;
        return Ok(report(Some(&record), record.height, a.json));
    }
    let chain = open(&a.data)?;
    let height = match a.height {
        Some(h) => h,
        None => {
            let (head, _) = chain.head()?;
            head.saturating_sub(chain.config()?.beacon.lag.max(1))
        }
    };
    let record = chain.beacon_record(height)?;
    Ok(report(record.as_ref(), height, a.json))
}

/// Reads a record: the `record` of a `--json` answer, or a bare record.
fn read_record(path: &std::path::Path) -> anyhow::Result<BeaconRecord> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if let Some(inner) = v.get_mut("record") {
        v = inner.take();
    }
    serde_json::from_value(v).with_context(|| format!("{} is not a beacon record", path.display()))
}

/// Prints `record` (verified now) or that `height` is not final; the exit code.
fn report(record: Option<&BeaconRecord>, height: u64, as_json: bool) -> ExitCode {
    let Some(r) = record else {
        if as_json {
            println!("{}", json!({"height": height, "final": false}));
        } else {
            println!(
                "the beacon of height {height} is not final (its VDF output is not in a committed block yet)"
            );
        }
        return ExitCode::from(ABSENT);
    };
    let verdict = r.verify();
    if as_json {
        let answer = json!({
            "height": r.height,
            "final": true,
            "verified": verdict.is_ok(),
            "error": verdict.as_ref().err().map(|e| e.to_string()),
            "record": r,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        );
    } else {
        print_text(r, &verdict);
    }
    match verdict {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(NOT_VERIFIED),
    }
}

fn print_text(r: &BeaconRecord, verdict: &Result<(), keel_chain::beacon_record::RecordError>) {
    let p = &r.params;
    println!(
        "beacon of height {} (chain {}): final, carried in block {}",
        r.height, r.chain_id, r.carried_in
    );
    println!("value       {}", hex::encode(r.value));
    println!(
        "seed        {}  (seed {}: VRF and VDF input)",
        hex::encode(r.seed),
        r.height.saturating_sub(1)
    );
    println!("proposer    {}", hex::encode(r.proposer));
    println!("vrf key     {}", hex::encode(r.vrf.public_key));
    println!("vrf proof   {}", hex::encode(r.vrf.proof));
    println!("vrf output  {}", hex::encode(r.vrf.output()));
    println!(
        "vdf         {:?}, {} squarings, lag {}",
        p.group, p.delay, p.lag
    );
    println!("vdf output  {}", hex::encode(&r.vdf.output));
    println!("vdf proof   {}", hex::encode(&r.vdf.proof));
    match verdict {
        Ok(()) => println!("verified    yes (VRF proof, VDF proof, schedule, value)"),
        Err(e) => println!("verified    NO: {e}"),
    }
}
