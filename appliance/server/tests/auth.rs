//! The handshake, the allowlist and the read-only opening on every backend and transport.

// Behaviour bodies are shared by the generated per-backend tests, so they are not #[test]s.
#![allow(clippy::unwrap_used)]

mod common;

use common::{key, start};
use keel_client::ClientError;
use keel_server::protocol::{ErrorCode, Request, Response};

fn assert_code(r: Result<Response, ClientError>, code: ErrorCode) {
    match r {
        Ok(Response::Error { code: got, .. }) | Err(ClientError::Server { code: got, .. }) => {
            assert_eq!(got, code)
        }
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

fn allowlisted_keys_mutate_and_readers_only_read(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut writer = f.writer();
    assert!(matches!(
        writer.call(&Request::SubmitBlock { block: vec![1] }),
        Ok(Response::BlockOutcome { .. })
    ));
    let mut reader = f.connect();
    assert!(
        reader.handshake(&key(2), None).unwrap(),
        "a reader key is read-only"
    );
    assert!(matches!(
        reader.call(&Request::Status),
        Ok(Response::Status(_))
    ));
    for mutating in [
        Request::SubmitBlock { block: vec![1] },
        Request::ExecuteBlock { block: vec![] },
        Request::Deploy { tx: vec![] },
        Request::GovernanceSubmit { tx: vec![] },
    ] {
        assert_code(reader.call_raw(&mutating), ErrorCode::Forbidden);
    }
    assert_eq!(
        f.service.handled.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "refused requests never reach the service"
    );
}

fn strangers_are_refused_and_unauthenticated_peers_cannot_read(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut anon = f.connect();
    assert_code(anon.call_raw(&Request::Status), ErrorCode::NotAuthenticated);
    assert_code(
        anon.call_raw(&Request::SubmitBlock { block: vec![] }),
        ErrorCode::NotAuthenticated,
    );
    assert!(
        matches!(
            anon.call(&Request::Ping { payload: vec![] }),
            Ok(Response::Pong { .. })
        ),
        "ping needs no auth"
    );
    let mut stranger = f.connect();
    match stranger.handshake(&key(3), None) {
        Err(ClientError::Server {
            code: ErrorCode::HandshakeFailed,
            ..
        }) => {}
        other => panic!("a stranger's key must be refused, got {other:?}"),
    }
    assert!(
        stranger.call(&Request::Status).is_err(),
        "the refused connection is closed"
    );
}

fn open_reads_serve_anyone_but_still_guard_mutations(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |c| c.open_reads = true) else {
        return;
    };
    let mut anon = f.connect();
    assert!(matches!(
        anon.call(&Request::QueryState {
            key: b"a".to_vec(),
            with_proof: true
        }),
        Ok(Response::StateValue { .. })
    ));
    assert_code(
        anon.call_raw(&Request::SubmitBlock { block: vec![] }),
        ErrorCode::NotAuthenticated,
    );
    let mut stranger = f.connect();
    assert!(
        stranger.handshake(&key(3), None).unwrap(),
        "with open reads a stranger authenticates read-only"
    );
    assert_code(
        stranger.call_raw(&Request::Deploy { tx: vec![] }),
        ErrorCode::Forbidden,
    );
}

fn a_signature_over_the_wrong_challenge_fails_the_handshake(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.connect();
    let sk = key(1);
    let Response::Challenge { server_id, .. } = c
        .call(&Request::Hello {
            public_key: sk.public_key().to_bytes(),
        })
        .unwrap()
    else {
        panic!("no challenge")
    };
    // Replaying a signature over another nonce must not work.
    let signature = sk
        .sign(&keel_server::protocol::auth_message(&[0; 32], &server_id))
        .to_bytes();
    assert_code(
        c.call_raw(&Request::AuthProof { signature }),
        ErrorCode::HandshakeFailed,
    );
    assert!(
        c.call(&Request::Status).is_err(),
        "the connection is closed after a failed proof"
    );
}

fn a_pinned_server_id_that_differs_is_refused_by_the_client(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.connect();
    assert!(matches!(
        c.handshake(&key(1), Some([0xEE; 32])),
        Err(ClientError::Handshake(_))
    ));
}

fn requests_sent_right_after_the_proof_wait_for_its_verdict(io_uring: bool, unix: bool) {
    let Some(f) = start(io_uring, unix, |_| {}) else {
        return;
    };
    let mut c = f.connect();
    let sk = key(1);
    let Response::Challenge { nonce, server_id } = c
        .call(&Request::Hello {
            public_key: sk.public_key().to_bytes(),
        })
        .unwrap()
    else {
        panic!("no challenge")
    };
    let signature = sk
        .sign(&keel_server::protocol::auth_message(&nonce, &server_id))
        .to_bytes();
    // Pipelined behind the proof: must be judged with the proof's outcome, not before it.
    let proof = c.send(&Request::AuthProof { signature }).unwrap();
    let submit = c.send(&Request::SubmitBlock { block: vec![4, 5] }).unwrap();
    assert_eq!(
        c.wait(proof).unwrap(),
        Response::Authenticated { read_only: false }
    );
    assert_eq!(
        c.wait(submit).unwrap(),
        Response::BlockOutcome { output: vec![5, 4] }
    );
}

on_every_backend! {
    allowlist => allowlisted_keys_mutate_and_readers_only_read;
    strangers => strangers_are_refused_and_unauthenticated_peers_cannot_read;
    open_reads => open_reads_serve_anyone_but_still_guard_mutations;
    wrong_challenge => a_signature_over_the_wrong_challenge_fails_the_handshake;
    pinned_server => a_pinned_server_id_that_differs_is_refused_by_the_client;
    pipelined_after_proof => requests_sent_right_after_the_proof_wait_for_its_verdict;
}
