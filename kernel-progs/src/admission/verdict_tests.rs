//! Packet-level checks of the admission programs with `BPF_PROG_TEST_RUN`: the XDP and the
//! cgroup_skb programs are compared with each other and with a reference model in Rust.

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{Admission, PROG_SKB, PROG_XDP};
use crate::bench::verdict;
use crate::config::{AdmissionConfig, RateLimit};
use crate::packet::{IPPROTO_TCP, IPPROTO_UDP, frame};
use crate::testutil::privileged_or_skip;

const PORT: u16 = 7000;
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn load(config: &AdmissionConfig) -> Option<Admission> {
    match Admission::load_private() {
        Ok(a) => {
            a.apply(config).unwrap();
            Some(a)
        }
        Err(e) if e.is_environmental() => {
            eprintln!(
                "SKIPPED[bpf]: admission verdict test because the kernel refused the program: {e}"
            );
            None
        }
        Err(e) => panic!("loading admission program: {e}"),
    }
}

fn allowlist_config() -> AdmissionConfig {
    AdmissionConfig {
        port: PORT,
        allowlist: vec![
            "10.1.0.0/16".parse().unwrap(),
            "fd00::7/128".parse().unwrap(),
        ],
        ..AdmissionConfig::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn allowlisted_sources_pass_and_others_are_dropped_only_on_the_port() {
    if !privileged_or_skip("allowlisted_sources_pass_and_others_are_dropped_only_on_the_port") {
        return;
    }
    let Some(adm) = load(&allowlist_config()) else {
        return;
    };
    let cases = [
        ("10.1.2.3", "10.9.0.1", IPPROTO_TCP, PORT, XDP_PASS),
        ("10.2.2.3", "10.9.0.1", IPPROTO_TCP, PORT, XDP_DROP),
        ("10.2.2.3", "10.9.0.1", IPPROTO_TCP, 22, XDP_PASS),
        ("10.2.2.3", "10.9.0.1", IPPROTO_UDP, PORT, XDP_PASS),
        ("fd00::7", "fd00::1", IPPROTO_TCP, PORT, XDP_PASS),
        ("fd00::8", "fd00::1", IPPROTO_TCP, PORT, XDP_DROP),
    ];
    for (src, dst, proto, port, want) in cases {
        let f = frame(ip(src), ip(dst), proto, port).unwrap();
        assert_eq!(
            verdict(&adm, PROG_XDP, &f).unwrap(),
            want,
            "xdp {src} -> {port}"
        );
        // cgroup_skb: 1 pass, 0 drop.
        let skb_want = u32::from(want == XDP_PASS);
        assert_eq!(
            verdict(&adm, PROG_SKB, &f).unwrap(),
            skb_want,
            "skb {src} -> {port}"
        );
    }
    let c = adm.counters().unwrap();
    assert_eq!((c.passed, c.not_allowlisted, c.rate_limited), (4, 4, 0));
}

#[test]
fn truncated_frames_pass_untouched() {
    if !privileged_or_skip("truncated_frames_pass_untouched") {
        return;
    }
    let Some(adm) = load(&allowlist_config()) else {
        return;
    };
    let f = frame(ip("10.2.2.3"), ip("10.9.0.1"), IPPROTO_TCP, PORT).unwrap();
    // Cut inside the TCP header: no port can be read, so no verdict on the port is made.
    assert_eq!(
        verdict(&adm, PROG_XDP, &f[..14 + 20 + 2]).unwrap(),
        XDP_PASS
    );
    assert_eq!(adm.counters().unwrap(), Default::default());
}

#[test]
fn a_source_gets_its_burst_then_is_rate_limited_and_counters_agree() {
    if !privileged_or_skip("a_source_gets_its_burst_then_is_rate_limited_and_counters_agree") {
        return;
    }
    let config = AdmissionConfig {
        rate_limit: Some(RateLimit {
            packets_per_second: 1,
            burst: 3,
        }),
        ..allowlist_config()
    };
    let Some(adm) = load(&config) else { return };
    let flood = frame(ip("10.1.0.9"), ip("10.9.0.1"), IPPROTO_TCP, PORT).unwrap();
    let quiet = frame(ip("10.1.0.10"), ip("10.9.0.1"), IPPROTO_TCP, PORT).unwrap();
    let start = Instant::now();
    let verdicts: Vec<u32> = (0..20)
        .map(|_| verdict(&adm, PROG_XDP, &flood).unwrap())
        .collect();
    let elapsed_s = start.elapsed().as_secs();
    assert!(
        verdicts[..3].iter().all(|v| *v == XDP_PASS),
        "the burst passes: {verdicts:?}"
    );
    let passed = verdicts.iter().filter(|v| **v == XDP_PASS).count() as u64;
    // At 1 token/s, at most one extra packet per elapsed second (plus the partial second).
    assert!(
        passed <= 3 + elapsed_s + 1,
        "passed {passed} in {elapsed_s}s"
    );
    // Another source has its own bucket.
    assert_eq!(verdict(&adm, PROG_XDP, &quiet).unwrap(), XDP_PASS);

    let stats = adm.source_stats(ip("10.1.0.9")).unwrap().unwrap();
    assert_eq!(stats.passed, passed);
    assert_eq!(stats.dropped, 20 - passed);
    let c = adm.counters().unwrap();
    assert_eq!(c.rate_limited, 20 - passed);
    assert_eq!(c.passed, passed + 1);
    assert_eq!(
        adm.source_stats(ip("10.1.0.10")).unwrap().unwrap().dropped,
        0
    );
}

/// The reference model of `admit()` without rate limiting.
fn model(allow: &[IpNet], src: IpAddr, proto: u8, port: u16) -> bool {
    proto != IPPROTO_TCP || port != PORT || allow.iter().any(|n| n.contains(&src))
}

#[test]
fn xdp_and_cgroup_programs_agree_with_the_reference_model_on_random_packets() {
    if !privileged_or_skip("xdp_and_cgroup_programs_agree_with_the_reference_model") {
        return;
    }
    let allow: Vec<IpNet> = [
        "10.1.0.0/16",
        "10.2.3.4/32",
        "192.168.0.0/24",
        "fd00:1::/32",
        "fd00::7/128",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let config = AdmissionConfig {
        allowlist: allow.clone(),
        ..allowlist_config()
    };
    let Some(adm) = load(&config) else { return };
    let mut rng = StdRng::seed_from_u64(8);
    for _ in 0..400 {
        let v6 = rng.random_bool(0.5);
        // Sources near the allowlisted prefixes so both verdicts are exercised.
        let src: IpAddr = if v6 {
            let base: u128 = if rng.random_bool(0.5) {
                0xfd00_0001 << 96
            } else {
                0xfd00 << 112
            };
            IpAddr::V6(
                (base | u128::from(rng.random_range(0u32..16)) << rng.random_range(0..40)).into(),
            )
        } else {
            let a = [10u8, 192][rng.random_range(0..2)];
            let b = [1u8, 2, 168][rng.random_range(0..3)];
            IpAddr::V4([a, b, rng.random_range(0..5), rng.random_range(0..6)].into())
        };
        let dst = if v6 { ip("fd00::1") } else { ip("10.9.0.1") };
        let proto = if rng.random_bool(0.8) {
            IPPROTO_TCP
        } else {
            IPPROTO_UDP
        };
        let port = if rng.random_bool(0.8) {
            PORT
        } else {
            rng.random_range(1..=u16::MAX)
        };
        let f = frame(src, dst, proto, port).unwrap();
        let want = model(&allow, src, proto, port);
        let xdp = verdict(&adm, PROG_XDP, &f).unwrap() == XDP_PASS;
        let skb = verdict(&adm, PROG_SKB, &f).unwrap() == 1;
        assert_eq!((xdp, skb), (want, want), "{src} proto {proto} port {port}");
    }
}
