//! Local read commands on a data directory a daemon holds: instead of failing on the locked
//! database they ask that daemon (its lock record names the socket), authenticating with the
//! data directory's own keystore key 0 — the key the daemon allowlists by default. Output is
//! the same as the local command's.

use super::chain::DataDir;
use super::client_conn::Conn;
use crate::daemon::lock::running_daemon;
use serde_json::{Value, json};

/// How to reach the daemon holding `data`, if one does.
pub fn daemon_conn(data: &DataDir) -> Option<Conn> {
    let daemon = running_daemon(&data.dir)?;
    let keystore = data.keystore();
    Some(Conn {
        endpoint: daemon.endpoint()?,
        key: keystore.exists().then_some(0),
        keystore,
    })
}

/// The chain's head as `keel chain status` and `keel client status` print it.
pub fn status_json(height: u64, root: [u8; 32], detail: &Value) -> Value {
    json!({
        "height": height,
        "state_root": hex::encode(root),
        "next_prices": detail["next_prices"],
        "chain_id": detail["chain_id"],
        "timestamp": detail["timestamp"],
        "executor": detail["executor"],
    })
}

/// Prints [`status_json`] as JSON or as labelled text (`verbose`: with the executor and the
/// rollback log of the last block this process executed).
pub fn print_status(status: &Value, as_json: bool, verbose: bool) {
    if as_json {
        println!("{status}");
        return;
    }
    println!("height {}", status["height"]);
    println!(
        "state root {}",
        status["state_root"].as_str().unwrap_or("?")
    );
    if let Some(p) = status["next_prices"].as_array()
        && let [c, s, m, b] = p.as_slice()
    {
        println!("base prices: compute {c} storage {s} memory {m} bandwidth {b}");
    }
    if !status["chain_id"].is_null() {
        println!("chain id {}", status["chain_id"]);
    }
    if !status["timestamp"].is_null() {
        println!("head timestamp {}", status["timestamp"]);
    }
    let exec = &status["executor"];
    if verbose && !exec.is_null() {
        match exec["threads"].as_u64() {
            Some(0) => println!("executor sequential (the reference)"),
            Some(n) => println!("executor parallel, {n} threads"),
            None => {}
        }
        let last = &exec["last_block"];
        if last["incarnations"].as_u64().unwrap_or(0) == 0 {
            println!("last block: none executed by this process");
        } else {
            println!(
                "last block: {} incarnations ({} run by the committer), aborts {} read conflict \
                 / {} block room / {} deferred, {} estimate waits",
                last["incarnations"],
                last["committer_runs"],
                last["aborts_read"],
                last["aborts_block_room"],
                last["aborts_deferred"],
                last["estimate_waits"]
            );
            if let Some(tx) = last["speculation_stopped_at"].as_u64() {
                println!(
                    "  speculation stopped at transaction {tx} (conflicts); the rest ran in order"
                );
            }
        }
    }
}
