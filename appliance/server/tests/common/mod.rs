//! Shared fixtures: a test service and servers on every backend/transport combination.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use keel_client::{Client, Endpoint};
use keel_crypto::SecretKey;
use keel_server::protocol::{ErrorCode, Request, Response, StatusReply};
use keel_server::{Backend, RequestContext, ServerConfig, ServerHandle, Service};

/// A service with observable behaviour: `ExecuteBlock` sleeps `block[0]` ms then echoes,
/// `SubmitBlock` rejects `b"bad"`, `SimulateTx(b"panic")` panics, `SimulateTx(b"sleep", ms)`
/// sleeps `ms` milliseconds.
#[derive(Default)]
pub struct TestService {
    pub handled: AtomicU64,
    pub shutdown_called: AtomicBool,
}

impl Service for TestService {
    fn handle(&self, ctx: &RequestContext, request: Request) -> Response {
        self.handled.fetch_add(1, Ordering::SeqCst);
        match request {
            Request::Status => Response::Status(StatusReply {
                height: 7,
                state_root: [1; 32],
                detail: ctx.public_key.map(|k| k.to_vec()).unwrap_or_default(),
            }),
            Request::SubmitBlock { block } if block == b"bad" => {
                Response::error(ErrorCode::Rejected, "bad block")
            }
            Request::SubmitBlock { block } => Response::BlockOutcome {
                output: block.into_iter().rev().collect(),
            },
            Request::ExecuteBlock { block } => {
                std::thread::sleep(Duration::from_millis(u64::from(
                    block.first().copied().unwrap_or(0),
                )));
                Response::BlockOutcome { output: block }
            }
            Request::SimulateTx { tx } if tx == b"panic" => panic!("test service asked to panic"),
            // A slow read: `sleep` then the milliseconds in the next byte.
            Request::SimulateTx { tx } if tx.starts_with(b"sleep") => {
                let ms = tx.get(5).copied().unwrap_or(0);
                std::thread::sleep(Duration::from_millis(u64::from(ms)));
                Response::TxOutcome { output: tx }
            }
            Request::QueryState { key, with_proof } => Response::StateValue {
                value: Some(key),
                proof: with_proof.then(|| b"proof".to_vec()),
            },
            _ => Response::error(ErrorCode::Unsupported, "not in the test service"),
        }
    }

    fn shutdown(&self) {
        self.shutdown_called.store(true, Ordering::SeqCst);
    }

    fn write_metrics(&self, out: &mut String) {
        out.push_str("# TYPE keel_test_handled counter\nkeel_test_handled ");
        out.push_str(&self.handled.load(Ordering::SeqCst).to_string());
        out.push('\n');
    }
}

pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32]).unwrap()
}

/// Key 1 is allowlisted (writer), key 2 is a reader, others are strangers.
pub fn base_config(io_uring: bool) -> ServerConfig {
    ServerConfig {
        io_uring,
        io_threads: 2,
        workers: 2,
        allowlist: vec![hex::encode(key(1).public_key().to_bytes())],
        readers: vec![hex::encode(key(2).public_key().to_bytes())],
        ..ServerConfig::ephemeral()
    }
}

pub struct Fixture {
    pub server: Option<ServerHandle>,
    pub service: Arc<TestService>,
    pub endpoint: Endpoint,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn server(&self) -> &ServerHandle {
        self.server.as_ref().unwrap()
    }

    pub fn connect(&self) -> Client {
        let c = Client::connect(&self.endpoint).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c
    }

    /// A connection authenticated with the allowlisted key.
    pub fn writer(&self) -> Client {
        let mut c = self.connect();
        assert!(
            !c.handshake(&key(1), Some(self.server().server_id()))
                .unwrap()
        );
        c
    }
}

/// Starts a server; `unix` picks the transport the fixture's endpoint uses. Returns `None`
/// (after saying so) when io_uring was asked for but the kernel does not allow it.
pub fn start(io_uring: bool, unix: bool, tweak: impl FnOnce(&mut ServerConfig)) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(io_uring);
    config.unix_socket = Some(dir.path().join("keel.sock"));
    tweak(&mut config);
    let service = Arc::new(TestService::default());
    let server = ServerHandle::start(config, service.clone()).unwrap();
    if io_uring && server.backend() != Backend::IoUring {
        eprintln!(
            "SKIPPED[io_uring]: io_uring is not available on this kernel; the io_uring variant did not run"
        );
        return None;
    }
    let endpoint = if unix {
        Endpoint::Unix(server.unix_path().unwrap().to_path_buf())
    } else {
        Endpoint::Tcp(server.tcp_addr().unwrap())
    };
    Some(Fixture {
        server: Some(server),
        service,
        endpoint,
        _dir: dir,
    })
}

/// Generates one test per backend × transport from `fn body(io_uring: bool, unix: bool)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident => $body:ident;)*) => {
        $(
            mod $name {
                #[test]
                fn over_tcp_with_io_uring() { super::$body(true, false) }
                #[test]
                fn over_unix_with_io_uring() { super::$body(true, true) }
                #[test]
                fn over_tcp_with_epoll() { super::$body(false, false) }
                #[test]
                fn over_unix_with_epoll() { super::$body(false, true) }
            }
        )*
    };
}

/// A raw byte connection (no client library), for sending malformed input.
pub trait RawConn: std::io::Read + std::io::Write + Send {}
impl RawConn for std::net::TcpStream {}
impl RawConn for std::os::unix::net::UnixStream {}

impl Fixture {
    pub fn raw(&self) -> Box<dyn RawConn> {
        match &self.endpoint {
            Endpoint::Tcp(a) => {
                let s = std::net::TcpStream::connect(a).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                Box::new(s)
            }
            Endpoint::Unix(p) => {
                let s = std::os::unix::net::UnixStream::connect(p).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                Box::new(s)
            }
        }
    }
}

/// Reads frames until the peer closes; returns them (id, response). Panics on a read timeout.
pub fn read_until_closed(conn: &mut dyn RawConn) -> Vec<(u64, Response)> {
    let mut decoder = keel_server::protocol::FrameDecoder::new(1 << 20);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("the server did not close the connection: {e}"),
        };
        if n == 0 {
            return out;
        }
        decoder.push(&buf[..n]);
        while let Some(f) = decoder.next_frame().unwrap() {
            out.push((f.request_id, Response::decode(f.kind, &f.body).unwrap()));
        }
    }
}

/// Asserts a well-behaved client is served right now.
pub fn assert_served(f: &Fixture) {
    let mut c = f.writer();
    for _ in 0..20 {
        assert!(matches!(c.call(&Request::Status), Ok(Response::Status(_))));
    }
}
