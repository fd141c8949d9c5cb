//! Who gets a connection slot and buffer memory while the daemon is under attack.
//!
//! Every connection starts *provisional* (not yet proven to be an allowlisted writer).
//! Provisional connections may hold at most `max_connections - reserved_connections` slots and
//! at most `max_connections_per_source` from one IP address. Once those are full, a new
//! connection may still take one of the reserved slots *on probation*: it must open with a
//! `Hello` for an allowlisted key within [`PROBATION`], or it is closed (a non-writer key is
//! closed at once). So idle or hostile peers cannot lock an allowlisted validator out: the
//! best they can do is churn through the reserved slots, which the kernel admission program
//! and the per-source limit exist to throttle.
//! Buffer memory of every connection is charged to one global budget; a provisional connection
//! that would exceed it is closed, a writer is always let through.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ServerConfig;
use crate::service::Peer;

/// Why a connection was refused at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every slot not reserved for writers is held by provisional connections.
    Provisional,
    /// This source address already holds its share of provisional connections.
    PerSource,
}

/// How long a connection on a reserved slot has to show an allowlisted key.
pub(crate) const PROBATION: std::time::Duration = std::time::Duration::from_millis(1000);

/// Where a connection sits until it proves a writer key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Provisional,
    /// On a reserved slot: writers only, and quickly.
    Probation,
    Writer,
}

/// The shared counters behind [`Ticket`] and [`MemoryCharge`].
pub(crate) struct Admission {
    provisional_max: usize,
    reserved_max: usize,
    per_source_max: usize,
    memory_budget: usize,
    provisional: AtomicUsize,
    probation: AtomicUsize,
    memory: AtomicUsize,
    sources: Mutex<HashMap<IpAddr, usize>>,
}

impl Admission {
    pub(crate) fn new(config: &ServerConfig) -> Arc<Admission> {
        let reserved = config.reserved_connections.min(config.max_connections / 2);
        Arc::new(Admission {
            provisional_max: config.max_connections.saturating_sub(reserved),
            reserved_max: reserved,
            per_source_max: config.max_connections_per_source.max(1),
            memory_budget: config.memory_budget_bytes,
            provisional: AtomicUsize::new(0),
            probation: AtomicUsize::new(0),
            memory: AtomicUsize::new(0),
            sources: Mutex::new(HashMap::new()),
        })
    }

    /// A provisional slot for a connection from `peer`, else a reserved one on probation, or
    /// why there is none.
    pub(crate) fn admit(self: &Arc<Self>, peer: &Peer) -> Result<Ticket, Refusal> {
        if !take(&self.provisional, self.provisional_max) {
            if take(&self.probation, self.reserved_max) {
                return Ok(Ticket {
                    admission: self.clone(),
                    source: None,
                    standing: Standing::Probation,
                });
            }
            return Err(Refusal::Provisional);
        }
        let source = match peer {
            Peer::Tcp(addr) => Some(addr.ip()),
            // Unix peers share one source: the reserved slots are their protection.
            Peer::Unix => None,
        };
        if let Some(ip) = source {
            let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
            let n = sources.entry(ip).or_insert(0);
            if *n >= self.per_source_max {
                drop(sources);
                self.provisional.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::PerSource);
            }
            *n += 1;
        }
        Ok(Ticket {
            admission: self.clone(),
            source,
            standing: Standing::Provisional,
        })
    }

    /// Bytes of connection buffers currently charged to the budget.
    pub(crate) fn memory_in_use(&self) -> usize {
        self.memory.load(Ordering::Relaxed)
    }

    pub(crate) fn memory_budget(&self) -> usize {
        self.memory_budget
    }

    pub(crate) fn provisional_open(&self) -> usize {
        self.provisional.load(Ordering::Relaxed)
    }

    fn release_provisional(&self, source: Option<IpAddr>) {
        self.provisional.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = source {
            let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = sources.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    sources.remove(&ip);
                }
            }
        }
    }
}

/// Counts one more in `counter` if it stays within `max`.
fn take(counter: &AtomicUsize, max: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// A connection's provisional or probation slot; released on drop, or given up by
/// [`Ticket::promote`].
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    source: Option<IpAddr>,
    standing: Standing,
}

impl Ticket {
    /// The connection proved an allowlisted key: it leaves the provisional pool (and its
    /// source's count) or its probation, and may use the memory budget freely.
    pub(crate) fn promote(&mut self) {
        match self.standing {
            Standing::Provisional => self.admission.release_provisional(self.source),
            Standing::Probation => {
                self.admission.probation.fetch_sub(1, Ordering::AcqRel);
            }
            Standing::Writer => {}
        }
        self.standing = Standing::Writer;
    }

