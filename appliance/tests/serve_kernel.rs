//! The daemon attaches the kernel programs (admission on its TCP port, observability), keeps
//! them pinned after it stops, and `keel kernel detach` takes them away. Root only.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::keel;

#[test]
fn the_daemon_attaches_kernel_programs_that_outlive_it_until_detached() {
    // SAFETY-free root check through the effective uid in /proc.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root {
        eprintln!("SKIPPED[root]: daemon kernel-program test because it needs root");
        return;
    }
    if !std::path::Path::new("/sys/fs/bpf").exists() {
        eprintln!("SKIPPED[bpf]: daemon kernel-program test because bpffs is not mounted");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pins = format!("/sys/fs/bpf/keel-test-{}", std::process::id());
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (tcp, metrics) = (
        a.local_addr().unwrap().to_string(),
        b.local_addr().unwrap().to_string(),
    );
    drop((a, b));
    let cfg = dir.path().join("keel.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\n[server]\ntcp = {tcp:?}\nmetrics = {metrics:?}\n[kernel]\npin_dir = {pins:?}\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let out = keel(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--demo",
        "--exit-after-demo",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("13/13 transactions succeeded"), "{stdout}");

    assert!(
        stdout.contains("kernel programs stay attached to port"),
        "{stdout}"
    );
    let port = tcp.rsplit(':').next().unwrap();
    let all: serde_json::Value =
        serde_json::from_slice(&keel(&["kernel", "status", "--pin-dir", &pins, "--json"]).stdout)
            .unwrap();
    // One instance, for the daemon's port, and no daemon holds it any more.
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(
        all[0]["port"].as_u64().map(|p| p.to_string()).as_deref(),
        Some(port)
    );
    assert!(all[0]["owner"].is_null(), "{all}");
    let status = all[0]["status"].clone();
    let attached = status["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if attached.is_empty() {
        // The kernel refused every program: the daemon ran without them and said so.
        eprintln!("SKIPPED[bpf]: nothing attached on this kernel: {status}");
        let _ = std::fs::remove_dir_all(&pins);
        return;
    }
    // The admission program watched the daemon's port and let the loopback demo through.
    let passed = status["admission"]["counters"]["passed"]
        .as_u64()
        .unwrap_or(0);
    assert!(passed > 0, "{status}");
    let detach = keel(&["kernel", "detach", "--pin-dir", &pins]);
    assert!(detach.status.success(), "{detach:?}");
    let after: serde_json::Value =
        serde_json::from_slice(&keel(&["kernel", "status", "--pin-dir", &pins, "--json"]).stdout)
            .unwrap();
    assert_eq!(after.as_array().map(Vec::len), Some(0), "{after}");
}

/// A running daemon's pins are its own: status names it, detach refuses to touch them, a
/// second daemon on another port gets its own, and a restart without kernel programs warns that
/// the old ones still guard the port.
#[test]
fn pins_belong_to_the_daemon_serving_their_port_and_detach_tells_the_truth() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root || !std::path::Path::new("/sys/fs/bpf").exists() {
        eprintln!("SKIPPED[root]: kernel pin ownership test needs root and bpffs");
        return;
    }
    let pins = format!("/sys/fs/bpf/keel-owner-test-{}", std::process::id());
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let start = |dir: &std::path::Path, port: u16, extra: &[&str]| {
        let cfg = dir.join("keel.toml");
        std::fs::write(
            &cfg,
            format!(
                "data_dir = {:?}\n[server]\ntcp = \"127.0.0.1:{port}\"\nmetrics = false\n[kernel]\npin_dir = {pins:?}\n",
                dir.join("data")
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["serve", "--config", cfg.to_str().unwrap()])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        while !lines.next().unwrap().unwrap().starts_with("keel serving") {}
        std::thread::spawn(move || lines.for_each(drop));
        (child, port)
    };
    let stop = |c: std::process::Child| {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait_with_output().unwrap()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first, port_a) = start(a.path(), free(), &[]);
    let (second, port_b) = start(b.path(), free(), &[]);
    let st: serde_json::Value =
        serde_json::from_slice(&keel(&["kernel", "status", "--pin-dir", &pins, "--json"]).stdout)
            .unwrap();
    let owners: Vec<(u64, u64)> = st
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["port"].as_u64().unwrap(),
                i["owner"]["pid"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut expected = vec![
        (u64::from(port_a), u64::from(first.id())),
        (u64::from(port_b), u64::from(second.id())),
    ];
    expected.sort();
    assert_eq!(owners, expected, "{st}");
    let refused = keel(&["kernel", "detach", "--pin-dir", &pins]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stdout).contains("stop that daemon first"));
    stop(second);
    stop(first);
    // Restarted without kernel programs: warned that the old ones still guard the port.
    let (again, _) = start(a.path(), port_a, &["--no-kernel"]);
    let out = stop(again);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("still guard port {port_a}")), "{err}");
    let detach = keel(&["kernel", "detach", "--pin-dir", &pins]);
    assert!(detach.status.success(), "{detach:?}");
    assert!(!std::path::Path::new(&pins).exists());
}
