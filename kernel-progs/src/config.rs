//! Configuration of the kernel programs: one struct per subsystem, every knob documented here.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::KernelError;

/// Default directory on bpffs under which maps and links are pinned.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/keel";
/// Highest accepted token refill rate; keeps `elapsed_ns * rate` within u64 in the program.
pub const MAX_RATE_PPS: u32 = 10_000_000;
/// Highest accepted bucket capacity; keeps `burst * 1e9` within u64 in the program.
pub const MAX_BURST: u32 = 1_000_000_000;
/// Capacity of each allowlist trie (IPv4 and IPv6 separately).
pub const MAX_ALLOWLIST_ENTRIES: usize = 4096;

/// Everything the daemon configures about kernel programs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KernelConfig {
    /// Load the programs at all (default true). When false, nothing is loaded or touched.
    pub enabled: bool,
    /// Directory on bpffs for pinned maps and links (default [`DEFAULT_PIN_DIR`]); `None` runs
    /// unpinned, so a daemon restart detaches and re-attaches (a short gap in admission).
    pub pin_dir: Option<PathBuf>,
    /// Admission control and rate limiting of the appliance's TCP port.
    pub admission: AdmissionConfig,
    /// Tracepoint histograms.
    pub observe: ObserveConfig,
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            pin_dir: Some(PathBuf::from(DEFAULT_PIN_DIR)),
            admission: AdmissionConfig::default(),
            observe: ObserveConfig::default(),
        }
    }
}

/// Where the admission program is attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachMode {
    /// XDP on `interface` when it is set and the attach succeeds, cgroup_skb otherwise.
    #[default]
    Auto,
    /// XDP on `interface` only (error if that fails).
    Xdp,
    /// cgroup_skb ingress on `cgroup` only.
    Cgroup,
}

/// Per-source token bucket. A source is one IPv4 or IPv6 address; every TCP packet it sends to
/// the port costs one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Tokens added per second (1..=[`MAX_RATE_PPS`]).
    pub packets_per_second: u32,
    /// Bucket capacity: the burst a quiet source may send at once (1..=[`MAX_BURST`]).
    pub burst: u32,
}

/// Admission control of the appliance's TCP port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// The appliance's TCP port; packets to other ports are never touched. Required (non-zero).
    pub port: u16,
    /// Attach point selection (default [`AttachMode::Auto`]).
    pub attach: AttachMode,
    /// Ingress interface for XDP (e.g. "eth0"); `None` means cgroup_skb only.
    pub interface: Option<String>,
    /// cgroup v2 directory for cgroup_skb; `None` uses the root of the cgroup2 mount, which
    /// covers every socket of the host.
    pub cgroup: Option<PathBuf>,
    /// Enforce the allowlist (default true). When false every source is admitted (rate limiting
    /// still applies).
    pub enforce_allowlist: bool,
    /// Sources allowed to reach the port: addresses ("10.1.2.3/32", "fd00::7/128") or prefixes.
    pub allowlist: Vec<IpNet>,
    /// Per-source rate limit; `None` disables it.
    pub rate_limit: Option<RateLimit>,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            port: 0,
            attach: AttachMode::Auto,
            interface: None,
            cgroup: None,
            enforce_allowlist: true,
            allowlist: Vec::new(),
            rate_limit: None,
        }
    }
}

impl AdmissionConfig {
    /// Checks the limits the kernel program relies on.
    ///
    /// # Errors
    /// [`KernelError::InvalidConfig`] for port 0, a rate or burst out of range, XDP mode without
    /// an interface, or more allowlist entries of one family than the trie holds.
    pub fn validate(&self) -> Result<(), KernelError> {
        if self.port == 0 {
            return Err(KernelError::InvalidConfig(
                "admission.port must be set".into(),
            ));
        }
        if let Some(r) = self.rate_limit {
            if r.packets_per_second == 0 || r.packets_per_second > MAX_RATE_PPS {
                return Err(KernelError::InvalidConfig(format!(
                    "rate_limit.packets_per_second must be in 1..={MAX_RATE_PPS}"
                )));
            }
            if r.burst == 0 || r.burst > MAX_BURST {
                return Err(KernelError::InvalidConfig(format!(
                    "rate_limit.burst must be in 1..={MAX_BURST}"
                )));
            }
        }
        if self.attach == AttachMode::Xdp && self.interface.is_none() {
            return Err(KernelError::InvalidConfig(
                "admission.attach = \"xdp\" needs admission.interface".into(),
            ));
        }
        let v4 = self
            .allowlist
            .iter()
            .filter(|n| matches!(n, IpNet::V4(_)))
            .count();
        let v6 = self.allowlist.len() - v4;
        if v4 > MAX_ALLOWLIST_ENTRIES || v6 > MAX_ALLOWLIST_ENTRIES {
            return Err(KernelError::InvalidConfig(format!(
                "at most {MAX_ALLOWLIST_ENTRIES} allowlist entries per address family"
            )));
        }
        Ok(())
    }
}

/// Tracepoint histograms of the appliance's hot paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObserveConfig {
    /// Load the observability programs (default true).
    pub enabled: bool,
    /// Only io_uring submissions of this process id count; `None` means this process (the
    /// daemon), `Some(0)` every process.
    pub tgid: Option<u32>,
    /// CPUs whose every (non-idle) thread is watched for preemption, e.g. the offload workers'
    /// pinned cores. Worker thread ids are added at run time with `Observer::watch_threads`.
    pub worker_cpus: Vec<u32>,
}

impl Default for ObserveConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tgid: None,
            worker_cpus: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_config_rejects_missing_port_and_out_of_range_rates() {
        let mut c = AdmissionConfig::default();
        assert!(c.validate().is_err());
        c.port = 7000;
        assert!(c.validate().is_ok());
        c.rate_limit = Some(RateLimit {
            packets_per_second: 0,
            burst: 10,
        });
        assert!(c.validate().is_err());
        c.rate_limit = Some(RateLimit {
            packets_per_second: 100,
            burst: MAX_BURST + 1,
        });
        assert!(c.validate().is_err());
        c.rate_limit = Some(RateLimit {
            packets_per_second: 100,
            burst: 10,
        });
        c.attach = AttachMode::Xdp;
        assert!(c.validate().is_err());
    }

    #[test]
    fn kernel_config_reads_from_json_with_defaults() {
        let c: KernelConfig = serde_json::from_str(
            r#"{"admission": {"port": 7000, "allowlist": ["10.0.0.0/8", "fd00::1/128"],
                "rate_limit": {"packets_per_second": 100, "burst": 50}, "attach": "cgroup"}}"#,
        )
        .unwrap();
        assert!(c.enabled);
        assert_eq!(
            c.pin_dir.as_deref(),
            Some(std::path::Path::new(DEFAULT_PIN_DIR))
        );
        assert_eq!(c.admission.allowlist.len(), 2);
        assert_eq!(c.admission.attach, AttachMode::Cgroup);
        assert!(c.admission.enforce_allowlist);
        c.admission.validate().unwrap();
    }
}
