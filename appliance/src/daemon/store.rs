//! The chain as the daemon holds it: shared by every worker without a lock on the read path,
//! and reopened when the disk fails under it.
//!
//! After an I/O error (a full disk, typically) redb refuses every further commit until the
//! database is closed and reopened, even once space is back. The store logs the failure at
//! error level, reports itself unhealthy (`Status`, `keel_up` in /metrics), closes the
//! database once the requests still using it are done, and reopens it — at once, or on a
//! later request if the disk is still failing (at most once per [`REOPEN_INTERVAL`]). It is
//! healthy again once a block has committed.

use keel_chain::{Chain, ChainError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How a closed store is opened again (same directory, verifier and routine engine).
pub type Opener = Box<dyn Fn() -> anyhow::Result<Chain> + Send + Sync>;

/// Least time between two attempts to reopen a failed store.
pub const REOPEN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait for requests still holding the failed store before it is closed anyway.
const DRAIN_WAIT: Duration = Duration::from_secs(30);

/// The store's health as `Status` and /metrics report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// The last commit failed on the disk; the store is closed until a reopen succeeds.
    Failed {
        error: String,
    },
}

pub struct Store {
    slot: RwLock<Option<Arc<Chain>>>,
    opener: Option<Opener>,
    health: Mutex<(Health, Option<Instant>)>,
    /// Height and root of the last head seen, for `Status` while the store is closed.
    last_head: Mutex<(u64, [u8; 32])>,
    /// One reopen at a time.
    reopening: Mutex<()>,
}

impl Store {
    /// A store over `chain`; without an `opener` a disk error leaves it closed.
    pub fn new(chain: Chain, opener: Option<Opener>) -> Store {
        let head = chain.head().unwrap_or((0, [0; 32]));
        Store {
            slot: RwLock::new(Some(Arc::new(chain))),
            opener,
            health: Mutex::new((Health::Ok, None)),
            last_head: Mutex::new(head),
            reopening: Mutex::new(()),
        }
    }

    /// The open chain (reopening it first if it is closed and the interval has passed), or
    /// why there is none.
    pub fn get(&self) -> Result<Arc<Chain>, String> {
        if let Some(c) = self.slot.read().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(c);
        }
        self.reopen();
        self.slot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                format!(
                    "the state store is closed after a disk error and cannot be reopened yet: {}",
                    self.error()
                )
            })
    }

    pub fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// The last head seen (kept while the store is closed).
    pub fn last_head(&self) -> (u64, [u8; 32]) {
        *self.last_head.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a committed block: the new head, and health restored if a disk error had
    /// taken it (a reopened store is healthy only once it has committed again).
    pub fn committed(&self, head: (u64, [u8; 32])) {
        *self.last_head.lock().unwrap_or_else(|p| p.into_inner()) = head;
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if h.0 != Health::Ok {
            h.0 = Health::Ok;
            tracing::info!(
                height = head.0,
                "state store healthy again: a block committed"
            );
        }
    }

    /// Looks at a failed chain operation: a disk error marks the store failed, logs it, closes
    /// `chain` once other requests have let go of it, and tries to reopen. Other errors pass.
    pub fn check(&self, chain: Arc<Chain>, error: &ChainError) {
        if !error.is_store_io() {
            return;
        }
        tracing::error!(%error, "state store failed on the disk; closing and reopening it");
        self.set_health(Health::Failed {
            error: error.to_string(),
        });
        {
            let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
            if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &chain)) {
                *slot = None;
            }
        }
        // redb closes the file when the last handle goes: wait for requests still reading.
        let started = Instant::now();
        while Arc::strong_count(&chain) > 1 && started.elapsed() < DRAIN_WAIT {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(chain);
        self.reopen();
    }

    fn reopen(&self) {
        let Some(opener) = &self.opener else {
            return;
        };
        let Ok(_one) = self.reopening.try_lock() else {
            return;
        };
        if self
            .slot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return;
        }
        {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            if h.1.is_some_and(|t| t.elapsed() < REOPEN_INTERVAL) {
                return;
            }
            h.1 = Some(Instant::now());
        }
        match opener() {
            Ok(chain) => {
                if let Ok(head) = chain.head() {
                    *self.last_head.lock().unwrap_or_else(|p| p.into_inner()) = head;
                }
                *self.slot.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(chain));
                // Still unhealthy: the disk may be as full as before, until a commit proves not.
                tracing::info!("state store reopened; healthy again at the next commit");
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "state store cannot be reopened yet");
                self.set_health(Health::Failed {
                    error: format!("{e:#}"),
                });
            }
        }
    }

    fn set_health(&self, health: Health) {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).0 = health;
    }

    fn error(&self) -> String {
        match self.health() {
            Health::Ok => "closed".into(),
            Health::Failed { error } => error,
        }
    }
}
