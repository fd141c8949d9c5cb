//! The bounded, self-disabling busy-poll a ring makes before it sleeps.
//!
//! Why: on an otherwise idle machine the client and the ring ping-pong across cores, and each
//! sleep costs an idle core's wake-up when the next request comes (traced at one client on a
//! quiet 2-vCPU VM: 97 % of the ring's wake-ups crossed cores, 37 µs at the median, for a
//! p50 of about 90 µs on both backends whether the ring slept in epoll or in the ring). A ring
//! that has just answered usually gets the next request within tens of microseconds: watching
//! shared memory for that long (`IORING_SQ_TASKRUN`, the completion queue) replaces the sleep
//! and the wake-up with loads (quiet 1-client p50 24–30 µs in 3 of 3 runs at 100 µs, against
//! 1 of 5 runs without).
//!
//! The poll can also hurt: on a busy machine the client the answer woke may be queued on this
//! very core and cannot send the next request until the poll gives up. So a poll that finds
//! nothing is taken as a sign that polling does not pay here (that, or sparse traffic), and
//! the next [`SKIP_AFTER_MISS`] waits sleep at once. Yielding the core instead was measured and
//! rejected: under CPU contention the yield hands the core to a CPU hog for a whole time slice
//! (p99 8–13 ms).

use std::time::{Duration, Instant};

/// Checks made between two reads of the clock (the clock is the dearer of the two).
const CHECKS_PER_CLOCK: u32 = 32;

/// Waits that sleep at once after a poll found nothing: a miss costs its budget at most once
/// in this many waits (under 1 %, so it does not set the p99).
pub(super) const SKIP_AFTER_MISS: u32 = 256;

/// Whether the ring polls before its next sleep.
#[derive(Debug)]
pub(super) struct BusyPoll {
    budget: Duration,
    /// Waits left to sleep at once since the last miss.
    skip: u32,
}

impl BusyPoll {
    /// A policy polling for `budget` (zero: never polls).
    pub(super) fn new(budget: Duration) -> BusyPoll {
        BusyPoll { budget, skip: 0 }
    }

    /// Polls `pending` for the budget unless a recent miss says not to; `true` if something
    /// became pending. A miss makes the next [`SKIP_AFTER_MISS`] calls return `false` at once.
    pub(super) fn poll(&mut self, pending: impl FnMut() -> bool) -> bool {
        if self.budget.is_zero() {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        let found = poll_until(self.budget, pending);
        if !found {
            self.skip = SKIP_AFTER_MISS;
        }
        found
    }
}

/// Spins until `pending()` is true or `budget` has passed since the call; returns whether
/// something became pending. Checks at least once.
fn poll_until(budget: Duration, mut pending: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..CHECKS_PER_CLOCK {
            if pending() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= budget {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_returns_as_soon_as_work_is_pending() {
        let mut checks = 0;
        let found = poll_until(Duration::from_secs(3600), || {
            checks += 1;
            checks == 100
        });
        assert!(found);
        assert_eq!(checks, 100, "no check after the one that found work");
    }

    #[test]
    fn the_poll_gives_up_once_its_budget_has_passed() {
        let budget = Duration::from_millis(5);
        let started = Instant::now();
        let mut checks = 0u64;
        assert!(!poll_until(budget, || {
            checks += 1;
            false
        }));
        assert!(started.elapsed() >= budget, "gave up early");
        assert!(checks >= u64::from(CHECKS_PER_CLOCK));
    }

    #[test]
    fn a_poll_that_finds_nothing_makes_the_next_waits_sleep_at_once() {
        let mut p = BusyPoll::new(Duration::from_micros(50));
        assert!(p.poll(|| true), "a hit keeps polling on");
        let mut checked = false;
        assert!(!p.poll(|| false));
        for _ in 0..SKIP_AFTER_MISS {
            assert!(!p.poll(|| {
                checked = true;
                true
            }));
        }
        assert!(!checked, "skipped waits do not poll");
        assert!(p.poll(|| true), "polling resumes after the skip");
    }

    #[test]
    fn a_zero_budget_never_polls() {
        let mut p = BusyPoll::new(Duration::ZERO);
        assert!((0..1000).all(|_| !p.poll(|| true)));
    }
}
