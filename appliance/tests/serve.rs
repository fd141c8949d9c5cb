//! The daemon end to end: `keel serve --demo` runs the demo client workload against itself over
//! io_uring and over the epoll fallback, and a SIGTERM stops it cleanly (exit 0).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::keel;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Two distinct free ports (both probed while held, so they cannot coincide).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// `keel serve` on `dir` with free ports; also returns its TCP address.
fn serve(dir: &std::path::Path, extra: &[&str]) -> (Command, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keel"));
    let (p1, p2) = free_ports();
    let tcp = format!("127.0.0.1:{p1}");
    let metrics = format!("127.0.0.1:{p2}");
    c.args([
        "serve",
        "--data",
        dir.to_str().unwrap(),
        "--tcp",
        &tcp,
        "--metrics",
        &metrics,
        "--no-kernel",
    ]);
    c.args(extra);
    (c, tcp)
}

/// Starts the daemon and waits for its "keel serving" line; returns it, its remaining stdout
/// lines and its TCP address.
fn start(
    dir: &std::path::Path,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
    String,
) {
    let (mut cmd, tcp) = serve(dir, &[]);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let begun = Instant::now();
    while !lines.next().unwrap().unwrap().starts_with("keel serving") {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "daemon did not start"
        );
    }
    (child, lines, tcp)
}

fn demo(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = serve(
        dir.path(),
        &[&["--demo", "--exit-after-demo"], extra].concat(),
    )
    .0
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn check_demo(stdout: &str) {
    for expected in [
        "created a demo chain",
        "may submit blocks",
        "simulated the deploy: success (not committed)",
        "deployed counter",
        "SubmitTx: 14 transactions admitted to the mempool",
        "(9 waited for an earlier nonce, 1 replaced a pending one by a higher priority fee)",
        "BuildBlock: packed 13 transactions",
        "13/13 transactions succeeded",
        "counter = 3, proven against root",
        "forged on purpose",
        "simulated counter.get (not committed): ok, returned 0x0300000000000000",
        "keel client call",
        "invalid positions [5]",
        "pipelined 200 status requests, 200 answers",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn the_demo_workload_runs_against_the_daemon_over_io_uring() {
    let stdout = demo(&[]);
    check_demo(&stdout);
    // Where the kernel allows io_uring, it is the backend; otherwise the daemon said why.
    if !stdout.contains("(io_uring backend)") {
        eprintln!(
            "SKIPPED[io_uring]: io_uring assertion: the daemon fell back to epoll here:\n{stdout}"
        );
    }
}

#[test]
fn the_demo_workload_runs_against_the_epoll_fallback() {
    let stdout = demo(&["--no-io-uring"]);
    check_demo(&stdout);
    assert!(stdout.contains("(epoll backend)"), "{stdout}");
}

#[test]
fn sigterm_stops_the_daemon_cleanly_and_the_chain_survives() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, lines, _) = start(dir.path());
    // SAFETY-free: send SIGTERM through the kill command.
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("stopped cleanly")),
        "{rest:?}"
    );
    // The chain opens again.
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["chain", "status", "--data", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn validators_submit_governance_to_the_daemon_and_read_it_back_with_a_proof() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (mut child, _lines, tcp) = start(dir.path());
    let keystore = dir.path().join("keystore.json");
    let ks = keystore.to_str().unwrap();
    // Signed offline (the daemon holds the database), submitted by validator 1.
    let out = keel(&[
        "gov", "kill", "division", "--data", d, "--from", "1", "--print", "--nonce", "0", "--at",
        "50",
    ]);
    assert!(out.status.success(), "{out:?}");
    let tx = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let client_gov = |tx: &str| {
        keel(&[
            "client",
            "gov",
            "--endpoint",
            &tcp,
            "--keystore",
            ks,
            "--key",
            "1",
            tx,
        ])
    };
    let out = client_gov(&tx);
    assert!(out.status.success(), "{out:?}");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["receipt"]["status"]["status"], "success", "{answer}");
    assert_eq!(answer["governance"][0]["kind"], "proposed");
    // The same transaction again is a replay: rejected for its nonce.
    let again = client_gov(&tx);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["receipt"]["status"]["status"], "rejected");
    // A non-governance transaction in a GovernanceSubmit is refused.
    let transfer = keel(&[
        "tx",
        "sign",
        "--data",
        d,
        "--from",
        "1",
        "--nonce",
        "1",
        "--to",
        &"00".repeat(32),
        "--amount",
        "1",
    ]);
    let transfer = String::from_utf8_lossy(&transfer.stdout).trim().to_string();
    let refused = client_gov(&transfer);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("governance transaction"));

    // The proposal is in the state: read it through the daemon, proof checked by the client.
    let key = format!("{}{}", hex_of(b"\0gov/proposal/"), "0000000000000000");
    let out = keel(&[
        "client",
        "query",
        "--endpoint",
        &tcp,
        "--keystore",
        ks,
        "--key",
        "2",
        &key,
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verified: yes"), "{text}");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `keel hwtest run --plugin bundled` with the hwtest key of `data`, its report in `out`.
fn qualify_bundled_plugin(key: &std::path::Path, out: &std::path::Path) {
    let o = keel(&[
        "hwtest",
        "run",
        "--tiny",
        "--paths",
        "bls",
        "--plugin",
        "bundled",
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
}

/// A config naming a copy of the bundled plug-in in `dir`, which is made readable by every
/// account: the plug-in host loads it as the daemon's service user.
fn plugin_config(dir: &std::path::Path, report: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plugin = dir.join("libkeel_offload_blst.so");
    std::fs::copy(keel_hwtest::plugin::BUNDLED_BLST_PLUGIN, &plugin).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let toml = dir.join("keel.toml");
    std::fs::write(
        &toml,
        format!(
            "bls_plugin = {:?}\nbls_plugin_report = {:?}\n",
            plugin.to_str().unwrap(),
            report.to_str().unwrap()
        ),
    )
    .unwrap();
    toml
}

#[test]
fn the_daemon_verifies_with_a_plugin_that_hwtest_qualified_on_this_appliance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    qualify_bundled_plugin(&data.join("hwtest.key"), &dir.path().join("q"));
    let toml = plugin_config(dir.path(), &dir.path().join("q/report.json"));
    let out = serve(
        &data,
        &[
            "--config",
            toml.to_str().unwrap(),
            "--demo",
            "--exit-after-demo",
            "--log",
            "info",
        ],
    )
    .0
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Blocks' signatures and the forged BlsBatchVerify item went through the plug-in.
    check_demo(&stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BLS verification on a qualified plug-in"),
        "{stderr}"
    );
}

#[test]
fn the_daemon_refuses_a_plugin_qualified_by_another_appliance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // This appliance has its own key; the report was signed with another one.
    qualify_bundled_plugin(&data.join("hwtest.key"), &dir.path().join("mine"));
    qualify_bundled_plugin(&dir.path().join("other.key"), &dir.path().join("q"));
    let toml = plugin_config(dir.path(), &dir.path().join("q/report.json"));
    let out = serve(
        &data,
        &[
            "--config",
            toml.to_str().unwrap(),
            "--demo",
            "--exit-after-demo",
        ],
    )
    .0
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing BLS plug-in") && stderr.contains("not by this appliance"),
        "{stderr}"
    );
}
