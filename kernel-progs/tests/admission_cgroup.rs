//! The cgroup_skb fallback end to end: the server is a separate process placed in its own
//! cgroup (cgroup_skb judges packets by the receiving socket's cgroup), in a network namespace
//! joined to the clients' by a veth pair. Root only; skips loudly otherwise.

mod common;

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{NetPair, connect_from, in_netns, privileged_or_skip, round_trips, unique};
use keel_kernel_progs::{
    Admission, AdmissionConfig, AttachKind, AttachMode, IpNet, KernelError, cgroup2_root,
};

const PORT: u16 = 7701;

/// A threaded echo server that says "ready" once listening.
const ECHO_PY: &str = r#"
import socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)
socketserver.ThreadingTCPServer.allow_reuse_address = True
srv = socketserver.ThreadingTCPServer((sys.argv[1], int(sys.argv[2])), Echo)
print("ready", flush=True)
srv.serve_forever()
"#;

/// A cgroup with the echo server process in it; killed and removed on drop.
struct ServerInCgroup {
    cgroup: PathBuf,
    child: Option<Child>,
}

impl ServerInCgroup {
    fn start(root: PathBuf, ns: &str, addr: IpAddr) -> Result<Self, String> {
        let cgroup = root.join(format!("keel-test-{}-{}", std::process::id(), unique()));
        std::fs::create_dir(&cgroup).map_err(|e| format!("creating {}: {e}", cgroup.display()))?;
        let mut guard = Self {
            cgroup,
            child: None,
        };
        // The shell joins the cgroup before exec, so the server's socket is born in it.
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec ip netns exec {ns} python3 -c '{ECHO_PY}' {addr} {PORT}",
            guard.cgroup.display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawning the server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        guard.child = Some(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim() != "ready" {
            return Err(format!("server did not start (python3 missing?): {line:?}"));
        }
        Ok(guard)
    }
}

impl Drop for ServerInCgroup {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // rmdir succeeds once the cgroup has no process left; retry briefly while it exits.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.cgroup).is_ok() || !self.cgroup.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn the_cgroup_fallback_serves_allowlisted_clients_and_drops_unknown_ones() {
    if !privileged_or_skip("the_cgroup_fallback_serves_allowlisted_clients_and_drops_unknown_ones")
    {
        return;
    }
    let root = match cgroup2_root() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("SKIPPED[cgroup2]: cgroup fallback test because {e}");
            return;
        }
    };
    let pair = NetPair::new(2);
    let (good, bad) = (pair.client_addrs[0], pair.client_addrs[1]);
    let server = match ServerInCgroup::start(root, &pair.srv, pair.server_addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "SKIPPED[cgroup2]: cgroup fallback test because the echo server did not start: {e}"
            );
            return;
        }
    };
    let config = AdmissionConfig {
        port: PORT,
        attach: AttachMode::Cgroup,
        cgroup: Some(server.cgroup.clone()),
        allowlist: vec![IpNet::from(good)],
        ..AdmissionConfig::default()
    };
    let adm = match Admission::attach(&config, None) {
        Ok(a) => a,
        Err(e @ (KernelError::Unsupported { .. } | KernelError::NotPermitted { .. })) => {
            eprintln!(
                "SKIPPED[bpf]: cgroup fallback test because the kernel refused cgroup_skb: {e}"
            );
            return;
        }
        Err(e) => panic!("attach: {e}"),
    };
    assert_eq!(adm.attachments()[0].kind, AttachKind::CgroupSkb);

    let dst = pair.server_addr;
    let run = move |src: IpAddr, timeout: Duration| {
        in_netns(&pair.cli, move || {
            let mut s = connect_from(src, dst, PORT, timeout).map_err(|e| e.to_string())?;
            Ok::<u32, String>(round_trips(&mut s, 5, Duration::from_millis(5)))
        })
    };
    assert_eq!(run(good, Duration::from_secs(10)), Ok(5));
    assert_eq!(adm.counters().unwrap().not_allowlisted, 0);
    assert!(
        run(bad, Duration::from_secs(3)).is_err(),
        "the unknown client must not connect"
    );
    let c = adm.counters().unwrap();
    assert!(c.not_allowlisted >= 1, "{c:?}");
    assert!(c.passed >= 5, "{c:?}");
    adm.detach().unwrap();
    drop(server);
}
