//! `keel chain|state|tx` as an operator uses them.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{keel, ok};

#[test]
fn init_sign_send_query_and_prove_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    let d = data.to_str().unwrap();
    ok(&keel(&["chain", "init", "--data", d, "--accounts", "2"]));
    // The keystore is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("keystore.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second init refuses to overwrite.
    let again = keel(&["chain", "init", "--data", d]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));

    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("keystore.json")).unwrap()).unwrap();
    let to = keys[1]["address"].as_str().unwrap();
    let tx = ok(&keel(&[
        "tx", "sign", "--data", d, "--from", "0", "--to", to, "--amount", "777",
    ]));
    let sent = ok(&keel(&["tx", "send", "--data", d, "--json", tx.trim()]));
    let result: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(result["receipts"][0]["status"]["status"], "success");

    let key = format!("account:{to}");
    let acc: serde_json::Value =
        serde_json::from_str(&ok(&keel(&["state", "get", &key, "--data", d]))).unwrap();
    assert_eq!(acc["balance"], "1000000000000000000000777");

    let proof: serde_json::Value =
        serde_json::from_str(&ok(&keel(&["state", "proof", &key, "--data", d, "--json"]))).unwrap();
    assert_eq!(proof["verified"], true);
    let (root, value, p) = (
        proof["root"].as_str().unwrap(),
        proof["value"].as_str().unwrap(),
        proof["proof"].as_str().unwrap(),
    );
    // Verifiable without the database…
    ok(&keel(&[
        "state", "verify", "--root", root, "--key", &key, "--value", value, "--proof", p,
    ]));
    // …and a wrong value does not verify.
    let bad = keel(&[
        "state", "verify", "--root", root, "--key", &key, "--value", "00", "--proof", p,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    // An absent key has an exclusion proof (printed; exit 3, the code for "absent").
    let absent = format!("account:{}", "ab".repeat(32));
    let run = keel(&["state", "proof", &absent, "--data", d, "--json"]);
    assert_eq!(run.status.code(), Some(3), "{run:?}");
    let ex: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(ex["value"].is_null());
    ok(&keel(&[
        "state",
        "verify",
        "--root",
        ex["root"].as_str().unwrap(),
        "--key",
        &absent,
        "--proof",
        ex["proof"].as_str().unwrap(),
    ]));
}

#[test]
fn exec_block_runs_a_block_file_and_reports_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("c");
    let d = d.to_str().unwrap();
    ok(&keel(&["chain", "init", "--data", d, "--accounts", "2"]));
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{d}/keystore.json")).unwrap()).unwrap();
    let to = keys[1]["address"].as_str().unwrap();
    let good = ok(&keel(&[
        "tx", "sign", "--data", d, "--from", "0", "--to", to, "--amount", "1",
    ]));
    let stale = ok(&keel(&[
        "tx", "sign", "--data", d, "--from", "0", "--to", to, "--amount", "1", "--nonce", "9",
    ]));
    let file = dir.path().join("block.json");
    std::fs::write(
        &file,
        serde_json::json!({ "txs": [good.trim(), stale.trim()], "timestamp": 5, "height": 1,
            "proposer": validator0(d) })
        .to_string(),
    )
    .unwrap();
    // A rejected transaction is reported with exit 2 (the block is committed).
    let run = keel(&[
        "chain",
        "exec-block",
        file.to_str().unwrap(),
        "--data",
        d,
        "--json",
    ]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let out: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(out["height"], 1);
    assert_eq!(out["receipts"][0]["status"]["status"], "success");
    assert_eq!(
        out["receipts"][1]["status"]["reason"]["reason"],
        "wrong_nonce"
    );
    // The same file again names the wrong height: refused, nothing committed.
    let again = keel(&["chain", "exec-block", file.to_str().unwrap(), "--data", d]);
    assert_eq!(again.status.code(), Some(1));
    let status: serde_json::Value =
        serde_json::from_str(&ok(&keel(&["chain", "status", "--data", d, "--json"]))).unwrap();
    assert_eq!(status["height"], 1);
}

/// Demo validator 0's address, from the keystore of data dir `d`.
fn validator0(d: &str) -> String {
    let ks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{d}/keystore.json")).unwrap()).unwrap();
    ks[0]["address"].as_str().unwrap().to_string()
}

#[test]
fn exec_block_needs_a_timestamp_and_proposer_and_refuses_time_going_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(&keel(&["chain", "init", "--data", d, "--accounts", "4"]));
    let file = dir.path().join("block.json");
    let exec = |block: serde_json::Value| {
        std::fs::write(&file, block.to_string()).unwrap();
        keel(&["chain", "exec-block", file.to_str().unwrap(), "--data", d])
    };
    let v0 = validator0(d);
    for (block, complaint) in [
        (serde_json::json!({"txs": [], "proposer": v0}), "timestamp"),
        (serde_json::json!({"txs": [], "timestamp": 5}), "proposer"),
        (
            serde_json::json!({"txs": [], "timestamp": 5, "proposer": "ab".repeat(32)}),
            "proposer",
        ),
    ] {
        let out = exec(block);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(complaint), "{err}");
    }
    ok(&exec(
        serde_json::json!({"txs": [], "timestamp": 10, "proposer": v0}),
    ));
    let back = exec(serde_json::json!({"txs": [], "timestamp": 9, "proposer": v0}));
    assert_eq!(back.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&back.stderr).contains("timestamp"));
    let status: serde_json::Value =
        serde_json::from_str(&ok(&keel(&["chain", "status", "--data", d, "--json"]))).unwrap();
    assert_eq!(status["height"], 1);
}

