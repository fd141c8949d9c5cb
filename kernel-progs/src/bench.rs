//! `keel bench kernel`: the per-packet cost of the admission path against a pass-through
//! program at the same hook, measured in one run with `BPF_PROG_TEST_RUN` (the kernel runs the
//! program `repeat` times on a crafted frame). A private, unattached, unpinned instance is used,
//! so a running daemon's counters and buckets are untouched.

use std::net::IpAddr;
use std::time::Instant;

use libbpf_rs::ProgramInput;
use serde::{Deserialize, Serialize};

use crate::admission::{Admission, PROG_PASS_SKB, PROG_PASS_XDP, PROG_SKB, PROG_XDP};
use crate::config::{AdmissionConfig, MAX_BURST, MAX_RATE_PPS, RateLimit};
use crate::error::KernelError;
use crate::loader;
use crate::packet::{self, IPPROTO_TCP};

const PORT: u16 = 7000;
/// Rounds per case; cases are interleaved and the fastest round kept, which filters out the
/// other tenants of a shared machine.
const ROUNDS: u32 = 5;

/// One measured case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathCost {
    /// What ran on what packet, e.g. `xdp_admit_allowed_v4`.
    pub case: String,
    /// Wall time of the whole test run divided by `repeat` (fastest round), ns.
    pub ns_per_packet: f64,
    /// The kernel's own average (integer ns, so coarse for fast programs).
    pub kernel_ns_per_packet: u64,
    /// The program's return code (XDP: 1 drop, 2 pass; cgroup_skb: 0 drop, 1 pass).
    pub verdict: u32,
}

/// Result of [`bench_admission`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdmissionBench {
    /// Program runs per round and case.
    pub repeat: u32,
    /// Every case measured.
    pub cases: Vec<PathCost>,
    /// XDP admission of an allowlisted, rate-limited source / XDP pass-through.
    pub xdp_ratio_allowed: f64,
    /// XDP admission dropping a source outside the allowlist / XDP pass-through.
    pub xdp_ratio_denied: f64,
    /// Extra ns per packet of XDP admission (allowlisted source) over pass-through.
    pub xdp_overhead_ns: f64,
    /// cgroup_skb admission of an allowlisted source / cgroup_skb pass-through.
    pub skb_ratio_allowed: f64,
}

/// Measures the admission programs against pass-through programs, `repeat` runs per round
/// (at least 1000).
///
/// # Errors
/// [`KernelError::NotPermitted`] without privileges; [`KernelError::Bpf`] when the kernel
/// refuses a test run.
pub fn bench_admission(repeat: u32) -> Result<AdmissionBench, KernelError> {
    let repeat = repeat.max(1000);
    let adm = Admission::load_private()?;
    adm.apply(&AdmissionConfig {
        port: PORT,
        allowlist: vec![
            "10.0.0.0/8".parse().map_err(|_| bad("v4 net"))?,
            "fd00::/8".parse().map_err(|_| bad("v6 net"))?,
        ],
        rate_limit: Some(RateLimit {
            packets_per_second: MAX_RATE_PPS,
            burst: MAX_BURST,
        }),
        ..AdmissionConfig::default()
    })?;
    let ip = |s: &str| s.parse::<IpAddr>().map_err(|_| bad(s));
    let allowed_v4 = frame(ip("10.1.2.3")?, ip("10.9.9.9")?, PORT)?;
    let denied_v4 = frame(ip("192.168.7.7")?, ip("10.9.9.9")?, PORT)?;
    let allowed_v6 = frame(ip("fd00::3")?, ip("fd00::9")?, PORT)?;
    let other_port = frame(ip("192.168.7.7")?, ip("10.9.9.9")?, 22)?;

    let cases: [(&str, &str, &[u8]); 7] = [
        ("xdp_pass", PROG_PASS_XDP, &allowed_v4),
        ("xdp_admit_allowed_v4", PROG_XDP, &allowed_v4),
        ("xdp_admit_denied_v4", PROG_XDP, &denied_v4),
        ("xdp_admit_allowed_v6", PROG_XDP, &allowed_v6),
        ("xdp_admit_other_port", PROG_XDP, &other_port),
        ("skb_pass", PROG_PASS_SKB, &allowed_v4),
        ("skb_admit_allowed_v4", PROG_SKB, &allowed_v4),
    ];
    let mut best: Vec<Option<PathCost>> = vec![None; cases.len()];
    for _ in 0..ROUNDS {
        for (slot, (case, prog, data)) in best.iter_mut().zip(cases.iter()) {
            let cost = run_case(&adm, case, prog, data, repeat)?;
            if slot
                .as_ref()
                .is_none_or(|b| cost.ns_per_packet < b.ns_per_packet)
            {
                *slot = Some(cost);
            }
        }
    }
    let cases: Vec<PathCost> = best.into_iter().flatten().collect();
    let ns = |name: &str| {
        cases
            .iter()
            .find(|c| c.case == name)
            .map_or(f64::NAN, |c| c.ns_per_packet)
    };
    Ok(AdmissionBench {
        repeat,
        xdp_ratio_allowed: ns("xdp_admit_allowed_v4") / ns("xdp_pass"),
        xdp_ratio_denied: ns("xdp_admit_denied_v4") / ns("xdp_pass"),
        xdp_overhead_ns: ns("xdp_admit_allowed_v4") - ns("xdp_pass"),
        skb_ratio_allowed: ns("skb_admit_allowed_v4") / ns("skb_pass"),
        cases,
    })
}

fn bad(what: &str) -> KernelError {
    KernelError::InvalidConfig(format!("benchmark constant {what} does not parse"))
}

fn frame(src: IpAddr, dst: IpAddr, dport: u16) -> Result<Vec<u8>, KernelError> {
    packet::frame(src, dst, IPPROTO_TCP, dport).ok_or_else(|| bad("frame"))
}

/// Runs `prog` once on `data` and returns its verdict.
#[cfg(test)]
pub(crate) fn verdict(adm: &Admission, prog: &str, data: &[u8]) -> Result<u32, KernelError> {
    Ok(run_case(adm, prog, prog, data, 1)?.verdict)
}

fn run_case(
    adm: &Admission,
    case: &str,
    prog: &str,
    data: &[u8],
    repeat: u32,
) -> Result<PathCost, KernelError> {
    let program = loader::program(adm.object(), prog)?;
    let input = ProgramInput {
        data_in: Some(data),
        repeat,
        ..ProgramInput::default()
    };
    let start = Instant::now();
    let out = program
        .test_run(input)
        .map_err(|e| KernelError::bpf(format!("test run of {prog}"), e))?;
    let elapsed = start.elapsed();
    Ok(PathCost {
        case: case.to_owned(),
        ns_per_packet: elapsed.as_nanos() as f64 / f64::from(repeat),
        kernel_ns_per_packet: u64::try_from(out.duration.as_nanos()).unwrap_or(u64::MAX),
        verdict: out.return_value,
    })
}
