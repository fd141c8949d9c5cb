//! Requests, pipelining and out-of-order completion on every backend and transport.

// Behaviour bodies are shared by the generated per-backend tests, so they are not #[test]s.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_served, key, start};
use keel_server::protocol::{BLS_BATCH_MAX_ITEMS, ErrorCode, Request, Response};

fn every_request_kind_gets_its_answer(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.writer();
    assert_eq!(
        c.call(&Request::Ping {
            payload: b"hey".to_vec()
        })
        .unwrap(),
        Response::Pong {
            payload: b"hey".to_vec()
        }
    );
    let Response::Status(s) = c.call(&Request::Status).unwrap() else {
        panic!("not a status")
    };
    assert_eq!(s.height, 7);
    assert_eq!(
        s.detail,
        key(1).public_key().to_bytes().to_vec(),
        "the service sees the authenticated key"
    );
    assert_eq!(
        c.call(&Request::SubmitBlock {
            block: vec![1, 2, 3]
        })
        .unwrap(),
        Response::BlockOutcome {
            output: vec![3, 2, 1]
        }
    );
    assert_eq!(
        c.call(&Request::QueryState {
            key: b"k".to_vec(),
            with_proof: true
        })
        .unwrap(),
        Response::StateValue {
            value: Some(b"k".to_vec()),
            proof: Some(b"proof".to_vec())
        }
    );
    let rejected = c
        .call_raw(&Request::SubmitBlock {
            block: b"bad".to_vec(),
        })
        .unwrap();
    assert!(matches!(
        rejected,
        Response::Error {
            code: ErrorCode::Rejected,
            ..
        }
    ));
    let unsupported = c.call_raw(&Request::Deploy { tx: vec![] }).unwrap();
    assert!(matches!(
        unsupported,
        Response::Error {
            code: ErrorCode::Unsupported,
            ..
        }
    ));
}

fn a_panicking_handler_is_answered_and_the_connection_survives(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.writer();
    let r = c
        .call_raw(&Request::SimulateTx {
            tx: b"panic".to_vec(),
        })
        .unwrap();
    assert!(matches!(
        r,
        Response::Error {
            code: ErrorCode::Internal,
            ..
        }
    ));
    assert!(matches!(
        c.call(&Request::Status).unwrap(),
        Response::Status(_)
    ));
}

fn an_oversized_bls_batch_is_refused_as_too_large_and_the_connection_survives(
    io_uring: bool,
    unix: bool,
) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.writer();
    let items = vec![([1; 48], b"m".to_vec(), [2; 96]); BLS_BATCH_MAX_ITEMS as usize + 1];
    let r = c.call_raw(&Request::BlsBatchVerify { items }).unwrap();
    assert!(
        matches!(
            r,
            Response::Error {
                code: ErrorCode::RequestTooLarge,
                ..
            }
        ),
        "{r:?}"
    );
    assert!(matches!(
        c.call(&Request::Status).unwrap(),
        Response::Status(_)
    ));
}

fn a_thousand_pipelined_requests_complete_out_of_order_and_match_by_id(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| {
        c.max_in_flight = 1024;
        c.workers = 4;
    }) else {
        return;
    };
    let mut c = f.writer();
    // Every third request sleeps 2 ms, so later requests overtake it in the pool.
    let requests: Vec<Request> = (0..1000u32)
        .map(|i| match i % 3 {
            0 => Request::ExecuteBlock {
                block: vec![2, (i % 251) as u8],
            },
            1 => Request::Ping {
                payload: i.to_le_bytes().to_vec(),
            },
            _ => Request::QueryState {
                key: i.to_le_bytes().to_vec(),
                with_proof: false,
            },
        })
        .collect();
    let mut order = Vec::new();
    for r in &requests {
        order.push(c.send(r).unwrap());
    }
    let mut arrival = Vec::new();
    let mut answers = std::collections::BTreeMap::new();
    for _ in 0..requests.len() {
        let (id, resp) = c.recv().unwrap();
        arrival.push(id);
        assert!(answers.insert(id, resp).is_none(), "id {id} answered twice");
    }
    assert_ne!(arrival, order, "responses completed out of order");
    for (i, (id, req)) in order.iter().zip(&requests).enumerate() {
        let resp = answers
            .remove(id)
            .unwrap_or_else(|| panic!("request {i} (id {id}) lost"));
        let expected = match req {
            Request::ExecuteBlock { block } => Response::BlockOutcome {
                output: block.clone(),
            },
            Request::Ping { payload } => Response::Pong {
                payload: payload.clone(),
            },
            Request::QueryState { key, .. } => Response::StateValue {
                value: Some(key.clone()),
                proof: None,
            },
            _ => unreachable!(),
        };
        assert_eq!(resp, expected, "request {i} got someone else's answer");
    }
    assert!(answers.is_empty());
}

