//! `keel replay` as an operator uses it: a recorded chain reproduces (exit 0, JSON summary) on
//! the parallel executor too, and
//! a tampered block record is reported at its height with the differing field (exit 3).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{keel, ok};

#[test]
fn replay_reproduces_a_recorded_chain_and_reports_a_tampered_block_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(&keel(&["chain", "init", "--data", d, "--accounts", "3"]));
    ok(&keel(&[
        "chain", "generate", "--data", d, "--blocks", "6", "--txs", "3",
    ]));

    let out = keel(&[
        "replay",
        "--data",
        d,
        "--engine",
        "interp",
        "--verifier",
        "batch",
        "--workers",
        "2",
        "--threads",
        "2",
        "--restart-after",
        "3",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["identical"], true, "{report}");
    assert_eq!(report["blocks"], 6);
    assert_eq!(report["transactions"], 18);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&keel(&["chain", "status", "--data", d, "--json"]))).unwrap();
    assert_eq!(report["final_root"], status["state_root"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("replayed block 6/6"));
    let verbose = ok(&keel(&["chain", "status", "--data", d, "--verbose"]));
    assert!(verbose.contains("executor "), "{verbose}");
    assert!(verbose.contains("last block: "), "{verbose}");

    // Change the recorded fee of block 4's second transaction.
    {
        let db = keel_state::StateDb::open(dir.path()).unwrap();
        let mut record: serde_json::Value =
            serde_json::from_slice(&db.block_aux(4).unwrap().unwrap()).unwrap();
        record["receipts"][1]["fee"] = serde_json::json!("1");
        db.replace_block_aux(4, &serde_json::to_vec(&record).unwrap())
            .unwrap();
    }
    let out = keel(&["replay", "--data", d, "--verifier", "single"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DIFFERS at block 4"), "{text}");
    assert!(text.contains("tx 1 fee"), "{text}");
}
