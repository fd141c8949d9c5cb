//! The serving load test behind `keel bench serve`: the same pipelined workload against an
//! io_uring server and an epoll server in one run, with throughput, p50/p99 latency, and a
//! check that every request got exactly its own answer.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_protocol::{
    FrameDecoder, FrameHeader, Request, RequestKind, Response, ResponseKind, StatusReply,
};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::server::{Backend, ServerHandle};
use crate::service::{RequestContext, Service};

/// Which request the clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchRequest {
    /// `Ping` with an 8-byte payload: answered by the network thread (transport cost only).
    Ping,
    /// `Status`: goes through the worker pool to a trivial service (adds the dispatch hop).
    Status,
}

/// Load test parameters.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Concurrent client counts to run, each against each backend. Default: 1, 16, 64.
    pub clients: Vec<usize>,
    /// Requests each client sends. Default: 50 000.
    pub requests_per_client: usize,
    /// Requests each client keeps in flight (pipelining depth). Default: 32.
    pub window: usize,
    /// The request. Default: `Ping`.
    pub request: BenchRequest,
    /// Server network threads (rings / tokio workers). Default: 0 (automatic: one ring per two
    /// cores, one tokio worker per core).
    pub io_threads: usize,
    /// Threads of the load generator's runtime. Default: 1.
    pub client_threads: usize,
    /// Connect through a Unix socket instead of loopback TCP. Default: false.
    pub unix: bool,
    /// Times each (backend, clients) pair is measured, alternating backends. The reported
    /// throughput is the median round's; p50/p99 are taken over the latencies of all rounds
    /// together, so a burst of outside load that lands in one round moves both backends'
    /// percentiles alike instead of deciding which round is shown (the machine may be
    /// shared). Default: 3.
    pub rounds: usize,
    /// Run every measured phase with a CPU hog on every core (see [`crate::contention`]), as on
    /// a machine shared with other validators and builds. Default: false.
    pub contended: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            clients: vec![1, 16, 64],
            requests_per_client: 50_000,
            window: 32,
            request: BenchRequest::Ping,
            io_threads: 0,
            client_threads: 1,
            unix: false,
            rounds: 3,
            contended: false,
        }
    }
}

/// One backend × client-count measurement.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// The server's backend.
    pub backend: Backend,
    /// Concurrent clients.
    pub clients: usize,
    /// Responses received and checked.
    pub requests: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Requests per second.
    pub throughput: u64,
    /// Median latency (send to matching response).
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// CPU time the server's threads (network threads and worker pool) spent per request,
    /// in nanoseconds; `None` where per-thread CPU time is not readable (no `/proc`).
    /// Unlike throughput, this does not depend on whether the load generator, which shares
    /// the machine, is the bottleneck.
    pub server_cpu_ns: Option<u64>,
    /// CPU time the load generator's threads spent per request, in nanoseconds.
    pub client_cpu_ns: Option<u64>,
}

/// Every measurement of a run, plus why io_uring was skipped if it was.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// The measurements, io_uring first for each client count.
    pub results: Vec<BenchResult>,
    /// Set when the io_uring backend could not be used on this machine.
    pub io_uring_skipped: Option<String>,
}

