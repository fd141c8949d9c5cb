//! `ServerConfig`: every knob of the daemon's network core, with its default.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ServerError;

/// Configuration of the network core, read from TOML (`[server]` table of `keel.toml`, or a
/// file of its own). Every field is optional in TOML; the default is given on each field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Unix domain socket path to listen on; `false` in TOML (`None`) disables it. Default:
    /// `"keel.sock"` relative to the working directory (`keel serve` defaults it to
    /// `<data_dir>/keel.sock`). A stale socket file at that path is replaced; a live one (a
    /// process accepts on it) is an error.
    #[serde(deserialize_with = "path_or_false", serialize_with = "some_or_false")]
    pub unix_socket: Option<PathBuf>,
    /// TCP address to listen on; `false` in TOML (`None`) disables TCP. Default:
    /// `"127.0.0.1:7411"`. An address another process listens on is an error.
    #[serde(deserialize_with = "text_or_false", serialize_with = "some_or_false")]
    pub tcp: Option<String>,
    /// Loopback address of the Prometheus text endpoint (`GET /metrics`); `false` in TOML
    /// (`None`) disables it. Must be a loopback address. Default: `"127.0.0.1:9464"`.
    #[serde(deserialize_with = "text_or_false", serialize_with = "some_or_false")]
    pub metrics: Option<String>,
    /// Pin each io_uring thread to its own core (ring i on CPU i). Worth it on a dedicated
    /// appliance; off by default because the worker pool and other services share the cores.
    /// Default: `false`.
    pub pin_threads: bool,
    /// Use io_uring when the kernel allows it; `false` forces the epoll (tokio) fallback.
    /// Default: `true`.
    pub io_uring: bool,
    /// Network threads: io_uring rings (one per thread) or tokio worker threads. 0 = automatic:
    /// one ring per two cores, at least one (a ring cannot take over another ring's
    /// connections; measurements at `default_rings`), or one tokio worker per core. Default: 0.
    pub io_threads: usize,
    /// Worker threads that run `Service::handle`; 0 = one per core. Default: 0.
    pub workers: usize,
    /// Workers that run only requests of allowlisted writers (every worker takes those first),
    /// so a validator never waits behind other peers' reads or simulations. At most
    /// `workers - 1`. Default: 1.
    pub priority_workers: usize,
    /// Capacity of the worker queue (of each lane: writers', everyone else's); a request arriving when it is full gets `Overloaded`.
    /// Default: 4096.
    pub worker_queue: usize,
    /// Largest accepted frame body in bytes; a larger declared length gets `FrameTooLarge` and
    /// the connection is closed. Default: 16 MiB.
    pub max_frame_bytes: u32,
    /// Requests one connection may have in the worker pool at once; more get `TooManyInFlight`.
    /// Default: 256.
    pub max_in_flight: u32,
    /// Open connections across all listeners; a connection over the limit gets
    /// `TooManyConnections` and is closed. Default: 1024.
    pub max_connections: usize,
    /// A connection with no complete frame and nothing in flight for this long is closed with
    /// `Timeout`. Default: 300 000 ms.
    pub idle_timeout_ms: u64,
    /// A frame must arrive completely within this time of its first byte (slow-loris guard);
    /// otherwise `Timeout` and close. Default: 10 000 ms.
    pub frame_timeout_ms: u64,
    /// Responses queued for a connection that does not read them; beyond this the connection
    /// is closed. Default: 64 MiB.
    pub max_write_buffer_bytes: usize,
    /// A connection that has not proven a key within this time of opening is closed with
    /// `Timeout` (with `open_reads`: one without a request other than `Ping` for this long).
    /// Pings never keep an unauthenticated connection alive. Default: 5 000 ms.
    pub handshake_timeout_ms: u64,
    /// Largest frame body accepted before the connection has authenticated (the handshake
    /// needs under 200 bytes; anonymous reads under `open_reads` fit too). Default: 64 KiB.
    pub max_unauthenticated_frame_bytes: u32,
    /// Connection slots only allowlisted (writer) keys may use: connections that have not
    /// proven a writer key hold at most `max_connections - reserved_connections` (the
    /// reservation is capped at half of `max_connections`). Default: 32.
    pub reserved_connections: usize,
    /// Connections not yet proven to be writers from one IP address; more are refused with
    /// `TooManyConnections`. Unix-socket peers are protected by the reserved slots instead.
    /// Default: 64.
    pub max_connections_per_source: usize,
    /// Bytes all connections together may hold in receive buffers; a connection that is not
    /// an authenticated writer and would take the total over it is closed with `Overloaded`.
    /// Default: 512 MiB.
    pub memory_budget_bytes: usize,
    /// Time given to in-flight requests at shutdown before connections are cut. Default: 30 000 ms.
    pub shutdown_grace_ms: u64,
    /// The server identity bound into the handshake signature: 64 hex digits. Default: none,
    /// a random identity is drawn at start (and logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// Hex BLS public keys (96 hex digits) allowed to mutate state. Default: empty.
    pub allowlist: Vec<String>,
    /// Hex BLS public keys allowed to authenticate read-only. Default: empty.
    pub readers: Vec<String>,
    /// Opens read-only requests to everyone: unauthenticated peers and any key that proves
    /// possession. Default: `false`.
    pub open_reads: bool,
    /// io_uring submission queue entries per ring (completion queue is 4x). Default: 1024.
    pub ring_entries: u32,
    /// Provided receive buffers per ring (a power of two, at most 32768). Default: 512.
    pub recv_buffers: u16,
    /// Size of each provided receive buffer in bytes. Default: 16 384.
    pub recv_buffer_bytes: u32,
    /// io_uring batching: once a wait has lasted this many microseconds, return on the first
    /// completion, but until then wait for up to 64 (kernel 6.12+; fewer wake-ups under load,
    /// up to this much added latency when idle). Applies to waits in `io_uring_enter` (with
    /// `ring_sleeps_in_epoll`, only while a send, close or cancel is in flight). 0 = wake on
    /// every completion. Default: 0.
    pub ring_min_wait_us: u32,
    /// io_uring: an idle ring sleeps in `epoll_wait` on its sockets instead of in
    /// `io_uring_enter`. epoll passes on the socket's sync wake-up hint, so the scheduler runs
    /// the woken ring next to the client that woke it, as it runs epoll's workers (traced:
    /// cross-core wake-ups of the ring fall from 21–52 % to under 1 %). Off by default: it
    /// costs one `epoll_ctl` per connection and two more syscalls per sleep, and requests
    /// answered through the worker pool (`Status`) measured slower with it at one client
    /// (p50 ~100 µs against ~75 µs). Default: false.
    pub ring_sleeps_in_epoll: bool,
    /// io_uring: before sleeping, a ring that has just answered polls shared memory this many
    /// microseconds for the next completion (an idle core's wake-up saved per request on a
    /// quiet machine); a poll that finds nothing turns polling off for the next 256 sleeps, so
    /// an idle ring does not spin. 0 = never poll. At most 1000. Default: 100.
    pub ring_busy_poll_us: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            unix_socket: Some(PathBuf::from("keel.sock")),
            tcp: Some("127.0.0.1:7411".into()),
            metrics: Some("127.0.0.1:9464".into()),
            pin_threads: false,
            io_uring: true,
            io_threads: 0,
            workers: 0,
            priority_workers: 1,
            worker_queue: 4096,
            max_frame_bytes: 16 * 1024 * 1024,
            max_in_flight: 256,
            max_connections: 1024,
            idle_timeout_ms: 300_000,
            frame_timeout_ms: 10_000,
            max_write_buffer_bytes: 64 * 1024 * 1024,
            handshake_timeout_ms: 5_000,
            max_unauthenticated_frame_bytes: 64 * 1024,
            reserved_connections: 32,
            max_connections_per_source: 64,
            memory_budget_bytes: 512 * 1024 * 1024,
            shutdown_grace_ms: 30_000,
            server_id: None,
            allowlist: Vec::new(),
            readers: Vec::new(),
            open_reads: false,
            ring_entries: 1024,
            recv_buffers: 512,
            recv_buffer_bytes: 16 * 1024,
            ring_min_wait_us: 0,
            ring_sleeps_in_epoll: false,
            ring_busy_poll_us: 100,
        }
    }
}

