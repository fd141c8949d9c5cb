//! Hostile peers cannot lock a validator out or slow it down: unauthenticated connections get
//! a short deadline, small frames and no reserved slot; a reader's slow requests never hold
//! the workers a writer needs; the metrics endpoint is not blocked by a trickling client.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{key, read_until_closed, start};
use keel_server::protocol::{ErrorCode, FrameHeader, Request, Response};

fn is_error(r: &Response, code: ErrorCode) -> bool {
    matches!(r, Response::Error { code: c, .. } if *c == code)
}

fn idle_strangers_cannot_lock_a_writer_out(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| {
        c.max_connections = 8;
        c.reserved_connections = 2;
        // The provisional strangers must outlive a slow run.
        c.handshake_timeout_ms = 60_000;
    }) else {
        return;
    };
    // Six provisional slots and the two reserved ones, all held by idle strangers; the
    // ninth connection is over the limit.
    let idle: Vec<_> = (0..8).map(|_| f.raw()).collect();
    // Connections spread over the rings: wait until all eight are counted.
    let begun = Instant::now();
    while !f
        .server()
        .metrics_text()
        .contains("keel_connections_open 8\n")
    {
        assert!(begun.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut extra = f.raw();
    let frames = read_until_closed(extra.as_mut());
    assert!(
        matches!(frames.as_slice(), [(0, r)] if is_error(r, ErrorCode::TooManyConnections)),
        "{frames:?}"
    );
    // The two on reserved slots (whichever they are: connections spread over the rings) are
    // on probation and closed for not showing a writer key; the six others stay.
    let begun = Instant::now();
    while !f
        .server()
        .metrics_text()
        .contains("keel_connections_open 6\n")
    {
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "probation never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        f.server()
            .metrics_text()
            .contains("keel_connections_open 6\n")
    );
    // A stranger's handshake on a reserved slot is refused at once; the validator gets in,
    // twice, while the six provisional strangers are still connected.
    let mut reader = f.connect();
    assert!(reader.handshake(&key(2), None).is_err());
    drop(reader);
    let begun = Instant::now();
    let mut writers = Vec::new();
    while writers.len() < 2 {
        let mut c = f.connect();
        if c.handshake(&key(1), None).is_ok() {
            writers.push(c);
        }
        assert!(begun.elapsed() < Duration::from_secs(5), "locked out");
    }
    for c in &mut writers {
        assert!(matches!(c.call(&Request::Status), Ok(Response::Status(_))));
    }
    drop(idle);
}

fn an_unauthenticated_connection_is_closed_at_the_handshake_deadline_even_if_it_pings(
    io_uring: bool,
    unix: bool,
) {
    let Some(f) = start(io_uring, unix, |c| c.handshake_timeout_ms = 300) else {
        return;
    };
    let mut c = f.raw();
    let begun = Instant::now();
    let mut ping = Vec::new();
    Request::Ping { payload: vec![1] }
        .encode(1, &mut ping)
        .unwrap();
    let mut buf = [0u8; 256];
    // Keeps pinging (and reading the pongs) until the server closes.
    let closed = loop {
        if c.write_all(&ping).is_err() {
            break true;
        }
        match c.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => break true,
            Ok(_) => {}
        }
        if begun.elapsed() > Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(closed, "pings kept an unauthenticated connection alive");
    assert!(begun.elapsed() >= Duration::from_millis(300));
    // An authenticated connection is not held to the handshake deadline.
    let mut w = f.writer();
    std::thread::sleep(Duration::from_millis(600));
    assert!(matches!(w.call(&Request::Status), Ok(Response::Status(_))));
}

fn a_large_frame_before_authentication_is_refused_from_its_header(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| {
        c.max_unauthenticated_frame_bytes = 1024;
        c.open_reads = true;
    }) else {
        return;
    };
    let mut bad = f.raw();
    let header = FrameHeader {
        kind: 0x05,
        request_id: 3,
        body_len: 1025,
    };
    bad.write_all(&header.to_bytes()).unwrap();
    let frames = read_until_closed(bad.as_mut());
    assert!(
        matches!(frames.as_slice(), [(0, r)] if is_error(r, ErrorCode::FrameTooLarge)),
        "{frames:?}"
    );
    // After authenticating, the full limit applies.
    let mut w = f.writer();
    let big = vec![7u8; 100_000];
    match w.call(&Request::SubmitBlock { block: big.clone() }) {
        Ok(Response::BlockOutcome { output }) => assert_eq!(output.len(), big.len()),
        other => panic!("{other:?}"),
    }
}

fn a_readers_slow_requests_never_delay_a_writer(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| {
        c.workers = 2;
        c.priority_workers = 1;
    }) else {
        return;
    };
    // A reader fills the general lane with 100 ms requests (30 of them: 3 s of work for the
    // one general worker).
    let mut reader = f.connect();
    assert!(
        reader
            .handshake(&key(2), Some(f.server().server_id()))
            .unwrap()
    );
    for _ in 0..30 {
        reader
            .send(&Request::SimulateTx {
                tx: b"sleep\x64".to_vec(),
            })
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let mut w = f.writer();
    let begun = Instant::now();
    for _ in 0..10 {
        assert!(matches!(w.call(&Request::Status), Ok(Response::Status(_))));
    }
    // Ten answers from the reserved worker; behind the flood they would take seconds.
    let took = begun.elapsed();
    assert!(took < Duration::from_millis(1500), "writer waited {took:?}");
}

on_every_backend! {
    reserved_slots => idle_strangers_cannot_lock_a_writer_out;
    handshake_deadline => an_unauthenticated_connection_is_closed_at_the_handshake_deadline_even_if_it_pings;
    preauth_frames => a_large_frame_before_authentication_is_refused_from_its_header;
    priority_lane => a_readers_slow_requests_never_delay_a_writer;
}

#[test]
fn a_trickling_metrics_client_does_not_block_other_scrapes() {
    let Some(f) = start(false, false, |_| {}) else {
        return;
    };
    let addr = f.server().metrics_addr().unwrap();
    // One byte now and then, never a full request head.
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"G").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let begun = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(page.contains("keel_connection_buffer_bytes"), "{page}");
    assert!(begun.elapsed() < Duration::from_secs(1));
    slow.write_all(b"E").unwrap();
}
