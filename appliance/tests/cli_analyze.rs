//! `keel analyze concolic` as a contract developer uses it: findings in text and JSON, exit
//! codes, and replay commands that reproduce each finding on the real VM.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::keel;

fn planted(name: &str) -> String {
    format!(
        "{}/../contracts/wat/planted/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn concolic_json_reports_the_planted_trap_with_a_replay_command_that_reproduces_it() {
    let file = planted("magic");
    let out = keel(&["analyze", "concolic", &file, "--call", "check", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let hit = findings
        .iter()
        .find(|f| f["kind"] == "unreachable")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(hit["case"]["input_hex"], "4c45454b");
    assert!(report["max_gas"]["gas_used"].as_u64().unwrap() > 0);
    // The replay command, run as printed, traps the same way (exit 2) with the same gas.
    let command = hit["case"]["command"].as_str().unwrap();
    let args: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(|a| a.trim_matches('\'').to_string())
        .chain(["--json".to_string()])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let replay = keel(&args);
    assert_eq!(replay.status.code(), Some(2), "{replay:?}");
    let r: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(r["status"], "trap", "{r}");
    assert_eq!(r["message"], hit["detail"], "{r}");
    assert_eq!(r["gas"]["compute"], hit["case"]["gas_used"], "{r}");
}

#[test]
fn concolic_text_output_and_a_clean_entry_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("clean.wat");
    std::fs::write(
        &f,
        r#"(module
             (import "keel" "input_size" (func $n (result i32)))
             (memory 1 1)
             (func (export "ok") (drop (call $n))))"#,
    )
    .unwrap();
    let out = keel(&["analyze", "concolic", f.to_str().unwrap(), "--call", "ok"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("no findings"), "{stdout}");
    let missing = keel(&["analyze", "concolic", f.to_str().unwrap(), "--call", "nope"]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
}
