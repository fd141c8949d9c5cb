//! BLS accelerator plug-ins behind the C ABI of `offload/include/keel_offload.h`, each run in
//! its own host process (`keel hwtest plugin-host PATH`, or the `keel-plugin-host` binary) so a
//! plug-in that crashes or hangs is contained: a crash is seen as the pipe closing, a hang as a
//! missed deadline after which the host is killed. Either way the plug-in fails qualification
//! and Keel carries on.
//!
//! [`PluginSubject`] is a [`BlsSubject`](crate::paths::bls::BlsSubject), so a plug-in goes
//! through the same conformance and performance phases as Keel's CPU pool.

mod abi;
mod child;
pub mod host;
mod qualified;
pub mod wire;

pub use abi::KEEL_OFFLOAD_ABI_VERSION;
pub use qualified::{PluginVerifier, QualificationError, check_qualification, sha256_file};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use thiserror::Error;

use crate::paths::bls::{BlsSubject, SubjectError};
use crate::vectors::RawTriple;
use child::HostChild;
use wire::{encode_request, read_frame, write_frame};

/// The reference plug-in (C over blst) built with this crate.
pub const BUNDLED_BLST_PLUGIN: &str = env!("KEEL_OFFLOAD_BLST_PLUGIN");

/// Why a plug-in could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PluginError {
    /// `dlopen` or a symbol lookup failed.
    #[error("cannot load the plug-in: {0}")]
    Load(String),
    /// The plug-in implements another ABI version.
    #[error("plug-in ABI version {0}, Keel speaks {KEEL_OFFLOAD_ABI_VERSION}")]
    Abi(u32),
    /// A call returned an error status.
    #[error("keel_offload_{call} returned {code}")]
    Status {
        /// The function.
        call: &'static str,
        /// Its status.
        code: i32,
    },
    /// The host process could not be started or its pipes failed.
    #[error("plug-in host: {0}")]
    Pipe(String),
    /// The host refused the plug-in or did not greet in time.
    #[error("plug-in refused: {0}")]
    Refused(String),
    /// The host could not confine itself before or after loading the plug-in.
    #[error("plug-in host sandbox: {0}")]
    Sandbox(String),
}

/// How to start a plug-in host: a program and its leading arguments; the plug-in's path is
/// appended.
#[derive(Debug, Clone)]
pub struct HostCommand {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the plug-in path (e.g. `["hwtest", "plugin-host"]` for `keel`).
    pub args: Vec<String>,
}

struct Running {
    child: HostChild,
    stdin: ChildStdin,
    replies: Receiver<Option<Vec<u8>>>,
}

/// A plug-in running in its own host process.
pub struct PluginSubject {
    label: String,
    timeout: Duration,
    state: Mutex<Result<Running, SubjectError>>,
}

/// A plug-in host process started but not yet greeted: the daemon starts it while it may
/// still hand it privileges to drop (the host switches to the service user itself), and talks
/// to it once its own threads exist. Killed when dropped unattached.
pub struct HostProcess {
    /// `None` once attached.
    child: Option<Child>,
    plugin: PathBuf,
}

