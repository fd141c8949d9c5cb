//! Whose kernel programs are pinned where. A daemon pins its programs under
//! `<pin_dir>/port-<P>` for its TCP port P (one daemon per port, so one owner per directory);
//! the owner is the live process listening on P, and its data directory is the one whose lock
//! file it holds. `keel kernel status` and `detach` tell the truth from these.

use std::path::{Path, PathBuf};

/// The pin directory of the daemon serving TCP port `port` under `pin_root`.
pub fn instance_dir(pin_root: &Path, port: u16) -> PathBuf {
    pin_root.join(format!("port-{port}"))
}

/// One daemon's pinned programs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Instance {
    /// The guarded TCP port; `None` for pins of the old host-wide layout.
    pub port: Option<u16>,
    pub pin_dir: PathBuf,
    /// The running daemon that holds them, if any.
    pub owner: Option<Owner>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Owner {
    pub pid: u32,
    pub data_dir: Option<PathBuf>,
}

impl Instance {
    /// "port P, attached by keel pid N (data dir D)" or why nothing holds them.
    pub fn describe(&self) -> String {
        let port = self
            .port
            .map_or("an unknown port".into(), |p| format!("port {p}"));
        match &self.owner {
            Some(o) => format!(
                "{port}: attached by the running keel pid {}{}",
                o.pid,
                o.data_dir
                    .as_ref()
                    .map(|d| format!(" (data dir {})", d.display()))
                    .unwrap_or_default()
            ),
            None => format!(
                "{port}: no daemon serves it; the programs stay attached (by design, so a restart \
                 has no gap) until `keel kernel detach{}`",
                self.port
                    .map(|p| format!(" --port {p}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Every instance pinned under `pin_root`, by port.
pub fn instances(pin_root: &Path) -> Vec<Instance> {
    let mut out: Vec<Instance> = std::fs::read_dir(pin_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let port = e
                .file_name()
                .to_str()?
                .strip_prefix("port-")?
                .parse()
                .ok()?;
            Some(instance(pin_root, port))
        })
        .collect();
    out.sort_by_key(|i| i.port);
    // Pins of the old layout sit directly under the root.
    if pin_root.join("admission").exists() || pin_root.join("observe").exists() {
        out.push(Instance {
            port: None,
            pin_dir: pin_root.to_path_buf(),
            owner: None,
        });
    }
    out
}

/// The instance for `port` (pinned or not).
pub fn instance(pin_root: &Path, port: u16) -> Instance {
    Instance {
        port: Some(port),
        pin_dir: instance_dir(pin_root, port),
        owner: keel_server::port_owner(port).map(|pid| Owner {
            pid,
            data_dir: crate::daemon::lock::data_dir_of(pid),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_found_by_port_and_owned_by_the_listener() {
        let root = tempfile::tempdir().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::fs::create_dir(instance_dir(root.path(), port)).unwrap();
        std::fs::create_dir(root.path().join("port-1")).unwrap();
        std::fs::create_dir(root.path().join("unrelated")).unwrap();
        let found = instances(root.path());
        assert_eq!(found.len(), 2);
        let ours = found.iter().find(|i| i.port == Some(port)).unwrap();
        assert_eq!(ours.owner.as_ref().map(|o| o.pid), Some(std::process::id()));
        assert!(ours.describe().contains("attached by the running keel pid"));
        let stale = found.iter().find(|i| i.port == Some(1)).unwrap();
        assert!(stale.owner.is_none());
        assert!(stale.describe().contains("keel kernel detach --port 1"));
    }
}
