//! `keel chain genesis-check` and `keel chain genesis-pin`: the pinned genesis routines
//! (vm/chain/GENESIS.md).

use anyhow::Context;
use keel_chain::genesis_pin::{self, BuildComparison};
use keel_chain::genesis_routines::{GenesisRoutine, PinnedManifest};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Verifies the pinned set (embedded, or `dir`) as chain init does and reports how this
/// machine's build differs from it. Exit 0 identical, 2 local build differs.
pub fn check(dir: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let routines = match dir {
        Some(d) => {
            let (_, r): (PinnedManifest, _) = genesis_pin::read_dir(d)
                .with_context(|| format!("cannot read the pinned genesis in {}", d.display()))?;
            r
        }
        None => GenesisRoutine::pinned()?,
    };
    let rules = keel_chain::genesis_routines::genesis_rules()?;
    let started = Instant::now();
    let mut verified = Vec::new();
    for r in &routines {
        let checked = r.verify(rules)?;
        verified.push((r.spec.id, checked.worst_case_instructions));
    }
    let verify_ms = started.elapsed().as_secs_f64() * 1e3;
    let comparison = genesis_pin::compare_local_build(&routines);
    let differ: Vec<&BuildComparison> = comparison.iter().filter(|c| !c.identical()).collect();
    if json {
        println!(
            "{}",
            json!({
                "checker_rules": rules.version(),
                "verified": verified.iter().map(|(id, w)| json!({"id": id, "worst_case_instructions": w})).collect::<Vec<_>>(),
                "verify_ms": verify_ms,
                "local_build": comparison,
                "identical": differ.is_empty(),
            })
        );
    } else {
        println!(
            "{} pinned genesis routines verified (sha256 and checker rules v{}) in {verify_ms:.0} ms",
            verified.len(),
            rules.version()
        );
        for c in &comparison {
            let status = match (&c.local_sha256, c.identical()) {
                (_, true) => "identical".to_string(),
                (None, _) => "not built here".to_string(),
                (Some(local), false) if !c.spec_matches => {
                    format!("MANIFEST DIFFERS (local object {local})")
                }
                (Some(local), false) => format!("OBJECT DIFFERS: local build {local}"),
            };
            println!(
                "  {:>3} {:<22} pinned {}  {status}",
                c.id,
                c.name,
                hex::encode(c.pinned_sha256)
            );
        }
        if !differ.is_empty() {
            println!(
                "this machine's build differs from the pinned genesis; chains use the pinned \
                 objects (regenerate with `keel chain genesis-pin` only to change the genesis)"
            );
        }
    }
    Ok(if differ.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Certifies this machine's build and writes the pinned files to `out`.
pub fn pin(out: &Path) -> anyhow::Result<ExitCode> {
    eprintln!("certifying the built-in routines (tens of seconds)…");
    let started = Instant::now();
    let files = genesis_pin::pin_local_build()?;
    genesis_pin::write_dir(out, &files)?;
    for (name, bytes) in &files {
        println!(
            "{} {:>9} bytes  sha256 {}",
            out.join(name).display(),
            bytes.len(),
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
        );
    }
    eprintln!(
        "pinned {} files in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
