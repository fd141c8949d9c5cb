//! The operator's first hour, end to end against a running daemon: status, account, a proof
//! that `keel state verify` accepts, a read-only call, a failing transaction with a non-zero
//! exit, local reads that name the daemon instead of failing on a locked database, a second
//! daemon that is refused (same data dir, or another data dir on the same port) without
//! creating anything, and a SIGKILLed daemon replaced at once without losing a connection.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn keel(args: &[&str]) -> Output {
    common::keel(args)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A daemon on `dir` and `tcp`; returns once `until` has been printed, with the lines so far.
fn daemon(dir: &Path, tcp: &str, extra: &[&str], until: &str) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--data", dir.to_str().unwrap(), "--tcp", tcp])
        .args(["--metrics", "off", "--no-kernel"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let begun = Instant::now();
    let mut seen = Vec::new();
    loop {
        let line = lines.next().unwrap().unwrap();
        let done = line.contains(until);
        seen.push(line);
        if done {
            break;
        }
        assert!(begun.elapsed() < Duration::from_secs(120), "{seen:?}");
    }
    // Keep draining so the daemon never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, seen)
}

fn stop(mut child: Child) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_cli_walkthrough_works_while_the_daemon_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let tcp = format!("127.0.0.1:{}", free_port());
    let (daemon, lines) = daemon(dir.path(), &tcp, &["--demo"], "demo done");
    let counter = lines
        .iter()
        .find_map(|l| l.split("deployed counter at ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    let keystore = format!("{d}/keystore.json");
    let unix = format!("unix:{d}/keel.sock");
    let conn = ["--endpoint", &tcp, "--keystore", &keystore, "--key", "0"];
    let client = |args: &[&str]| keel(&[&["client"], args, &conn].concat());

    // Unauthenticated: refused, and told what to pass.
    let out = keel(&["client", "status", "--endpoint", &unix]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("pass --key N"), "{err}");

    let out = client(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status["height"].as_u64().unwrap() >= 2, "{status}");

    let out = client(&["account", "1", "--json"]);
    let acc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{acc}");
    assert!(acc["account"]["balance"].is_string() || acc["account"]["balance"].is_number());
    let nonce = acc["account"]["nonce"].as_u64().unwrap();

    // A proof from the daemon is accepted by the offline verifier.
    let key = format!("storage:{counter}:{}", hex::encode(b"count"));
    let out = client(&["query", &key, "--json"]);
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = |k: &str| p[k].as_str().unwrap().to_string();
    let verify = keel(&[
        "state",
        "verify",
        "--root",
        &s("root"),
        "--key",
        &key,
        "--value",
        &s("value"),
        "--proof",
        &s("proof"),
    ]);
    assert!(verify.status.success(), "{:?}", text(&verify));
    let missing = client(&["account", &"ab".repeat(32)]);
    assert_eq!(missing.status.code(), Some(3), "{:?}", text(&missing));

    let out = client(&["call", &counter, "get"]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("ok, returned 0x03"), "{stdout}");
    assert!(stdout.contains("gas compute"), "{stdout}");

    // A transaction that fails (no such function) is committed as FAILED: exit 2.
    let signed = keel(&[
        "tx",
        "sign",
        "--data",
        &d,
        "--from",
        "1",
        "--nonce",
        &nonce.to_string(),
        "--call",
        &counter,
        "--entry",
        "no_such_function",
    ]);
    let (tx, err) = text(&signed);
    assert!(signed.status.success(), "{err}");
    let out = client(&["submit", tx.trim()]);
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{err}");
    assert!(
        stdout.contains("Failed") || stdout.contains("failed"),
        "{stdout}"
    );

    // Governance through the daemon, the same shape as the local command.
    let out = client(&["gov-status", "--json"]);
    let gov: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(gov["validators"].as_array().map(Vec::len), Some(4), "{gov}");
    assert!(gov["params"]["quorum_bps"].is_number(), "{gov}");

    // A governance transaction signed while the daemon runs (nonce, chain id and activation
    // read through it), then submitted through it.
    let signed = keel(&[
        "gov", "kill", "division", "--data", &d, "--from", "1", "--print",
    ]);
    let (gov_tx, err) = text(&signed);
    assert!(signed.status.success(), "{err}");
    let out = client(&["gov", gov_tx.trim()]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = client(&["gov-status", "--json"]);
    let gov: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(gov["proposals"].as_array().map(Vec::len), Some(1), "{gov}");

    // The keystore's accounts, without secrets.
    let out = keel(&["tx", "keys", "--data", &d, "--json"]);
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys.as_array().map(Vec::len), Some(8), "{keys}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
    // The audit trail reads alongside the daemon; a mistyped data dir is an error.
    assert!(keel(&["audit", "tail", "--data", &d]).status.success());
    let out = keel(&["audit", "tail", "--data", &format!("{d}/nope")]);
    assert_eq!(out.status.code(), Some(1));

    // Local reads go through the daemon holding the data dir, with the same output shapes.
    let local = keel(&["chain", "status", "--data", &d, "--json"]);
    assert!(local.status.success(), "{:?}", text(&local));
    let remote = client(&["status", "--json"]);
    assert_eq!(local.stdout, remote.stdout);
    let local = keel(&["state", "proof", &key, "--data", &d, "--json"]);
    let remote = client(&["query", &key, "--json"]);
    assert!(local.status.success(), "{:?}", text(&local));
    assert_eq!(local.stdout, remote.stdout);
    let local = keel(&["gov", "status", "--data", &d, "--json"]);
    assert!(local.status.success(), "{:?}", text(&local));
    assert_eq!(local.stdout, client(&["gov-status", "--json"]).stdout);
    let signed = keel(&[
        "tx",
        "sign",
        "--data",
        &d,
        "--from",
        "1",
        "--to",
        &"00".repeat(32),
        "--amount",
        "1",
    ]);
    assert!(signed.status.success(), "{:?}", text(&signed));
    // A local write names the daemon and how to submit through it.
    let out = keel(&["tx", "send", "--data", &d, text(&signed).0.trim()]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(&format!("pid {}", daemon.id())), "{err}");
    assert!(err.contains("keel client submit"), "{err}");

    // A second daemon on the same data dir is refused before it touches anything.
    let other_port = format!("127.0.0.1:{}", free_port());
    let out = keel(&[
        "serve",
        "--data",
        &d,
        "--tcp",
        &other_port,
        "--metrics",
        "off",
        "--no-kernel",
    ]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(&format!("pid {}", daemon.id())), "{err}");

    // Another data dir on the same port: refused, naming the daemon, and no chain created.
    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path().to_str().unwrap();
    let out = keel(&[
        "serve",
        "--data",
        f,
        "--tcp",
        &tcp,
        "--metrics",
        "off",
        "--no-kernel",
    ]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&format!("another keel (pid {}, data dir", daemon.id())),
        "{err}"
    );
    assert!(!fresh.path().join(keel_state::DB_FILE_NAME).exists());
    assert!(!fresh.path().join("keel.sock").exists());
    // The first daemon's socket is still there and answers.
    assert!(client(&["status"]).status.success());
    assert!(
        keel(&[
            "client",
            "status",
            "--endpoint",
            &unix,
            "--keystore",
            &keystore,
            "--key",
            "0"
        ])
        .status
        .success()
    );

    // `| head`: a closed pipe ends the command quietly, not with a panic.
    let mut c = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--print-config", "--data", &d])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(c.stdout.take());
    let out = c.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(101), "{:?}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    stop(daemon);
    // Stopped: the local read works again.
    assert!(keel(&["chain", "status", "--data", &d]).status.success());
}

#[test]
fn a_daemon_killed_and_restarted_at_once_serves_every_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let tcp = format!("127.0.0.1:{}", free_port());
    let keystore = format!("{d}/keystore.json");
    let (first, _) = daemon(dir.path(), &tcp, &[], "keel serving");
    let mut previous = first;
    for _ in 0..3 {
        // Restarted before the killed one is even reaped: its lock, Unix socket and TCP
        // listeners (held by its io_uring until the kernel tears the ring down) are waited out.
        previous.kill().unwrap();
        let (next, lines) = daemon(dir.path(), &tcp, &[], "keel serving");
        previous.wait().unwrap();
        if !lines.iter().any(|l| l.contains("io_uring backend")) {
            println!("SKIPPED[io_uring]: the daemon fell back to epoll: {lines:?}");
        }
        for i in 0..20 {
            let out = keel(&[
                "client",
                "status",
                "--endpoint",
                &tcp,
                "--keystore",
                &keystore,
                "--key",
                "0",
            ]);
            assert!(out.status.success(), "connection {i}: {:?}", text(&out));
        }
        previous = next;
    }
    stop(previous);
}

#[test]
fn an_invalid_configuration_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("keel.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\n[server]\nidle_timeout_ms = 0\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = keel(&["serve", "--config", cfg.to_str().unwrap(), "--no-kernel"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("idle_timeout_ms"), "{err}");
    assert!(!data.exists(), "the data dir was created before validation");

    // --print-config shows the effective values with their comments, and parses back.
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\n[server]\ntcp = false\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = keel(&["serve", "--config", cfg.to_str().unwrap(), "--print-config"]);
    let (printed, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(printed.contains("tcp = false"), "{printed}");
    assert!(printed.contains("# TCP listen address"), "{printed}");
    let sock = data.join("keel.sock");
    assert!(
        printed.contains(&format!("unix_socket = {:?}", sock.to_str().unwrap())),
        "{printed}"
    );
    assert!(!data.exists());
    let again = dir.path().join("again.toml");
    std::fs::write(&again, &printed).unwrap();
    let out = keel(&[
        "serve",
        "--config",
        again.to_str().unwrap(),
        "--print-config",
    ]);
    assert_eq!(text(&out).0, printed);
}
