//! What is attached and what it counted, for `keel kernel status` and the metrics endpoint.
//!
//! [`read_pinned`] reads everything from bpffs, so a separate CLI process sees what the
//! daemon attached without loading anything itself.

use std::fmt;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use libbpf_rs::query::LinkTypeInfo;
use libbpf_rs::{Link, MapHandle};
use serde::{Deserialize, Serialize};

use crate::admission::{self, AdmissionCounters, maps};
use crate::config::RateLimit;
use crate::error::KernelError;
use crate::observe::{self, ObserveSnapshot};
use crate::sysfs;

/// The kind of hook a program is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachKind {
    /// XDP on a network interface.
    Xdp,
    /// cgroup_skb ingress on a cgroup v2 directory.
    CgroupSkb,
    /// A classic tracepoint.
    Tracepoint,
    /// A link of another type (found pinned, left by another version).
    Other,
}

impl fmt::Display for AttachKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Xdp => "xdp",
            Self::CgroupSkb => "cgroup_skb",
            Self::Tracepoint => "tracepoint",
            Self::Other => "other",
        })
    }
}

/// One attached program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Hook type.
    pub kind: AttachKind,
    /// Interface name, cgroup path or `category/tracepoint`.
    pub target: String,
    /// Kernel link id (0 when unknown).
    pub link_id: u32,
    /// Kernel program id (0 when unknown).
    pub prog_id: u32,
    /// Whether the link is pinned on bpffs (survives the daemon).
    pub pinned: bool,
    /// Whether the link was found pinned and kept (no gap at this start).
    pub reused: bool,
}

/// Admission settings and counters as the kernel holds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionStatus {
    /// The guarded TCP port (0: not configured, everything passes).
    pub port: u16,
    /// Whether sources outside the allowlist are dropped.
    pub enforce_allowlist: bool,
    /// The per-source rate limit, if enabled.
    pub rate_limit: Option<RateLimit>,
    /// The allowlist, sorted.
    pub allowlist: Vec<IpNet>,
    /// Verdict counters.
    pub counters: AdmissionCounters,
}

/// Everything `keel kernel status` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelStatus {
    /// Where pins live; `None` when running unpinned.
    pub pin_dir: Option<PathBuf>,
    /// Attached programs.
    pub attachments: Vec<Attachment>,
    /// Admission state; `None` when the admission program is not loaded.
    pub admission: Option<AdmissionStatus>,
    /// Observability aggregates; `None` when those programs are not loaded.
    pub observe: Option<ObserveSnapshot>,
    /// Why something is not running, or could not be read (each one a full sentence).
    pub problems: Vec<String>,
}

pub(crate) fn admission_status(
    params: &MapHandle,
    v4: &MapHandle,
    v6: &MapHandle,
    drops: &MapHandle,
) -> Result<AdmissionStatus, KernelError> {
    let (port, enforce_allowlist, rate_limit) = maps::read_params(params)?;
    Ok(AdmissionStatus {
        port,
        enforce_allowlist,
        rate_limit,
        allowlist: maps::read_allowlist(v4, v6),
        counters: maps::read_counters(drops)?,
    })
}

fn open_pinned(dir: &Path, name: &str) -> Result<MapHandle, KernelError> {
    let path = dir.join(name);
    MapHandle::from_pinned_path(&path)
        .map_err(|e| KernelError::bpf(format!("opening pinned map {}", path.display()), e))
}

/// The state pinned under `pin_root` by a running (or stopped) daemon. Never fails: what cannot
/// be read is reported in `problems`, and a missing subsystem is `None`.
pub fn read_pinned(pin_root: &Path) -> KernelStatus {
    let mut status = KernelStatus {
        pin_dir: Some(pin_root.to_path_buf()),
        ..KernelStatus::default()
    };
    let adm_dir = pin_root.join(admission::PIN_SUBDIR);
    if adm_dir.join(maps::PARAMS).exists() {
        let read = || -> Result<AdmissionStatus, KernelError> {
            admission_status(
                &open_pinned(&adm_dir, maps::PARAMS)?,
                &open_pinned(&adm_dir, maps::ALLOW_V4)?,
                &open_pinned(&adm_dir, maps::ALLOW_V6)?,
                &open_pinned(&adm_dir, maps::DROPS)?,
            )
        };
        match read() {
            Ok(a) => status.admission = Some(a),
            Err(e) => status
                .problems
                .push(format!("admission maps unreadable: {e}")),
        }
    }
    let obs_dir = pin_root.join(observe::PIN_SUBDIR);
    if obs_dir.join(observe::COUNTERS).exists() {
        let read = || -> Result<ObserveSnapshot, KernelError> {
            observe::read_snapshot(
                &open_pinned(&obs_dir, observe::COUNTERS)?,
                &open_pinned(&obs_dir, observe::URING_HIST)?,
                open_pinned(&obs_dir, observe::URING_WAIT_HIST)
                    .ok()
                    .as_ref(),
                &open_pinned(&obs_dir, observe::PREEMPT_HIST)?,
            )
        };
        match read() {
            Ok(o) => status.observe = Some(o),
            Err(e) => status
                .problems
                .push(format!("observability maps unreadable: {e}")),
        }
    }
    for dir in [&adm_dir, &obs_dir] {
        for name in sysfs::pins_with_prefix(dir, "link_") {
            match Link::open(dir.join(&name)) {
                Ok(link) => status.attachments.push(pinned_attachment(&link, &name)),
                Err(e) => status
                    .problems
                    .push(format!("pinned link {name} unreadable: {e}")),
            }
        }
    }
    if status.admission.is_none() && status.observe.is_none() {
        status.problems.push(format!(
            "nothing pinned under {}: the daemon is not running kernel programs (or runs them \
             unpinned)",
            pin_root.display()
        ));
    }
    status
}

