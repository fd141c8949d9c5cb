//! The mempool through the real daemon: `SubmitTx` admits (signature verified once, nonce gaps
//! held back, replacement by fee, invalid transactions rejected), `BuildBlock` packs the ready
//! ones in nonce order, `SubmitBlock` commits them without verifying their signatures again
//! (the cache-hit counter on /metrics says so), and a block from elsewhere carrying a forged
//! signature of a cached transaction is still caught. Clients that are not allowlisted writers
//! are held to `[mempool] submit_rate`.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_chain::genesis::demo_key;
use keel_chain::{
    Amount, Block, BlockResult, SignedTx, Transaction, TxKind, TxStatus, address_of, decode, encode,
};
use keel_client::{Client, Endpoint};
use keel_protocol::{BuildRequest, ErrorCode, Request, Response};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn transfer(from: u32, nonce: u64, fee: u64) -> SignedTx {
    let key = demo_key(from);
    Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: [100_000, 10_000, 16, 100_000],
        max_fee_per_unit: [1_000; 4],
        priority_fee: fee,
        kind: TxKind::Transfer {
            to: address_of(&demo_key(7).public_key().to_bytes()),
            amount: Amount::from_u128(5),
        },
    }
    .sign(&key)
}

fn metric(addr: &str, name: &str) -> u64 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
}

fn code(r: &Response) -> Option<ErrorCode> {
    match r {
        Response::Error { code, .. } => Some(*code),
        _ => None,
    }
}

fn submit(c: &mut Client, tx: &SignedTx) -> Response {
    c.call_raw(&Request::SubmitTx { tx: encode(tx) }).unwrap()
}

fn commit(c: &mut Client, block: &Block) -> BlockResult {
    match c
        .call_raw(&Request::SubmitBlock {
            block: encode(block),
        })
        .unwrap()
    {
        Response::BlockOutcome { output } => serde_json::from_slice(&output).unwrap(),
        other => panic!("{other:?}"),
    }
}