/// Why a load test failed.
#[derive(Debug, Error)]
pub enum BenchError {
    /// A server could not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The load generator failed (connect, read, write).
    #[error("load generator: {0}")]
    Io(#[from] std::io::Error),
    /// A response was lost, duplicated, or did not match its request: a correctness failure.
    #[error("{backend} with {clients} clients: {lost} lost and {mismatched} mismatched responses")]
    Mismatch {
        /// Backend name.
        backend: &'static str,
        /// Client count.
        clients: usize,
        /// Requests without a response.
        lost: u64,
        /// Responses with an unknown/duplicate id or the wrong content.
        mismatched: u64,
    },
}

/// Answers `Status` with a constant: the bench measures the server, not a chain.
struct BenchService;

impl Service for BenchService {
    fn handle(&self, _ctx: &RequestContext, _request: Request) -> Response {
        Response::Status(StatusReply::default())
    }
}

/// Runs the load test: for each client count, against io_uring (when available) then epoll.
/// Errors if a server cannot start, the generator fails, or any response is lost or mismatched.
pub fn run_serve_bench(config: &BenchConfig) -> Result<BenchReport, BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.client_threads.max(1))
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()?;
    let mut report = BenchReport::default();
    let dir = std::env::temp_dir().join(format!("keel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut backends = vec![true, false];
    for &clients in &config.clients {
        let mut rounds: [Vec<BenchResult>; 2] = [Vec::new(), Vec::new()];
        let mut pooled: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..config.rounds.max(1) {
            for (slot, &io_uring) in backends.clone().iter().enumerate() {
                match measure(&runtime, &dir, config, clients, io_uring)? {
                    Some((r, latencies)) => {
                        rounds[slot].push(r);
                        pooled[slot].extend(latencies);
                    }
                    None => {
                        report.io_uring_skipped =
                            Some("io_uring unavailable on this kernel; see the server log".into());
                        backends.retain(|b| !b);
                    }
                }
            }
        }
        for (mut sample, mut latencies) in rounds.into_iter().zip(pooled) {
            sample.sort_by_key(|r| r.throughput);
            if !sample.is_empty() {
                let mut median = sample.swap_remove(sample.len() / 2);
                latencies.sort_unstable();
                median.p50 = percentile(&latencies, 50);
                median.p99 = percentile(&latencies, 99);
                report.results.push(median);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

/// One measurement and its latencies (ns, sorted); `None` if io_uring was asked for but is
/// unavailable.
fn measure(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    config: &BenchConfig,
    clients: usize,
    io_uring: bool,
) -> Result<Option<(BenchResult, Vec<u64>)>, BenchError> {
    let server_config = ServerConfig {
        io_uring,
        io_threads: config.io_threads,
        unix_socket: config.unix.then(|| dir.join("bench.sock")),
        tcp: (!config.unix).then(|| "127.0.0.1:0".to_string()),
        metrics: None,
        open_reads: true,
        max_in_flight: u32::try_from(config.window).unwrap_or(u32::MAX).max(1),
        max_connections: clients + 16,
        // The clients are anonymous loopback peers: none of the slots the admission layer
        // keeps for allowlisted writers, and no per-source cap below the client count.
        reserved_connections: 0,
        max_connections_per_source: clients + 16,
        // Pings keep only authenticated connections alive; the anonymous clients must not be
        // closed as unauthenticated in the middle of a long run.
        handshake_timeout_ms: 300_000,
        ..ServerConfig::default()
    };
    let server = ServerHandle::start(server_config, Arc::new(BenchService))?;
    if io_uring && server.backend() != Backend::IoUring {
        return Ok(None);
    }
    let target = match (server.tcp_addr(), server.unix_path()) {
        (Some(a), _) => Target::Tcp(a),
        (None, Some(p)) => Target::Unix(p.to_path_buf()),
        (None, None) => {
            return Err(BenchError::Io(std::io::Error::other(
                "server has no listener",
            )));
        }
    };
    // Warm-up on the same server (its buffers, the allocator, the socket caches): short, and
    // checked like the measured run, but neither timed nor counted.
    let warm_up = BenchConfig {
        requests_per_client: (config.requests_per_client / 10).clamp(1, 2_000),
        ..config.clone()
    };
    let warmed = runtime.block_on(drive(target.clone(), clients, &warm_up));
    let cpu_before = (
        thread_cpu_ns(SERVER_THREADS),
        thread_cpu_ns(&[CLIENT_THREAD]),
    );
    // Bounded: a measured phase is seconds; the hogs stop on their own if it is not.
    let hogs = config
        .contended
        .then(|| crate::contention::CpuHogs::start(0, Duration::from_secs(120)));
    let outcome = match warmed {
        Ok((_, _, 0, 0)) => runtime.block_on(drive(target, clients, config)),
        Ok((_, _, lost, mismatched)) => Ok((Duration::ZERO, Vec::new(), lost, mismatched)),
        Err(e) => Err(e),
    };
    // Sampled before shutdown: the server's threads exit (and leave /proc) on join.
    let cpu_after = (
        thread_cpu_ns(SERVER_THREADS),
        thread_cpu_ns(&[CLIENT_THREAD]),
    );
    drop(hogs);
    server.shutdown();
    server.join()?;
    let (elapsed, mut latencies, lost, mismatched) = outcome?;
    if lost > 0 || mismatched > 0 {
        return Err(BenchError::Mismatch {
            backend: server_name(io_uring),
            clients,
            lost,
            mismatched,
        });
    }
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    let micros = elapsed.as_micros().max(1);
    let result = BenchResult {
        backend: if io_uring {
            Backend::IoUring
        } else {
            Backend::Epoll
        },
        clients,
        requests,
        elapsed,
        throughput: u64::try_from(u128::from(requests) * 1_000_000 / micros).unwrap_or(u64::MAX),
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
        server_cpu_ns: per_request(cpu_before.0, cpu_after.0, requests),
        client_cpu_ns: per_request(cpu_before.1, cpu_after.1, requests),
    };
    Ok(Some((result, latencies)))
}

/// Name of the load generator's runtime threads (how their CPU time is found).
const CLIENT_THREAD: &str = "keel-bench-cli";
/// Name prefixes of the server's threads: rings, tokio workers (and their main), worker pool.
const SERVER_THREADS: &[&str] = &["keel-ring-", "keel-epoll", "keel-worker-"];

/// CPU time in nanoseconds used so far by this process's live threads whose name starts with
/// one of `prefixes` (from `/proc/self/task/*/schedstat`; the kernel keeps 15 bytes of a
/// thread name); `None` if `/proc` is unreadable.
fn thread_cpu_ns(prefixes: &[&str]) -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue; // the thread exited meanwhile
        };
        if !prefixes.iter().any(|p| comm.trim_end().starts_with(p)) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) else {
            continue;
        };
        // First field: time spent on a CPU, in nanoseconds.
        total += stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

fn per_request(before: Option<u64>, after: Option<u64>, requests: u64) -> Option<u64> {
    Some(after?.saturating_sub(before?) / requests.max(1))
}

fn server_name(io_uring: bool) -> &'static str {
    if io_uring { "io_uring" } else { "epoll" }
}

fn percentile(sorted_ns: &[u64], p: usize) -> Duration {
    if sorted_ns.is_empty() {
        return Duration::ZERO;
    }
    let index = (sorted_ns.len() * p / 100).min(sorted_ns.len() - 1);
    Duration::from_nanos(sorted_ns[index])
}

#[derive(Clone)]
enum Target {
    Tcp(std::net::SocketAddr),
    Unix(std::path::PathBuf),
}

type Outcome = (Duration, Vec<u64>, u64, u64);

async fn drive(
    target: Target,
    clients: usize,
    config: &BenchConfig,
) -> Result<Outcome, BenchError> {
    // Every client allocates its bookkeeping and connects before the clock starts.
    let start = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let target = target.clone();
        let start = start.clone();
        let (count, window, request) = (
            config.requests_per_client,
            config.window.max(1),
            config.request,
        );
        tasks.spawn(async move {
            match target {
                Target::Tcp(a) => {
                    let s = match tokio::net::TcpStream::connect(a).await {
                        Ok(s) => s.set_nodelay(true).map(|()| s),
                        Err(e) => Err(e),
                    };
                    one_client(s, &start, count, window, request).await
                }
                Target::Unix(p) => {
                    let s = tokio::net::UnixStream::connect(p).await;
                    one_client(s, &start, count, window, request).await
                }
            }
        });
    }
    start.wait().await;
    let started = Instant::now();
    let mut finished = Vec::with_capacity(clients);
    while let Some(joined) = tasks.join_next().await {
        finished.push(joined.map_err(|e| std::io::Error::other(e.to_string()))?);
    }
    let elapsed = started.elapsed();
    let mut latencies = Vec::with_capacity(clients * config.requests_per_client);
    let (mut lost, mut mismatched) = (0, 0);
    for result in finished {
        let (l, lo, mm) = result?;
        latencies.extend(l);
        lost += lo;
        mismatched += mm;
    }
    Ok((elapsed, latencies, lost, mismatched))
}

/// One pipelining client: keeps `window` requests in flight; request `i` has id `i + 1` and
/// (for Ping) payload `i`, so every answer can be checked against its request.
/// It waits at `start` (even if its connection failed, so the others are not left waiting).
async fn one_client<S>(
    stream: std::io::Result<S>,
    start: &tokio::sync::Barrier,
    count: usize,
    window: usize,
    request: BenchRequest,
) -> std::io::Result<(Vec<u64>, u64, u64)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // Allocated and written once before the clock starts, so page faults are not timed.
    let mut sent_at: Vec<Option<Instant>> = vec![None; count];
    let mut latencies = vec![0u64; count];
    let mut decoder = FrameDecoder::new(1 << 20);
    let (mut sent, mut received, mut mismatched) = (0usize, 0usize, 0u64);
    let mut wbuf = Vec::with_capacity(window * 48);
    let mut rbuf = vec![0u8; 64 * 1024];
    start.wait().await;
    let mut stream = stream?;
    while received + (mismatched as usize) < count {
        wbuf.clear();
        let now = Instant::now();
        while sent < count && sent - received < window {
            let id = sent as u64 + 1;
            match request {
                // Encoded by hand (header + borsh Vec<u8>): the generator must stay cheaper
                // than the server it measures.
                BenchRequest::Ping => {
                    let header = FrameHeader {
                        kind: RequestKind::Ping as u8,
                        request_id: id,
                        body_len: 12,
                    };
                    wbuf.extend_from_slice(&header.to_bytes());
                    wbuf.extend_from_slice(&8u32.to_le_bytes());
                    wbuf.extend_from_slice(&(sent as u64).to_le_bytes());
                }
                BenchRequest::Status => Request::Status
                    .encode(id, &mut wbuf)
                    .map_err(std::io::Error::other)?,
            }
            sent_at[sent] = Some(now);
            sent += 1;
        }
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await?;
        }
        let n = stream.read(&mut rbuf).await?;
        if n == 0 {
            break;
        }
        decoder.push(&rbuf[..n]);
        let now = Instant::now();
        while let Some(frame) = decoder.next_frame_ref().map_err(std::io::Error::other)? {
            let index = usize::try_from(frame.request_id.wrapping_sub(1)).unwrap_or(usize::MAX);
            let expected_ok = match request {
                BenchRequest::Ping => {
                    frame.kind == ResponseKind::Pong as u8
                        && frame.body.len() == 12
                        && frame.body[4..] == (index as u64).to_le_bytes()
                }
                BenchRequest::Status => matches!(
                    Response::decode(frame.kind, frame.body),
                    Ok(Response::Status(_))
                ),
            };
            match sent_at.get_mut(index).and_then(Option::take) {
                Some(t) if expected_ok => {
                    if let Some(slot) = latencies.get_mut(received) {
                        *slot = u64::try_from(now.duration_since(t).as_nanos()).unwrap_or(u64::MAX);
                    }
                    received += 1;
                }
                _ => mismatched += 1,
            }
        }
    }
    let lost = (count - received) as u64 - mismatched.min((count - received) as u64);
    latencies.truncate(received);
    Ok((latencies, lost, mismatched))
}

