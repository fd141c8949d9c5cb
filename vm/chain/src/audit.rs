//! The fault audit log: an append-only JSON-lines file, one fault per line, rotated by size.
//!
//! Written by whoever commits blocks (the appliance), never read back by consensus code. Each
//! block's lines are appended and `fsync`ed before [`AuditLog::record_block`] returns. When the
//! next block's lines would push the live file past `max_bytes`, the file is rotated:
//! `audit.log` → `audit.log.1` → … → `audit.log.{keep}`, the oldest dropped. A single batch
//! larger than `max_bytes` is still written whole (lines are never split).
//!
//! Rotation renames and creates files, which a sandboxed writer thread may not do: the daemon
//! gives the log a [`FileRunner`] that runs the rotation on a thread allowed to. If rotation
//! fails anyway, lines keep going to the live file: an oversized log beats a lost line.

use crate::receipt::BlockResult;
use keel_vm::{FaultKind, Trap};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the live log file inside the audit directory.
pub const AUDIT_FILE: &str = "audit.log";
/// The audit directory inside a chain data directory.
pub const AUDIT_DIR: &str = "audit";

/// `data/audit`: where the appliance keeps the audit log of the chain in `data`.
pub fn audit_dir(data: &Path) -> PathBuf {
    data.join(AUDIT_DIR)
}

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit entry could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub height: u64,
    /// Index of the transaction in its block.
    pub tx_index: usize,
    pub tx_hash: String,
    pub kind: FaultKind,
    pub contract: String,
    pub entry: String,
    pub depth: u32,
    /// Function index and byte offset in the deployed module, when known.
    pub func: Option<u32>,
    pub offset: Option<u32>,
    pub trap: Trap,
}

/// A governance line of the log: a proposal, vote, activation, failure or expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovAuditEntry {
    pub height: u64,
    pub governance: crate::governance::GovEvent,
}

impl AuditEntry {
    /// The entries of every fault of `result`, in block order.
    pub fn from_block(result: &BlockResult) -> Vec<AuditEntry> {
        result
            .faults()
            .map(|(i, f)| AuditEntry {
                height: result.height,
                tx_index: i,
                tx_hash: result
                    .receipts
                    .get(i)
                    .map(|r| hex::encode(r.tx_hash))
                    .unwrap_or_default(),
                kind: f.kind,
                contract: hex::encode(f.contract),
                entry: f.entry.clone(),
                depth: f.depth,
                func: f.location.map(|l| l.func),
                offset: f.location.map(|l| l.offset),
                trap: f.trap.clone(),
            })
            .collect()
    }
}

/// A file-system job: the rotation, returning the new live file.
pub type FileJob = Box<dyn FnOnce() -> Result<File, AuditError> + Send>;
/// Runs a [`FileJob`] where opening files is allowed (the daemon's store thread).
pub type FileRunner = Arc<dyn Fn(FileJob) -> Result<File, AuditError> + Send + Sync>;

/// An open audit log.
pub struct AuditLog {
    dir: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    size: u64,
    /// Where rotation runs; `None` runs it on the writing thread.
    runner: Option<FileRunner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .field("size", &self.size)
            .field("runner", &self.runner.is_some())
            .finish()
    }
}

