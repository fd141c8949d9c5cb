//! The store thread: the one daemon thread whose sandbox may open files.
//!
//! Request workers run under a seccomp filter without `open`. What they still need from the
//! file system — reopening the state store after a disk error, rotating the audit log, reading
//! and writing compiled contract artifacts (`vm-cache/`) — runs here instead, on a thread of the `store` class (Landlock keeps its writes inside the data
//! directory). Callers wait for the answer.

use crate::daemon::store::Opener;
use keel_chain::Chain;
use keel_chain::audit::{AuditError, FileRunner};
use std::sync::{Arc, Mutex, mpsc};

type Job = Box<dyn FnOnce() + Send>;

/// A handle on the store thread; cheap to clone.
#[derive(Clone)]
pub struct StoreThread {
    jobs: Arc<Mutex<mpsc::Sender<Job>>>,
}

impl StoreThread {
    /// Starts the thread (it confines itself as the `store` class).
    pub fn spawn() -> anyhow::Result<StoreThread> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("keel-store".into())
            .spawn(move || {
                keel_sandbox::enter(keel_sandbox::ThreadClass::Store);
                while let Ok(job) = rx.recv() {
                    keel_sandbox::checkpoint();
                    job();
                }
            })?;
        Ok(StoreThread {
            jobs: Arc::new(Mutex::new(tx)),
        })
    }

    /// Runs `f` on the store thread and waits for its result.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| anyhow::anyhow!("the store thread is gone"))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the store thread is gone"))
    }

    /// An opener that runs `open` on this thread.
    pub fn opener(&self, open: Opener) -> Opener {
        let this = self.clone();
        let open = Arc::new(open);
        Box::new(move || {
            let open = open.clone();
            this.run(move || open())?
        })
    }

    /// A runner for the audit log's rotation on this thread.
    pub fn file_runner(&self) -> FileRunner {
        let this = self.clone();
        Arc::new(move |job| {
            this.run(job).unwrap_or_else(|e| {
                Err(AuditError::Io {
                    path: "audit".into(),
                    source: std::io::Error::other(e.to_string()),
                })
            })
        })
    }

    /// A runner for the compiled-artifact cache's loads and stores on this thread.
    pub fn cache_runner(&self) -> keel_vm::engine::artifact_cache::FileRunner {
        let this = self.clone();
        Arc::new(move |job| {
            if let Err(e) = this.run(job) {
                tracing::warn!(error = %e, "compiled-artifact cache file work not run");
            }
        })
    }
}

/// Runs `chain`'s later file work (audit rotation, the contract artifact cache) through
/// `store`.
pub fn attach(chain: &mut Chain, store: &StoreThread) {
    chain.set_file_runner(store.file_runner());
    chain.vm().set_cache_runner(store.cache_runner());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_the_store_thread_in_order() {
        let store = StoreThread::spawn().unwrap();
        let here = std::thread::current().id();
        let names: Vec<String> = (0..3)
            .map(|_| {
                store
                    .run(|| std::thread::current().name().unwrap_or("").to_string())
                    .unwrap()
            })
            .collect();
        assert_eq!(names, vec!["keel-store"; 3]);
        assert_ne!(store.run(|| std::thread::current().id()).unwrap(), here);
    }
}
