// Two appliances on this machine: each its own root prefix (dpkg database, /etc, /var/lib/keel,
// its user), its own ports and bpffs pin directory; the service run by the keel role's
// `direct` manager because PID 1 is not systemd here.

use super::{ansible_dir, run};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Host {
    pub name: &'static str,
    pub root: PathBuf,
    pub tcp: u16,
    pub metrics: u16,
    /// bpffs pin directory when this host runs the kernel programs.
    pub pin_dir: Option<PathBuf>,
}

impl Host {
    /// A fresh machine: an empty dpkg database and nothing else.
    pub fn new(name: &'static str, base: &Path, ports: (u16, u16), kernel: bool) -> Host {
        let root = base.join(name);
        let dpkg = root.join("var/lib/dpkg");
        for d in ["info", "updates"] {
            std::fs::create_dir_all(dpkg.join(d)).unwrap();
        }
        for f in ["status", "available"] {
            std::fs::write(dpkg.join(f), "").unwrap();
        }
        let pin_dir = kernel.then(|| {
            PathBuf::from(format!(
                "/sys/fs/bpf/keel-fleet-test-{}-{name}",
                std::process::id()
            ))
        });
        Host {
            name,
            root,
            tcp: ports.0,
            metrics: ports.1,
            pin_dir,
        }
    }

    /// The host's entry in the inventory (YAML).
    fn inventory_entry(&self) -> String {
        let kernel = match &self.pin_dir {
            Some(p) => format!(
                "      keel_kernel_enabled: true\n      keel_kernel_pin_dir: {}\n",
                p.display()
            ),
            None => "      keel_kernel_enabled: false\n".to_owned(),
        };
        format!(
            "    {}:\n      keel_root: {}\n      keel_tcp_listen: \"127.0.0.1:{}\"\n      \
             keel_metrics_listen: \"127.0.0.1:{}\"\n{kernel}",
            self.name,
            self.root.display(),
            self.tcp,
            self.metrics
        )
    }

    /// The Debian version of keel installed in this root ("" when none).
    pub fn installed_version(&self) -> String {
        let out = run(Command::new("dpkg-query")
            .arg(format!("--admindir={}/var/lib/dpkg", self.root.display()))
            .args(["--show", "--showformat=${Version}", "keel"]));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn pidfile(&self) -> PathBuf {
        self.root.join("run/keel/keel.pid")
    }

    /// The daemon's pid, if it runs.
    pub fn daemon_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pidfile())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    /// `keel client status` against this host's daemon, as the health gate asks it.
    pub fn status_answers(&self) -> bool {
        let data = self.root.join("var/lib/keel");
        run(Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["client", "status", "--endpoint"])
            .arg(data.join("keel.sock"))
            .arg("--keystore")
            .arg(data.join("keystore.json"))
            .args(["--key", "0"]))
        .status
        .success()
    }

    /// The daemon log's lines that say what the direct manager substituted.
    pub fn substitutions(&self) -> Vec<String> {
        let log =
            std::fs::read_to_string(self.root.join("var/log/keel/keel.log")).unwrap_or_default();
        let mut lines: Vec<String> = log
            .lines()
            .filter(|l| l.starts_with("substituted:"))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines.dedup();
        lines
    }
}

impl Drop for Host {
    /// Stops the daemon and takes its kernel programs away, also when the test failed.
    fn drop(&mut self) {
        let script = ansible_dir().join("roles/keel/files/keel-unit-exec");
        let _ = Command::new("sh")
            .arg(script)
            .arg("stop")
            .arg(&self.root)
            .arg(self.pidfile())
            .arg(self.root.join("var/log/keel/keel.log"))
            .output();
        if let Some(p) = &self.pin_dir {
            let _ = Command::new(env!("CARGO_BIN_EXE_keel"))
                .args(["kernel", "detach", "--pin-dir"])
                .arg(p)
                .output();
        }
    }
}

/// Writes the two-host inventory: local connection, the direct service manager, kernel and OS
/// tuning written into each root but not applied to this machine's kernel.
pub fn write_inventory(path: &Path, hosts: &[&Host], deb: &Path) -> std::io::Result<()> {
    let mut y = String::from("keel:\n  hosts:\n");
    for h in hosts {
        y.push_str(&h.inventory_entry());
    }
    y.push_str(&format!(
        "  vars:\n    ansible_connection: local\n    ansible_python_interpreter: /usr/bin/python3\n    \
         keel_service_manager: direct\n    keel_host_apply: false\n    \
         keel_host_keel_cpus: \"1\"\n    \
         keel_package_url: \"file://{}\"\n    keel_package_sha256: \"{}\"\n    \
         keel_package_version: \"{}\"\n    keel_health_retries: 30\n    keel_health_delay: 1\n",
        deb.display(),
        super::sha256(deb),
        super::deb_version(deb)
    ));
    std::fs::write(path, y)
}