impl AuditLog {
    /// Opens (creating) `dir/audit.log` for appending. `max_bytes` is the rotation size
    /// (at least 1), `keep` the number of rotated files kept (0 = drop on rotation).
    ///
    /// # Errors
    /// [`AuditError::Io`] if the directory or file cannot be created or opened.
    pub fn open(dir: &Path, max_bytes: u64, keep: usize) -> Result<AuditLog, AuditError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(AUDIT_FILE);
        let file = open_append(&path)?;
        let size = file.metadata().map_err(io(&path))?.len();
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep,
            file,
            size,
            runner: None,
        })
    }

    /// Runs later rotations through `runner` instead of on the writing thread.
    pub fn set_runner(&mut self, runner: FileRunner) {
        self.runner = Some(runner);
    }

    /// Appends one line per fault and per governance event of `result` and fsyncs; returns how
    /// many were written.
    ///
    /// # Errors
    /// [`AuditError`] on any I/O failure; lines already written stay written.
    pub fn record_block(&mut self, result: &BlockResult) -> Result<usize, AuditError> {
        let entries = AuditEntry::from_block(result);
        let gov: Vec<GovAuditEntry> = result
            .governance
            .iter()
            .map(|e| GovAuditEntry {
                height: result.height,
                governance: e.clone(),
            })
            .collect();
        if entries.is_empty() && gov.is_empty() {
            return Ok(0);
        }
        let mut batch = Vec::new();
        for e in &gov {
            serde_json::to_writer(&mut batch, e)?;
            batch.push(b'\n');
        }
        for e in &entries {
            serde_json::to_writer(&mut batch, e)?;
            batch.push(b'\n');
        }
        let full = self.size > 0 && self.size.saturating_add(batch.len() as u64) > self.max_bytes;
        if full && let Err(e) = self.rotate() {
            tracing::error!("cannot rotate the audit log, appending past its size limit: {e}");
        }
        let path = self.dir.join(AUDIT_FILE);
        self.file.write_all(&batch).map_err(io(&path))?;
        self.file.sync_data().map_err(io(&path))?;
        self.size = self.size.saturating_add(batch.len() as u64);
        Ok(entries.len().saturating_add(gov.len()))
    }

    fn rotate(&mut self) -> Result<(), AuditError> {
        let (dir, keep) = (self.dir.clone(), self.keep);
        let job: FileJob = Box::new(move || rotate_files(&dir, keep));
        self.file = match &self.runner {
            Some(run) => run(job)?,
            None => job()?,
        };
        self.size = 0;
        Ok(())
    }
}

/// `audit.log` → `audit.log.1` → … → `audit.log.{keep}` (the oldest dropped), then a fresh live
/// file, returned open for appending.
fn rotate_files(dir: &Path, keep: usize) -> Result<File, AuditError> {
    let live = dir.join(AUDIT_FILE);
    let rotated = |i: usize| dir.join(format!("{AUDIT_FILE}.{i}"));
    if keep == 0 {
        fs::remove_file(&live).map_err(io(&live))?;
    } else {
        let oldest = rotated(keep);
        if oldest.exists() {
            fs::remove_file(&oldest).map_err(io(&oldest))?;
        }
        for i in (1..keep).rev() {
            let from = rotated(i);
            if from.exists() {
                fs::rename(&from, rotated(i.saturating_add(1))).map_err(io(&from))?;
            }
        }
        fs::rename(&live, rotated(1)).map_err(io(&live))?;
    }
    let file = open_append(&live)?;
    // Make the renames durable before new lines land in the fresh file.
    if let Ok(d) = File::open(dir) {
        d.sync_all().map_err(io(dir))?;
    }
    Ok(file)
}

fn open_append(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io(path))
}

/// The log files of `dir`, oldest first (rotated files by descending number, then the live one).
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name
                .strip_prefix(AUDIT_FILE)?
                .strip_prefix('.')?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    let live = dir.join(AUDIT_FILE);
    if live.exists() {
        files.push(live);
    }
    files
}

