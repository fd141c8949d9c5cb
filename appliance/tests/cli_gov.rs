//! `keel gov` as validators use it: a kill switch proposed, voted and activated at its height,
//! a routine activated from a printed transaction, status, refusals and the audit trail.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{keel, ok};

fn status(d: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&keel(&["gov", "status", "--data", d, "--json"]))).unwrap()
}

fn empty_blocks_until(d: &str, height: u64) {
    while status(d)["height"].as_u64().unwrap() < height {
        ok(&keel(&["tx", "send", "--data", d]));
    }
}

#[test]
fn a_kill_switch_and_a_routine_pass_through_governance_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    let d = data.to_str().unwrap();
    ok(&keel(&["chain", "init", "--data", d, "--accounts", "6"]));

    let s = status(d);
    assert_eq!(s["validators"].as_array().unwrap().len(), 4);
    let routines = s["routines"].as_array().unwrap();
    assert!(
        routines.iter().any(|r| r["id"] == 4),
        "modmul is active at genesis: {routines:?}"
    );
    assert!(s["kills"].as_array().unwrap().is_empty());

    // Propose killing integer division; three of four validators approve.
    let out = ok(&keel(&[
        "gov", "kill", "division", "--data", d, "--from", "0", "--json",
    ]));
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["governance"][0]["kind"], "proposed");
    let id = r["governance"][0]["proposal"].as_u64().unwrap().to_string();
    for v in ["1", "2", "3"] {
        let out = ok(&keel(&[
            "gov", "vote", &id, "yes", "--data", d, "--from", v,
        ]));
        assert!(out.contains("proposal 0 voted"), "{out}");
    }
    // A non-validator's vote is a failed transaction: exit status 2 and the reason.
    let out = keel(&["gov", "vote", &id, "yes", "--data", d, "--from", "5"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("not a validator"));

    let at = status(d)["proposals"][0]["activation_height"]
        .as_u64()
        .unwrap();
    empty_blocks_until(d, at);
    let s = status(d);
    assert_eq!(s["proposals"][0]["status"]["status"], "executed");
    assert_eq!(s["kills"][0][0]["name"], "division");
    let text = ok(&keel(&["gov", "status", &id, "--data", d]));
    assert!(text.contains("kill opcode class division"), "{text}");
    assert!(text.contains("yes 300, no 0 of 400 stake"), "{text}");

    // A routine proposal built and printed by one command, sent by another.
    let tx = ok(&keel(&[
        "gov",
        "propose",
        "--data",
        d,
        "--from",
        "1",
        "--print",
        "activate-builtin",
        "modmul_bls12_381_fr",
        "--id",
        "77",
    ]));
    let tx_file = dir.path().join("proposal.hex");
    std::fs::write(&tx_file, tx.trim()).unwrap();
    let at_file = format!("@{}", tx_file.display());
    let sent = ok(&keel(&["tx", "send", "--data", d, "--json", &at_file]));
    let r: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(r["receipts"][0]["status"]["status"], "success", "{sent}");
    let id2 = r["governance"][0]["proposal"].as_u64().unwrap().to_string();
    for v in ["0", "2", "3"] {
        ok(&keel(&[
            "gov", "vote", &id2, "yes", "--data", d, "--from", v,
        ]));
    }
    let at = status(d)["proposals"][1]["activation_height"]
        .as_u64()
        .unwrap();
    empty_blocks_until(d, at);
    let s = status(d);
    let r77 = s["routines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 77)
        .expect("routine 77 activated");
    assert_eq!(r77["versions"][0]["active_from"], at);

    // Bad targets are refused before anything is signed.
    let out = keel(&["gov", "kill", "floats", "--data", d, "--from", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither an opcode class"));

    // Every governance step is in the audit log.
    let audit = ok(&keel(&["audit", "tail", "--data", d, "-n", "100"]));
    assert_eq!(audit.matches("\"governance\"").count(), 10, "{audit}");
}