impl ServerConfig {
    /// Parses a TOML document (missing fields take their defaults, unknown fields are errors).
    pub fn from_toml(text: &str) -> Result<ServerConfig, ServerError> {
        toml::from_str(text).map_err(|e| ServerError::Config(e.to_string()))
    }

    /// A configuration for tests and benchmarks: TCP on an ephemeral loopback port, no Unix
    /// socket, metrics on an ephemeral loopback port.
    pub fn ephemeral() -> ServerConfig {
        ServerConfig {
            unix_socket: None,
            tcp: Some("127.0.0.1:0".into()),
            metrics: Some("127.0.0.1:0".into()),
            ..ServerConfig::default()
        }
    }

    pub(crate) fn tcp_addr(&self) -> Result<Option<SocketAddr>, ServerError> {
        parse_addr(self.tcp.as_deref(), "tcp")
    }

    pub(crate) fn metrics_addr(&self) -> Result<Option<SocketAddr>, ServerError> {
        let addr = parse_addr(self.metrics.as_deref(), "metrics")?;
        if let Some(a) = addr
            && !a.ip().is_loopback()
        {
            return Err(ServerError::Config(format!(
                "metrics address {a} is not loopback"
            )));
        }
        Ok(addr)
    }

    /// io_uring rings to run: `io_threads`, or [`default_rings`] for 0.
    pub(crate) fn rings(&self) -> usize {
        if self.io_threads == 0 {
            default_rings(cores())
        } else {
            self.io_threads
        }
    }

