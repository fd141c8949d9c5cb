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
        mount(
            Some("bpf"),
            mount_point,
            Some("bpf"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| KernelError::io("mounting bpffs at", mount_point, e.into()))?;
        tracing::info!(
            path = BPFFS_MOUNT,
            "mounted bpffs for pinned kernel programs"
        );
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

/// Makes tracepoint ids readable (libbpf reads `events/<cat>/<name>/id` from tracefs).
///
/// # Errors
/// [`KernelError::Unsupported`] when tracefs is absent and cannot be mounted.
pub(crate) fn ensure_tracefs() -> Result<(), KernelError> {
    let events = Path::new(TRACEFS_MOUNT).join("events");
    if events.is_dir() || Path::new("/sys/kernel/debug/tracing/events").is_dir() {
        return Ok(());
    }
    mount(
        Some("tracefs"),
        TRACEFS_MOUNT,
        Some("tracefs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| KernelError::Unsupported {
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
