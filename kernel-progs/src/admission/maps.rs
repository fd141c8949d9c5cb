//! Byte layouts of the admission maps, mirroring `bpf/admission.h` field by field.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use libbpf_rs::{MapCore, MapFlags, MapHandle};
use serde::{Deserialize, Serialize};

use crate::config::{AdmissionConfig, RateLimit};
use crate::error::KernelError;

pub(crate) const PARAMS: &str = "adm_params";
pub(crate) const ALLOW_V4: &str = "allow_v4";
pub(crate) const ALLOW_V6: &str = "allow_v6";
pub(crate) const BUCKETS: &str = "adm_buckets";
pub(crate) const DROPS: &str = "adm_drops";

const F_ALLOWLIST: u16 = 0x1;
const F_RATELIMIT: u16 = 0x2;
const CNT_PASSED: u32 = 0;
const CNT_NOT_ALLOWLISTED: u32 = 1;
const CNT_RATE_LIMITED: u32 = 2;
/// One token in the bucket's fixed-point unit (see `struct bucket`).
const TOKEN: u64 = 1_000_000_000;

/// `struct adm_params`: port in network order, flags, rate, burst, padding.
pub(crate) fn encode_params(cfg: &AdmissionConfig) -> [u8; 16] {
    let mut flags = 0u16;
    if cfg.enforce_allowlist {
        flags |= F_ALLOWLIST;
    }
    let (rate, burst) = match cfg.rate_limit {
        Some(r) => {
            flags |= F_RATELIMIT;
            (r.packets_per_second, r.burst)
        }
        None => (0, 0),
    };
    let mut out = [0u8; 16];
    out[0..2].copy_from_slice(&cfg.port.to_be_bytes());
    out[2..4].copy_from_slice(&flags.to_ne_bytes());
    out[4..8].copy_from_slice(&rate.to_ne_bytes());
    out[8..12].copy_from_slice(&burst.to_ne_bytes());
    out
}

/// The configuration part of `struct adm_params`: (port, enforce allowlist, rate limit).
pub(crate) fn decode_params(bytes: &[u8]) -> Option<(u16, bool, Option<RateLimit>)> {
    let port = u16::from_be_bytes(bytes.get(0..2)?.try_into().ok()?);
    let flags = u16::from_ne_bytes(bytes.get(2..4)?.try_into().ok()?);
    let rate = u32::from_ne_bytes(bytes.get(4..8)?.try_into().ok()?);
    let burst = u32::from_ne_bytes(bytes.get(8..12)?.try_into().ok()?);
    let limit = (flags & F_RATELIMIT != 0).then_some(RateLimit {
        packets_per_second: rate,
        burst,
    });
    Some((port, flags & F_ALLOWLIST != 0, limit))
}

/// Reads slot 0 of `adm_params`.
pub(crate) fn read_params(map: &MapHandle) -> Result<(u16, bool, Option<RateLimit>), KernelError> {
    let bytes = map
        .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| KernelError::bpf("reading admission parameters", e))?
        .unwrap_or_default();
    decode_params(&bytes).ok_or(KernelError::MapLayout {
        map: PARAMS,
        expected: 16,
        got: bytes.len(),
    })
}

/// Writes the parameters (slot 0 of `adm_params`).
pub(crate) fn write_params(map: &MapHandle, cfg: &AdmissionConfig) -> Result<(), KernelError> {
    map.update(&0u32.to_ne_bytes(), &encode_params(cfg), MapFlags::ANY)
        .map_err(|e| KernelError::bpf("writing admission parameters", e))
}

/// The LPM-trie key of a prefix (host bits cleared).
pub(crate) fn allow_key(net: &IpNet) -> Vec<u8> {
    let mut key = u32::from(net.prefix_len()).to_ne_bytes().to_vec();
    match net.trunc() {
        IpNet::V4(n) => key.extend_from_slice(&n.network().octets()),
        IpNet::V6(n) => key.extend_from_slice(&n.network().octets()),
    }
    key
}

/// The prefix an LPM-trie key stands for; `None` for a malformed key.
pub(crate) fn decode_allow_key(key: &[u8]) -> Option<IpNet> {
    let len = u8::try_from(u32::from_ne_bytes(key.get(0..4)?.try_into().ok()?)).ok()?;
    match key.len() {
        8 => {
            let octets: [u8; 4] = key[4..8].try_into().ok()?;
            Ipv4Net::new(Ipv4Addr::from(octets), len)
                .ok()
                .map(IpNet::V4)
        }
        20 => {
            let octets: [u8; 16] = key[4..20].try_into().ok()?;
            Ipv6Net::new(Ipv6Addr::from(octets), len)
                .ok()
                .map(IpNet::V6)
        }
        _ => None,
    }
}

