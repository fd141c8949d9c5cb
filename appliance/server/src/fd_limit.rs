//! Raising the open-file limit to what `max_connections` needs.
//!
//! The usual soft limit (1 024) is below the default `max_connections` plus the descriptors
//! the daemon needs itself (database, listeners, rings, eventfds); past it every `accept`
//! fails with EMFILE. Raising the soft limit up to the hard limit needs no privilege.

/// Descriptors beyond one per connection: the state database, audit log, listeners, io_uring
/// rings and eventfds, the metrics endpoint and its scrapes, kernel program maps.
const OVERHEAD: u64 = 256;

/// Raises `RLIMIT_NOFILE`'s soft limit to cover `connections` plus the daemon's own needs,
/// within the hard limit (and the hard limit too when privileged). Returns the soft limit now
/// in force; logs a warning when it is still short. Never lowers a limit.
pub(crate) fn raise_for(connections: usize) -> u64 {
    let want = (connections as u64).saturating_add(OVERHEAD);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur >= want {
        return lim.rlim_cur;
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max.max(want),
    };
    // SAFETY: setrlimit reads the struct we pass. Raising the hard limit needs privilege;
    // without it fall back to the hard limit we have.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        tracing::info!(from = lim.rlim_cur, to = want, "raised the open-file limit");
        return want;
    }
    let capped = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: as above; the soft limit may always rise to the hard one.
    let now = if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } == 0 {
        lim.rlim_max
    } else {
        lim.rlim_cur
    };
    tracing::warn!(
        limit = now,
        needed = want,
        "open-file limit below what max_connections needs; raise it (LimitNOFILE=) or lower max_connections"
    );
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_covers_the_connections_afterwards() {
        let now = raise_for(2_000);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, now);
        assert!(now >= 2_000 + OVERHEAD || now == lim.rlim_max);
    }
}
