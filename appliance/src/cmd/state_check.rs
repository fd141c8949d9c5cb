//! `keel state check`: a full integrity scan of the state database in a data directory.

use super::chain::DataDir;
use keel_state::{IntegrityReport, Problem, Progress, StateDb};
use serde_json::json;
use std::process::ExitCode;

/// Exit code: the state is intact.
const EXIT_OK: u8 = 0;
/// Exit code: damage was found (or the store is too damaged to scan).
const EXIT_DAMAGED: u8 = 1;
/// Exit code: the check could not run (no database, another format version, locked, I/O).
const EXIT_CANNOT_CHECK: u8 = 2;

/// Arguments of `keel state check`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 the state is intact; 1 damage found (listed, with the \
    key in hex); 2 the check could not run (no database, another format version, locked by a \
    running daemon, I/O error)."
)]
pub struct CheckArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// One JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut progress = |p: Progress| eprintln!("checking {}: {} done…", p.phase, p.done);
    let scanned =
        StateDb::open_for_check(&a.data.dir).and_then(|db| db.check_integrity(&mut progress));
    let (code, report, error) = match scanned {
        Ok(report) if report.is_ok() => (EXIT_OK, report, None),
        Ok(report) => (EXIT_DAMAGED, report, None),
        Err(e) if e.is_damage() => (EXIT_DAMAGED, IntegrityReport::default(), Some(e)),
        Err(e) => (EXIT_CANNOT_CHECK, IntegrityReport::default(), Some(e)),
    };
    let error = error.map(|e| e.to_string());
    if a.json {
        let verdict = ["ok", "damaged", "error"][usize::from(code)];
        println!(
            "{}",
            json!({ "verdict": verdict, "data": a.data.dir, "error": error, "report": report })
        );
    } else {
        print_text(&a.data, &report, error.as_deref(), code);
    }
    Ok(ExitCode::from(code))
}

fn print_text(data: &DataDir, report: &IntegrityReport, error: Option<&str>, code: u8) {
    if let Some(e) = error {
        println!("state check of {}: {e}", data.dir.display());
    }
    if let (Some(v), Some(root)) = (report.version, &report.root) {
        println!("version {v}\nroot {root}");
    }
    println!(
        "keys checked {}\nnodes checked {}\nproblems {}",
        report.keys_checked, report.nodes_checked, report.problems_total
    );
    for p in &report.problems {
        match p {
            Problem::Node {
                version,
                path,
                detail,
            } => println!("  node v{version} path [{path}]: {detail}"),
            Problem::Value { key, detail } => println!("  key 0x{key}: {detail}"),
            Problem::MissingFromIndex { key_hash } => {
                println!("  key hash 0x{key_hash}: in the tree but not in the value index")
            }
        }
    }
    let listed = report.problems.len() as u64;
    if report.problems_total > listed {
        println!("  … and {} more", report.problems_total - listed);
    }
    match code {
        EXIT_OK => println!("state intact"),
        EXIT_DAMAGED => println!(
            "STATE DAMAGED: do not serve this data directory; restore it from a healthy copy"
        ),
        _ => println!("state NOT checked"),
    }
}