    pub(crate) fn is_writer(&self) -> bool {
        self.standing == Standing::Writer
    }

    /// On a reserved slot: only an allowlisted key's handshake, within [`PROBATION`].
    pub(crate) fn on_probation(&self) -> bool {
        self.standing == Standing::Probation
    }

    /// A memory charge against the same budget.
    pub(crate) fn charge(&self) -> MemoryCharge {
        MemoryCharge {
            admission: self.admission.clone(),
            bytes: 0,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.promote();
    }
}

/// Bytes one connection holds in buffers, charged to the global budget; released on drop.
pub(crate) struct MemoryCharge {
    admission: Arc<Admission>,
    bytes: usize,
}

impl MemoryCharge {
    /// Sets the charge to `bytes`. Returns `false` (and charges anyway: the memory is already
    /// held) if that takes the total over the budget and `privileged` is not set; the caller
    /// then closes the connection, which releases the charge.
    pub(crate) fn set(&mut self, bytes: usize, privileged: bool) -> bool {
        let a = &self.admission;
        let total = if bytes >= self.bytes {
            let grow = bytes - self.bytes;
            a.memory
                .fetch_add(grow, Ordering::AcqRel)
                .saturating_add(grow)
        } else {
            let shrink = self.bytes - bytes;
            a.memory
                .fetch_sub(shrink, Ordering::AcqRel)
                .saturating_sub(shrink)
        };
        let grew = bytes > self.bytes;
        self.bytes = bytes;
        privileged || !grew || total <= a.memory_budget
    }
}

impl Drop for MemoryCharge {
    fn drop(&mut self) {
        self.admission
            .memory
            .fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: usize, reserved: usize, per_source: usize, budget: usize) -> ServerConfig {
        ServerConfig {
            max_connections: max,
            reserved_connections: reserved,
            max_connections_per_source: per_source,
            memory_budget_bytes: budget,
            ..ServerConfig::default()
        }
    }

    fn tcp(ip: [u8; 4]) -> Peer {
        Peer::Tcp((ip, 1000).into())
    }

    #[test]
    /// A reservation of 9 out of 4 is capped at half: 2 provisional slots.
    fn provisional_connections_get_the_reserved_slots_only_on_probation() {
        let a = Admission::new(&config(4, 9, 100, 1));
        let t1 = a.admit(&tcp([10, 0, 0, 1])).unwrap();
        let mut t2 = a.admit(&Peer::Unix).unwrap();
        assert!(!t1.on_probation() && !t2.on_probation());
        let p1 = a.admit(&Peer::Unix).unwrap();
        let mut p2 = a.admit(&Peer::Unix).unwrap();
        assert!(p1.on_probation() && p2.on_probation());
        assert_eq!(a.admit(&Peer::Unix).err(), Some(Refusal::Provisional));
        p2.promote();
        assert!(p2.is_writer() && !p2.on_probation());
        assert!(a.admit(&Peer::Unix).unwrap().on_probation());
        t2.promote();
        let t3 = a.admit(&Peer::Unix).unwrap();
        assert!(!t3.on_probation());
        drop(t1);
        let _t4 = a.admit(&Peer::Unix).unwrap();
        assert_eq!(a.provisional_open(), 2);
        drop(p1);
    }

    #[test]
    fn one_source_gets_its_share_and_others_still_get_in() {
        let a = Admission::new(&config(100, 0, 2, 1));
        let x = [10, 0, 0, 1];
        let _a1 = a.admit(&tcp(x)).unwrap();
        let a2 = a.admit(&tcp(x)).unwrap();
        assert_eq!(a.admit(&tcp(x)).err(), Some(Refusal::PerSource));
        let _b = a.admit(&tcp([10, 0, 0, 2])).unwrap();
        drop(a2);
        let _a3 = a.admit(&tcp(x)).unwrap();
        assert_eq!(a.provisional_open(), 3);
    }

    #[test]
    fn the_memory_budget_refuses_growth_beyond_it_except_for_writers() {
        let a = Admission::new(&config(10, 0, 10, 1000));
        let t = a.admit(&Peer::Unix).unwrap();
        let mut c1 = t.charge();
        let mut c2 = t.charge();
        assert!(c1.set(800, false));
        assert!(!c2.set(300, false), "1100 > 1000");
        assert!(c2.set(100, false), "shrinking is always allowed");
        assert!(c2.set(900, true), "a writer is let through");
        drop(c2);
        assert_eq!(a.memory_in_use(), 800);
        drop(c1);
        assert_eq!(a.memory_in_use(), 0);
    }
}
