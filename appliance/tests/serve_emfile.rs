//! The io_uring daemon beyond its descriptor limit (issue 25): with RLIMIT_NOFILE lowered to
//! the descriptors it already holds, the authenticated validator that connected before keeps
//! being served, more connections than the limit allows are accepted and served (a ring keeps
//! connections as registered descriptors, which the limit does not count, and its armed
//! multishot accept uses the limit of the moment it was armed), and the daemon does not spin
//! (its CPU time stays bounded). The ring's own EMFILE back-off (re-arm on the next tick) is
//! what runs if the limit is already short when an accept is armed.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_chain::genesis::demo_key;
use keel_client::{Client, Endpoint};
use keel_protocol::{Request, Response};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The lowest descriptor number `pid` does not use: with the limit there, no new one fits.
fn lowest_free_fd(pid: u32) -> u64 {
    let used: std::collections::BTreeSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !used.contains(n)).unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Sets `pid`'s RLIMIT_NOFILE soft limit (the hard limit stays). The sandboxed daemon runs as
/// its service user, and lowering another user's limit needs CAP_SYS_RESOURCE, which
/// containers (this CI's among them) withhold even from root: so `prlimit(1)` runs as the
/// daemon's own user and group.
fn set_nofile(pid: u32, limit: u64) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let id = |field: &str| -> u32 {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:"))
        .gid(id("Gid:"))
        .uid(id("Uid:"))
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// User plus system CPU time of `pid`, in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn status_ok(c: &mut Client) -> bool {
    matches!(c.call_raw(&Request::Status), Ok(Response::Status(_)))
}

#[test]
fn beyond_its_descriptor_limit_the_ring_serves_the_validator_and_new_clients_without_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--no-kernel", "--data"])
        .arg(dir.path().join("data"))
        .args(["--tcp", &format!("127.0.0.1:{port}")])
        .args(["--metrics", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().starts_with("keel serving") {}
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut validator = Client::connect(&Endpoint::Tcp(addr)).unwrap();
    validator
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    validator.handshake(&demo_key(0), None).unwrap();
    assert!(status_ok(&mut validator));

    let (limit, held) = (lowest_free_fd(pid), open_fds(pid));
    // As root this must work; the daemon may still be finishing its privilege drop, so retry.
    let mut lowered = set_nofile(pid, limit);
    for _ in 0..50 {
        if lowered.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        lowered = set_nofile(pid, limit);
    }
    if let Err(e) = lowered {
        let _ = daemon.kill();
        let _ = daemon.wait();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("SKIPPED[root]: cannot lower the daemon's descriptor limit ({e})");
            return;
        }
        panic!("cannot lower the daemon's descriptor limit as root: {e}");
    }
    // Strangers beyond the limit, then an authenticated latecomer.
    let strangers: Vec<TcpStream> = (0..48).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let (ticks_before, begun) = (cpu_ticks(pid), Instant::now());
    let mut answered = 0;
    while begun.elapsed() < Duration::from_secs(2) {
        assert!(status_ok(&mut validator), "the validator was not served");
        answered += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let ticks = cpu_ticks(pid) - ticks_before;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let cpu = Duration::from_millis(ticks * 1000 / hz);
    // A loop retrying a failing accept at once spins a core (2 s here); serving the
    // validator's ~100 requests costs a few milliseconds.
    assert!(
        cpu < Duration::from_millis(600),
        "the daemon used {cpu:?} of CPU in 2 s at its descriptor limit ({answered} answers)"
    );
    let mut late = Client::connect(&Endpoint::Tcp(addr)).unwrap();
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    late.handshake(&demo_key(1), None).unwrap();
    assert!(
        status_ok(&mut late),
        "a connection beyond the limit was not served"
    );
    assert!(
        open_fds(pid) <= held,
        "the connections hold no descriptors ({} open, {held} before)",
        open_fds(pid)
    );
    drop(strangers);
    let _ = daemon.kill();
    let _ = daemon.wait();
}
