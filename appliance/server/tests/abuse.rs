//! Misbehaving peers get an error frame and/or a closed connection while a well-behaved
//! client keeps being served — on every backend and transport.

// Behaviour bodies are shared by the generated per-backend tests, so they are not #[test]s.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{assert_served, read_until_closed, start};
use keel_server::protocol::{ErrorCode, FrameHeader, Request, Response};

fn is_error(r: &Response, code: ErrorCode) -> bool {
    matches!(r, Response::Error { code: c, .. } if *c == code)
}

fn garbage_bytes_close_only_the_offending_connection(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut good = f.writer();
    let mut bad = f.raw();
    bad.write_all(b"GET / HTTP/1.1\r\nHost: keel\r\n\r\n")
        .unwrap();
    let frames = read_until_closed(bad.as_mut());
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].0, 0, "a stream error is connection-level (id 0)");
    assert!(is_error(&frames[0].1, ErrorCode::MalformedFrame));
    assert!(matches!(
        good.call(&Request::Status),
        Ok(Response::Status(_))
    ));
    assert_served(&f);
}

fn an_oversized_length_is_refused_from_the_header(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| c.max_frame_bytes = 1024) else {
        return;
    };
    let mut bad = f.raw();
    bad.write_all(
        &FrameHeader {
            kind: 0x05,
            request_id: 9,
            body_len: 1025,
        }
        .to_bytes(),
    )
    .unwrap();
    let frames = read_until_closed(bad.as_mut());
    assert!(
        matches!(frames.as_slice(), [(0, r)] if is_error(r, ErrorCode::FrameTooLarge)),
        "{frames:?}"
    );
    let mut huge = f.raw();
    huge.write_all(
        &FrameHeader {
            kind: 0x05,
            request_id: 9,
            body_len: u32::MAX,
        }
        .to_bytes(),
    )
    .unwrap();
    assert_eq!(read_until_closed(huge.as_mut()).len(), 1);
    assert_served(&f);
}

fn unknown_kinds_and_malformed_bodies_are_answered_without_closing(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.raw();
    let mut bytes = Vec::new();
    keel_server::protocol::frame::write_frame(&mut bytes, 0x7E, 5, b"??").unwrap();
    keel_server::protocol::frame::write_frame(&mut bytes, Request::Status.kind() as u8, 6, &[1])
        .unwrap();
    Request::Ping { payload: vec![1] }
        .encode(7, &mut bytes)
        .unwrap();
    c.write_all(&bytes).unwrap();
    let mut decoder = keel_server::protocol::FrameDecoder::new(1 << 20);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < 3 {
        // A blocking read may be interrupted by a signal (EINTR); that is not an answer.
        let n = match c.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r.unwrap(),
        };
        assert!(n > 0, "closed early after {got:?}");
        decoder.push(&buf[..n]);
        while let Some(fr) = decoder.next_frame().unwrap() {
            got.push((fr.request_id, Response::decode(fr.kind, &fr.body).unwrap()));
        }
    }
    assert!(
        is_error(&got[0].1, ErrorCode::UnknownKind) && got[0].0 == 5,
        "{got:?}"
    );
    assert!(
        is_error(&got[1].1, ErrorCode::MalformedBody) && got[1].0 == 6,
        "{got:?}"
    );
    assert_eq!(got[2], (7, Response::Pong { payload: vec![1] }));
}

fn truncated_frames_and_slow_loris_time_out_while_others_are_served(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| c.frame_timeout_ms = 300) else {
        return;
    };
    // A truncated frame whose sender then goes quiet.
    let mut truncated = f.raw();
    let mut frame = Vec::new();
    Request::SubmitBlock {
        block: vec![7; 100],
    }
    .encode(1, &mut frame)
    .unwrap();
    truncated.write_all(&frame[..50]).unwrap();
    // A slow-loris sender trickling one byte at a time from another thread.
    let mut loris = f.raw();
    let trickle = std::thread::spawn(move || {
        let started = Instant::now();
        for b in &frame {
            if loris.write_all(&[*b]).is_err() {
                break; // the server closed us: that is the point
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        (started.elapsed(), read_until_closed(loris.as_mut()))
    });
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(700) {
        assert_served(&f);
    }
    let frames = read_until_closed(truncated.as_mut());
    assert!(
        matches!(frames.as_slice(), [(0, r)] if is_error(r, ErrorCode::Timeout)),
        "{frames:?}"
    );
    let (elapsed, frames) = trickle.join().unwrap();
    assert!(
        elapsed < Duration::from_millis(120 * 40),
        "the loris was cut before finishing its frame"
    );
    assert!(
        frames.iter().any(|(_, r)| is_error(r, ErrorCode::Timeout)),
        "{frames:?}"
    );
    assert_served(&f);
}

fn an_idle_connection_is_closed_with_a_timeout(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| c.idle_timeout_ms = 200) else {
        return;
    };
    let mut idle = f.raw();
    let frames = read_until_closed(idle.as_mut());
    assert!(
        matches!(frames.as_slice(), [(0, r)] if is_error(r, ErrorCode::Timeout)),
        "{frames:?}"
    );
}

fn requests_beyond_the_in_flight_limit_are_refused_but_answered(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| {
        c.max_in_flight = 4;
        c.workers = 8;
    }) else {
        return;
    };
    let mut c = f.writer();
    let ids: Vec<u64> = (0..12)
        .map(|_| c.send(&Request::ExecuteBlock { block: vec![50] }).unwrap())
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for id in ids {
        match c.wait(id).unwrap() {
            Response::BlockOutcome { .. } => ok += 1,
            r if is_error(&r, ErrorCode::TooManyInFlight) => refused += 1,
            r => panic!("unexpected {r:?}"),
        }
    }
    assert_eq!(ok + refused, 12);
    assert!(ok >= 4 && refused >= 1, "ok {ok}, refused {refused}");
    assert!(
        matches!(c.call(&Request::Status), Ok(Response::Status(_))),
        "the connection stays usable"
    );
}

fn connections_over_the_limit_get_an_error_and_are_closed(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| c.max_connections = 2) else {
        return;
    };
    let mut a = f.writer();
    let _b = f.writer();
    let mut third = f.raw();
    let frames = read_until_closed(third.as_mut());
    assert!(
        matches!(frames.as_slice(), [(0, r)] if is_error(r, ErrorCode::TooManyConnections)),
        "{frames:?}"
    );
    assert!(matches!(a.call(&Request::Status), Ok(Response::Status(_))));
    drop(a);
    // The freed place becomes available once the server has seen the close.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = f.connect();
        if c.handshake(&common::key(1), None).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection's place was never released"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

on_every_backend! {
    garbage => garbage_bytes_close_only_the_offending_connection;
    oversized => an_oversized_length_is_refused_from_the_header;
    unknown_kind => unknown_kinds_and_malformed_bodies_are_answered_without_closing;
    slow_loris => truncated_frames_and_slow_loris_time_out_while_others_are_served;
    idle => an_idle_connection_is_closed_with_a_timeout;
    in_flight_limit => requests_beyond_the_in_flight_limit_are_refused_but_answered;
    connection_limit => connections_over_the_limit_get_an_error_and_are_closed;
}
