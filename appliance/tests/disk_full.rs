//! A full disk under the daemon: the failing commit is answered with an error, `Status` and
//! `/metrics` (`keel_up`) say the node is unhealthy, and once space returns the store is
//! reopened and blocks commit again — no restart. On a small tmpfs; root only (mount).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_chain::genesis::demo_key;
use keel_chain::{Amount, Block, Transaction, TxKind, address_of, encode};
use keel_client::{Client, Endpoint};
use keel_protocol::{Request, Response};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

/// A tmpfs of `size` mounted at a fresh directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status detail (JSON) and height.
fn status(c: &mut Client) -> (u64, [u8; 32], serde_json::Value) {
    match c.call(&Request::Status).unwrap() {
        Response::Status(s) => (
            s.height,
            s.state_root,
            serde_json::from_slice(&s.detail).unwrap(),
        ),
        other => panic!("{other:?}"),
    }
}

/// Submits a block of one transfer (nonce `nonce` from demo key 1); the daemon's answer.
fn submit(c: &mut Client, nonce: u64) -> Response {
    let key = demo_key(1);
    let tx = Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: [20_000_000, 10_000, 16, 100_000],
        max_fee_per_unit: [1_000; 4],
        priority_fee: 1,
        kind: TxKind::Transfer {
            to: address_of(&demo_key(2).public_key().to_bytes()),
            amount: Amount::from_u128(1),
        },
    }
    .sign(&key);
    // The daemon makes the header (VRF proof, due VDF output) for demo validator 0.
    let request = keel_protocol::BuildRequest {
        proposer: address_of(&demo_key(0).public_key().to_bytes()),
        ..keel_protocol::BuildRequest::default()
    };
    let header = match c.call(&Request::BuildBlock(request)).unwrap() {
        Response::BlockBuilt { block, .. } => {
            keel_chain::decode::<Block>("block", &block).unwrap().header
        }
        other => panic!("unexpected answer to BuildBlock: {other:?}"),
    };
    let block = Block {
        header,
        txs: vec![tx],
    };
    c.call_raw(&Request::SubmitBlock {
        block: encode(&block),
    })
    .unwrap()
}

fn keel_up(metrics: &str) -> String {
    let mut s = std::net::TcpStream::connect(metrics).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page.lines()
        .find(|l| l.starts_with("keel_up "))
        .unwrap_or("keel_up missing")
        .to_string()
}

#[test]
fn a_full_disk_is_reported_and_survived_once_space_returns() {
    if !is_root() {
        eprintln!("SKIPPED[root]: disk-full test because mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("mnt"), "32m") else {
        eprintln!("SKIPPED[tool]: disk-full test because `mount -t tmpfs` failed");
        return;
    };
    let (port, metrics) = (free_port(), format!("127.0.0.1:{}", free_port()));
    let config = dir.path().join("keel.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[server]\ntcp = \"127.0.0.1:{port}\"\nmetrics = \"{metrics}\"\n\
             unix_socket = {:?}\n[kernel]\nenabled = false\n",
            fs.0.join("data"),
            dir.path().join("keel.sock"),
        ),
    )
    .unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--no-kernel", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().starts_with("keel serving") {}
    let stderr = daemon.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        s
    });

    let mut c =
        Client::connect(&Endpoint::Tcp(format!("127.0.0.1:{port}").parse().unwrap())).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    assert!(!c.handshake(&demo_key(0), None).unwrap());
    assert!(matches!(submit(&mut c, 0), Response::BlockOutcome { .. }));
    assert_eq!(status(&mut c).2["healthy"], true);

    // Fill the disk, then commit until the store fails on it.
    let filler = fs.0.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0u8; 1 << 16]).is_ok() {}
    drop(f);
    let mut nonce = 1;
    let failed = loop {
        match submit(&mut c, nonce) {
            Response::BlockOutcome { .. } => nonce += 1,
            other => break other,
        }
        assert!(nonce < 500, "the disk never filled");
    };
    assert!(matches!(failed, Response::Error { .. }), "{failed:?}");
    let (height, _, detail) = status(&mut c);
    assert_eq!(detail["healthy"], false, "{detail}");
    assert!(detail["store_error"].is_string(), "{detail}");
    assert_eq!(keel_up(&metrics), "keel_up 0");

    // Space returns: the store is reopened and the next block commits, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let begun = Instant::now();
    loop {
        match submit(&mut c, nonce) {
            Response::BlockOutcome { .. } => break,
            other => assert!(
                begun.elapsed() < Duration::from_secs(10),
                "never recovered: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (after, _, detail) = status(&mut c);
    assert_eq!(after, height + 1);
    assert_eq!(detail["healthy"], true, "{detail}");
    assert_eq!(keel_up(&metrics), "keel_up 1");

    // SAFETY-free stop: SIGTERM through kill(1), then the error must have been logged.
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    let log = log.join().unwrap();
    assert!(
        log.contains("ERROR") && log.contains("state store failed on the disk"),
        "{log}"
    );
    drop(fs);
}
