//! Spreading connections evenly over the rings.
//!
//! Each ring accepts on its own SO_REUSEPORT listener, where the kernel picks the ring by a
//! hash of the connection's addresses, and on the shared Unix listener, where the ring whose
//! accept runs first wins. Either can pile most connections onto one ring: with 4 clients on
//! 2 rings, a 3:1 or 4:0 split is more likely than 2:2. A ring's connections are served by its
//! thread alone, so on a busy host (every core shared with other work) the loaded ring's
//! thread gets one fair share of a core for all of them while the other ring idles, and when
//! it is descheduled all of them wait (an epoll runtime steals the waiting work instead).
//! Measured with `keel bench serve --contention contended`, that imbalance made io_uring's
//! p99 worse than epoll's at 4 and 64 clients. So an accepted connection goes to the ring
//! with the fewest connections, handed over through that ring's inbox.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Inbox;

/// An accepted connection on its way to another ring.
pub(crate) struct Handoff {
    /// The accepted socket.
    pub(crate) file: File,
    /// Accepted on the TCP listener (else the Unix one).
    pub(crate) tcp: bool,
}

/// Every ring's inbox and connection count.
pub(crate) struct Balance {
    rings: Vec<Seat>,
}

struct Seat {
    inbox: Arc<Inbox>,
    /// Connections placed on this ring and not yet released (handed over or open).
    load: AtomicUsize,
}

impl Balance {
    /// One seat per inbox; ring `i` owns `inboxes[i]`.
    pub(crate) fn new(inboxes: Vec<Arc<Inbox>>) -> Arc<Balance> {
        Arc::new(Balance {
            rings: inboxes
                .into_iter()
                .map(|inbox| Seat {
                    inbox,
                    load: AtomicUsize::new(0),
                })
                .collect(),
        })
    }

    /// Ring `index`'s inbox (`None` for an index that has no ring).
    pub(crate) fn inbox(&self, index: usize) -> Option<&Arc<Inbox>> {
        self.rings.get(index).map(|s| &s.inbox)
    }

    /// Chooses the ring for a connection ring `me` accepted and counts it there: the least
    /// loaded, `me` on a tie (no hand-over when nothing is gained). Concurrent placements may
    /// both pick the same ring; the counts stay exact, the balance off by at most one per ring.
    pub(crate) fn place(&self, me: usize) -> usize {
        let load = |i: usize| {
            self.rings
                .get(i)
                .map_or(usize::MAX, |s| s.load.load(Ordering::Relaxed))
        };
        let mut best = me;
        for i in 0..self.rings.len() {
            if load(i) < load(best) {
                best = i;
            }
        }
        if let Some(s) = self.rings.get(best) {
            s.load.fetch_add(1, Ordering::Relaxed);
        }
        best
    }

    /// A connection placed on ring `index` is gone (closed, refused, or dropped at shutdown).
    pub(crate) fn release(&self, index: usize) {
        if let Some(s) = self.rings.get(index) {
            // Saturating: a release never outnumbers its placement, but never wraps either.
            let _ = s
                .load
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Gives a placed connection to ring `index` and wakes it. `false` (the connection is
    /// closed and released) if there is no such ring.
    pub(crate) fn hand_over(&self, index: usize, handoff: Handoff) -> bool {
        match self.rings.get(index) {
            Some(s) => {
                s.inbox.hand_over(handoff);
                true
            }
            None => false,
        }
    }

    /// Connections currently counted on ring `index`.
    #[cfg(test)]
    pub(crate) fn load(&self, index: usize) -> usize {
        self.rings
            .get(index)
            .map_or(0, |s| s.load.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn balance(rings: usize) -> Arc<Balance> {
        Balance::new((0..rings).map(|_| Inbox::new().unwrap()).collect())
    }

    #[test]
    fn connections_accepted_by_one_ring_are_spread_evenly_over_all_rings() {
        let b = balance(3);
        let placed: Vec<usize> = (0..9).map(|_| b.place(0)).collect();
        assert_eq!(placed, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
        assert_eq!((b.load(0), b.load(1), b.load(2)), (3, 3, 3));
    }

    #[test]
    fn a_ring_keeps_its_connection_on_a_tie_and_a_released_slot_is_refilled_first() {
        let b = balance(2);
        assert_eq!(b.place(1), 1, "no hand-over when the rings are even");
        assert_eq!(b.place(1), 0);
        b.release(0);
        assert_eq!(
            b.place(1),
            0,
            "the ring that lost a connection gets the next one"
        );
        b.release(0);
        b.release(0);
        assert_eq!(b.load(0), 0, "a release never wraps below zero");
    }
}
