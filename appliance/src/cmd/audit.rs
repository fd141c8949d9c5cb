//! `keel audit`: read the fault audit log (one JSON line per fault, see `keel_chain::audit`).

use anyhow::Context;
use clap::{Args, Subcommand};
use keel_chain::DEFAULT_DATA_DIR;
use keel_chain::audit::{AUDIT_FILE, audit_dir, tail};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How often `--follow` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Print the newest fault entries (oldest first), optionally following new ones.
    Tail(TailArgs),
}

#[derive(Args)]
pub struct TailArgs {
    /// Chain data directory; the log lives in its `audit/` subdirectory.
    #[arg(long = "data", env = "KEEL_DATA", default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// Number of entries to print.
    #[arg(short = 'n', long = "lines", default_value_t = 20)]
    pub lines: usize,
    /// Keep printing entries as they are appended (across rotations) until interrupted.
    #[arg(long)]
    pub follow: bool,
}

pub fn run(cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::Tail(a) => run_tail(a),
    }
}

fn run_tail(a: TailArgs) -> anyhow::Result<ExitCode> {
    // A mistyped data dir is an error, not an empty log. A chain without faults yet is empty.
    if !a.data.join(keel_state::DB_FILE_NAME).exists() {
        anyhow::bail!(
            "no chain in {} (pass --data with the daemon's data directory)",
            a.data.display()
        );
    }
    let dir = audit_dir(&a.data);
    let mut out = std::io::stdout().lock();
    for line in tail(&dir, a.lines).with_context(|| format!("reading {}", dir.display()))? {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if !a.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let live = dir.join(AUDIT_FILE);
    let mut pos = std::fs::metadata(&live).map(|m| m.len()).unwrap_or(0);
    let mut pending = Vec::new();
    loop {
        std::thread::sleep(FOLLOW_POLL);
        let Ok(mut f) = std::fs::File::open(&live) else {
            continue;
        };
        let len = f.metadata()?.len();
        if len < pos {
            // Rotated: the live file is new; read it from the start.
            pos = 0;
            pending.clear();
        }
        if len == pos {
            continue;
        }
        f.seek(SeekFrom::Start(pos))?;
        let mut buf = Vec::new();
        f.take(len - pos).read_to_end(&mut buf)?;
        pos = len;
        pending.extend_from_slice(&buf);
        // Print complete lines only; keep a partial one for the next poll.
        if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
            out.write_all(&pending[..=end])?;
            out.flush()?;
            pending.drain(..=end);
        }
    }
}
