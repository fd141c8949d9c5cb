//! The pseudo-filesystems the programs depend on: bpffs for pins, tracefs for tracepoint ids,
//! cgroup2 for the cgroup_skb fallback. Each is mounted on demand where it is missing, as
//! systemd would have done, because a minimal host (or CI machine) may not have it.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sys::statfs::{BPF_FS_MAGIC, CGROUP2_SUPER_MAGIC, statfs};

use crate::error::KernelError;

const BPFFS_MOUNT: &str = "/sys/fs/bpf";
const TRACEFS_MOUNT: &str = "/sys/kernel/tracing";

fn is_fs(path: &Path, magic: nix::sys::statfs::FsType) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == magic)
}

/// Makes `dir` (under a bpffs mount) exist, mounting bpffs at /sys/fs/bpf first when `dir` is
/// below it and nothing is mounted there.
///
/// # Errors
/// [`KernelError::BadPin`] when `dir` would not be on bpffs; [`KernelError::Io`] or
/// [`KernelError::NotPermitted`] when mounting or creating it fails.
pub(crate) fn prepare_pin_dir(dir: &Path) -> Result<(), KernelError> {
    let mount_point = Path::new(BPFFS_MOUNT);
    if dir.starts_with(mount_point) && !is_fs(mount_point, BPF_FS_MAGIC) {
        mount_bpffs(mount_point)?;
    }
    fs::create_dir_all(dir).map_err(|e| KernelError::io("creating pin directory", dir, e))?;
    if !is_fs(dir, BPF_FS_MAGIC) {
        return Err(KernelError::BadPin {
            path: dir.to_path_buf(),
            detail: "not on a bpf filesystem".into(),
        });
    }
    Ok(())
}

/// Mounts bpffs at `mount_point` unless another process has meanwhile. Check and mount hold an
/// exclusive lock on the directory being mounted over: two processes mounting at once would
/// stack two bpffs mounts, and pins made under the lower one would vanish from view. (A process
/// that opens the path after the mount locks the new root instead, but then finds it mounted.)
fn mount_bpffs(mount_point: &Path) -> Result<(), KernelError> {
    let dir = fs::File::open(mount_point)
        .map_err(|e| KernelError::io("opening the bpffs mount point", mount_point, e))?;
    dir.lock()
        .map_err(|e| KernelError::io("locking the bpffs mount point", mount_point, e))?;
    if is_fs(mount_point, BPF_FS_MAGIC) {
        return Ok(()); // mounted by the process that held the lock before us
    }
    mount_pseudo("bpf", mount_point)
        .map_err(|e| KernelError::io("mounting bpffs at", mount_point, e.into()))?;
    tracing::info!(
        path = BPFFS_MOUNT,
        "mounted bpffs for pinned kernel programs"
    );
    Ok(())
}