impl BenchReport {
    /// A text table with one row per measurement and the io_uring/epoll ratios.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "compared: io_uring (Keel) against epoll (baseline); higher req/s and lower µs are \
             better; speedup = epoll time ÷ io_uring time (> 1: io_uring faster)"
        );
        let _ = writeln!(
            out,
            "{:<9} {:>7} {:>10} {:>12} {:>10} {:>10} {:>13} {:>13}",
            "backend",
            "clients",
            "requests",
            "req/s",
            "p50 µs",
            "p99 µs",
            "server ns/req",
            "client ns/req"
        );
        let cpu = |ns: Option<u64>| ns.map_or_else(|| "-".to_string(), |n| n.to_string());
        for r in &self.results {
            let _ = writeln!(
                out,
                "{:<9} {:>7} {:>10} {:>12} {:>10} {:>10} {:>13} {:>13}",
                r.backend.name(),
                r.clients,
                r.requests,
                r.throughput,
                r.p50.as_micros(),
                r.p99.as_micros(),
                cpu(r.server_cpu_ns),
                cpu(r.client_cpu_ns)
            );
        }
        for clients in self
            .results
            .iter()
            .map(|r| r.clients)
            .collect::<std::collections::BTreeSet<_>>()
        {
            if let Some((ratio_pct, p99_u, p99_e)) = self.compare(clients) {
                let p50 = |b| {
                    self.results
                        .iter()
                        .find(|r| r.clients == clients && r.backend == b)
                        .map_or(0, |r| r.p50.as_micros())
                };
                let _ = writeln!(
                    out,
                    "{clients} clients: speedup (throughput) {}.{:02}x; p50 {} µs vs {} µs; p99 {} µs vs {} µs (io_uring vs epoll)",
                    ratio_pct / 100,
                    ratio_pct % 100,
                    p50(Backend::IoUring),
                    p50(Backend::Epoll),
                    p99_u.as_micros(),
                    p99_e.as_micros()
                );
            }
        }
        if let Some(why) = &self.io_uring_skipped {
            let _ = writeln!(out, "io_uring skipped: {why}");
        }
        out
    }

    /// For a client count: io_uring throughput as a percentage of epoll's, and both p99s.
    pub fn compare(&self, clients: usize) -> Option<(u64, Duration, Duration)> {
        let find = |b| {
            self.results
                .iter()
                .find(|r| r.clients == clients && r.backend == b)
        };
        let (u, e) = (find(Backend::IoUring)?, find(Backend::Epoll)?);
        Some((u.throughput * 100 / e.throughput.max(1), u.p99, e.p99))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_bench_run_checks_every_response_on_both_backends() {
        let config = BenchConfig {
            clients: vec![1, 4],
            requests_per_client: 300,
            window: 8,
            rounds: 1,
            ..BenchConfig::default()
        };
        let report = run_serve_bench(&config).unwrap();
        let expected_rows = if report.io_uring_skipped.is_some() {
            2
        } else {
            4
        };
        assert_eq!(report.results.len(), expected_rows);
        for r in &report.results {
            assert_eq!(r.requests, (300 * r.clients) as u64);
            assert!(r.p50 <= r.p99);
        }
        assert!(report.render().contains("req/s"));
    }

    #[test]
    fn the_status_variant_goes_through_the_pool_and_is_checked_too() {
        let config = BenchConfig {
            clients: vec![2],
            requests_per_client: 200,
            request: BenchRequest::Status,
            unix: true,
            rounds: 1,
            ..BenchConfig::default()
        };
        let report = run_serve_bench(&config).unwrap();
        assert!(report.results.iter().all(|r| r.requests == 400));
    }

    #[test]
    fn thread_cpu_time_is_summed_over_threads_with_a_matching_name() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (busy_tx, busy_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("keel-cputest".into())
            .spawn(move || {
                let until = Instant::now() + Duration::from_millis(20);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                let _ = busy_tx.send(());
                let _ = rx.recv();
            })
            .unwrap();
        busy_rx.recv().unwrap();
        let Some(ns) = thread_cpu_ns(&["keel-cputest"]) else {
            eprintln!("skipped: /proc/self/task unreadable");
            return;
        };
        assert!(ns > 1_000_000, "a thread that spun 20 ms used {ns} ns");
        assert_eq!(thread_cpu_ns(&["no-such-thread"]), Some(0));
        tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn percentiles_pick_from_the_sorted_sample() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Duration::from_nanos(51));
        assert_eq!(percentile(&v, 99), Duration::from_nanos(100));
        assert_eq!(percentile(&[], 99), Duration::ZERO);
    }
}