    /// tokio worker threads of the epoll fallback: `io_threads`, or one per core for 0.
    pub(crate) fn epoll_threads(&self) -> usize {
        if self.io_threads == 0 {
            cores()
        } else {
            self.io_threads
        }
    }

    pub(crate) fn workers(&self) -> usize {
        if self.workers == 0 {
            cores()
        } else {
            self.workers
        }
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub(crate) fn frame_timeout(&self) -> Duration {
        Duration::from_millis(self.frame_timeout_ms)
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// The frame limit before authentication (never above `max_frame_bytes`).
    pub(crate) fn unauthenticated_frame_bytes(&self) -> u32 {
        self.max_unauthenticated_frame_bytes
            .min(self.max_frame_bytes)
    }

    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// How often timeouts are checked: a quarter of the shortest timeout, within 5 ms..250 ms.
    pub(crate) fn tick(&self) -> Duration {
        let shortest = self
            .idle_timeout_ms
            .min(self.frame_timeout_ms)
            .min(self.handshake_timeout_ms)
            / 4;
        Duration::from_millis(shortest.clamp(5, 250))
    }

    /// Checks every value before anything is bound: a listener exists, addresses parse, sizes
    /// and limits are in range, timeouts are positive (a zero timeout closes every connection).
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |m: &str| Err(ServerError::Config(m.to_string()));
        if self.unix_socket.is_none() && self.tcp.is_none() {
            return bad("no listener: set unix_socket or tcp");
        }
        self.tcp_addr()?;
        self.metrics_addr()?;
        if self.idle_timeout_ms == 0 || self.frame_timeout_ms == 0 {
            return bad("idle_timeout_ms and frame_timeout_ms must be positive");
        }
        if self.max_frame_bytes < 1024 {
            return bad("max_frame_bytes must be at least 1024");
        }
        if !self.recv_buffers.is_power_of_two() || self.recv_buffers > 32768 {
            return bad("recv_buffers must be a power of two, at most 32768");
        }
        if self.recv_buffer_bytes < 256 {
            return bad("recv_buffer_bytes must be at least 256");
        }
        if self.max_in_flight == 0 || self.max_connections == 0 || self.worker_queue == 0 {
            return bad("max_in_flight, max_connections and worker_queue must be positive");
        }
        if self.ring_busy_poll_us > 1000 {
            return bad("ring_busy_poll_us must be at most 1000");
        }
        if self.max_frame_bytes > keel_protocol::frame::ABSOLUTE_MAX_BODY {
            return bad("max_frame_bytes exceeds the protocol's 64 MiB limit");
        }
        Ok(())
    }
}

/// A string, or `false` for "disabled".
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrFalse {
    Text(String),
    Flag(bool),
}

fn text_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match TextOrFalse::deserialize(d)? {
        TextOrFalse::Text(t) => Ok(Some(t)),
        TextOrFalse::Flag(false) => Ok(None),
        TextOrFalse::Flag(true) => Err(serde::de::Error::custom(
            "expected an address, or false to disable",
        )),
    }
}

fn path_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    text_or_false(d).map(|t| t.map(PathBuf::from))
}

