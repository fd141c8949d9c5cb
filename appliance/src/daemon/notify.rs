//! The service manager's view of the daemon (systemd `Type=notify`): `READY=1` once listeners
//! and kernel programs are up, `WATCHDOG=1` while the network event loops are alive, and
//! `STOPPING=1` at shutdown. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use sd_notify::NotifyState;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Notifications to the service manager, with the watchdog's pace.
pub struct Supervisor {
    /// Connected to `NOTIFY_SOCKET` during the privileged start: the sandboxed daemon may not
    /// be able to reach the socket's path any more (another user, Landlock), but it keeps the
    /// descriptor.
    socket: Option<UnixDatagram>,
    /// Half the manager's `WatchdogSec=` (systemd's advice), or `None` without a watchdog.
    ping_every: Option<Duration>,
    last_ping: Instant,
}

impl Supervisor {
    /// Reads the watchdog interval the manager set (`WATCHDOG_USEC`, for this process only)
    /// and connects to its notification socket. Call before the privileges are dropped.
    pub fn from_env() -> Supervisor {
        Supervisor {
            socket: std::env::var_os("NOTIFY_SOCKET").and_then(|p| match connect(&p) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("cannot reach the service manager's NOTIFY_SOCKET: {e}");
                    None
                }
            }),
            ping_every: sd_notify::watchdog_enabled().map(|d| d / 2),
            last_ping: Instant::now(),
        }
    }

    /// Start-up is complete: the daemon accepts connections.
    pub fn ready(&mut self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
        self.last_ping = Instant::now();
    }

    /// Called from the daemon's main loop: pings the watchdog when one is due and the event
    /// loops are `alive`. A daemon whose loops died stops pinging, so the manager restarts it.
    pub fn tick(&mut self, alive: bool) {
        let Some(every) = self.ping_every else {
            return;
        };
        if alive && self.last_ping.elapsed() >= every {
            self.send(&[NotifyState::Watchdog]);
            self.last_ping = Instant::now();
        }
    }

    /// Shutdown has begun (in-flight requests are being finished).
    pub fn stopping(&self) {
        self.send(&[
            NotifyState::Stopping,
            NotifyState::Status("finishing in-flight requests"),
        ]);
    }
}

/// A datagram socket connected to `path` (`@name`: Linux's abstract namespace).
fn connect(path: &std::ffi::OsStr) -> std::io::Result<UnixDatagram> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    let addr = match path.as_bytes().strip_prefix(b"@") {
        Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name)?,
        None => std::os::unix::net::SocketAddr::from_pathname(path)?,
    };
    socket.connect_addr(&addr)?;
    Ok(socket)
}

impl Supervisor {
    fn send(&self, states: &[NotifyState]) {
        let Some(socket) = &self.socket else { return };
        let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
        if let Err(e) = socket.send(msg.as_bytes()) {
            // The daemon keeps serving: a lost notification is the manager's timeout to report.
            tracing::warn!("cannot notify the service manager: {e}");
        }
    }
}
