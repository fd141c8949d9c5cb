//! The daemon's per-request budgets for read-only clients: a simulation asking for more compute
//! than `simulate_compute_limit` is refused before it runs, `BlsBatchVerify` takes at most
//! `verify_max_items` items and `verify_rate` signatures per second per client — while the
//! validator's own requests are not limited.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_chain::genesis::demo_key;
use keel_chain::{Amount, Transaction, TxKind, address_of, encode};
use keel_client::{Client, Endpoint};
use keel_protocol::{ErrorCode, Request, Response};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn transfer(compute: u64) -> Vec<u8> {
    let key = demo_key(1);
    encode(
        &Transaction {
            chain_id: keel_chain::ChainConfig::demo().chain_id,
            sender: key.public_key().to_bytes(),
            nonce: 0,
            gas_limits: [compute, 10_000, 16, 100_000],
            max_fee_per_unit: [1_000; 4],
            priority_fee: 1,
            kind: TxKind::Transfer {
                to: address_of(&demo_key(2).public_key().to_bytes()),
                amount: Amount::from_u128(1),
            },
        }
        .sign(&key),
    )
}

fn items(n: usize) -> Vec<keel_protocol::BlsItem> {
    let sk = demo_key(3);
    (0..n)
        .map(|i| {
            let msg = vec![i as u8];
            (
                sk.public_key().to_bytes(),
                msg.clone(),
                sk.sign(&msg).to_bytes(),
            )
        })
        .collect()
}

fn code(r: &Response) -> Option<ErrorCode> {
    match r {
        Response::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn read_only_clients_are_held_to_their_simulation_and_verification_budgets() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let reader = hex::encode(demo_key(4).public_key().to_bytes());
    let config = dir.path().join("keel.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nsimulate_compute_limit = 1000000\nverify_max_items = 10\n\
             verify_rate = 10\n[server]\ntcp = \"127.0.0.1:{port}\"\nmetrics = \
             \"127.0.0.1:{}\"\nunix_socket = {:?}\nreaders = [{reader:?}]\n\
             [kernel]\nenabled = false\n",
            dir.path().join("data"),
            free_port(),
            dir.path().join("keel.sock"),
        ),
    )
    .unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--no-kernel", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().starts_with("keel serving") {}
    let endpoint = Endpoint::Tcp(format!("127.0.0.1:{port}").parse().unwrap());
    let connect = |key: u32| {
        let mut c = Client::connect(&endpoint).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        c.handshake(&demo_key(key), None).unwrap();
        c
    };
    let (mut r, mut v) = (connect(4), connect(0));

    let over = Request::SimulateTx {
        tx: transfer(2_000_000),
    };
    let refused = r.call_raw(&over).unwrap();
    assert_eq!(code(&refused), Some(ErrorCode::Rejected), "{refused:?}");
    let within = Request::SimulateTx {
        tx: transfer(500_000),
    };
    assert!(matches!(
        r.call_raw(&within).unwrap(),
        Response::TxOutcome { .. }
    ));
    // The validator dry-runs with the block's limit.
    assert!(matches!(
        v.call_raw(&over).unwrap(),
        Response::TxOutcome { .. }
    ));

    let too_many = r
        .call_raw(&Request::BlsBatchVerify { items: items(11) })
        .unwrap();
    assert_eq!(
        code(&too_many),
        Some(ErrorCode::RequestTooLarge),
        "{too_many:?}"
    );
    // Ten signatures a second: a request of ten empties the bucket (the refused request above
    // took nothing), the next one within the second is over the rate.
    let ok = r
        .call_raw(&Request::BlsBatchVerify { items: items(10) })
        .unwrap();
    assert_eq!(
        ok,
        Response::VerifyResult {
            valid: vec![true; 10]
        }
    );
    let over_rate = r
        .call_raw(&Request::BlsBatchVerify { items: items(10) })
        .unwrap();
    assert_eq!(
        code(&over_rate),
        Some(ErrorCode::Overloaded),
        "{over_rate:?}"
    );
    // Another client has its own bucket.
    let other = v.call_raw(&Request::BlsBatchVerify { items: items(10) });
    assert!(matches!(other.unwrap(), Response::VerifyResult { .. }));

    let _ = daemon.kill();
    let _ = daemon.wait();
}
