//! Graceful shutdown on every backend and transport.

// Behaviour bodies are shared by the generated per-backend tests, so they are not #[test]s.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::start;
use keel_server::protocol::{ErrorCode, Request, Response};

fn shutdown_finishes_in_flight_requests_then_calls_the_service_hook(io_uring: bool, unix: bool) {
    let Some(mut f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.writer();
    let slow = c
        .send(&Request::ExecuteBlock {
            block: vec![250, 1],
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(50)); // let it reach a worker
    let server = f.server.take().unwrap();
    server.shutdown();
    // New work on an open connection is refused while the old one finishes.
    let late = c.call_raw(&Request::Status).unwrap();
    assert!(
        matches!(
            late,
            Response::Error {
                code: ErrorCode::ShuttingDown,
                ..
            }
        ),
        "{late:?}"
    );
    assert!(
        !f.service.shutdown_called.load(Ordering::SeqCst),
        "the hook waits for in-flight work"
    );
    assert_eq!(
        c.wait(slow).unwrap(),
        Response::BlockOutcome {
            output: vec![250, 1]
        }
    );
    server.join().unwrap();
    assert!(f.service.shutdown_called.load(Ordering::SeqCst));
    assert!(
        c.call(&Request::Status).is_err(),
        "connections are closed after shutdown"
    );
    assert!(
        keel_client::Client::connect(&f.endpoint)
            .and_then(|mut c| c.call(&Request::Status))
            .is_err()
    );
}

fn shutdown_of_an_idle_server_is_prompt(io_uring: bool, unix: bool) {
    let Some(mut f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let _idle = f.writer();
    let server = f.server.take().unwrap();
    let started = std::time::Instant::now();
    server.shutdown();
    server.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(f.service.shutdown_called.load(Ordering::SeqCst));
}

on_every_backend! {
    in_flight => shutdown_finishes_in_flight_requests_then_calls_the_service_hook;
    idle => shutdown_of_an_idle_server_is_prompt;
}
