//! One daemon per data directory: `keel serve` holds an exclusive lock on `<data>/keel.lock`
//! for its whole life and records in it who it is (pid) and where it listens, so a second
//! daemon, and the local commands that would open the database, can say who holds it.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "keel.lock";

/// What the running daemon records in its lock file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DaemonRecord {
    pub pid: u32,
    pub data_dir: PathBuf,
    pub unix_socket: Option<PathBuf>,
    pub tcp: Option<String>,
    pub metrics: Option<String>,
}

impl DaemonRecord {
    /// "pid N, data dir D (unix S, tcp T)" for messages.
    pub fn describe(&self) -> String {
        let mut at = Vec::new();
        if let Some(u) = &self.unix_socket {
            at.push(format!("unix {}", u.display()));
        }
        if let Some(t) = &self.tcp {
            at.push(format!("tcp {t}"));
        }
        let at = if at.is_empty() {
            String::new()
        } else {
            format!("; {}", at.join(", "))
        };
        format!("pid {}, data dir {}{at}", self.pid, self.data_dir.display())
    }

    /// The `--endpoint` a client command should use to reach this daemon.
    pub fn endpoint(&self) -> Option<String> {
        match (&self.unix_socket, &self.tcp) {
            (Some(u), _) => Some(format!("unix:{}", u.display())),
            (None, Some(t)) => Some(t.clone()),
            (None, None) => None,
        }
    }
}

/// How long start-up waits for an exiting daemon to release the data directory.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The lock is held by another process (its record, if readable).
struct Held(Option<DaemonRecord>);

/// The held lock. Released when dropped (or when the process dies, however it dies).
pub struct DataDirLock {
    file: File,
}

impl DataDirLock {
    /// Takes the data directory's lock. Errors when another daemon holds it, naming that
    /// daemon, or when the file cannot be created. A holder that is exiting (killed, its
    /// io_uring still being torn down) is waited for, up to [`EXIT_WAIT`].
    pub fn acquire(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        let deadline = std::time::Instant::now() + EXIT_WAIT;
        loop {
            match Self::try_acquire(data_dir) {
                Err(Held(Some(r)))
                    if !keel_server::process_is_alive(r.pid)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(Held(r)) => {
                    let who = r
                        .map(|r| format!("another keel ({}) serves it", r.describe()))
                        .unwrap_or_else(|| "another keel serves it".into());
                    anyhow::bail!("data dir {} is in use: {who}", data_dir.display())
                }
                Ok(lock) => return lock,
            }
        }
    }

    fn try_acquire(data_dir: &Path) -> Result<anyhow::Result<DataDirLock>, Held> {
        let path = data_dir.join(LOCK_FILE);
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()));
        let file = match opened {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        match file.try_lock() {
            Ok(()) => Ok(Ok(DataDirLock { file })),
            Err(TryLockError::WouldBlock) => Err(Held(read_record(&path))),
            Err(TryLockError::Error(e)) => {
                Ok(Err(e).with_context(|| format!("cannot lock {}", path.display())))
            }
        }
    }

    /// Writes the daemon's record (replacing any earlier one) and syncs it.
    pub fn record(&mut self, record: &DaemonRecord) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(record)?;
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()?;
        Ok(())
    }
}

/// The daemon serving `data_dir`, if one holds its lock now.
pub fn running_daemon(data_dir: &Path) -> Option<DaemonRecord> {
    let path = data_dir.join(LOCK_FILE);
    let file = File::open(&path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(_) => Some(read_record(&path).unwrap_or_else(|| DaemonRecord {
            data_dir: data_dir.to_path_buf(),
            ..DaemonRecord::default()
        })),
    }
}

fn read_record(path: &Path) -> Option<DaemonRecord> {
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// The data directory of the keel process `pid`: the directory of the lock file it holds open.
pub fn data_dir_of(pid: u32) -> Option<PathBuf> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    fds.flatten().find_map(|fd| {
        let target = std::fs::read_link(fd.path()).ok()?;
        (target.file_name()? == LOCK_FILE).then(|| target.parent().map(Path::to_path_buf))?
    })
}

/// A `keel_server` error made operator-readable: an address another keel holds names that
/// daemon's pid and data directory.
pub fn explain_server_error(e: keel_server::ServerError) -> anyhow::Error {
    if let keel_server::ServerError::AddressInUse {
        what,
        owner: Some(pid),
    } = &e
        && let Some(dir) = data_dir_of(*pid)
    {
        return anyhow::anyhow!(
            "cannot listen on {what}: address in use, another keel (pid {pid}, data dir {}) serves it",
            dir.display()
        );
    }
    anyhow::Error::new(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_data_dir_names_the_first_daemon() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(running_daemon(dir.path()), None);
        let mut first = DataDirLock::acquire(dir.path()).unwrap();
        let record = DaemonRecord {
            pid: std::process::id(),
            data_dir: dir.path().to_path_buf(),
            unix_socket: Some(dir.path().join("keel.sock")),
            tcp: Some("127.0.0.1:7411".into()),
            metrics: None,
        };
        first.record(&record).unwrap();
        let err = DataDirLock::acquire(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("tcp 127.0.0.1:7411"), "{err}");
        assert_eq!(running_daemon(dir.path()), Some(record));
        assert_eq!(data_dir_of(std::process::id()).as_deref(), Some(dir.path()));
        drop(first);
        assert_eq!(running_daemon(dir.path()), None);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
