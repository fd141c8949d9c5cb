//! `keel serve` under a systemd-style service manager (`Type=notify`): it reports READY only
//! once it accepts connections, pings the watchdog at half the manager's interval while it
//! serves, and says STOPPING at SIGTERM.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Next notification datagram, split into its `KEY=value` lines.
fn next(sock: &UnixDatagram) -> Vec<String> {
    let mut buf = [0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .expect("a notification before the timeout");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_daemon_is_ready_only_when_it_serves_pings_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(90)))
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "serve",
            "--no-kernel",
            "--metrics",
            "127.0.0.1:0",
            "--tcp",
            &tcp,
        ])
        .arg("--data")
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &sock_path)
        // 400 ms: pings every 200 ms. No WATCHDOG_PID: the variable is for whoever reads it.
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let ready = next(&sock);
    assert_eq!(ready[0], "READY=1", "{ready:?}");
    assert!(ready[1].starts_with("STATUS=serving"), "{ready:?}");
    // READY promises a listener: a connection must succeed right now, without retrying.
    std::net::TcpStream::connect(&tcp).expect("listening when READY was sent");

    let begun = Instant::now();
    for _ in 0..3 {
        assert_eq!(next(&sock), ["WATCHDOG=1"]);
    }
    // Three pings at 200 ms intervals (the main loop wakes every 100 ms): bounded both ways.
    let took = begun.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "pinged too often: {took:?}"
    );

    assert_eq!(send_signal(child.id(), 15), 0);
    let mut stop = next(&sock);
    while stop == ["WATCHDOG=1"] {
        stop = next(&sock);
    }
    assert_eq!(stop[0], "STOPPING=1", "{stop:?}");
    assert!(child.wait().unwrap().success());
}

/// Sends `sig` to `pid` through kill(1), keeping the test free of unsafe libc calls.
fn send_signal(pid: u32, sig: i32) -> i32 {
    Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap()
        .code()
        .unwrap_or(-1)
}