fn some_or_false<T: Serialize, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => v.serialize(s),
        None => s.serialize_bool(false),
    }
}

fn parse_addr(text: Option<&str>, what: &str) -> Result<Option<SocketAddr>, ServerError> {
    text.map(|t| {
        t.parse()
            .map_err(|e| ServerError::Config(format!("{what} address {t:?}: {e}")))
    })
    .transpose()
}

/// Rings for `cores` cores when `io_threads` is 0: one per two cores, at least one.
///
/// Why not one per core, as tokio's workers: a ring serves only its own connections and
/// cannot take over another's, so every extra ring is one more thread whose connections wait
/// whenever it waits for a core, and the traffic split over more rings leaves each ring idle
/// more often, to be woken (on a VM, its idle vCPU too) for the next arrival. One ring carries
/// millions of small requests per second; the cores left over run the worker pool and the
/// peers. Measured on a 2-vCPU VM, 64 pipelining clients (`serve_bench`, 3 pooled rounds,
/// median of 6 runs alternating old and new): p99 io_uring vs epoll 4.3 vs 2.0 ms with two
/// rings (io_uring ahead in 1 run of 6), 1.05 vs 1.7 ms with one (6 of 6), p50 equal. Under a
/// CPU hog per core neither count keeps io_uring's p99 at epoll's (both ~7 ms).
pub(crate) fn default_rings(cores: usize) -> usize {
    (cores / 2).max(1)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_toml_gives_the_documented_defaults() {
        let c = ServerConfig::from_toml("").unwrap();
        assert_eq!(c.tcp.as_deref(), Some("127.0.0.1:7411"));
        assert!(c.io_uring);
        assert_eq!(c.max_frame_bytes, 16 * 1024 * 1024);
        assert!(!c.ring_sleeps_in_epoll);
        assert_eq!(c.ring_busy_poll_us, 100);
        c.validate().unwrap();
    }

    #[test]
    fn toml_overrides_and_unknown_keys_are_reported() {
        let c = ServerConfig::from_toml("io_uring = false\nmax_in_flight = 8\n").unwrap();
        assert!(!c.io_uring);
        assert_eq!(c.max_in_flight, 8);
        assert!(ServerConfig::from_toml("no_such_knob = 1").is_err());
    }

    #[test]
    fn listeners_are_turned_off_with_false_and_true_is_refused() {
        let c = ServerConfig::from_toml("tcp = false\nmetrics = false\n").unwrap();
        assert_eq!((c.tcp, c.metrics), (None, None));
        assert!(c.unix_socket.is_some());
        let c = ServerConfig::from_toml("unix_socket = false\n").unwrap();
        assert_eq!(c.unix_socket, None);
        assert!(ServerConfig::from_toml("tcp = true").is_err());
        let both = ServerConfig::from_toml("tcp = false\nunix_socket = false\n").unwrap();
        assert!(both.validate().is_err());
    }

    #[test]
    fn zero_timeouts_and_bad_addresses_are_refused_by_validate() {
        for text in [
            "idle_timeout_ms = 0",
            "frame_timeout_ms = 0",
            "tcp = \"nonsense\"",
            "metrics = \"10.0.0.1:9464\"",
            "max_frame_bytes = 10",
            "ring_busy_poll_us = 1001",
        ] {
            let c = ServerConfig::from_toml(text).unwrap();
            assert!(c.validate().is_err(), "{text} was accepted");
        }
    }

    #[test]
    fn automatic_io_threads_give_one_ring_per_two_cores_and_one_epoll_worker_per_core() {
        let table = [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (16, 8), (0, 1)];
        for (cores, rings) in table {
            assert_eq!(default_rings(cores), rings, "{cores} cores");
        }
        let auto = ServerConfig::default();
        assert_eq!(auto.rings(), default_rings(cores()));
        assert_eq!(auto.epoll_threads(), cores());
        let explicit = ServerConfig {
            io_threads: 3,
            ..ServerConfig::default()
        };
        assert_eq!((explicit.rings(), explicit.epoll_threads()), (3, 3));
    }

    #[test]
    fn a_non_loopback_metrics_address_is_refused() {
        let c = ServerConfig {
            metrics: Some("0.0.0.0:9464".into()),
            ..ServerConfig::default()
        };
        assert!(c.metrics_addr().is_err());
    }
}
