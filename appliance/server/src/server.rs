//! Starting, observing and stopping a server.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use crate::admission::Admission;
use crate::auth::AuthPolicy;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::fallback;
use crate::listen::{FileId, Listeners, UnixBinding, bind_tcp, bind_unix};
use crate::metrics::{Metrics, MetricsEndpoint};
use crate::pool::WorkerPool;
use crate::service::Service;
use crate::shared::Shared;
use crate::uring::{self, Balance, Inbox};

/// The network backend a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One io_uring per network thread.
    IoUring,
    /// tokio over epoll (the fallback).
    Epoll,
}

impl Backend {
    /// `"io_uring"` or `"epoll"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::IoUring => "io_uring",
            Backend::Epoll => "epoll",
        }
    }
}

/// A running server. Dropping it without [`join`](Self::join) shuts it down and waits.
pub struct ServerHandle {
    shared: Arc<Shared>,
    backend: Backend,
    tcp_addr: Option<SocketAddr>,
    unix_path: Option<PathBuf>,
    unix_file: Option<FileId>,
    metrics: Option<MetricsEndpoint>,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
    inboxes: Vec<Arc<Inbox>>,
    stop: watch::Sender<bool>,
    joined: bool,
}

/// Listeners bound for a server that has not started yet: binding first lets a daemon find a
/// busy address before it creates or opens anything else.
pub struct BoundListeners {
    config: ServerConfig,
    policy: AuthPolicy,
    backend: Backend,
    tcp: Vec<TcpListener>,
    tcp_addr: Option<SocketAddr>,
    unix: Option<UnixBinding>,
    metrics: Option<TcpListener>,
    metrics_addr: Option<SocketAddr>,
}

impl BoundListeners {
    /// Validates `config`, chooses the backend and binds every listener.
    ///
    /// Uses io_uring when `config.io_uring` is set and the probe succeeds; otherwise logs the
    /// reason once and will serve through the epoll fallback (same protocol, same service).
    /// Errors: invalid configuration (bad keys, addresses, limits), a listener that cannot be
    /// bound, or an address another process listens on ([`ServerError::AddressInUse`]).
    pub fn bind(config: ServerConfig) -> Result<BoundListeners, ServerError> {
        config.validate()?;
        crate::fd_limit::raise_for(config.max_connections);
        let policy = AuthPolicy::from_config(&config)?;
        let tcp = config.tcp_addr()?;
        let metrics_addr = config.metrics_addr()?;
        let backend = if !config.io_uring {
            tracing::info!("io_uring disabled by configuration; serving through epoll");
            Backend::Epoll
        } else {
            match uring::probe() {
                Ok(()) => Backend::IoUring,
                Err(reason) => {
                    tracing::warn!(%reason, "io_uring unavailable; serving through the epoll fallback");
                    Backend::Epoll
                }
            }
        };
        let (tcp, tcp_addr) = match tcp {
            Some(addr) => {
                let per = match backend {
                    Backend::IoUring => config.rings(),
                    Backend::Epoll => 1,
                };
                let (ls, bound) = bind_tcp(addr, per)?;
                (ls, Some(bound))
            }
            None => (Vec::new(), None),
        };
        let unix = config.unix_socket.as_deref().map(bind_unix).transpose()?;
        let metrics = metrics_addr.map(MetricsEndpoint::bind).transpose()?;
        let metrics_addr = match &metrics {
            Some(l) => Some(l.local_addr().map_err(|source| ServerError::Listen {
                what: "metrics".into(),
                source,
            })?),
            None => None,
        };
        Ok(BoundListeners {
            config,
            policy,
            backend,
            tcp,
            tcp_addr,
            unix,
            metrics,
            metrics_addr,
        })
    }

    /// The backend the server will run on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The bound TCP address (with the real port when the configuration said port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The Unix socket path.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix.as_ref().map(|u| u.path.as_path())
    }

    /// The bound metrics address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
}

impl Drop for BoundListeners {
    fn drop(&mut self) {
        if let Some(u) = &self.unix {
            UnixBinding::remove_file(&u.path, u.file_id());
        }
    }
}

impl ServerHandle {
    /// Binds the listeners ([`BoundListeners::bind`]) and starts serving on them
    /// ([`ServerHandle::start_on`]). Errors as those two.
    pub fn start(
        config: ServerConfig,
        service: Arc<dyn Service>,
    ) -> Result<ServerHandle, ServerError> {
        Self::start_on(BoundListeners::bind(config)?, service)
    }

