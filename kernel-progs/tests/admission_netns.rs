//! End-to-end admission through the kernel: network namespaces joined by a veth pair, an echo
//! server in one, clients with chosen source addresses in the other. Root only; skips loudly
//! otherwise.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{
    EchoServer, NetPair, PinRoot, connect_from, flood, in_netns, privileged_or_skip, round_trips,
};
use keel_kernel_progs::{
    Admission, AdmissionConfig, AdmissionCounters, AttachKind, AttachMode, IpNet, KernelError,
    RateLimit, read_pinned,
};

const PORT: u16 = 7700;

fn host(addr: IpAddr) -> IpNet {
    IpNet::from(addr)
}

/// Attaches inside the server namespace (XDP resolves the interface there).
fn attach_in(pair: &NetPair, config: AdmissionConfig, pin: Option<&PinRoot>) -> Option<Admission> {
    let pin = pin.map(|p| p.0.clone());
    match in_netns(&pair.srv, move || {
        Admission::attach(&config, pin.as_deref())
    }) {
        Ok(a) => Some(a),
        Err(e @ (KernelError::Unsupported { .. } | KernelError::NotPermitted { .. })) => {
            eprintln!("SKIPPED[bpf]: admission netns test because the kernel refused XDP: {e}");
            None
        }
        Err(e) => panic!("attach: {e}"),
    }
}

fn xdp_config(pair: &NetPair, allow: Vec<IpNet>, rate_limit: Option<RateLimit>) -> AdmissionConfig {
    AdmissionConfig {
        port: PORT,
        attach: AttachMode::Xdp,
        interface: Some(pair.srv_if.clone()),
        allowlist: allow,
        rate_limit,
        ..AdmissionConfig::default()
    }
}

/// Client `src` connects and does `rounds` round trips; `Err` when it cannot connect.
fn client(pair: &NetPair, src: IpAddr, rounds: u32, timeout: Duration) -> Result<u32, String> {
    let dst = pair.server_addr;
    in_netns(&pair.cli, move || {
        let mut s = connect_from(src, dst, PORT, timeout).map_err(|e| e.to_string())?;
        Ok(round_trips(&mut s, rounds, Duration::from_millis(5)))
    })
}

/// The counters once they stop moving: a client that has returned may still have its last
/// packets (the FIN and final ACK of its close) on the way, later on a busy machine (CI saw
/// one land after the snapshot and counted against the next client).
fn settled(adm: &Admission) -> AdmissionCounters {
    let mut last = adm.counters().expect("admission counters");
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = adm.counters().expect("admission counters");
        if now == last {
            break;
        }
        last = now;
    }
    last
}

#[test]
fn an_allowlisted_client_is_served_and_an_unknown_one_is_dropped_before_userspace() {
    if !privileged_or_skip("an_allowlisted_client_is_served_and_an_unknown_one_is_dropped") {
        return;
    }
    let pair = NetPair::new(2);
    let (good, bad) = (pair.client_addrs[0], pair.client_addrs[1]);
    let server = EchoServer::start(&pair.srv, pair.server_addr, PORT);
    let Some(adm) = attach_in(&pair, xdp_config(&pair, vec![host(good)], None), None) else {
        return;
    };
    assert_eq!(adm.attachments()[0].kind, AttachKind::Xdp);

    assert_eq!(client(&pair, good, 10, Duration::from_secs(10)), Ok(10));
    let after_good = settled(&adm);
    assert_eq!(after_good.not_allowlisted, 0);
    assert_eq!(after_good.rate_limited, 0);
    assert!(
        after_good.passed >= 10,
        "handshake and requests pass: {after_good:?}"
    );

    let denied = client(&pair, bad, 1, Duration::from_secs(3));
    assert!(
        denied.is_err(),
        "the unknown client must not connect: {denied:?}"
    );
    let after_bad = adm.counters().unwrap();
    // Each SYN (and retransmission) the unknown client sent was dropped and counted.
    assert!(after_bad.not_allowlisted >= 1, "{after_bad:?}");
    assert_eq!(
        after_bad.passed, after_good.passed,
        "nothing of the unknown client passed"
    );
    // The server never saw it: the drop happened before the socket layer.
    assert_eq!(*server.peers.lock().unwrap(), vec![good]);

    // The allowlist is live: admitting the second client lets it in.
    adm.allow(host(bad)).unwrap();
    assert_eq!(client(&pair, bad, 3, Duration::from_secs(10)), Ok(3));
    adm.detach().unwrap();
}

