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

    let status: serde_json::Value =
        serde_json::from_slice(&keel(&["kernel", "status", "--pin-dir", &pins, "--json"]).stdout)
            .unwrap();
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
    assert!(
        after["attachments"].as_array().is_none_or(|a| a.is_empty()),
        "{after}"
    );
}