    /// Starts the worker pool and the network threads on bound listeners, and returns.
    /// Errors: a thread that cannot be spawned.
    pub fn start_on(
        mut bound: BoundListeners,
        service: Arc<dyn Service>,
    ) -> Result<ServerHandle, ServerError> {
        let backend = bound.backend;
        let rings = bound.config.rings();
        let workers = bound.config.workers();
        let (pool, rx) = WorkerPool::new(bound.config.worker_queue);
        let unix_binding = bound.unix.take();
        let shared = Arc::new(Shared {
            config: bound.config.clone(),
            policy: bound.policy.clone(),
            metrics: Metrics::default(),
            service,
            pool,
            shutting_down: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            admission: Admission::new(&bound.config),
        });
        let tcp_listeners = std::mem::take(&mut bound.tcp);
        let (unix, unix_path, unix_file) = match unix_binding {
            Some(u) => {
                let id = u.file_id();
                (Some(u.listener), Some(u.path), id)
            }
            None => (None, None, None),
        };
        shared
            .pool
            .spawn(&shared, rx, workers, shared.config.priority_workers)?;
        let (stop, stop_rx) = watch::channel(false);
        let mut handle = ServerHandle {
            shared: shared.clone(),
            backend,
            tcp_addr: bound.tcp_addr,
            unix_path,
            unix_file,
            metrics: None,
            threads: Vec::new(),
            inboxes: Vec::new(),
            stop,
            joined: false,
        };
        match backend {
            Backend::IoUring => {
                let unix = unix.map(Arc::new);
                let mut tcp_listeners = tcp_listeners.into_iter();
                for _ in 0..rings {
                    let inbox = Inbox::new().map_err(|source| ServerError::Spawn {
                        what: "eventfd",
                        source,
                    })?;
                    handle.inboxes.push(inbox);
                }
                let balance = Balance::new(handle.inboxes.clone());
                for i in 0..rings {
                    let (shared, tcp, unix) = (shared.clone(), tcp_listeners.next(), unix.clone());
                    let seat = (balance.clone(), i);
                    let pin = shared.config.pin_threads;
                    let t = std::thread::Builder::new()
                        .name(format!("keel-ring-{i}"))
                        .spawn(move || uring::run_ring(shared, seat, tcp, unix, pin.then_some(i)))
                        .map_err(|source| ServerError::Spawn {
                            what: "ring thread",
                            source,
                        })?;
                    handle.threads.push(t);
                }
            }
            Backend::Epoll => {
                let listeners = Listeners {
                    tcp: tcp_listeners.into_iter().next(),
                    unix,
                };
                let shared = shared.clone();
                let t = std::thread::Builder::new()
                    .name("keel-epoll-main".into())
                    .spawn(move || fallback::run(shared, listeners, stop_rx))
                    .map_err(|source| ServerError::Spawn {
                        what: "epoll thread",
                        source,
                    })?;
                handle.threads.push(t);
            }
        }
        if let Some(listener) = bound.metrics.take() {
            let shared = shared.clone();
            let name = backend.name();
            handle.metrics = Some(MetricsEndpoint::start(listener, move || {
                shared
                    .metrics
                    .render(name, &shared.admission, shared.service.as_ref())
            })?);
        }
        tracing::info!(backend = backend.name(), tcp = ?handle.tcp_addr, unix = ?handle.unix_path,
            metrics = ?handle.metrics_addr(), "keel server listening");
        Ok(handle)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Network threads serving connections: the rings (io_uring) or the tokio workers (epoll).
    pub fn network_threads(&self) -> usize {
        match self.backend {
            Backend::IoUring => self.inboxes.len(),
            Backend::Epoll => self.shared.config.epoll_threads(),
        }
    }

    /// The bound TCP address (with the real port when the configuration said port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The Unix socket path.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// The bound metrics address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.addr)
    }

    /// The identity clients sign in the handshake.
    pub fn server_id(&self) -> [u8; 32] {
        self.shared.policy.server_id
    }

    /// The metrics page as the HTTP endpoint would serve it.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render(
            self.backend.name(),
            &self.shared.admission,
            self.shared.service.as_ref(),
        )
    }

    /// Begins graceful shutdown: stop accepting, answer new requests with `ShuttingDown`, let
    /// in-flight requests finish (up to `shutdown_grace_ms`), close connections. Idempotent;
    /// returns at once — [`join`](Self::join) waits.
    pub fn shutdown(&self) {
        if !self.shared.shutting_down.swap(true, Ordering::AcqRel) {
            tracing::info!("graceful shutdown started");
        }
        for inbox in &self.inboxes {
            inbox.wake();
        }
        let _ = self.stop.send(true);
    }

    /// Whether any network thread has stopped (after shutdown, or because it failed: then
    /// [`join`](Self::join) reports the error).
    pub fn is_finished(&self) -> bool {
        self.threads.iter().any(|t| t.is_finished())
    }

    /// Waits for the network threads to stop (after [`shutdown`](Self::shutdown) or a fatal
    /// error), drains the worker pool, then calls `Service::shutdown` exactly once.
    /// Errors if a network thread failed or panicked.
    pub fn join(mut self) -> Result<(), ServerError> {
        self.join_inner()
    }

    fn join_inner(&mut self) -> Result<(), ServerError> {
        if self.joined {
            return Ok(());
        }
        self.joined = true;
        let mut result = Ok(());
        let threads: Vec<_> = self.threads.drain(..).collect();
        for t in threads {
            let outcome = match t.join() {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(ServerError::EventLoop(e.to_string())),
                Err(_) => Err(ServerError::EventLoop("network thread panicked".into())),
            };
            if let Err(e) = outcome {
                tracing::error!(error = %e, "network thread failed");
                // Stop the other threads too: a half-running server is worse than none.
                self.shutdown();
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        self.shared.pool.stop_and_join();
        self.shared.service.shutdown();
        if let Some(mut m) = self.metrics.take() {
            m.stop();
        }
        if let Some(path) = &self.unix_path {
            UnixBinding::remove_file(path, self.unix_file);
        }
        tracing::info!("keel server stopped");
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.joined {
            self.shutdown();
            let _ = self.join_inner();
        }
    }
}

/// Runs a server until SIGTERM or SIGINT, then shuts it down gracefully and returns `Ok(())`
/// once `Service::shutdown` has run (the caller exits 0). Errors as [`ServerHandle::start`] and
/// [`ServerHandle::join`].
pub fn serve(config: ServerConfig, service: Arc<dyn Service>) -> Result<(), ServerError> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut ids = Vec::new();
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let id = signal_hook::flag::register(signal, stop.clone()).map_err(|source| {
            ServerError::Spawn {
                what: "signal handler",
                source,
            }
        })?;
        ids.push(id);
    }
    let handle = ServerHandle::start(config, service)?;
    while !stop.load(Ordering::Acquire) && !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::info!("termination signal received");
    handle.shutdown();
    let result = handle.join();
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    result
}
