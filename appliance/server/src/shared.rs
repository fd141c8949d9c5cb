//! State shared by every network thread and worker of one server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::admission::{Admission, Ticket};
use crate::auth::AuthPolicy;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::pool::WorkerPool;
use crate::service::{Peer, Service};

pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) policy: AuthPolicy,
    pub(crate) metrics: Metrics,
    pub(crate) service: Arc<dyn Service>,
    pub(crate) pool: WorkerPool,
    pub(crate) shutting_down: AtomicBool,
    /// Open connections across all network threads (the `max_connections` limit).
    pub(crate) connections: AtomicUsize,
    /// Provisional slots, per-source counts and the memory budget.
    pub(crate) admission: Arc<Admission>,
}

impl Shared {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Admits a new connection from `peer`: counted against `max_connections` and given a
    /// provisional ticket (see `admission`). `None` if refused (then nothing is counted).
    pub(crate) fn admit_connection(&self, peer: &Peer) -> Option<Ticket> {
        if !self.count_connection() {
            return None;
        }
        match self.admission.admit(peer) {
            Ok(ticket) => Some(ticket),
            Err(why) => {
                tracing::debug!(?peer, ?why, "connection refused");
                self.release_connection();
                None
            }
        }
    }

    /// Counts a new connection; `false` if that would exceed `max_connections` (not counted).
    fn count_connection(&self) -> bool {
        let max = self.config.max_connections;
        let admitted = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            self.metrics
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            self.metrics
                .connections_total
                .fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    pub(crate) fn release_connection(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
        self.metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}
