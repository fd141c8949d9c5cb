//! The daemon's sandbox end to end: after start-up every thread runs as the service user with
//! no capabilities, `no_new_privs` and a seccomp filter; each thread class refuses `open` of
//! /etc/shadow, `execve`, a new socket, a new io_uring and `ptrace` while other clients are
//! served (`--sandbox=enforce`); `--sandbox=log` counts violations (none over the demo
//! workload), the default (`kill`) kills, `off` is loud. The probes are compiled in only for tests (keel-sandbox's `probe` feature,
//! a dev-dependency) and triggered by SIGUSR2. Root only (the daemon drops from root).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_client::{Client, Endpoint};
use keel_protocol::{Request, Response};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

fn root_or_skip(what: &str) -> bool {
    if !is_root() {
        eprintln!("SKIPPED[root]: {what}: the daemon drops privileges only when started as root");
    }
    is_root()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Daemon {
    child: Child,
    tcp: String,
    metrics: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `keel serve` on `dir` and waits until it serves.
fn start(dir: &std::path::Path, extra: &[&str]) -> Daemon {
    let (tcp, metrics) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--data", dir.to_str().unwrap(), "--tcp", &tcp])
        .args(["--metrics", &metrics, "--no-kernel"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let begun = Instant::now();
    loop {
        let line = lines
            .next()
            .expect("the daemon exited before serving")
            .unwrap();
        if line.starts_with("keel serving") {
            break;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "daemon did not start"
        );
    }
    std::thread::spawn(move || lines.for_each(drop));
    Daemon {
        child,
        tcp,
        metrics,
    }
}

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page
}

/// `(class, attempt) → outcome` from the probe lines of a metrics page.
fn probe_outcomes(page: &str) -> BTreeMap<(String, String), String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("keel_sandbox_probe{"))
        .filter_map(|l| {
            let field = |name: &str| {
                let start = l.find(&format!("{name}=\""))? + name.len() + 2;
                let len = l[start..].find('"')?;
                Some(l[start..start + len].to_string())
            };
            Some(((field("class")?, field("attempt")?), field("outcome")?))
        })
        .collect()
}

fn client(d: &Daemon) -> Client {
    let mut c = Client::connect(&Endpoint::Tcp(d.tcp.parse().unwrap())).unwrap();
    c.handshake(&keel_chain::genesis::demo_key(0), None)
        .unwrap();
    c
}

/// Work that passes through every thread class: requests (network, execution), a batch
/// verification (BLS workers, batcher) and a scrape (metrics).
fn traffic(c: &mut Client, d: &Daemon) -> String {
    assert!(matches!(
        c.call(&Request::Status).unwrap(),
        Response::Status(_)
    ));
    let key = keel_chain::genesis::demo_key(1);
    let items = (0..4u8)
        .map(|i| {
            let msg = vec![i; 32];
            (
                key.public_key().to_bytes(),
                msg.clone(),
                key.sign(&msg).to_bytes(),
            )
        })
        .collect();
    let answer = c.call(&Request::BlsBatchVerify { items }).unwrap();
    assert!(
        matches!(&answer, Response::VerifyResult { valid } if valid.iter().all(|&v| v)),
        "{answer:?}"
    );
    scrape(&d.metrics)
}

const CLASSES: [&str; 6] = ["network", "execution", "bls", "batcher", "metrics", "main"];
const ATTEMPTS: [&str; 5] = [
    "open_etc_shadow",
    "execve",
    "socket",
    "io_uring_setup",
    "ptrace",
];

/// Sends the probe signal and drives traffic until every class has reported (bounded).
fn probe_every_class(d: &Daemon, c: &mut Client) -> BTreeMap<(String, String), String> {
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(d.child.id() as i32, libc::SIGUSR2) }, 0);
    let begun = Instant::now();
    loop {
        let outcomes = probe_outcomes(&traffic(c, d));
        let all = CLASSES.iter().all(|class| {
            ATTEMPTS
                .iter()
                .all(|a| outcomes.contains_key(&(class.to_string(), a.to_string())))
        });
        if all {
            return outcomes;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "not every thread class ran the probes: {outcomes:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_thread_class_refuses_forbidden_syscalls_while_other_clients_are_served() {
    if !root_or_skip("sandbox probes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // EPERM rather than the default SIGSYS: the daemon must survive to show every refusal.
    let d = start(dir.path(), &["--sandbox=enforce"]);
    let mut prober = client(&d);
    let mut other = client(&d);
    let outcomes = probe_every_class(&d, &mut prober);
    for ((class, attempt), outcome) in &outcomes {
        let expected = match (class.as_str(), attempt.as_str()) {
            // The main thread may open files (Landlock and the service user's rights decide:
            // /etc/shadow is not readable by it) and open client sockets (the demo, sd_notify).
            ("main", "open_etc_shadow") => "errno_13",
            ("main", "socket") => "allowed",
            _ => "refused",
        };
        assert_eq!(outcome, expected, "{class}: {attempt}");
    }
    // The other client was served throughout, and still is.
    for _ in 0..20 {
        assert!(matches!(
            other.call(&Request::Status).unwrap(),
            Response::Status(_)
        ));
    }
}

#[test]
fn after_start_up_every_thread_runs_unprivileged_and_filtered() {
    if !root_or_skip("privilege drop") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &[]);
    let page = scrape(&d.metrics);
    assert!(page.contains("keel_sandbox_enforced 1"), "{page}");
    assert!(page.contains("keel_sandbox_locked 1"), "{page}");
    let tasks = std::fs::read_dir(format!("/proc/{}/task", d.child.id())).unwrap();
    let mut threads = 0;
    for task in tasks {
        // A thread that ended between the listing and this read has nothing left to check.
        let status = match std::fs::read_to_string(task.unwrap().path().join("status")) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("reading a thread's status: {e}"),
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim()
                .to_string()
        };
        let name = field("Name:");
        assert!(
            !field("Uid:").starts_with("0"),
            "{name} runs as root: {status}"
        );
        for cap in ["CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
            assert_eq!(field(cap), "0000000000000000", "{name}: {cap}");
        }
        assert_eq!(field("NoNewPrivs:"), "1", "{name}");
        assert_eq!(field("Seccomp:"), "2", "{name} has no seccomp filter");
        threads += 1;
    }
    assert!(threads >= 5, "only {threads} threads");
    // The data directory now belongs to the service user.
    use std::os::unix::fs::MetadataExt;
    assert_ne!(std::fs::metadata(dir.path()).unwrap().uid(), 0);
}