/// `struct src_key` of a source address.
pub(crate) fn src_key(addr: IpAddr) -> [u8; 20] {
    let mut key = [0u8; 20];
    match addr {
        IpAddr::V4(a) => {
            key[0] = 4;
            key[4..8].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            key[0] = 6;
            key[4..20].copy_from_slice(&a.octets());
        }
    }
    key
}

/// Per-source rate-limit state, read from the LRU bucket map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStats {
    /// Packets of this source admitted by the bucket.
    pub passed: u64,
    /// Packets of this source dropped because its bucket was empty.
    pub dropped: u64,
    /// Whole tokens left at the last packet.
    pub tokens: u64,
}

pub(crate) fn decode_bucket(bytes: &[u8]) -> Result<SourceStats, KernelError> {
    let field = |i: usize| -> Result<u64, KernelError> {
        bytes
            .get(i * 8..i * 8 + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_ne_bytes)
            .ok_or(KernelError::MapLayout {
                map: BUCKETS,
                expected: 32,
                got: bytes.len(),
            })
    };
    Ok(SourceStats {
        tokens: field(0)? / TOKEN,
        passed: field(2)?,
        dropped: field(3)?,
    })
}

/// Packets to the port by verdict, summed over CPUs since the maps were created (they survive
/// restarts when pinned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionCounters {
    /// Admitted.
    pub passed: u64,
    /// Dropped: source not in the allowlist.
    pub not_allowlisted: u64,
    /// Dropped: source over its rate limit.
    pub rate_limited: u64,
}

/// Sums slot `idx` of a per-CPU u64 array over all CPUs.
pub(crate) fn sum_percpu(
    map: &MapHandle,
    name: &'static str,
    idx: u32,
) -> Result<u64, KernelError> {
    let per_cpu = map
        .lookup_percpu(&idx.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| KernelError::bpf(format!("reading {name}[{idx}]"), e))?
        .unwrap_or_default();
    per_cpu.iter().try_fold(0u64, |acc, v| {
        let b: [u8; 8] = v
            .as_slice()
            .try_into()
            .map_err(|_| KernelError::MapLayout {
                map: name,
                expected: 8,
                got: v.len(),
            })?;
        Ok(acc.wrapping_add(u64::from_ne_bytes(b)))
    })
}

pub(crate) fn read_counters(drops: &MapHandle) -> Result<AdmissionCounters, KernelError> {
    Ok(AdmissionCounters {
        passed: sum_percpu(drops, DROPS, CNT_PASSED)?,
        not_allowlisted: sum_percpu(drops, DROPS, CNT_NOT_ALLOWLISTED)?,
        rate_limited: sum_percpu(drops, DROPS, CNT_RATE_LIMITED)?,
    })
}

/// Both allowlist tries' contents, sorted (deterministic output for status and tests).
pub(crate) fn read_allowlist(v4: &MapHandle, v6: &MapHandle) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = v4
        .keys()
        .chain(v6.keys())
        .filter_map(|k| decode_allow_key(&k))
        .collect();
    nets.sort();
    nets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_put_the_port_in_network_order_and_set_flags() {
        let cfg = AdmissionConfig {
            port: 0x1f90,
            rate_limit: Some(RateLimit {
                packets_per_second: 5,
                burst: 7,
            }),
            ..AdmissionConfig::default()
        };
        let p = encode_params(&cfg);
        assert_eq!(&p[0..2], &[0x1f, 0x90]);
        assert_eq!(u16::from_ne_bytes([p[2], p[3]]), F_ALLOWLIST | F_RATELIMIT);
        assert_eq!(u32::from_ne_bytes(p[4..8].try_into().unwrap()), 5);
        assert_eq!(u32::from_ne_bytes(p[8..12].try_into().unwrap()), 7);
        assert_eq!(decode_params(&p), Some((0x1f90, true, cfg.rate_limit)));
    }

    #[test]
    fn allow_keys_round_trip_and_clear_host_bits() {
        for text in ["10.1.2.3/32", "10.1.0.0/16", "fd00::7/128", "2001:db8::/32"] {
            let net: IpNet = text.parse().unwrap();
            assert_eq!(decode_allow_key(&allow_key(&net)), Some(net));
        }
        let sloppy: IpNet = "10.1.2.3/16".parse().unwrap();
        let clean: IpNet = "10.1.0.0/16".parse().unwrap();
        assert_eq!(allow_key(&sloppy), allow_key(&clean));
    }

    #[test]
    fn source_keys_tag_the_family() {
        let k4 = src_key("10.0.0.1".parse().unwrap());
        assert_eq!(k4[0], 4);
        assert_eq!(&k4[4..8], &[10, 0, 0, 1]);
        assert!(k4[8..].iter().all(|b| *b == 0));
        assert_eq!(src_key("::1".parse().unwrap())[0], 6);
    }
}