impl HostProcess {
    /// Starts `host` for `plugin`.
    ///
    /// # Errors
    /// [`PluginError::Pipe`] when the program cannot be started.
    pub fn spawn(host: &HostCommand, plugin: &Path) -> Result<HostProcess, PluginError> {
        let child = Command::new(&host.program)
            .args(&host.args)
            .arg(plugin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| PluginError::Pipe(format!("{}: {e}", host.program.display())))?;
        Ok(HostProcess {
            child: Some(child),
            plugin: plugin.to_path_buf(),
        })
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl PluginSubject {
    /// Starts the host for `plugin` and waits (up to `timeout`) for its greeting.
    ///
    /// # Errors
    /// [`PluginError`] when the host cannot start or refuses the plug-in.
    pub fn start(
        host: &HostCommand,
        plugin: &Path,
        timeout: Duration,
    ) -> Result<Self, PluginError> {
        Self::attach(HostProcess::spawn(host, plugin)?, timeout)
    }

    /// Talks to a started host: waits (up to `timeout`) for its greeting. The pipe reader
    /// thread starts here (and confines itself as a BLS thread when a sandbox is armed).
    ///
    /// # Errors
    /// [`PluginError`] when the host refuses the plug-in or does not greet in time.
    pub fn attach(mut process: HostProcess, timeout: Duration) -> Result<Self, PluginError> {
        let plugin = process.plugin.clone();
        let Some(mut child) = process.child.take() else {
            return Err(PluginError::Pipe("the host was already attached".into()));
        };
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(i), Some(o)) => (i, o),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PluginError::Pipe("no pipes".into()));
            }
        };
        let (tx, replies) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("keel-plugin-reader".into())
            .spawn(move || {
                // Part of the daemon's BLS backend: confined like the pinned BLS workers.
                keel_sandbox::enter(keel_sandbox::ThreadClass::Bls);
                let mut stdout = stdout;
                loop {
                    let frame = read_frame(&mut stdout).ok().flatten();
                    let end = frame.is_none();
                    if tx.send(frame).is_err() || end {
                        break;
                    }
                }
            })
            .map_err(|e| PluginError::Pipe(e.to_string()))?;
        let mut running = Running {
            child: HostChild::new(child),
            stdin,
            replies,
        };
        let hello = match running.replies.recv_timeout(timeout) {
            Ok(Some(h)) => h,
            _ => {
                running.child.kill();
                let _ = running.child.wait();
                return Err(PluginError::Refused("no greeting from the host".into()));
            }
        };
        let text = String::from_utf8_lossy(hello.get(1..).unwrap_or_default()).into_owned();
        if hello.first() != Some(&0) {
            let _ = running.child.wait();
            return Err(PluginError::Refused(text));
        }
        let name = text.lines().next().unwrap_or("unnamed").to_string();
        let file = plugin
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        Ok(Self {
            label: format!("plugin:{file} ({name})"),
            timeout,
            state: Mutex::new(Ok(running)),
        })
    }

    fn call(
        running: &mut Running,
        triples: &[RawTriple],
        timeout: Duration,
    ) -> Result<Vec<bool>, SubjectError> {
        write_frame(&mut running.stdin, &encode_request(triples))
            .and_then(|()| running.stdin.flush())
            .map_err(|e| SubjectError::Crashed(format!("request not delivered: {e}")))?;
        let reply = match running.replies.recv_timeout(timeout) {
            Ok(Some(r)) => r,
            Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                return Err(SubjectError::Crashed(running.child.wait()));
            }
            Err(RecvTimeoutError::Timeout) => {
                running.child.kill();
                let _ = running.child.wait();
                return Err(SubjectError::Timeout(timeout.as_millis() as u64));
            }
        };
        match reply.split_first() {
            Some((0, verdicts)) if verdicts.len() == triples.len() => {
                Ok(verdicts.iter().map(|&v| v == 1).collect())
            }
            Some((0, verdicts)) => Err(SubjectError::WrongCount {
                got: verdicts.len(),
                want: triples.len(),
            }),
            Some((_, text)) => Err(SubjectError::Failed(
                String::from_utf8_lossy(text).into_owned(),
            )),
            None => Err(SubjectError::Failed("empty reply".into())),
        }
    }
}

impl PluginSubject {
    /// The host process's pid while it runs (`None` once it died or was killed).
    pub fn host_pid(&self) -> Option<u32> {
        match self.state.lock().as_deref() {
            Ok(Ok(running)) => Some(running.child.id()),
            _ => None,
        }
    }
}

impl BlsSubject for PluginSubject {
    fn name(&self) -> String {
        self.label.clone()
    }

    /// Once the host crashed or was killed, every later call fails with the same error
    /// (qualification of that plug-in is over; Keel is unaffected).
    fn verify(&self, triples: &[RawTriple]) -> Result<Vec<bool>, SubjectError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| SubjectError::Failed("poisoned".into()))?;
        let running = match state.as_mut() {
            Ok(r) => r,
            Err(e) => return Err(e.clone()),
        };
        let result = Self::call(running, triples, self.timeout);
        if let Err(e @ (SubjectError::Crashed(_) | SubjectError::Timeout(_))) = &result {
            *state = Err(e.clone());
        }
        result
    }
}

impl Drop for PluginSubject {
    fn drop(&mut self) {
        if let Ok(Ok(running)) = self.state.get_mut() {
            // Closing stdin ends the host's loop; kill it if it does not stop by itself.
            running.child.kill();
            let _ = running.child.wait();
        }
    }
}