#[test]
fn log_mode_counts_violations_and_the_demo_workload_has_none() {
    if !root_or_skip("log mode") {
        return;
    }
    // The demo workload, with kernel programs, in log mode: no violation reported.
    let dir = tempfile::tempdir().unwrap();
    let (tcp, metrics) = (free_port(), free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--data", dir.path().to_str().unwrap()])
        .args(["--tcp", &format!("127.0.0.1:{tcp}")])
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .args(["--sandbox=log", "--demo", "--exit-after-demo"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("13/13 transactions succeeded"), "{stdout}");
    assert!(!stderr.contains("violation"), "{stderr}");
    let _ = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["kernel", "detach", "--port", &tcp.to_string()])
        .output();

    // The counter can count: the probes' forbidden syscalls are violations in log mode.
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &["--sandbox=log"]);
    let mut c = client(&d);
    let page = scrape(&d.metrics);
    assert!(page.contains("keel_sandbox_violations_total 0"), "{page}");
    assert!(page.contains("keel_sandbox_enforced 0"), "{page}");
    probe_every_class(&d, &mut c);
    let counted = scrape(&d.metrics)
        .lines()
        .find_map(|l| l.strip_prefix("keel_sandbox_violations_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap();
    assert!(counted > 0, "the probes' syscalls were not counted");
}

#[test]
fn by_default_a_forbidden_syscall_kills_the_daemon_with_sigsys() {
    if !root_or_skip("kill mode") {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    // No --sandbox: the default is `kill`.
    let mut d = start(dir.path(), &[]);
    let mut c = client(&d);
    traffic(&mut c, &d);
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(d.child.id() as i32, libc::SIGUSR2) }, 0);
    let begun = Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        let _ = c.call(&Request::Status);
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "the daemon survived a violation"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}");
}

#[test]
fn sandbox_off_is_said_on_metrics() {
    if !root_or_skip("sandbox off") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &["--sandbox=off"]);
    let page = scrape(&d.metrics);
    assert!(page.contains("keel_sandbox_off 1"), "{page}");
    assert!(page.contains("keel_sandbox_enforced 0"), "{page}");
}

/// `keel serve --demo --exit-after-demo` on `dir` with contracts on the JIT tier.
fn jit_demo(dir: &std::path::Path, sandbox: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .env("KEEL_VM_ENGINE", "wasmtime")
        .args(["serve", "--data", dir.to_str().unwrap(), "--no-kernel"])
        .args(["--tcp", &format!("127.0.0.1:{}", free_port())])
        .args(["--metrics", &format!("127.0.0.1:{}", free_port())])
        .args([sandbox, "--demo", "--exit-after-demo"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Every contract call gives wasmi's result (an engine-limit trap would fail some).
    assert!(stdout.contains("13/13 transactions succeeded"), "{stdout}");
    (stdout, stderr)
}

fn artifacts(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join(keel_vm::engine::artifact_cache::CACHE_DIR))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "cwasm")
        })
        .count()
}

#[test]
fn sandboxed_workers_fill_and_read_the_jit_cache_through_the_store_thread() {
    if !root_or_skip("JIT cache under the sandbox") {
        return;
    }
    // Enforced: the request workers that compile the demo's contracts cannot open files (nor
    // create memfds), yet the calls succeed and their artifacts are written (by the store
    // thread).
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr) = jit_demo(dir.path(), "--sandbox=enforce");
    assert!(!stderr.contains("cannot store"), "{stderr}");
    let written = artifacts(dir.path());
    assert!(
        written > 0,
        "no artifact written under the sandbox\n{stderr}"
    );
    // Restarted in log mode, the same contracts load from the cache: no thread made a
    // forbidden syscall for it, and nothing new was compiled into another file.
    let (_, stderr) = jit_demo(dir.path(), "--sandbox=log");
    assert!(!stderr.contains("violation"), "{stderr}");
    assert_eq!(artifacts(dir.path()), written);
}
