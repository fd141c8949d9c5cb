//! The daemon under hostile load: for each attack of issue 25, a real `keel serve` on a fresh
//! demo chain keeps serving an allowlisted validator (`Status` p99 and block-commit p99 under a
//! stated bound, no failed request) and stays under its memory budget while the attack runs.
//! Loopback only, bounded in time (each attack measures 1.5 s quiet and 1.5 s under attack)
//! through `keel bench serve --attack … --json`, the same load generator operators run.
//!
//! Bounds are generous on purpose (a debug build on a noisy 2-core CI machine meets them):
//! before the fixes of issue 25 each attack broke them by an order of magnitude — the
//! validator locked out by idle connections, gigabytes of RSS from large frames, `Status`
//! stuck behind simulations on the chain lock, blocks behind client batch verification.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{keel, ok};

/// Bounds on the victim while an attack runs.
const STATUS_P99_US: u64 = 2_000_000;
const COMMIT_P99_US: u64 = 5_000_000;
/// Connecting includes retries while idle strangers hold the reserved slots on probation.
const CONNECT_US: u64 = 10_000_000;
/// The daemon's default connection-buffer budget (512 MiB) plus what a demo chain needs.
const RSS_BYTES: u64 = 1 << 30;

fn attack(name: &str, extra: &[&str]) -> serde_json::Value {
    let out = keel(
        &[
            &[
                "bench",
                "serve",
                "--attack",
                name,
                "--duration-ms",
                "1500",
                "--json",
            ],
            extra,
        ]
        .concat(),
    );
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let u = &report["under_attack"];
    let at = |k: &str| u[k].as_u64().unwrap();
    let summary = serde_json::to_string_pretty(&report).unwrap();
    assert!(
        report["attacker_actions"].as_u64().unwrap() > 0,
        "the attack did nothing: {summary}"
    );
    assert_eq!(at("failures"), 0, "{summary}");
    assert!(at("status_samples") >= 5, "{summary}");
    assert!(at("commit_samples") >= 1, "{summary}");
    assert!(at("status_p99_us") < STATUS_P99_US, "{summary}");
    assert!(at("commit_p99_us") < COMMIT_P99_US, "{summary}");
    assert!(at("connect_us") < CONNECT_US, "{summary}");
    assert!(
        report["rss_peak_bytes"].as_u64().unwrap() < RSS_BYTES,
        "{summary}"
    );
    report
}

#[test]
fn idle_unauthenticated_connections_beyond_the_limit_do_not_lock_the_validator_out() {
    attack("idle", &["--max-connections", "200", "--attackers", "260"]);
}

#[test]
fn sixteen_mib_frames_from_strangers_and_readers_stay_within_the_memory_budget() {
    attack("bigframes", &["--attackers", "8"]);
}

#[test]
fn simulations_from_a_read_only_client_do_not_hold_the_validator() {
    attack(
        "simulate",
        &["--attackers", "4", "--sim-compute", "2000000"],
    );
}

#[test]
fn client_batch_verification_of_wrong_signatures_does_not_hold_blocks() {
    attack("bls", &["--attackers", "4"]);
}

#[test]
fn the_idle_attack_runs_on_the_epoll_fallback_too() {
    attack(
        "idle",
        &[
            "--max-connections",
            "200",
            "--attackers",
            "260",
            "--no-io-uring",
        ],
    );
}
