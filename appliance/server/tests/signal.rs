//! `serve` turns SIGTERM into a graceful shutdown and returns Ok (the binary then exits 0).
//! Alone in its test binary: the signal goes to the whole process.

// Behaviour bodies are shared by the generated per-backend tests, so they are not #[test]s.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use keel_client::{Client, Endpoint};
use keel_server::protocol::{Request, Response};

#[test]
fn sigterm_stops_serve_gracefully_and_runs_the_shutdown_hook() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keel.sock");
    let mut config = common::base_config(true);
    config.unix_socket = Some(path.clone());
    config.tcp = None;
    let service = Arc::new(common::TestService::default());
    let served = {
        let service = service.clone();
        std::thread::spawn(move || keel_server::serve(config, service))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        match Client::connect(&Endpoint::Unix(path.clone())) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("server never came up: {e}"),
        }
    };
    assert!(matches!(
        client.call(&Request::Ping { payload: vec![] }),
        Ok(Response::Pong { .. })
    ));
    // SAFETY: raising a signal in our own process; `serve` installed a handler for it.
    assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
    served.join().unwrap().unwrap();
    assert!(service.shutdown_called.load(Ordering::SeqCst));
    assert!(!path.exists(), "the socket file is removed");
}