/// The last `n` lines across every log file of `dir`, oldest first.
///
/// # Errors
/// [`AuditError::Io`] if a file cannot be read.
pub fn tail(dir: &Path, n: usize) -> Result<Vec<String>, AuditError> {
    let mut out = std::collections::VecDeque::with_capacity(n.min(4096));
    for path in log_files(dir) {
        let f = File::open(&path).map_err(io(&path))?;
        for line in BufReader::new(f).lines() {
            let line = line.map_err(io(&path))?;
            if out.len() == n {
                out.pop_front();
            }
            if n > 0 {
                out.push_back(line);
            }
        }
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::{Receipt, TxStatus};
    use crate::types::Amount;
    use keel_vm::{Fault, FaultLocation};

    fn block(height: u64, faults: usize) -> BlockResult {
        let fault = Fault {
            kind: FaultKind::OutOfGas,
            trap: Trap::OutOfGas,
            contract: [3; 32],
            entry: "run".into(),
            depth: 1,
            location: Some(FaultLocation {
                func: 2,
                offset: 77,
            }),
        };
        BlockResult {
            height,
            receipts: vec![Receipt {
                tx_hash: [9; 32],
                status: TxStatus::Success {
                    return_data: Vec::new(),
                },
                gas_used: [0; 4],
                fee: Amount::ZERO,
                contract: None,
                events: Vec::new(),
                faults: vec![fault; faults],
            }],
            gas_used: [0; 4],
            state_root: [0; 32],
            receipts_root: [0; 32],
            prices: [0; 4],
            next_prices: [0; 4],
            governance: Vec::new(),
        }
    }

    #[test]
    fn each_fault_is_one_json_line_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path(), 1 << 20, 2).unwrap();
        assert_eq!(log.record_block(&block(5, 2)).unwrap(), 2);
        assert_eq!(log.record_block(&block(6, 0)).unwrap(), 0);
        let lines = tail(dir.path(), 10).unwrap();
        assert_eq!(lines.len(), 2);
        let e: AuditEntry = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (e.height, e.kind, e.offset, e.func),
            (5, FaultKind::OutOfGas, Some(77), Some(2))
        );
    }

    #[test]
    fn rotation_keeps_the_newest_files_and_tail_spans_them() {
        let dir = tempfile::tempdir().unwrap();
        let line_len = {
            let mut b = Vec::new();
            serde_json::to_writer(&mut b, &AuditEntry::from_block(&block(0, 1))[0]).unwrap();
            b.len() as u64 + 1
        };
        // Room for two lines per file; keep two rotated files.
        let mut log = AuditLog::open(dir.path(), 2 * line_len + 5, 2).unwrap();
        for h in 0..10 {
            log.record_block(&block(h, 1)).unwrap();
        }
        let files = log_files(dir.path());
        assert_eq!(files.len(), 3, "{files:?}");
        let lines = tail(dir.path(), 100).unwrap();
        let heights: Vec<u64> = lines
            .iter()
            .map(|l| serde_json::from_str::<AuditEntry>(l).unwrap().height)
            .collect();
        assert_eq!(heights, vec![4, 5, 6, 7, 8, 9]);
        assert_eq!(tail(dir.path(), 1).unwrap().len(), 1);
        // Reopening appends to the live file instead of truncating it.
        drop(log);
        let mut log = AuditLog::open(dir.path(), 2 * line_len + 5, 2).unwrap();
        log.record_block(&block(10, 1)).unwrap();
        let last = tail(dir.path(), 1).unwrap();
        assert!(last[0].contains("\"height\":10"));
    }

    fn line_len() -> u64 {
        let mut b = Vec::new();
        serde_json::to_writer(&mut b, &AuditEntry::from_block(&block(0, 1))[0]).unwrap();
        (b.len() as u64).saturating_add(1)
    }

    #[test]
    fn rotation_runs_on_the_runners_thread_and_keeps_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<(FileJob, std::sync::mpsc::Sender<_>)>();
        let worker = std::thread::spawn(move || {
            let mut ran = 0u32;
            while let Ok((job, reply)) = rx.recv() {
                ran += 1;
                let _ = reply.send(job());
            }
            ran
        });
        let tx = std::sync::Mutex::new(tx);
        let runner: FileRunner = Arc::new(move |job| {
            let (reply, answer) = std::sync::mpsc::channel();
            tx.lock().unwrap().send((job, reply)).unwrap();
            answer.recv().unwrap()
        });
        let mut log = AuditLog::open(dir.path(), 2 * line_len() + 5, 3).unwrap();
        log.set_runner(runner);
        for h in 0..6 {
            log.record_block(&block(h, 1)).unwrap();
        }
        drop(log);
        assert_eq!(
            worker.join().unwrap(),
            2,
            "two rotations, both on the runner"
        );
        let heights: Vec<u64> = tail(dir.path(), 100)
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str::<AuditEntry>(l).unwrap().height)
            .collect();
        assert_eq!(heights, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_failing_rotation_appends_past_the_limit_instead_of_losing_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path(), 2 * line_len() + 5, 2).unwrap();
        log.set_runner(Arc::new(|_job| {
            Err(AuditError::Io {
                path: PathBuf::from("audit.log"),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            })
        }));
        for h in 0..5 {
            assert_eq!(log.record_block(&block(h, 1)).unwrap(), 1);
        }
        assert_eq!(log_files(dir.path()).len(), 1);
        assert_eq!(tail(dir.path(), 100).unwrap().len(), 5);
    }
}