/// Mounts the kernel pseudo-filesystem `fstype` at `at` (nosuid, nodev, noexec), as systemd
/// mounts it at boot.
fn mount_pseudo(fstype: &str, at: &Path) -> nix::Result<()> {
    mount(
        Some(fstype),
        at,
        Some(fstype),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
}

/// Makes tracepoint ids readable (libbpf reads `events/<cat>/<name>/id` from tracefs).
///
/// # Errors
/// [`KernelError::Unsupported`] when tracefs is absent and cannot be mounted.
pub(crate) fn ensure_tracefs() -> Result<(), KernelError> {
    let events = Path::new(TRACEFS_MOUNT).join("events");
    if events.is_dir() || Path::new("/sys/kernel/debug/tracing/events").is_dir() {
        return Ok(());
    }
    mount_pseudo("tracefs", Path::new(TRACEFS_MOUNT)).map_err(|e| KernelError::Unsupported {
        feature: "tracefs".into(),
        detail: format!("not mounted and mounting at {TRACEFS_MOUNT} failed: {e}"),
    })?;
    tracing::info!(
        path = TRACEFS_MOUNT,
        "mounted tracefs for tracepoint programs"
    );
    Ok(())
}

/// True when the kernel exposes the tracepoint `category/name`.
pub(crate) fn tracepoint_exists(category: &str, name: &str) -> bool {
    [TRACEFS_MOUNT, "/sys/kernel/debug/tracing"]
        .iter()
        .any(|root| {
            Path::new(root)
                .join("events")
                .join(category)
                .join(name)
                .is_dir()
        })
}

/// The root of the cgroup v2 hierarchy (`/sys/fs/cgroup` on unified hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones), read from /proc/self/mounts.
///
/// # Errors
/// [`KernelError::Unsupported`] when no cgroup2 filesystem is mounted.
pub fn cgroup2_root() -> Result<PathBuf, KernelError> {
    let mounts = fs::read_to_string("/proc/self/mounts")
        .map_err(|e| KernelError::io("reading", "/proc/self/mounts", e))?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_src, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            (fstype == "cgroup2").then(|| PathBuf::from(target))
        })
        .find(|p| is_fs(p, CGROUP2_SUPER_MAGIC))
        .ok_or_else(|| KernelError::Unsupported {
            feature: "cgroup v2".into(),
            detail: "no cgroup2 filesystem is mounted".into(),
        })
}

/// Removes a pinned object; a missing pin is not an error.
pub(crate) fn remove_pin(path: &Path) -> Result<(), KernelError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KernelError::io("removing pin", path, e)),
    }
}

/// Names of the files directly under `dir` that start with `prefix`, sorted (empty when `dir`
/// does not exist).
pub(crate) fn pins_with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Set in the private mount namespace the test below re-runs this binary in.
    const IN_PRIVATE_NS: &str = "KEEL_TEST_BPFFS_PRIVATE_NS";

    fn bpffs_mounts() -> usize {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(4) == Some(&BPFFS_MOUNT) && l.contains(" - bpf ")
            })
            .count()
    }

    /// Run inside a private mount namespace with bpffs unmounted (by the test below): eight
    /// threads prepare pin directories at once and exactly one bpffs mount results.
    fn race_in_private_namespace() {
        assert_eq!(bpffs_mounts(), 0, "bpffs is still mounted in the namespace");
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            for i in 0..8 {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let dir = Path::new(BPFFS_MOUNT).join(format!("keel-race-{i}"));
                    prepare_pin_dir(&dir).unwrap();
                    assert!(dir.is_dir());
                });
            }
        });
        assert_eq!(
            bpffs_mounts(),
            1,
            "concurrent preparers stacked bpffs mounts"
        );
        for i in 0..8 {
            assert!(
                Path::new(BPFFS_MOUNT)
                    .join(format!("keel-race-{i}"))
                    .is_dir()
            );
        }
    }

    #[test]
    fn concurrent_preparers_on_a_host_without_bpffs_mount_it_once() {
        if std::env::var_os(IN_PRIVATE_NS).is_some() {
            return race_in_private_namespace();
        }
        let can = nix::unistd::geteuid().is_root()
            && Command::new("unshare").arg("--version").output().is_ok();
        if !can {
            println!("SKIPPED[root]: needs root and unshare(1) for a private mount namespace");
            return;
        }
        // A private mount namespace with every bpffs mount at /sys/fs/bpf removed; the host's
        // mounts and pins are untouched.
        let exe = std::env::current_exe().unwrap();
        let script = format!(
            "while findmnt -t bpf -M {BPFFS_MOUNT} >/dev/null; do umount {BPFFS_MOUNT} || exit 97; done; \
             exec \"$0\" --exact sysfs::tests::concurrent_preparers_on_a_host_without_bpffs_mount_it_once --nocapture"
        );
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .arg(exe)
            .env(IN_PRIVATE_NS, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("1 passed"),
            "the inner run did not run the race:\n{text}"
        );
    }
}
