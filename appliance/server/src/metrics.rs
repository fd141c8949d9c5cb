//! Prometheus text metrics: counters and latency histograms kept with atomics, and a tiny
//! loopback HTTP endpoint that serves them.
//!
//! The endpoint answers `GET /metrics` (any other path: 404) with HTTP/1.0 and closes: scrapers
//! need nothing more, so a full HTTP stack would be dead weight in the daemon. Each scrape runs
//! on its own short-lived thread (at most `MAX_SCRAPES` at once) with a deadline for the whole
//! exchange, so a client that trickles its request cannot block the others.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keel_protocol::{ErrorCode, RequestKind};

use crate::admission::Admission;
use crate::error::ServerError;
use crate::service::Service;

/// Latency bucket upper bounds in microseconds.
const BUCKETS_US: [u64; 16] = [
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];
/// Kind codes are small (requests are 0x01..=0x0B); one slot per possible code below this.
const KIND_SLOTS: usize = 16;
const CODE_SLOTS: usize = 32;

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: u64) {
        if let Some(i) = BUCKETS_US.iter().position(|&b| us <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// Per-request counters, sharded by thread: network threads bump them on every request, and
/// a single shared cache line would bounce between cores at every increment.
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    requests: [AtomicU64; KIND_SLOTS],
    errors: [AtomicU64; CODE_SLOTS],
    in_flight: AtomicI64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

const SHARDS: usize = 8;

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// The server's counters. Shared by every network and worker thread.
#[derive(Default)]
pub(crate) struct Metrics {
    shards: [Shard; SHARDS],
    latency: [Histogram; KIND_SLOTS],
    pub(crate) connections_open: AtomicI64,
    pub(crate) connections_total: AtomicU64,
    ring_teardowns_freed: AtomicU64,
    ring_teardowns_leaked: AtomicU64,
    ring_teardown_operations: AtomicU64,
    ring_teardown_operations_left: AtomicU64,
}

impl Metrics {
    fn shard(&self) -> &Shard {
        &self.shards[shard_index()]
    }

    fn sum(&self, f: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn request(&self, kind: RequestKind) {
        if let Some(c) = self.shard().requests.get(kind as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        self.shard().bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        self.shard()
            .bytes_out
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Adjusts the in-flight gauge (incremented on dispatch, decremented by the worker).
    pub(crate) fn in_flight(&self, delta: i64) {
        self.shard().in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    pub(crate) fn latency(&self, kind: RequestKind, elapsed: Duration) {
        if let Some(h) = self.latency.get(kind as usize) {
            h.observe(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        }
    }

    /// Records one io_uring teardown: `operations` were in flight when it began, `left` when
    /// it freed (`freed`) or leaked the ring's memory.
    pub(crate) fn ring_teardown(&self, operations: usize, left: usize, freed: bool) {
        let outcome = if freed {
            &self.ring_teardowns_freed
        } else {
            &self.ring_teardowns_leaked
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        self.ring_teardown_operations
            .fetch_add(operations as u64, Ordering::Relaxed);
        self.ring_teardown_operations_left
            .fetch_add(left as u64, Ordering::Relaxed);
    }

    /// The teardown counters: (freed, leaked, operations at start, operations left).
    #[cfg(test)]
    pub(crate) fn ring_teardowns(&self) -> [u64; 4] {
        [
            &self.ring_teardowns_freed,
            &self.ring_teardowns_leaked,
            &self.ring_teardown_operations,
            &self.ring_teardown_operations_left,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }

    pub(crate) fn error(&self, code: ErrorCode) {
        if let Some(c) = self.shard().errors.get(code as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Renders the page: the server's metrics, then the service's own lines.
    pub(crate) fn render(
        &self,
        backend: &str,
        admission: &Admission,
        service: &dyn Service,
    ) -> String {
        let mut out = String::with_capacity(8192);
        let _ = writeln!(
            out,
            "# HELP keel_server_info Network backend in use.\n# TYPE keel_server_info gauge"
        );
        let _ = writeln!(out, "keel_server_info{{backend=\"{backend}\"}} 1");
        let _ = writeln!(
            out,
            "# HELP keel_requests_total Requests received, by kind.\n# TYPE keel_requests_total counter"
        );
        for kind in RequestKind::ALL {
            let n = self.sum(|s| &s.requests[*kind as usize % KIND_SLOTS]);
            let _ = writeln!(out, "keel_requests_total{{kind=\"{}\"}} {n}", kind.name());
        }
        let _ = writeln!(
            out,
            "# HELP keel_errors_total Error responses sent, by code.\n# TYPE keel_errors_total counter"
        );
        for code in ErrorCode::ALL {
            let n = self.sum(|s| &s.errors[*code as usize % CODE_SLOTS]);
            let _ = writeln!(out, "keel_errors_total{{code=\"{}\"}} {n}", code.name());
        }
        let _ = writeln!(
            out,
            "# HELP keel_request_duration_seconds Time from dispatch to response, by kind.\n# TYPE keel_request_duration_seconds histogram"
        );
        for kind in RequestKind::ALL {
            let Some(h) = self.latency.get(*kind as usize) else {
                continue;
            };
            let name = kind.name();
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS_US.iter().zip(&h.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "keel_request_duration_seconds_bucket{{kind=\"{name}\",le=\"{}\"}} {cumulative}",
                    seconds(*bound)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "keel_request_duration_seconds_bucket{{kind=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "keel_request_duration_seconds_sum{{kind=\"{name}\"}} {}",
                seconds(h.sum_us.load(Ordering::Relaxed))
            );
            let _ = writeln!(
                out,
                "keel_request_duration_seconds_count{{kind=\"{name}\"}} {count}"
            );
        }
        for (name, help, kind, value) in [
            (
                "keel_connections_open",
                "Open connections.",
                "gauge",
                self.connections_open.load(Ordering::Relaxed),
            ),
            (
                "keel_connections_provisional",
                "Open connections not (yet) authenticated as an allowlisted writer.",
                "gauge",
                admission.provisional_open() as i64,
            ),
            (
                "keel_connection_buffer_bytes",
                "Receive-buffer bytes held by all connections (see memory_budget_bytes).",
                "gauge",
                admission.memory_in_use() as i64,
            ),
            (
                "keel_connection_buffer_budget_bytes",
                "The global receive-buffer budget.",
                "gauge",
                admission.memory_budget() as i64,
            ),
            (
                "keel_in_flight_requests",
                "Requests in the worker pool.",
                "gauge",
                self.shards
                    .iter()
                    .map(|s| s.in_flight.load(Ordering::Relaxed))
                    .sum(),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        for (name, help, value) in [
            (
                "keel_connections_total",
                "Connections accepted.",
                self.connections_total.load(Ordering::Relaxed),
            ),
            (
                "keel_received_bytes_total",
                "Bytes received.",
                self.sum(|s| &s.bytes_in),
            ),
            (
                "keel_sent_bytes_total",
                "Bytes sent.",
                self.sum(|s| &s.bytes_out),
            ),
            (
                "keel_ring_teardowns_freed_total",
                "io_uring teardowns that cancelled and reaped every operation, then freed.",
                self.ring_teardowns_freed.load(Ordering::Relaxed),
            ),
            (
                "keel_ring_teardowns_leaked_total",
                "io_uring teardowns that could not drain and leaked the ring's memory instead.",
                self.ring_teardowns_leaked.load(Ordering::Relaxed),
            ),
            (
                "keel_ring_teardown_operations_total",
                "Operations in flight when io_uring rings were torn down.",
                self.ring_teardown_operations.load(Ordering::Relaxed),
            ),
            (
                "keel_ring_teardown_operations_left_total",
                "Operations still in flight when a teardown ended (non-zero only if it leaked).",
                self.ring_teardown_operations_left.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        service.write_metrics(&mut out);
        out
    }
}

/// Microseconds as a decimal number of seconds, without floating point.
fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// The metrics HTTP endpoint's thread.
pub(crate) struct MetricsEndpoint {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// Binds the endpoint's loopback listener (non-blocking).
    pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
        let listen_err = |source| ServerError::Listen {
            what: format!("metrics {addr}"),
            source,
        };
        let listener = TcpListener::bind(addr).map_err(listen_err)?;
        listener.set_nonblocking(true).map_err(listen_err)?;
        Ok(listener)
    }

    /// Serves `render` on a listener from [`bind`](Self::bind).
    pub(crate) fn start(
        listener: TcpListener,
        render: impl Fn() -> String + Send + Sync + 'static,
    ) -> Result<MetricsEndpoint, ServerError> {
        let render: Render = Arc::new(render);
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                what: "metrics".into(),
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("keel-metrics".into())
            .spawn(move || serve(listener, &stop2, &render))
            .map_err(|source| ServerError::Spawn {
                what: "metrics thread",
                source,
            })?;
        Ok(MetricsEndpoint {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Scrapes served at once; a further connection gets `503` at once. Each has its own thread,
/// so one slow or silent client never delays another scrape.
const MAX_SCRAPES: usize = 4;
/// A scrape must have sent its request head and taken its answer within this time.
const SCRAPE_DEADLINE: Duration = Duration::from_secs(2);

type Render = Arc<dyn Fn() -> String + Send + Sync>;

fn serve(listener: TcpListener, stop: &AtomicBool, render: &Render) {
    keel_sandbox::enter(keel_sandbox::ThreadClass::Metrics);
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Acquire) {
        keel_sandbox::checkpoint();
        match listener.accept() {
            Ok((stream, _)) => {
                let admitted = active
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < MAX_SCRAPES).then_some(n + 1)
                    })
                    .is_ok();
                if !admitted {
                    let _ = stream.set_nonblocking(true);
                    let _ = (&stream).write_all(
                        b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
                    );
                    continue;
                }
                let (done, render) = (active.clone(), render.clone());
                let spawned = std::thread::Builder::new()
                    .name("keel-metrics-scrape".into())
                    .spawn(move || {
                        answer(stream, render.as_ref());
                        done.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    tracing::warn!("cannot spawn a metrics scrape thread");
                    active.fetch_sub(1, Ordering::AcqRel);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Reads one request head (bounded in size and in total time, not per read: one byte every
/// second must not keep the thread) and answers it.
fn answer(mut stream: TcpStream, render: &(dyn Fn() -> String + Send + Sync)) {
    let deadline = Instant::now() + SCRAPE_DEADLINE;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(SCRAPE_DEADLINE));
    let mut req = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while req.len() < 8192 && !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let response = if req.starts_with(b"GET /metrics ") || req.starts_with(b"GET / ") {
        let body = render();
        format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
    };
    let _ = stream.write_all(response.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_printed_without_floats() {
        assert_eq!(seconds(25), "0.000025");
        assert_eq!(seconds(5_000_000), "5.000000");
    }

    #[test]
    fn a_histogram_counts_into_the_first_bucket_that_fits() {
        let h = Histogram::default();
        h.observe(30);
        h.observe(10_000_000);
        assert_eq!(h.buckets[1].load(Ordering::Relaxed), 1);
        assert_eq!(h.count.load(Ordering::Relaxed), 2);
    }
}
