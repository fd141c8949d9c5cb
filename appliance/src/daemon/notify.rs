//! The service manager's view of the daemon (systemd `Type=notify`): `READY=1` once listeners
//! and kernel programs are up, `WATCHDOG=1` while the network event loops are alive, and
//! `STOPPING=1` at shutdown. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use sd_notify::NotifyState;
use std::time::{Duration, Instant};

/// Notifications to the service manager, with the watchdog's pace.
pub struct Supervisor {
    /// Half the manager's `WatchdogSec=` (systemd's advice), or `None` without a watchdog.
    ping_every: Option<Duration>,
    last_ping: Instant,
}

impl Supervisor {
    /// Reads the watchdog interval the manager set (`WATCHDOG_USEC`, for this process only).
    pub fn from_env() -> Supervisor {
        Supervisor {
            ping_every: sd_notify::watchdog_enabled().map(|d| d / 2),
            last_ping: Instant::now(),
        }
    }

    /// Start-up is complete: the daemon accepts connections.
    pub fn ready(&mut self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
        self.last_ping = Instant::now();
    }

    /// Called from the daemon's main loop: pings the watchdog when one is due and the event
    /// loops are `alive`. A daemon whose loops died stops pinging, so the manager restarts it.
    pub fn tick(&mut self, alive: bool) {
        let Some(every) = self.ping_every else {
            return;
        };
        if alive && self.last_ping.elapsed() >= every {
            send(&[NotifyState::Watchdog]);
            self.last_ping = Instant::now();
        }
    }

    /// Shutdown has begun (in-flight requests are being finished).
    pub fn stopping(&self) {
        send(&[
            NotifyState::Stopping,
            NotifyState::Status("finishing in-flight requests"),
        ]);
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        // The daemon keeps serving: a lost notification is the manager's timeout to report.
        tracing::warn!("cannot notify the service manager: {e}");
    }
}
