//! Shared fixtures of the root-only integration tests: a pair of network namespaces joined by
//! a veth pair (removed on drop, even when the test panics), an echo server, and clients bound
//! to chosen source addresses.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// True when the test may run; otherwise prints a loud SKIPPED line saying why.
pub fn privileged_or_skip(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED[root]: {test} because it needs root (network namespaces, BPF)");
        return false;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("SKIPPED[tool]: {test} because `ip` (iproute2) is not installed");
        return false;
    }
    true
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A unique small number per fixture in this process, for names and subnets.
pub fn unique() -> u32 {
    (std::process::id() % 200) * 16 + NEXT.fetch_add(1, Ordering::Relaxed) % 16
}

/// A unique pin root for one test (removed by the test's detach, and by [`PinRoot`]'s drop).
pub struct PinRoot(pub PathBuf);

impl PinRoot {
    pub fn new(tag: &str) -> Self {
        Self(PathBuf::from(format!(
            "/sys/fs/bpf/keel-test-{}-{tag}-{}",
            std::process::id(),
            unique()
        )))
    }
}

impl Drop for PinRoot {
    fn drop(&mut self) {
        // Pins are files on bpffs; removing them releases whatever a failed test left.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces, `srv` and `cli`, joined by a veth pair. The server side has `server_addr`;
/// the client side has the addresses in `client_addrs`. All in 10.77.0.0/16, inside these
/// namespaces only.
pub struct NetPair {
    pub srv: String,
    pub cli: String,
    pub srv_if: String,
    pub server_addr: IpAddr,
    pub client_addrs: Vec<IpAddr>,
}

impl NetPair {
    pub fn new(clients: u8) -> Self {
        let n = unique();
        let (a, b) = (n / 250, n % 250);
        let pair = Self {
            srv: format!("keel-t{n}-srv"),
            cli: format!("keel-t{n}-cli"),
            srv_if: format!("kv{n}s"),
            server_addr: IpAddr::V4([10, 77 + a as u8, b as u8, 1].into()),
            client_addrs: (0..clients)
                .map(|i| IpAddr::V4([10, 77 + a as u8, b as u8, 10 + i].into()))
                .collect(),
        };
        // Leftovers of a crashed earlier run with the same name.
        let _ = Command::new("ip")
            .args(["netns", "del", &pair.srv])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &pair.cli])
            .output();
        ip(&["netns", "add", &pair.srv]);
        ip(&["netns", "add", &pair.cli]);
        let cli_if = format!("kv{n}c");
        ip(&[
            "link",
            "add",
            &pair.srv_if,
            "netns",
            &pair.srv,
            "type",
            "veth",
            "peer",
            "name",
            &cli_if,
            "netns",
            &pair.cli,
        ]);
        let prefix = |addr: &IpAddr| format!("{addr}/24");
        ip(&[
            "-n",
            &pair.srv,
            "addr",
            "add",
            &prefix(&pair.server_addr),
            "dev",
            &pair.srv_if,
        ]);
        for c in &pair.client_addrs {
            ip(&["-n", &pair.cli, "addr", "add", &prefix(c), "dev", &cli_if]);
        }
        for (ns, dev) in [(&pair.srv, &pair.srv_if), (&pair.cli, &cli_if)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end, which deletes the peer and any XDP link.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.srv])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.cli])
            .output();
    }
}

/// Runs `f` on a new thread inside network namespace `ns` and returns its result.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_in_netns(ns, f)
        .join()
        .expect("thread in netns panicked")
}

/// Spawns `f` on a new thread inside network namespace `ns`.
pub fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("opening netns");
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// An echo server on `addr:port` inside the namespace, stopped (and joined) on drop.
pub struct EchoServer {
    stop: Arc<AtomicBool>,
    pub peers: Arc<Mutex<Vec<IpAddr>>>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    pub fn start(ns: &str, addr: IpAddr, port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (s, p) = (stop.clone(), peers.clone());
        let thread = spawn_in_netns(ns, move || {
            let listener = TcpListener::bind(SocketAddr::new(addr, port)).expect("bind");
            listener.set_nonblocking(true).expect("nonblocking");
            ready_tx.send(()).expect("ready");
            let mut handlers = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        p.lock().expect("peers").push(peer.ip());
                        let s2 = s.clone();
                        handlers.push(std::thread::spawn(move || echo(stream, &s2)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for h in handlers {
                let _ = h.join();
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server ready");
        Self {
            stop,
            peers,
            thread: Some(thread),
        }
    }
}

fn echo(mut stream: TcpStream, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects from `src` to `dst:port` within `timeout` (call inside the client namespace).
pub fn connect_from(
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(SocketAddr::new(dst, port)),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    sock.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
    sock.connect_timeout(&SockAddr::from(SocketAddr::new(dst, port)), timeout)?;
    let stream: TcpStream = sock.into();
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// Sends `rounds` 32-byte requests and checks each echo; returns how many round trips completed.
pub fn round_trips(stream: &mut TcpStream, rounds: u32, pause: Duration) -> u32 {
    let mut done = 0;
    for i in 0..rounds {
        let msg = [i as u8; 32];
        if stream.write_all(&msg).is_err() {
            break;
        }
        let mut back = [0u8; 32];
        if stream.read_exact(&mut back).is_err() || back != msg {
            break;
        }
        done += 1;
        std::thread::sleep(pause);
    }
    done
}

/// Writes as fast as it can for `for_how_long` (draining the echoes on another thread);
/// returns the bytes written.
pub fn flood(stream: TcpStream, for_how_long: Duration) -> u64 {
    let mut reader = stream.try_clone().expect("clone");
    let _ = reader.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + for_how_long;
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while Instant::now() < deadline + Duration::from_secs(1) {
            if let Ok(0) = reader.read(&mut buf) {
                return;
            }
        }
    });
    let mut stream = stream;
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let chunk = vec![0x5au8; 16 * 1024];
    let mut written = 0u64;
    while Instant::now() < deadline {
        match stream.write(&chunk) {
            Ok(n) => written += n as u64,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = drain.join();
    written
}