#[test]
fn commands_on_a_missing_chain_say_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = keel(&[
        "chain",
        "status",
        "--data",
        dir.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keel chain init"));
}

#[test]
fn a_contract_fault_on_chain_lands_in_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    let d = data.to_str().unwrap();
    ok(&keel(&["chain", "init", "--data", d, "--accounts", "2"]));
    let wat = dir.path().join("bad.wat");
    std::fs::write(
        &wat,
        r#"(module (import "keel" "abort" (func $abort (param i32 i32))) (memory 1 1)
            (data (i32.const 0) "nope") (func $run (export "run") (call $abort (i32.const 0) (i32.const 4))))"#,
    )
    .unwrap();
    let deploy = ok(&keel(&[
        "tx",
        "sign",
        "--data",
        d,
        "--from",
        "0",
        "--deploy",
        wat.to_str().unwrap(),
    ]));
    ok(&keel(&["tx", "send", "--data", d, deploy.trim()]));
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("keystore.json")).unwrap()).unwrap();
    let me: [u8; 32] = hex::decode(keys[0]["address"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let contract = hex::encode(keel_chain::contract_address(&me, 0));
    let call = ok(&keel(&[
        "tx", "sign", "--data", d, "--from", "0", "--call", &contract, "--entry", "run",
    ]));
    let run = keel(&["tx", "send", "--data", d, "--json", call.trim()]);
    // A FAILED transaction is committed and reported with exit 2.
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let sent: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(sent["receipts"][0]["status"]["status"], "failed", "{sent}");
    // In text, the fault names its entry and location.
    let call2 = ok(&keel(&[
        "tx", "sign", "--data", d, "--from", "0", "--call", &contract, "--entry", "run",
    ]));
    let text_run = keel(&["tx", "send", "--data", d, call2.trim()]);
    let shown = String::from_utf8_lossy(&text_run.stdout);
    assert!(
        shown.contains(".run (depth 0), func 1 (run) at offset"),
        "{shown}"
    );
    let tail = ok(&keel(&["audit", "tail", "--data", d, "-n", "5"]));
    let line = tail.lines().last().unwrap_or_default();
    assert!(
        line.contains("abort") && line.contains(&contract) && line.contains("run"),
        "{tail}"
    );
}