#[test]
fn a_flooding_source_is_rate_limited_while_another_keeps_being_served() {
    if !privileged_or_skip("a_flooding_source_is_rate_limited_while_another_keeps_being_served") {
        return;
    }
    let pair = NetPair::new(2);
    let (steady, flooder) = (pair.client_addrs[0], pair.client_addrs[1]);
    let _server = EchoServer::start(&pair.srv, pair.server_addr, PORT);
    let limit = RateLimit {
        packets_per_second: 200,
        burst: 100,
    };
    let subnet: IpNet = format!("{}/24", pair.server_addr)
        .parse::<IpNet>()
        .unwrap()
        .trunc();
    let Some(adm) = attach_in(&pair, xdp_config(&pair, vec![subnet], Some(limit)), None) else {
        return;
    };

    let dst = pair.server_addr;
    let flood_thread = common::spawn_in_netns(&pair.cli, move || {
        let s =
            connect_from(flooder, dst, PORT, Duration::from_secs(10)).expect("flooder connects");
        flood(s, Duration::from_secs(3))
    });
    // 20 round trips use ~60 packets: within the burst whatever the timing.
    let steady_done = client(&pair, steady, 20, Duration::from_secs(10));
    let flooded_bytes = flood_thread.join().unwrap();
    assert_eq!(steady_done, Ok(20), "the steady client keeps being served");

    let steady_stats = adm.source_stats(steady).unwrap().expect("steady bucket");
    let flood_stats = adm.source_stats(flooder).unwrap().expect("flooder bucket");
    assert_eq!(steady_stats.dropped, 0);
    assert!(
        flood_stats.dropped > 0,
        "the flooder was limited: {flood_stats:?}"
    );
    let c = adm.counters().unwrap();
    assert_eq!(c.rate_limited, flood_stats.dropped + steady_stats.dropped);
    assert_eq!(c.not_allowlisted, 0);
    eprintln!(
        "flooder wrote {flooded_bytes} bytes in 3 s; its packets passed {} dropped {}; steady \
         client passed {}",
        flood_stats.passed, flood_stats.dropped, steady_stats.passed
    );
    adm.detach().unwrap();
}

#[test]
fn a_restarted_loader_takes_over_pinned_links_and_counters_without_detaching() {
    if !privileged_or_skip("a_restarted_loader_takes_over_pinned_links_and_counters") {
        return;
    }
    let pair = NetPair::new(2);
    let (good, bad) = (pair.client_addrs[0], pair.client_addrs[1]);
    let _server = EchoServer::start(&pair.srv, pair.server_addr, PORT);
    let pin = PinRoot::new("restart");
    let config = xdp_config(&pair, vec![host(good)], None);
    let Some(first) = attach_in(&pair, config.clone(), Some(&pin)) else {
        return;
    };
    let first_link = first.attachments()[0].clone();
    assert!(first_link.pinned && !first_link.reused);
    assert!(client(&pair, bad, 1, Duration::from_secs(2)).is_err());
    let before = first.counters().unwrap();
    drop(first); // the daemon exits: the pinned link keeps guarding the port

    assert!(
        client(&pair, bad, 1, Duration::from_secs(2)).is_err(),
        "still guarded between runs"
    );
    let pinned = read_pinned(&pin.0);
    assert_eq!(pinned.attachments.len(), 1, "{pinned}");
    assert_eq!(pinned.attachments[0].link_id, first_link.link_id);
    let between = pinned.admission.expect("admission maps pinned").counters;
    assert!(between.not_allowlisted > before.not_allowlisted);

    let second = attach_in(&pair, config, Some(&pin)).expect("re-attach");
    let link = &second.attachments()[0];
    assert!(link.reused, "{link:?}");
    assert_eq!(
        link.link_id, first_link.link_id,
        "same kernel link, program swapped in place"
    );
    assert!(second.counters().unwrap().not_allowlisted >= between.not_allowlisted);
    assert_eq!(client(&pair, good, 3, Duration::from_secs(10)), Ok(3));

    second.detach().unwrap();
    assert!(!pin.0.join("admission").exists(), "detach removes the pins");
    let reconnect = client(&pair, bad, 1, Duration::from_secs(5));
    assert_eq!(reconnect, Ok(1), "after detach nothing is filtered");
}