fn pinned_attachment(link: &Link, pin_name: &str) -> Attachment {
    let info = link.info().ok();
    let kind = match info.as_ref().map(|i| &i.info) {
        Some(LinkTypeInfo::Xdp(_)) => AttachKind::Xdp,
        Some(LinkTypeInfo::Cgroup(_)) => AttachKind::CgroupSkb,
        Some(LinkTypeInfo::PerfEvent(_) | LinkTypeInfo::RawTracepoint(_)) => AttachKind::Tracepoint,
        _ => AttachKind::Other,
    };
    let target = pin_name
        .strip_prefix("link_xdp_")
        .or_else(|| pin_name.strip_prefix("link_"))
        .unwrap_or(pin_name)
        .to_owned();
    Attachment {
        kind,
        target,
        link_id: info.as_ref().map_or(0, |i| i.id),
        prog_id: info.as_ref().map_or(0, |i| i.prog_id),
        pinned: true,
        reused: false,
    }
}

impl fmt::Display for KernelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pin_dir {
            Some(d) => writeln!(f, "kernel programs (pins under {})", d.display())?,
            None => writeln!(f, "kernel programs (unpinned)")?,
        }
        if self.attachments.is_empty() {
            writeln!(f, "  attached: nothing")?;
        } else {
            writeln!(f, "  attached:")?;
            for a in &self.attachments {
                writeln!(
                    f,
                    "    {:<11} {:<32} link {:<6} prog {:<6}{}",
                    a.kind.to_string(),
                    a.target,
                    a.link_id,
                    a.prog_id,
                    if a.pinned { " pinned" } else { "" }
                )?;
            }
        }
        if let Some(a) = &self.admission {
            write!(f, "  admission: tcp port {}, ", a.port)?;
            if a.enforce_allowlist {
                write!(f, "allowlist enforced ({} entries)", a.allowlist.len())?;
            } else {
                write!(f, "allowlist not enforced")?;
            }
            match a.rate_limit {
                Some(r) => writeln!(
                    f,
                    ", rate limit {} pkt/s burst {} per source",
                    r.packets_per_second, r.burst
                )?,
                None => writeln!(f, ", no rate limit")?,
            }
            writeln!(
                f,
                "    packets: passed {}, dropped not-allowlisted {}, dropped rate-limited {}",
                a.counters.passed, a.counters.not_allowlisted, a.counters.rate_limited
            )?;
            if !a.allowlist.is_empty() {
                let list: Vec<String> = a.allowlist.iter().map(ToString::to_string).collect();
                writeln!(f, "    allowlist: {}", list.join(", "))?;
            }
        }
        if let Some(o) = &self.observe {
            let mean = |sum: u64, n: u64| sum.checked_div(n).unwrap_or(0);
            let (u, w, p) = (&o.io_uring_latency, &o.io_uring_waits, &o.preemption_delay);
            writeln!(
                f,
                "  io_uring: {} submitted, {} completed; requests (send, write, close…): {} \
                 completed, mean latency {} ns; waits for peers and timers (accept, recv, read, \
                 timeout): {} completed, mean wait {} ns",
                o.counters.io_uring_submitted,
                o.counters.io_uring_completed,
                u.count(),
                mean(u.sum_ns, u.count()),
                w.count(),
                mean(w.sum_ns, w.count())
            )?;
            writeln!(
                f,
                "  workers: {} preemptions, mean delay before running again {} ns",
                o.counters.preemptions,
                mean(p.sum_ns, p.count())
            )?;
        }
        for p in &self.problems {
            writeln!(f, "  WARNING: {p}")?;
        }
        Ok(())
    }
}