fn the_pipeline_helper_returns_answers_in_request_order(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.writer();
    let requests: Vec<Request> = (0..300u32)
        .map(|i| Request::ExecuteBlock {
            block: vec![(i % 2) as u8, i as u8],
        })
        .collect();
    let answers = c.pipeline(&requests, 64).unwrap();
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(
            a,
            &Response::BlockOutcome {
                output: vec![(i % 2) as u8, i as u8]
            }
        );
    }
}

fn metrics_count_requests_and_include_the_service_lines(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.writer();
    for _ in 0..3 {
        c.call(&Request::Status).unwrap();
    }
    let text = http_get(f.server().metrics_addr().unwrap(), "/metrics");
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(
        text.contains("keel_requests_total{kind=\"Status\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("keel_request_duration_seconds_count{kind=\"Status\"} 3"),
        "{text}"
    );
    assert!(text.contains("keel_connections_open 1"), "{text}");
    assert!(text.contains("keel_test_handled 3"), "{text}");
    assert!(http_get(f.server().metrics_addr().unwrap(), "/nope").starts_with("HTTP/1.0 404"));
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn the_async_client_pipelines_concurrent_calls_on_one_connection(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| c.workers = 4) else {
        return;
    };
    let server_id = f.server().server_id();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = keel_client::AsyncClient::connect(&f.endpoint)
            .await
            .unwrap();
        assert!(!client.handshake(&key(1), Some(server_id)).await.unwrap());
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..200u32 {
            let client = client.clone();
            calls.spawn(async move {
                let block = vec![(i % 3) as u8, (i % 256) as u8];
                (
                    block.clone(),
                    client.call(Request::ExecuteBlock { block }).await,
                )
            });
        }
        while let Some(done) = calls.join_next().await {
            let (block, answer) = done.unwrap();
            assert_eq!(answer.unwrap(), Response::BlockOutcome { output: block });
        }
        let refused = client
            .call(Request::SimulateTx {
                tx: b"panic".to_vec(),
            })
            .await;
        assert!(matches!(
            refused,
            Err(keel_client::ClientError::Server {
                code: ErrorCode::Internal,
                ..
            })
        ));
    });
}

fn automatic_network_threads_are_a_ring_per_two_cores_or_a_tokio_worker_per_core(
    io_uring: bool,
    unix: bool,
) {
    let Some(f) = start(io_uring, unix, |c| c.io_threads = 0) else {
        return;
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected = if io_uring { (cores / 2).max(1) } else { cores };
    assert_eq!(f.server().network_threads(), expected, "{cores} cores");
    assert_served(&f);
    let Some(f) = start(io_uring, unix, |c| c.io_threads = 3) else {
        return;
    };
    assert_eq!(f.server().network_threads(), 3, "an explicit count is kept");
    assert_served(&f);
}

on_every_backend! {
    every_request_kind => every_request_kind_gets_its_answer;
    panicking_handler => a_panicking_handler_is_answered_and_the_connection_survives;
    oversized_bls_batch => an_oversized_bls_batch_is_refused_as_too_large_and_the_connection_survives;
    thousand_pipelined => a_thousand_pipelined_requests_complete_out_of_order_and_match_by_id;
    pipeline_helper => the_pipeline_helper_returns_answers_in_request_order;
    metrics => metrics_count_requests_and_include_the_service_lines;
    async_client => the_async_client_pipelines_concurrent_calls_on_one_connection;
    network_threads => automatic_network_threads_are_a_ring_per_two_cores_or_a_tokio_worker_per_core;
}