struct Daemon {
    child: std::process::Child,
    endpoint: Endpoint,
    metrics: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Daemon {
    let (port, metrics) = (free_port(), format!("127.0.0.1:{}", free_port()));
    let config = dir.join("keel.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[mempool]\nsubmit_rate = 3\n[server]\ntcp = \"127.0.0.1:{port}\"\n\
             metrics = {metrics:?}\nunix_socket = {:?}\nopen_reads = true\n\
             [kernel]\nenabled = false\n",
            dir.join("data"),
            dir.join("keel.sock"),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--no-kernel", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().starts_with("keel serving") {}
    Daemon {
        child,
        endpoint: Endpoint::Tcp(format!("127.0.0.1:{port}").parse().unwrap()),
        metrics,
    }
}

#[test]
fn submitted_transactions_are_built_into_a_block_that_commits_without_verifying_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let mut v = Client::connect(&d.endpoint).unwrap();
    v.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    assert!(
        !v.handshake(&demo_key(0), None).unwrap(),
        "validator writes"
    );

    // Account 4's nonces arrive out of order: 1 waits for 0.
    let later = submit(&mut v, &transfer(4, 1, 3));
    assert!(
        matches!(later, Response::TxAdmitted { ready: false, .. }),
        "{later:?}"
    );
    let first = submit(&mut v, &transfer(4, 0, 3));
    assert!(
        matches!(first, Response::TxAdmitted { ready: true, .. }),
        "{first:?}"
    );
    // Account 5: a replacement must raise the priority fee by 10 %.
    let cheap = transfer(5, 0, 10);
    assert!(matches!(
        submit(&mut v, &cheap),
        Response::TxAdmitted { .. }
    ));
    let underpriced = submit(&mut v, &transfer(5, 0, 10));
    assert_eq!(
        code(&underpriced),
        Some(ErrorCode::MempoolRefused),
        "{underpriced:?}"
    );
    let dearer = transfer(5, 0, 11);
    match submit(&mut v, &dearer) {
        Response::TxAdmitted { replaced, .. } => assert_eq!(replaced, Some(cheap.hash())),
        other => panic!("{other:?}"),
    }
    // A forged signature is rejected at the door.
    let mut forged = transfer(6, 0, 50);
    forged.signature = demo_key(1).sign(&forged.tx.signing_message()).to_bytes();
    assert_eq!(code(&submit(&mut v, &forged)), Some(ErrorCode::Rejected));
    // So is a transaction that could never pay its intrinsic compute.
    let mut starved = transfer(6, 0, 50);
    starved.tx.gas_limits[0] = 1;
    let starved = starved.tx.sign(&demo_key(6));
    assert_eq!(code(&submit(&mut v, &starved)), Some(ErrorCode::Rejected));
    assert_eq!(metric(&d.metrics, "keel_mempool_transactions"), 3);
    assert_eq!(metric(&d.metrics, "keel_mempool_replaced_total"), 1);

    let built = v
        .call_raw(&Request::BuildBlock(BuildRequest {
            proposer: address_of(&demo_key(0).public_key().to_bytes()),
            ..BuildRequest::default()
        }))
        .unwrap();
    let Response::BlockBuilt { block, detail } = built else {
        panic!("{built:?}")
    };
    let block: Block = decode("block", &block).unwrap();
    let detail: serde_json::Value = serde_json::from_slice(&detail).unwrap();
    assert_eq!(detail["txs"], 3, "{detail}");
    // The highest fee first; account 4's transactions in nonce order.
    let order: Vec<(u64, u64)> = block
        .txs
        .iter()
        .map(|t| (t.tx.priority_fee, t.tx.nonce))
        .collect();
    assert_eq!(order, vec![(11, 0), (3, 0), (3, 1)]);

    let hits_before = metric(&d.metrics, "keel_signature_cache_hits_total");
    let misses_before = metric(&d.metrics, "keel_signature_cache_misses_total");
    let result = commit(&mut v, &block);
    assert!(
        result
            .receipts
            .iter()
            .all(|r| matches!(r.status, TxStatus::Success { .. })),
        "{result:?}"
    );
    assert_eq!(
        metric(&d.metrics, "keel_signature_cache_hits_total") - hits_before,
        3
    );
    assert_eq!(
        metric(&d.metrics, "keel_signature_cache_misses_total"),
        misses_before
    );
    assert_eq!(
        metric(&d.metrics, "keel_mempool_transactions"),
        0,
        "the block's spent"
    );
    assert_eq!(metric(&d.metrics, "keel_mempool_included_total"), 3);

    // A block from elsewhere: account 6's honest transaction is cached, but the block carries
    // the same transaction under a forged signature. It is verified, and rejected.
    let honest = transfer(6, 0, 50);
    assert!(matches!(
        submit(&mut v, &honest),
        Response::TxAdmitted { .. }
    ));
    let mut fake = honest.clone();
    fake.signature = demo_key(1).sign(&honest.tx.signing_message()).to_bytes();
    // Its header (with the proposer's VRF proof for the new height) from BuildBlock.
    let built = v
        .call_raw(&Request::BuildBlock(BuildRequest {
            proposer: address_of(&demo_key(0).public_key().to_bytes()),
            ..BuildRequest::default()
        }))
        .unwrap();
    let Response::BlockBuilt { block: next, .. } = built else {
        panic!("{built:?}")
    };
    let mut other: Block = decode("block", &next).unwrap();
    assert_eq!(other.header.parent_root, result.state_root);
    other.txs = vec![fake];
    let r = commit(&mut v, &other);
    assert!(
        matches!(&r.receipts[0].status, TxStatus::Rejected { .. }),
        "{r:?}"
    );
    assert_eq!(
        metric(&d.metrics, "keel_signature_cache_misses_total") - misses_before,
        1
    );
}

#[test]
fn clients_that_are_not_writers_are_held_to_the_submit_rate() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let mut anon = Client::connect(&d.endpoint).unwrap();
    anon.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let answers: Vec<Option<ErrorCode>> = (0..10)
        .map(|n| code(&submit(&mut anon, &transfer(4, n, 1))))
        .collect();
    // The bucket holds 3 (and refills at 3 per second): the first three are admitted, then
    // the client is told to slow down.
    assert_eq!(&answers[..3], &[None, None, None], "{answers:?}");
    let limited = answers
        .iter()
        .filter(|a| **a == Some(ErrorCode::Overloaded))
        .count();
    assert!(limited >= 5, "{answers:?}");
    assert_eq!(
        metric(&d.metrics, "keel_mempool_rate_limited_total"),
        limited as u64
    );
    // The validator is not limited.
    let mut v = Client::connect(&d.endpoint).unwrap();
    v.handshake(&demo_key(0), None).unwrap();
    for n in 0..6 {
        let r = submit(&mut v, &transfer(5, n, 1));
        assert!(matches!(r, Response::TxAdmitted { .. }), "{r:?}");
    }
    // BuildBlock is for writers only.
    let refused = anon
        .call_raw(&Request::BuildBlock(BuildRequest::default()))
        .unwrap();
    assert_eq!(
        code(&refused),
        Some(ErrorCode::NotAuthenticated),
        "{refused:?}"
    );
}

fn keel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_client_commands_submit_build_and_commit_through_the_mempool() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let Endpoint::Tcp(addr) = &d.endpoint else {
        unreachable!()
    };
    let endpoint = addr.to_string();
    let keystore = dir.path().join("data").join("keystore.json");
    let conn = [
        "--endpoint",
        endpoint.as_str(),
        "--keystore",
        keystore.to_str().unwrap(),
        "--key",
        "0",
    ];
    let (a, b) = (transfer(4, 0, 2), transfer(4, 1, 2));
    let (ha, hb) = (hex::encode(encode(&a)), hex::encode(encode(&b)));
    // Nonce 1 first: admitted, waiting; then nonce 0, and a copy of it (refused: exit 2).
    let out = keel(&[&["client", "submit-tx"], &conn[..], &[&hb, &ha, &ha]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("waiting for earlier nonces"), "{text}");
    assert!(text.contains("ready for the next block"), "{text}");
    assert!(text.contains("REFUSED"), "{text}");

    let out = keel(&[&["client", "build-block", "--json"], &conn[..]].concat());
    assert!(out.status.success(), "{out:?}");
    let built: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(built["detail"]["txs"], 2, "{built}");
    assert!(built["result"].is_null(), "not submitted without --submit");

    let out = keel(&[&["client", "build-block", "--submit"], &conn[..]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("built block 1 with 2 transactions"), "{text}");
    assert!(text.contains("block 1 committed"), "{text}");
    assert_eq!(metric(&d.metrics, "keel_mempool_transactions"), 0);
}
