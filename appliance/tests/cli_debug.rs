//! `keel debug replay` as a developer drives it: a breakpoint answered from stdin, and a new
//! transaction from a file run against the head.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `keel args` in `cwd` with `stdin` as its input.
fn keel_in(cwd: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = keel_in(cwd, args, "");
    assert!(out.status.success(), "keel {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The scaffolded counter, built, deployed (block 1) and incremented once (block 2); returns
/// the temporary directory, the project directory and the contract's address.
fn deployed_counter() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["contract", "new", "counter"]);
    let project = dir.path().join("counter");
    ok(&project, &["contract", "build"]);
    ok(&project, &["chain", "init", "--data", "chain"]);
    let deployed = ok(
        &project,
        &["contract", "deploy", "--data", "chain", "--json"],
    );
    let doc: serde_json::Value = serde_json::from_str(deployed.trim()).unwrap();
    let address = doc["address"].as_str().unwrap().to_owned();
    ok(
        &project,
        &["contract", "call", "increment", "--data", "chain"],
    );
    (dir, project, address)
}

#[test]
fn a_breakpoint_stops_the_replay_and_answers_commands_read_from_stdin() {
    let (_dir, project, _) = deployed_counter();
    let args = [
        "debug",
        "replay",
        "--data",
        "chain",
        "--block",
        "2",
        "--tx",
        "0",
        "--side",
        "target/counter.debug.wasm",
        "--break",
        "counter_add",
    ];
    let out = keel_in(&project, &args, "locals\nbt\nx 0 8\nc\n");
    assert!(out.status.success(), "{out:?}");
    let console = String::from_utf8(out.stderr).unwrap();
    let first = console.lines().next().unwrap();
    assert!(
        first.starts_with("stopped (Breakpoint) at src/counter.c:")
            && first.contains("counter_add"),
        "{console}"
    );
    assert!(console.contains("arg0 : i64 = "), "{console}");
    assert!(console.contains("#1 increment at"), "{console}");
    assert!(console.contains("  0x0: "), "{console}");
    assert!(console.contains("run finished"), "{console}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("reproduces the recorded receipt"),
        "{stdout}"
    );
}

#[test]
fn a_transaction_file_replays_against_the_head_without_committing() {
    let (dir, project, address) = deployed_counter();
    let signed = ok(
        &project,
        &[
            "tx",
            "sign",
            "--data",
            "chain",
            "--from",
            "0",
            "--call",
            &address,
            "--entry",
            "increment",
        ],
    );
    let file = dir.path().join("tx.hex");
    std::fs::write(&file, signed.trim()).unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "debug",
        "replay",
        "--data",
        "chain",
        "--tx-file",
        file,
        "--json",
    ];
    let (a, b) = (ok(&project, &args), ok(&project, &args));
    // Not committed: the second run sees the same head and gives the same bytes.
    assert_eq!(a, b);
    let doc: serde_json::Value = serde_json::from_str(a.trim()).unwrap();
    assert_eq!(doc["block"], 3, "{doc}");
    assert!(doc["matches_record"].is_null(), "{doc}");
    let events = doc["trace"]["events"].as_array().unwrap();
    let end = events.last().unwrap();
    assert_eq!(end["event"], "end", "{doc}");
    // The head's counter is 1: this increment returns 2.
    assert_eq!(end["returned"], hex::encode(2u64.to_le_bytes()), "{doc}");
}

#[test]
fn replay_without_a_transaction_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = keel_in(dir.path(), &["debug", "replay", "--data", "chain"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
