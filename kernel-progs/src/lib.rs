//! Keel's kernel eBPF programs and their loader.
//!
//! - **Admission** ([`Admission`]): TCP packets to the appliance's port from sources outside an
//!   allowlist (IPv4/IPv6 prefixes) are dropped before userspace — XDP on the ingress interface,
//!   cgroup_skb ingress where XDP is unavailable — and each source is held to a token bucket
//!   (LRU hash), with drop counters per reason in a per-CPU array.
//! - **Observability** ([`Observer`]): io_uring completion latency and preemption of watched
//!   worker threads/CPUs, as log2 histograms, rendered as Prometheus text by
//!   [`render_prometheus`].
//! - **Lifecycle**: [`KernelPrograms::start`] loads what the kernel and privileges allow and
//!   never fails: what it cannot do is logged loudly and kept in [`KernelPrograms::problems`].
//!   Maps and links are pinned under the configured directory (the `keel` daemon passes
//!   `/sys/fs/bpf/keel/port-<its TCP port>`, so each daemon owns its pins) so a daemon restart
//!   swaps programs in place without a gap; [`read_pinned`] reads that state from another
//!   process (`keel kernel status`).
//! - **Benchmark** ([`bench_admission`]): admission cost per packet against pass-through;
//!   [`bench_attach`]: attach/detach cost, in a private network namespace and cgroup.
//!
//! The C sources are in `bpf/`, compiled by `build.rs` with `clang -target bpf -O2 -g`.

mod admission;
mod attach_cost;
mod bench;
mod config;
mod error;
mod histogram;
mod loader;
mod metrics;
mod observe;
mod packet;
mod status;
mod sysfs;

use std::path::{Path, PathBuf};

pub use admission::{Admission, AdmissionCounters, SourceStats};
pub use attach_cost::{
    AttachBench, AttachCost, MAX_ATTACH_REPEATS, bench_attach, xdp_attachments_here,
};
pub use bench::{AdmissionBench, PathCost, bench_admission};
pub use config::{
    AdmissionConfig, AttachMode, DEFAULT_PIN_DIR, KernelConfig, MAX_ALLOWLIST_ENTRIES, MAX_BURST,
    MAX_RATE_PPS, ObserveConfig, RateLimit,
};
pub use error::KernelError;
pub use histogram::{BUCKETS as HISTOGRAM_BUCKETS, Histogram, ns_as_seconds};
pub use ipnet::IpNet;
pub use metrics::render_prometheus;
pub use observe::{ObserveCounters, ObserveSnapshot, Observer};
pub use status::{AdmissionStatus, AttachKind, Attachment, KernelStatus, read_pinned};
pub use sysfs::cgroup2_root;

/// The daemon's handle on all kernel programs. Dropping it leaves pinned programs attached
/// (the next daemon takes them over); [`KernelPrograms::detach`] removes them.
#[derive(Debug)]
pub struct KernelPrograms {
    admission: Option<Admission>,
    observer: Option<Observer>,
    pin_root: Option<PathBuf>,
    problems: Vec<String>,
}

impl KernelPrograms {
    /// Loads and attaches what `config` asks for, as far as the kernel and privileges allow.
    /// Never fails: each subsystem that cannot run is logged with `tracing::warn!` (the appliance
    /// then runs without it) and listed in [`KernelPrograms::problems`]. When pinning is
    /// impossible (no bpffs) the programs run unpinned, also with a warning.
    pub fn start(config: &KernelConfig) -> Self {
        let mut problems = Vec::new();
        if !config.enabled {
            return Self {
                admission: None,
                observer: None,
                pin_root: None,
                problems: vec!["kernel programs disabled by configuration".into()],
            };
        }
        let pin_root = config
            .pin_dir
            .clone()
            .filter(|root| match sysfs::prepare_pin_dir(root) {
                Ok(()) => true,
                Err(e) => {
                    let msg = format!(
                        "cannot pin under {} ({e}): running unpinned, a daemon restart will \
                         briefly leave the port unguarded",
                        root.display()
                    );
                    tracing::warn!("{msg}");
                    problems.push(msg);
                    false
                }
            });
        let admission = match Admission::attach(&config.admission, pin_root.as_deref()) {
            Ok(a) => Some(a),
            Err(e) => {
                let msg = format!(
                    "RUNNING WITHOUT KERNEL ADMISSION CONTROL: {e}; unknown peers and floods \
                     reach userspace"
                );
                tracing::warn!("{msg}");
                problems.push(msg);
                None
            }
        };
        let observer = if config.observe.enabled {
            match Observer::attach(&config.observe, pin_root.as_deref()) {
                Ok(o) => {
                    for skipped in o.skipped() {
                        problems.push(format!("{skipped} not loaded: its tracepoint is missing"));
                    }
                    Some(o)
                }
                Err(e) => {
                    let msg = format!("running without kernel observability programs: {e}");
                    tracing::warn!("{msg}");
                    problems.push(msg);
                    None
                }
            }
        } else {
            None
        };
        Self {
            admission,
            observer,
            pin_root,
            problems,
        }
    }

    /// The admission program, if it runs.
    pub fn admission(&self) -> Option<&Admission> {
        self.admission.as_ref()
    }

    /// The observability programs, if they run.
    pub fn observer(&self) -> Option<&Observer> {
        self.observer.as_ref()
    }

    /// What could not be started, one sentence each.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The pin root in use, if pinned.
    pub fn pin_root(&self) -> Option<&Path> {
        self.pin_root.as_deref()
    }

    /// What is attached and what it counted. Read errors land in `problems`.
    pub fn status(&self) -> KernelStatus {
        let mut status = KernelStatus {
            pin_dir: self.pin_root.clone(),
            problems: self.problems.clone(),
            ..KernelStatus::default()
        };
        if let Some(a) = &self.admission {
            status.attachments.extend(a.attachments());
            match a.status() {
                Ok(s) => status.admission = Some(s),
                Err(e) => status
                    .problems
                    .push(format!("admission maps unreadable: {e}")),
            }
        }
        if let Some(o) = &self.observer {
            status.attachments.extend(o.attachments());
            match o.snapshot() {
                Ok(s) => status.observe = Some(s),
                Err(e) => status
                    .problems
                    .push(format!("observability maps unreadable: {e}")),
            }
        }
        status
    }

    /// Prometheus text for the daemon's metrics endpoint (see [`render_prometheus`]).
    pub fn metrics_text(&self) -> String {
        render_prometheus(&self.status())
    }

    /// Detaches every program and removes the pins.
    ///
    /// # Errors
    /// The first [`KernelError`] met; every subsystem is detached regardless.
    pub fn detach(self) -> Result<(), KernelError> {
        let adm = self.admission.map(Admission::detach).transpose();
        let obs = self.observer.map(Observer::detach).transpose();
        if let Some(root) = &self.pin_root {
            // Only succeeds when empty: pins of other tools stay.
            let _ = std::fs::remove_dir(root);
        }
        adm.and(obs).map(|_| ())
    }
}

/// Helpers for tests that need root and a BPF-capable kernel.
#[cfg(test)]
pub(crate) mod testutil {
    /// True when the test may run; otherwise prints a loud SKIPPED line saying why.
    pub(crate) fn privileged_or_skip(test: &str) -> bool {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED[root]: {test} because it needs root (BPF program loading)");
            return false;
        }
        true
    }
}
